"""End to end through the command line, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from clirun import cli_runner

from kinko.cli import main

BEAN_CHECK = Path(sys.executable).parent / "bean-check"


@pytest.fixture
def cli(store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    run = cli_runner(monkeypatch, capsys, tmp_path, store_url)
    assert run("wallets", "add", "xem-hot", "--asset", "XEM", "--tier", "hot")[0] == 0
    return run


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_import_post_balances_verify(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    csv = write(tmp_path / "c.csv", "customer_id,asset,balance\nC1,XEM,10.5\nC2,XEM,0.000001\n"
                                    "C1,JPY,30000\nC3,ETH,1.000000000000000001\n")
    code, out, _ = cli("customers", "import", str(csv))
    assert code == 0, out
    assert "4 rows" in out
    code, out, _ = cli("ledger", "post", "--key", "dep-1", "--source", "tx:0x01",
                       "--debit", "wallet:xem-hot 2 XEM", "--credit", "customer:C1 2 XEM")
    assert code == 0
    code, out, _ = cli("balances", "--customer", "C1", "--format", "json")
    rows = {r["asset"]: r for r in json.loads(out)}
    assert rows["XEM"]["balance"] == "12.5" and rows["JPY"]["balance"] == "30000"
    code, out, _ = cli("balances", "--kind", "customer", "--asset", "ETH", "--format", "csv")
    assert "customer:C3,ETH,1.000000000000000001" in out
    code, out, _ = cli("balances", "--customer", "C1", "--as-of-entry", "1", "--format", "json")
    assert {r["asset"]: r["balance"] for r in json.loads(out)}["XEM"] == "10.5"
    code, out, _ = cli("ledger", "verify")
    assert code == 0 and "ledger OK" in out
    # the same import again: every batch is already there, nothing is written
    code, out, _ = cli("customers", "import", str(csv))
    assert code == 0 and "0 batches written, 1 already imported" in out


def test_post_from_json_and_idempotent_replay(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    entry = {"key": "k1", "source": "tx:1", "postings": [
        {"account": "wallet:xem-hot", "asset": "XEM", "amount": "1.5"},
        {"account": "customer:C1", "asset": "XEM", "amount": "-1.5"}]}
    path = write(tmp_path / "e.json", json.dumps(entry))
    assert cli("ledger", "post", "--json", str(path))[0] == 0
    code, out, _ = cli("ledger", "post", "--json", str(path))
    assert code == 0 and "replayed" in out
    entry["postings"][0]["amount"] = 1.5  # a float is refused
    code, _, err = cli("ledger", "post", "--json", str(write(tmp_path / "f.json", json.dumps(entry))))
    assert code == 2 and "floats are refused" in err


@pytest.mark.parametrize("change, message", [
    ({"postings": 5}, "f.json: postings must be a list of postings"),  # was a TypeError, exit 70
    ({"key": {"a": 1}}, "f.json: key must be a string"),  # was the key "{'a': 1}"
    ({"source": [1]}, "f.json: source must be a string"),
    ({"memo": {"m": 1}}, "f.json: memo must be a string"),
    ({"postings": [{"account": ["customer:C1"], "asset": "XEM", "amount": "1"}]},
     "f.json: postings[0]: account and asset must be strings"),
    # a key misspelt was ignored: the entry was posted at the current time, not then
    ({"at": "2018-01-26T00:00:00+09:00"}, "f.json: unknown key(s) 'at' (an entry has key, "
                                          "memo, postings, source, timestamp)"),
    ({"postings": [{"account": "customer:C1", "asset": "XEM", "amount": "1", "memo": "x"}]},
     "f.json: postings[0]: needs account, asset and amount, and nothing else"),
])
def test_post_from_json_refuses_a_field_of_the_wrong_type(  # type: ignore[no-untyped-def]
        cli, tmp_path: Path, change: dict[str, object], message: str) -> None:
    entry = {"key": "k1", "source": "tx:1", "postings": [
        {"account": "wallet:xem-hot", "asset": "XEM", "amount": "1.5"},
        {"account": "customer:C1", "asset": "XEM", "amount": "-1.5"}]} | change
    code, _, err = cli("ledger", "post", "--json", str(write(tmp_path / "f.json",
                                                             json.dumps(entry))))
    assert code == 2 and message in err, err
    assert "k1" not in cli("ledger", "entries", "--format", "json")[1]


@pytest.mark.parametrize("body, message", [
    ("customer_id,asset\nC1,XEM\n", "c.csv:1: missing column(s) balance"),
    ("customer_id,asset,balance\nC1,XEM,1\nC2,XEM\n", "c.csv:3: missing balance"),
    ("customer_id,asset,balance\nC1,XEM,1,5\nC2,XEM,abc\n", "c.csv:3: 'abc' is not a plain decimal"),
    ("customer_id,asset,balance\nC1,DOGE,1\n", "c.csv:2: unknown asset 'DOGE'"),
    ("customer_id,asset,balance\nC1,XEM,1\nC1,XEM,2\n", "c.csv:3: duplicate customer C1 asset XEM"),
    ("customer_id,asset,balance\nC1,XEM,-1\n", "c.csv:2: negative amount"),
    ("customer_id,asset,balance\nC1,XEM,1.0000001\n", "c.csv:2: 1.0000001 XEM has 7 decimal"),
    ("customer_id,asset,balance\nC1,XEM,NaN\n", "c.csv:2: 'NaN' is not a number"),
    ("customer_id,asset,balance\nC 1,XEM,1\n", "c.csv:2: account 'customer:C 1'"),
])
def test_bad_csv_stops_with_file_and_line_and_writes_nothing(cli, tmp_path: Path, body: str,  # type: ignore[no-untyped-def]
                                                             message: str) -> None:
    csv = write(tmp_path / "c.csv", body)
    code, _, err = cli("customers", "import", str(csv))
    assert code == 2
    assert message in err
    assert "Traceback" not in err
    code, out, _ = cli("balances", "--format", "json")
    assert json.loads(out) == []


def test_reimport_with_changed_balance_is_refused(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cli("customers", "import", str(write(tmp_path / "a.csv", "customer_id,asset,balance\nC1,XEM,1\n")))
    code, _, err = cli("customers", "import",
                       str(write(tmp_path / "b.csv", "customer_id,asset,balance\nC2,XEM,1\nC1,XEM,2\n")))
    assert code == 2 and "b.csv:3: customer C1 already has a XEM balance" in err
    code, out, _ = cli("balances", "--customer", "C2", "--format", "json")
    assert json.loads(out) == []


def test_refusals_exit_2_with_a_message(cli) -> None:  # type: ignore[no-untyped-def]
    code, _, err = cli("ledger", "post", "--key", "x", "--source", "t",
                       "--debit", "wallet:xem-hot 2 XEM", "--credit", "customer:C1 1 XEM")
    assert code == 2 and "does not balance" in err
    code, _, err = cli("ledger", "post", "--key", "x", "--source", "t",
                       "--debit", "customer:C1 2 XEM", "--credit", "wallet:xem-hot 2 XEM")
    assert code == 2 and "may not go below zero" in err
    code, _, err = cli("holds", "open", "--key", "h", "--id", "W1", "--debit", "customer:C1",
                       "--credit", "wallet:xem-hot", "--amount", "1 XEM", "--source", "r")
    assert code == 2 and "below zero" in err


def test_holds_from_the_command_line(cli) -> None:  # type: ignore[no-untyped-def]
    cli("ledger", "post", "--key", "d", "--source", "t", "--debit", "wallet:xem-hot 10 XEM",
        "--credit", "customer:C1 10 XEM")
    assert cli("holds", "open", "--key", "h", "--id", "W1", "--debit", "customer:C1", "--credit",
               "wallet:xem-hot", "--amount", "4 XEM", "--expires", "1h", "--source", "r")[0] == 0
    code, out, _ = cli("balances", "--customer", "C1", "--format", "json")
    assert json.loads(out)[0]["available"] == "6"
    assert cli("holds", "post", "--key", "p", "--id", "W1", "--amount", "3 XEM",
               "--source", "tx")[0] == 0
    code, _, err = cli("holds", "void", "--key", "v", "--id", "W1", "--source", "ops")
    assert code == 2 and "resolved exactly once" in err
    code, out, _ = cli("balances", "--customer", "C1", "--format", "json")
    assert json.loads(out)[0] == {"account": "customer:C1", "asset": "XEM", "balance": "7",
                                  "held": "0", "available": "7"}


def test_verify_exits_1_after_tampering(cli, store_url: str) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import create_engine, text

    cli("ledger", "post", "--key", "d", "--source", "t", "--debit", "wallet:xem-hot 10 XEM",
        "--credit", "customer:C1 10 XEM")
    engine = create_engine(store_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:
        conn.execute(text("UPDATE entries SET memo = 'edited' WHERE seq = 1"))
    engine.dispose()
    code, out, _ = cli("ledger", "verify")
    assert code == 1 and "first problem at entry 1" in out


def test_verify_names_an_altered_idempotency_digest(cli, store_url: str) -> None:  # type: ignore[no-untyped-def]
    """The digest a retried request is compared with is not in the chain's hash: one copied
    from another entry would have a retry of that other request taken for this entry (its
    answer replayed, nothing written) and a retry of this one refused. verify names it."""
    from sqlalchemy import create_engine, text

    for key, amount in (("d1", 10), ("d2", 20)):
        cli("ledger", "post", "--key", key, "--source", "t", "--debit",
            f"wallet:xem-hot {amount} XEM", "--credit", f"customer:C1 {amount} XEM")
    engine = create_engine(store_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:
        conn.execute(text("UPDATE entries SET digest = (SELECT digest FROM entries WHERE "
                          "key = 'd2') WHERE key = 'd1'"))
    engine.dispose()
    code, out, _ = cli("ledger", "verify")
    assert code == 1 and "first problem at entry 1: entry 1 (d1): its idempotency digest " \
        "was altered" in out


def test_positions_as_of_a_past_time_name_entries_backdated_across_it(cli) -> None:  # type: ignore[no-untyped-def]
    """Positions "as the ledger stood at" T count every entry dated by T, also one appended
    later with an earlier date (`ledger post --at`): an exchange could so change, after an
    incident, what its books showed at the incident's time. The report names such entries."""
    for n, (at, amount) in enumerate((("2018-01-26T00:00:00+09:00", 10),
                                      ("2018-01-26T01:00:00+09:00", 5),
                                      ("2018-01-26T00:10:00+09:00", 3))):
        assert cli("ledger", "post", "--key", f"e{n}", "--source", "t", "--at", at, "--debit",
                   f"wallet:xem-hot {amount} XEM", "--credit", f"customer:C1 {amount} XEM")[0] == 0

    def backdated(at: str) -> list[dict[str, str]]:
        code, out, err = cli("report", "custody", "--lang", "en", "--at", at, "-f", "json")
        assert code in (0, 1), err
        return [f for f in json.loads(out)["findings"] if f["code"] == "backdated_entries"]

    (found,) = backdated("2018-01-26T00:30:00+09:00")  # entry 3 was appended after entry 2
    assert found["message"].startswith("1 journal entries dated at or before ")
    assert "(the first: entry 3, e2, dated 2018-01-25 15:10:00.000 UTC)" in found["message"]
    assert backdated("2018-01-26T02:00:00+09:00") == []  # nothing dated later: as written
    assert backdated("2018-01-25T23:00:00+09:00") == []  # before all three


