"""Integrations → DMS's connector form, parsed into ``admin.ConnectorInput``. Each kind of connector has
its own settings (``admin.FIELDS``) and write-only secrets (``admin.SECRETS``); only the chosen kind's are
read, so what an admin typed for another kind before switching never blocks the save.

Parsed here: texts stripped and bounded, JSON mappings into objects, numbers into numbers. The ranges,
the required settings, the reach of addresses and folders and the cursor reset are
``boxes.dms.admin.save``'s rules."""

from __future__ import annotations

import json
import math

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, Field, PasswordField, StringField, ValidationError
from wtforms.widgets import TextArea

from boxes import inputs
from boxes.dms.admin import (
    FIELDS,
    JSON_FIELDS,
    MAX_JSON,
    MAX_SETTING,
    NUMBER_FIELDS,
    SECRETS,
    ConnectorInput,
)
from boxes.forms import NOT_A_NUMBER, ActionForm, WholeNumberField, as_typed, strip


def _bounded(max_len: int):
    """A filter-then-check: longer than any real value of its kind is refused, not cut."""
    def check(form, field):
        if isinstance(field.data, str) and len(field.data) > max_len:
            raise ValidationError(str(inputs.too_long(max_len)))
    return check


class NumberSettingField(StringField):
    """A number a connector setting holds (records per page, seconds, a fraction allowed): ``None`` when
    empty, ``NOT_A_NUMBER`` when it is none (the service says which range it wants, with its other rules)."""

    def process_formdata(self, valuelist):
        raw = str(valuelist[0] if valuelist else "").strip()
        self.data = None
        if not raw:
            return
        try:
            number = float(raw)
        except ValueError:
            self.data = NOT_A_NUMBER
            return
        self.data = int(number) if number.is_integer() else number if math.isfinite(number) else NOT_A_NUMBER


class JsonObjectField(Field):
    """A mapping typed as a JSON object (columns, values, queries): a ``dict``, ``None`` when empty."""

    widget = TextArea()

    def process_formdata(self, valuelist):
        raw = str(valuelist[0] if valuelist else "").strip()
        self.data = None
        if not raw:
            return
        if len(raw) > MAX_JSON:
            raise ValueError(str(inputs.too_long(MAX_JSON)))
        try:
            value = json.loads(raw)
        except ValueError:
            raise ValueError(str(_l("Enter valid JSON."))) from None
        if not isinstance(value, dict):
            raise ValueError(str(_l("Enter a JSON object.")))
        if "\\u0000" in json.dumps(value):  # an escaped NUL: no database column or DMS query can hold it
            raise ValueError(str(inputs.UNSTORABLE))
        self.data = value


class NamesField(Field):
    """Every ticked box of one name (the secrets to remove): a set."""

    def process_formdata(self, valuelist):
        self.data = {str(v) for v in valuelist}


def _setting(name: str) -> Field:
    if name in JSON_FIELDS:
        return JsonObjectField()
    if name in NUMBER_FIELDS:
        return NumberSettingField()
    return StringField(filters=[strip], validators=[_bounded(MAX_SETTING)])


class DmsConnectorForm(ActionForm):
    kind = StringField(filters=[strip])
    tolerance_days = WholeNumberField()
    enabled = BooleanField()
    reset_cursors = BooleanField()
    clear = NamesField()

    def chosen(self) -> tuple[str, ...]:
        """The fields the chosen kind reads (all of them when the kind is none: the service refuses it)."""
        kind = self.kind.data
        if kind not in FIELDS:
            return ("kind",)
        return ("kind", "tolerance_days", "enabled", "reset_cursors", "clear", *FIELDS[kind], *SECRETS[kind])

    def validate(self, extra_validators=None) -> bool:
        """The chosen kind's fields only: another kind's leftovers are not read, so not judged."""
        super().validate(extra_validators)
        chosen = self.chosen()
        for field in self:
            if field.name not in chosen:
                field.errors = []
        return not any(field.errors for field in self)

    def typed(self) -> ConnectorInput:
        kind = self.kind.data
        settings = {name: self[name].data for name in FIELDS.get(kind, ()) if self[name].data not in (None, "")}
        secrets = {name: self[name].data for name in SECRETS.get(kind, ()) if self[name].data}
        return ConnectorInput(kind=kind, settings=settings, secrets=secrets, cleared=self.clear.data or set(),
                              enabled=self.enabled.data, tolerance_days=self.tolerance_days.data,
                              reset_cursors=self.reset_cursors.data)


for _name in sorted({n for names in FIELDS.values() for n in names}):
    setattr(DmsConnectorForm, _name, _setting(_name))
for _name in sorted({n for names in SECRETS.values() for n in names}):  # write-only, as typed
    setattr(DmsConnectorForm, _name, PasswordField(filters=[as_typed], validators=[_bounded(MAX_SETTING)]))
