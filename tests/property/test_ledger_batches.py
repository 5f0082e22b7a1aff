"""A batch is its entries appended one at a time: the same journal rows, hashes and balances,
byte for byte; a batch that one of its entries would overdraw (or conflict) is refused whole,
with that entry's refusal, and nothing of it is written. The chain of earlier versions keeps
its hashes."""

from __future__ import annotations

import hashlib
import shutil
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from kinko.domain.custody import Wallet
from kinko.domain.ledger import Hold, Posting, entry_content, entry_digest
from kinko.domain.money import AssetRegistry
from kinko.errors import InvalidAccount, InvalidEntry, KinkoError, Overdraft, UnknownAsset
from kinko.ports import FixedClock
from kinko.services.ledger import Draft, Ledger
from kinko.store import SqlStore, open_store, upgrade

CUSTOMERS = ("customer:C1", "customer:C2", "customer:C3")
WALLETS = {"XEM": "wallet:xem-hot", "ETH": "wallet:eth-hot"}
OTHERS = ("own", "clearing:opening", "fees")
SEEDED = 100  # minor units each customer starts with, per asset

# the chain of chain_of_every_kind, as recorded before batches were sealed in one pass
HEAD_SEQ = 57
HEAD_HASH = "ddd9466c32c18a38de96e4fffff5641fbbc949e20553afbd7e50643020a983c1"
DIGESTS = "fd8da4b9edb529bb3dfca771141ff2d28141a75e408bf64af2e7751f7902893e"

TABLES = {
    "entries": "seq",
    "postings": "entry_seq, idx",
    "balances": "account, asset",
    "holds": "id",
    "ledger_head": "id",
}


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated database with two wallets and every customer holding some XEM and ETH."""
    path = tmp_path_factory.mktemp("batches") / "template.db"
    store = open_store(f"sqlite:///{path}")
    upgrade(store)
    ledger = Ledger(store, FixedClock(), AssetRegistry.default())
    for asset, account in WALLETS.items():
        ledger.add_wallet(Wallet(account.split(":")[1], asset, "hot"))
    ledger.append([
        Draft(f"seed-{c}-{asset}", postings=(Posting(wallet, asset, SEEDED),
                                             Posting(c, asset, -SEEDED)), source="seed")
        for c in CUSTOMERS for asset, wallet in WALLETS.items()])
    store.close()
    return path


@pytest.fixture
def copies(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two fresh paths (a new pair for every example: no WAL file of an earlier one)."""
    folder = tmp_path_factory.mktemp("copy")
    return folder / "serial.db", folder / "batch.db"


def _ledger(template: Path, path: Path, clock: FixedClock) -> tuple[SqlStore, Ledger]:
    path = path.with_name(f"{uuid.uuid4().hex}-{path.name}")
    shutil.copyfile(template, path)
    store = open_store(f"sqlite:///{path}")
    return store, Ledger(store, clock, AssetRegistry.default())


def _discard(*stores: SqlStore) -> None:
    """Close ``stores`` and remove their files: an example's copies are not kept (120
    examples of two copies each would fill the test's folder)."""
    for store in stores:
        path = Path(str(store.engine.url.database))
        store.close()
        for name in (path, path.with_name(f"{path.name}-wal"),
                     path.with_name(f"{path.name}-shm")):
            name.unlink(missing_ok=True)


def dump(store: SqlStore) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the ledger's tables, as stored."""
    with store.engine.connect() as conn:
        return {table: [tuple(r) for r in conn.execute(text(
                    f"SELECT * FROM {table} ORDER BY {order}"))]
                for table, order in TABLES.items()}


# ---------------------------------------------------------------------------- drafts

amount = st.integers(1, 60)
memo = st.sampled_from(["", "opening", "入金 (deposit)", "a|b:1"])
when = st.sampled_from([None, datetime(2018, 1, 26, 0, 2, 3, 456789, tzinfo=UTC),
                        datetime(2018, 1, 26, 9, 2, tzinfo=UTC) + timedelta(hours=9)])


