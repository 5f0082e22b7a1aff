"""A dishonest exchange against the liabilities tree: every crafted tree, proof and root.json
below is refused by kinko and by the standalone verifier, or shows the truth.

Each test builds the malicious input itself; the reserves side (balances on chain, proof of
control) is attacked in tests/chains/test_reserves_chain_attacks.py.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from kinko import verify_proof as standalone
from kinko.domain.reserves import (
    AssetSpec,
    ChainPoint,
    Header,
    Leaf,
    SumTree,
    build_tree,
    verify_proof,
    verify_root,
)
from kinko.errors import BadInput

SID = bytes(range(16))
ETH = AssetSpec("ETH", 18, "ethereum")
XEM = AssetSpec("XEM", 6, "ethereum", "0x52908400098527886E0F7030069857D2E4169EE7")
POINT = ChainPoint("ethereum", "eip155:1", 100, bytes(range(32)))
TIME = "2026-01-26T03:00:00.000000Z"
E = 10**18


def tree_of(leaves: list[Leaf], **kw: Any) -> SumTree:
    kw = {"min_height": 3, "ledger_seq": 42, "time": TIME, "reserves_at": (POINT,), **kw}
    return build_tree(SID, [ETH, XEM], leaves, **kw)


def leaf(cid: str, eth: int, xem: int = 0, salt: int = 1) -> Leaf:
    return Leaf(cid, bytes([salt]) * 32, (eth, xem))


@pytest.fixture(scope="module")
def tree() -> SumTree:
    return tree_of([leaf("alice", 60 * E, 5, 1), leaf("bob", 40 * E, 0, 2),
                    leaf("carol", 25 * E, 7, 3)])


def proofs(tree: SumTree) -> dict[str, dict[str, Any]]:
    return {cid: json.loads(text) for cid, text in tree.proofs()}


def refused(proof: Any, root: bytes, customer: str, match: str | None = None) -> None:
    """Both verifiers refuse ``proof`` for ``customer``."""
    with pytest.raises(BadInput, match=match):
        verify_proof(proof, root, customer=customer)
    with pytest.raises(standalone.ProofError, match=match):
        standalone.verify(proof, root.hex(), customer)


# ------------------------------------------------------------- 1. the snapshot is bound


@pytest.mark.parametrize(("field", "value"), [
    (("reserves_at", 0, "block"), 90),  # reserves read where the wallet held more
    (("reserves_at", 0, "block_hash"), "ff" * 32),
    (("reserves_at", 0, "chain_id"), "eip155:5"),
    (("reserves_at", 0, "chain"), "ethereum-classic"),
    (("ledger_seq",), 41),
    (("time",), "2026-01-26T02:00:00.000000Z"),
    (("assets", 0, "decimals"), 17),
    (("assets", 1, "token"), "0x0000000000000000000000000000000000000001"),
    (("assets", 1, "chain"), "nem"),
    (("customers",), {"min": 3, "max": 3}),
    (("id",), "ff" * 16),
])
def test_every_header_field_is_bound_into_the_root(tree: SumTree, field: tuple[Any, ...],
                                                   value: Any) -> None:
    proof = proofs(tree)["alice"]
    verify_proof(proof, tree.root, customer="alice")
    node = proof["snapshot"]
    for key in field[:-1]:
        node = node[key]
    node[field[-1]] = value
    refused(proof, tree.root, "alice")
    root = tree.root_json()
    node = root["snapshot"]
    for key in field[:-1]:
        node = node[key]
    node[field[-1]] = value
    with pytest.raises(BadInput, match="does not match its root hash"):
        verify_root(root)


def test_proof_carries_the_whole_header(tree: SumTree) -> None:
    proof = proofs(tree)["bob"]
    assert proof["format"] == "kinko-por-v2"
    assert proof["snapshot"] == tree.root_json()["snapshot"]
    assert proof["snapshot"]["reserves_at"] == [{
        "chain": "ethereum", "chain_id": "eip155:1", "block": 100,
        "block_hash": bytes(range(32)).hex()}]
    assert proof["snapshot"]["assets"][0] == {"symbol": "ETH", "decimals": 18,
                                              "chain": "ethereum", "token": None}


# ------------------------------------------------------- 4. totals come from the commitment


def test_edited_totals_in_root_json_are_refused(tree: SumTree) -> None:
    root = tree.root_json()
    header, totals, _ = verify_root(root)
    assert list(totals) == [125 * E, 12] and header.reserves_at == (POINT,)
    lied = copy.deepcopy(root)
    lied["totals"][0] = str(50 * E)  # root hash unchanged
    with pytest.raises(BadInput, match="does not match its root hash"):
        verify_root(lied)
    with pytest.raises(BadInput, match="root"):
        verify_proof(proofs(tree)["alice"], tree.root, lied, customer="alice")


def test_standalone_prints_the_committed_totals(tree: SumTree, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "alice.json"
    path.write_text(json.dumps(proofs(tree)["alice"]))
    assert standalone.main([str(path), tree.root.hex(), "--customer", "alice"]) == 0
    out = capsys.readouterr().out
    assert 'OK: customer "alice" is counted' in out
    assert "  ETH 60\n" in out and "  XEM 0.000005\n" in out
    totals = out.split("committed to these totals")[1]
    assert "ETH 125 (18 decimals, chain ethereum)" in totals
    assert "XEM 0.000012 (6 decimals, chain ethereum, token 0x5290" in totals
    assert "block 100 of ethereum (eip155:1)" in out and "ledger entry:     42" in out
    assert TIME in out and "customers:        not published (at most 8)" in out


# ------------------------------------------------------------ 6. the proof is the customer's


def test_equal_balances_get_their_own_leaves() -> None:
    """Two customers owed the same: each has a leaf of their own, and one's proof is
    refused for the other (the exchange cannot count them once)."""
    t = tree_of([leaf("alice", 7 * E, 0, 1), leaf("bob", 7 * E, 0, 2)], min_height=1)
    assert t.totals == [14 * E, 0]
    got = proofs(t)
    assert got["alice"]["path"][0]["values"] == [str(7 * E), "0"]
    verify_proof(got["bob"], t.root, customer="bob")
    refused(got["alice"], t.root, "bob", "for customer")
    # the exchange rewrites alice's proof to name bob: the leaf no longer matches
    renamed = copy.deepcopy(got["alice"])
    renamed["customer"]["id"] = "bob"
    refused(renamed, t.root, "bob", "leads to root")


@pytest.mark.parametrize("given", ["Alice", "alice ", " alice", "alice\u200b", "ALICE"])
def test_customer_id_is_compared_exactly(tree: SumTree, given: str) -> None:
    refused(proofs(tree)["alice"], tree.root, given, "for customer")


def test_empty_and_control_character_ids_are_refused() -> None:
    for bad in ("", "C1\x1b[2J", "C1\n", "C1\x85"):
        with pytest.raises(BadInput, match="customer"):
            tree_of([leaf(bad, 1)])
    t = tree_of([leaf("C1", 1)])
    proof = proofs(t)["C1"]
    for bad in ("", "C1\x1b]0;pwned\x07"):
        crafted = copy.deepcopy(proof)
        crafted["customer"]["id"] = bad
        refused(crafted, t.root, "C1", "customer.id")
        with pytest.raises(standalone.ProofError, match="customer id given"):
            standalone.verify(proof, t.root.hex(), bad)


def test_ids_are_printed_escaped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cid = "C1\u202egnp.exe\""  # a right-to-left override and a quote
    with pytest.raises(BadInput, match="terminal"):
        tree_of([leaf(cid, 1)])  # kinko never publishes such an id; another exchange might
    t = SumTree(Header(SID, 1, (ETH, XEM)), [leaf(cid, 1)])
    path = tmp_path / "p.json"
    path.write_text(json.dumps(proofs(t)[cid]))
    assert standalone.main([str(path), t.root.hex(), "--customer", cid]) == 0
    out = capsys.readouterr().out
    assert '"C1\\u202egnp.exe\\""' in out and "\u202e" not in out
    assert standalone.main([str(path), t.root.hex(), "--customer", "C1\x1b[2J"]) == 1
    err = capsys.readouterr().err
    assert "\x1b" not in err and "\\x1b" in err


def test_standalone_requires_the_customer(tree: SumTree, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps(proofs(tree)["alice"]))
    assert standalone.main([str(path), tree.root.hex()]) == 1
    assert capsys.readouterr().err.startswith("FAIL: usage:")
    assert standalone.main([str(path), tree.root.hex(), "--customer=bob"]) == 1
    assert 'is for customer "alice", not "bob"' in capsys.readouterr().err
    assert standalone.main([str(path), tree.root.hex(), "--customer=alice"]) == 0


# --------------------------------------------------------- 7. the committed customer count


def test_exact_count_is_committed_and_checked() -> None:
    leaves = [leaf(f"C{i}", i + 1, 0, i + 1) for i in range(5)]
    t = tree_of(leaves, count="exact")
    assert t.root_json()["snapshot"]["customers"] == {"min": 5, "max": 5}
    for cid, p in proofs(t).items():
        assert verify_proof(p, t.root, customer=cid).position < 5


def test_range_count_reveals_only_the_bucket() -> None:
    leaves = [leaf(f"C{i}", 1, 0, i + 1) for i in range(5)]
    t = tree_of(leaves, count=4, min_height=4)
    assert t.root_json()["snapshot"]["customers"] == {"min": 4, "max": 7}
    for cid, p in proofs(t).items():
        verify_proof(p, t.root, customer=cid)
    with pytest.raises(BadInput, match="count"):
        tree_of(leaves, count="all")


def test_count_smaller_than_the_tree_is_caught() -> None:
    """The exchange commits to 2 customers while the tree holds 5 (say to look smaller
    than it is to one audience): customers beyond position 2 are refused, and customers
    below see a sibling that is not padding where padding must be."""
    leaves = sorted([leaf(f"C{i}", 1, 0, i + 1) for i in range(5)], key=lambda x: x.salt)
    honest = tree_of(leaves, count="exact")
    lying = SumTree(honest.header.__class__(**{**honest.header.__dict__,
                                               "customers": (2, 2)}), leaves)
    got = proofs(lying)
    outcomes = []
    for cid, p in got.items():
        try:
            verify_proof(p, lying.root, customer=cid)
            outcomes.append("ok")
        except BadInput as exc:
            outcomes.append(exc.message)
    assert all("beyond" in o or "not padding" in o for o in outcomes), outcomes


def test_count_larger_than_the_tree_is_caught() -> None:
    """Committing to at least 8 customers over 3 real leaves (5 padding) is refused by
    the customers whose sibling subtree is the padding."""
    leaves = sorted([leaf(f"C{i}", 1, 0, i + 1) for i in range(3)], key=lambda x: x.salt)
    honest = tree_of(leaves, count="exact")
    lying = SumTree(honest.header.__class__(**{**honest.header.__dict__,
                                               "customers": (8, 8)}), leaves)
    messages = []
    for cid, p in proofs(lying).items():
        with pytest.raises(BadInput) as exc:
            verify_proof(p, lying.root, customer=cid)
        messages.append(exc.value.message)
    assert all("padding, yet the root commits to at least 8" in m for m in messages)


# ------------------------------------------------------------------------- 9. strict parsing


def _mutations(proof: dict[str, Any]) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []

    def mutate(name: str, fn: Any) -> None:
        p = copy.deepcopy(proof)
        fn(p)
        out.append((name, p))

    h = proof["path"][0]["hash"]
    mutate("space in hash", lambda p: p["path"][0].__setitem__("hash", h[:62] + "  "))
    mutate("upper-case hash", lambda p: p["path"][0].__setitem__("hash", h.upper()))
    mutate("0x hash", lambda p: p["path"][0].__setitem__("hash", "0x" + h[2:]))
    mutate("short hash", lambda p: p["path"][0].__setitem__("hash", h[:62]))
    mutate("newline in salt", lambda p: p["customer"].__setitem__(
        "salt", p["customer"]["salt"][:63] + "\n"))
    mutate("space in snapshot id", lambda p: p["snapshot"].__setitem__(
        "id", " " + p["snapshot"]["id"][1:]))
    mutate("leading zero", lambda p: p["customer"]["balances"].__setitem__(0, "0" + str(
        p["customer"]["balances"][0])))
    mutate("plus sign", lambda p: p["customer"]["balances"].__setitem__(1, "+5"))
    mutate("number, not string", lambda p: p["customer"]["balances"].__setitem__(1, 5))
    mutate("boolean height", lambda p: p["snapshot"].__setitem__("height", True))
    mutate("same symbol twice", lambda p: p["snapshot"]["assets"].__setitem__(
        1, {**p["snapshot"]["assets"][0], "decimals": 6}))
    mutate("unknown field", lambda p: p.__setitem__("note", "x"))
    mutate("unknown field in step", lambda p: p["path"][0].__setitem__("extra", 1))
    mutate("lone surrogate id", lambda p: p["customer"].__setitem__("id", "C\ud800"))
    mutate("old format", lambda p: p.__setitem__("format", "kinko-por-v1"))
    return out


def test_malformed_fields_are_refused(tree: SumTree) -> None:
    proof = proofs(tree)["alice"]
    for name, bad in _mutations(proof):
        try:
            refused(bad, tree.root, "alice")
        except AssertionError:
            pytest.fail(f"{name} was accepted")
        except Exception as exc:
            pytest.fail(f"{name}: {type(exc).__name__}: {exc}")


def test_old_format_gets_a_clear_error(tree: SumTree) -> None:
    old = proofs(tree)["alice"]
    old["format"] = "kinko-por-v1"
    refused(old, tree.root, "alice", "old format kinko-por-v1")
    root = tree.root_json()
    root["format"] = "kinko-por-v1"
    with pytest.raises(BadInput, match="old format"):
        verify_root(root)


HOSTILE: list[tuple[str, bytes]] = [
    ("duplicate key", b'{"format": "kinko-por-v2", "format": "kinko-por-v2"}'),
    ("duplicate key deep", b'{"customer": {"id": "a", "id": "b"}}'),
    ("NaN", b'{"snapshot": {"height": NaN}}'),
    ("float", b'{"snapshot": {"height": 3.0}}'),
    ("huge int", b'{"snapshot": {"height": ' + b"9" * 5000 + b"}}"),
    ("deep nesting", b"[" * 100_000 + b"]" * 100_000),
    ("nesting", b'{"a": [[[[[[[[[[1]]]]]]]]]]}'),
    ("too large", b'{"pad": "' + b"a" * (3 << 20) + b'"}'),
    ("not UTF-8", b'{"customer": "\xff\xfe"}'),
    ("BOM", b'\xef\xbb\xbf{"format": "kinko-por-v2"}'),
    ("truncated", b'{"format": "kinko-por-v2", "path": ['),
    ("empty", b""),
    ("not an object", b"[1, 2]"),
    ("null", b"null"),
    ("unterminated string", b'{"a": "' + b"[" * 20),
    # a string left open full of escaped quotes: the nesting's count searched for strings
    # again from each quote (32 KB: 6 s; this, hours)
    ("escaped quotes left open", b'"' + b'\\"' * 200_000),
]


@pytest.mark.parametrize(("name", "data"), HOSTILE, ids=[n for n, _ in HOSTILE])
def test_hostile_bytes_end_in_one_fail_line(tree: SumTree, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str], name: str,
                                            data: bytes) -> None:
    path = tmp_path / "p.json"
    path.write_bytes(data)
    assert standalone.main([str(path), tree.root.hex(), "--customer", "a"]) == 1, name
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("FAIL: ") and err.count("\n") == 1, err[:300]
    assert "Traceback" not in err and "the proof could not be checked" not in err, err


def test_brackets_inside_strings_are_not_nesting() -> None:
    assert standalone.loads(b'{"a\\"[[[[[[[[[[": ["]]]]{{{{{{{{{{{"]}', "p") == \
        {'a"[[[[[[[[[[': ["]]]]{{{{{{{{{{{"]}
    with pytest.raises(standalone.ProofError, match="nested more than 8 levels deep"):
        standalone.loads(b'{"a": "[", "b": [[[[[[[[1]]]]]]]]}', "p")


def test_hostile_input_through_the_script(tree: SumTree, tmp_path: Path) -> None:
    """As a customer runs it: a fresh interpreter, a hostile file, one FAIL line."""
    script = Path(standalone.__file__)
    for name, data in (("deep", b"[" * 100_000), ("dup", HOSTILE[0][1]),
                       ("surrogate id", json.dumps({"customer": {"id": "\ud800"}}).encode())):
        path = tmp_path / f"{name}.json"
        path.write_bytes(data)
        run = subprocess.run([sys.executable, str(script), str(path), tree.root.hex(),
                              "--customer", "a"], capture_output=True, text=True,
                             check=False, env={"PYTHONIOENCODING": "ascii"})
        assert run.returncode == 1 and run.stdout == "", name
        assert run.stderr.startswith("FAIL: ") and "Traceback" not in run.stderr, run.stderr
    for bad_root in (" " + tree.root.hex()[1:], "0x" + "00" * 31, "g" * 64, "ｆ" * 64):
        run = subprocess.run([sys.executable, str(script), str(path), bad_root,
                              "--customer", "a"], capture_output=True, text=True, check=False)
        assert run.returncode == 1 and "ROOT_HASH: expected 64 lower-case hex" in run.stderr


def test_the_root_hash_as_a_customer_copies_it(tree: SumTree, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """`kinko reserves verify` takes the root in either case, with 0x or not; the
    customers' verifier refused all but lower case without 0x (a root copied from a page
    that shows it otherwise was "expected 64 lower-case hex digits")."""
    path = tmp_path / "alice.json"
    path.write_text(json.dumps(proofs(tree)["alice"]))
    hex_root = tree.root.hex()
    for given in (hex_root.upper(), "0x" + hex_root, "0X" + hex_root.upper(),
                  f"  {hex_root}\n"):
        assert standalone.main([str(path), given, "--customer", "alice"]) == 0, given
        assert 'OK: customer "alice" is counted' in capsys.readouterr().out
    other = ("0" if hex_root[0] != "0" else "1") + hex_root[1:]
    assert standalone.main([str(path), "0x" + other.upper(), "--customer", "alice"]) == 1
    assert "FAIL: the proof leads to root" in capsys.readouterr().err


def test_strict_loader_used_by_kinko(tree: SumTree) -> None:
    from kinko.domain.reserves import parse_json

    for _name, data in HOSTILE[:9]:
        with pytest.raises(BadInput):
            parse_json(data, "proof")
    text = next(iter(tree.proofs()))[1]
    assert parse_json(text.encode(), "proof")["format"] == "kinko-por-v2"


def test_a_fifo_or_a_device_is_refused_not_waited_for(tree: SumTree, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str],
                                                      no_hang: None) -> None:
    """The standalone verifier given a FIFO nobody writes to waited forever for a writer.
    Now it, a device and a directory each end in one FAIL line saying what the path is."""
    import os

    fifo = tmp_path / "proof.json"
    os.mkfifo(fifo)
    for path, says in ((fifo, "a FIFO"), (Path("/dev/zero"), "a device"),
                       (tmp_path, "a directory")):
        assert standalone.main([str(path), tree.root.hex(), "--customer", "a"]) == 1
        out, err = capsys.readouterr()
        assert out == "" and err.startswith("FAIL: cannot read proof ") and says in err, err
        assert err.count("\n") == 1
