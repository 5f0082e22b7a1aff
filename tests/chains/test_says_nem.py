"""NEM's errors say their specifics in Japanese too: the NIS1 adapter (on the NIS1 double, and
on a hostile node whose words are cut short), keys and transactions, mosaic ids, a multisig
account's transfer and cosignatures, NEM wallets and mosaic tags. Each error is raised
through the real code path; its Japanese words name what and where, and its English catalog
words are its message's."""

from __future__ import annotations

import errno
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hostilenode import Node
from nis1double import PRIVATE, Nis1Double

from kinko.chains import nem
from kinko.chains.nem_multisig import check_cosignature, cosign, initiate, prepare
from kinko.chains.nem_tags import write_mosaic_tags
from kinko.chains.nem_wallets import (
    NemAccounts,
    NemCosignerOwner,
    NemKeyWallet,
    NemMultisigWallet,
)
from kinko.chains.nis1 import NisChain
from kinko.domain.custody import Multisig
from kinko.domain.nem import check_public_key, mosaic_id
from kinko.domain.nem_tx import read_transfer
from kinko.errors import ApprovalError, BadInput, ChainRejected, ConfigError, KinkoError
from kinko.i18n import Localizer

JA, EN = Localizer("ja"), Localizer("en")
CHAIN = "nem-testnet"
ACCOUNT, OPS, COSIGNER, RECOVERY, OUTSIDER, CUSTOMER = (
    nem.NemKey(c * 64, CHAIN) for c in "123456")
XEM = 1_000_000
TAG = "kinko.tags:stolen"
MEGABYTE = "x" * 2**20  # what a hostile node may put where kinko reads one word


def ja(exc: KinkoError) -> str:
    return JA.text(exc.said())


def en(exc: KinkoError) -> str:
    return EN.text(exc.said())


def plain(exc: KinkoError) -> str:
    """The English message without Python's repr quotes (the catalog drops them)."""
    return exc.message.replace("'", "")


def hot_transfer(amount: int = 250 * XEM) -> Any:
    return prepare(CHAIN, account_public_key=ACCOUNT.public_key,
                   initiator_public_key=OPS.public_key, to=CUSTOMER.address,
                   amount=amount, timestamp=10_000, deadline=10_000 + 3600)


@pytest.fixture
def double() -> Iterator[Nis1Double]:
    node = Nis1Double(CHAIN)
    node.fund(ACCOUNT.address, 1_000 * XEM)
    yield node
    node.close()


@pytest.fixture
def hostile() -> Iterator[Node]:
    node = Node()
    yield node
    node.close()


# ---------------------------------------------------------------------- chains/nis1.py


def test_the_nis1_adapter_says_what_the_double_does_not_have(double: Nis1Double) -> None:
    chain = NisChain(double.url, name=CHAIN)
    with pytest.raises(BadInput) as caught:
        chain.mosaic("kinko.tags:nothing")
    assert "モザイク kinko.tags:nothing は不明です" in ja(caught.value)
    assert double.url in ja(caught.value) and "名前空間 kinko.tags" in ja(caught.value)
    assert en(caught.value) == plain(caught.value)
    with pytest.raises(BadInput) as caught:
        chain.public_key(CUSTOMER.address)  # never signed anything
    assert ja(caught.value) == (f"チェーン上に {CUSTOMER.address} の公開鍵がありません（この"
                                "アカウントはトランザクションに署名したことがありません）")
    assert en(caught.value) == caught.value.message
    double.mine()
    double.mine()
    with pytest.raises(BadInput) as caught:
        chain.balances([ACCOUNT.address], block=1, token=TAG)
    assert "ブロック 1 時点" in ja(caught.value) and ACCOUNT.address in ja(caught.value)
    assert TAG in ja(caught.value)
    assert en(caught.value) == caught.value.message
    with pytest.raises(BadInput) as caught:
        chain.send_raw(b"not json")
    assert '{"data", "signature"}' in ja(caught.value)
    assert en(caught.value) == caught.value.message
    with pytest.raises(ChainRejected) as rejected:
        chain.nonce(ACCOUNT.address)
    assert ACCOUNT.address in ja(rejected.value) and "ノンス" in ja(rejected.value)
    assert en(rejected.value) == rejected.value.message


