"""Account-model taint kernels: the literature's examples and hand-computed cases, each run
through the compiled kernel and the Python reference (which must agree)."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction
from typing import Any

import numpy as np
import pytest

from kinko.domain.trace.account import mul_div_floor, trace_account
from kinko.domain.trace.model import AccountResult, AccountSeeds, AccountTransfers, Policy

KERNELS = [True, False]  # compiled, reference

Row = tuple[str, str, int] | tuple[str, str, int, int]


def chain(rows: list[Row], extra: tuple[str, ...] = (),
          dtype: Any = np.int64) -> tuple[AccountTransfers, dict[str, int]]:
    """Transfers (sender, receiver, value[, fee]) in order; addresses numbered as they appear."""
    ids: dict[str, int] = {}
    for row in rows:
        for name in row[:2]:
            ids.setdefault(str(name), len(ids))
    for name in extra:
        ids.setdefault(name, len(ids))
    m = len(rows)
    values = np.empty(m, dtype=dtype)
    fees = np.empty(m, dtype=dtype)
    values[:] = [r[2] for r in rows]
    fees[:] = [r[3] if len(r) == 4 else 0 for r in rows]
    return AccountTransfers(
        src=np.array([ids[str(r[0])] for r in rows], dtype=np.int64),
        dst=np.array([ids[str(r[1])] for r in rows], dtype=np.int64),
        value=values, fee=fees,
        block=np.arange(m, dtype=np.int64), tx_index=np.zeros(m, dtype=np.int64),
        log_index=np.zeros(m, dtype=np.int64),
        tx_hash=np.array([f"0x{i:02x}" for i in range(m)], dtype=object),
        addresses=np.array(list(ids), dtype=object)), ids


def seeds(m: int, txs: tuple[int, ...] = (),
          addresses: tuple[tuple[int, int, int | None], ...] = ()) -> AccountSeeds:
    flags = np.zeros(m, dtype=np.bool_)
    flags[list(txs)] = True
    return AccountSeeds(flags, addresses)


def stops_of(ids: dict[str, int], *names: str) -> np.ndarray:
    out = np.zeros(len(ids), dtype=np.bool_)
    out[[ids[n] for n in names]] = True
    return out


def run(transfers: AccountTransfers, seed: AccountSeeds, policy: Policy, compiled: bool,
        **kw: Any) -> AccountResult:
    result = trace_account(transfers, seed, policy, compiled=compiled, **kw)
    other = trace_account(transfers, seed, policy, compiled=not compiled, **kw)
    for field in ("received", "sent", "held", "absorbed", "first_tainted", "hops", "flow"):
        assert np.array_equal(getattr(result, field), getattr(other, field)), field
    assert (result.burned, result.seeded) == (other.burned, other.seeded)
    return result


def conserved(r: AccountResult) -> bool:
    return r.seeded == int(sum(int(v) for v in r.held)) + r.burned + int(
        sum(int(v) for v in r.absorbed))


# Anderson et al. (2016): 3 stolen then 7 clean units into one address, which pays 3 to A
# and then 7 to B.
ANDERSON: list[Row] = [("thief", "x", 3), ("miner", "x", 7), ("x", "a", 3), ("x", "b", 7)]


@pytest.mark.parametrize("compiled", KERNELS)
def test_anderson_poison_taints_all_ten(compiled: bool) -> None:
    t, ids = chain(ANDERSON)
    r = run(t, seeds(4, (0,)), "poison", compiled)
    assert r.flow.tolist() == [3, 0, 3, 7]
    assert r.received[ids["a"]] == 3 and r.received[ids["b"]] == 7
    assert r.held[ids["a"]] + r.held[ids["b"]] == 10
    assert r.seeded == 3 and r.burned == 0


@pytest.mark.parametrize("compiled", KERNELS)
def test_anderson_haircut_scaled_by_ten_is_exact(compiled: bool) -> None:
    t, ids = chain([(s, d, v * 10) for s, d, v, *_ in ANDERSON])
    r = run(t, seeds(4, (0,)), "haircut", compiled)
    assert r.flow[2] == 9 and r.flow[3] == 21  # 0.9 and 2.1 units
    assert r.held[ids["x"]] == 0 and conserved(r)


@pytest.mark.parametrize("compiled", KERNELS)
def test_anderson_haircut_in_whole_units_is_within_one_unit(compiled: bool) -> None:
    t, _ = chain(ANDERSON)
    r = run(t, seeds(4, (0,)), "haircut", compiled)
    # ⌊3·3/10⌋ = 0 leaves the remainder with x (t 3, b 7), so B takes ⌊7·3/7⌋ = 3
    assert (r.flow[2], r.flow[3]) == (0, 3)
    assert abs(r.flow[2] - Fraction(9, 10)) < 1 and abs(r.flow[3] - Fraction(21, 10)) < 1
    assert conserved(r)


@pytest.mark.parametrize("compiled", KERNELS)
@pytest.mark.parametrize(("policy", "to_a", "to_b"), [("fifo", 3, 0), ("lifo", 0, 3)])
def test_anderson_fifo_and_lifo(compiled: bool, policy: Policy, to_a: int, to_b: int) -> None:
    t, ids = chain(ANDERSON)
    r = run(t, seeds(4, (0,)), policy, compiled)
    assert (r.flow[2], r.flow[3]) == (to_a, to_b)
    assert r.held[ids["a"]] == to_a and r.held[ids["b"]] == to_b and conserved(r)


@pytest.mark.parametrize("compiled", KERNELS)
def test_seed_transfer_does_not_taint_its_sender(compiled: bool) -> None:
    t, ids = chain([("victim", "thief", 5), ("victim", "other", 4)])
    for policy in ("poison", "haircut", "fifo", "lifo"):
        r = run(t, seeds(2, (0,)), policy, compiled)
        assert r.flow.tolist() == [5, 0], policy
        assert r.received[ids["victim"]] == 0 and r.first_tainted[ids["victim"]] == -1
        assert r.hops[ids["thief"]] == 1 and r.first_tainted[ids["thief"]] == 0


# Incomplete history: a sender that sends more than it was seen to receive had clean money.


@pytest.mark.parametrize("compiled", KERNELS)
def test_incomplete_history_tops_up_with_clean_money(compiled: bool) -> None:
    # x receives 4 stolen, sends 5 to y (1 unit of unseen clean money), y sends 1 to z
    t, ids = chain([("thief", "x", 4), ("x", "y", 5), ("y", "z", 1)])
    expect = {  # policy: (x→y, y→z)
        "poison": (5, 1),
        "haircut": (4, 0),  # ⌊5·4/5⌋ = 4; then y (t 4, b 5): ⌊1·4/5⌋ = 0
        "fifo": (4, 0),  # the top-up is x's oldest money: y gets [clean 1, stolen 4]
        "lifo": (4, 0),  # newest first: y gets [stolen 4, clean 1], then pays its newest
    }
    for policy, (xy, yz) in expect.items():
        r = run(t, seeds(3, (0,)), policy, compiled)
        assert (r.flow[1], r.flow[2]) == (xy, yz), policy
        if policy != "poison":
            assert conserved(r) and r.held[ids["y"]] == xy - yz


@pytest.mark.parametrize("compiled", KERNELS)
def test_fifo_top_up_is_the_oldest_lot(compiled: bool) -> None:
    # x has 4 stolen; pays 6 (2 unseen clean, the oldest) to y; y pays 2 then 4 onwards
    t, _ = chain([("thief", "x", 4), ("x", "y", 6), ("y", "p", 2), ("y", "q", 4)])
    r = run(t, seeds(4, (0,)), "fifo", compiled)
    assert r.flow.tolist() == [4, 4, 0, 4]
    r = run(t, seeds(4, (0,)), "lifo", compiled)  # y holds [stolen 4, clean 2]
    assert r.flow.tolist() == [4, 4, 0, 4]


# Fees: the fee's share of taint is burned.


@pytest.mark.parametrize("compiled", KERNELS)
def test_fees_burn_their_share(compiled: bool) -> None:
    # x: 10 stolen then 10 clean; pays 8 with a fee of 2
    t, ids = chain([("thief", "x", 10), ("miner", "x", 10), ("x", "y", 8, 2)])
    expect = {  # policy: (flow, burned, held by x)
        "poison": (8, 2, 10),
        "haircut": (4, 1, 5),  # ⌊8·10/20⌋, ⌊2·10/20⌋
        "fifo": (8, 2, 0),  # value then fee from the stolen (oldest) lot
        "lifo": (0, 0, 10),  # both from the clean (newest) lot
    }
    for policy, (flow, burned, held) in expect.items():
        r = run(t, seeds(3, (0,)), policy, compiled)
        assert (r.flow[2], r.burned, r.held[ids["x"]]) == (flow, burned, held), policy
        assert r.sent[ids["x"]] == (10 if policy == "poison" else flow + burned)
        if policy != "poison":
            assert conserved(r)


@pytest.mark.parametrize("compiled", KERNELS)
def test_haircut_remainder_that_cannot_stay_is_burned(compiled: bool) -> None:
    # x: 1 stolen of 2; pays 1 with fee 1: ⌊1/2⌋ + ⌊1/2⌋ = 0 would leave taint 1 with balance 0
    t, ids = chain([("thief", "x", 1), ("miner", "x", 1), ("x", "y", 1, 1)])
    r = run(t, seeds(3, (0,)), "haircut", compiled)
    assert (r.flow[2], r.burned, r.held[ids["x"]]) == (0, 1, 0)
    assert conserved(r)


@pytest.mark.parametrize("compiled", KERNELS)
def test_haircut_with_large_values_uses_exact_products(compiled: bool) -> None:
    big = 2**61 + 12345  # v·t ≈ 2¹²² does not fit 64 bits
    t, _ = chain([("thief", "x", big), ("miner", "x", big - 7), ("x", "y", big - 1)])
    r = run(t, seeds(3, (0,)), "haircut", compiled)
    assert r.flow[2] == (big - 1) * big // (2 * big - 7)
    assert r.flow.dtype == np.int64 and conserved(r)


# Stops absorb; max_hops sets a horizon.


@pytest.mark.parametrize("compiled", KERNELS)
def test_stops_absorb_and_spread_nothing(compiled: bool) -> None:
    t, ids = chain([("thief", "x", 10), ("x", "exchange", 6), ("exchange", "user", 6),
                    ("x", "y", 4)])
    stop = stops_of(ids, "exchange")
    for policy in ("poison", "haircut", "fifo", "lifo"):
        r = run(t, seeds(4, (0,)), policy, compiled, stops=stop)
        ex = ids["exchange"]
        assert r.absorbed[ex] == 6 and r.received[ex] == 6 and r.held[ex] == 0, policy
        assert r.flow[2] == 0 and r.received[ids["user"]] == 0 and r.hops[ids["user"]] == -1
        assert r.first_tainted[ex] == 1 and r.hops[ex] == 2
        if policy != "poison":
            assert conserved(r) and r.held[ids["y"]] == 4


@pytest.mark.parametrize("compiled", KERNELS)
def test_max_hops_is_a_horizon(compiled: bool) -> None:
    t, ids = chain([("thief", "a", 8), ("a", "b", 8), ("b", "c", 8), ("c", "d", 8)])
    r = run(t, seeds(4, (0,)), "haircut", compiled, max_hops=2)
    assert [int(r.hops[ids[n]]) for n in "abcd"] == [1, 2, -1, -1]
    assert r.absorbed[ids["b"]] == 8 and r.flow.tolist() == [8, 8, 0, 0] and conserved(r)
    r = run(t, seeds(4, (0,)), "poison", compiled, max_hops=3)
    assert [int(r.hops[ids[n]]) for n in "abcd"] == [1, 2, 3, -1]
    assert r.absorbed[ids["c"]] == 8 and r.held[ids["d"]] == 0


@pytest.mark.parametrize("compiled", KERNELS)
def test_hops_take_the_shortest_path_and_lift_the_horizon(compiled: bool) -> None:
    # b is first reached at hop 2 (absorbed), later straight from a seed (hop 1: holds)
    t, ids = chain([("thief", "a", 5), ("a", "b", 5), ("thief", "b", 3), ("b", "c", 8)])
    r = run(t, seeds(4, (0, 2)), "fifo", compiled, max_hops=2)
    b = ids["b"]
    assert r.hops[b] == 1 and r.absorbed[b] == 5 and r.first_tainted[b] == 1
    assert r.flow[3] == 3 and r.hops[ids["c"]] == 2 and r.absorbed[ids["c"]] == 3
    assert conserved(r)


# Seed addresses.


@pytest.mark.parametrize("compiled", KERNELS)
def test_seed_address_with_amount_taints_its_newest_clean_value(compiled: bool) -> None:
    # x holds 10 clean; from transfer 1 on, 4 of it are stolen; it pays 6 then 4
    t, ids = chain([("miner", "x", 10), ("x", "y", 6), ("x", "z", 4)])
    x = ids["x"]
    expect = {"poison": (6, 4), "haircut": (2, 2), "fifo": (0, 4), "lifo": (4, 0)}
    for policy, flows in expect.items():
        r = run(t, seeds(3, (), ((x, 1, 4),)), policy, compiled)
        assert (r.flow[1], r.flow[2]) == flows, policy
        assert r.seeded == 4 and r.hops[x] == 0 and r.first_tainted[x] == 1
        assert r.received[x] == 0  # seeded, not received
        if policy != "poison":
            assert conserved(r)


@pytest.mark.parametrize("compiled", KERNELS)
def test_seed_address_amount_above_its_balance_tops_it_up(compiled: bool) -> None:
    t, ids = chain([("miner", "x", 3), ("x", "y", 5)])
    for policy in ("haircut", "fifo", "lifo", "poison"):
        r = run(t, seeds(2, (), ((ids["x"], 1, 5),)), policy, compiled)
        assert r.flow.tolist() == [0, 5] and r.seeded == 5, policy


@pytest.mark.parametrize("compiled", KERNELS)
def test_seed_address_without_amount_is_a_source(compiled: bool) -> None:
    # x holds 10 at the seed; later receives 5 clean and pays 20 (5 unseen): all of it stolen
    t, ids = chain([("miner", "x", 10), ("bank", "x", 5), ("x", "y", 18, 2)])
    x = ids["x"]
    for policy in ("poison", "haircut", "fifo", "lifo"):
        r = run(t, seeds(3, (), ((x, 1, None),)), policy, compiled)
        assert r.flow.tolist() == [0, 0, 18] and r.burned == 2, policy
        assert r.seeded == 20 and r.held[ids["y"]] == 18 and r.hops[ids["y"]] == 1
        assert conserved(r)


@pytest.mark.parametrize("compiled", KERNELS)
def test_seed_address_at_the_end_and_at_a_stop(compiled: bool) -> None:
    t, ids = chain([("miner", "x", 10), ("x", "ex", 4)])
    x, ex = ids["x"], ids["ex"]
    r = run(t, seeds(2, (), ((x, 2, None), (ex, 0, 7))), "haircut", compiled,
            stops=stops_of(ids, "ex"))
    assert r.held[x] == 6 and r.first_tainted[x] == 2 and r.flow.tolist() == [0, 0]
    assert r.absorbed[ex] == 7 and r.seeded == 13 and conserved(r)


# Poison specifics.


@pytest.mark.parametrize("compiled", KERNELS)
def test_poison_keeps_tainting_later_clean_money(compiled: bool) -> None:
    t, ids = chain([("thief", "x", 1), ("bank", "x", 100), ("x", "y", 50, 1), ("x", "z", 50)])
    r = run(t, seeds(4, (0,)), "poison", compiled)
    assert r.flow.tolist() == [1, 0, 50, 50] and r.burned == 1
    assert r.received[ids["x"]] == 1 and r.sent[ids["x"]] == 101
    assert r.held[ids["x"]] == 0 and r.held[ids["y"]] == 50 and r.hops[ids["z"]] == 2


@pytest.mark.parametrize("compiled", KERNELS)
@pytest.mark.parametrize("policy", ["poison", "haircut", "fifo", "lifo"])
def test_self_transfer(compiled: bool, policy: Policy) -> None:
    t, ids = chain([("thief", "x", 6), ("miner", "x", 4), ("x", "x", 5, 1), ("x", "y", 9)])
    r = run(t, seeds(4, (0,)), policy, compiled)
    if policy != "poison":
        assert conserved(r)
    assert r.hops[ids["x"]] == 1
    # haircut: x (t 6, b 10) sends 5+1: ⌊30/10⌋ = 3 back to itself, ⌊6/10⌋ = 0 burned;
    # then x (t 6, b 9) pays 9: all 6. fifo: [t6, c4] → takes t5 and t1 (fee), x then
    # holds [c4, t5]. lifo: takes c4, t1 and t1 (fee): [t4, c4, t1] pays 9 → 5.
    expect = {"poison": (9, 1), "haircut": (6, 0), "fifo": (5, 1), "lifo": (5, 1)}
    assert (r.flow[3], r.burned) == expect[policy]


@pytest.mark.parametrize("compiled", KERNELS)
def test_fifo_lot_pool_grows(compiled: bool) -> None:
    # 3,000 alternating lots at x (more than the pool's first 1,024), then paid out in pieces
    rows: list[Row] = []
    for i in range(1500):
        rows += [("thief", "x", 2 + i % 3), ("miner", "x", 1 + i % 5)]
    rows += [("x", "y", 7)] * 400 + [("x", "y", 1)] * 50
    t, ids = chain(rows)
    stolen = tuple(range(0, 3000, 2))
    for policy in ("fifo", "lifo"):
        r = run(t, seeds(len(rows), stolen), policy, compiled)
        assert conserved(r) and r.received[ids["y"]] > 0


# Sizes: object arrays beyond int64 run the exact reference.


@pytest.mark.parametrize("policy", ["fifo", "lifo"])
def test_a_balance_passed_back_and_forth_costs_no_more_than_its_transfers(
        policy: Policy) -> None:
    """A pattern a thief controls: k units into A alternating stolen and clean (lots that
    never merge), then A's whole balance passed between A and B k times. Each pass once
    moved all k lots (k = 10,000: 13 s under FIFO; now milliseconds, which no test times);
    the whole list now moves at once. The lots keep their kinds and order through every
    pass, under the compiled kernel as under the reference."""
    k = 2_000
    rows: list[Row] = [("S" if i % 2 == 0 else "C", "A", 1) for i in range(k)]
    rows += [("A", "B", k) if i % 2 == 0 else ("B", "A", k) for i in range(k)]
    transfers, ids = chain(rows)
    seeds = AccountSeeds(np.zeros(len(rows), np.bool_), ((ids["S"], 0, 100_000_000),))
    r = trace_account(transfers, seeds, policy, compiled=True)
    reference = trace_account(transfers, seeds, policy)
    assert np.array_equal(r.flow, reference.flow) and np.array_equal(r.held, reference.held)
    holder = ids["A"] if k % 2 == 0 else ids["B"]
    assert int(r.held[holder]) == k // 2 and int(r.held[ids["S"]]) == 100_000_000 - k // 2
    assert all(int(f) == k // 2 for f in r.flow[k:])


@pytest.mark.parametrize("policy", ["fifo", "lifo"])
def test_a_balance_passed_back_and_forth_paying_fees_costs_no_more_than_its_transfers(
        policy: Policy) -> None:
    """The same pattern with a fee on each pass, as on Ethereum: 2k lots of 2 units into A
    alternating stolen and clean, then A's balance less a fee of 1 passed between A and B
    k times. Each pass once moved every lot (10,000 passes over 30,000 lots: 50 s); the fee
    now takes its units lot by lot (the newest under FIFO, the oldest under LIFO, splitting
    a lot every other pass) and the rest of the list moves at once. The compiled kernel
    and the reference agree on every result, the taint the fees burned included."""
    k = 1_000
    rows: list[Row] = [("S" if i % 2 == 0 else "C", "A", 2) for i in range(2 * k)]
    balance = 4 * k
    for i in range(k):
        balance -= 1
        rows.append(("A", "B", balance, 1) if i % 2 == 0 else ("B", "A", balance, 1))
    transfers, ids = chain(rows)
    seeded = AccountSeeds(np.zeros(len(rows), np.bool_), ((ids["S"], 0, 100_000_000),))
    r = run(transfers, seeded, policy, True)
    holder = ids["A"] if k % 2 == 0 else ids["B"]
    assert conserved(r) and int(r.held[holder]) + r.burned == 2 * k
    if policy == "fifo":  # the fees took the newest k units: k/4 lots of each kind
        assert r.burned == k // 2


@pytest.mark.parametrize("policy", ["fifo", "lifo"])
def test_a_whole_balance_sent_to_itself_keeps_its_lots(policy: Policy) -> None:
    """A's whole balance sent to A itself, with and without a fee, k times: each pass moved
    every lot (a thief's self-transfers cost no one to receive them); the list now stays
    as it is, less the fee's lots, as the reference has it."""
    k = 1_000
    rows: list[Row] = [("S" if i % 2 == 0 else "C", "A", 2) for i in range(2 * k)]
    balance = 4 * k
    for i in range(k):
        fee = i % 2
        balance -= fee
        rows.append(("A", "A", balance, fee))
    transfers, ids = chain(rows)
    seeded = AccountSeeds(np.zeros(len(rows), np.bool_), ((ids["S"], 0, 100_000_000),))
    r = run(transfers, seeded, policy, True)
    assert conserved(r) and int(r.held[ids["A"]]) + r.burned == 2 * k


def test_values_beyond_int64_run_the_reference_exactly() -> None:
    wei = 10**24
    t, _ = chain([("thief", "x", 3 * wei), ("miner", "x", 7 * wei), ("x", "a", 3 * wei),
                  ("x", "b", 7 * wei + 1)], dtype=object)
    r = trace_account(t, seeds(4, (0,)), "haircut")
    assert r.flow.dtype == object and r.held.dtype == object
    assert r.flow[2] == 9 * wei // 10 and r.flow[3] == 3 * wei - 9 * wei // 10
    assert conserved(r)
    with pytest.raises(ValueError, match="compiled"):
        trace_account(t, seeds(4, (0,)), "haircut", compiled=True)


def test_int64_values_whose_sum_overflows_fall_back_to_the_reference() -> None:
    big = 2**62
    t, ids = chain([("thief", "x", big), ("miner", "x", big), ("x", "y", big)])
    r = trace_account(t, seeds(3, (0,)), "haircut")
    assert r.flow[2] == big // 2 and r.held[ids["x"]] == big // 2
    assert r.held.dtype == np.int64  # x's balance reached 2⁶³, but every result fits
    with pytest.raises(ValueError, match="compiled"):
        trace_account(t, seeds(3, (0,)), "haircut", compiled=True)


@pytest.mark.parametrize(("a", "c", "d"), [
    (2**63 - 1, 2**63 - 1, 2**63 - 1),
    (2**63 - 2, 2**63 - 1, 2**63 - 1),
    (2**62, 2**62 - 1, 2**62 + 1),
    (2**63 - 1, 2**32, 2**32 + 1),
    (2**32 - 1, 2**32 - 1, 2**32),
    (2**63 - 1, 1, 1),
    (123456789012345678, 987654321098765432, 987654321098765433),
    (3, 0, 7),
    (5, 7, 3),
])
def test_mul_div_floor_is_exact_on_extremes(a: int, c: int, d: int) -> None:
    assert mul_div_floor(a, c, d) == a * c // d


# Bad input is refused by name.


def test_bad_input() -> None:
    t, _ = chain([("a", "b", 5)])
    with pytest.raises(ValueError, match="policy"):
        trace_account(t, seeds(1), "tiho")
    with pytest.raises(ValueError, match=r"seeds\.transfers"):
        trace_account(t, AccountSeeds(np.zeros(2, dtype=np.bool_)), "haircut")
    with pytest.raises(ValueError, match="stops"):
        trace_account(t, seeds(1), "haircut", stops=np.zeros(5, dtype=np.bool_))
    with pytest.raises(ValueError, match="max_hops"):
        trace_account(t, seeds(1), "haircut", max_hops=-1)
    with pytest.raises(ValueError, match="seed address id"):
        trace_account(t, seeds(1, (), ((9, 0, None),)), "haircut")
    with pytest.raises(ValueError, match="position"):
        trace_account(t, seeds(1, (), ((0, 2, None),)), "haircut")
    neg, _ = chain([("a", "b", -5)])
    with pytest.raises(ValueError, match="negative"):
        trace_account(neg, seeds(1), "haircut")
    floats = replace(t, value=np.array([1.5]))
    with pytest.raises(ValueError, match="integers"):
        trace_account(floats, seeds(1), "haircut")
    outside = replace(t, dst=np.array([7]))
    with pytest.raises(ValueError, match="dst"):
        trace_account(outside, seeds(1), "haircut")
