"""messaging: claims and leases on outbound messages, calendar events, per-dealer mail settings

Revision ID: 0004
Revises: 0003
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import boxes.db

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbound_message", schema=None) as batch_op:
        batch_op.add_column(sa.Column("origin", sa.String(length=16), nullable=False, server_default="manual"))
        batch_op.add_column(sa.Column("reason", sa.String(length=32), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("locale", sa.String(length=8), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("claim_token", sa.String(length=64), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("lease_until", boxes.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("next_attempt_at", boxes.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("body_text", sa.Text(), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("body_html", sa.Text(), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("ics_sequence", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("created_by_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("updated_at", boxes.db.UTCDateTime(timezone=True), nullable=False,
                                      server_default=sa.text("CURRENT_TIMESTAMP")))
        batch_op.create_foreign_key(batch_op.f("fk_outbound_message_created_by_id_user_account"), "user_account",
                                    ["created_by_id"], ["id"])
        batch_op.create_index("ix_outbound_message_status_lease", ["status", "lease_until"], unique=False)

    op.create_table(
        "calendar_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("appointment_id", sa.Integer(), nullable=False),
        sa.Column("uid", sa.String(length=200), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("scheduled_at", boxes.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", boxes.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("dealer_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["appointment_id"], ["appointment.id"],
                                name=op.f("fk_calendar_event_appointment_id_appointment"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["dealer_id"], ["dealer.id"], name=op.f("fk_calendar_event_dealer_id_dealer"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calendar_event")),
        sa.UniqueConstraint("dealer_id", "appointment_id", name=op.f("uq_calendar_event_dealer_id_appointment_id")),
    )
    op.create_table(
        "mail_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("use_own_smtp", sa.Boolean(), nullable=False),
        sa.Column("smtp_host", sa.String(length=200), nullable=False),
        sa.Column("smtp_port", sa.Integer(), nullable=True),
        sa.Column("smtp_security", sa.String(length=16), nullable=False),
        sa.Column("smtp_username", sa.String(length=200), nullable=False),
        sa.Column("smtp_password", sa.String(length=500), nullable=False),
        sa.Column("sender", sa.String(length=200), nullable=False),
        sa.Column("auto_reminders", sa.Boolean(), nullable=False),
        sa.Column("reminder_days_before", sa.Integer(), nullable=False),
        sa.Column("reminder_hour", sa.Integer(), nullable=False),
        sa.Column("daily_cap", sa.Integer(), nullable=True),
        sa.Column("rate_per_minute", sa.Integer(), nullable=True),
        sa.Column("updated_at", boxes.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("dealer_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["dealer_id"], ["dealer.id"], name=op.f("fk_mail_settings_dealer_id_dealer"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_settings")),
        sa.UniqueConstraint("dealer_id", name=op.f("uq_mail_settings_dealer_id")),
    )


def downgrade() -> None:
    op.drop_table("mail_settings")
    op.drop_table("calendar_event")
    with op.batch_alter_table("outbound_message", schema=None) as batch_op:
        batch_op.drop_index("ix_outbound_message_status_lease")
        batch_op.drop_constraint(batch_op.f("fk_outbound_message_created_by_id_user_account"), type_="foreignkey")
        for name in ("updated_at", "created_by_id", "ics_sequence", "body_html", "body_text", "next_attempt_at", "lease_until",
                     "claim_token", "locale", "reason", "origin"):
            batch_op.drop_column(name)
