"""Errors of the trace files (the Spark engine's refusals before Spark starts, the DuckDB
engine's order checks, UTXO files), ERC-20 helpers, key locations, the Safe reader, SoftHSM,
policy vetoes, proof formats, reserves proofs and state names say their specifics in Japanese
as well as in English."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from saying import said

from kinko.chains import erc20, softhsm
from kinko.chains.evm import EvmChain, Transient
from kinko.chains.keys import KeyRing
from kinko.chains.safe_reader import ChainSafes
from kinko.chains.tracefiles import load_account, load_utxo
from kinko.chains.tracefiles.spark import SparkTransfers, spark_failures, spark_session
from kinko.domain.approvals import public_key_hex
from kinko.domain.messages import Message
from kinko.domain.policy import Policy
from kinko.domain.policy_lock import Veto, check_veto, veto_bytes
from kinko.domain.proof_formats import refuse_foreign
from kinko.domain.reserves_proof import point_of, proof_message
from kinko.domain.states import ALERT_STATES, WITHDRAWAL_STATES, one_of
from kinko.errors import (
    ApprovalError,
    BadInput,
    ChainRejected,
    ChainUnavailable,
    ConfigError,
    EnvironmentProblem,
    InputFileError,
    InvalidAmount,
)
from kinko.i18n import Localizer
from kinko.verify_proof import ChainPoint, Header

JA, EN = Localizer("ja"), Localizer("en")
A = "0x" + "a" * 40




# --- the trace files -------------------------------------------------------------------------

HEAD = "tx_hash,block,tx_index,log_index,from,to,value,fee\n"


def load_refused(tmp_path: Path, rows: str) -> InputFileError:
    path = tmp_path / "t.csv"
    path.write_text(HEAD + rows)
    with pytest.raises(InputFileError) as caught:
        load_account(path, "csv")
    return caught.value


def test_order_problems_say_blocks_and_lines(tmp_path: Path) -> None:
    ja, en = said(load_refused(tmp_path, "a,2,0,0,x,y,5,0\nb,1,0,0,x,y,5,0\n"))
    assert "順序が違います" in ja and "2 行目" in ja and "3 行目" in ja
    assert "ブロック 1、tx_index 0、log_index 0" in ja and "out of order" not in ja
    assert "out of order: block 1, tx_index 0, log_index 0 comes after block 2" in en
    ja, en = said(load_refused(tmp_path, "a,1,0,0,x,y,5,0\nb,1,0,0,x,y,5,0\n"))
    assert "重複" in ja and "最初は 2 行目" in ja
    assert "duplicate: block 1, tx_index 0, log_index 0 again (first on line 2)" in en
    ja, en = said(load_refused(tmp_path, "a,1,0,0,x,y,5,0\nb,1,0,1,x,y,5,0\n"))
    assert "2 つの取引 b と a" in ja and "2 行目" in ja
    assert "holds two transactions, b and a (on line 2)" in en
    ja, en = said(load_refused(tmp_path,
                               "a,1,0,0,x,y,5,0\nb,1,1,0,x,y,5,0\na,1,2,0,x,y,5,0\n"))
    assert "取引 a がブロック 1、tx_index 2" in ja and "4 行目" in ja
    assert "transaction a is at block 1, tx_index 2, but at block 1, tx_index 0 on line 2" in en


def test_a_utxo_file_says_its_first_problem_line(tmp_path: Path) -> None:
    path = tmp_path / "u.jsonl"
    path.write_text('{"txid": "t1"}\n')
    with pytest.raises(InputFileError) as caught:
        load_utxo(path)
    ja, en = said(caught.value)
    assert str(path) in ja and "1 行目" in ja and "何も読み込んでいません" in ja
    assert en.startswith(f"{path}: 1 problem")


def test_spark_refusals_before_spark_starts(tmp_path: Path) -> None:
    with pytest.raises(BadInput) as caught:
        spark_session("local[1]", "lots")
    ja, en = said(caught.value)
    assert "--spark-memory" in ja and "lots" in ja and "4g" in ja
    assert en == "--spark-memory must be a size like 4g or 512m, not lots"
    with pytest.raises(InputFileError) as bad_format:
        SparkTransfers(tmp_path / "t.csv", "nem")
    ja, en = said(bad_format.value)
    assert "nem" in ja and "csv と parquet" in ja
    assert en.endswith("the Spark engine reads the csv and parquet formats, not nem")
    with pytest.raises(InputFileError) as missing:
        SparkTransfers(tmp_path / "none.csv", "csv")
    ja, en = said(missing.value)
    assert f"{tmp_path / 'none.csv'} というファイルはありません" == ja
    assert en == f"{tmp_path / 'none.csv'}: no such file"


def test_a_failed_spark_job_says_what_spark_said() -> None:
    from pyspark.errors import PySparkException

    with pytest.raises(EnvironmentProblem) as caught, spark_failures():
        raise PySparkException("java.lang.IllegalStateException: lost executor 3")
    ja, en = said(caught.value)
    assert "Spark のジョブが失敗しました" in ja and "lost executor 3" in ja
    assert en == caught.value.message
    with pytest.raises(EnvironmentProblem) as memory, spark_failures():
        raise PySparkException("java.lang.OutOfMemoryError: Java heap space")
    ja, en = said(memory.value)
    assert "--spark-memory" in ja and "OutOfMemoryError" in ja
    assert en == memory.value.message


# --- ERC-20 ----------------------------------------------------------------------------------

@dataclass
class DevChain:
    """A development node that mines whatever it is given, recording what it was asked."""

    receipt: dict[str, Any]
    label: str = "dev"
    name: str = "dev"

    def __post_init__(self) -> None:
        self.asked: list[Message | None] = []

    def dev_transact(self, tx: dict[str, Any], what: str, asked: Message | None = None
                     ) -> tuple[str, dict[str, Any]]:
        self.asked.append(asked)
        return "0x" + "11" * 32, self.receipt


def test_token_amounts_and_decimals_say_their_value() -> None:
    with pytest.raises(InvalidAmount) as caught:
        erc20.transfer_call(A, -5)
    ja, en = said(caught.value)
    assert "トークンの数量" in ja and "-5" in ja
    assert en == caught.value.message
    with pytest.raises(InvalidAmount) as decimals:
        erc20.deploy_token(DevChain({}), name="T", symbol="T", decimals=300, supply=1)
    ja, en = said(decimals.value)
    assert "300" in ja and "小数の桁数" in ja and en == decimals.value.message


def test_deploying_and_funding_name_the_token_in_japanese() -> None:
    chain = DevChain({})
    with pytest.raises(ChainRejected) as caught:
        erc20.deploy_token(chain, name="Kin", symbol="KIN", decimals=6, supply=10)
    ja, en = said(caught.value)
    assert "KIN" in ja and "コントラクトが作られませんでした" in ja
    assert en == "the dev node created no contract deploying token KIN"  # the node by name
    erc20.fund_token(chain, A, "0x" + "b" * 40, 5)
    asked = [JA.text(m) for m in chain.asked if m is not None]
    assert asked == ["トークン KIN のデプロイ", f"{'0x' + 'b' * 40} へのトークン {A} の送金"]


# --- keys, the Safe reader, SoftHSM ----------------------------------------------------------

def test_a_nem_key_in_an_hsm_is_refused_by_name(tmp_path: Path) -> None:
    ring = KeyRing(tmp_path, {"nem-hot": ("hsm", "label")})
    with pytest.raises(ConfigError) as caught:
        ring.nem_where("nem-hot")
    ja, en = said(caught.value)
    assert "鍵 nem-hot" in ja and "keys = nem-hot=file:PATH" in ja
    assert en == caught.value.message


class NodeOf:
    """A node answering fee parameters (chain id first) or failing."""

    name = "sepolia"
    label = "sepolia (http://node)"

    def __init__(self, chain_id: int | None) -> None:
        self.chain_id = chain_id

    def fee_params(self) -> tuple[int, int, int]:
        if self.chain_id is None:
            raise Transient("sepolia did not answer the chain id: Timeout")
        return self.chain_id, 1, 1


def test_the_safe_reader_says_which_chain() -> None:
    with pytest.raises(ConfigError) as caught:
        ChainSafes(cast(EvmChain, NodeOf(5)), expected_chain_id=1).chain_id()
    ja, en = said(caught.value)
    assert "sepolia のノードはチェーン 5" in ja and "chain_id が 1" in ja
    assert en == "the sepolia node is chain 5; the co-signer's settings pin chain_id 1"
    with pytest.raises(ChainUnavailable) as down:
        ChainSafes(cast(EvmChain, NodeOf(None)), attempts=2, delay=0).chain_id()
    ja, _en = said(down.value)
    assert "sepolia" in ja and "2 回" in ja


def test_softhsm_refusals_say_what(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("kinko.chains.softhsm.shutil.which", lambda _name: None)
    with pytest.raises(ConfigError) as missing:
        softhsm.start(tmp_path / "hsm", {"t": "1234"})
    ja, en = said(missing.value)
    assert "SoftHSM2 がインストールされていません" in ja and en == missing.value.message
    module = tmp_path / "libsofthsm2.so"
    module.write_bytes(b"")
    monkeypatch.setattr("kinko.chains.softhsm.shutil.which", lambda _name: "/bin/true")
    fake = type(sys)("pkcs11")
    fake._loaded = {str(module): object()}  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pkcs11", fake)
    with pytest.raises(ConfigError) as loaded:
        softhsm.start(tmp_path / "hsm", {"t": "1234"}, module=str(module))
    ja, en = said(loaded.value)
    assert str(module) in ja and "読み込まれています" in ja and en == loaded.value.message
    monkeypatch.delitem(sys.modules, "pkcs11")
    monkeypatch.setattr("kinko.chains.softhsm.subprocess.run", lambda *a, **k: subprocess.CompletedProcess(
        a, 1, "", "ERROR: slot taken"))
    with pytest.raises(ConfigError) as init:
        softhsm.start(tmp_path / "hsm", {"ops": "1234"}, module=str(module))
    ja, en = said(init.value)
    assert "トークン ops" in ja and "slot taken" in ja and "1234" not in ja
    assert en == init.value.message.replace("'ops'", "ops")


# --- policy vetoes, proofs, states -----------------------------------------------------------

@dataclass
class _Approver:
    public_key: str


class _Policy:
    """What :func:`check_veto` reads of a policy version."""

    def __init__(self, version: int, approvers: dict[str, str]) -> None:
        self.version = version
        self.digest = f"{version:02d}" * 32
        self._approvers = approvers

    def approver(self, name: str) -> _Approver | None:
        key = self._approvers.get(name)
        return None if key is None else _Approver(key)


def test_vetoes_say_who_and_which_version() -> None:
    carol = Ed25519PrivateKey.generate()
    base = _Policy(1, {"carol": public_key_hex(carol)})
    new = _Policy(2, {"carol": public_key_hex(carol)})
    signature = carol.sign(veto_bytes(2, new.digest)).hex()
    check_veto(Veto(2, "carol", signature, cast(Any, None)), cast(Policy, new),
               cast(Policy, base))
    with pytest.raises(ApprovalError) as caught:
        check_veto(Veto(2, "mallory", signature, cast(Any, None)), cast(Policy, new),
                   cast(Policy, base))
    ja, en = said(caught.value)
    assert "mallory" in ja and "管理方針 第1版" in ja and "第2版" in ja
    assert en == caught.value.message.replace("'mallory'", "mallory")
    with pytest.raises(ApprovalError) as forged:
        check_veto(Veto(2, "carol", "00" * 64, cast(Any, None)), cast(Policy, new),
                   cast(Policy, base))
    ja, en = said(forged.value)
    assert "carol" in ja and "偽造" in ja and new.digest[:16] in ja
    assert en == forged.value.message


def test_a_foreign_proof_says_what_it_looks_like() -> None:
    with pytest.raises(InputFileError) as caught:
        refuse_foreign({"self": {}, "path": []}, "proof.json", "kinko")
    ja, en = said(caught.value)
    assert ja.startswith("proof.json：") and "OKX の v1" in ja and "--format okx-v1" in ja
    assert en == caught.value.message


def test_reserves_proof_refusals_say_root_and_chain() -> None:
    header = Header(snapshot_id=b"\x01" * 16, height=1, assets=(), reserves_at=(
        ChainPoint("ethereum", "eip155:1", 7, b"\x00" * 32),))
    with pytest.raises(BadInput) as caught:
        proof_message("ABC", header, "ethereum", A)
    ja, en = said(caught.value)
    assert "ABC" in ja and "64 桁" in ja
    assert en == "root hash ABC is not 64 lower-case hex digits"
    with pytest.raises(BadInput) as unbound:
        point_of(header, "nem")
    ja, en = said(unbound.value)
    assert "01" * 16 in ja and "nem" in ja and "ethereum" in ja
    assert en == unbound.value.message


def test_a_state_name_says_the_states_it_may_be() -> None:
    with pytest.raises(BadInput) as caught:
        one_of("gone", ALERT_STATES, "alert state")
    ja, en = said(caught.value)
    assert ja.startswith("アラートの状態") and "のいずれか" in ja and "gone" in ja
    assert ", ".join(ALERT_STATES) in ja and "alert" not in ja
    assert en == caught.value.message.replace("'gone'", "gone")
    with pytest.raises(BadInput) as other:
        one_of("x" * 500, WITHDRAWAL_STATES, "withdrawal state")
    ja, _en = said(other.value)
    assert "出金の状態" in ja and "x" * 81 not in ja
