"""Deposits by transaction: whether a transaction's transfer was credited already, in any
block, is one look-up.

A deposit is credited under an id naming its block (a reorganisation reverses it and
credits it again in the new branch); the scanner asks, for a block's transfers, whether the
same transfer stands credited in another block kept as the chain, which no chain allows
(a node that says so is wrong or hostile), so that it is credited once.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_deposits_tx", "deposits", ["chain", "tx_hash"])


def downgrade() -> None:
    op.drop_index("ix_deposits_tx", "deposits")
