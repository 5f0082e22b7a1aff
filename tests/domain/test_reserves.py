"""The Merkle sum tree: every proof verifies (kinko and the standalone verifier), every
mutation is refused, and the sibling-sum attack on a sum-only tree does not carry over."""

from __future__ import annotations

import copy
import hashlib
import json
import os
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kinko import verify_proof as standalone
from kinko.domain.reserves import (
    MAX_VALUE,
    AssetSpec,
    ChainPoint,
    Leaf,
    SumTree,
    build_tree,
    verify_proof,
)
from kinko.errors import BadInput

ASSETS = [AssetSpec("BTC", 8, "bitcoin"), AssetSpec("ETH", 18, "ethereum"),
          AssetSpec("JPY", 0, "fiat")]
SID = bytes(range(16))

balances = st.lists(
    st.tuples(*[st.integers(0, 10**30)] * 3), min_size=0, max_size=12)


def make(values: list[tuple[int, ...]], min_height: int = 0) -> SumTree:
    leaves = [Leaf(f"C{i}", os.urandom(32), v) for i, v in enumerate(values)]
    return build_tree(SID, ASSETS, leaves, min_height=min_height)


def proofs(tree: SumTree) -> dict[str, dict[str, Any]]:
    return {cid: json.loads(text) for cid, text in tree.proofs()}


def check_both(proof: dict[str, Any], root: bytes) -> None:
    cid = proof["customer"]["id"]
    assert verify_proof(proof, root, customer=cid).customer == cid
    assert standalone.verify(proof, root.hex(), cid).customer == cid


@settings(max_examples=40, deadline=None)
@given(balances, st.integers(0, 5))
def test_every_proof_verifies_and_totals_add_up(values: list[tuple[int, ...]],
                                                 min_height: int) -> None:
    tree = make(values, min_height)
    assert tree.totals == [sum(v[i] for v in values) for i in range(3)]
    got = proofs(tree)
    assert len(got) == len(values)
    for i, v in enumerate(values):
        p = got[f"C{i}"]
        ok = verify_proof(p, tree.root, customer=f"C{i}")
        assert ok.named(ok.balances) == dict(zip(["BTC", "ETH", "JPY"], v, strict=True))
        assert list(ok.totals) == tree.totals
        standalone.verify(p, tree.root.hex(), f"C{i}")
        assert len(p["path"]) == tree.height


def mutations(proof: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    out: list[tuple[str, dict[str, Any]]] = []

    def mutate(name: str, fn: Any) -> None:
        p = copy.deepcopy(proof)
        fn(p)
        out.append((name, p))

    def bump(s: str) -> str:
        return str(int(s) + 1)

    def flip(h: str) -> str:
        return ("0" if h[0] != "0" else "1") + h[1:]

    mutate("balance", lambda p: p["customer"]["balances"].__setitem__(0, bump(
        p["customer"]["balances"][0])))
    mutate("negative", lambda p: p["customer"]["balances"].__setitem__(1, "-1"))
    mutate("oversized", lambda p: p["customer"]["balances"].__setitem__(2, str(MAX_VALUE + 1)))
    mutate("salt", lambda p: p["customer"].__setitem__("salt", flip(p["customer"]["salt"])))
    mutate("id", lambda p: p["customer"].__setitem__("id", p["customer"]["id"] + "x"))
    mutate("snapshot", lambda p: p["snapshot"].__setitem__("id", flip(p["snapshot"]["id"])))
    mutate("version", lambda p: p.__setitem__("format", "kinko-por-v3"))
    mutate("assets", lambda p: p["snapshot"]["assets"].reverse())
    for n in range(len(proof["path"])):
        mutate(f"hash{n}", lambda p, n=n: p["path"][n].__setitem__(
            "hash", flip(p["path"][n]["hash"])))
        mutate(f"value{n}", lambda p, n=n: p["path"][n]["values"].__setitem__(
            0, bump(p["path"][n]["values"][0])))
        mutate(f"side{n}", lambda p, n=n: p["path"][n].__setitem__(
            "side", "left" if p["path"][n]["side"] == "right" else "right"))
    if len(proof["path"]) >= 2 and proof["path"][0] != proof["path"][1]:
        mutate("order", lambda p: p["path"].insert(1, p["path"].pop(0)))
    mutate("truncated", lambda p: p["path"].pop() if p["path"]
           else p["snapshot"].__setitem__("height", 1))
    return out


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(*[st.integers(0, 10**20)] * 3), min_size=1, max_size=6),
       st.integers(1, 4), st.data())
