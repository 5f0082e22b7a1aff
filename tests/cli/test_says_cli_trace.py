"""The refusals of ``kinko cosign``, ``trace``, ``tags``, ``reserves``, ``serve`` and ``watch``
say their specifics in Japanese too: the option, the value, the file, the setting to set.
Each is one line ``エラー：...``; the English words stay as they were. Nothing here starts a
server, a node, Spark or an HSM: every refusal comes before any of them."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from clirun import CliRun, cli_runner

from kinko.errors import BadInput, ConfigError
from kinko.i18n import Localizer

JA, EN = Localizer("ja"), Localizer("en")


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> CliRun:
    for name in ("KINKO_EVM_RPC_URL", "KINKO_CHAINS", "KINKO_COSIGN_TOKEN",
                 "KINKO_COSIGN_HSM_PIN", "KINKO_COSIGN_KEY_PASSWORD", "KINKO_COSIGN_CONFIG",
                 "KINKO_COSIGN_CRASH_AT"):
        monkeypatch.delenv(name, raising=False)
    return cli_runner(monkeypatch, capsys, tmp_path, f"sqlite:///{tmp_path / 'k.db'}")


def ja_error(cli: CliRun, *args: str) -> str:
    """The one line a Japanese operator reads (exit 2 or 3, nothing on stdout)."""
    code, out, err = cli("--lang", "ja", *args)
    assert code in (2, 3) and out == "", (code, out, err)
    assert err.startswith("エラー：") and len(err.splitlines()) == 1, err
    return err.rstrip("\n")


# ------------------------------------------------------------------------- kinko cosign

def test_cosign_refusals_name_the_setting_and_the_variable(
        cli: CliRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    toml = tmp_path / "cosign.toml"
    toml.write_text('evm_rpc_url = "http://127.0.0.1:9"\n', encoding="utf-8")
    err = ja_error(cli, "cosign", "serve")
    assert err == ("エラー：KINKO_COSIGN_TOKEN を export してください：呼び出し側が提示するトー"
                   "クンで、32 文字以上です（例：`openssl rand -hex 32` で作成）"), err
    code, _, err = cli("cosign", "serve")  # the English words as they were
    assert code == 2 and err.startswith("error: export KINKO_COSIGN_TOKEN: the token callers "
                                        "present, at least 32 characters"), err

    monkeypatch.setenv("KINKO_COSIGN_TOKEN", "t" * 40)
    toml.write_text("", encoding="utf-8")
    err = ja_error(cli, "cosign", "serve")
    assert err == "エラー：共同署名者は Safe をノードから読みます。evm_rpc_url を設定してください"
    toml.write_text('chain = "nem"\n', encoding="utf-8")
    err = ja_error(cli, "cosign", "serve")
    assert "NIS1" in err and "nis1_url と nem_key_file を設定してください" in err, err
    assert "t" * 40 not in err  # never the token

    err = ja_error(cli, "cosign", "keygen")  # chain nem, no nem_key_file
    assert err.endswith("nem_key_file を設定してください") and "NEM 鍵" in err, err
    toml.write_text('chain = "nem"\nnem_key_file = "held.key"\n', encoding="utf-8")
    (tmp_path / "held.key").write_text("AB" * 32 + "\n", encoding="utf-8")
    err = ja_error(cli, "cosign", "keygen")
    assert err == "エラー：held.key はすでにあります。共同署名者の NEM 鍵を上書きすることはしません"
    assert "AB" * 32 not in err

    toml.write_text('signer = "hsm"\n', encoding="utf-8")
    err = ja_error(cli, "cosign", "keygen")  # refused before any HSM is opened
    assert err == ("エラー：共同署名者の HSM トークンの PIN が設定されていません。"
                   "KINKO_COSIGN_HSM_PIN を export してください"), err
    toml.write_text('signer = "keystore"\n', encoding="utf-8")
    err = ja_error(cli, "cosign", "address")
    assert "鍵ファイルのパスワード" in err and "KINKO_COSIGN_KEY_PASSWORD" in err, err


def test_cosign_anchor_role_crash_point_and_socket_name_the_value(
        cli: CliRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "cosign.toml").write_text("", encoding="utf-8")
    err = ja_error(cli, "cosign", "verify", "--anchor", "7:abc")
    assert err == ("エラー：--anchor '7:abc'：`kinko cosign verify` が表示した RECORD:HASH の形"
                   "で指定してください（ハッシュは 16 進数 64 桁）"), err
    err = ja_error(cli, "cosign", "grants", "--role", "x; DROP TABLE alerts")
    assert err == "エラー：--role 'x; DROP TABLE alerts'：使えるのは英字、数字、_ だけです"
    code, _, err = cli("cosign", "grants", "--role", "a-b")
    assert code == 2 and err == "error: --role 'a-b': letters, digits and _ only\n"

    from kinko.cli import cosign

    monkeypatch.setenv("KINKO_COSIGN_CRASH_AT", "never")
    with pytest.raises(ConfigError) as caught:
        cosign._crash_hook()
    assert JA.text(caught.value.said()) == ("KINKO_COSIGN_CRASH_AT は signed か recorded に"
                                             "してください（クラッシュ試験専用）")
    assert EN.text(caught.value.said()) == caught.value.message
    plain = tmp_path / "not-a-socket"
    plain.write_text("kept\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        cosign._listening(f"unix:{plain}")
    assert JA.text(caught.value.said()) == (f"{plain} はすでにあり、ソケットではありません。"
                                             "置き換えはしません")
    assert EN.text(caught.value.said()) == caught.value.message
    assert plain.read_text(encoding="utf-8") == "kept\n"


def test_a_cosign_policy_error_keeps_its_words_in_japanese(
        cli: CliRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The [[safes]] table's own words (the policy parser's, English only so far) still
    follow the class's sentence, with the file named."""
    monkeypatch.setenv("KINKO_COSIGN_TOKEN", "t" * 40)
    (tmp_path / "cosign.toml").write_text(
        'evm_rpc_url = "http://127.0.0.1:9"\n[[safes]]\naddress = "0x' + "12" * 20 +
        '"\nasset = "ETH"\nlimit = "1.5 XEM"\n', encoding="utf-8")
    code, out, err = cli("--lang", "ja", "cosign", "serve")
    assert code == 2 and out == "" and err.startswith("エラー：設定"), err
    assert "cosign.toml" in err and "not in ETH" in err, err