def test_a_node_of_another_network_is_named_with_its_network(double: Nis1Double) -> None:
    with pytest.raises(ConfigError) as caught:
        NisChain(double.url, name="nem").caip2()  # the double is a testnet node
    assert ja(caught.value) == (f"NIS1 ノード {double.url} は NEM ネットワーク 0x98（テスト"
                                "ネット）のノードで、nem のノードではありません")
    assert en(caught.value) == caught.value.message


def test_a_hostile_nodes_refusal_is_said_cut_short(hostile: Node) -> None:
    hostile.status = 400
    hostile.body = json.dumps({"status": 400, "message": "no " + MEGABYTE}).encode()
    with pytest.raises(ChainRejected) as caught:
        NisChain(hostile.url, name=CHAIN).block(5)
    said = ja(caught.value)
    assert said.startswith(f"NIS1 ノード {hostile.url} が要求（ブロック 5）を拒否しました："
                           "HTTP 400 no xxx")
    assert len(said) < 400
    assert en(caught.value) == caught.value.message
    with pytest.raises(ChainRejected) as caught:
        NisChain(hostile.url, name=CHAIN).balances([CUSTOMER.address])
    assert f"要求（{CUSTOMER.address} の残高）" in ja(caught.value)
    hostile.status = 200
    hostile.body = json.dumps({"code": 5, "message": "FAILURE_" + MEGABYTE}).encode()
    body = json.dumps([{"data": "00", "signature": "00"}] * 2).encode()
    with pytest.raises(ChainRejected) as caught:
        NisChain(hostile.url, name=CHAIN).send_raw(body)
    said = ja(caught.value)
    assert said.startswith(f"NIS1 ノード {hostile.url} が受け付けませんでした（アナウンスする"
                           "トランザクション）：FAILURE_xxx")
    assert len(said) < 400
    assert en(caught.value) == caught.value.message


# ---------------------------------------------------------------------- chains/nem.py


