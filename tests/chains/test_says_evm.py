"""The EVM adapter's, the Safe's and the wallet kinds' errors say their specifics in each
language: a Japanese operator reads the node, the request, the Safe, the owner and the nonce
where the class's sentence alone said none of them (what reaches the dashboard and the
timelines: a node refusing a transaction, a Safe transaction kinko will not sign)."""

from __future__ import annotations

from typing import Any

import pytest

from kinko.chains import safe as S
from kinko.chains.evm import EvmChain, node_says
from kinko.chains.keystore import throwaway_signer
from kinko.chains.registry import _NoCosigner, connect, multisigs_for, spender_for
from kinko.chains.retry import Retrying
from kinko.chains.wallets import KeyWallet, SafeAccounts, SafeWallet, deployment_of
from kinko.domain.custody import Multisig, Wallet
from kinko.domain.money import Asset
from kinko.domain.safe import SafeTx, check_owners, check_signatures, recover_owner
from kinko.errors import (
    ApprovalError,
    ChainRejected,
    ConfigError,
    KinkoError,
    SafeTxRefused,
)
from kinko.i18n import Localizer
from kinko.ports import Payment

JA, EN = Localizer("ja"), Localizer("en")
A, B, C = "0x" + "11" * 20, "0x" + "22" * 20, "0x" + "33" * 20
SAFE = "0x" + "44" * 20


def _ja(exc: KinkoError) -> str:
    """The error in Japanese, said by its own message (not its class's sentence alone)."""
    assert exc.says is not None, f"no says: {exc.message}"
    return JA.text(exc.said())


@pytest.fixture(scope="module")
def chain() -> EvmChain:
    return EvmChain.in_process()


# ---------------------------------------------------------------------- evm.py


def test_a_node_refusing_a_transaction_names_the_node_and_the_request(chain: EvmChain) -> None:
    chain_id, gas_price = chain.fee_params()
    raw = throwaway_signer().sign_transfer(to=A, value=10**18, nonce=0, gas_price=gas_price,
                                           chain_id=chain_id)  # from an empty account
    with pytest.raises(ChainRejected) as caught:
        chain.send_raw(raw)
    ja = _ja(caught.value)
    assert ja.startswith("プロセス内のチェーンが要求（署名済みの取引の送信）を拒否しました：")
    assert "cannot afford" in ja  # the node's own words, as it said them
    assert "refused" not in ja
    assert EN.text(caught.value.said()) == caught.value.message

    with pytest.raises(ChainRejected) as caught:
        chain.block(10**9)
    assert "要求（ブロック 1000000000）" in _ja(caught.value)
    assert EN.text(caught.value.said()) == caught.value.message


def test_no_erc20_contract_names_the_address_and_the_token(chain: EvmChain) -> None:
    holder = throwaway_signer().address
    with pytest.raises(ChainRejected) as caught:
        chain.balances([holder], token=B)
    ja = _ja(caught.value)
    assert holder in ja and "0x2222222222222222222222222222222222222222" in ja.lower()
    assert "最新ブロックにおける" in ja and "ERC-20 コントラクトはありません" in ja
    assert EN.text(caught.value.said()) == caught.value.message


def test_a_node_over_json_rpc_is_named_by_its_url(monkeypatch: pytest.MonkeyPatch) -> None:
    node = EvmChain.connect("http://127.0.0.1:9", timeout=0.5)
    answers: list[Any] = [{"jsonrpc": "2.0", "id": 1, "result": None},
                          {"jsonrpc": "2.0", "id": 2, "result": []}]
    monkeypatch.setattr(node.w3.provider, "make_batch_request", lambda calls: answers)
    with pytest.raises(ChainRejected) as caught:
        node.block(5)
    assert _ja(caught.value) == "http://127.0.0.1:9 のノードにはブロック 5 がありません"
    assert EN.text(caught.value.said()) == caught.value.message \
        == "node at http://127.0.0.1:9 has no block 5"

    monkeypatch.setattr(node.w3.provider, "make_batch_request",
                        lambda calls: {"error": {"code": -32000, "message": "x" * 10_000}})
    with pytest.raises(ChainRejected) as caught:
        node.block(6)
    ja = _ja(caught.value)
    assert ja.startswith("http://127.0.0.1:9 のノードが要求（ブロック 6）を拒否しました：x")
    assert len(ja) < 300  # the node's words cut
    assert node_says(Retrying(node)) == node.label_says  # through the retrying wrapper


# ---------------------------------------------------------------------- domain/safe.py


