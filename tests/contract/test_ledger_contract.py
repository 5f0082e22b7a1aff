"""The ledger contract: the same behaviour on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

import pytest

from kinko.domain.ledger import BalanceState, Hold, Posting
from kinko.errors import (
    HoldError,
    IdempotencyConflict,
    InvalidAccount,
    InvalidEntry,
    Overdraft,
    UnknownAsset,
)
from kinko.ports import FixedClock
from kinko.services.ledger import Appended, Draft, Ledger

XEM = 10**6
WEI = 10**18


def deposit(ledger: Ledger, key: str, customer: str, units: int, asset: str = "XEM") -> None:
    wallet = "wallet:xem-hot" if asset == "XEM" else "wallet:eth-hot"
    ledger.post(key, [Posting(wallet, asset, units), Posting(f"customer:{customer}", asset, -units)],
                source=f"tx:{key}")


def withdraw(ledger: Ledger, key: str, customer: str, units: int) -> None:
    ledger.post(key, [Posting(f"customer:{customer}", "XEM", units),
                      Posting("wallet:xem-hot", "XEM", -units)], source=f"req:{key}")


def entry_count(ledger: Ledger) -> int:
    return ledger.head()[0]


def test_deposit_and_balances(ledger: Ledger) -> None:
    deposit(ledger, "d1", "C1", 100 * XEM)
    assert ledger.balance("customer:C1", "XEM") == 100 * XEM
    assert ledger.balance("wallet:xem-hot", "XEM") == 100 * XEM
    assert ledger.verify().ok


def test_amounts_beyond_64_bits_are_exact(ledger: Ledger) -> None:
    big = 123_456_789 * WEI + 1  # far above 2**63
    deposit(ledger, "d1", "C1", big, "ETH")
    deposit(ledger, "d2", "C1", big, "ETH")
    assert ledger.balance("customer:C1", "ETH") == 2 * big
    assert ledger.balance("customer:C1", "ETH", as_of_seq=1) == big
    assert ledger.verify().ok


def test_same_key_same_content_replays_and_writes_nothing(ledger: Ledger) -> None:
    deposit(ledger, "d1", "C1", 5 * XEM)
    head = ledger.head()
    again = ledger.post("d1", [Posting("wallet:xem-hot", "XEM", 5 * XEM),
                               Posting("customer:C1", "XEM", -5 * XEM)], source="tx:d1")
    assert again.replayed and again.entry.seq == 1
    assert ledger.head() == head
    assert ledger.balance("customer:C1", "XEM") == 5 * XEM


def test_same_key_other_content_is_refused(ledger: Ledger) -> None:
    deposit(ledger, "d1", "C1", 5 * XEM)
    with pytest.raises(IdempotencyConflict, match="d1"):
        deposit(ledger, "d1", "C1", 6 * XEM)
    assert entry_count(ledger) == 1


@pytest.mark.parametrize("postings, message", [
    ([Posting("wallet:xem-hot", "XEM", 5), Posting("customer:C1", "XEM", -4)], "does not balance"),
    ([Posting("wallet:xem-hot", "XEM", 5)], "at least 2"),
    ([Posting("wallet:xem-hot", "XEM", 0), Posting("customer:C1", "XEM", 0)], "zero"),
    ([Posting("wallet:nope", "XEM", 5), Posting("customer:C1", "XEM", -5)], "unknown wallet"),
    ([Posting("wallet:xem-hot", "ETH", 5), Posting("customer:C1", "ETH", -5)], "holds XEM"),
    ([Posting("vault:x", "XEM", 5), Posting("customer:C1", "XEM", -5)], "unknown kind"),
])
def test_bad_entries_are_refused_and_nothing_is_written(ledger: Ledger, postings: list[Posting],
                                                        message: str) -> None:
    with pytest.raises((InvalidEntry, InvalidAccount), match=message):
        ledger.post("bad", postings, source="test")
    assert entry_count(ledger) == 0
    assert ledger.balances() == []


def test_unknown_asset_is_refused(ledger: Ledger) -> None:
    with pytest.raises(UnknownAsset):
        ledger.post("x", [Posting("own", "DOGE", 1), Posting("customer:C1", "DOGE", -1)],
                    source="t")


def test_a_leg_an_earlier_batch_checked_is_checked_again_for_other_assets(
        ledger: Ledger) -> None:
    from kinko.domain.money import DEFAULT_ASSETS, AssetRegistry

    legs = [Posting("own", "ETH", 1), Posting("customer:C1", "ETH", -1)]
    ledger.post("eth-1", legs, source="t")  # the legs are kept as checked for these assets
    ledger.assets = AssetRegistry([a for a in DEFAULT_ASSETS if a.symbol != "ETH"])
    with pytest.raises(UnknownAsset):
        ledger.post("eth-2", legs, source="t")
    assert entry_count(ledger) == 1


def test_a_batch_sees_the_balances_another_writer_moved(ledger: Ledger) -> None:
    other = Ledger(ledger.store, ledger.clock, ledger.assets)  # another process, say
    deposit(ledger, "d1", "C1", 10 * XEM)
    withdraw(other, "w1", "C1", 10 * XEM)
    with pytest.raises(Overdraft, match="customer:C1"):
        withdraw(ledger, "w2", "C1", 5 * XEM)
    deposit(other, "d2", "C1", 3 * XEM)
    deposit(ledger, "d3", "C1", 4 * XEM)
    assert ledger.balance("customer:C1", "XEM") == 7 * XEM
    assert ledger.verify().ok


def test_the_balances_of_many_accounts_are_read_exactly(ledger: Ledger) -> None:
    # every customer below C1000 has XEM, the even ones ETH too
    def legs(i: int) -> tuple[Posting, ...]:
        out = [Posting("wallet:xem-hot", "XEM", i + 1),
               Posting(f"customer:C{i:04d}", "XEM", -i - 1)]
        if i % 2 == 0:
            out += [Posting("wallet:eth-hot", "ETH", 7), Posting(f"customer:C{i:04d}", "ETH", -7)]
        return tuple(out)

    ledger.append([Draft(f"d{i}", postings=legs(i), source="t") for i in range(1000)])
    stored = {(f"customer:C{i:04d}", asset): BalanceState(-i - 1 if asset == "XEM" else -7)
              for i in range(1000) for asset in ("XEM", "ETH") if asset == "XEM" or i % 2 == 0}

    def keys(numbers: Iterable[int]) -> set[tuple[str, str]]:
        return {(f"customer:C{i:04d}", asset) for i in numbers for asset in ("XEM", "ETH", "BTC")}

    with ledger.store.reader() as tx:
        for wanted in (keys(range(5000, 7000)),  # new accounts: none has a balance
                       keys(range(100, 400)),  # a dense run of accounts
                       keys(range(0, 1000, 97)),  # accounts spread thinly over the table
                       keys([*range(990, 1010), *range(0, 1000, 3), *range(5000, 6000)])):
            assert tx.states(wanted) == {k: v for k, v in stored.items() if k in wanted}
    assert ledger.verify().ok


def test_a_large_batch_under_keys_taken_replays_or_is_refused(ledger: Ledger) -> None:
    # a large batch's keys are not looked up before it is sealed: the same answers
    def drafts(first: int, count: int, units: int = XEM) -> list[Draft]:
        return [Draft(f"k{i}", postings=(Posting("wallet:xem-hot", "XEM", units),
                                         Posting(f"customer:C{i}", "XEM", -units)), source="t")
                for i in range(first, first + count)]

    written = ledger.append(drafts(0, 150))
    head = ledger.head()
    assert [a.replayed for a in written] == [False] * 150
    again = ledger.append(drafts(0, 150))
    assert all(a.replayed for a in again) and ledger.head() == head
    assert [a.entry for a in again] == [a.entry for a in written]
    mixed = ledger.append(drafts(149, 150))  # k149 was written before, the same
    assert [a.replayed for a in mixed] == [True] + [False] * 149
    assert mixed[0].entry == written[-1].entry and ledger.head()[0] == head[0] + 149
    head = ledger.head()
    with pytest.raises(IdempotencyConflict, match="k200"):
        ledger.append([*drafts(400, 150), *drafts(200, 1, 2 * XEM)])
    assert ledger.head() == head and ledger.balance("customer:C400", "XEM") == 0
    assert ledger.balance("customer:C149", "XEM") == XEM
    assert ledger.verify().ok


def test_a_batch_rolled_back_with_its_unit_leaves_no_balance_behind(ledger: Ledger) -> None:
    deposit(ledger, "d1", "C1", 10 * XEM)
    with pytest.raises(RuntimeError), ledger.store.unit():
        deposit(ledger, "d2", "C1", 5 * XEM)
        raise RuntimeError("the unit fails after the ledger wrote")
    with pytest.raises(Overdraft, match="customer:C1"):
        withdraw(ledger, "w1", "C1", 12 * XEM)
    withdraw(ledger, "w2", "C1", 10 * XEM)
    assert ledger.balance("customer:C1", "XEM") == 0
    assert ledger.verify().ok


def test_overdraft_is_refused_and_nothing_is_written(ledger: Ledger) -> None:
    deposit(ledger, "d1", "C1", 10 * XEM)
    with pytest.raises(Overdraft, match="customer:C1"):
        withdraw(ledger, "w1", "C1", 11 * XEM)
    assert ledger.balance("customer:C1", "XEM") == 10 * XEM
    assert entry_count(ledger) == 1


def test_a_balance_beyond_78_digits_is_refused_and_nothing_is_written(ledger: Ledger) -> None:
    """Two amounts of 78 digits sum to 79: PostgreSQL's column overflowed (a database error,
    not kinko's), SQLite kept it. Refused on both, in a batch and alone, pending too."""
    big = 9 * 10**77
    deposit(ledger, "d1", "C1", big, "ETH")
    with pytest.raises(InvalidEntry, match=r"entry 'd2' would take wallet:eth-hot's ETH "
                                            r"balance to 79 digits") as caught:
        deposit(ledger, "d2", "C2", big, "ETH")
    assert caught.value.http_status == 422
    with pytest.raises(InvalidEntry):
        ledger.append([Draft(f"b{i}", postings=(Posting("wallet:eth-hot", "ETH", big),
                                                Posting(f"customer:B{i}", "ETH", -big)),
                             source="t") for i in range(2)])
    ledger.open_hold("h1", Hold("h1", "customer:C1", "wallet:eth-hot", "ETH", big), source="t")
    with pytest.raises(InvalidEntry, match=r"entry 'h2' would take customer:C1's ETH balance "
                                           r"to 79 digits"):  # its amount pending
        ledger.open_hold("h2", Hold("h2", "customer:C1", "wallet:eth-hot", "ETH", big),
                         source="t")
    assert entry_count(ledger) == 2  # the deposit and the first hold
    assert ledger.balance("wallet:eth-hot", "ETH") == big
    assert ledger.verify().ok


