"""A transfer file's problems, each said in Japanese too (``InputFileError.problems_said``):
one message per English problem, in the same order, naming the file, its line (or row) and
what is wrong; through the command line, the lines printed are Japanese."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]
import pytest
from clirun import CliRun, cli_runner

from kinko.chains.tracefiles import load_account, load_utxo
from kinko.chains.tracefiles.account import mftracer_labels
from kinko.errors import InputFileError
from kinko.i18n import Localizer

JA, EN = Localizer("ja"), Localizer("en")
HEADER = "tx_hash,block,tx_index,log_index,from,to,value\n"


def refused(load: object, *args: object) -> InputFileError:
    with pytest.raises(InputFileError) as caught:
        load(*args)  # type: ignore[operator]
    exc = caught.value
    assert exc.problems_said is not None
    assert len(exc.problems_said) == len(exc.problems)
    return exc


def japanese(exc: InputFileError) -> list[str]:
    assert exc.problems_said is not None
    return [JA.text(s) for s in exc.problems_said]


def english(exc: InputFileError) -> list[str]:
    assert exc.problems_said is not None
    return [EN.text(s) for s in exc.problems_said]


def test_wrong_values_each_named_in_japanese(tmp_path: Path) -> None:
    path = tmp_path / "values.csv"
    path.write_text(HEADER + "0x1,1,0,0,a,b,5\n0x2,x,0,0,,b,-3\n0x3,3,0,0,a,b,1.5\n"
                    "0x4,4,99999999999999999999,0,a,b,7\n")
    exc = refused(load_account, path, "csv")
    ja = japanese(exc)
    assert len(ja) == 3
    assert ja[0].startswith(f"{path}:3：") and "block が整数ではありません：x" in ja[0]
    assert "from が空です" in ja[0] and "value が負の値です：-3" in ja[0]  # all of the line
    assert ja[1].startswith(f"{path}:4：") and "value が整数ではありません：1.5" in ja[1]
    assert ja[2].startswith(f"{path}:5：") and "tx_index が大きすぎます" in ja[2]
    assert english(exc) == exc.problems  # the same words as the English problems
    assert all("is not" not in t and "empty" not in t for t in ja)


def test_rows_of_a_parquet_file_are_named(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"tx_hash": ["0x1", "0x2", "0x3"], "block": [1, -2, 3],
                             "tx_index": [0, 0, 0], "log_index": [0, 0, 0],
                             "from": ["a", "a", ""], "to": ["b", "b", "b"],
                             "value": [1, 2, 3]}), path)
    exc = refused(load_account, path, "parquet")
    ja = japanese(exc)
    assert ja == [f"{path}：2 行目：block が負の値です：-2", f"{path}：3 行目：from が空です"]
    assert english(exc) == exc.problems


def test_order_and_duplicates_each_named(tmp_path: Path) -> None:
    path = tmp_path / "order.csv"
    path.write_text(HEADER + "0x1,2,0,0,a,b,5\n0x2,1,0,0,a,b,5\n0x3,1,0,0,a,b,5\n"
                    "0x3,1,0,0,a,b,5\n")
    exc = refused(load_account, path, "csv")
    ja = japanese(exc)
    assert len(ja) == 3
    assert ja[0].startswith(f"{path}:3：順序が違います：ブロック 1") and "2 行目" in ja[0]
    assert ja[2].startswith(f"{path}:5：重複：ブロック 1") and "最初は 4 行目" in ja[2]
    assert english(exc) == exc.problems


def test_malformed_records_each_named(tmp_path: Path) -> None:
    path = tmp_path / "fields.csv"
    path.write_text(HEADER + "0x1,1,0,0,a,b,5\n0x2,2,0,0,a,b\n\n0x3,3,0,0,a,b,5,9\n")
    exc = refused(load_account, path, "csv")
    assert japanese(exc) == [f"{path}:3：フィールドが 6 個あります（ヘッダーは 7 個）",
                             f"{path}:5：フィールドが 8 個あります（ヘッダーは 7 個）"]


def test_mftracer_duplicates_and_labels(tmp_path: Path) -> None:
    a, b = "0x" + "a" * 40, "0x" + "b" * 40
    path = tmp_path / "mf.csv"
    path.write_text("tx_hash,block,from,to,value_in_usd,from_label,to_label\n"
                    f"0x{1:064x},1,{a},{b},5,Exch,\n0x{1:064x},1,{a},{b},5,Exch,\n"
                    f"0x{1:064x},2,{a},{b},6,Other,\n")
    exc = refused(load_account, path, "mftracer")
    ja = japanese(exc)
    assert ja[0] == f"{path}:3：2 行目 と同じ行です"
    assert ja[1].startswith(f"{path}:4：取引がブロック 2 にありますが、2 行目 ではブロック 1")
    exc = refused(mftracer_labels, path)
    assert japanese(exc) == [f"{path}:4：{a} のラベルが Other ですが、2 行目 では Exch です"]


def test_utxo_lines_each_named(tmp_path: Path) -> None:
    good = {"txid": "t1", "block": 1, "fee": 0, "inputs": [],
            "outputs": [{"value": 5, "address": "A"}]}
    lines = [json.dumps(good), "{nope",
             json.dumps({**good, "txid": "t2", "outputs": [{"value": -1, "address": "B"}]}),
             json.dumps({"txid": "t3", "block": 2, "fee": 0, "outputs": [],
                         "inputs": [{"txid": "t1", "vout": 0, "value": 4, "address": "A"}]})]
    path = tmp_path / "u.jsonl"
    path.write_text("\n".join(lines) + "\n")
    exc = refused(load_utxo, path)
    ja = japanese(exc)
    assert ja[0].startswith(f"{path}:2：JSON ではありません")
    assert ja[1] == f"{path}:3：出力 0：value が負の値です：-1"
    assert ja[2] == f"{path}:4：入力 0：value が 4 ですが、t1 の出力 0 は 5 です"
    assert english(exc) == exc.problems


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> CliRun:
    return cli_runner(monkeypatch, capsys, tmp_path, f"sqlite:///{tmp_path / 'k.db'}",
                      init=False)


def test_the_command_prints_each_problem_in_japanese(cli: CliRun, tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(HEADER + "0x1,1,0,0,a,b,5\n0x2,x,0,0,a,b,5\n0x3,3,0,0,a,b,-1\n")
    code, _, err = cli("--lang", "ja", "trace", "run", "--transfers", str(path), "--policy",
                       "poison", "--seed-tx", "0x1", "--out", "t")
    lines = err.splitlines()
    assert code == 2
    assert f"  {path}:3：block が整数ではありません：x" in lines
    assert f"  {path}:4：value が負の値です：-1" in lines
    assert "is not" not in err and "negative" not in err
    code, _, err = cli("--lang", "en", "trace", "run", "--transfers", str(path), "--policy",
                       "poison", "--seed-tx", "0x1", "--out", "t")
    assert code == 2 and f"  {path}:3: block is not a whole number: x" in err.splitlines()
    upath = tmp_path / "u.jsonl"
    upath.write_text('{"txid": "t1", "block": 1, "fee": 0, "inputs": [], "outputs": 5}\n[]\n')
    code, _, err = cli("--lang", "ja", "trace", "run", "--transfers", str(upath), "--format",
                       "utxo-jsonl", "--policy", "poison", "--seed-tx", "t1", "--out", "t")
    lines = err.splitlines()
    assert code == 2
    assert f"  {upath}:1：inputs と outputs はリストにしてください" in lines
    assert f"  {upath}:2：JSON のオブジェクトではありません" in lines
