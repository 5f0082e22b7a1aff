"""Hypothesis: any sequence of deposits, holds, posts, voids, transfers and withdrawals keeps
every invariant of DESIGN.md §4, matches a simple model, and ``verify`` passes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kinko.domain.custody import Wallet
from kinko.domain.ledger import Hold, Posting, available, format_timestamp, normal_balance
from kinko.domain.money import AssetRegistry
from kinko.errors import HoldError, Overdraft
from kinko.ports import FixedClock
from kinko.services.ledger import Ledger
from kinko.store import open_store, upgrade

CUSTOMERS = ["C1", "C2", "C3"]
amounts = st.integers(min_value=1, max_value=50)
customer = st.sampled_from(CUSTOMERS)
ops = st.lists(
    st.one_of(
        st.tuples(st.just("deposit"), customer, amounts),
        st.tuples(st.just("withdraw"), customer, amounts),
        st.tuples(st.just("transfer"), customer, customer, amounts),
        st.tuples(st.just("hold"), customer, amounts, st.booleans()),
        st.tuples(st.just("post"), st.integers(0, 20), st.one_of(st.none(), amounts)),
        st.tuples(st.just("void"), st.integers(0, 20)),
        st.tuples(st.just("tick"), st.integers(1, 40)),
        st.tuples(st.just("repeat"), st.integers(0, 30)),
    ),
    max_size=40,
)


def fresh_ledger(clock: FixedClock) -> Iterator[Ledger]:
    store = open_store("sqlite://")
    upgrade(store)
    led = Ledger(store, clock, AssetRegistry.default())
    led.add_wallet(Wallet("xem-hot", "XEM", "hot"))
    try:
        yield led
    finally:
        store.close()


@pytest.mark.slow
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops)
def test_any_sequence_keeps_the_invariants(sequence: list[tuple]) -> None:  # type: ignore[type-arg]
    clock = FixedClock()
    for ledger in fresh_ledger(clock):
        model: dict[str, int] = dict.fromkeys(CUSTOMERS, 0)
        held: dict[str, tuple[str, int, object]] = {}  # hold id -> (customer, amount, expiry)
        done: list[tuple[str, list[Posting]]] = []
        holds: list[str] = []
        for n, op in enumerate(sequence):
            kind = op[0]
            try:
                if kind == "deposit":
                    _, c, a = op
                    legs = [Posting("wallet:xem-hot", "XEM", a), Posting(f"customer:{c}", "XEM", -a)]
                    ledger.post(f"k{n}", legs, source="t")
                    done.append((f"k{n}", legs))
                    model[c] += a
                elif kind == "withdraw":
                    _, c, a = op
                    legs = [Posting(f"customer:{c}", "XEM", a), Posting("wallet:xem-hot", "XEM", -a)]
                    ledger.post(f"k{n}", legs, source="t")
                    done.append((f"k{n}", legs))
                    model[c] -= a
                elif kind == "transfer":
                    _, c1, c2, a = op
                    if c1 == c2:
                        continue
                    legs = [Posting(f"customer:{c1}", "XEM", a), Posting(f"customer:{c2}", "XEM", -a)]
                    ledger.post(f"k{n}", legs, source="t")
                    model[c1] -= a
                    model[c2] += a
                elif kind == "hold":
                    _, c, a, expiring = op
                    expiry = clock.now() + timedelta(minutes=30) if expiring else None
                    ledger.open_hold(f"k{n}", Hold(f"H{n}", f"customer:{c}", "wallet:xem-hot",
                                                   "XEM", a, expiry), source="t")
                    held[f"H{n}"] = (c, a, expiry)
                    holds.append(f"H{n}")
                elif kind == "post" and holds:
                    hid = holds[op[1] % len(holds)]
                    c, a, _exp = held[hid]
                    part = a if op[2] is None else min(op[2], a)
                    ledger.post_hold(f"k{n}", hid, part, source="t")
                    model[c] -= part
                elif kind == "void" and holds:
                    ledger.void_hold(f"k{n}", holds[op[1] % len(holds)], source="t")
                elif kind == "tick":
                    clock.advance(minutes=op[1])
                elif kind == "repeat" and done:
                    key, legs = done[op[1] % len(done)]
                    assert ledger.post(key, legs, source="t").replayed
            except (Overdraft, HoldError):
                pass
            _check_invariants(ledger, model)
        report = ledger.verify()
        assert report.ok, report.findings


def _check_invariants(ledger: Ledger, model: dict[str, int]) -> None:
    rows = ledger.balances(asset="XEM")
    by_account = {r.account: r.state for r in rows}
    assert sum(r.state.balance for r in rows) == 0  # every entry balances
    for c, expected in model.items():
        state = by_account.get(f"customer:{c}")
        if state is None:
            assert expected == 0
            continue
        assert normal_balance(f"customer:{c}", state) == expected
        assert available(f"customer:{c}", state) >= 0  # holds never exceed balance
    wallet = by_account.get("wallet:xem-hot")
    customers = sum(model.values())
    assert (normal_balance("wallet:xem-hot", wallet) if wallet else 0) >= customers


# times inside the years 1 to 9999 in UTC from every zone drawn (one outside is refused:
# test_ledger_batches)
@given(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
                    timezones=st.sampled_from([UTC, timezone(timedelta(hours=9)),
                                               timezone(timedelta(hours=-5, minutes=-30))])))
def test_a_timestamp_has_one_canonical_text(ts: datetime) -> None:
    """The text a timestamp is hashed as: UTC, microseconds, ``Z`` (as ``strftime`` writes
    it, whichever way it is made)."""
    assert format_timestamp(ts) == ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
