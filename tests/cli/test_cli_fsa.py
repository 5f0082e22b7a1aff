"""``kinko report fsa`` through the command line: every format written with its appendix,
an unknown incident and bad flags refused with exit 2 and nothing written."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from clirun import cli_runner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "render"))

from test_fsa_report import Exchange


@pytest.fixture(scope="module")
def exchange(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Exchange]:
    ex = Exchange(tmp_path_factory.mktemp("fsa-cli"))
    ex.store.close()  # the command opens the database itself
    yield ex


@pytest.fixture
def cli(exchange: Exchange, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    monkeypatch.delenv("KINKO_EVM_RPC_URL", raising=False)
    return cli_runner(monkeypatch, capsys, tmp_path, exchange.url, init=False,
                      KINKO_PRICES="ETH=500000")


@pytest.mark.slow
def test_every_format_with_its_appendix(cli, exchange: Exchange,  # type: ignore[no-untyped-def]
                                        tmp_path: Path) -> None:
    common = ("--incident", exchange.incident, "--refund-plan", str(exchange.plan),
              "--trace", str(exchange.trace))
    code, out, err = cli("report", "fsa", *common, "--out", "ja")
    assert code == 0, err
    html = (tmp_path / "ja" / "fsa-report.ja.html").read_text(encoding="utf-8")
    assert '<html lang="ja">' in html and "原資不足" in html and "data:image/png" in html
    for name in ("fsa-positions.csv", "fsa-alerts.csv", "fsa-timeline.csv"):
        assert (tmp_path / "ja" / name).is_file() and f"ja/{name}" in out
    code, out, err = cli("report", "fsa", *common, "--lang", "en", "--format", "md",
                         "--out", "en")
    assert code == 0, err
    md = (tmp_path / "en" / "fsa-report.en.md").read_text(encoding="utf-8")
    assert "funds short by ¥3,199,998" in md and "(fsa-chart-timeline.en.png)" in md
    assert (tmp_path / "en" / "fsa-chart-timeline.en.png").read_bytes().startswith(b"\x89PNG")
    # the plan names its incident: --incident may be left out
    code, out, err = cli("report", "fsa", "--refund-plan", str(exchange.plan), "--format",
                         "pdf", "--out", "pdf")
    assert code == 0, err
    assert (tmp_path / "pdf" / "fsa-report.ja.pdf").read_bytes().startswith(b"%PDF")


def test_bad_input_exits_2(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    code, _, err = cli("report", "fsa", "--incident", "INC-NOPE", "--out", "x")
    assert code == 2 and "unknown incident 'INC-NOPE'" in err
    code, _, err = cli("report", "fsa", "--format", "docx", "--out", "x")
    assert code == 2 and "--format must be html, pdf or md" in err
    code, _, err = cli("report", "fsa", "--lang", "fr", "--out", "x")
    assert code == 2 and "--lang must be ja or en" in err
    code, _, err = cli("report", "fsa", "--refund-plan", "nowhere", "--out", "x")
    assert code == 2 and "nowhere" in err
    code, _, err = cli("report", "fsa", "--trace-asset", "DOGE", "--out", "x")
    assert code == 2 and "DOGE" in err
    assert not (tmp_path / "x").exists()


def test_no_report_is_written_from_altered_books(
        exchange: Exchange, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Balances moved from the hot wallet to the cold one in the balances table only (no
    journal entry): `kinko check` would read a smaller online share, and the report would
    state it as the books' (double entry, tamper-evident). The journal does not give those
    balances: no report is written, exit 1, the first problem named."""
    import shutil
    import sqlite3

    copy = tmp_path / "altered.db"
    shutil.copyfile(exchange.url.removeprefix("sqlite:///"), copy)
    with sqlite3.connect(copy) as db:
        hot, cold = (int(db.execute("SELECT balance FROM balances WHERE account = ?",
                                    (f"wallet:eth-{tier}",)).fetchone()[0])
                     for tier in ("hot", "cold"))
        db.execute("UPDATE balances SET balance = '0' WHERE account = 'wallet:eth-hot'")
        db.execute("UPDATE balances SET balance = ? WHERE account = 'wallet:eth-cold'",
                   (str(hot + cold),))
    monkeypatch.delenv("KINKO_EVM_RPC_URL", raising=False)
    run = cli_runner(monkeypatch, capsys, tmp_path, f"sqlite:///{copy}", init=False,
                     KINKO_PRICES="ETH=500000")
    code, _, err = run("report", "fsa", "--lang", "en", "--format", "md", "--out", "fsa")
    assert code == 1, err
    assert "the ledger does not verify (2 problem(s); the first: stored balance of " \
        "wallet:eth-cold ETH" in err and "no FSA report is written" in err
    assert not (tmp_path / "fsa").exists()
    code, _, err = run("--lang", "ja", "report", "fsa", "--format", "md", "--out", "fsa")
    assert code == 1 and "帳簿の検証に失敗しました（問題 2 件" in err
