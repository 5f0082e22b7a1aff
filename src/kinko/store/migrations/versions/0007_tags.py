"""Tags: address attribution from TagPacks (exchanges, services), apart from deny lists.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tags",
        sa.Column("address", sa.String(128), primary_key=True),
        sa.Column("label", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("category", sa.Text, nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("list_name", sa.String(200), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("tags")