def test_a_batch_is_atomic(ledger: Ledger) -> None:
    from kinko.services.ledger import Draft

    ok = Draft("a", postings=(Posting("wallet:xem-hot", "XEM", 5), Posting("customer:C1", "XEM", -5)),
               source="t")
    bad = Draft("b", postings=(Posting("customer:C2", "XEM", 5), Posting("wallet:xem-hot", "XEM", -5)),
                source="t")
    with pytest.raises(Overdraft):
        ledger.append([ok, bad])
    assert entry_count(ledger) == 0


def test_hold_reserves_then_partial_post_releases_the_rest(ledger: Ledger) -> None:
    deposit(ledger, "d1", "C1", 10 * XEM)
    ledger.open_hold("h1", Hold("W-1", "customer:C1", "wallet:xem-hot", "XEM", 8 * XEM),
                     source="req:W-1")
    rows = {r.account: r.state for r in ledger.balances(asset="XEM")}
    assert rows["customer:C1"].pending_debit == 8 * XEM
    with pytest.raises(Overdraft):  # only 2 XEM available while 8 are held
        withdraw(ledger, "w-other", "C1", 3 * XEM)
    ledger.post_hold("p1", "W-1", 6 * XEM, source="tx:abc")
    assert ledger.balance("customer:C1", "XEM") == 4 * XEM
    rows = {r.account: r.state for r in ledger.balances(asset="XEM")}
    assert rows["customer:C1"].pending_debit == 0
    assert ledger.hold("W-1")[1] == "posted"  # type: ignore[index]
    with pytest.raises(HoldError, match="already posted"):
        ledger.void_hold("v1", "W-1", source="ops")
    with pytest.raises(HoldError, match="already posted"):
        ledger.post_hold("p2", "W-1", source="again")
    # the same resolution again with its own key is a harmless replay
    assert ledger.post_hold("p1", "W-1", 6 * XEM, source="tx:abc").replayed
    assert ledger.verify().ok


