"""The proof verifier's refusals in each language: the standalone file keeps its English words
and names each refusal by a key with its specifics; kinko says it from the catalog
(``proof.<key>``), in Japanese with the same specifics, in English word for word as before."""

from __future__ import annotations

import ast
import copy
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from saying import EN, JA, english_left, said

from kinko import verify_proof as standalone
from kinko.domain.messages import msg
from kinko.domain.okx import verify_okx_file
from kinko.domain.proof_errors import proof_said
from kinko.domain.reserves import (
    AssetSpec,
    Leaf,
    SumTree,
    build_tree,
    parse_json,
    verify_proof,
    verify_root,
)
from kinko.errors import BadInput, InputFileError
from kinko.i18n import catalog_ids
from kinko.i18n.catalogs import placeholders
from kinko.services.reserves import read_json
from kinko.verify_proof import ProofError

ASSETS = [AssetSpec("BTC", 8, "bitcoin"), AssetSpec("JPY", 0, "fiat")]


@pytest.fixture(scope="module")
def tree() -> SumTree:
    leaves = [Leaf(f"C{i}", os.urandom(32), (i * 100, i)) for i in range(3)]
    return build_tree(bytes(range(16)), ASSETS, leaves, min_height=2)


@pytest.fixture()
def proof(tree: SumTree) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(dict(tree.proofs())["C1"])
    return found


def refused(call: Any, *args: Any, **kwargs: Any) -> BadInput:
    with pytest.raises(BadInput) as caught:
        call(*args, **kwargs)
    return caught.value


# --- (a) distinct refusals, each with its specifics in Japanese and its English as before ----

def test_a_key_given_twice_names_the_file_and_the_key(tmp_path: Path) -> None:
    path = tmp_path / "dup.json"
    path.write_bytes(b'{"format": 1, "format": 2}')
    with pytest.raises(InputFileError) as caught:
        read_json(path, "proof")
    ja, en = said(caught.value)
    assert ja == f'{path} の証明：一つの JSON オブジェクトの中でキー "format" が重複しています'
    assert en == caught.value.message == (
        f'{path}: the proof: duplicate key "format" in one JSON object')


def test_a_tampered_balance_names_both_roots(tree: SumTree, proof: dict[str, Any]) -> None:
    proof["customer"]["balances"][0] = "101"
    exc = refused(verify_proof, proof, tree.root, customer="C1")
    ja, en = said(exc)
    computed = re.search(r"root ([0-9a-f]{64}),", exc.message)
    assert computed is not None and computed.group(1) != tree.root.hex()
    assert ja == (f"証明から計算したルートは {computed.group(1)} で、{tree.root.hex()} ではあり"
                  "ません。証明が改ざんされたか、別のスナップショットのものです")
    assert en == exc.message == (f"the proof leads to root {computed.group(1)}, not "
                                 f"{tree.root.hex()}: it was altered or belongs to another "
                                 "snapshot")
    with pytest.raises(ProofError, match="^" + re.escape(en) + "$"):  # the customer's own
        standalone.verify(proof, tree.root.hex(), "C1")


def test_a_proof_of_another_customer_names_both(tree: SumTree, proof: dict[str, Any]) -> None:
    ja, en = said(refused(verify_proof, proof, tree.root, customer="C2"))
    assert ja == 'この証明は顧客 "C1" のもので、"C2" のものではありません'
    assert en == 'this proof is for customer "C1", not "C2"'
    ja, en = said(refused(verify_proof, proof, tree.root, customer="C1\x1b[2J"))
    assert ja == '指定された顧客 ID："C1\\x1b[2J" に制御文字が含まれています'
    assert en == 'the customer id given: "C1\\x1b[2J" contains control characters'


def test_an_oversized_file_names_its_limit(tmp_path: Path) -> None:
    exc = refused(parse_json, b"[" + b"0," * 600 + b"0]", "p.json: the proof", 1000,
                  what_said=msg("proof.word.file", file="p.json",
                                what=msg("error.reserves.file.proof")))
    ja, en = said(exc)
    assert ja == "p.json の証明：1000 バイトを超えています"  # as written, never 1,000
    assert en == exc.message == "p.json: the proof is larger than 1000 bytes"
    big = b'"' + b"a" * standalone.MAX_BYTES + b'"'
    with pytest.raises(InputFileError) as caught:
        verify_okx_file(big, "okx.json")
    ja, en = said(caught.value)
    assert ja == f"okx.json：{standalone.MAX_BYTES} バイトを超えています"
    assert en == caught.value.message == f"okx.json is larger than {standalone.MAX_BYTES} bytes"


