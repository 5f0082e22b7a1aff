"""A PostgreSQL connection the server dropped (a restart, a failover, an administrator's
``pg_terminate_backend``): the pool does not ping a connection in steady use, so what finds
the loss is either the ping of one that sat unused (made again before use), the writers'
first statement (nothing done yet: made again, the write goes through), or a statement of a
unit under way (``StoreUnavailable``, an HTTP 503, and the pool's connections are made
again for the next request); never another error."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

import kinko.store.sql as sql
from kinko.domain.ledger import Posting
from kinko.errors import StoreUnavailable
from kinko.services.ledger import Ledger
from kinko.store import SqlStore

pytestmark = pytest.mark.parametrize("backend", ["postgres"], indirect=True)


def _drop_connections(store: SqlStore) -> int:
    """Every server process on the store's database ended; how many."""
    url = store.engine.url
    with psycopg.connect(host=url.host, port=url.port, user=url.username,
                         dbname="postgres", autocommit=True) as admin:
        return len(admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
            "AND pid <> pg_backend_pid()", (url.database,)).fetchall())


def _post(ledger: Ledger, key: str) -> None:
    ledger.post(key, [Posting("wallet:xem-hot", "XEM", 1), Posting("customer:a", "XEM", -1)],
                source="t")


@pytest.fixture
def steady(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Connections count as in steady use (never pinged) however slow the test."""
    monkeypatch.setattr(sql, "PING_AFTER", 3600.0)
    yield


def test_the_writers_first_statement_finds_the_loss_and_the_write_goes_through(
        ledger: Ledger, store: SqlStore, steady: None) -> None:
    _post(ledger, "fund")  # the pool holds a connection now
    assert _drop_connections(store) >= 1
    _post(ledger, "after")  # on a connection made again
    assert ledger.verify().ok
    with store.reader() as tx:
        assert tx.known_keys(["fund", "after"]) == {"fund", "after"}


def test_a_read_under_way_fails_as_unavailable_and_the_next_one_reads(
        ledger: Ledger, store: SqlStore, steady: None) -> None:
    _post(ledger, "fund")
    with store.reader() as tx:
        tx.known_keys(["fund"])
    assert _drop_connections(store) >= 1
    with pytest.raises(StoreUnavailable, match="unavailable"), store.reader() as tx:
        tx.known_keys(["fund"])
    with store.reader() as tx:  # the pool made its connections again
        assert tx.known_keys(["fund"]) == {"fund"}


def test_a_connection_that_sat_unused_is_pinged_and_made_again(
        ledger: Ledger, store: SqlStore, monkeypatch: pytest.MonkeyPatch) -> None:
    _post(ledger, "fund")
    with store.reader() as tx:
        tx.known_keys(["fund"])
    monkeypatch.setattr(sql, "PING_AFTER", 0.0)  # every connection sat unused too long
    assert _drop_connections(store) >= 1
    with store.reader() as tx:
        assert tx.known_keys(["fund"]) == {"fund"}