def test_hold_cannot_exceed_available_or_post_more_than_held(ledger: Ledger) -> None:
    deposit(ledger, "d1", "C1", 10 * XEM)
    with pytest.raises(Overdraft):
        ledger.open_hold("h1", Hold("W-1", "customer:C1", "wallet:xem-hot", "XEM", 11 * XEM),
                         source="r")
    ledger.open_hold("h2", Hold("W-2", "customer:C1", "wallet:xem-hot", "XEM", 4 * XEM), source="r")
    with pytest.raises(HoldError, match="between 1 and"):
        ledger.post_hold("p", "W-2", 5 * XEM, source="r")
    with pytest.raises(HoldError, match="already used"):
        ledger.open_hold("h3", Hold("W-2", "customer:C1", "wallet:xem-hot", "XEM", 1), source="r")
    ledger.void_hold("v", "W-2", source="r")
    assert ledger.balance("customer:C1", "XEM") == 10 * XEM
    assert ledger.verify().ok


def test_expired_hold_is_released_and_cannot_be_posted(ledger: Ledger, clock: FixedClock) -> None:
    deposit(ledger, "d1", "C1", 10 * XEM)
    ledger.open_hold("h1", Hold("W-1", "customer:C1", "wallet:xem-hot", "XEM", 10 * XEM,
                                clock.now() + timedelta(minutes=30)), source="r")
    clock.advance(minutes=31)
    with pytest.raises(HoldError, match="expired"):
        ledger.post_hold("p1", "W-1", source="late")
    withdraw(ledger, "w1", "C1", 10 * XEM)  # funds are free again
    assert ledger.hold("W-1")[1] == "expired"  # type: ignore[index]
    assert ledger.verify().ok


