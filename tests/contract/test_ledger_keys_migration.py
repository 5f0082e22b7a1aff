"""The journal stored by its keys (migration 0017), on SQLite and PostgreSQL: a ledger
written at the previous revision keeps every entry, posting, balance and hold, byte for
byte, verifies the same and takes new entries; on SQLite its tables are rebuilt (the
sequence is the row id; postings and balances are stored in key order), and downgrading
rebuilds them as they were."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from kinko.domain.custody import Wallet
from kinko.domain.ledger import Hold, Posting
from kinko.domain.money import AssetRegistry
from kinko.errors import IdempotencyConflict
from kinko.ports import FixedClock
from kinko.services.ledger import Draft, Ledger
from kinko.store import SqlStore, open_store
from kinko.store.migrate import _config
from kinko.store.schema import metadata

XEM = 10**6
WEI = 10**18
TABLES = {"entries": "seq", "postings": "entry_seq, idx", "balances": "account, asset",
          "holds": "id", "ledger_head": "id"}


def migrate(store: SqlStore, revision: str, down: bool = False) -> None:
    cfg = _config()
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(cfg, revision)


def rows(store: SqlStore) -> dict[str, list[tuple[object, ...]]]:
    with store.engine.connect() as conn:
        return {table: [tuple(r) for r in conn.execute(text(
                    f"SELECT * FROM {table} ORDER BY {order}"))]
                for table, order in TABLES.items()}


def storage(store: SqlStore) -> dict[str, str]:
    """SQLite: each ledger table's stored definition, and its indexes' names."""
    with store.engine.connect() as conn:
        return {name: " ".join(sql.split()) + " | " + ",".join(sorted(
                    i for (i,) in conn.execute(text(
                        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = :t"
                    ), {"t": name})))
                for name, sql in conn.execute(text(
                    "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name IN "
                    "('entries', 'postings', 'balances')"))}


def written_before(store_url: str) -> tuple[SqlStore, Ledger]:
    """A ledger written at the previous revision: transfers (one beyond 64 bits), a batch,
    holds opened, posted and left pending."""
    store = open_store(store_url)
    migrate(store, "head")  # a PostgreSQL test database is made at the head already
    migrate(store, "0016", down=True)
    clock = FixedClock(datetime(2026, 12, 5, 9, 0, tzinfo=UTC))
    ledger = Ledger(store, clock, AssetRegistry.default())
    ledger.sync_assets()
    ledger.add_wallet(Wallet("xem-hot", "XEM", "hot"))
    ledger.add_wallet(Wallet("eth-hot", "ETH", "hot"))
    ledger.post("d1", [Posting("wallet:xem-hot", "XEM", 500 * XEM),
                       Posting("customer:C1", "XEM", -500 * XEM)], source="tx:d1")
    ledger.post("d2", [Posting("wallet:eth-hot", "ETH", 123_456 * WEI + 1),
                       Posting("customer:C2", "ETH", -(123_456 * WEI + 1))], source="tx:d2")
    ledger.append([Draft(f"b{i}", postings=(Posting("wallet:xem-hot", "XEM", XEM + i),
                                            Posting(f"customer:B{i:03d}", "XEM", -(XEM + i))),
                         source="batch") for i in range(150)])
    ledger.open_hold("h1", Hold("h1", "customer:C1", "wallet:xem-hot", "XEM", 100 * XEM),
                     source="req:1")
    ledger.post_hold("p1", "h1", source="tx:1")
    ledger.open_hold("h2", Hold("h2", "customer:C1", "wallet:xem-hot", "XEM", 7 * XEM,
                                expires_at=clock.now() + timedelta(days=1)), source="req:2")
    return store, ledger


@pytest.fixture
def old(store_url: str) -> Iterator[tuple[SqlStore, Ledger]]:
    store, ledger = written_before(store_url)
    yield store, ledger
    store.close()


@pytest.fixture
def old_sqlite(tmp_path: Path) -> Iterator[tuple[SqlStore, Ledger]]:
    store, ledger = written_before(f"sqlite:///{tmp_path / 'kinko.db'}")
    yield store, ledger
    store.close()


def test_a_ledger_keeps_every_row_and_verifies_the_same(old: tuple[SqlStore, Ledger]) -> None:
    store, ledger = old
    before = rows(store)
    assert len(before["entries"]) == 155 and len(before["postings"]) == 306
    head = ledger.head()
    assert ledger.verify().ok

    migrate(store, "head")
    assert rows(store) == before
    assert ledger.head() == head
    report = ledger.verify()
    assert report.ok and report.entries == 155
    assert ledger.balance("customer:C1", "XEM") == 400 * XEM
    assert ledger.balance("customer:C2", "ETH") == 123_456 * WEI + 1
    assert ledger.balance("customer:B149", "XEM", as_of_seq=head[0]) == XEM + 149
    with store.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []

    # new entries after the migrated ones; keys, holds and resolutions are still unique
    ledger.post("d3", [Posting("wallet:xem-hot", "XEM", 9 * XEM),
                       Posting("customer:C3", "XEM", -9 * XEM)], source="tx:d3")
    with pytest.raises(IdempotencyConflict):
        ledger.post("d1", [Posting("wallet:xem-hot", "XEM", XEM),
                           Posting("customer:C1", "XEM", -XEM)], source="tx:d1")
    ledger.void_hold("v2", "h2", source="ops")
    assert ledger.verify().ok and ledger.head()[0] == 157


def test_sqlite_stores_the_journal_by_its_keys_and_downgrades(
        old_sqlite: tuple[SqlStore, Ledger]) -> None:
    store, ledger = old_sqlite  # (PostgreSQL has no row ids: its tables stay as they are)
    previous = storage(store)
    before = rows(store)
    migrate(store, "head")
    keyed = storage(store)
    assert keyed["postings"].split(" | ")[0].endswith("WITHOUT ROWID")
    assert keyed["balances"].split(" | ")[0].endswith("WITHOUT ROWID")
    assert "seq INTEGER NOT NULL" in keyed["entries"]
    # no index of the sequence (the row id is it); the key, resolution and time indexes stay
    assert keyed["entries"].split(" | ")[1] == (
        "ix_entries_ts,sqlite_autoindex_entries_1,sqlite_autoindex_entries_2")
    assert keyed["postings"].split(" | ")[1] == "ix_postings_account"
    with store.engine.connect() as conn:
        assert list(conn.execute(text("SELECT rowid FROM entries ORDER BY seq"))) == [
            (seq,) for seq, *_ in before["entries"]]

    migrate(store, "0016", down=True)
    assert storage(store) == previous
    assert rows(store) == before
    assert ledger.verify().ok