def test_beancount_export_passes_bean_check(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cli("wallets", "add", "eth-cold", "--asset", "ETH", "--tier", "cold")
    csv = write(tmp_path / "c.csv", "customer_id,asset,balance\nC1,XEM,10.5\nalice@x,JPY,100\n"
                                    "C3,ETH,123456789.000000000000000001\n")
    cli("customers", "import", str(csv))
    cli("ledger", "post", "--key", "w", "--source", "t", "--debit", "wallet:xem-hot 10.5 XEM",
        "--debit", "wallet:eth-cold 123456789.000000000000000001 ETH",
        "--credit", "clearing:opening 10.5 XEM",
        "--credit", "clearing:opening 123456789.000000000000000001 ETH")
    out_file = tmp_path / "books.beancount"
    assert cli("ledger", "export", "--format", "beancount", "--out", str(out_file))[0] == 0
    bean_check = BEAN_CHECK
    result = subprocess.run([str(bean_check), str(out_file)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    text_ = out_file.read_text()
    assert "Liabilities:Customers:X-616c69636540" in text_  # 'alice@x' escaped
    # a broken export is caught by bean-check: the test can fail
    broken = tmp_path / "broken.beancount"
    broken.write_text(text_.replace("10.5 XEM", "10.4 XEM", 1))
    assert subprocess.run([str(bean_check), str(broken)], capture_output=True).returncode != 0


def test_a_mistyped_option_is_a_usage_error_not_a_traceback(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:

    monkeypatch.setenv("KINKO_DATABASE_URL", f"sqlite:///{tmp_path / 'k.db'}")
    assert main(["balances", "--nope"]) == 2
    err = capsys.readouterr().err
    assert "No such option: --nope" in err and "Traceback" not in err
    assert main(["watch", "--once", "--from-block", "many"]) == 2
    assert "--from-block" in capsys.readouterr().err


def test_a_restored_backup_or_a_rewritten_tail_is_caught_against_an_anchored_head(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The chain that is left after the newest entries are removed (an old backup put back,
    balances and all) is consistent: only a head kept outside the database shows it."""
    import re
    import shutil

    db = tmp_path / "k.db"
    cli = cli_runner(monkeypatch, capsys, tmp_path, f"sqlite:///{db}")
    assert cli("wallets", "add", "xem-hot", "--asset", "XEM", "--tier", "hot")[0] == 0

    def post(key: str, amount: str) -> None:
        assert cli("ledger", "post", "--key", key, "--source", "t", "--debit",
                   f"wallet:xem-hot {amount} XEM", "--credit", f"customer:C1 {amount} XEM")[0] == 0

    post("d1", "5")
    shutil.copy(db, tmp_path / "backup.db")  # one entry
    post("d2", "7")
    anchor = tmp_path / "elsewhere.anchor"
    code, out, err = cli("ledger", "verify", "--anchor", str(anchor))
    assert code == 0 and "head anchored" in err
    head = re.search(r"head (2:[0-9a-f]{64})", out)
    assert head and anchor.read_text().startswith(head.group(1) + " ")
    shutil.copy(tmp_path / "backup.db", db)  # the second entry never happened
    assert cli("ledger", "verify")[0] == 0  # consistent on its own
    code, out, _ = cli("ledger", "verify", "--anchor", str(anchor))
    assert code == 1 and "entry 2, the anchored head, is missing: the journal ends at " \
        "entry 1" in out
    post("d2-other", "1")  # a different second entry in its place
    code, out, _ = cli("ledger", "verify", "--head", head.group(1))
    assert code == 1 and "entry 2 is not the anchored head" in out
    assert anchor.read_text().count("\n") == 1  # failed checks anchor nothing
    code, _, err = cli("ledger", "verify", "--head", "2:xyz")
    assert code == 2 and "SEQ:HASH" in err


def test_balances_page_through_with_a_limit_and_a_cursor(  # type: ignore[no-untyped-def]
        cli, tmp_path: Path) -> None:
    csv = write(tmp_path / "c.csv", "customer_id,asset,balance\n" + "".join(
        f"C{i},XEM,{i}\n" for i in range(1, 8)))
    assert cli("customers", "import", str(csv))[0] == 0
    seen: list[str] = []
    args = ["balances", "--kind", "customer", "--limit", "3", "--format", "json"]
    cursor: list[str] = []
    for _ in range(5):
        code, out, err = cli(*args, *cursor)
        assert code == 0, err
        seen += [r["account"] for r in json.loads(out)]
        if "more: --after " not in err:
            break
        cursor = ["--after", err.split("more: --after ", 1)[1].split()[0]]
    assert sorted(seen) == sorted(f"customer:C{i}" for i in range(1, 8))
    assert len(seen) == len(set(seen)) == 7
    code, _, err = cli("balances", "--after", "no-slash")
    assert code == 2 and "--after must be ACCOUNT/ASSET" in err and "Traceback" not in err
    code, _, err = cli("balances", "--limit", "2", "--as-of-entry", "1")
    assert code == 2 and "not paged" in err


@pytest.mark.parametrize(("edit", "first"), [
    ("UPDATE postings SET amount = 'ten' WHERE entry_seq = 3 AND idx = 0",
     "first problem at entry 3: postings.amount of row '3/0' holds 'ten'"),
    ("UPDATE postings SET amount = '2.5' WHERE entry_seq = 3 AND idx = 1",
     "first problem at entry 3: postings.amount of row '3/1' holds '2.5'"),
    ("UPDATE postings SET account = X'41' WHERE entry_seq = 3 AND idx = 0",
     "first problem at entry 3: postings.account of row '3/0' holds b'A'"),
    ("UPDATE entries SET ts_us = 'noon' WHERE seq = 3",
     "first problem at entry 3: entries.ts_us of row 3 holds 'noon'"),
    ("UPDATE entries SET ts_us = 1e30 WHERE seq = 3",
     "first problem at entry 3: entries.ts_us of row 3 holds 1e+30"),
    ("UPDATE balances SET balance = 'x' WHERE account = 'customer:C1'",
     "LEDGER INCONSISTENT: balances.balance of row 'customer:C1/XEM' holds 'x'"),
    ("UPDATE ledger_head SET seq = 'x'", "LEDGER INCONSISTENT: ledger_head.seq of row 1 holds"),
    ("DELETE FROM ledger_head", "LEDGER INCONSISTENT: ledger_head has no row 1"),
])
def test_a_value_kinko_never_writes_is_named_not_a_crash(
        edit: str, first: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """SQLite keeps whatever an UPDATE writes (text in a number's column, bytes in a
    text's): `ledger verify` names the row, exit 1, as it names an altered hash, never
    "a defect in kinko"; an earlier altered entry of the same page is still the first."""
    import sqlite3

    run = cli_runner(monkeypatch, capsys, tmp_path, f"sqlite:///{tmp_path / 'k.db'}")
    assert run("wallets", "add", "xem-hot", "--asset", "XEM", "--tier", "hot")[0] == 0
    for n in range(3):
        assert run("ledger", "post", "--key", f"d{n}", "--source", "t", "--debit",
                   "wallet:xem-hot 10 XEM", "--credit", "customer:C1 10 XEM")[0] == 0
    with sqlite3.connect(tmp_path / "k.db") as db:
        db.execute(edit)
    code, out, err = run("ledger", "verify")
    assert code == 1, out + err
    assert first in out and "altered outside kinko" in out and "defect" not in err
    if "entry 3" in first:
        with sqlite3.connect(tmp_path / "k.db") as db:
            db.execute("UPDATE entries SET memo = 'edited' WHERE seq = 2")
        code, out, _ = run("ledger", "verify", "--format", "json")
        findings = json.loads(out)["findings"]
        assert code == 1 and [(f["code"], f["seq"]) for f in findings] == [
            ("altered", 2), ("unreadable", 3)], findings