def test_unknown_hold(ledger: Ledger) -> None:
    with pytest.raises(HoldError, match="unknown hold"):
        ledger.void_hold("v", "nope", source="r")


def test_balances_as_of_entry_and_time(ledger: Ledger, clock: FixedClock) -> None:
    deposit(ledger, "d1", "C1", 10 * XEM)
    t1 = clock.now()
    clock.advance(hours=1)
    deposit(ledger, "d2", "C1", 5 * XEM)
    withdraw(ledger, "w1", "C1", 3 * XEM)
    assert ledger.balance("customer:C1", "XEM", as_of_seq=1) == 10 * XEM
    assert ledger.balance("customer:C1", "XEM", as_of_seq=2) == 15 * XEM
    assert ledger.balance("customer:C1", "XEM", as_of_time=t1) == 10 * XEM
    assert ledger.balance("customer:C1", "XEM", as_of_time=t1 - timedelta(seconds=1)) == 0
    assert ledger.balance("customer:C1", "XEM") == 12 * XEM


def test_own_funds_and_clearing_may_go_negative_customers_may_not(ledger: Ledger) -> None:
    ledger.post("o", [Posting("clearing:opening", "XEM", -5), Posting("own", "XEM", 5)],
                source="t")
    assert ledger.balance("own", "XEM") == -5
    with pytest.raises(Overdraft):
        ledger.post("c", [Posting("customer:C9", "XEM", 5), Posting("own", "XEM", -5)], source="t")


def test_migrations_create_exactly_the_declared_schema(store) -> None:  # type: ignore[no-untyped-def]
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from kinko.store.schema import metadata

    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_the_head_every_command_checks_is_alembics() -> None:
    from kinko.store.migrate import HEAD, head_revision

    assert head_revision() == HEAD


