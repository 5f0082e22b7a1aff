"""The OKX v1 verifier's verdicts in each language: every verdict, on OKX's own example proof
altered one way per verdict, reads in Japanese with its specifics (paths, heights, types,
hashes, sums) and in English word for word as kinko has always said it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from saying import EN, JA, english_left, said

from kinko.domain.messages import decode
from kinko.domain.okx import ASSETS, Verdict, okx_proof_files, verify_okx_file
from kinko.errors import InputFileError
from kinko.i18n import catalog_ids

EXAMPLE = Path(__file__).resolve().parents[1] / "data" / "por" / "okx_merkle_proof_file.json"
ROOT = "ac6b39d2a0aa8112bd1aadff5e7d4b5c2b91cd54d595262ba4367f5d2db4160d"
TOTALS = {"BTC": "95088.55505656", "ETH": "939953.49090361", "USDT": "3137909428.88369702"}
# what Japanese keeps as the file writes it: the leaf's formula, a field, the asset symbols
KEPT = ("sha256(nonce + balances)", "self", *ASSETS)


def example() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(EXAMPLE.read_text())
    return doc


def altered(change: Callable[[dict[str, Any]], None]) -> str:
    doc = example()
    change(doc)
    return json.dumps(doc)


def setting(*at: Any) -> Callable[[dict[str, Any]], None]:
    """A change of the example: the field at ``at[:-1]`` set to ``at[-1]``."""
    def change(doc: dict[str, Any]) -> None:
        node = doc
        for step in at[:-2]:
            node = node[step]
        node[at[-2]] = at[-1]
    return change


def unchanged(doc: dict[str, Any]) -> None:
    return None


# (catalog id, the change, the published root, kinko's English words for it)
VERDICTS: list[tuple[str, Callable[[dict[str, Any]], None], dict[str, Any] | None, str]] = [
    ("okx.verdict.self_type", setting("self", "type", 100000), None,
     "self.type is 100000; a leaf must be 1 (left) or 2 (right)"),
    ("okx.verdict.leaf_altered", setting("self", "balances", "BTC", "2.000069"), None,
     "self.hash is not sha256(nonce + balances): the leaf was altered"),
    ("okx.verdict.negative", setting("path", 2, "balances", "USDT", "-1"), None,
     "negative balance at path[2].balances.USDT (a sum tree cannot hide debts)"),
    ("okx.verdict.same_side", setting("path", 0, "type", 2), None,
     "path[0] is on the same side as self"),
    ("okx.verdict.sibling_leaf_altered", setting("path", 0, "balances", "USDT", "0.00007283"),
     None, "path[0].hash is not sha256(nonce + balances): the sibling leaf was altered"),
    ("okx.verdict.height", setting("path", 4, "height", 7), None,
     "path[4].height is 7, expected 5"),
    ("okx.verdict.sibling_type", setting("path", 3, "type", 7), None,
     "path[3].type is 7; a sibling must be 1, 2 or 4"),
    ("okx.verdict.padding_balance", setting("path", 5, "type", 4), None,
     "path[5] is padding (type 4) but holds a balance"),
    ("okx.verdict.root_type", setting("path", 23, "type", 2), None,
     "path[23] (the last node) has type 2, not 3 (root)"),
    ("okx.verdict.root_height", setting("path", 23, "height", 25), None,
     "root height is 25, the path reaches 24"),
    ("okx.verdict.sums", setting("path", 5, "balances", "ETH", "0.00000001"), None,
     "balances do not add up to the root's (path sums to BTC 95088.55505656, "
     "ETH 939953.49090362, USDT 3137909428.88369702)"),
    ("okx.verdict.root_hash", setting("path", 7, "hash", "0" * 64), None,
     "recomputed root hash {computed} differs from the file's " + ROOT
     + ": a hash or balance on the path was altered"),
    ("okx.verdict.other_tree", unchanged, {"root_hash": "ab" * 32},
     f"the proof ends in root {ROOT}, not in the published root {'ab' * 32}: it belongs "
     "to another tree"),
    ("okx.verdict.published_height", unchanged, {"root_hash": ROOT, "height": 23},
     "the proof reaches height 24, the published root is at 23"),
    ("okx.verdict.published_balances", unchanged,
     {"root_hash": ROOT, "height": 24, "balances": dict(TOTALS, BTC="1")},
     "the proof's root balances differ from the published root's balances"),
    ("okx.verdict.holds", unchanged, {"root_hash": ROOT, "height": 24, "balances": TOTALS},
     f"leaf and 23 level(s) recomputed; root {ROOT} at height 24 (BTC 95088.55505656, "
     "ETH 939953.49090361, USDT 3137909428.88369702)"),
]


def specifics(verdict: Verdict) -> list[str]:
    return [str(v) for v in verdict.said.params.values()]


@pytest.mark.parametrize("message_id, change, root, english", VERDICTS,
                         ids=[v[0].rsplit(".", 1)[1] for v in VERDICTS])
def test_each_verdict_reads_in_japanese_with_its_specifics_and_in_english_as_before(
        message_id: str, change: Callable[[dict[str, Any]], None], root: dict[str, Any] | None,
        english: str) -> None:
    verdict = verify_okx_file(altered(change), "okx.json", root)
    assert verdict.ok is (message_id == "okx.verdict.holds"), verdict.reason
    assert verdict.said.id == message_id, verdict.reason
    if "{computed}" in english:  # the hash the altered path leads to
        english = english.format(computed=verdict.said.params["computed"])
        assert verdict.said.params["computed"] != ROOT
    assert verdict.reason == english
    assert EN.text(verdict.said) == english  # the catalog's words are the verifier's own
    ja = JA.text(verdict.said)
    assert ja != english
    for value in specifics(verdict):
        assert value in ja, (value, ja)
    assert not english_left(ja, *specifics(verdict), *KEPT), ja
    assert decode(verdict.said.to_json()) == verdict.said  # kept as it is where it is kept


def test_every_verdict_is_tried() -> None:
    ids = {i for i in catalog_ids("en") if i.startswith("okx.verdict.")}
    assert ids == {v[0] for v in VERDICTS}
    assert ids <= set(catalog_ids("ja"))


def test_the_verdicts_read_as_an_auditor_reads_them() -> None:
    said = {v[0]: JA.text(verify_okx_file(altered(v[1]), "okx.json", v[2]).said)
            for v in VERDICTS}
    assert said["okx.verdict.self_type"] == (  # a number as the file writes it, not 100,000
        "self.type が 100000 です。顧客自身の葉は 1（左）か 2（右）でなければなりません")
    assert said["okx.verdict.leaf_altered"] == (
        "self.hash が sha256(nonce + balances) と一致しません。顧客自身の葉が改ざんされています")
    assert said["okx.verdict.negative"] == (
        "path[2].balances.USDT の残高が負の値です（合計の木の中で負債を隠すことは認められません）")
    assert said["okx.verdict.height"] == "path[4].height が 7 です。5 でなければなりません"
    assert said["okx.verdict.sums"] == (
        "残高の合計がルートの残高と一致しません（path の合計は BTC 95088.55505656、"
        "ETH 939953.49090362、USDT 3137909428.88369702）")
    assert said["okx.verdict.other_tree"] == (
        f"この証明はルート {ROOT} に至り、公開されたルート {'ab' * 32} には至りません。"
        "別の木の証明です")
    assert said["okx.verdict.holds"] == (
        f"葉と 23 段の親ノードを再計算し、高さ 24 のルート {ROOT}（合計 BTC 95088.55505656、"
        "ETH 939953.49090361、USDT 3137909428.88369702）と一致しました")


def test_a_written_proof_with_padding_says_so_in_both_languages() -> None:
    """kinko's own OKX proofs pad an odd level with an empty node (type 4): a balance put in
    it is refused, naming the node."""
    files = okx_proof_files([("a", {"BTC": "1"}), ("b", {"BTC": "2"}), ("c", {"BTC": "3"})],
                            b"k")
    doc = json.loads(files["c"])
    assert doc["path"][0]["type"] == 4
    doc["path"][0]["balances"]["ETH"] = "0.5"
    verdict = verify_okx_file(json.dumps(doc), "c.json")
    assert not verdict.ok and verdict.said.id == "okx.verdict.padding_balance"
    assert EN.text(verdict.said) == verdict.reason == (
        "path[0] is padding (type 4) but holds a balance")
    assert JA.text(verdict.said) == "path[0] はパディング（種別 4）ですが、残高があります"


def test_a_published_height_of_any_length_is_said_cut_short() -> None:
    """The published root's height is a value from a file: the English says it as it is,
    the message keeps its first 300 characters."""
    verdict = verify_okx_file(EXAMPLE.read_text(), "okx.json",
                              {"root_hash": ROOT, "height": int("9" * 1000)})
    assert verdict.said.id == "okx.verdict.published_height"
    assert verdict.reason == ("the proof reaches height 24, the published root is at "
                              + "9" * 1000)
    assert verdict.said.params["published"] == "9" * 300


@pytest.mark.parametrize("height", ["24", 24.0, True, 0, -24, None, [24]])
def test_a_published_height_that_is_no_positive_integer_is_refused_by_name(
        height: object) -> None:
    """The published root.json's height is compared with the proof's only as an integer: a
    text "24" is not said to differ from the proof's 24; it is refused as what it is."""
    with pytest.raises(InputFileError) as caught:
        verify_okx_file(EXAMPLE.read_text(), "okx.json", {"root_hash": ROOT, "height": height})
    ja, en = said(caught.value)
    assert en == caught.value.message == (
        f"the published root's height is not a positive integer: {height!r}")
    assert ja == f"公開されたルートの高さ（height）が正の整数ではありません：{height!r}"