def test_a_safe_tx_kinko_does_not_sign_says_why() -> None:
    with pytest.raises(SafeTxRefused) as caught:
        SafeTx(safe=SAFE, chain_id=1, to="0xabc", value=0, data=b"", nonce=0)
    ja = _ja(caught.value)
    assert ja.startswith("送付先（to） 0xabc は Ethereum のアドレスではありません（アドレス "
                         "0xabc：Ethereum のアドレスではありません")  # the address's own words
    assert EN.text(caught.value.said()).startswith("to 0xabc is not an Ethereum address "
                                                   "(address 0xabc is not")

    tx = SafeTx(safe=SAFE, chain_id=1, to=A, value=1, data=b"", nonce=0, operation=1)
    with pytest.raises(SafeTxRefused) as caught:
        tx.check()
    assert "DELEGATECALL）は拒否します" in _ja(caught.value)
    assert EN.text(caught.value.said()) == caught.value.message

    tx = SafeTx(safe=SAFE, chain_id=1, to=A, value=1, data=b"", nonce=0, gas_price=7)
    with pytest.raises(SafeTxRefused) as caught:
        tx.check()
    assert _ja(caught.value) == (f"Safe {tx.safe}：ガス単価（gas_price） は 0 にしてください"
                                 "（kinko はガス代を払い戻しません）。7 は使えません")
    assert EN.text(caught.value.said()) == caught.value.message

    with pytest.raises(SafeTxRefused) as caught:
        SafeTx(safe=SAFE, chain_id=-1, to=A, value=0, data=b"", nonce=0)
    assert _ja(caught.value).startswith("チェーン ID（chain_id） は 0 から 2**256-1 までの整数")


def test_owners_and_signatures_refused_name_the_owner() -> None:
    with pytest.raises(SafeTxRefused) as caught:
        check_owners([A, B, A.upper().replace("0X", "0x")], 2)
    assert "が二度指定されています" in _ja(caught.value)
    with pytest.raises(SafeTxRefused) as caught:
        check_owners([A, B], 3)
    assert _ja(caught.value) == "必要署名数は 1 からオーナーの数（2）までです（3 は使えません）"

    with pytest.raises(ApprovalError) as caught:
        recover_owner(b"\0" * 32, b"\1" * 64 + bytes([40]))
    assert _ja(caught.value).startswith("署名の v が 40 です")

    signer = throwaway_signer()
    tx = SafeTx(safe=SAFE, chain_id=1, to=A, value=1, data=b"", nonce=3)
    with pytest.raises(ApprovalError) as caught:
        check_signatures(tx, {signer.address: signer.sign_digest(tx.hash)}, [A, B], 1)
    assert _ja(caught.value) == f"{signer.address} は Safe {tx.safe} のオーナーではありません"
    other = SafeTx(safe=SAFE, chain_id=5, to=A, value=1, data=b"", nonce=3)
    with pytest.raises(ApprovalError) as caught:
        check_signatures(tx, {signer.address: signer.sign_digest(other.hash)},
                         [A, signer.address], 1)
    ja = _ja(caught.value)
    assert signer.address in ja and "ノンス 3、チェーン 1" in ja and "偽造" in ja


# ---------------------------------------------------------------------- chains/safe.py


def test_safe_contracts_and_safes_missing_name_the_address_and_the_node(chain: EvmChain
                                                                        ) -> None:
    with pytest.raises(ChainRejected) as caught:
        S.canonical_deployment(chain)
    ja = _ja(caught.value)
    assert ja == (f"プロセス内のチェーンの {S.CANONICAL.singleton} に SafeL2 がありません。"
                  "プロセス内のチェーンでは Safe 1.4.1 が正規のアドレスにデプロイされていません")
    assert EN.text(caught.value.said()) == caught.value.message

    nobody = throwaway_signer().address
    with pytest.raises(ChainRejected) as caught:
        S.read_safe(chain, nobody)
    assert _ja(caught.value) == (f"プロセス内のチェーンの {nobody} に Safe はありません"
                                 "（このアドレスにはコードがありません）")

    with pytest.raises(ApprovalError) as caught:
        S.sign_safe_message(throwaway_signer(), 1, SAFE, b"short")
    assert _ja(caught.value) == "EIP-1271 の証明は 32 バイトのハッシュに対して行います"


def test_a_safe_not_as_registered_names_every_difference() -> None:
    deployment = S.SafeDeployment(singleton=A, proxy_factory=B, fallback_handler=C)
    info = S.SafeInfo(address=SAFE, version="1.3.0", singleton=A, owners=(A, B),
                      threshold=1, nonce=0, modules=(C,), guard=S.ZERO_ADDRESS,
                      fallback_handler=C)
    with pytest.raises(ChainRejected) as caught:
        S.check_safe(info, deployment, owners=[A, C], threshold=2)
    a, b, c, safe = (S.to_checksum_address(x) for x in (A, B, C, SAFE))
    assert _ja(caught.value) == (
        f"Safe {safe}：バージョンが 1.3.0 です（想定は 1.4.1）。モジュールが有効になっています："
        f"{c}。オーナーが異なります（不足：{c}、想定外：{b}）。必要署名数が 1 です（想定は 2）")
    assert EN.text(caught.value.said()) == caught.value.message
    assert a not in _ja(caught.value)  # an owner as expected is no difference