@st.composite
def legs(draw: st.DrawFn, asset: str) -> list[Posting]:
    """Postings of one asset that balance: 1-3 legs and the one that balances them (an
    account may appear twice; the balancing leg is never zero)."""
    accounts = [*CUSTOMERS, WALLETS[asset], *OTHERS]
    out = []
    for _ in range(draw(st.integers(1, 3))):
        sign = draw(st.sampled_from([1, -1]))
        out.append(Posting(draw(st.sampled_from(accounts)), asset, sign * draw(amount)))
    rest = -sum(p.amount for p in out)
    if rest == 0:
        out.append(Posting(draw(st.sampled_from(accounts)), asset, 1))
        rest = -1
    out.append(Posting(draw(st.sampled_from(accounts)), asset, rest))
    return out


@st.composite
def transfer(draw: st.DrawFn, n: int) -> Draft:
    postings = draw(legs("XEM"))
    if draw(st.integers(0, 4)) == 0:  # now and then an entry in two assets
        postings += draw(legs("ETH"))
    return Draft(f"k{n}", "transfer", tuple(postings), source=draw(st.sampled_from(
                     ["t", "tx:0xabc", "バッチ"])), memo=draw(memo), timestamp=draw(when),
                 new_customers_only=draw(st.integers(0, 6)) == 0)


@st.composite
def batches(draw: st.DrawFn) -> list[Draft]:
    """Well-formed drafts (known accounts and assets, balanced, non-zero), so that what
    refuses one is the state it meets: an overdraft, a customer balance that exists, a
    key used for other content; now and then a hold (the batch then goes the general way)
    or a key used before (a replay, or a conflict)."""
    out: list[Draft] = []
    for n in range(draw(st.integers(1, 12))):
        pick = draw(st.integers(0, 9))
        if pick == 0:
            out.append(Draft(f"k{n}", "hold", hold=Hold(
                f"H{n}", draw(st.sampled_from(CUSTOMERS)), WALLETS["XEM"], "XEM",
                draw(amount)), source="req"))
        elif pick == 1 and out:
            earlier = draw(st.sampled_from(out))
            out.append(earlier if draw(st.booleans()) else earlier._replace(memo="other"))
        elif pick == 2:  # a key the template used, same or other content
            seed = Draft("seed-customer:C1-XEM", postings=(
                Posting(WALLETS["XEM"], "XEM", SEEDED), Posting("customer:C1", "XEM", -SEEDED)),
                source=draw(st.sampled_from(["seed", "other"])))
            out.append(seed)
        else:
            out.append(draw(transfer(n)))
    return out


# ---------------------------------------------------------------------------- properties