def test_a_batch_moves_balances_this_ledger_never_wrote(ledger: Ledger) -> None:
    # balances another process wrote (or this one before a restart) are not kept: a batch
    # reads them and moves them from what is stored, paying in or out
    def batch(prefix: str, units: int) -> list[Draft]:
        return [Draft(f"{prefix}{i}", postings=(Posting("wallet:xem-hot", "XEM", units),
                                                Posting(f"customer:C{i}", "XEM", -units)),
                      source="t") for i in range(50)]

    ledger.append(batch("d", 10 * XEM))
    out = Ledger(ledger.store, ledger.clock, ledger.assets).append(batch("w", -4 * XEM))
    assert [a.entry.seq for a in out] == list(range(51, 101))
    Ledger(ledger.store, ledger.clock, ledger.assets).append(batch("e", XEM))
    assert {ledger.balance(f"customer:C{i}", "XEM") for i in range(50)} == {7 * XEM}
    with pytest.raises(Overdraft, match="customer:C3"):
        Ledger(ledger.store, ledger.clock, ledger.assets).append(
            [*batch("x", XEM), Draft("y", postings=(Posting("customer:C3", "XEM", 9 * XEM),
                                                    Posting("wallet:xem-hot", "XEM", -9 * XEM)),
                                     source="t")])
    assert ledger.balance("wallet:xem-hot", "XEM") == 50 * 7 * XEM
    assert ledger.verify().ok


def test_what_a_batch_returns_reads_as_the_entries_it_wrote(ledger: Ledger) -> None:
    clock = ledger.clock
    assert isinstance(clock, FixedClock)
    earlier = clock.now() - timedelta(hours=1)
    drafts = [Draft(f"d{i}", postings=(Posting("wallet:xem-hot", "XEM", i + 1),
                                       Posting(f"customer:C{i}", "XEM", -i - 1)),
                    source="t", memo=f"m{i}", timestamp=earlier if i == 4 else None)
              for i in range(20)]
    written = ledger.append(drafts)
    stored = ledger.entries()
    assert len(written) == 20 and [a.entry for a in written] == stored
    assert not any(a.replayed for a in written)
    assert written[-1] == written[19] and written[-20] == written[0]
    assert written[3:6] == [Appended(e, False) for e in stored[3:6]]
    assert written[4].entry.timestamp == earlier and written[5].entry.timestamp == clock.now()
    assert written == list(written) and written != list(written)[1:]
    with pytest.raises(IndexError):
        written[20]
    assert ledger.verify().ok


def test_debits_are_what_was_booked_to_an_account_whatever_was_credited_since(
        ledger: Ledger) -> None:
    big = 123_456_789 * WEI + 1  # beyond 64 bits: summed exactly on both stores
    deposit(ledger, "d1", "C1", 10 * XEM)
    deposit(ledger, "d2", "C1", 2 * big, "ETH")
    ledger.post("lost1", [Posting("loss:INC-1", "XEM", 7 * XEM),
                          Posting("wallet:xem-hot", "XEM", -7 * XEM)], source="tx:1")
    ledger.post("lost2", [Posting("loss:INC-1", "ETH", big),
                          Posting("wallet:eth-hot", "ETH", -big)], source="tx:2")
    ledger.post("settled", [Posting("customer:C1", "XEM", 7 * XEM),
                            Posting("loss:INC-1", "XEM", -7 * XEM)], source="refund")
    assert ledger.balance("loss:INC-1", "XEM") == 0
    assert ledger.debits("loss:INC-1") == {"ETH": big, "XEM": 7 * XEM}
    assert ledger.debits("loss:INC-2") == {}


def test_keys_are_counted_by_their_prefix(ledger: Ledger) -> None:
    """A refund plan's refunds are counted by their keys' common prefix, on both stores:
    no key of another plan whose id the prefix begins, nor one just past it."""
    from kinko.services.refunds import posted_refunds

    for key in ("refund:P1:C1", "refund:P1:C2", "refund:P1:C3", "refund:P12:C1",
                "refund:P1;", "refund:P0:C9", "refund:P_:C1"):
        deposit(ledger, key, "C1", 1 * XEM)
    store = ledger.store
    assert posted_refunds(store, "P1") == 3
    assert posted_refunds(store, "P12") == 1 and posted_refunds(store, "P2") == 0
    assert posted_refunds(store, "P_") == 1  # "_" is itself, not any character
    with store.reader() as tx:
        assert tx.count_keys("refund:") == 7 and tx.count_keys("") == 7
