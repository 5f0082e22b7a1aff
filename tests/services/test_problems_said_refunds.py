"""The problems of a trades file (``refunds plan --vwap``) and of an offline signatures file
(``reserves import-signatures``), each said as a catalog message too: in Japanese, every
problem line names its file, its line or entry, and what is wrong."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from clirun import CliRun, cli_runner
from dbtemplate import migrated_store

from kinko.chains.evm import EvmChain
from kinko.chains.keystore import throwaway_signer
from kinko.domain import refunds as domain_refunds
from kinko.domain.custody import Wallet
from kinko.domain.ledger import Posting
from kinko.domain.money import AssetRegistry
from kinko.domain.refunds import parse_trades
from kinko.errors import InputFileError
from kinko.i18n import Localizer
from kinko.ports import FixedClock
from kinko.services import reserves, reserves_chain
from kinko.services.ledger import Ledger

JA, EN = Localizer("ja"), Localizer("en")
E = 10**18

TRADES = ("time,price,amount\n"
          "2018-01-26T00:00:00+09:00,88.5,1\n"
          "2018-01-26T00:01:00+09:00,eighty,1\n"   # line 3: no price
          "2018-01-26T00:02:00,88.5,1\n"           # line 4: no zone
          "2018-01-26T00:03:00+09:00,1,000,1\n")   # line 5: 4 fields


def test_each_bad_line_of_a_trades_file_is_said_in_japanese() -> None:
    with pytest.raises(InputFileError) as caught:
        parse_trades(TRADES.splitlines(keepends=True), "trades.csv")
    exc = caught.value
    said = exc.problems_said
    assert said is not None and len(said) == len(exc.problems) == 3
    # in English, the messages say what the English strings say (less Python's quotes)
    unquoted = [p.replace("'eighty'", "eighty").replace("'2018-01-26T00:02:00'",
                                                        "2018-01-26T00:02:00")
                for p in exc.problems]
    assert [EN.text(m) for m in said] == unquoted
    ja = [JA.text(m) for m in said]
    assert ja[0].startswith("trades.csv:3：") and "eighty" in ja[0], ja
    assert ja[1].startswith("trades.csv:4：") and "2018-01-26T00:02:00" in ja[1], ja
    assert ja[2].startswith("trades.csv:5：") and "4 個" in ja[2] and "3 個" in ja[2], ja
    for text in ja:
        assert "price" not in text and "fields" not in text and "zone" not in text, text
    # the error's own sentence names the first problem, as its first problem line does
    assert ja[0] in JA.text(exc.said())


def test_a_trades_file_stopped_after_too_many_problems_says_so(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(domain_refunds, "MAX_PROBLEMS", 2)
    with pytest.raises(InputFileError) as caught:
        parse_trades(TRADES.splitlines(keepends=True), "trades.csv")
    exc = caught.value
    assert exc.problems_said is not None and len(exc.problems_said) == len(exc.problems) == 3
    assert EN.text(exc.problems_said[-1]) == exc.problems[-1] == (
        "trades.csv: stopped after 2 problems")
    assert JA.text(exc.problems_said[-1]) == (
        "trades.csv：問題が 2 件に達したため、以降は確かめていません")


def test_the_command_line_prints_the_trades_problems_in_japanese(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    cli = cli_runner(monkeypatch, capsys, tmp_path, f"sqlite:///{tmp_path / 'k.db'}")
    Path("trades.csv").write_text(TRADES)
    args = ("refunds", "plan", "INC-1", "--asset", "XEM", "--vwap", "trades.csv",
            "--from", "2018-01-26T00:00:00+09:00", "--to", "2018-01-26T01:00:00+09:00",
            "--out", "plan")
    code, _, err = cli("--lang", "ja", *args)
    assert code == 2, err
    lines = err.splitlines()
    assert lines[0].startswith("エラー：trades.csv：取引ファイルに問題が 3 件あります"), err
    assert lines[1].startswith("  trades.csv:3：") and "eighty" in lines[1], err
    assert lines[2].startswith("  trades.csv:4：") and "2018-01-26T00:02:00" in lines[2], err
    assert lines[3].startswith("  trades.csv:5：") and "4 個" in lines[3], err
    assert "fields, the header has" not in err and "has no zone" not in err, err
    code, _, err = cli(*args)  # in English, the English strings, as before
    assert code == 2 and "  trades.csv:5: 4 fields, the header has 3" in err, err


# ---------------------------------------------------------------------- signatures file


@pytest.fixture
def snapshot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
             capsys: pytest.CaptureFixture[str]) -> tuple[Path, Ledger, str, CliRun]:
    """A published snapshot of one cold ETH wallet; (its folder, the ledger, the wallet's
    address, ``kinko`` on the same database)."""
    chain = EvmChain.in_process()
    ledger = Ledger(migrated_store(tmp_path / "k.db"), FixedClock(datetime.now(UTC)),
                    AssetRegistry.default())
    ledger.sync_assets()
    cold = throwaway_signer()
    ledger.add_wallet(Wallet("eth-cold", "ETH", "cold", (cold.address,)))
    chain.fund(cold.address, 200 * E)
    ledger.post("open", [Posting("wallet:eth-cold", "ETH", 125 * E),
                         Posting("customer:C1", "ETH", -125 * E)], source="opening")
    out = tmp_path / "snap"
    reserves.publish(reserves.snapshot(ledger, min_height=2, chain=chain), out)
    run = cli_runner(monkeypatch, capsys, tmp_path, f"sqlite:///{tmp_path / 'k.db'}")
    return out, ledger, cold.address, run


def bad_signatures(address: str) -> str:
    return json.dumps([{"address": address, "signature": "zz"},
                       ["not", "an", "object"],
                       {"address": "0x" + "12" * 20, "signature": "ab"}])


def test_each_bad_entry_of_a_signatures_file_is_said_in_japanese(
        snapshot: tuple[Path, Ledger, str, CliRun], tmp_path: Path) -> None:
    out, ledger, address, _ = snapshot
    file = tmp_path / "offline.json"
    file.write_text(bad_signatures(address))
    with pytest.raises(InputFileError) as caught:
        reserves_chain.import_signatures(out, file, ledger.wallets())
    exc = caught.value
    said = exc.problems_said
    assert said is not None and len(said) == len(exc.problems) == 3
    assert [EN.text(m) for m in said] == exc.problems
    ja = [JA.text(m) for m in said]
    assert ja[0].startswith(f"{file}：signatures[0]（'{address}'）：") and "16 進" in ja[0], ja
    assert ja[1] == (f"{file}：signatures[1]："
                     "address と signature をどちらもテキストで持つオブジェクトにしてください")
    assert ja[2].startswith(f"{file}：signatures[2]：") and "0x" + "12" * 20 in ja[2], ja
    for text in ja:
        assert "expected" not in text and "is not" not in text, text
    assert not (out / "signatures.json").exists()


def test_the_command_line_prints_the_signature_problems_in_japanese(
        snapshot: tuple[Path, Ledger, str, CliRun], tmp_path: Path) -> None:
    out, _, address, cli = snapshot
    file = tmp_path / "offline.json"
    file.write_text(bad_signatures(address))
    code, _, err = cli("--lang", "ja", "reserves", "import-signatures", str(out), str(file))
    assert code == 2, err
    lines = err.splitlines()
    assert lines[0].startswith("エラー：") and "3 件" in lines[0], err
    assert lines[1].startswith(f"  {file}：signatures[0]（'{address}'）："), err
    assert lines[2].startswith(f"  {file}：signatures[1]：address と signature"), err
    assert lines[3].startswith(f"  {file}：signatures[2]："), err
    assert "expected an object" not in err and "not hex" not in err, err
