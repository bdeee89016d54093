"""user: the dealer used last (where the next login lands)

Revision ID: 0012
Revises: 0007
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_dealer_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f("fk_user_account_last_dealer_id_dealer"), "dealer",
                                    ["last_dealer_id"], ["id"], ondelete="SET NULL")


def downgrade() -> None:
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_user_account_last_dealer_id_dealer"), type_="foreignkey")
        batch_op.drop_column("last_dealer_id")
