"""board list indexes measured at group scale

Revision ID: 0006
Revises: 0005
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_opportunity_dealer_status_due", table_name="opportunity")
    op.create_index("ix_opportunity_dealer_status_due", "opportunity", ["dealer_id", "status", "due_at", "id"])
    op.create_index("ix_opportunity_dealer_status_origin_due", "opportunity",
                    ["dealer_id", "status", "origin", "due_at", "id"])
    op.drop_index("ix_opportunity_dealer_campaign_status", table_name="opportunity")
    op.create_index("ix_opportunity_dealer_campaign_status_due", "opportunity",
                    ["dealer_id", "campaign_id", "status", "due_at", "id"])
    op.create_index("ix_repair_order_courtesy_pending", "repair_order", ["dealer_id", "delivered_at"],
                    postgresql_where=sa.text("courtesy_call_at IS NULL"),
                    sqlite_where=sa.text("courtesy_call_at IS NULL"))


def downgrade() -> None:
    op.drop_index("ix_repair_order_courtesy_pending", table_name="repair_order")
    op.drop_index("ix_opportunity_dealer_campaign_status_due", table_name="opportunity")
    op.create_index("ix_opportunity_dealer_campaign_status", "opportunity", ["dealer_id", "campaign_id", "status"])
    op.drop_index("ix_opportunity_dealer_status_origin_due", table_name="opportunity")
    op.drop_index("ix_opportunity_dealer_status_due", table_name="opportunity")
    op.create_index("ix_opportunity_dealer_status_due", "opportunity", ["dealer_id", "status", "due_at"])
