"""``kinko audit list|verify``: the audit log read and its chain recomputed; an anchored
head kept outside the database catches records deleted from the end."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pytest
from clirun import CliRun, cli_runner


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> CliRun:
    run = cli_runner(monkeypatch, capsys, tmp_path, f"sqlite:///{tmp_path / 'k.db'}")
    assert run("apikeys", "create", "--name", "ops", "--role", "operator", "--by", "root")[0] == 0
    for name in ("alice", "bob"):  # who created it not said: the command line, unnamed
        assert run("apikeys", "create", "--name", name, "--role", "operator")[0] == 0
    return run


def _names(records: list[dict[str, str]]) -> list[str]:
    return [json.loads(r["detail"])["name"] for r in records]


def test_list_and_verify_print_the_head_to_keep(cli: CliRun) -> None:
    code, out, _ = cli("audit", "list", "--format", "json")
    records = json.loads(out)
    assert code == 0 and [r["action"] for r in records] == ["apikey.create"] * 3
    # who created each key, not the key's own name (which read as if it made itself)
    assert [r["actor"] for r in records] == ["cli:root", "cli", "cli"]
    assert _names(records) == ["ops", "alice", "bob"]
    code, out, _ = cli("audit", "list", "--after", "2", "--format", "csv")
    assert out.count("apikey.create") == 1
    code, out, _ = cli("audit", "verify")
    assert code == 0 and out.startswith("audit log OK: 3 records; head 3:")
    head = re.search(r"head (3:[0-9a-f]{64})", out)
    assert head
    code, out, _ = cli("audit", "verify", "--head", head.group(1), "--format", "json")
    assert code == 0 and json.loads(out)["ok"] is True


def test_the_limit_counts_the_actions_asked_for(cli: CliRun) -> None:
    """``--limit N --action A``: the first N records of actions starting with A, however
    many other records come between them; ``_`` in A is a plain character."""
    listed = json.loads(cli("apikeys", "list", "--format", "json")[1])
    for key in listed:
        assert cli("apikeys", "revoke", key["id"], "--by", "root")[0] == 0
    for name in ("carol", "dave"):
        assert cli("apikeys", "create", "--name", name, "--role", "operator")[0] == 0
    # apikey.create x3, apikey.revoke x3, apikey.create x2
    code, out, _ = cli("audit", "list", "--action", "apikey.create", "--limit", "4",
                       "--format", "json")
    records = json.loads(out)
    assert code == 0 and _names(records) == ["ops", "alice", "bob", "carol"], records
    code, out, _ = cli("audit", "list", "--action", "apikey_", "--format", "json")
    assert code == 0 and json.loads(out) == []  # not a wildcard


def test_a_deleted_tail_is_caught_only_against_an_anchored_head(cli: CliRun,
                                                                tmp_path: Path) -> None:
    anchor = tmp_path / "elsewhere" / "audit.anchor"
    anchor.parent.mkdir()
    code, _, err = cli("audit", "verify", "--anchor", str(anchor))
    assert code == 0 and "head anchored" in err
    assert re.fullmatch(r"3:[0-9a-f]{64} \S+\n", anchor.read_text())
    with sqlite3.connect(tmp_path / "k.db") as db:
        db.execute("DELETE FROM audit_log WHERE seq = 3")
    assert cli("audit", "verify")[0] == 0  # the chain that is left is consistent
    code, out, _ = cli("audit", "verify", "--anchor", str(anchor))
    assert code == 1
    assert "AUDIT LOG TAMPERED: first problem at record 3: audit record 3, the anchored " \
        "head, is missing: the log ends at record 2" in out
    assert anchor.read_text().count("\n") == 1  # a failed check anchors nothing


def test_an_edit_or_a_gap_is_named(cli: CliRun, tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "k.db") as db:
        db.execute("UPDATE audit_log SET actor = 'mallory' WHERE seq = 2")
    code, out, _ = cli("audit", "verify")
    assert code == 1 and "first problem at record 2: audit record 2 was altered" in out
    with sqlite3.connect(tmp_path / "k.db") as db:
        db.execute("DELETE FROM audit_log WHERE seq = 2")
    code, out, _ = cli("audit", "verify", "--format", "json")
    problems = json.loads(out)["problems"]
    assert code == 1 and problems[0] == {"seq": 2, "message": "audit record 2 is missing"}


def test_a_bad_anchor_is_a_clean_error(cli: CliRun, tmp_path: Path) -> None:
    code, _, err = cli("audit", "verify", "--head", "three:abc")
    assert code == 2 and "SEQ:HASH" in err
    (tmp_path / "bad.anchor").write_text("not a head\n")
    code, _, err = cli("audit", "verify", "--anchor", str(tmp_path / "bad.anchor"))
    assert code == 2 and "bad.anchor: its last line" in err
    code, _, err = cli("audit", "verify", "--head", "1:" + "0" * 64, "--anchor", "x")
    assert code == 2 and "not both" in err
    # and in Japanese, with the file and its line
    code, _, err = cli("--lang", "ja", "audit", "verify", "--anchor", str(tmp_path / "bad.anchor"))
    assert code == 2 and err == (f"エラー：{tmp_path / 'bad.anchor'} の最終行：保管した先頭は "
                                 "SEQ:HASH（verify が表示した通し番号と 16 進数 64 桁）の形で"
                                 "書いてください（'not a head' は使えません）\n"), err
    (tmp_path / "folder.anchor").mkdir()
    code, _, err = cli("--lang", "ja", "audit", "verify", "--anchor",
                       str(tmp_path / "folder.anchor"))
    assert code == 2 and err.startswith(f"エラー：{tmp_path / 'folder.anchor'} は通常のファイル"
                                        "ではありません"), err


@pytest.mark.parametrize(("edit", "named"), [
    ("UPDATE audit_log SET at_us = 'noon' WHERE seq = 3",
     "audit_log.at_us of row 3 holds 'noon'"),
    ("UPDATE audit_log SET detail = X'FF' WHERE seq = 3",
     "audit_log.detail of row 3 holds b'\\xff'"),
    ("UPDATE audit_log SET at_us = 1e30 WHERE seq = 3", "audit_log.at_us of row 3 holds 1e+30"),
    ("UPDATE audit_log SET seq = 'x' WHERE seq = 3", "audit_log.seq of row 'x' holds 'x'"),
])
def test_a_value_kinko_never_writes_is_named_not_a_crash(cli: CliRun, tmp_path: Path,
                                                         edit: str, named: str) -> None:
    """SQLite keeps whatever an UPDATE writes (text in a number's column, bytes in a
    text's): verify names the record, exit 1, as it names an altered hash; an earlier
    edit is still the first problem."""
    with sqlite3.connect(tmp_path / "k.db") as db:
        db.execute(edit)
    code, out, err = cli("audit", "verify")
    assert code == 1, out + err
    assert "AUDIT LOG TAMPERED: first problem at record 3: " + named in out
    assert "altered outside kinko" in out and "defect" not in err
    with sqlite3.connect(tmp_path / "k.db") as db:
        db.execute("UPDATE audit_log SET actor = 'x' WHERE seq = 2")
    code, out, _ = cli("audit", "verify", "--format", "json")
    problems = json.loads(out)["problems"]
    assert code == 1 and [p["seq"] for p in problems] == [2, 3], problems
    code, _, err = cli("audit", "list")  # a reader of the log names the row too
    assert code == 1 and named in err and "defect" not in err