def test_a_malformed_root_hash_names_the_field(tree: SumTree) -> None:
    root = tree.root_json()
    root["root_hash"] = root["root_hash"].upper()
    ja, en = said(refused(verify_root, root))
    assert ja == "root.json root_hash：小文字の 16 進数 64 桁ではありません"
    assert en == "root.json root_hash: expected 64 lower-case hex digits"
    root = tree.root_json()
    root["totals"][0] = "1"
    ja, en = said(refused(verify_root, root))
    assert ja.startswith("root.json がそのルートハッシュと一致しません。") and "改ざん" in ja
    assert en == ("root.json does not match its root hash: its snapshot, top hash or totals "
                  "were altered")


def test_an_okx_file_that_is_no_strict_json_is_said_in_japanese() -> None:
    for text, ja_said, en_said in (
            ('{"self": 1, "self": 2}',
             'okx.json：一つの JSON オブジェクトの中でキー "self" が重複しています',
             'okx.json: duplicate key "self" in one JSON object'),
            ('{"self": NaN}', "okx.json：NaN は JSON では使えません",
             "okx.json: NaN is not allowed in JSON"),
            ('{"self": 1.5}',
             "okx.json：数値 1.5 が整数ではありません（金額は 10 進数の文字列で書かれます）",
             "okx.json: number 1.5 is not an integer (amounts are decimal strings)")):
        with pytest.raises(InputFileError) as caught:
            verify_okx_file(text, "okx.json")
        ja, en = said(caught.value)
        assert (ja, en) == (ja_said, en_said)
        assert en == caught.value.message


def test_the_verifiers_own_words_are_said_in_japanese(tree: SumTree,
                                                       proof: dict[str, Any]) -> None:
    old = dict(proof, format="kinko-por-v1")
    ja, en = said(refused(verify_proof, old, tree.root))
    assert ja == ("証明：旧形式 kinko-por-v1 です。この形式は保有資産の側も顧客数も束縛して"
                  "いません。取引所に kinko-por-v2 形式の証明を求めてください")
    assert en.startswith("proof is in the old format kinko-por-v1, which binds neither")
    ja, en = said(refused(verify_proof, {k: v for k, v in proof.items() if k != "path"},
                          tree.root))
    assert (ja, en) == ("証明：path がありません", "proof: missing path")
    ja, en = said(refused(build_tree, bytes(16), ASSETS, [Leaf("", b"\0" * 32, (0, 0))]))
    assert (ja, en) == ("顧客 ID：空であるか、文字列ではありません",
                        "customer id: expected a non-empty string")


