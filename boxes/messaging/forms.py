"""Settings → Mail's form, parsed into ``settings.MailSettingsInput``; the ranges, the allow-list and the
addresses are ``boxes.messaging.settings.update``'s rules."""

from __future__ import annotations

from wtforms import BooleanField, PasswordField, StringField

from boxes.forms import ActionForm, WholeNumberField, as_typed, strip
from boxes.messaging.settings import MailSettingsInput


class MailSettingsForm(ActionForm):
    use_own_smtp = BooleanField()
    smtp_host = StringField(filters=[strip])
    smtp_port = WholeNumberField()
    smtp_security = StringField(default="none", filters=[lambda v: v or "none"])
    smtp_username = StringField(filters=[strip])
    smtp_password = PasswordField(filters=[as_typed])  # write-only: an empty one keeps the stored password
    clear_password = BooleanField()
    sender = StringField(filters=[strip])
    auto_reminders = BooleanField()
    reminder_days_before = WholeNumberField(default=1)
    reminder_hour = WholeNumberField(default=10)
    daily_cap = WholeNumberField()
    rate_per_minute = WholeNumberField()

    def typed(self) -> MailSettingsInput:
        return MailSettingsInput(**{name: self[name].data for name in MailSettingsInput.__dataclass_fields__})
