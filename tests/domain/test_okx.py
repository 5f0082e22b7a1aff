"""OKX proof-of-reserves v1: the real example proof, tampered copies, kinko-written proofs."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from kinko.domain.okx import (
    Verdict,
    decimal_text,
    leaf_hash,
    okx_proof_files,
    parent_hash,
    verify_okx_file,
)
from kinko.errors import InputFileError, InvalidAmount

POR = Path(__file__).resolve().parents[1] / "data" / "por"
EXAMPLE = POR / "okx_merkle_proof_file.json"


@pytest.fixture()
def example() -> dict[str, Any]:
    """The real OKX example inclusion proof, parsed."""
    data: dict[str, Any] = json.loads(EXAMPLE.read_text())
    return data


def _verify(doc: dict[str, Any]) -> Verdict:
    return verify_okx_file(json.dumps(doc), "proof.json")


def test_real_example_verifies(example: dict[str, Any]) -> None:
    verdict = _verify(example)
    assert verdict.ok, verdict.reason
    assert verdict.balances == {"BTC": "1.000069", "ETH": "0.99908176", "USDT": "19398.33550812"}
    assert "ac6b39d2a0aa8112bd1aadff5e7d4b5c2b91cd54d595262ba4367f5d2db4160d" in verdict.reason
    assert "at height 24" in verdict.reason


def test_real_example_leaf_hash_is_nonce_plus_balances_json(example: dict[str, Any]) -> None:
    me = example["self"]
    assert leaf_hash(me["nonce"], me["balances"]) == me["hash"]


def test_changed_own_balance_fails(example: dict[str, Any]) -> None:
    doc = copy.deepcopy(example)
    doc["self"]["balances"]["BTC"] = "2.000069"
    verdict = _verify(doc)
    assert not verdict.ok
    assert "leaf was altered" in verdict.reason
    assert verdict.balances["BTC"] == "2.000069"


def test_changed_sibling_leaf_balance_fails(example: dict[str, Any]) -> None:
    doc = copy.deepcopy(example)
    doc["path"][0]["balances"]["USDT"] = "0.00007283"
    verdict = _verify(doc)
    assert not verdict.ok
    assert "sibling leaf was altered" in verdict.reason


@pytest.mark.parametrize("level", [1, 5, 20])
def test_changed_inner_sibling_balance_fails(example: dict[str, Any], level: int) -> None:
    doc = copy.deepcopy(example)
    doc["path"][level]["balances"]["ETH"] = decimal_text(
        Decimal(doc["path"][level]["balances"]["ETH"]) + Decimal("0.00000001"))
    verdict = _verify(doc)
    assert not verdict.ok
    assert "do not add up" in verdict.reason


def test_changed_balance_and_root_sum_still_fails_on_hash(example: dict[str, Any]) -> None:
    doc = copy.deepcopy(example)
    doc["path"][3]["balances"]["BTC"] = "0.00092852"
    doc["path"][-1]["balances"]["BTC"] = "95088.55505657"
    verdict = _verify(doc)
    assert not verdict.ok
    assert "recomputed root hash" in verdict.reason


def test_changed_hash_fails(example: dict[str, Any]) -> None:
    doc = copy.deepcopy(example)
    doc["path"][7]["hash"] = "0" * 64
    verdict = _verify(doc)
    assert not verdict.ok
    assert "recomputed root hash" in verdict.reason


def test_swapped_side_fails(example: dict[str, Any]) -> None:
    doc = copy.deepcopy(example)
    doc["path"][6]["type"] = 2 if doc["path"][6]["type"] == 1 else 1
    verdict = _verify(doc)
    assert not verdict.ok
    assert "root hash" in verdict.reason


def test_negative_balance_refused(example: dict[str, Any]) -> None:
    doc = copy.deepcopy(example)
    doc["path"][2]["balances"]["USDT"] = "-1"
    verdict = _verify(doc)
    assert not verdict.ok
    assert "negative" in verdict.reason


@pytest.mark.parametrize("text, what", [
    ("{not json", "not valid JSON"),
    ("[]", "not an OKX proof"),
    ('{"path": []}', "has no 'self'"),
    ('{"self": {}, "path": {}}', "path is not a list"),
    ('{"self": {}, "path": [{}]}', "at least a sibling"),
])
def test_malformed_files_are_clear_errors(text: str, what: str) -> None:
    with pytest.raises(InputFileError, match=what) as info:
        verify_okx_file(text, "p.json")
    assert info.value.message.startswith("p.json")


@pytest.mark.parametrize("field, value, what", [
    ("nonce", None, "self has no 'nonce'"),
    ("hash", "zz", "self.hash is not a hex"),
    ("type", "1", "self.type is not an integer"),
    ("balances", {"BTC": 1, "ETH": "0", "USDT": "0"}, "BTC is not a decimal string"),
    ("balances", {"BTC": "1e3", "ETH": "0", "USDT": "0"}, "BTC is not a decimal string"),
    ("balances", {"BTC": "1", "ETH": "0"}, "USDT is not a decimal string"),
    ("balances", {"BTC": "1", "ETH": "0", "USDT": "0", "XEM": "5"}, "does not hash: XEM"),
])
def test_malformed_fields_are_clear_errors(example: dict[str, Any], field: str, value: Any,
                                           what: str) -> None:
    doc = copy.deepcopy(example)
    if value is None:
        del doc["self"][field]
    else:
        doc["self"][field] = value
    with pytest.raises(InputFileError, match=what):
        _verify(doc)


@pytest.mark.parametrize("count", [1, 2, 3, 7, 8, 33])
def test_round_trip_written_proofs_verify(count: int) -> None:
    users = [(f"user-{i}", {"BTC": f"{i}.12345678", "ETH": "0.5", "USDT": str(i * 1000)})
             for i in range(count)]
    files = okx_proof_files(users, b"secret", audit_id="42")
    assert set(files) == {u for u, _ in users}
    roots = set()
    for user, bal in users:
        verdict = verify_okx_file(files[user], f"{user}.json")
        assert verdict.ok, verdict.reason
        assert verdict.balances == {k: decimal_text(Decimal(v)) for k, v in bal.items()}
        doc = json.loads(files[user])
        roots.add(doc["path"][-1]["hash"])
        assert doc["path"][-1]["balances"]["BTC"] == decimal_text(
            sum((Decimal(b["BTC"]) for _, b in users), Decimal(0)))
    assert len(roots) == 1


def test_written_proof_tampered_fails() -> None:
    files = okx_proof_files([("a", {"BTC": "1"}), ("b", {"BTC": "2"}), ("c", {"BTC": "3"})],
                            b"k")
    doc = json.loads(files["c"])
    doc["path"][1]["balances"]["BTC"] = "2"
    assert not _verify(doc).ok


def test_writer_refuses_bad_balances() -> None:
    with pytest.raises(InvalidAmount, match="more than 8 decimals"):
        okx_proof_files([("a", {"BTC": "0.000000001"})], b"k")
    with pytest.raises(InvalidAmount, match="negative"):
        okx_proof_files([("a", {"BTC": "-1"})], b"k")
    with pytest.raises(InvalidAmount, match="cannot hold: XEM"):
        okx_proof_files([("a", {"XEM": "1"})], b"k")
    with pytest.raises(InputFileError, match="twice"):
        okx_proof_files([("a", {}), ("a", {})], b"k")
    with pytest.raises(InputFileError, match="no users"):
        okx_proof_files([], b"k")


def test_balances_of_30_digits_are_summed_exactly_not_a_crash(example: dict[str, Any]) -> None:
    """The format allows 30 digits and 8 decimals; Python's default 28 digits rounded such a
    sum, then quantize refused it: ``kinko reserves verify --format okx-v1`` on a proof with
    one sibling worth 10**23 BTC ended in "kinko failed unexpectedly", and the writer could
    not publish such balances."""
    example["path"][1]["balances"]["BTC"] = "99999999999999999999999"
    verdict = _verify(example)
    assert not verdict.ok and "BTC 100000000000000000095087.55505656" in verdict.reason
    big = "9" * 29 + ".99999999"  # two of them add up to 30 digits, what the format holds
    users = [("a", {"BTC": big}), ("b", {"BTC": big}), ("c", {"BTC": "0"})]
    files = okx_proof_files(users, b"k")
    verdict = verify_okx_file(files["c"], "c.json")
    assert verdict.ok, verdict.reason
    assert json.loads(files["c"])["path"][-1]["balances"]["BTC"] == "1" + "9" * 29 + ".99999998"
    with pytest.raises(InvalidAmount, match="not a decimal string"):
        okx_proof_files([("a", {"BTC": "1x"})], b"k")


def test_a_sum_past_30_digits_is_refused_before_any_proof_is_written() -> None:
    """Each balance fits the format's 30 digits, their sum does not: the root (a parent)
    would carry 31, which kinko's verifier (and OKX's format) refuses. Nothing is written."""
    big = "6" + "0" * 29  # 30 digits
    users = [("a", {"BTC": big}), ("b", {"BTC": big}), ("c", {"ETH": "1"})]
    with pytest.raises(InvalidAmount, match=r"BTC balances add up to 12" + "0" * 29 +
                       r", more than the 30 digits") as caught:
        okx_proof_files(users, b"k")
    assert caught.value.said().id == "error.okx.sum_too_long"
    assert caught.value.said().params["total"] == "12" + "0" * 29
    # the most the format holds is still written, and verifies
    most = [("a", {"USDT": "9" * 30}), ("b", {"USDT": "0.99999999"}), ("c", {})]
    files = okx_proof_files(most, b"k")
    assert json.loads(files["c"])["path"][-1]["balances"]["USDT"] == "9" * 30 + ".99999999"
    for user, text in files.items():
        assert verify_okx_file(text, f"{user}.json").ok


def test_a_balance_past_30_digits_is_refused_as_too_long_not_as_no_decimal() -> None:
    with pytest.raises(InvalidAmount, match=r"user b: the ETH balance 1" + "0" * 30 +
                       r"\.5 has 31 digits before the point, more than the 30") as caught:
        okx_proof_files([("a", {"BTC": "1"}), ("b", {"ETH": "1" + "0" * 30 + ".5"})], b"k")
    assert caught.value.said().id == "error.okx.balance_too_long"
    with pytest.raises(InvalidAmount, match=r"the BTC balance 1{77}\.\.\. has 200 digits"):
        okx_proof_files([("a", {"BTC": "1" * 200})], b"k")  # quoted short
    with pytest.raises(InvalidAmount, match="not a decimal string"):
        okx_proof_files([("a", {"BTC": "1" * 31 + "x"})], b"k")


def test_weakness_parent_binds_only_the_sum_of_sibling_balances() -> None:
    """Chalkias, Chatzigiannis & Ji 2022: two splits with the same sum, same parent hash.

    The parent hash covers the two child hashes and the summed balance only. For inner
    children the hashes do not pin each child's balance, so an exchange can show one user a
    sibling holding 90 and another user (on the other side) a sibling holding 10 ... any
    split of 100 yields the same parent and the same root.
    """
    left, right = "a" * 64, "b" * 64
    split_one = {"BTC": Decimal("90"), "ETH": Decimal("0"), "USDT": Decimal("0")}
    split_two = {"BTC": Decimal("10"), "ETH": Decimal("0"), "USDT": Decimal("0")}
    other_one = {"BTC": Decimal("10"), "ETH": Decimal("0"), "USDT": Decimal("0")}
    other_two = {"BTC": Decimal("90"), "ETH": Decimal("0"), "USDT": Decimal("0")}
    total_one = {k: split_one[k] + other_one[k] for k in split_one}
    total_two = {k: split_two[k] + other_two[k] for k in split_two}
    assert parent_hash(left, right, total_one, 5) == parent_hash(left, right, total_two, 5)


def _node(balance: str, hash_: str, type_: int, height: int,
          nonce: str | None = None) -> dict[str, Any]:
    node: dict[str, Any] = {"balances": {"BTC": balance, "ETH": "0", "USDT": "0"},
                            "hash": hash_, "type": type_, "height": height}
    if nonce is not None:
        node["nonce"] = nonce
    return node


def test_weakness_two_users_shown_different_sibling_splits_both_verify() -> None:
    """The attack end to end: liabilities 100, the root claims 90, and every user's proof passes.

    Leaves a=10, b=0 under L; c=90, d=0 under R. The exchange commits the root with a sum of
    90 (not 100). Users under L are shown R holding 80; users under R are shown L holding 0.
    Neither shown value is bound by the sibling's hash, so both proofs verify.
    """
    zero = {"BTC": "0", "ETH": "0", "USDT": "0"}
    bal = {name: {**zero, "BTC": v} for name, v in (("a", "10"), ("b", "0"), ("c", "90"),
                                                    ("d", "0"))}
    leaf = {name: leaf_hash(f"n{name}", bal[name]) for name in bal}
    as_dec = {k: Decimal(v) for k, v in zero.items()}
    l_hash = parent_hash(leaf["a"], leaf["b"], {**as_dec, "BTC": Decimal(10)}, 2)
    r_hash = parent_hash(leaf["c"], leaf["d"], {**as_dec, "BTC": Decimal(90)}, 2)
    root = parent_hash(l_hash, r_hash, {**as_dec, "BTC": Decimal(90)}, 3)  # hides 10
    proof_a = {"self": _node("10", leaf["a"], 1, 1, "na"),
               "path": [_node("0", leaf["b"], 2, 1, "nb"), _node("80", r_hash, 2, 2),
                        _node("90", root, 3, 3)]}
    proof_c = {"self": _node("90", leaf["c"], 1, 1, "nc"),
               "path": [_node("0", leaf["d"], 2, 1, "nd"), _node("0", l_hash, 1, 2),
                        _node("90", root, 3, 3)]}
    verdict_a, verdict_c = _verify(proof_a), _verify(proof_c)
    assert verdict_a.ok, verdict_a.reason
    assert verdict_c.ok, verdict_c.reason
    assert root in verdict_a.reason and root in verdict_c.reason


# ------------------------------------------------------------- strict reading, the root


@pytest.mark.parametrize("mutate, what", [
    (lambda t: t.replace('"type"', '"type":2,"type"', 1), "duplicate key"),
    (lambda t: t.replace('"hash":"461a', '"hash":"461A', 1), "64 lower-case hex"),
    (lambda t: t.replace('"hash":"461a', '"hash":" 461a', 1), "64 lower-case hex"),
    (lambda t: t.replace('"BTC":"1.000069"', '"BTC":"1' + "0" * 60 + '"', 1),
     "not a decimal string"),
    (lambda t: "[" * 100_000, "nested"),
    (lambda t: t.replace('"height":1', '"height":1.5', 1), "not an integer"),
])
def test_strict_parsing(mutate: Any, what: str) -> None:
    text = json.dumps(json.loads(EXAMPLE.read_text()), separators=(",", ":"))
    with pytest.raises(InputFileError, match=what):
        verify_okx_file(mutate(text), "p.json")


def test_the_published_root_is_compared() -> None:
    """A proof of a private tree verifies on its own; never against the published root."""
    text = EXAMPLE.read_text()
    published = "ac6b39d2a0aa8112bd1aadff5e7d4b5c2b91cd54d595262ba4367f5d2db4160d"
    verdict = verify_okx_file(text, "p.json", root={"root_hash": published})
    assert verdict.ok, verdict.reason
    private = okx_proof_files([("me", {"BTC": "1.000069"})], b"k")["me"]
    assert verify_okx_file(private, "p.json").ok  # alone, a one-customer tree is consistent
    verdict = verify_okx_file(private, "p.json", root={"root_hash": published})
    assert not verdict.ok and "published root" in verdict.reason
    verdict = verify_okx_file(text, "p.json", root={
        "root_hash": published, "height": 24,
        "balances": {"BTC": "1", "ETH": "939953.49090361", "USDT": "3137909428.88369702"}})
    assert not verdict.ok and "balances" in verdict.reason
