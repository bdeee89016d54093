"""Settings' forms: the dealer's own settings and the catalog of discard reasons. Parsed here (numbers
written with thousands separators, HH:MM times); the ranges, the required fields and the column bounds are
``boxes.settings.dealer``'s and ``boxes.settings.discard_reasons``' rules."""

from __future__ import annotations

from datetime import time

from wtforms import BooleanField, Field, StringField
from wtforms.widgets import TextInput

from boxes.forms import ActionForm, WholeNumberField, strip
from boxes.settings.dealer import WEEKDAYS, DealerSettings


class ClockField(Field):
    """An ``<input type="time">``: HH:MM → ``datetime.time``; ``None`` when it is not a time of day."""

    widget = TextInput(input_type="time")

    def process_formdata(self, valuelist):
        raw = str(valuelist[0] if valuelist else "").strip()
        try:
            self.data = time.fromisoformat(raw) if len(raw) == 5 and raw[2] == ":" else None
        except ValueError:
            self.data = None


class DealerSettingsForm(ActionForm):
    first_service_months = WholeNumberField()
    first_service_km = WholeNumberField()
    workshop_address = StringField(filters=[strip])
    phone = StringField(filters=[strip])
    email = StringField(filters=[strip])
    support_contact = StringField(filters=[strip])

    def typed(self) -> DealerSettings:
        return DealerSettings(
            first_service_months=self.first_service_months.data, first_service_km=self.first_service_km.data,
            workshop_address=self.workshop_address.data, phone=self.phone.data, email=self.email.data,
            support_contact=self.support_contact.data, working_hours=self.working_hours())

    def working_hours(self) -> dict[int, tuple[time | None, time | None] | None]:
        """Each weekday's (opens, closes) when the day is ticked, else ``None`` (closed)."""
        return {day: (self[f"open_{day}"].data, self[f"close_{day}"].data) if self[f"works_{day}"].data else None
                for day in WEEKDAYS}


for _day in WEEKDAYS:  # works_0 … works_6, open_0 …, close_0 …: one row per weekday in the page
    setattr(DealerSettingsForm, f"works_{_day}", BooleanField())
    setattr(DealerSettingsForm, f"open_{_day}", ClockField())
    setattr(DealerSettingsForm, f"close_{_day}", ClockField())


class DiscardReasonForm(ActionForm):
    """A reason added to the catalog, or renamed; ``operation``: rename, activate, deactivate, delete."""

    operation = StringField()
    label_es = StringField(filters=[strip])
    label_pt_br = StringField(filters=[strip])
    label_en = StringField(filters=[strip])
    oem_reason = StringField(filters=[strip])

    def labels(self) -> dict[str, str]:
        return {"label_es": self.label_es.data, "label_pt_br": self.label_pt_br.data, "label_en": self.label_en.data,
                "oem_reason": self.oem_reason.data}
