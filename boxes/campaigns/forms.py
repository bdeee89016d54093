"""The campaign manager's forms: step 1's search (criteria and a pasted or uploaded list of VINs or plates)
and step 3's "create the campaign" or "add the units to an open one". Parsed here; which units match,
whether a list's entries are VINs or plates, names, due dates and assignment are ``boxes.campaigns``' rules."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, FileField, StringField, TextAreaField
from wtforms.validators import Length, ValidationError

from boxes import inputs
from boxes.campaigns.search import MAX_LIST, MAX_LIST_CHARS, OPEN_FILTERS, Criteria
from boxes.forms import ActionForm, DayField, RowIdField, WholeNumberField, strip


class CampaignSearchForm(ActionForm):
    # Bounded by their columns (a search for a longer text could only find nothing).
    brand = StringField(filters=[strip], validators=[Length(max=60, message=inputs.too_long(60))])
    model = StringField(filters=[strip], validators=[Length(max=80, message=inputs.too_long(80))])
    version = StringField(filters=[strip], validators=[Length(max=120, message=inputs.too_long(120))])
    year_from = WholeNumberField()
    year_to = WholeNumberField()
    sold_from = DayField()
    sold_to = DayField()
    serviced_before = DayField()
    open_opportunity = StringField(filters=[lambda v: v if v in OPEN_FILTERS else "any"])
    id_kind = StringField(filters=[lambda v: v if v in ("vin", "plate") else ""])
    ids = TextAreaField(filters=[strip], validators=[Length(max=MAX_LIST_CHARS, message=_l(
        "At most %(n)d entries per list.", n=MAX_LIST))])
    upload = FileField()

    def validate_year_from(self, field):
        _year(field)

    def validate_year_to(self, field):
        _year(field)
        if self.year_from.data and field.data and self.year_from.data > field.data:
            raise ValidationError(_l("The last year must not be before the first."))

    def validate_sold_to(self, field):
        if self.sold_from.data and field.data and self.sold_from.data > field.data:
            raise ValidationError(_l("The end date must not be before the start date."))

    def list_errors(self, list_text: str) -> dict:
        """A list (pasted or uploaded) needs its kind: the same entry reads differently as a VIN or a plate."""
        if list_text.strip() and not self.id_kind.data:
            return {"id_kind": _l("Say whether the list holds VINs or plates.")}
        return {}

    def criteria(self, list_text: str) -> Criteria:
        """The search's criteria; ``list_text``: the pasted list and the uploaded file's cells."""
        return Criteria(brand=self.brand.data, model=self.model.data, version=self.version.data,
                        year_from=self.year_from.data, year_to=self.year_to.data,
                        sold_from=_iso(self.sold_from.data), sold_to=_iso(self.sold_to.data),
                        serviced_before=_iso(self.serviced_before.data), open_opportunity=self.open_opportunity.data,
                        id_kind=self.id_kind.data if list_text.strip() else "")


def _year(field) -> None:
    if field.data is not None and not 1950 <= field.data <= 2100:
        field.data = None
        raise ValidationError(_l("Enter a year such as 2021."))


def _iso(day) -> str:
    return day.isoformat() if day else ""


class ProcessForm(ActionForm):
    """Step 3: ``mode`` "add" puts the selected units in an open campaign, else a new campaign is created."""

    mode = StringField()
    campaign_id = RowIdField()
    name = StringField()
    kind = StringField(filters=[strip])
    due_date = DayField()  # "not in the past" is the service's rule (the dealer's day)
    assignment = StringField(filters=[strip])
    assigned_user_id = RowIdField()
    note = TextAreaField()
    confirm_all = BooleanField()


class SelectUnitForm(ActionForm):
    """Step 2: one unit's checkbox, ticked (``on``) or not."""

    vehicle_id = RowIdField()
    on = BooleanField()
