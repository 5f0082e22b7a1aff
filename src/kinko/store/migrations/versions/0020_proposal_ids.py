"""Proposal ids as long as a withdrawal's: ``withdrawal-`` and the withdrawal's id, an
Idempotency-Key of up to 100 characters (111 in all), did not fit the 64 characters that
proposals, their approvals and owners' signatures kept. PostgreSQL refused the row, so a
withdrawal held for review under a key of more than 53 characters was a server error there
(SQLite does not hold a column to its width). The three columns take 128; rows are kept
(SQLite copies each table into its new form, PostgreSQL widens the column in place).

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

_COLUMNS = (("proposals", "id"), ("approvals", "proposal_id"),
            ("owner_signatures", "proposal_id"))


def _widen(old: int, new: int) -> None:
    for table, column in _COLUMNS:
        with op.batch_alter_table(table) as batch:
            batch.alter_column(column, type_=sa.String(new), existing_type=sa.String(old),
                               existing_nullable=False)


def upgrade() -> None:
    _widen(64, 128)


def downgrade() -> None:
    _widen(128, 64)
