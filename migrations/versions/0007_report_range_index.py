"""opportunities report: its range and state from one index

Revision ID: 0007
Revises: 0006
"""
from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_opportunity_dealer_created", "opportunity", ["dealer_id", "created_at", "status", "due_at"])


def downgrade() -> None:
    op.drop_index("ix_opportunity_dealer_created", table_name="opportunity")
