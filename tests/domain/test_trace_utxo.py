"""UTXO taint kernel: BlockSci's regtest scenario, Anderson's example and hand-computed cases
for poison, haircut, FIFO, LIFO and TIHO."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction
from typing import Any

import numpy as np
import pytest

from kinko.domain.trace.model import Policy, UtxoResult, UtxoSeeds, UtxoTransactions
from kinko.domain.trace.utxo import trace_utxo

Ref = tuple[int, int]  # (transaction, output number) of the spent output
Tx = tuple[list[Ref], list[tuple[int, str]]]  # inputs, outputs (value, address)


def build(txs: list[Tx], dtype: Any = np.int64) -> tuple[UtxoTransactions, dict[str, int],
                                                          list[list[int]]]:
    """Transactions in order; the fee is what the inputs leave over (0 without inputs).
    Returns the arrays, address ids and each transaction's global output indices."""
    ids: dict[str, int] = {}
    outs: list[list[int]] = []
    out_value: list[int] = []
    out_address: list[int] = []
    in_start, out_start = [0], [0]
    in_output: list[int] = []
    fees: list[int] = []
    for inputs, outputs in txs:
        spent = [outs[t][n] for t, n in inputs]
        in_output += spent
        in_start.append(len(in_output))
        outs.append([])
        for value, address in outputs:
            outs[-1].append(len(out_value))
            out_value.append(value)
            out_address.append(ids.setdefault(address, len(ids)))
        out_start.append(len(out_value))
        paid = sum(out_value[j] for j in spent)
        fees.append(paid - sum(v for v, _ in outputs) if inputs else 0)

    def amounts(values: list[int]) -> np.ndarray:
        arr = np.empty(len(values), dtype=dtype)
        arr[:] = values
        return arr

    n = len(txs)
    return UtxoTransactions(
        txid=np.array([f"tx{i}" for i in range(n)], dtype=object),
        block=np.arange(n, dtype=np.int64),
        in_start=np.array(in_start, dtype=np.int64),
        in_output=np.array(in_output, dtype=np.int64),
        in_value=amounts([out_value[j] for j in in_output]),
        in_address=np.array([out_address[j] for j in in_output], dtype=np.int64),
        out_start=np.array(out_start, dtype=np.int64),
        out_value=amounts(out_value),
        out_address=np.array(out_address, dtype=np.int64),
        fee=amounts(fees),
        addresses=np.array(list(ids), dtype=object)), ids, outs


def seeds(txs: UtxoTransactions, transactions: tuple[int, ...] = (),
          outputs: tuple[int, ...] = ()) -> UtxoSeeds:
    t = np.zeros(len(txs), dtype=np.bool_)
    t[list(transactions)] = True
    o = np.zeros(txs.out_value.shape[0], dtype=np.bool_)
    o[list(outputs)] = True
    return UtxoSeeds(t, o)


def conserved(r: UtxoResult) -> bool:
    return r.seeded == int(sum(int(v) for v in r.held)) + r.burned + int(
        sum(int(v) for v in r.absorbed))


# BlockSci's regtest taint scenario (test_taint.py), fee F = 10,000 sat.
C, F = 100_000_000, 10_000
BLOCKSCI: list[Tx] = [
    ([], [(7 * C, "s1")]),
    ([], [(8 * C, "s2")]),
    ([(0, 0)], [(C - F, "a1"), (2 * C - F, "a2"), (4 * C - F, "a3")]),
    ([(2, 0), (2, 1)], [(3 * C - 3 * F, "a4")]),
    ([(2, 2), (1, 0)], [(12 * C - 2 * F, "a5")]),
    ([(3, 0), (4, 0)], [(15 * C - 6 * F, "a6")]),
]


def blocksci(policy: Policy) -> tuple[UtxoResult, int, int, int]:
    txs, _, outs = build(BLOCKSCI)
    r = trace_utxo(txs, seeds(txs, outputs=(outs[2][0],)), policy)
    return r, int(r.output_taint[outs[3][0]]), int(r.output_taint[outs[4][0]]), int(
        r.output_taint[outs[5][0]])


