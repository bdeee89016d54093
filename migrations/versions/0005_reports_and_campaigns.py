"""reports and campaigns

Revision ID: 0005
Revises: 0004
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import boxes.db

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN_CAMPAIGN = "status = 'open' AND campaign_id IS NOT NULL AND vehicle_id IS NOT NULL"


def upgrade() -> None:
    with op.batch_alter_table("campaign", schema=None) as batch_op:
        batch_op.add_column(sa.Column("assignment", sa.String(length=16), nullable=False, server_default="one"))
        batch_op.add_column(sa.Column("assigned_user_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("opportunities_created", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("finished_at", boxes.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_foreign_key(batch_op.f("fk_campaign_assigned_user_id_user_account"), "user_account",
                                    ["assigned_user_id"], ["id"])

    op.create_table(
        "campaign_unit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("vehicle_id", sa.Integer(), nullable=False),
        sa.Column("assigned_user_id", sa.Integer(), nullable=True),
        sa.Column("dealer_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["assigned_user_id"], ["user_account.id"],
                                name=op.f("fk_campaign_unit_assigned_user_id_user_account")),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaign.id"], name=op.f("fk_campaign_unit_campaign_id_campaign"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["dealer_id"], ["dealer.id"], name=op.f("fk_campaign_unit_dealer_id_dealer"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["vehicle_id"], ["vehicle.id"], name=op.f("fk_campaign_unit_vehicle_id_vehicle")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_unit")),
        sa.UniqueConstraint("dealer_id", "campaign_id", "position",
                            name=op.f("uq_campaign_unit_dealer_id_campaign_id_position")),
    )
    op.create_index("uq_opportunity_open_campaign_vehicle", "opportunity", ["vehicle_id", "campaign_id"], unique=True,
                    postgresql_where=sa.text(OPEN_CAMPAIGN), sqlite_where=sa.text(OPEN_CAMPAIGN))


def downgrade() -> None:
    op.drop_index("uq_opportunity_open_campaign_vehicle", table_name="opportunity")
    op.drop_table("campaign_unit")
    with op.batch_alter_table("campaign", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_campaign_assigned_user_id_user_account"), type_="foreignkey")
        batch_op.drop_column("finished_at")
        batch_op.drop_column("opportunities_created")
        batch_op.drop_column("assigned_user_id")
        batch_op.drop_column("assignment")