def test_every_single_change_to_a_proof_is_refused_in_both_languages(
        tree: SumTree, proof: dict[str, Any]) -> None:
    """Each field of a proof replaced by values of every kind, or left out: each refusal is
    a proof.<key> message whose English is the verifier's words and whose Japanese holds no
    English word besides the specifics it names."""
    values: list[Any] = [None, -1, 2**130, "x", [], {}, "0" * 64, True, "", "1" * 40]
    seen: set[str] = set()

    def paths(node: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        inner = (node.items() if isinstance(node, dict)
                 else enumerate(node) if isinstance(node, list) else [])
        return [at, *(p for k, v in inner for p in paths(v, (*at, k)))]

    for at in paths(proof)[1:]:
        for value in [*values, ...]:
            bad = copy.deepcopy(proof)
            parent = bad
            for step in at[:-1]:
                parent = parent[step]
            if value is ...:
                del parent[at[-1]]
            else:
                parent[at[-1]] = value
            try:
                verify_proof(bad, tree.root, customer="C1")
            except BadInput as exc:
                said_as = exc.said()
                assert said_as.id.startswith("proof."), exc.message
                seen.add(said_as.id)
                ja, en = said(exc)
                assert en == exc.message
                specifics = [str(v) for v in said_as.params.values() if isinstance(v, str)]
                assert not english_left(ja, *specifics), (ja, en)
    assert len(seen) >= 10, seen


def test_a_refusal_without_a_key_says_its_english_words() -> None:
    message = proof_said(ProofError("the proof is odd"))
    assert message.id == "error.reserves.proof"
    assert EN.text(message) == "the proof is odd"
    assert JA.text(message) == "スナップショットまたは証明が正しくありません（the proof is odd）"


def test_the_standalone_file_still_prints_its_english(tmp_path: Path, tree: SumTree,
                                                      capsys: pytest.CaptureFixture[str]
                                                      ) -> None:
    path = tmp_path / "p.json"
    path.write_bytes(b'{"a": 1, "a": 2}')
    assert standalone.main([str(path), tree.root.hex(), "--customer", "C1"]) == 1
    err = capsys.readouterr().err
    assert err == f'FAIL: proof "{path}": duplicate key "a" in one JSON object\n'


# --- (c) every refusal of the verifier has its key, and every key its words -------------------

SOURCE = Path(standalone.__file__)


def refusals(source: str) -> tuple[dict[str, list[set[str]]], list[str]]:
    """The keys the refusals of ``source`` give, each with the names of its specifics per
    refusal, and the refusals (``ProofError(...)``, ``_fail(...)``) made without a literal
    key. ``_fail`` itself hands its key on to ProofError."""
    keys: dict[str, list[set[str]]] = {}
    bare: list[str] = []
    lines = source.splitlines()
    tree = ast.parse(source)
    handing_on: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == "_fail":
            handing_on |= {id(call) for call in ast.walk(node) if isinstance(call, ast.Call)}
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id in ("ProofError", "_fail")) or id(node) in handing_on:
            continue
        key = node.args[1] if len(node.args) > 1 else None
        if not (isinstance(key, ast.Constant) and isinstance(key.value, str)) \
                or any(k.arg is None for k in node.keywords):
            bare.append(f"{node.lineno}: {lines[node.lineno - 1].strip()}")
            continue
        keys.setdefault(key.value, []).append({str(k.arg) for k in node.keywords})
    return keys, bare


def test_every_refusal_of_the_verifier_names_its_key() -> None:
    keys, bare = refusals(SOURCE.read_text(encoding="utf-8"))
    assert not bare, "refusals without a key:\n" + "\n".join(bare)
    assert len(keys) >= 45, "fewer keys found than the verifier has: the walk is broken"


def test_the_walk_finds_a_refusal_without_its_key() -> None:
    source = ("def _fail(message, key, /, **params):\n"
              "    raise ProofError(message, key, **params)\n\n"
              "def f(x):\n    _fail(f'bad {x}')\n\n"
              "def g(x):\n    raise ProofError('no')\n\n"
              "def h(x, key):\n    _fail('bad', key)\n\n"
              "def i(x):\n    _fail('bad', 'bad', value=x)\n")
    keys, bare = refusals(source)
    assert keys == {"bad": [{"value"}]}
    assert bare == ["5: _fail(f'bad {x}')", "8: raise ProofError('no')", "11: _fail('bad', key)"]


def test_every_key_has_its_words_in_both_catalogs_with_its_specifics() -> None:
    keys, _bare = refusals(SOURCE.read_text(encoding="utf-8"))
    catalogs = {lang: catalog_ids(lang) for lang in ("en", "ja")}
    for key, uses in sorted(keys.items()):
        for lang, ids in catalogs.items():
            text = ids.get(f"proof.{key}")
            assert text, f"proof.{key}: no {lang} text"
            for names in uses:  # each refusal gives exactly what its words name
                assert placeholders(text) == names, (key, lang, sorted(names))
        assert catalogs["ja"][f"proof.{key}"] != catalogs["en"][f"proof.{key}"], key


def test_the_verifier_imports_the_standard_library_only() -> None:
    found = set()
    for node in ast.walk(ast.parse(SOURCE.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            found.add(str(node.module).split(".")[0] if node.level == 0 else ".")
    assert found and found <= set(sys.stdlib_module_names) | {"__future__"}, found
