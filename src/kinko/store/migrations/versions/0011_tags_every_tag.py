"""Tags: an address keeps every tag (GraphSense allows several), with the TagPack's concepts.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.rename_table("tags", "tags_one_per_address")
    op.create_table(
        "tags",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("address", sa.String(128), nullable=False),
        sa.Column("label", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("category", sa.Text, nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("concepts", sa.Text, nullable=False),
        sa.Column("list_name", sa.String(200), nullable=False),
    )
    op.create_index("ix_tags_address", "tags", ["address"])
    op.execute("INSERT INTO tags (address, label, source, category, actor, concepts, list_name) "
               "SELECT address, label, source, category, actor, '', list_name "
               "FROM tags_one_per_address ORDER BY address")
    op.drop_table("tags_one_per_address")


def downgrade() -> None:
    op.rename_table("tags", "tags_every_tag")
    op.create_table(
        "tags",
        sa.Column("address", sa.String(128), primary_key=True),
        sa.Column("label", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("category", sa.Text, nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("list_name", sa.String(200), nullable=False),
    )
    op.execute("INSERT INTO tags (address, label, source, category, actor, list_name) "
               "SELECT address, label, source, category, actor, list_name FROM tags_every_tag "
               "WHERE id IN (SELECT min(id) FROM tags_every_tag GROUP BY address)")
    op.drop_table("tags_every_tag")