def test_blocksci_poison_taints_a4_and_a6_wholly() -> None:
    r, a4, a5, a6 = blocksci("poison")
    assert (a4, a5, a6) == (3 * C - 3 * F, 0, 15 * C - 6 * F)
    assert r.seeded == C - F and r.burned == 2 * F


def test_blocksci_haircut_without_fee_taint() -> None:
    r, a4, a5, a6 = blocksci("haircut")
    assert (a4, a5, a6) == (99_986_666, 0, 99_985_999)
    exact = Fraction(C - F) * (3 * C - 3 * F) / (3 * C - 2 * F) * (15 * C - 6 * F) / (15 * C - 5 * F)
    assert abs(a6 - exact) < 2  # at most one unit per transaction on the way
    assert r.burned == C - F - a6 and conserved(r)


@pytest.mark.parametrize(("policy", "a4", "a6", "burned"), [
    ("fifo", C - F, C - F, 0),  # a1 comes first in a4 and a4 first in a6; fees from the end
    ("lifo", C - 2 * F, C - 2 * F, F),  # a4's fee is the last 10,000 of a1
    ("tiho", C - F, C - F, 0),
])
def test_blocksci_fifo_lifo_tiho(policy: Policy, a4: int, a6: int, burned: int) -> None:
    r, got4, got5, got6 = blocksci(policy)
    assert (got4, got5, got6, r.burned) == (a4, 0, a6, burned)
    assert conserved(r)


def test_blocksci_hops_and_first_tainted() -> None:
    txs, ids, _ = build(BLOCKSCI)
    r = trace_utxo(txs, seeds(txs, outputs=(2,)), "haircut")
    assert [int(r.hops[ids[a]]) for a in ("s1", "a1", "a2", "a4", "a5", "a6")] == [
        -1, 1, -1, 2, -1, 3]
    assert [int(r.first_tainted[ids[a]]) for a in ("a1", "a4", "a6")] == [2, 3, 5]
    assert r.held[ids["a6"]] == 99_985_999 and r.held[ids["a1"]] == 0


# Anderson et al. (2016): 3 stolen and 7 clean units in, 3 to A and 7 to B out.


def anderson(policy: Policy, scale: int = 1) -> tuple[int, int, UtxoResult]:
    txs, _, outs = build([
        ([], [(3 * scale, "thief")]),
        ([], [(7 * scale, "miner")]),
        ([(0, 0), (1, 0)], [(3 * scale, "A"), (7 * scale, "B")]),
    ])
    r = trace_utxo(txs, seeds(txs, transactions=(0,)), policy)
    return int(r.output_taint[outs[2][0]]), int(r.output_taint[outs[2][1]]), r


@pytest.mark.parametrize(("policy", "to_a", "to_b"), [
    ("poison", 3, 7), ("fifo", 3, 0), ("lifo", 0, 3), ("tiho", 0, 3),
])
def test_anderson(policy: Policy, to_a: int, to_b: int) -> None:
    a, b, r = anderson(policy)
    assert (a, b) == (to_a, to_b)
    if policy != "poison":
        assert conserved(r)


def test_anderson_haircut() -> None:
    assert anderson("haircut", scale=10)[:2] == (9, 21)  # 0.9 and 2.1 units
    a, b, r = anderson("haircut")
    # ⌊0.9⌋ = 0, ⌊2.1⌋ = 2; no fee to take the remainder: the larger fraction (A's) gets it
    assert (a, b) == (1, 2) and r.burned == 0 and conserved(r)
    assert abs(a - Fraction(9, 10)) < 1 and abs(b - Fraction(21, 10)) < 1


# Partly tainted inputs keep the order of their segments.


SEGMENTS: list[Tx] = [
    ([], [(2, "c1"), (3, "thief"), (5, "c2")]),
    ([(0, 0), (0, 1), (0, 2)], [(10, "mix")]),  # [clean 2, stolen 3, clean 5]
    ([(1, 0)], [(4, "p"), (6, "q")]),
]