def test_any_single_mutation_is_refused(values: list[tuple[int, ...]], min_height: int,
                                        data: st.DataObject) -> None:
    tree = make(values, min_height)
    got = proofs(tree)
    proof = got[f"C{data.draw(st.integers(0, len(values) - 1))}"]
    check_both(proof, tree.root)
    for name, bad in mutations(proof):
        with pytest.raises(BadInput):
            verify_proof(bad, tree.root)
        with pytest.raises(standalone.ProofError):
            standalone.verify(bad, tree.root.hex(), None)
        assert name
    other = make(values, min_height)  # same balances, another snapshot: another root
    with pytest.raises(BadInput):
        verify_proof(proof, other.root)
    with pytest.raises(standalone.ProofError):
        standalone.verify(proof, other.root.hex(), None)


def test_sibling_sum_attack_fails_against_kinko_format() -> None:
    """A sum-only tree: parent = H(left ‖ right ‖ sum). The exchange can show customer A a
    sibling (B) with value 0 and customer B a sibling (A) with value 0 for the same parent,
    because only the sum is hashed; kinko hashes both children's values, so it cannot."""

    def naive_leaf(cid: str, v: int) -> bytes:
        return hashlib.sha256(f"{cid}:{v}".encode()).digest()

    def naive_parent(left: bytes, right: bytes, total: int) -> bytes:
        return hashlib.sha256(left + right + total.to_bytes(16, "big")).digest()

    a, b = 100, 50
    la, lb = naive_leaf("A", a), naive_leaf("B", b)
    # the published root counts only 100 in total although the customers are owed 150:
    root = naive_parent(la, lb, 100)
    # A is shown sibling B with value 0; B is shown sibling A with value 50: both check out
    assert naive_parent(la, lb, a + 0) == root
    assert naive_parent(la, lb, 50 + b) == root

    # kinko's format: build the honest tree, then try the same trick on customer A's proof
    tree = build_tree(SID, ASSETS[:1], [Leaf("A", b"\x01" * 32, (a,)),
                                        Leaf("B", b"\x02" * 32, (b,))], min_height=1)
    assert tree.totals == [150]
    proof_a = proofs(tree)["A"]
    check_both(proof_a, tree.root)
    lied = copy.deepcopy(proof_a)
    lied["path"][0]["values"] = ["0"]  # understate B to make the totals smaller
    with pytest.raises(BadInput, match="leads to root"):
        verify_proof(lied, tree.root)
    with pytest.raises(standalone.ProofError, match="leads to root"):
        standalone.verify(lied, tree.root.hex(), "A")


def test_build_refuses_bad_leaves() -> None:
    with pytest.raises(BadInput, match="C1"):
        build_tree(SID, ASSETS, [Leaf("C1", b"\0" * 32, (-1, 0, 0))])
    with pytest.raises(BadInput, match="C2"):
        build_tree(SID, ASSETS, [Leaf("C2", b"\0" * 32, (MAX_VALUE + 1, 0, 0))])
    with pytest.raises(BadInput, match="twice"):
        build_tree(SID, ASSETS, [Leaf("C", b"\0" * 32, (1, 0, 0)),
                                 Leaf("C", b"\1" * 32, (1, 0, 0))])
    with pytest.raises(BadInput, match="reaches"):
        build_tree(SID, ASSETS[:1], [Leaf("A", b"\0" * 32, (MAX_VALUE,)),
                                     Leaf("B", b"\1" * 32, (1,))])


