"""board workflows

Revision ID: 0002
Revises: 0001
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import boxes.db

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


DEFAULT_HOURS = '{"0": ["08:00", "18:00"], "1": ["08:00", "18:00"], "2": ["08:00", "18:00"], ' \
    '"3": ["08:00", "18:00"], "4": ["08:00", "18:00"], "5": ["08:00", "12:00"]}'


def upgrade() -> None:
    with op.batch_alter_table("dealer", schema=None) as batch_op:
        batch_op.add_column(sa.Column("working_hours", sa.JSON(), nullable=False, server_default=DEFAULT_HOURS))

    with op.batch_alter_table("opportunity", schema=None) as batch_op:
        batch_op.add_column(sa.Column("credited_user_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("credited_at", boxes.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_foreign_key(batch_op.f("fk_opportunity_credited_user_id_user_account"), "user_account",
                                    ["credited_user_id"], ["id"])

    op.create_index("ix_repair_order_open", "repair_order", ["dealer_id", "opened_at"], unique=False,
                    postgresql_where=sa.text("delivered_at IS NULL"), sqlite_where=sa.text("delivered_at IS NULL"))


def downgrade() -> None:
    op.drop_index("ix_repair_order_open", table_name="repair_order")
    with op.batch_alter_table("opportunity", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_opportunity_credited_user_id_user_account"), type_="foreignkey")
        batch_op.drop_column("credited_at")
        batch_op.drop_column("credited_user_id")

    with op.batch_alter_table("dealer", schema=None) as batch_op:
        batch_op.drop_column("working_hours")