@pytest.mark.parametrize(("policy", "p", "q"), [
    ("fifo", 2, 1),  # [c2 t2 | t1 c5]; had the input been stolen-first it would be 3 and 0
    ("lifo", 2, 1),  # mix holds [c5 t3 c2]; read newest first: [c2 t3 c5]
    ("haircut", 1, 2),  # ⌊1.2⌋, ⌊1.8⌋ and the remainder to the larger fraction
    ("tiho", 0, 3),
    ("poison", 4, 6),
])
def test_partly_tainted_inputs_keep_their_order(policy: Policy, p: int, q: int) -> None:
    txs, _, outs = build(SEGMENTS)
    r = trace_utxo(txs, seeds(txs, outputs=(1,)), policy)
    assert (r.output_taint[outs[2][0]], r.output_taint[outs[2][1]]) == (p, q)
    if policy != "poison":
        assert conserved(r) and r.seeded == 3


def test_lifo_maps_the_last_input_to_the_first_output() -> None:
    txs, _, outs = build([
        ([], [(5, "thief"), (5, "miner")]),
        ([(0, 1), (0, 0)], [(5, "x"), (4, "y")]),  # clean input first, stolen last; fee 1
    ])
    fifo = trace_utxo(txs, seeds(txs, outputs=(0,)), "fifo")
    lifo = trace_utxo(txs, seeds(txs, outputs=(0,)), "lifo")
    assert fifo.output_taint[outs[1]].tolist() == [0, 4] and fifo.burned == 1
    assert lifo.output_taint[outs[1]].tolist() == [5, 0] and lifo.burned == 0


# Fees and rounding.


def test_haircut_remainder_beyond_a_tiny_fee_goes_to_the_outputs() -> None:
    # T = 2 of D = 3: the outputs' exact shares are 2/3 each, the fee's 2/3 — but the fee is 1
    txs, _, outs = build([([], [(2, "thief"), (1, "miner")]),
                          ([(0, 0), (0, 1)], [(1, "x"), (1, "y")])])
    r = trace_utxo(txs, seeds(txs, outputs=(0,)), "haircut")
    assert r.output_taint[outs[1]].tolist() == [1, 0] and r.burned == 1 and conserved(r)


def test_haircut_fee_takes_its_share() -> None:
    txs, _, outs = build([([], [(100, "thief")]), ([(0, 0)], [(30, "x"), (50, "y")])])
    r = trace_utxo(txs, seeds(txs, transactions=(0,)), "haircut")
    assert r.output_taint[outs[1]].tolist() == [30, 50] and r.burned == 20
    txs, _, outs = build([([], [(40, "thief"), (60, "miner")]),
                          ([(0, 0), (0, 1)], [(33, "x"), (57, "y")])])
    r = trace_utxo(txs, seeds(txs, outputs=(0,)), "haircut")
    # 40·33/100 = 13.2, 40·57/100 = 22.8, fee 40·10/100 = 4 and the remainder 1
    assert r.output_taint[outs[1]].tolist() == [13, 22] and r.burned == 5 and conserved(r)


def test_tiho_fills_the_highest_outputs_first() -> None:
    txs, _, outs = build([([], [(5, "thief"), (6, "miner")]),
                          ([(0, 0), (0, 1)], [(2, "a"), (4, "b"), (4, "c")])])  # fee 1
    r = trace_utxo(txs, seeds(txs, outputs=(0,)), "tiho")
    assert r.output_taint[outs[1]].tolist() == [0, 4, 1] and r.burned == 0
    txs, _, outs = build([([], [(10, "thief")]), ([(0, 0)], [(3, "a"), (2, "b")])])  # fee 5
    r = trace_utxo(txs, seeds(txs, transactions=(0,)), "tiho")
    assert r.output_taint[outs[1]].tolist() == [3, 2] and r.burned == 5 and conserved(r)


def test_poison_burns_the_fee_of_tainted_transactions() -> None:
    txs, _, outs = build([([], [(1, "thief"), (100, "miner")]),
                          ([(0, 0), (0, 1)], [(50, "x"), (40, "y")])])
    r = trace_utxo(txs, seeds(txs, outputs=(0,)), "poison")
    assert r.output_taint[outs[1]].tolist() == [50, 40] and r.burned == 11


# Stops, horizon and seeds.


CHAIN: list[Tx] = [
    ([], [(10, "thief")]),
    ([(0, 0)], [(6, "exchange"), (4, "x")]),
    ([(1, 0)], [(6, "user")]),
    ([(1, 1)], [(4, "y")]),
    ([(3, 0)], [(4, "z")]),
]