# ---------------------------------------------------------------------- wallets.py


def test_wallet_kinds_refusals_name_the_wallet_and_the_asset(chain: EvmChain) -> None:
    key = throwaway_signer()
    wallet = KeyWallet(chain, key)
    with pytest.raises(ConfigError) as caught:
        wallet.fee(Asset("XEM", "nem", 6))
    assert _ja(caught.value) == ("XEM は nem の資産ですが、このウォレットは ethereum "
                                 "にあります")
    with pytest.raises(ApprovalError) as caught:
        wallet.accept(Payment(Asset("ETH", "ethereum", 18), A, 1, ("withdrawal", "W-1")), A,
                      b"")
    assert _ja(caught.value).startswith(f"ウォレット {wallet.address} は 1 つの鍵で署名する")

    with pytest.raises(ConfigError) as caught:
        deployment_of(Multisig((A, B), 1, (("singleton", A), ("proxy_factory", B))))
    assert _ja(caught.value) == "マルチシグの設定に fallback_handler のコントラクトがありません"

    accounts = SafeAccounts(chain, S.SafeDeployment(A, B, C), None)
    with pytest.raises(ConfigError) as caught:
        accounts.create([A, B], 2)
    assert _ja(caught.value) == "Safe の作成にはガス代を払う鍵（リレーヤー）が必要です"
    assert EN.text(caught.value.said()) == caught.value.message


# ---------------------------------------------------------------------- registry.py


def test_registry_refusals_name_the_chain_wallet_and_request(chain: EvmChain) -> None:
    with pytest.raises(ConfigError) as caught:
        connect("bitcoin", "btcd", "http://127.0.0.1:1")
    assert _ja(caught.value) == ("チェーン bitcoin：アダプター btcd はありません"
                                 "（使えるのは evm, nis1）")
    with pytest.raises(ConfigError) as caught:
        multisigs_for(chain, "nis2")
    assert _ja(caught.value) == "nis2 のチェーンにはマルチシグウォレットがありません"
    with pytest.raises(ConfigError) as caught:
        multisigs_for(object(), "evm", deploy=True)  # type: ignore[arg-type]
    assert _ja(caught.value) == "Safe のコントラクトのデプロイには開発用のノードが必要です"

    with pytest.raises(ConfigError) as caught:
        spender_for(chain, "nis2", Wallet("hot", "ETH", "hot", (A,)), keys=None)  # type: ignore[arg-type]
    assert _ja(caught.value) == ("ウォレット hot：nis2 のチェーンには種類 key の"
                                 "ウォレットはありません")

    tx = SafeTx(safe=SAFE, chain_id=1, to=A, value=1, data=b"", nonce=0)
    with pytest.raises(ConfigError) as caught:
        _NoCosigner("hot", B).cosign("withdrawal", "W-7", tx)
    ja = _ja(caught.value)
    assert ja.startswith(f"ウォレット hot には共同署名者 {B} の署名が必要です。出金 W-7 を送るには")
    assert EN.text(caught.value.said()) == caught.value.message


def test_a_signature_for_another_nonce_says_sign_it_again(chain: EvmChain) -> None:
    deployment = S.deploy_safe_contracts(chain)
    relayer, first, second = throwaway_signer(), throwaway_signer(), throwaway_signer()
    chain.fund(relayer.address, 10**18)
    info = S.create_safe(chain, relayer, deployment, [first.address, second.address], 2)
    accounts = SafeAccounts(chain, deployment, relayer)
    multisig = Multisig(tuple(o.lower() for o in info.owners), 2, accounts.contracts())
    wallet = SafeWallet(chain, info.address, multisig, relayer, [])
    payment = Payment(Asset("ETH", "ethereum", 18), A, 1, ("withdrawal", "W-9"))
    later = SafeTx(safe=info.address, chain_id=chain.fee_params()[0], to=A, value=1, data=b"",
                   nonce=1)
    with pytest.raises(ApprovalError) as caught:
        wallet.accept(payment, first.address, first.sign_digest(later.hash))
    ja = _ja(caught.value)
    assert ja.startswith("この署名は、ハッシュ 0x")  # accept_signature's own words, nested
    assert ja.endswith(f"（Safe {wallet.address} のノンス 0 の SafeTx です。別の取引か前のノンスに"
                       "署名していませんか。署名し直してください）")
    assert EN.text(caught.value.said()) == caught.value.message

    signatures = {o.address: o.sign_digest(later.hash) for o in (first, second)}
    with pytest.raises(ApprovalError) as caught:
        S.execute(chain, relayer, later, signatures)
    assert _ja(caught.value) == (f"Safe {info.address} の SafeTx のノンス 1 にはまだ達して"
                                 "いません（Safe のノンスは現在 0）")
    assert EN.text(caught.value.said()) == caught.value.message