def test_keys_and_transactions_say_what_is_wrong(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(BadInput) as caught:
        nem.NemKey("zz" * 32, CHAIN, source="hot.key")
    assert ja(caught.value) == "hot.key：NEM の秘密鍵ではありません（16 進数 64 桁が必要です）"
    assert en(caught.value) == caught.value.message
    assert "zz" not in ja(caught.value)  # what the key file held is never said
    locked = tmp_path / "hot.key"

    def refused(path: Path, error: type[BadInput]) -> None:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(nem, "open_input", refused)  # the system refuses to read it
    with pytest.raises(BadInput) as caught:
        nem.NemKey.from_file(locked, CHAIN)
    monkeypatch.undo()
    assert ja(caught.value).startswith(f"{locked}：鍵ファイルを読めません（")
    assert "Permission" not in ja(caught.value)
    assert en(caught.value) == caught.value.message
    with pytest.raises(BadInput) as caught:
        nem.transfer(CHAIN, signer_public_key=OPS.public_key, recipient=CUSTOMER.address,
                     timestamp=1, amount=5, mosaics=[(TAG, 1)], mosaic_info={TAG: (10, 0)})
    assert ja(caught.value) == ("送金で送れるのは XEM かモザイク（nem:xem を含む）のどちらかで、"
                                "両方は送れません")
    with pytest.raises(BadInput) as caught:
        nem.transfer(CHAIN, signer_public_key=OPS.public_key, recipient=CUSTOMER.address,
                     timestamp=1, mosaics=[(TAG, 1)])
    assert f"モザイク {TAG} は不明です" in ja(caught.value)
    assert en(caught.value) == plain(caught.value)
    with pytest.raises(BadInput) as caught:
        OPS.sign(nem.transfer(CHAIN, signer_public_key=COSIGNER.public_key,
                              recipient=CUSTOMER.address, timestamp=1, amount=1))
    assert ja(caught.value) == (f"トランザクションの署名者は {COSIGNER.public_key} で、この鍵"
                                f"（{OPS.address}）ではありません")
    with pytest.raises(BadInput) as caught:
        nem.cosignature(CHAIN, cosignatory_public_key=OPS.public_key,
                        inner_transaction_hash="ab" + MEGABYTE,
                        multisig_address=ACCOUNT.address, timestamp=1)
    assert "16 進数 64 桁ではありません" in ja(caught.value) and len(ja(caught.value)) < 200
    with pytest.raises(BadInput) as caught:
        nem.nis_hash({"type": 0x2001, "version": 1, "signer": OPS.public_key, "timeStamp": 1,
                      "deadline": 2, "fee": 3}, CHAIN)
    assert ja(caught.value) == ("NEM のトランザクション（種類 8193、バージョン 1）は送金でも"
                                "マルチシグの変更でもありません")
    assert en(caught.value) == caught.value.message
    with pytest.raises(BadInput) as caught:
        nem.nis_hash({"type": 0x101}, CHAIN)
    assert ja(caught.value) == "NIS1 の送金ではありません：KeyError 'version'"
    assert en(caught.value) == caught.value.message


# ---------------------------------------------------------------------- domain/nem.py


def test_mosaic_ids_and_public_keys_say_what_is_wrong_cut_short() -> None:
    with pytest.raises(BadInput) as caught:
        mosaic_id("nem")
    assert ja(caught.value) == "モザイク nem は「名前空間:名前」の形ではありません（例：nem:xem）"
    assert en(caught.value) == plain(caught.value)
    with pytest.raises(BadInput) as caught:
        mosaic_id("Bad!" + MEGABYTE + ":xem")
    assert "は NEM の名前空間ではありません" in ja(caught.value)
    assert len(ja(caught.value)) < 400
    with pytest.raises(BadInput) as caught:
        mosaic_id("kinko:No  Double")
    assert ja(caught.value).startswith("モザイク kinko:No  Double：no  double は NEM のモザイク名")
    with pytest.raises(BadInput) as caught:
        check_public_key("12" + MEGABYTE)
    assert ja(caught.value).startswith("公開鍵 12xx") and len(ja(caught.value)) < 200
    assert en(caught.value) == plain(caught.value)


# ---------------------------------------------------------------------- domain/nem_tx.py


def test_a_transfer_read_from_its_bytes_says_what_it_is_instead() -> None:
    with pytest.raises(BadInput) as caught:
        read_transfer(CHAIN, "not hex")
    assert ja(caught.value) == "NEM の送金は 16 進数のバイト列で指定してください"
    tx = hot_transfer()
    signed = cosign(tx, COSIGNER)
    with pytest.raises(BadInput) as caught:
        read_transfer(CHAIN, signed.data)
    assert ja(caught.value) == "送金ではなく CosignatureV1 です"
    assert en(caught.value) == caught.value.message
    mainnet = nem.transfer("nem", signer_public_key=nem.NemKey("1" * 64, "nem").public_key,
                           recipient=nem.NemKey("6" * 64, "nem").address, timestamp=1,
                           amount=1)
    data = bytes(nem.facade("nem").transaction_factory.to_non_verifiable_transaction(
        mainnet).serialize()).hex()
    with pytest.raises(BadInput) as caught:
        read_transfer(CHAIN, data)
    assert ja(caught.value) == f"ネットワーク 0x68 の送金で、{CHAIN} の送金ではありません"
    assert en(caught.value) == caught.value.message


# ---------------------------------------------------------------------- chains/nem_multisig.py


def test_a_cosignature_of_another_transfer_names_both() -> None:
    tx = hot_transfer()
    cosigners = [OPS.address, COSIGNER.address, RECOVERY.address]
    other = hot_transfer(251 * XEM)
    with pytest.raises(ApprovalError) as caught:
        check_cosignature(tx, cosign(other, COSIGNER), cosigners)
    assert ja(caught.value) == (f"{COSIGNER.address} が連署したのはトランザクション "
                                f"{other.inner_hash.upper()} で、この送金（{tx.inner_hash}）では"
                                "ありません")
    assert en(caught.value) == caught.value.message
    with pytest.raises(ApprovalError) as caught:
        check_cosignature(tx, cosign(tx, OUTSIDER), cosigners)
    assert ja(caught.value) == (f"{OUTSIDER.address} は {ACCOUNT.address} の連署者（送金を開始"
                                "した連署者を除く）ではありません")
    with pytest.raises(ApprovalError) as caught:
        initiate(tx, COSIGNER)
    assert ja(caught.value) == (f"{COSIGNER.address} はこの送金を開始する連署者"
                                f"（{OPS.address}）ではありません")
    assert en(caught.value) == caught.value.message


# ---------------------------------------------------------------------- chains/nem_wallets.py


def test_nem_wallets_say_what_they_refuse() -> None:
    chain = SimpleNamespace(name=CHAIN)
    with pytest.raises(ApprovalError) as caught:
        NemKeyWallet(chain, OPS).accept(None, RECOVERY.address, b"")  # type: ignore[arg-type]
    assert ja(caught.value) == (f"NEM アカウント {OPS.address} は単一の鍵で署名します。連署は"
                                "受け付けません")
    with pytest.raises(ConfigError) as caught:
        NemKeyWallet(SimpleNamespace(name="nem"), OPS)
    assert ja(caught.value) == f"{OPS.address} の鍵は {CHAIN} 用で、nem 用ではありません"
    owners = (OPS.address, COSIGNER.address, RECOVERY.address)
    with pytest.raises(ConfigError) as caught:
        NemMultisigWallet(chain, ACCOUNT.address, Multisig(owners, 2), OPS)
    assert ja(caught.value) == (f"運用鍵 {OPS.address} は NEM アカウント {ACCOUNT.address} に"
                                "登録済みの運用鍵（登録なし）ではありません")
    assert en(caught.value) == caught.value.message


def test_a_chain_that_differs_from_the_registered_set_up_is_said_cut_short() -> None:
    strangers = tuple(nem.NemKey(f"{i:064x}", CHAIN).address for i in range(7, 60))
    chain = SimpleNamespace(name=CHAIN, multisig=lambda address: (3, tuple(sorted(
        (OPS.address, COSIGNER.address, *strangers)))))
    owners = (OPS.address, COSIGNER.address, RECOVERY.address)
    with pytest.raises(ConfigError) as caught:
        NemAccounts(chain).check(ACCOUNT.address, Multisig(owners, 2))
    said = ja(caught.value)
    assert said.startswith(f"NEM アカウント {ACCOUNT.address} は登録済みのマルチシグアカウント"
                           "と異なります：最小連署数はチェーン上で 3、登録は 2。登録されていない"
                           "連署者：")
    assert said.endswith(f"。チェーン上にない登録済みの連署者：{RECOVERY.address}")
    assert len(said) < 1_000 < len(caught.value.message)


def test_a_co_signers_wrong_answer_says_the_cosignatures_fault() -> None:
    tx = hot_transfer()
    wrong = cosign(hot_transfer(251 * XEM), COSIGNER)
    cosigner = SimpleNamespace(cosign_nem=lambda *args: SimpleNamespace(
        data=wrong.data, signature=wrong.signature))
    owner = NemCosignerOwner(cosigner, COSIGNER.address)  # type: ignore[arg-type]
    with pytest.raises(ApprovalError) as caught:
        owner.cosign(tx, ("withdrawal", "W7"), [OPS.address, COSIGNER.address])
    assert ja(caught.value).startswith("依頼 withdrawal:W7 へのポリシー共同署名者の回答は、この"
                                       f"送金の連署ではありません：{COSIGNER.address} が連署"
                                       "したのはトランザクション")
    assert en(caught.value) == caught.value.message.replace("withdrawal W7",
                                                            "withdrawal:W7")


# ---------------------------------------------------------------------- chains/nem_tags.py


def test_mosaic_tags_say_which_account_is_no_nem_account(tmp_path: Path) -> None:
    key = nem.NemKey(PRIVATE[0], CHAIN)
    at = datetime(2026, 1, 26, tzinfo=UTC)
    with pytest.raises(BadInput) as caught:
        write_mosaic_tags(["0x" + "ab" * 20], tmp_path / "out", chain=CHAIN, mosaic=TAG,
                          key=key, supply=1_000, divisibility=0, at=at)
    said = ja(caught.value)
    assert said.startswith(f"追跡結果の 0x{'ab' * 20} は {CHAIN} のアカウントではありません（")
    assert said.endswith("）。モザイクタグを送れるのは NEM のアカウントだけです")
    assert "address" not in said  # the address's own reason, in Japanese too
    assert en(caught.value) == plain(caught.value)
    with pytest.raises(BadInput) as caught:
        write_mosaic_tags([CUSTOMER.address], tmp_path / "out", chain=CHAIN, mosaic=TAG,
                          key=key, supply=1_000, divisibility=0, at=at, holdings=(0, 10))
    assert ja(caught.value) == (f"署名者 {key.address} の保有は {TAG} が 0、XEM が 10 マイクロ "
                                "XEM です。1 件のアカウントにタグを付けるには 1 と 50,000 マイクロ"
                                " XEM が必要です。何も書き込んでいません")
    with pytest.raises(BadInput) as caught:
        write_mosaic_tags([key.address], tmp_path / "out", chain=CHAIN, mosaic=TAG,
                          key=key, supply=1_000, divisibility=0, at=at)
    assert ja(caught.value) == "追跡結果にタグを付ける汚染アカウントがありません"
    assert not (tmp_path / "out").exists()