@pytest.mark.slow
@settings(max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(batches())
def test_a_batch_is_its_entries_one_at_a_time(template: Path, copies: tuple[Path, Path],
                                              drafts: list[Draft]) -> None:
    clock = FixedClock()
    serial_store, serial = _ledger(template, copies[0], clock)
    batch_store, batch = _ledger(template, copies[1], clock)
    try:
        before = dump(batch_store)
        one_by_one = []
        refused: KinkoError | None = None
        for d in drafts:
            try:
                one_by_one.append(serial.append([d])[0])
            except KinkoError as exc:
                refused = exc
                break
        if refused is None:
            assert batch.append(drafts) == one_by_one
            assert dump(batch_store) == dump(serial_store)
            for entry in batch.entries():
                assert entry.digest == entry_digest(entry_content(
                    entry.kind, entry.source, entry.memo, entry.postings, entry.hold))
            report = batch.verify()
            assert report.ok, report.findings
        else:
            with pytest.raises(type(refused)) as caught:
                batch.append(drafts)
            assert caught.value.message == refused.message
            assert caught.value.details == refused.details
            assert dump(batch_store) == before
    finally:
        _discard(serial_store, batch_store)


def test_an_overdraft_in_the_middle_refuses_the_whole_batch(template: Path,
                                                           copies: tuple[Path, Path]) -> None:
    store, ledger = _ledger(template, copies[0], FixedClock())
    before = dump(store)
    deposit = Draft("d1", postings=(Posting(WALLETS["XEM"], "XEM", 5),
                                    Posting("customer:C1", "XEM", -5)), source="t")
    # C2 has 100: the first withdrawal leaves 40, the second would leave -20
    first = Draft("w1", postings=(Posting("customer:C2", "XEM", 60),
                                  Posting(WALLETS["XEM"], "XEM", -60)), source="t")
    second = first._replace(key="w2")
    after = Draft("d2", postings=(Posting(WALLETS["XEM"], "XEM", 7),
                                  Posting("customer:C3", "XEM", -7)), source="t")
    with pytest.raises(Overdraft) as caught:
        ledger.append([deposit, first, second, after])
    assert caught.value.message == ("entry 'w2' refused: customer:C2 would have -0.00002 XEM "
                                    "available (had 0.00004 XEM); it may not go below zero")
    assert dump(store) == before
    store.close()


def test_a_batch_leaves_what_holds_reserve(template: Path, copies: tuple[Path, Path]) -> None:
    """A batch of transfers may not spend what a pending hold reserves, whether it reads
    the held balance from the store or finds it kept by the batch before; the balances it
    writes keep the amount held."""
    store, ledger = _ledger(template, copies[0], FixedClock())
    try:
        ledger.open_hold("h1", Hold("H1", "customer:C2", WALLETS["XEM"], "XEM", 30),
                         source="req")
        pay = [Draft(f"w{i}", postings=(Posting("customer:C2", "XEM", 30),
                                        Posting(WALLETS["XEM"], "XEM", -30)), source="t")
               for i in range(2)]
        ledger.append(pay)  # 100 less 60: 40 left, 30 of it held
        state = ledger.balances(account="customer:C2", asset="XEM")[0].state
        assert (state.balance, state.pending_debit, state.pending_credit) == (-40, 30, 0)
        too_much = [Draft("d1", postings=(Posting(WALLETS["XEM"], "XEM", 5),
                                          Posting("customer:C1", "XEM", -5)), source="t"),
                    Draft("w2", postings=(Posting("customer:C2", "XEM", 11),
                                          Posting(WALLETS["XEM"], "XEM", -11)), source="t")]
        before = dump(store)
        with pytest.raises(Overdraft) as caught:
            ledger.append(too_much)
        assert "customer:C2 would have -0.000001 XEM available (had 0.00001 XEM)" in (
            caught.value.message)
        assert dump(store) == before
        ledger.append([too_much[0], too_much[1]._replace(postings=(
            Posting("customer:C2", "XEM", 10), Posting(WALLETS["XEM"], "XEM", -10)))])
        state = ledger.balances(account="customer:C2", asset="XEM")[0].state
        assert (state.balance, state.pending_debit) == (-30, 30)
        assert ledger.verify().ok
    finally:
        store.close()


def test_batches_after_an_import_see_the_opening_balances(template: Path,
                                                        copies: tuple[Path, Path]) -> None:
    """An import's opening balances are not kept in memory for the next batch: the batches
    after it read them from the store (a deposit adds to them, a withdrawal beyond them is
    refused), and the import cannot be written twice."""
    store, ledger = _ledger(template, copies[0], FixedClock())
    opening = [Draft(f"open{i}", postings=(Posting(f"customer:N{i}", "XEM", -(50 + i)),
                                           Posting("clearing:opening", "XEM", 50 + i)),
                     source="import", new_customers_only=True) for i in range(3)]
    try:
        ledger.append(opening)
        ledger.append([Draft("d2", postings=(Posting(WALLETS["XEM"], "XEM", 5),
                                             Posting("customer:N2", "XEM", -5)), source="t")])
        assert ledger.balance("customer:N2", "XEM") == 57
        pay = [Draft(f"w{i}", postings=(Posting(f"customer:N{i}", "XEM", 50 + i),
                                        Posting(WALLETS["XEM"], "XEM", -(50 + i))), source="t")
               for i in range(2)]
        too_much = Draft("w2", postings=(Posting("customer:N2", "XEM", 58),
                                         Posting(WALLETS["XEM"], "XEM", -58)), source="t")
        with pytest.raises(Overdraft) as caught:
            ledger.append([*pay, too_much])
        assert "customer:N2 would have -0.000001 XEM available (had 0.000057 XEM)" in (
            caught.value.message)
        ledger.append(pay)
        assert [ledger.balance(f"customer:N{i}", "XEM") for i in range(3)] == [0, 0, 57]
        with pytest.raises(InvalidEntry, match="customer:N2 already has a XEM balance"):
            ledger.append([opening[2]._replace(key="again")])
        assert ledger.verify().ok  # (it sums the journal: a balance written wrong is found)
    finally:
        store.close()


def test_a_batch_of_more_rows_than_one_statement_is_its_entries_one_at_a_time(
        template: Path, copies: tuple[Path, Path]) -> None:
    """Rows are written many to a statement: 250 entries (entries, postings and balances
    beyond one statement's rows, and a remainder) give the rows of one at a time."""
    clock = FixedClock()
    serial_store, serial = _ledger(template, copies[0], clock)
    batch_store, batch = _ledger(template, copies[1], clock)
    drafts = [Draft(f"d{i}", postings=(Posting(WALLETS["XEM"], "XEM", i + 1),
                                       Posting(f"customer:N{i:04d}", "XEM", -i - 1),
                                       Posting(CUSTOMERS[i % 3], "ETH", 1),
                                       Posting(WALLETS["ETH"], "ETH", -1)), source="t")
              for i in range(250)]
    try:
        before = len(dump(batch_store)["postings"])
        for d in drafts:
            serial.append([d])
        batch.append(drafts)
        assert dump(batch_store) == dump(serial_store)
        assert len(dump(batch_store)["postings"]) == before + 1000
        assert batch.verify().ok
    finally:
        serial_store.close()
        batch_store.close()


@pytest.mark.parametrize(("bad", "error", "says"), [
    (Draft("b", postings=(Posting("customer:C1", "XEM", 0), Posting("own", "XEM", 0)),
           source="t"), InvalidEntry, "posting 1 (customer:C1): amount is zero"),
    (Draft("b", postings=(Posting("customer:C1", "XEM", 5), Posting("own", "XEM", -4)),
           source="t"), InvalidEntry, "entry does not balance: XEM off by +1 minor units"),
    (Draft("b", postings=(Posting("wallet:nowhere", "XEM", 5), Posting("own", "XEM", -5)),
           source="t"), InvalidAccount, "unknown wallet 'nowhere'"),
    (Draft("b", postings=(Posting("wallet:xem-hot", "ETH", 5), Posting("own", "ETH", -5)),
           source="t"), InvalidAccount, "wallet xem-hot holds XEM, not ETH"),
    (Draft("b", postings=(Posting("customer:C1", "DOGE", 5), Posting("own", "DOGE", -5)),
           source="t"), UnknownAsset, "unknown asset 'DOGE'"),
    (Draft("b", postings=(Posting("custard:C1", "XEM", 5), Posting("own", "XEM", -5)),
           source="t"), InvalidAccount, "unknown kind 'custard'"),
    (Draft("b", postings=(Posting(WALLETS["XEM"], "XEM", 5), Posting("customer:C1", "XEM", -5)),
           source="t", timestamp=datetime(2018, 1, 26)), InvalidEntry, "has no time zone"),
    (Draft("b", postings=(Posting(WALLETS["XEM"], "XEM", 5), Posting("customer:C1", "XEM", -5)),
           source="t", timestamp=datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=9)))),
     InvalidEntry, "timestamp 0001-01-01T00:00:00+09:00 is outside the years 1 to 9999 in UTC"),
    (Draft("b", postings=(Posting(WALLETS["XEM"], "XEM", 5), Posting("customer:C1", "XEM", -5)),
           source="t", new_customers_only=True), InvalidEntry,
     "customer:C1 already has a XEM balance"),
])
def test_a_bad_entry_refuses_the_batch_as_it_refuses_itself(
        template: Path, copies: tuple[Path, Path], bad: Draft, error: type[KinkoError],
        says: str) -> None:
    store, ledger = _ledger(template, copies[0], FixedClock())
    before = dump(store)
    good = Draft("g1", postings=(Posting(WALLETS["XEM"], "XEM", 5),
                                 Posting("customer:C1", "XEM", -5)), source="t")
    with pytest.raises(error) as alone:
        ledger.append([bad])
    with pytest.raises(error) as in_batch:
        ledger.append([good, good._replace(key="g2"), bad])
    assert says in alone.value.message
    assert in_batch.value.message == alone.value.message
    assert dump(store) == before
    store.close()


