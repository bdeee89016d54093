"""The fields every form of Boxes parses its input with (WTForms through Flask-WTF), over the bounds of
``boxes.inputs``: what reaches a service is typed and something both databases can hold.

- ``ActionForm``: the base of every form. CSRF is checked app-wide (``boxes.web.csrf``), not per form.
  Its ``validate`` refuses, in every text field, what a database cannot store (a NUL), with the message
  ``boxes.inputs`` gives it everywhere.
- ``RowIdField``: an id or a version; ``None`` when empty, ``NO_ROW`` when it is no id at all.
- ``WholeNumberField``: a number as people write it; ``None`` when empty, ``NOT_A_NUMBER`` when it is none.
- ``DayField``: a date input, bounded. ``LocalDateTimeField``: a ``datetime-local`` input on the dealer's wall
  clock → UTC, bounded.
- ``field_errors``: field → first message, the shape of ``ActionError`` and the templates.

A form parses; what the values must be (a date in the future, a role that exists, a user of this
dealer) is the service's rule, since jobs, the CLI and tests call the services too.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from flask import g
from flask_wtf import FlaskForm
from wtforms import Field
from wtforms.widgets import TextInput

from boxes import inputs


def strip(value):
    """A text field's filter: stripped; left out of the form, it reads as empty."""
    return value.strip() if isinstance(value, str) else "" if value is None else value


def as_typed(value):
    """A password's filter: as typed (spaces are part of it); left out of the form, empty."""
    return "" if value is None else value


NO_ROW = 0  # no row has id 0, nor version 0: what a value that is not an id becomes (see RowIdField)
NOT_A_NUMBER = -(2**63)  # outside every range a service accepts: what a value that is no number becomes


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


class WholeNumberField(Field):
    """A whole number as people write it ("10.000", "10,000", " 60 "): ``None`` when empty, ``NOT_A_NUMBER``
    when it is no number (the service then says what range it wants, one message per rule). Missing from
    the form: the field's default."""

    widget = TextInput()

    def process_formdata(self, valuelist):
        if not valuelist:
            return
        raw = str(valuelist[0]).replace(".", "").replace(",", "").strip()
        if raw == "":
            self.data = None
            return
        number = inputs.whole(raw, self.name, {}, lo=-inputs.MAX_INT, hi=inputs.MAX_INT, message="")
        self.data = NOT_A_NUMBER if number is None else number

    def _value(self):
        return "" if self.data is None else str(self.data)


class DayField(Field):
    """A date input (``YYYY-MM-DD``) → ``datetime.date``, from 1950 to five years ahead; empty → ``None``."""

    widget = TextInput(input_type="date")

    def process_formdata(self, valuelist):
        errors: dict = {}
        self.data = inputs.day(valuelist[0] if valuelist else "", self.name, errors)
        if errors:
            raise ValueError(str(errors[self.name]))


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

    def validate(self, extra_validators=None) -> bool:
        """The fields' own checks, then no text a database cannot store in any field posted."""
        ok = super().validate(extra_validators)
        for field in self:  # texts only: a field parsed into a number, a date or a time has its own answer
            if isinstance(field.data, str) and any(
                    isinstance(raw, str) and not inputs.storable(raw) for raw in field.raw_data or ()):
                field.errors = [inputs.UNSTORABLE]
                ok = False
        return ok


def field_errors(form: ActionForm) -> dict:
    """Field → its first message: the shape the panel's templates and ``ActionError`` use."""
    return {name: messages[0] for name, messages in form.errors.items() if messages}
