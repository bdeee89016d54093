"""Outbound messages (reminders, booking confirmations): claimed before sending, sent once.

- ``OutboundMessage``: one row per (dealer, appointment, kind, scheduled time) — the idempotency
  key. A worker *claims* it (status ``sending``, its own ``claim_token``, a ``lease_until``) before
  talking to SMTP; a lease that expires (the worker died) lets a later run claim it again.
- ``CalendarEvent``: the appointment's calendar identity: a stable UID and a SEQUENCE raised each
  time the appointment's time changes, whoever moved it (the DMS sync or Boxes).
- ``MailSettings``: a dealer's own SMTP server and reminder window; unset fields use the global
  ``BOXES_*`` settings. The password is write-only: forms never render it back, logs never show it.
"""

from __future__ import annotations

from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from boxes.db import Base, DealerOwned, UTCDateTime, utcnow

MESSAGE_KINDS = ("reminder", "booking_confirmation")
MESSAGE_KIND_LABELS = {"reminder": _l("Reminder"), "booking_confirmation": _l("Booking confirmation")}
MESSAGE_STATUSES = ("queued", "sending", "sent", "failed", "skipped")
FINAL_STATUSES = ("sent", "failed", "skipped")
MESSAGE_ORIGINS = ("manual", "automatic", "booking")
MESSAGE_ORIGIN_LABELS = {"manual": _l("Manual"), "automatic": _l("Automatic"), "booking": _l("Online booking")}
# Why a message was not sent (shown translated on the row and in the Outbox).
MESSAGE_REASONS = ("opt_out", "no_address", "invalid_address", "no_customer", "daily_cap", "smtp_error",
                   "rejected", "appointment_changed", "internal_error")
MESSAGE_REASON_LABELS = {
    "opt_out": _l("The customer asked not to be contacted."),
    "no_address": _l("The customer has no email address."),
    "invalid_address": _l("The customer's email address is not valid."),
    "no_customer": _l("The appointment has no customer."),
    "daily_cap": _l("The dealer's daily email limit was reached."),
    "smtp_error": _l("The mail server did not answer or failed."),
    "rejected": _l("The mail server refused the message."),
    "appointment_changed": _l("The appointment changed or was cancelled."),
    "internal_error": _l("Boxes could not prepare the message."),
}
SMTP_SECURITY = ("none", "starttls", "ssl")
SMTP_SECURITY_LABELS = {"none": _l("None"), "starttls": "STARTTLS", "ssl": "SSL/TLS"}


class OutboundMessage(DealerOwned, Base):
    __tablename__ = "outbound_message"
    __table_args__ = (
        # The idempotency key: one message per appointment, kind and scheduled time.
        UniqueConstraint("dealer_id", "appointment_id", "kind", "scheduled_for"),
        Index("ix_outbound_message_dealer_status", "dealer_id", "status", "created_at"),
        # The recovery sweep: claims whose lease ran out, queued rows nobody picked up.
        Index("ix_outbound_message_status_lease", "status", "lease_until"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    appointment_id: Mapped[int | None] = mapped_column(ForeignKey("appointment.id"), nullable=True)
    kind: Mapped[str] = mapped_column(String(24))
    scheduled_for: Mapped[datetime] = mapped_column(UTCDateTime)
    to_address: Mapped[str] = mapped_column(String(200), default="")
    subject: Mapped[str] = mapped_column(String(300), default="")
    status: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str] = mapped_column(Text, default="")
    message_id: Mapped[str] = mapped_column(String(200), default="")
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # manual (a caller's click), automatic (the cron window), booking (online booking).
    origin: Mapped[str] = mapped_column(String(16), default="manual")
    # A code of MESSAGE_REASONS when skipped or failed; ``error`` keeps the SMTP server's words.
    reason: Mapped[str] = mapped_column(String(32), default="")
    locale: Mapped[str] = mapped_column(String(8), default="")
    # The claim: who holds the row while sending, and until when.
    claim_token: Mapped[str] = mapped_column(String(64), default="")
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # When a queued row is due to be tried (now, or after a retry's backoff): a queued row still
    # waiting well past it lost its job (Redis restarted) and the recovery sweep enqueues it again.
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # What was sent (the Outbox preview), rendered when the message was claimed.
    body_text: Mapped[str] = mapped_column(Text, default="")
    body_html: Mapped[str] = mapped_column(Text, default="")
    ics_sequence: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class CalendarEvent(DealerOwned, Base):
    __tablename__ = "calendar_event"
    __table_args__ = (UniqueConstraint("dealer_id", "appointment_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    appointment_id: Mapped[int] = mapped_column(ForeignKey("appointment.id", ondelete="CASCADE"))
    uid: Mapped[str] = mapped_column(String(200))
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    # The appointment time the current SEQUENCE describes.
    scheduled_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class MailSettings(DealerOwned, Base):
    __tablename__ = "mail_settings"
    __table_args__ = (UniqueConstraint("dealer_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # False: the installation's SMTP server (BOXES_SMTP_*), e.g. the local sink in embedded mode.
    use_own_smtp: Mapped[bool] = mapped_column(Boolean, default=False)
    smtp_host: Mapped[str] = mapped_column(String(200), default="")
    smtp_port: Mapped[int | None] = mapped_column(Integer, nullable=True)
    smtp_security: Mapped[str] = mapped_column(String(16), default="none")
    smtp_username: Mapped[str] = mapped_column(String(200), default="")
    # Write-only: never rendered back, never logged, never in the audit trail.
    smtp_password: Mapped[str] = mapped_column(String(500), default="")
    sender: Mapped[str] = mapped_column(String(200), default="")
    auto_reminders: Mapped[bool] = mapped_column(Boolean, default=True)
    reminder_days_before: Mapped[int] = mapped_column(Integer, default=1)
    reminder_hour: Mapped[int] = mapped_column(Integer, default=10)
    daily_cap: Mapped[int | None] = mapped_column(Integer, nullable=True)
    rate_per_minute: Mapped[int | None] = mapped_column(Integer, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