@pytest.mark.parametrize("policy", ["poison", "haircut", "fifo", "lifo", "tiho"])
def test_stops_absorb_and_are_spent_clean(policy: Policy) -> None:
    txs, ids, outs = build(CHAIN)
    stop = np.zeros(len(ids), dtype=np.bool_)
    stop[ids["exchange"]] = True
    r = trace_utxo(txs, seeds(txs, transactions=(0,)), policy, stops=stop)
    ex = ids["exchange"]
    assert r.absorbed[ex] == 6 and r.received[ex] == 6 and r.held[ex] == 0
    assert r.output_taint[outs[1][0]] == 6  # what arrived there
    assert r.output_taint[outs[2][0]] == 0 and r.hops[ids["user"]] == -1
    assert r.held[ids["z"]] == 4 and r.hops[ids["z"]] == 4
    assert conserved(r)


def test_max_hops_is_a_horizon() -> None:
    txs, ids, outs = build(CHAIN)
    r = trace_utxo(txs, seeds(txs, transactions=(0,)), "fifo", max_hops=3)
    assert r.absorbed[ids["y"]] == 4 and r.held[ids["y"]] == 0
    assert r.output_taint[outs[4][0]] == 0 and r.hops[ids["z"]] == -1
    assert r.absorbed[ids["user"]] == 6 and r.held.sum() == 0 and conserved(r)


def test_seeded_outputs_count_only_the_taint_they_add() -> None:
    txs, ids, outs = build([([], [(10, "thief"), (10, "miner")]),
                            ([(0, 0), (0, 1)], [(8, "x"), (12, "y")])])
    r = trace_utxo(txs, seeds(txs, outputs=(0, outs[1][1])), "fifo")
    # x carries the stolen 8 anyway; y had 2 stolen and is declared wholly stolen
    assert r.output_taint[outs[1]].tolist() == [8, 12] and r.seeded == 20
    assert r.hops[ids["y"]] == 1 and r.hops[ids["x"]] == 2 and conserved(r)


def test_values_beyond_int64_stay_exact() -> None:
    wei = 10**30
    txs, _, outs = build([([], [(3 * wei, "thief"), (7 * wei + 3, "miner")]),
                          ([(0, 0), (0, 1)], [(3 * wei, "A"), (7 * wei, "B")])], dtype=object)
    r = trace_utxo(txs, seeds(txs, outputs=(0,)), "haircut")
    total = 10 * wei + 3
    assert r.output_taint.dtype == object
    assert r.output_taint[outs[1][0]] == 3 * wei * 3 * wei // total
    assert r.output_taint[outs[1][1]] == 3 * wei * 7 * wei // total and conserved(r)


# Bad input is refused.


def test_bad_input() -> None:
    txs, _, _ = build(CHAIN)
    ok = seeds(txs, transactions=(0,))
    with pytest.raises(ValueError, match="policy"):
        trace_utxo(txs, ok, "nope")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="spent twice"):
        trace_utxo(replace(txs, in_output=np.array([0, 1, 1, 3])), ok, "fifo")
    with pytest.raises(ValueError, match="earlier transaction"):
        trace_utxo(replace(txs, in_output=np.array([0, 1, 5, 4])), ok, "fifo")
    with pytest.raises(ValueError, match="inputs 10"):
        trace_utxo(replace(txs, fee=np.array([0, 1, 0, 0, 0])), ok, "fifo")
    with pytest.raises(ValueError, match="worth"):
        trace_utxo(replace(txs, in_value=np.array([10, 7, 4, 4])), ok, "fifo")
    with pytest.raises(ValueError, match="address"):
        trace_utxo(replace(txs, in_address=np.array([0, 0, 2, 3])), ok, "fifo")
    with pytest.raises(ValueError, match="negative"):
        trace_utxo(replace(txs, fee=np.array([0, 0, 0, 0, -1])), ok, "fifo")
    with pytest.raises(ValueError, match="seeds"):
        trace_utxo(txs, UtxoSeeds(np.zeros(2, dtype=np.bool_), ok.outputs), "fifo")
    with pytest.raises(ValueError, match="in_start"):
        trace_utxo(replace(txs, in_start=np.array([0, 1, 2, 3, 4, 5])), ok, "fifo")
