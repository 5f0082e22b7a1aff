"""An error in the reader's language: its own catalog message when it has one, else its
class's sentence; the English words stay the error's (the CLI, the API, the logs)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import kinko
import kinko.api.app  # every error class of the services and the API, loaded
from kinko.domain.messages import decode, msg
from kinko.errors import InvalidAddress, KinkoError, NotFound, Throttled
from kinko.i18n import Localizer, catalog_ids
from kinko.i18n.catalogs import problems

JA, EN = Localizer("ja"), Localizer("en")


def _classes(root: type[KinkoError]) -> list[type[KinkoError]]:
    return [root, *(c for sub in root.__subclasses__() for c in _classes(sub))]


def test_every_error_class_has_its_sentence_in_both_catalogs() -> None:
    codes = {c.code for c in _classes(KinkoError)}
    assert {"invalid_address", "not_found", "throttled", "kinko_error"} <= codes
    for lang in ("en", "ja"):
        ids = catalog_ids(lang)
        missing = sorted(code for code in codes if f"error.{code}" not in ids)
        assert not missing, (lang, missing)


def test_an_error_with_a_message_reads_in_each_language_and_keeps_its_english() -> None:
    exc = NotFound("unknown withdrawal 'W-1'", says=msg("error.unknown_withdrawal", id="W-1"))
    assert str(exc) == exc.message == "unknown withdrawal 'W-1'"
    assert exc.to_dict() == {"code": "not_found", "message": "unknown withdrawal 'W-1'",
                             "details": {}}  # the API's and --format json's shape, as it was
    assert JA.text(exc.said()) == "出金 W-1 はありません"
    assert EN.text(exc.said()) == "unknown withdrawal W-1"
    assert decode(exc.said().to_json()) == exc.said()  # kept in a timeline entry as it is
    throttled = Throttled("too many wrong keys", 900, says=msg("sign_in.throttled",
                                                                seconds=900))
    assert throttled.retry_after == 900 and "900 秒後" in JA.text(throttled.said())


def test_an_error_without_one_reads_as_its_class_in_japanese_and_as_written_in_english(
        ) -> None:
    exc = InvalidAddress("0xabc: not an address of ethereum (length 3)")
    said = exc.said()
    assert said.id == "error.invalid_address"
    assert EN.text(said) == "0xabc: not an address of ethereum (length 3)"
    ja = JA.text(said)
    assert ja.startswith("このチェーンのアドレスではありません") and "length" not in ja


def test_only_an_errors_detail_may_be_left_out_of_a_translation() -> None:
    assert not problems(["error.invalid_address", "error.unknown_withdrawal"])


def test_a_node_that_does_not_answer_is_said_in_japanese_on_a_timeline() -> None:
    from kinko.chains.evm import Transient
    from kinko.chains.retry import Retrying

    class Down:
        name = "ethereum"

        def head(self) -> int:
            raise Transient("connection refused")

    chain = Retrying(Down(), attempts=2, sleep=lambda _s: None)  # type: ignore[arg-type]
    try:
        chain.head()
    except KinkoError as exc:
        entry = msg("timeline.sweep.not_prepared", wallet="eth-hot", reason=exc.said())
        assert "connection refused" in exc.message
        assert JA.text(entry) == ("eth-hot の緊急移管を準備できなかった：ethereum のノードが"
                                  "応答しません（2 回試して断念しました）")
    else:
        raise AssertionError("a node down was not refused")


# Every error kinko makes says its specifics in each language: each kinko error a module
# makes (raised, or returned to be raised) carries ``says=``, and so does each reason put
# inside one (an address's ``Malformed``; a setting's, a policy value's or a refund file's
# ``ValueRefused``). The walk keeps the next change honest.
SOURCES = sorted(p for p in (Path(kinko.__file__).parent).rglob("*.py")
                 if "migrations" not in p.parts)  # (a migration runs before any catalog)
REASONS = {"Malformed", "ValueRefused"}


def _errors_made_without_words(path: Path) -> tuple[int, list[str]]:
    """How many kinko errors (or reasons) ``path`` makes, and those made without ``says``."""
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    classes = {c.__name__ for c in _classes(KinkoError)} | REASONS
    made, bare = 0, []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else (
            func.attr if isinstance(func, ast.Attribute) else "")
        if name not in classes:
            continue
        made += 1
        if not any(k.arg == "says" for k in node.keywords):
            bare.append(f"{path.name}:{node.lineno}: {lines[node.lineno - 1].strip()}")
    return made, bare


def test_every_error_kinko_makes_says_its_specifics_in_each_language() -> None:
    made, bare = 0, []
    for path in SOURCES:
        found, without = _errors_made_without_words(path)
        made, bare = made + found, [*bare, *without]
    assert made > 900, "fewer errors found than kinko makes: the walk is broken"
    assert not bare, f"{len(bare)} errors without says=msg(...):\n" + "\n".join(bare)


def test_the_walk_finds_an_error_made_without_its_words(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text("def f(x):\n    raise BadInput(f'bad {x}')\n\n"
                      "def g(x):\n    return errors.NotFound('no', says=msg('error.x'))\n",
                      encoding="utf-8")
    assert _errors_made_without_words(source) == (2, ["m.py:2: raise BadInput(f'bad {x}')"])


def test_a_value_quoted_into_a_sentence_cannot_turn_it_around() -> None:
    """A direction override in an account's name reversed the rest of the Japanese sentence
    (English quoted the name with repr, which escapes it); a control character in it
    could act on a terminal. Both are written as their escapes, a line break kept."""
    from kinko.domain.ledger import check_account
    from kinko.errors import InvalidAccount
    from kinko.i18n import Localizer

    with pytest.raises(InvalidAccount) as caught:
        check_account("customer:C1\u202etxt.exe\x1b")
    ja = Localizer("ja").text(caught.value.said())
    assert "\u202e" not in ja and "\x1b" not in ja and "\\u202e" in ja, ja
    assert Localizer("en").arg("a\nb\tc") == "a\nb\tc"