# ---------------------------------------------------------------- kinko trace and tags

def test_trace_run_names_the_option_and_the_value(cli: CliRun, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    run = ("trace", "run", "--policy", "haircut", "--out", str(tmp_path / "t"))
    err = ja_error(cli, *run, "--format", "xls")
    assert err == ("エラー：--format は csv, parquet, ethereum-etl, mftracer, nem, utxo-jsonl "
                   "のいずれかにしてください（'xls' は使えません）"), err
    assert ja_error(cli, *run, "--engine", "pandas") == (
        "エラー：--engine は duckdb, spark のいずれかにしてください（'pandas' は使えません）")
    err = ja_error(cli, *run, "--tables", "xlsx")
    assert err.startswith("エラー：--tables は ") and "（'xlsx' は使えません）" in err, err
    assert ja_error(cli, *run, "--engine", "spark", "--chain", "evm") == (
        "エラー：--engine spark が読むのはファイル（--transfers）で、--chain は読めません")
    assert ja_error(cli, *run) == (
        "エラー：--transfers FILE か、--chain evm --from-block A --to-block B を指定してください")
    err = ja_error(cli, *run, "--engine", "spark", "--format", "nem", "--transfers",
                   str(tmp_path / "t.json"))  # refused before Spark is asked for
    assert err == "エラー：--engine spark が読める形式は csv と parquet です（'nem' は読めません）"
    assert ja_error(cli, *run, "--chain", "bitcoin") == (
        "エラー：--chain は evm にしてください（'bitcoin' は使えません）")
    assert ja_error(cli, *run, "--chain", "evm") == (
        "エラー：--chain evm にはノードが必要です。KINKO_EVM_RPC_URL を設定してください")
    code, _, err = cli(*run, "--chain", "evm")
    assert code == 2 and err == "error: --chain evm needs a node: set KINKO_EVM_RPC_URL\n"

    import kinko.cli.runtime

    monkeypatch.setattr(kinko.cli.runtime.Runtime, "chain", lambda self: object())
    assert ja_error(cli, *run, "--chain", "evm", "--from-block", "9", "--to-block", "3") == (
        "エラー：--chain には --from-block A と --to-block B（A ≤ B）が必要です")


def test_trace_export_and_synth_name_what_is_missing(cli: CliRun, tmp_path: Path) -> None:
    folder = tmp_path / "trace"
    folder.mkdir()
    assert ja_error(cli, "trace", "export", str(folder), "--format", "yaml") == (
        "エラー：--format は tagpack、csv、nem-mosaic-tags のいずれかにしてください"
        "（'yaml' は使えません）")
    assert ja_error(cli, "trace", "export", str(folder), "--format", "nem-mosaic-tags") == (
        "エラー：--format nem-mosaic-tags には --mosaic NS:NAME と --signer KEYFILE が必要です")
    key = tmp_path / "signer.key"
    key.write_text("CD" * 32 + "\n", encoding="utf-8")
    err = ja_error(cli, "trace", "export", str(folder), "--format", "nem-mosaic-tags",
                   "--mosaic", "kinko:stolen", "--signer", str(key))
    assert err == ("エラー：--node URL（モザイクの定義をそこから読みます）か、モザイクの --supply "
                   "と --divisibility を指定してください"), err
    assert "CD" * 32 not in err
    assert ja_error(cli, "trace", "synth", "--transfers", "0", "--addresses", "5", "--out",
                    str(tmp_path / "s.parquet")) == (
        "エラー：--transfers は 1 以上、--addresses は 2 以上にしてください")
    assert not (tmp_path / "s.parquet").exists()


def test_trace_synth_refuses_a_seed_or_address_count_it_cannot_draw(cli: CliRun,
                                                                    tmp_path: Path) -> None:
    """``--seed -1`` (numpy takes no negative seed) and ``--addresses`` past 2**31 - 1 (the
    addresses are indexed in 32 bits: 2**63 wrapped negative, 10**20 overflowed) ended in
    "kinko failed unexpectedly"; 2**31 drew arrays of tens of gigabytes first."""
    out = tmp_path / "s.parquet"
    assert ja_error(cli, "trace", "synth", "--transfers", "10", "--addresses", "5", "--seed",
                    "-1", "--out", str(out)) == "エラー：--seed は 0 以上にしてください（-1 は使えません）"
    for addresses in (str(2**31), str(2**63), "99999999999999999999"):
        err = ja_error(cli, "trace", "synth", "--transfers", "10", "--addresses", addresses,
                       "--out", str(out))
        assert err.startswith("エラー：--addresses は 2,147,483,647 以下にしてください"), err
    assert not out.exists() and list(tmp_path.glob(".s.parquet.*")) == []


# --------------------------------------------------------------------- kinko reserves

def test_reserves_snapshot_and_verify_name_the_option_and_the_value(
        cli: CliRun, tmp_path: Path) -> None:
    out = str(tmp_path / "por")
    assert ja_error(cli, "reserves", "snapshot", "--out", out, "--min-height", "41") == (
        "エラー：--min-height は 0 から 40 までにしてください")
    code, _, err = cli("reserves", "snapshot", "--out", out, "--min-height", "41")
    assert code == 2 and err == "error: --min-height must be between 0 and 40\n"
    assert ja_error(cli, "reserves", "snapshot", "--out", out, "--format", "okx-v2") == (
        "エラー：--format は kinko か okx-v1 にしてください（'okx-v2' は使えません）")
    assert ja_error(cli, "reserves", "snapshot", "--out", out, "--customer-count",
                    "range:0") == (
        "エラー：--customer-count は none、exact、range:STEP（STEP は 1 以上）のいずれかにして"
        "ください（'range:0' は使えません）")
    proof = tmp_path / "p.json"
    proof.write_text("{}", encoding="utf-8")
    assert ja_error(cli, "reserves", "verify", str(proof), "--format", "pdf") == (
        "エラー：--format は kinko か okx-v1 にしてください（'pdf' は使えません）")
    assert ja_error(cli, "reserves", "verify", str(proof)).startswith(
        "エラー：--root を指定してください。証明が成り立つのは、取引所が公開したルート")


def test_the_okx_verifier_refusals_name_the_file(
        cli: CliRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kinko.cli import reserves

    proof, root = tmp_path / "p.json", tmp_path / "root.json"
    proof.write_text(json.dumps({"self": {}, "path": []}), encoding="utf-8")
    root.write_text(json.dumps({"format": "kinko"}), encoding="utf-8")
    with pytest.raises(BadInput) as caught:
        reserves._verify_okx(proof, str(root))
    assert JA.text(caught.value.said()) == (f"{root}：OKX v1 の root.json（format okx-v1）で"
                                             "はありません")
    assert EN.text(caught.value.said()) == caught.value.message

    real_open = Path.open

    def refused(self: Path, *args: Any, **kw: Any) -> Any:
        if self == proof:
            raise PermissionError(13, "Permission denied")
        return real_open(self, *args, **kw)

    monkeypatch.setattr(Path, "open", refused)
    with pytest.raises(BadInput) as caught:
        reserves._verify_okx(proof, "ab" * 32)
    assert JA.text(caught.value.said()) == f"証明ファイル {proof} を読めません：アクセス権がありません"
    assert caught.value.message == f"{proof}: cannot read the proof: Permission denied"
    monkeypatch.undo()

    monkeypatch.setitem(sys.modules, "kinko.domain.okx", None)  # the import fails
    assert ja_error(cli, "reserves", "verify", str(proof), "--root", "ab" * 32, "--format",
                    "okx-v1") == "エラー：OKX v1 の検証器（kinko.domain.okx）がありません"


def test_reserves_report_names_its_formats_and_the_node_it_needs(
        cli: CliRun, tmp_path: Path) -> None:
    assert ja_error(cli, "reserves", "report", str(tmp_path), "--format", "csv") == (
        "エラー：--format は table か json にしてください（'csv' は使えません）")
    assert ja_error(cli, "reserves", "report", str(tmp_path)) == (
        "エラー：チェーンのノードが設定されていません。KINKO_EVM_RPC_URL か KINKO_CHAINS を設定"
        "してください")


# ---------------------------------------------------------------- kinko serve and watch

def test_serve_and_watch_say_what_they_need(cli: CliRun) -> None:
    err = ja_error(cli, "serve", "--workers", "2")  # SQLite: refused before any socket
    assert err.startswith("エラー：--workers 2：SQLite は書き込みが 1 つだけのため") and \
        "PostgreSQL" in err and "--workers を外してください" in err, err
    code, _, err = cli("serve", "--workers", "2")
    assert code == 2 and err.startswith("error: --workers 2: SQLite has one writer"), err
    assert ja_error(cli, "watch", "--once") == (
        "エラー：kinko watch にはノードが必要です。KINKO_EVM_RPC_URL か KINKO_CHAINS（または "
        "--evm-rpc-url、--chains）を設定してください")
