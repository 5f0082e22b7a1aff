"""Every file and stream the command line reads from a user (``--json``, policy and
settings TOML, TagPacks, canonical proposals, refund plans, trace folders) is bounded
before it is parsed: a hostile one gets a one-line error and exit 2, never a traceback."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from clirun import CliRun, cli_runner

DEEP = "[" * 80_000 + "]" * 80_000
TOO_DEEP = "nested more than 64 levels deep"


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> CliRun:
    return cli_runner(monkeypatch, capsys, tmp_path, f"sqlite:///{tmp_path / 'k.db'}")


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def refused(result: tuple[int, str, str], message: str) -> None:
    code, out, err = result
    assert code == 2, (out, err)
    assert err.startswith("error: ") and message in err, err
    assert "Traceback" not in out + err


def test_hostile_documents_are_refused_with_their_name(cli: CliRun, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    deep_json = write(tmp_path / "deep.json", DEEP)
    refused(cli("ledger", "post", "--json", str(deep_json)), f"deep.json:1:65: {TOO_DEEP}")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(DEEP.encode())))
    refused(cli("ledger", "post", "--json", "-"), f"stdin:1:65: {TOO_DEEP}")
    big = tmp_path / "big.json"
    big.write_bytes(b"{" + b" " * (16 * 2**20) + b"}")
    refused(cli("ledger", "post", "--json", str(big)), "big.json: larger than 16 MiB")
    refused(cli("ledger", "post", "--json", str(write(tmp_path / "bad.json", '{"key": 1e'))),
            "bad.json:1:10: not valid JSON")

    policy = write(tmp_path / "policy.toml", "version = 1\nquorum = " + "[" * 80_000)
    refused(cli("policy", "load", str(policy), "--by", "ops"), f"policy.toml:2:{64 + 10}:")
    refused(cli("--config", str(write(tmp_path / "etc" / "kinko.toml", "a" + ".b" * 100 + " = 1")),
                "assets", "list"), f"kinko.toml:1:1: {TOO_DEEP}")
    refused(cli("denylist", "load", str(write(tmp_path / "list.yaml", "tags: " + DEEP))),
            "list.yaml:1:")
    assert TOO_DEEP in cli("denylist", "load", str(tmp_path / "list.yaml"))[2]
    refused(cli("approvers", "sign", "--canonical", str(deep_json), "--key", "none.key"),
            f"deep.json:1:65: {TOO_DEEP}")
    refused(cli("approvers", "sign", "--canonical", str(write(tmp_path / "p.json", "{}")),
                "--key", "none.key"), "p.json: not a canonical proposal")

    write(tmp_path / "plan" / "plan.json", DEEP)
    write(tmp_path / "plan" / "refunds.csv", "customer,units,amount,refund_jpy\n")
    refused(cli("refunds", "execute", str(tmp_path / "plan")),
            f"plan.json:1:65: {TOO_DEEP}")
    write(tmp_path / "trace" / "summary.json", DEEP)
    write(tmp_path / "trace" / "addresses.csv", "address\n")
    refused(cli("trace", "export", str(tmp_path / "trace")), f"summary.json:1:65: {TOO_DEEP}")


@pytest.mark.slow
def test_the_real_command_prints_one_line_not_a_traceback(tmp_path: Path) -> None:
    """As an operator would pipe it: ``kinko ledger post --json -`` with 80,000 brackets
    (refused before the database is even opened)."""
    env = {**os.environ, "KINKO_DATABASE_URL": f"sqlite:///{tmp_path / 'k.db'}",
           "KINKO_LANG": "en"}
    kinko = [sys.executable, "-m", "kinko"]
    done = subprocess.run([*kinko, "ledger", "post", "--json", "-"], input=DEEP.encode(),
                          env=env, cwd=tmp_path, capture_output=True, timeout=60, check=False)
    assert done.returncode == 2
    assert done.stderr.decode() == f"error: stdin:1:65: {TOO_DEEP}\n"


def test_a_utxo_file_with_a_hostile_line_names_the_line(tmp_path: Path) -> None:
    """A JSON-lines transactions file (``trace run --utxo``) is read a line at a time: a
    line nested 80,000 deep or holding a 5,000-digit number is a problem of that line."""
    from kinko.chains.tracefiles import load_utxo
    from kinko.errors import InputFileError

    good = '{"txid": "a", "block": 1, "inputs": [], "outputs": [{"value": 1, ' \
        '"address": "x"}], "fee": 0}'
    # an output naming its address twice: one reader's taint goes to x, another's to y
    twice = good.replace('"address": "x"', '"address": "x", "address": "y"').replace(
        '"a"', '"b"')
    path = write(tmp_path / "u.jsonl", "\n".join([good, DEEP, '{"txid": ' + "9" * 5000 + "}",
                                                   twice]) + "\n")
    with pytest.raises(InputFileError) as caught:
        load_utxo(path)
    assert caught.value.problems[:3] == [f"{path}:2: {TOO_DEEP}",
                                         f"{path}:3: not JSON: a number has more than "
                                         "4,300 digits",
                                         f"{path}:4: the key 'address' is given twice in one "
                                         "object"]


def test_a_fifo_a_device_or_a_line_without_end_is_refused_not_waited_for(
        cli: CliRun, tmp_path: Path, no_hang: None) -> None:
    """``kinko customers import`` of a FIFO nobody writes to waited forever; of a file of
    17 MiB without a line end it held the line whole (``/dev/zero``: until memory ran out,
    then exit 70 as a defect). Now such a FIFO reads as the empty file it is, a device is
    refused by what it is, and a line without end by its number: each is one line naming
    the file, exit 2, nothing imported. A pipe with a writer is read as it is written."""
    fifo = tmp_path / "customers.csv"
    os.mkfifo(fifo)
    refused(cli("customers", "import", str(fifo)),
            "customers.csv:1: the file is empty; expected a header")
    refused(cli("customers", "import", "/dev/zero"),
            "/dev/zero: cannot read: a character device, not a regular file")
    code, _, err = cli("--lang", "ja", "customers", "import", "/dev/zero")
    assert code == 2 and "/dev/zero は通常のファイルではありません" in err, err
    refused(cli("policy", "load", "/dev/urandom", "--by", "ops"), "a character device")
    # an anchor is read from its end and appended to: a pipe is no anchor
    refused(cli("ledger", "verify", "--anchor", str(fifo)), "a FIFO (named pipe)")
    long = tmp_path / "long.csv"
    long.write_bytes(b"customer_id,asset,balance\nC1,XEM," + b"1" * (17 * 2**20))
    refused(cli("customers", "import", str(long)),
            "long.csv:2: a line longer than 16,777,216 characters, the longest kinko reads")
    assert cli("balances", "--format", "json")[1].count("customer:") == 0
    r, w = os.pipe()  # as a shell's <(zcat customers.csv.gz) gives it
    writer = threading.Thread(target=lambda: (
        os.write(w, b"customer_id,asset,balance\nC1,XEM,5\n"), os.close(w)))
    writer.start()
    try:
        assert cli("customers", "import", f"/proc/self/fd/{r}")[0] == 0
    finally:
        writer.join()
        os.close(r)
    assert cli("balances", "--format", "json")[1].count("customer:") == 1


def test_an_opening_balance_of_5000_digits_is_a_problem_of_its_line(cli: CliRun,
                                                                    tmp_path: Path) -> None:
    """It ended as a defect (a ValueError of int(), exit 70); now it is refused, as is any
    amount of more than 78 digits in minor units (more than the store's column holds)."""
    path = write(tmp_path / "c.csv", "customer_id,asset,balance\nC1,XEM,1\nC2,XEM,"
                 + "9" * 5000 + "\nC3,ETH,1" + "0" * 60 + "\n")
    refused(cli("customers", "import", str(path)), "c.csv: 2 problem(s); nothing was imported")
    err = cli("customers", "import", str(path))[2]
    assert "c.csv:3: 9999999999999999999999999999999999999999… XEM is too large" in err
    assert "c.csv:4: 1" + "0" * 60 + " ETH is too large" in err
    assert cli("balances", "--format", "json")[1].count("customer:") == 0


def test_a_json_deny_list_is_bounded_as_every_json_document_is(cli: CliRun,
                                                               tmp_path: Path) -> None:
    """``kinko denylist load list.json`` parsed the file with json.loads unbounded: 80,000
    nested brackets killed the process (a segmentation fault, exit 139; RecursionError in
    `tags import`, exit 70), 5,000 digits were a ValueError (exit 70); a label that is an
    object was stored as Python's picture of it."""
    refused(cli("denylist", "load", str(write(tmp_path / "deep.json", DEEP))),
            f"deep.json:1:65: {TOO_DEEP}")
    refused(cli("tags", "import", str(tmp_path / "deep.json")), f"deep.json:1:65: {TOO_DEEP}")
    refused(cli("denylist", "load", str(write(tmp_path / "n.json", "[" + "9" * 5000 + "]"))),
            "n.json: not valid JSON: a number has more than 4,300 digits")
    address = "0x008fe40574e881e7247b50b991c0cc057d66647f"
    refused(cli("denylist", "load", str(write(tmp_path / "l.json", f'[{{"address": "{address}"'
                                              ', "label": {"x": 1}}]'))),
            'l.json: [0]: label must be text: {"x": 1}')
    assert cli("denylist", "load", str(write(tmp_path / "ok.json", f'["{address}"]')))[0] == 0


def test_a_snapshot_folder_holding_a_hostile_root_is_refused_naming_the_folder(
        cli: CliRun, tmp_path: Path) -> None:
    """``kinko reserves snapshot --out DIR`` reads DIR/root.json only to name the snapshot
    already there; it parsed it with json.loads unbounded, and 80,000 nested brackets killed
    the process (a segmentation fault, exit 139)."""
    assert cli("customers", "import", str(write(tmp_path / "c.csv",
                                                "customer_id,asset,balance\nC1,XEM,1\n")))[0] == 0
    write(tmp_path / "pub" / "root.json", DEEP)
    refused(cli("reserves", "snapshot", "--out", str(tmp_path / "pub")),
            "pub already holds snapshot (unreadable): publish each snapshot to a new folder")


def test_a_time_at_the_end_of_year_9999_in_utc_is_shown_not_a_crash(cli: CliRun,
                                                                      tmp_path: Path) -> None:
    """kinko keeps any time of the years 1 to 9999 in UTC, but 9999-12-31T23:59:59Z has no
    date in JST: ``kinko report fsa --positions-at`` it (the report speaks JST) ended in
    "kinko failed unexpectedly", an OverflowError of astimezone. Such a time is shown in
    UTC, named so; the dashboard's times too."""
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from kinko.api.web.context import Web
    from kinko.i18n import Localizer

    last = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
    assert Localizer("ja").when(last) == "9999-12-31 23:59:59 UTC"
    assert Localizer("ja").date(last) == "9999年12月31日"
    assert Localizer("ja").when(datetime(9999, 12, 31, 14, 0, tzinfo=UTC)).endswith(" JST")
    assert Web.when(last, ZoneInfo("Asia/Tokyo")) == "9999-12-31 23:59:59 UTC"
    assert Web.when(last, ZoneInfo("UTC")) == "9999-12-31 23:59:59"
    out = tmp_path / "fsa"
    code, _, err = cli("report", "fsa", "--format", "html", "--positions-at",
                       "9999-12-31T23:59:59+00:00", "--out", str(out))
    assert code in (0, 1) and "unexpectedly" not in err, err
    assert "9999-12-31 23:59:59 UTC" in (out / "fsa-report.ja.html").read_text(encoding="utf-8")


def test_what_a_file_quotes_in_an_error_never_acts_on_the_terminal(cli: CliRun,
                                                                   tmp_path: Path) -> None:
    """An escape sequence (a window retitled) or a direction override in a file's value
    reached the terminal as it was, in Japanese (English quoted it): both languages now
    write it as its escape."""
    rows = write(tmp_path / "c.csv", "customer_id,asset,balance\n"
                                     "C1,XEM\x1b]0;PWNED\x07\u202e,5\n")
    for lang in ("ja", "en"):
        code, out, err = cli("--lang", lang, "customers", "import", str(rows))
        assert code == 2 and "XEM" in err, err
        assert not {"\x1b", "\x07", "\u202e"} & set(out + err), err
        assert "\\x1b]0;PWNED\\x07" in err, err


def test_a_key_file_given_for_a_list_is_never_quoted_back(cli: CliRun, tmp_path: Path) -> None:
    """A private key's file (64 hex digits on a line, as NEM wallets export it) given where
    a CSV or a list was expected was quoted back whole, or 60 of its digits, in the error."""
    secret = "5a1b02" + "c0ffee" * 9 + "d00d"
    key = write(tmp_path / "tagger.key", secret + "\n")
    for args in (("customers", "import", str(key)), ("denylist", "load", str(key)),
                 ("trace", "run", "--seed-tx", "0x" + "1" * 64, "--policy", "haircut",
                  "--transfers", str(key),
                  "--out", str(tmp_path / "out"))):
        for lang in ("en", "ja"):
            code, out, err = cli("--lang", lang, *args)
            assert code == 2, (args, err)
            assert secret[:16] not in out + err, (args, err)
            assert "16" in err or "hexadecimal" in err, err  # said by what it is


def test_a_node_urls_credentials_are_never_said_back(cli: CliRun,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A setting refused, or a node's library refusing its URL, quoted the URL whole, its
    password, API key or token with it (the database URL's password was already masked)."""
    secret = "Sup3rSecret"
    monkeypatch.setenv("KINKO_CHAINS", f"eth=evm:http://admin:{secret}@127.0.0.1:9/,"
                                       "eth=evm:http://127.0.0.1:9/")
    for lang in ("en", "ja"):
        code, out, err = cli("--lang", lang, "balances")
        assert code == 2 and "admin:***@" in err and secret not in out + err, err
    monkeypatch.delenv("KINKO_CHAINS")
    monkeypatch.setenv("KINKO_EVM_RPC_URL", f"ftp://admin:{secret}@x/?apikey={secret}")
    code, out, err = cli("deposits", "scan")
    assert code != 0 and secret not in out + err, err


def test_tags_from_several_files_load_all_or_none(cli: CliRun, tmp_path: Path) -> None:
    """The first file's tags stayed when the second was refused (exit 2 says nothing was
    written); every file is now checked before any is loaded."""
    good = write(tmp_path / "good.csv", "address,label,category\n"
                 "0x098B716B8Aaf21512996dC57EB0615e2383E2f96,Ronin Bridge Exploiter,hacker\n")
    bad = write(tmp_path / "bad.csv", "address,label,category\nnot-an-address,x,hacker\n")
    refused(cli("tags", "import", str(good), str(bad)), "bad.csv")
    assert cli("tags", "list", "--format", "json")[1].strip() in ("[]", "")
    code, _, _ = cli("tags", "import", str(good))
    assert code == 0 and "Ronin" in cli("tags", "list")[1]


@pytest.mark.slow
def test_a_command_stopped_by_sigterm_leaves_no_part_of_its_file(tmp_path: Path) -> None:
    """SIGTERM (a service manager's stop) killed a command mid-write: its hidden temporary
    copy stayed (hundreds of MB of a synthetic chain). It now stops as Ctrl-C does, and
    says so (typer answered an interrupt inside a command with its status 130, silently)."""
    import signal
    import time

    env = {**os.environ, "KINKO_DATABASE_URL": f"sqlite:///{tmp_path / 'k.db'}",
           "KINKO_LANG": "en"}
    proc = subprocess.Popen([sys.executable, "-m", "kinko", "trace", "synth", "--transfers",
                             str(10**11), "--addresses", "5", "--out", "big.parquet"],
                            env=env, cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not any(p.name.startswith(".big.parquet.") and p.stat().st_size > 0
                      for p in tmp_path.iterdir()):
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 130
        assert proc.stderr is not None and proc.stderr.read() == b"interrupted\n"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not [p.name for p in tmp_path.iterdir() if "big.parquet" in p.name]
