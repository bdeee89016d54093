"""What each row action's form posts, parsed at the edge (WTForms): ids, versions, scores and the
dealer's wall-clock dates become typed, bounded values (``boxes.inputs``); texts arrive stripped.

A value that cannot even be parsed is answered like any other bad input (422, the message next to the
field) and no service is called. What the values must be — a date in the future, a reason of this
dealer, an outcome the call can have, a row still open — is the services' rule
(``opportunities``, ``appointments``, ``contact``…), which every other caller (campaign jobs, the
sync) goes through too.

CSRF is not these forms' business: ``boxes.web``'s ``CSRFProtect`` checks every POST of the app.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from flask import g
from flask_wtf import FlaskForm
from wtforms import Field, StringField, TextAreaField
from wtforms.widgets import TextInput

from boxes import inputs

NO_ROW = 0  # no row has id 0, nor version 0: what a value that is not an id becomes (see RowIdField)


def _strip(value):
    return value.strip() if isinstance(value, str) else value


class RowIdField(Field):
    """A row's id or version: ``None`` when empty; ``NO_ROW`` when it is no id at all (letters, a number
    no database holds), so the service answers it as it answers an id it does not know ("choose a reason
    from the list", "changed by someone else") instead of the form inventing a second message."""

    widget = TextInput()

    def process_formdata(self, valuelist):
        raw = valuelist[0] if valuelist else ""
        if str(raw).strip() == "":
            self.data = None
            return
        parsed = inputs.row_id(raw)
        self.data = NO_ROW if parsed is None else parsed

    def _value(self):
        return "" if self.data is None else str(self.data)


class ScoreField(RowIdField):
    """A small whole number (the courtesy call's satisfaction): ``NO_ROW`` when it is not a number, which
    is outside every range the service accepts."""


class LocalDateTimeField(Field):
    """A ``datetime-local`` input on the dealer's wall clock → an aware UTC instant, bounded (a year-9999
    date would overflow here and in every later job); empty → ``None``."""

    widget = TextInput(input_type="datetime-local")

    def process_formdata(self, valuelist):
        errors: dict = {}
        self.data = inputs.local_instant(valuelist[0] if valuelist else "", self.name, errors,
                                         ZoneInfo(g.dealer.time_zone))
        if errors:
            self.data = None
            raise ValueError(str(errors[self.name]))


class ActionForm(FlaskForm):
    class Meta:
        csrf = False  # checked app-wide (boxes.web.csrf)


class VersionedForm(ActionForm):
    """An action on a row edited by several callers: the version the caller saw (optimistic locking)."""

    version = RowIdField()


class CallForm(VersionedForm):
    """Register call, on any row; the courtesy call adds its satisfaction score."""

    channel = StringField(filters=[_strip])
    outcome = StringField(filters=[_strip])
    comment = TextAreaField(filters=[_strip])
    next_contact_at = LocalDateTimeField()


class CourtesyCallForm(CallForm):
    satisfaction = ScoreField()


class OpportunityForm(ActionForm):
    """Create opportunity (from any row) and recovery opportunity (from a missed appointment)."""

    due_at = LocalDateTimeField()
    note = TextAreaField(filters=[_strip])
    assigned_user_id = RowIdField()


class DiscardForm(VersionedForm):
    reason_id = RowIdField()
    comment = TextAreaField(filters=[_strip])


class ReplanForm(VersionedForm):
    due_at = LocalDateTimeField()
    comment = TextAreaField(filters=[_strip])


class SoldForm(VersionedForm):
    appointment_at = LocalDateTimeField()
    comment = TextAreaField(filters=[_strip])


class ConfirmForm(VersionedForm):
    comment = TextAreaField(filters=[_strip])


class UnitDeliveredForm(ActionForm):
    """Unit delivered: nothing to fill, the click is the fact."""


def field_errors(form: ActionForm) -> dict:
    """Field → its first message: the shape the panel's templates and ``ActionError`` use."""
    return {name: messages[0] for name, messages in form.errors.items() if messages}
