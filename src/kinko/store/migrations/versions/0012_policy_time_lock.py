"""Loosening waits: each policy version records the time lock it was approved under, and
approvers' vetoes of versions still waiting are kept (signed, one per approver).

Versions loaded before get a lock of 0: they took effect when their quorum was reached,
as they did then.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("policies") as batch:
        batch.add_column(sa.Column("time_lock_s", sa.BigInteger, nullable=False,
                                   server_default="0"))
    op.create_table(
        "policy_vetoes",
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("approver", sa.String(64), primary_key=True),
        sa.Column("signature", sa.String(128), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("vetoed_us", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("policy_vetoes")
    with op.batch_alter_table("policies") as batch:
        batch.drop_column("time_lock_s")
