"""dms sync: connectors, cursors, run and quarantine details

Revision ID: 0003
Revises: 0002
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import boxes.db

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dms_connector",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("secrets", sa.JSON(), nullable=False),
        sa.Column("tolerance_days", sa.Integer(), nullable=False),
        sa.Column("token", sa.Text(), nullable=True),
        sa.Column("token_expires_at", boxes.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", boxes.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("dealer_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["dealer_id"], ["dealer.id"], name=op.f("fk_dms_connector_dealer_id_dealer"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dms_connector")),
        sa.UniqueConstraint("dealer_id", name=op.f("uq_dms_connector_dealer_id")),
    )
    op.create_table(
        "sync_cursor",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entity", sa.String(length=24), nullable=False),
        sa.Column("cursor", sa.String(length=200), nullable=True),
        sa.Column("updated_at", boxes.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("dealer_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["dealer_id"], ["dealer.id"], name=op.f("fk_sync_cursor_dealer_id_dealer"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_cursor")),
        sa.UniqueConstraint("dealer_id", "entity", name=op.f("uq_sync_cursor_dealer_id_entity")),
    )
    with op.batch_alter_table("sync_run", schema=None) as batch_op:
        batch_op.add_column(sa.Column("trigger", sa.String(length=16), nullable=False, server_default="cron"))
        batch_op.add_column(sa.Column("pages", sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("quarantined_record", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kind", sa.String(length=16), nullable=False, server_default="invalid"))


def downgrade() -> None:
    with op.batch_alter_table("quarantined_record", schema=None) as batch_op:
        batch_op.drop_column("kind")
    with op.batch_alter_table("sync_run", schema=None) as batch_op:
        batch_op.drop_column("pages")
        batch_op.drop_column("trigger")
    op.drop_table("sync_cursor")
    op.drop_table("dms_connector")