def test_padding_hides_the_count_and_empty_tree() -> None:
    tree = make([(1, 2, 3)] * 3, min_height=20)
    assert tree.height == 20
    assert tree.root_json()["leaves"] == 1 << 20
    for p in proofs(tree).values():
        check_both(p, tree.root)
    empty = make([], min_height=3)
    assert empty.totals == [0, 0, 0]


def test_large_values_above_64_bits() -> None:
    big = (MAX_VALUE // 4, 1 << 70, (1 << 64) - 1)
    tree = make([big, (1, 1 << 64, 1)], min_height=2)
    assert tree.totals == [MAX_VALUE // 4 + 1, (1 << 70) + (1 << 64), 1 << 64]
    for p in proofs(tree).values():
        check_both(p, tree.root)


def test_standalone_main(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    tree = make([(150_000_000, 10**18, 5)])
    proof = proofs(tree)["C0"]
    path = tmp_path / "p.json"
    path.write_text(json.dumps(proof))
    assert standalone.main([str(path), tree.root.hex(), "--customer", "C0"]) == 0
    out = capsys.readouterr().out
    assert "BTC 1.5" in out and "ETH 1" in out and "JPY 5" in out
    assert standalone.main([str(path), "00" * 32, "--customer", "C0"]) == 1
    assert standalone.main([str(tmp_path / "missing.json"), tree.root.hex(),
                            "--customer", "C0"]) == 1
    assert "cannot read proof" in capsys.readouterr().err
    path.write_text("{not json")
    assert standalone.main([str(path), tree.root.hex(), "--customer", "C0"]) == 1
    assert "not valid JSON" in capsys.readouterr().err


def test_worked_example_in_docs() -> None:
    """The numbers of the worked example in docs/proof-of-reserves.md."""
    sid = bytes.fromhex("00112233445566778899aabbccddeeff")
    point = ChainPoint("bitcoin", "bip122:000000000019d6689c085ae165831e93", 880_000,
                       b"\x11" * 32)
    tree = build_tree(sid, [AssetSpec("BTC", 8, "bitcoin"), AssetSpec("JPY", 0, "fiat")],
                      [Leaf("alice", b"\xaa" * 32, (150_000_000, 0)),
                       Leaf("bob", b"\xbb" * 32, (0, 2500))], min_height=1, ledger_seq=7,
                      time="2026-01-26T03:00:00.000000Z", reserves_at=[point], count="exact")
    assert tree.header.encode().hex() == (
        "00112233445566778899aabbccddeeff" "01" "02" "03425443" "08" "07626974636f696e" "00"
        "034a5059" "00" "0466696174" "00" "01" "0000000000000007"
        "1b" + b"2026-01-26T03:00:00.000000Z".hex() + "01" "07626974636f696e"
        "27" + b"bip122:000000000019d6689c085ae165831e93".hex() + "00000000000d6d80"
        + "11" * 32 + "01" "0000000000000002" "0000000000000002")
    root = "010ba03727830f9c0fc74b397c68b82944319bcf5a5db2d3bfb18e2421a6b7ab"
    assert tree.root.hex() == root
    assert tree.level_hashes[0][:32].hex() == (
        "319673b0d1705ad2fcf840ff7d70a6a3e83c089d32cc308d4a4137329bf2239f")
    assert tree.top.hex() == "4126eb1ca4326967c2dadfcccd135c69126d4c805e279912918cb34dce855f76"
    alice = proofs(tree)["alice"]
    assert alice["path"][0]["hash"] == (
        "949631f85b9a0989d10cffdaaee9a5149cb8b1da0e983a5f6f1ee528543cf03a")
    got = standalone.verify(alice, root, "alice")
    assert got.named(got.balances) == {"BTC": 150_000_000, "JPY": 0}
    assert got.totals == (150_000_000, 2500) and got.position == 0
