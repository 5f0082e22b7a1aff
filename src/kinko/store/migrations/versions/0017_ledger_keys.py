"""The journal stored by its keys on SQLite: an entry's sequence number is the row's own id
(the table is stored in sequence order, no separate index of it), and postings and balances
are stored in their primary key's order (``WITHOUT ROWID``: no hidden row id and no second
B-tree of the key). Every insert of an entry, a posting or a balance then writes one B-tree
fewer; the rows, the other indexes and what queries read are unchanged.

SQLite changes a table's storage only by rebuilding it: each table is renamed, created
anew, filled from the old one in key order, and the old one dropped, in the migration's
one transaction (about 3 s of CPU for 300,000 entries; the old tables' pages stay free in
the file for new rows until a ``VACUUM``). PostgreSQL keeps its tables as they are (no
hidden row ids there).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.schema import SchemaItem

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

_AMOUNT = sa.String(80)  # how 0001's Amount is stored on SQLite (decimal text)


def _entries(keyed: bool) -> list[SchemaItem]:
    return [
        # INTEGER (not BIGINT) PRIMARY KEY: SQLite's alias of the row id
        sa.Column("seq", sa.Integer if keyed else sa.BigInteger, primary_key=True,
                  autoincrement=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("ts_us", sa.BigInteger, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("memo", sa.Text, nullable=False),
        sa.Column("hold_id", sa.String(128), nullable=True),
        sa.Column("resolves_hold", sa.String(128), nullable=True),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.UniqueConstraint("key", name="uq_entries_key"),
        sa.UniqueConstraint("resolves_hold", name="uq_entries_resolves_hold"),
    ]


def _postings(_keyed: bool) -> list[SchemaItem]:
    return [
        sa.Column("entry_seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("idx", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("account", sa.String(160), nullable=False),
        sa.Column("asset", sa.String(16), nullable=False),
        sa.Column("amount", _AMOUNT, nullable=False),
    ]


def _balances(_keyed: bool) -> list[SchemaItem]:
    return [
        sa.Column("account", sa.String(160), primary_key=True),
        sa.Column("asset", sa.String(16), primary_key=True),
        sa.Column("balance", _AMOUNT, nullable=False),
        sa.Column("pending_debit", _AMOUNT, nullable=False),
        sa.Column("pending_credit", _AMOUNT, nullable=False),
    ]


# table, its columns and constraints, whether keyed storage is WITHOUT ROWID, its indexes
_TABLES = (
    ("entries", _entries, False, (("ix_entries_ts", ["ts_us"]),)),
    ("postings", _postings, True, (("ix_postings_account", ["account", "asset", "entry_seq"]),)),
    ("balances", _balances, True, ()),
)


def _rebuild(keyed: bool) -> None:
    """Rebuild the three tables on SQLite, keyed (``keyed``) or as 0001 made them."""
    if op.get_bind().dialect.name != "sqlite":
        return
    for name, items, without_rowid, indexes in _TABLES:
        old = f"{name}_0017_old"
        for index, _ in indexes:
            op.drop_index(index, table_name=name)
        op.rename_table(name, old)
        columns = items(keyed)
        op.create_table(name, *columns,
                        **({"sqlite_with_rowid": False} if keyed and without_rowid else {}))
        names = ", ".join(f'"{c.name}"' for c in columns if isinstance(c, sa.Column))
        primary = ", ".join(f'"{c.name}"' for c in columns
                            if isinstance(c, sa.Column) and c.primary_key)
        # in key order: each B-tree is then written from left to right
        op.execute(f"INSERT INTO {name} ({names}) SELECT {names} FROM {old} "
                   f"ORDER BY {primary}")
        op.drop_table(old)
        for index, on in indexes:
            op.create_index(index, name, on)


def upgrade() -> None:
    _rebuild(keyed=True)


def downgrade() -> None:
    _rebuild(keyed=False)
