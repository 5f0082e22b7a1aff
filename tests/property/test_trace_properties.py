"""Hypothesis: the taint kernels conserve taint exactly on random graphs (haircut, FIFO, LIFO,
TIHO), the compiled account kernels equal the plain-Python reference for every policy, the
128-bit haircut product is exact, and amounts beyond int64 stay exact."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from kinko.domain.trace.account import mul_div_floor, trace_account
from kinko.domain.trace.model import (
    ACCOUNT_POLICIES,
    UTXO_POLICIES,
    AccountResult,
    AccountSeeds,
    AccountTransfers,
    Policy,
    UtxoResult,
    UtxoSeeds,
    UtxoTransactions,
)
from kinko.domain.trace.utxo import trace_utxo

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FIELDS = ("received", "sent", "held", "absorbed", "first_tainted", "hops", "flow")
Case = tuple[AccountTransfers, AccountSeeds, np.ndarray, int | None]


def rarely(p: int) -> st.SearchStrategy[bool]:
    """True about once in ``p`` draws."""
    return st.integers(0, p - 1).map(lambda x: x == 0)


@st.composite
def account_cases(draw: st.DrawFn, max_value: int = 1000, max_fee: int = 100, max_m: int = 30,
                  max_seed: int = 1000) -> Case:
    n = draw(st.integers(1, 6))
    m = draw(st.integers(0, max_m))
    addr = st.integers(0, n - 1)
    rows = draw(st.lists(st.tuples(addr, addr, st.integers(0, max_value),
                                   st.one_of(st.just(0), st.integers(0, max_fee))),
                         min_size=m, max_size=m))
    flags = draw(st.lists(rarely(5), min_size=m, max_size=m))
    seed_addresses = draw(st.lists(
        st.tuples(addr, st.integers(0, m), st.one_of(st.none(), st.integers(0, max_seed))),
        max_size=2))
    stops = draw(st.lists(rarely(5), min_size=n, max_size=n))
    max_hops = draw(st.one_of(st.none(), st.integers(0, 4)))
    return _case(rows, n, flags, seed_addresses, stops, max_hops)


def _case(rows: list[Any], n: int, flags: list[bool], seed_addresses: list[Any],
          stops: list[bool], max_hops: int | None) -> Any:
    """A drawn chain as the kernels take it: ``rows`` (src, dst, value, fee) among ``n``
    addresses, one block each, seed flags and addresses, stops and the hop limit."""
    m = len(rows)
    transfers = AccountTransfers(
        src=np.array([r[0] for r in rows], dtype=np.int64),
        dst=np.array([r[1] for r in rows], dtype=np.int64),
        value=np.array([r[2] for r in rows], dtype=np.int64),
        fee=np.array([r[3] for r in rows], dtype=np.int64),
        block=np.arange(m, dtype=np.int64), tx_index=np.zeros(m, dtype=np.int64),
        log_index=np.zeros(m, dtype=np.int64),
        tx_hash=np.array([f"t{i}" for i in range(m)], dtype=object),
        addresses=np.array([f"a{i}" for i in range(n)], dtype=object))
    return (transfers, AccountSeeds(np.array(flags, dtype=np.bool_), tuple(seed_addresses)),
            np.array(stops, dtype=np.bool_), max_hops)


def total(values: Any) -> int:
    return sum(int(v) for v in values)


def check_conserved(r: AccountResult, t: AccountTransfers) -> None:
    assert r.seeded == total(r.held) + r.burned + total(r.absorbed)
    for flow, value in zip(r.flow, t.value, strict=True):
        assert 0 <= flow <= value
    assert all(int(h) >= 0 for h in r.held) and r.burned <= total(t.fee)


def same(a: AccountResult, b: AccountResult) -> None:
    for field in FIELDS:
        assert np.array_equal(getattr(a, field), getattr(b, field)), field
    assert (a.burned, a.seeded) == (b.burned, b.seeded)


@FAST
@given(account_cases(), st.sampled_from(["haircut", "fifo", "lifo"]))
def test_account_taint_is_conserved(case: Case, policy: Policy) -> None:
    transfers, seeds, stops, max_hops = case
    check_conserved(trace_account(transfers, seeds, policy, stops=stops, max_hops=max_hops),
                    transfers)


@FAST
@given(account_cases(), st.sampled_from(ACCOUNT_POLICIES))
def test_compiled_kernels_equal_the_reference(case: Case, policy: Policy) -> None:
    transfers, seeds, stops, max_hops = case
    kw: dict[str, Any] = {"stops": stops, "max_hops": max_hops}
    same(trace_account(transfers, seeds, policy, compiled=True, **kw),
         trace_account(transfers, seeds, policy, compiled=False, **kw))


@st.composite
def whole_balance_cases(draw: st.DrawFn) -> Case:
    """Transfers that often pass the sender's whole balance on, with or without a fee (the
    lot kernel takes the fee's lots, then moves the rest of the list at once), among small
    ones and fees, so lists of alternating clean and stolen lots are cut by fees, moved,
    reversed (LIFO) and joined."""
    n = draw(st.integers(2, 5))
    m = draw(st.integers(1, 40))
    addr = st.integers(0, n - 1)
    balance = [0] * n
    rows = []
    for _ in range(m):
        x, y = draw(addr), draw(addr)
        if balance[x] > 0 and draw(st.booleans()):
            f = draw(st.one_of(st.just(0), st.integers(0, min(3, balance[x]))))
            v = balance[x] - f  # the whole balance, its fee included
        else:
            v, f = draw(st.integers(0, 5)), draw(st.one_of(st.just(0), st.integers(0, 2)))
        balance[x] = max(balance[x], v + f) - v - f
        balance[y] += v
        rows.append((x, y, v, f))
    flags = draw(st.lists(rarely(4), min_size=m, max_size=m))
    seed_addresses = draw(st.lists(
        st.tuples(addr, st.integers(0, m), st.one_of(st.none(), st.integers(0, 8))),
        max_size=2))
    stops = draw(st.lists(rarely(6), min_size=n, max_size=n))
    max_hops = draw(st.one_of(st.none(), st.integers(0, 4)))
    return _case(rows, n, flags, seed_addresses, stops, max_hops)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(whole_balance_cases(), st.sampled_from(["fifo", "lifo"]))
def test_whole_balances_moved_at_once_equal_the_reference(case: Case, policy: Policy) -> None:
    transfers, seeds, stops, max_hops = case
    kw: dict[str, Any] = {"stops": stops, "max_hops": max_hops}
    compiled = trace_account(transfers, seeds, policy, compiled=True, **kw)
    same(compiled, trace_account(transfers, seeds, policy, compiled=False, **kw))
    check_conserved(compiled, transfers)


@FAST
@given(st.one_of(
    account_cases(max_value=2**61, max_fee=2**57, max_m=3, max_seed=2**59),
    account_cases(max_value=2**58, max_fee=2**54, max_m=12, max_seed=2**58)),
    st.sampled_from(ACCOUNT_POLICIES))
def test_compiled_kernels_equal_the_reference_on_large_values(case: Case,
                                                              policy: Policy) -> None:
    transfers, seeds, stops, max_hops = case
    kw: dict[str, Any] = {"stops": stops, "max_hops": max_hops}
    compiled = trace_account(transfers, seeds, policy, compiled=True, **kw)
    same(compiled, trace_account(transfers, seeds, policy, compiled=False, **kw))
    if policy != "poison":
        check_conserved(compiled, transfers)


@FAST
@given(st.integers(1, 2**40), st.integers(1, 2**40), st.data())
def test_haircut_near_two_to_the_62(a: int, b: int, data: st.DataObject) -> None:
    # x gets 2⁶²-a stolen and v clean, then pays 2⁶²-b: v·t ≈ 2¹²⁴; the sum stays below 2⁶³
    v = data.draw(st.integers(0, a + b - 2))
    out = 2**62 - b
    transfers = AccountTransfers(
        src=np.array([0, 1, 2]), dst=np.array([2, 2, 3]),
        value=np.array([2**62 - a, v, out], dtype=np.int64), fee=np.zeros(3, dtype=np.int64),
        block=np.arange(3), tx_index=np.zeros(3, dtype=np.int64),
        log_index=np.zeros(3, dtype=np.int64), tx_hash=np.array(["a", "b", "c"], dtype=object),
        addresses=np.array(["thief", "bank", "x", "y"], dtype=object))
    seeds = AccountSeeds(np.array([True, False, False]))
    r = trace_account(transfers, seeds, "haircut", compiled=True)
    balance = 2**62 - a + v
    expect = out * (2**62 - a) // max(balance, out)
    assert int(r.flow[2]) == expect
    same(r, trace_account(transfers, seeds, "haircut", compiled=False))


@settings(max_examples=400, deadline=None)
@given(st.integers(0, 2**63 - 1), st.integers(0, 2**63 - 1), st.integers(1, 2**63 - 1))
def test_mul_div_floor_matches_python_ints(a: int, c: int, d: int) -> None:
    assume(a * c // d < 2**63)
    assert mul_div_floor(a, c, d) == a * c // d


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 2**63 - 1), st.data())
def test_mul_div_floor_with_a_taint_share(d: int, data: st.DataObject) -> None:
    # the haircut's own shape: v, t ≤ b
    v = data.draw(st.integers(0, d))
    t = data.draw(st.integers(0, d))
    assert mul_div_floor(v, t, d) == v * t // d


SCALE = 2**64 + 1


@FAST
@given(account_cases(), st.sampled_from(ACCOUNT_POLICIES))
def test_amounts_beyond_int64_run_the_reference_exactly(case: Case, policy: Policy) -> None:
    transfers, seeds, stops, max_hops = case
    kw: dict[str, Any] = {"stops": stops, "max_hops": max_hops}
    small = trace_account(transfers, seeds, policy, **kw)

    def scaled(values: np.ndarray) -> np.ndarray:
        out = np.empty(values.shape[0], dtype=object)
        out[:] = [int(v) * SCALE for v in values]
        return out

    big_transfers = replace(transfers, value=scaled(transfers.value), fee=scaled(transfers.fee))
    big_seeds = AccountSeeds(seeds.transfers, tuple(
        (a, p, None if amt is None else amt * SCALE) for a, p, amt in seeds.addresses))
    big = trace_account(big_transfers, big_seeds, policy, **kw)
    assert big.flow.dtype == object and big.held.dtype == object
    if policy == "haircut":  # floors do not scale; conservation stays exact
        check_conserved(big, big_transfers)
        return
    for field in ("received", "sent", "held", "absorbed", "flow"):  # no division: linear
        assert [int(v) for v in getattr(big, field)] == [
            int(v) * SCALE for v in getattr(small, field)], field
    assert np.array_equal(big.hops, small.hops) and (big.burned, big.seeded) == (
        small.burned * SCALE, small.seeded * SCALE)


# UTXO: random transaction graphs.


@st.composite
def utxo_cases(draw: st.DrawFn, max_value: int = 100, max_outputs: int = 3
               ) -> tuple[UtxoTransactions, UtxoSeeds, np.ndarray, int | None]:
    n_addr = draw(st.integers(1, 5))
    n_tx = draw(st.integers(1, 12))
    addr = st.integers(0, n_addr - 1)
    unspent: list[int] = []
    in_start, out_start = [0], [0]
    in_output: list[int] = []
    in_value: list[int] = []
    in_address: list[int] = []
    out_value: list[int] = []
    out_address: list[int] = []
    fees: list[int] = []
    for _ in range(n_tx):
        picks = draw(st.lists(st.sampled_from(unspent), unique=True, max_size=3)) if unspent else []
        for j in picks:
            unspent.remove(j)
            in_output.append(j)
            in_value.append(out_value[j])
            in_address.append(out_address[j])
        for value in draw(st.lists(st.integers(0, max_value), max_size=1)):  # from outside
            in_output.append(-1)
            in_value.append(value)
            in_address.append(draw(addr))
        in_start.append(len(in_output))
        paid = sum(in_value[in_start[-2]:])
        fee = draw(st.integers(0, paid)) if paid and draw(st.booleans()) else 0
        k = draw(st.integers(1, max_outputs))
        if in_start[-1] > in_start[-2]:
            cuts = sorted(draw(st.lists(st.integers(0, paid - fee), min_size=k - 1,
                                        max_size=k - 1)))
            values = [b - a for a, b in zip([0, *cuts], [*cuts, paid - fee], strict=True)]
        else:
            values = draw(st.lists(st.integers(0, max_value), min_size=k, max_size=k))
        for value in values:
            unspent.append(len(out_value))
            out_value.append(value)
            out_address.append(draw(addr))
        out_start.append(len(out_value))
        fees.append(fee)
    txs = UtxoTransactions(
        txid=np.array([f"t{i}" for i in range(n_tx)], dtype=object),
        block=np.arange(n_tx, dtype=np.int64),
        in_start=np.array(in_start, dtype=np.int64), in_output=np.array(in_output, dtype=np.int64),
        in_value=np.array(in_value, dtype=np.int64), in_address=np.array(in_address, dtype=np.int64),
        out_start=np.array(out_start, dtype=np.int64), out_value=np.array(out_value, dtype=np.int64),
        out_address=np.array(out_address, dtype=np.int64), fee=np.array(fees, dtype=np.int64),
        addresses=np.array([f"a{i}" for i in range(n_addr)], dtype=object))
    seeds = UtxoSeeds(
        np.array(draw(st.lists(rarely(6), min_size=n_tx, max_size=n_tx)), dtype=np.bool_),
        np.array(draw(st.lists(rarely(5), min_size=len(out_value), max_size=len(out_value))),
                 dtype=np.bool_))
    stops = np.array(draw(st.lists(rarely(5), min_size=n_addr, max_size=n_addr)), dtype=np.bool_)
    return txs, seeds, stops, draw(st.one_of(st.none(), st.integers(0, 4)))


def utxo_bounds(r: UtxoResult, txs: UtxoTransactions) -> None:
    for taint, value in zip(r.output_taint, txs.out_value, strict=True):
        assert 0 <= taint <= value
        if r.policy == "poison":
            assert taint in (0, value)


@pytest.mark.slow
@FAST
@given(utxo_cases(), st.sampled_from([p for p in UTXO_POLICIES if p != "poison"]))
def test_utxo_taint_is_conserved(case: Any, policy: Policy) -> None:
    txs, seeds, stops, max_hops = case
    r = trace_utxo(txs, seeds, policy, stops=stops, max_hops=max_hops)
    assert r.seeded == total(r.held) + r.burned + total(r.absorbed)
    assert r.burned <= total(txs.fee)
    utxo_bounds(r, txs)


@pytest.mark.slow
@FAST
@given(utxo_cases())
def test_utxo_poison_taints_whole_outputs_and_covers_every_policy(case: Any) -> None:
    txs, seeds, stops, max_hops = case
    poison = trace_utxo(txs, seeds, "poison", stops=stops, max_hops=max_hops)
    utxo_bounds(poison, txs)
    for policy in ("haircut", "fifo", "lifo", "tiho"):
        other = trace_utxo(txs, seeds, policy, stops=stops, max_hops=max_hops)
        # whatever another policy taints, poison taints wholly
        for p, o in zip(poison.output_taint, other.output_taint, strict=True):
            assert o == 0 or p > 0


@FAST
@given(st.one_of(utxo_cases(), utxo_cases(max_value=2**55), utxo_cases(max_outputs=9)),
       st.sampled_from(UTXO_POLICIES))
def test_compiled_utxo_kernel_equals_the_reference(case: Any, policy: Policy) -> None:
    """The numba UTXO kernel gives exactly the reference's results, every policy, small and
    large amounts (products beyond 2⁶³ in haircut), many outputs (the rounding rest)."""
    txs, seeds, stops, max_hops = case
    kw: dict[str, Any] = {"stops": stops, "max_hops": max_hops}
    compiled = trace_utxo(txs, seeds, policy, compiled=True, **kw)
    reference = trace_utxo(txs, seeds, policy, compiled=False, **kw)
    for name in ("output_taint", "received", "held", "absorbed", "first_tainted", "hops"):
        assert getattr(compiled, name).tolist() == getattr(reference, name).tolist(), name
    assert (compiled.burned, compiled.seeded) == (reference.burned, reference.seeded)
