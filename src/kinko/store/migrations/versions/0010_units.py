"""Customers' tiers, recorded in kinko; and the proposals of withdrawals closed before a
withdrawal's proposal was closed with it (rejected, blocked or expired withdrawals whose
review still showed as pending), closed now.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# a closed withdrawal's state -> its review proposal's state
_CLOSED = {"rejected": "rejected", "blocked": "rejected", "expired": "expired"}


def upgrade() -> None:
    op.create_table(
        "customer_tiers",
        sa.Column("customer", sa.String(128), primary_key=True),
        sa.Column("tier", sa.String(32), nullable=False),
        sa.Column("set_us", sa.BigInteger, nullable=False),
        sa.Column("set_by", sa.String(200), nullable=False),
    )
    for withdrawal_state, proposal_state in _CLOSED.items():
        op.execute(sa.text(
            "UPDATE proposals SET state = :closed WHERE kind = 'withdrawal' "
            "AND state IN ('pending', 'approved') AND id IN (SELECT 'withdrawal-' || id "
            "FROM withdrawals WHERE state = :state)"
        ).bindparams(closed=proposal_state, state=withdrawal_state))


def downgrade() -> None:
    op.drop_table("customer_tiers")