def chain_of_every_kind(ledger: Ledger, clock: FixedClock) -> None:
    """Entries of every kind, one at a time and in batches (each figure below was recorded
    with the ledger as it was before batches were sealed in one pass)."""
    for asset, account in WALLETS.items():
        ledger.add_wallet(Wallet(account.split(":")[1], asset, "hot"))
    ledger.post("d1", [Posting(WALLETS["XEM"], "XEM", 5_000000),
                       Posting("customer:C1", "XEM", -5_000000)], source="tx:1", memo="入金")
    ledger.open_hold("h1", Hold("W1", "customer:C1", WALLETS["XEM"], "XEM", 3,
                                clock.now() + timedelta(hours=1)), source="req")
    ledger.post_hold("p1", "W1", 2, source="tx:2")
    clock.advance(seconds=1.5)
    ledger.append([
        Draft("b1", postings=(Posting(WALLETS["ETH"], "ETH", 10**18),
                              Posting("customer:C2", "ETH", -10**18),
                              Posting(WALLETS["XEM"], "XEM", 7),
                              Posting("customer:C2", "XEM", -7)), source="tx:3"),
        Draft("b2", postings=(Posting("customer:C2", "XEM", 3), Posting("customer:C2", "XEM", 4),
                              Posting("customer:C3", "XEM", -7)), source="move",
              memo="a|b:1", timestamp=datetime(2018, 1, 26, 9, 2, 3, 4, tzinfo=UTC)),
        Draft("b3", postings=(Posting("own", "XEM", 2**70), Posting("clearing:x", "XEM", -2**70)),
              source="バッチ"),
    ])
    ledger.open_hold("h2", Hold("W2", "customer:C3", WALLETS["XEM"], "XEM", 7), source="req")
    ledger.void_hold("v2", "W2", source="ops")
    ledger.append([Draft(f"o{i}", postings=(Posting(WALLETS["XEM"], "XEM", i),
                                            Posting(f"customer:C{i:07d}", "XEM", -i)),
                         source="import:x", new_customers_only=True) for i in range(1, 50)])


def test_the_chain_keeps_the_hashes_of_earlier_versions() -> None:
    clock = FixedClock()
    store = open_store("sqlite://")
    upgrade(store)
    ledger = Ledger(store, clock, AssetRegistry.default())
    chain_of_every_kind(ledger, clock)
    entries = ledger.entries()
    digests = hashlib.sha256("".join(e.digest for e in entries).encode()).hexdigest()
    assert ledger.head() == (HEAD_SEQ, HEAD_HASH)
    assert digests == DIGESTS
    assert ledger.verify().ok
    store.close()
