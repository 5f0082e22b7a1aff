"""Custody's errors say their specifics in Japanese too: the wallet, the owner's address, the
proposal and its state, the policy version, the file. Each is raised through the real code
path (a wallet registered wrong, a proposal executed before its approvals, a policy file
naming a wallet that is not there ...), and every ``raise`` of a ``KinkoError`` in the
custody modules carries its catalog message (``says``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from saying import said

from kinko.domain.approvals import public_key_hex, sign_proposal
from kinko.domain.custody import Multisig, Wallet
from kinko.domain.ledger import Posting
from kinko.domain.messages import id_shown
from kinko.domain.money import AssetRegistry
from kinko.errors import ApprovalError, ConfigError, InvalidAccount, KinkoError, NotFound
from kinko.i18n import Localizer
from kinko.ports import FixedClock
from kinko.services.custody import Custody, ProposalView
from kinko.services.ledger import Ledger
from kinko.store import open_store, upgrade

JA, EN = Localizer("ja"), Localizer("en")
E = 10**18
KEYS = {n: Ed25519PrivateKey.generate() for n in ("alice", "bob")}
HOT, COLD = "0x" + "a" * 40, "0x" + "b" * 40
OPS, COSIGNER, RECOVERY = "0x" + "1" * 40, "0x" + "2" * 40, "0x" + "3" * 40




def english(exc: KinkoError) -> str:
    """The English words without Python's repr quotes (the catalog may drop them)."""
    return exc.message.replace("'", "")


def policy_text(version: int = 1, cold_wallet: str | None = None) -> str:
    approvers = "".join(f'[[approvers]]\nname = "{n}"\npublic_key = "{public_key_hex(k)}"\n'
                        for n, k in KEYS.items())
    cold = f'cold_wallet = "{cold_wallet}"\n' if cold_wallet else ""
    return (f"version = {version}\nquorum = 2\n{approvers}\n[assets.ETH]\n"
            f'max_hot_ratio = "0.05"\ntarget_hot_ratio = "0.02"\n{cold}')


@pytest.fixture
def custody() -> Iterator[Custody]:
    store = open_store("sqlite://")
    upgrade(store)
    ledger = Ledger(store, FixedClock(), AssetRegistry.default())
    ledger.sync_assets()
    ledger.add_wallet(Wallet("eth-hot", "ETH", "hot", (HOT,)))
    ledger.add_wallet(Wallet("eth-cold", "ETH", "cold", (COLD,)))
    ledger.post("open", [Posting("wallet:eth-hot", "ETH", 100 * E),
                         Posting("customer:C1", "ETH", -100 * E)], source="opening")
    yield Custody(ledger)
    store.close()


@pytest.fixture
def loaded(custody: Custody, tmp_path: Path) -> Custody:
    (tmp_path / "p.toml").write_text(policy_text(), encoding="utf-8")
    custody.load_policy(tmp_path / "p.toml", "ops")
    return custody


def sweep(custody: Custody) -> ProposalView:
    """The sweep the policy asks for (all of ETH is hot: far above 5%), pending."""
    (view,) = custody.propose_rebalance("ops")
    assert view.proposal.kind == "sweep" and view.state == "pending"
    return view


# ---------------------------------------------------------------- the domain: wallets


def test_a_wallet_registered_wrong_names_itself_and_what_is_wrong_in_japanese() -> None:
    with pytest.raises(InvalidAccount) as caught:
        Wallet("ETH Hot!", "ETH", "hot")
    ja, en = said(caught.value)
    assert "ETH Hot!" in ja and "ウォレット名" in ja and "1〜64 文字" in ja
    assert "lower-case" not in ja
    assert en == caught.value.message.replace("'ETH Hot!'", "ETH Hot!")

    with pytest.raises(InvalidAccount) as caught:
        Wallet("eth-warm", "ETH", "lukewarm")  # type: ignore[arg-type]
    ja, en = said(caught.value)
    assert "eth-warm" in ja and "lukewarm" in ja and "hot, warm, cold" in ja
    assert "tier must" not in ja
    assert en == english(caught.value)

    with pytest.raises(InvalidAccount) as caught:
        Wallet("eth-safe", "ETH", "hot", (HOT, COLD), kind="multisig",
               multisig=Multisig((OPS, COSIGNER), 1))
    ja, en = said(caught.value)
    assert "eth-safe" in ja and "マルチシグウォレットのアドレスは 1 つ" in ja
    assert en == caught.value.message


def test_a_multisig_set_up_wrong_names_the_owner_and_the_numbers_in_japanese() -> None:
    with pytest.raises(InvalidAccount) as caught:
        Multisig((OPS, COSIGNER, RECOVERY), 5)
    ja, en = said(caught.value)
    assert "（3）" in ja and "5" in ja and "必要署名数" in ja and "threshold" not in ja
    assert en == caught.value.message

    stranger = "0x" + "9" * 40
    with pytest.raises(InvalidAccount) as caught:
        Multisig((OPS, COSIGNER, RECOVERY), 2, operator=OPS, cosigner=stranger)
    ja, en = said(caught.value)
    assert ja == f"ポリシー共同署名者 {stranger} はオーナーに含まれていません"
    assert en == caught.value.message

    with pytest.raises(InvalidAccount) as caught:
        Multisig((OPS, COSIGNER, RECOVERY), 2, operator=stranger)
    assert said(caught.value)[0] == f"運用鍵 {stranger} はオーナーに含まれていません"

    with pytest.raises(InvalidAccount) as caught:
        Multisig.from_json({"owners": "0x1", "threshold": 1})
    assert "オーナー" in said(caught.value)[0]


def test_a_huge_value_is_cut_in_the_message_not_in_the_english_words() -> None:
    with pytest.raises(InvalidAccount) as caught:
        Wallet("x" * 100_000, "ETH", "hot")
    assert len(caught.value.message) > 100_000
    assert len(said(caught.value)[0]) < 300


# ---------------------------------------------------------------- the services: policy


def test_without_a_policy_the_japanese_says_how_to_load_one(custody: Custody) -> None:
    with pytest.raises(ConfigError) as caught:
        custody.propose_rebalance("ops")
    ja, en = said(caught.value)
    assert ja == "管理方針が読み込まれていません。`kinko policy load FILE --by NAME` を実行してください"
    assert en == caught.value.message


def test_a_policy_file_naming_an_unknown_cold_wallet_names_file_and_wallet(
        custody: Custody, tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(policy_text(cold_wallet="eth-vault"), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        custody.load_policy(path, "ops")
    ja, en = said(caught.value)
    assert str(path) in ja and "assets.ETH.cold_wallet" in ja and "eth-vault" in ja
    assert "コールドウォレット" in ja and "registered" not in ja
    assert en == english(caught.value)


def test_an_old_version_and_a_missing_one_are_named_by_number(loaded: Custody,
                                                              tmp_path: Path) -> None:
    (tmp_path / "same.toml").write_text(policy_text(1), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        loaded.load_policy(tmp_path / "same.toml", "ops")
    ja, en = said(caught.value)
    assert str(tmp_path / "same.toml") in ja and "第1版" in ja and "newer" not in ja
    assert en == caught.value.message

    with pytest.raises(NotFound) as found:
        loaded.veto(9, "alice", "00" * 64)
    assert said(found.value) == ("管理方針 第9版は読み込まれていません", found.value.message)

    with pytest.raises(ApprovalError) as refused:  # version 1 is in force: nothing to veto
        loaded.veto(1, "alice", "00" * 64)
    ja, en = said(refused.value)
    assert "第1版" in ja and "「適用中」" in ja and "タイムロック" in ja
    assert "policy version 1 is in force: only a version waiting" in en


# ---------------------------------------------------------------- the services: proposals


def test_an_unknown_proposal_is_named_wherever_it_is_asked_for(loaded: Custody) -> None:
    for act in (lambda: loaded.approve("P-404", "alice", "00"),
                lambda: loaded.execute("P-404"),
                lambda: loaded.settle("P-404"),
                lambda: loaded.owners_transaction("P-404")):
        with pytest.raises(ApprovalError) as caught:
            act()
        ja, en = said(caught.value)
        assert "P-404" in ja and "unknown" not in ja
        assert en == english(caught.value) == "unknown proposal P-404"


def test_a_huge_proposal_id_is_quoted_short_wherever_it_is_refused(loaded: Custody) -> None:
    """An id of 10,000 characters from the command line comes back at most 80 characters
    long, in the English words and in the message's parameters (as the REST API's refusals
    quote it): unknown, or stored under that id and not approved, or expired."""
    huge = "P" * 10_000
    acts: list[Callable[[], object]] = [
        lambda: loaded.approve(huge, "alice", "00"),
        lambda: loaded.record_approval(huge, "alice", "00"),
        lambda: loaded.execute(huge), lambda: loaded.settle(huge),
        lambda: loaded.owners_transaction(huge)]
    made = sweep(loaded).proposal
    stored = loaded.propose("sweep", made.payload, "ops", "by hand", "sweep-" + "x" * 10_000)
    pid = stored.proposal.id
    acts.append(lambda: loaded.execute(pid))  # pending: not approved

    def expired() -> object:
        for name, key in KEYS.items():
            loaded.approve(pid, name, sign_proposal(stored.proposal, key))
        loaded.clock.advance(hours=25)  # type: ignore[attr-defined]
        return loaded.execute(pid)

    acts.append(expired)
    for act in acts:
        with pytest.raises(ApprovalError) as caught:
            act()
        ja, en = said(caught.value)
        assert caught.value.said().params["id"] in (id_shown(huge), id_shown(pid))
        assert len(caught.value.message) < 300 and len(en) < 300 and len(ja) < 300, en
    assert caught.value.said().id == "error.proposal_expired"


def test_a_pending_sweep_says_its_state_and_its_approvals(loaded: Custody) -> None:
    view = sweep(loaded)
    pid = view.proposal.id
    with pytest.raises(ApprovalError) as caught:
        loaded.execute(pid)
    ja, en = said(caught.value)
    assert ja == (f"提案 {pid} は「承認待ち」です。実行できるのは承認済みの提案だけです"
                  "（承認 2 件中 0 件）")
    assert en == caught.value.message

    with pytest.raises(ApprovalError) as caught:
        loaded.settle(pid)
    ja, en = said(caught.value)
    assert ja == f"提案 {pid} は「承認待ち」です。記帳するものはありません"
    assert en == caught.value.message

    with pytest.raises(ApprovalError) as caught:
        loaded.owners_transaction(pid)
    ja, en = said(caught.value)
    assert pid in ja and "「承認待ち」のホット→コールドへの移動" in ja
    assert "sweep" not in ja.replace(pid, "")


def test_an_approved_sweep_without_a_node_or_a_signer_says_so(loaded: Custody) -> None:
    view = sweep(loaded)
    pid = view.proposal.id
    for name, key in KEYS.items():
        loaded.approve(pid, name, sign_proposal(view.proposal, key))
    with pytest.raises(ApprovalError) as caught:  # approved: not pending any more
        loaded.approve(pid, "alice", sign_proposal(view.proposal, KEYS["alice"]))
    ja, en = said(caught.value)
    assert ja == f"提案 {pid} は「承認済み」です（承認待ちではありません）"
    assert en == caught.value.message

    with pytest.raises(ConfigError) as caught:
        loaded.execute(pid)
    ja, en = said(caught.value)
    assert "KINKO_EVM_RPC_URL" in ja and "ノード" in ja
    assert en == caught.value.message

    hot = next(w for w in loaded.ledger.wallets() if w.name == "eth-hot")
    with pytest.raises(ConfigError) as caught:
        loaded.spender(hot)
    assert said(caught.value) == ("ウォレット eth-hot の署名者が設定されていません",
                                  caught.value.message)

    @dataclass
    class Elsewhere:
        address: str = "0x" + "e" * 40

    loaded.spender_for = lambda _w: Elsewhere()  # type: ignore[assignment,return-value]
    with pytest.raises(ConfigError) as caught:
        loaded.spender(hot)
    ja, en = said(caught.value)
    assert "eth-hot" in ja and "0x" + "e" * 40 in ja and "signer" not in ja
    assert en == caught.value.message


def test_a_breaker_reset_is_approved_through_the_withdrawals_service(loaded: Custody) -> None:
    view = loaded.propose("breaker", {"scope": "ETH"}, "ops", "the thief is gone")
    with pytest.raises(ApprovalError) as caught:
        loaded.approve(view.proposal.id, "alice", "00")
    ja, _en = said(caught.value)
    assert view.proposal.id in ja and "サーキットブレーカーの解除" in ja
    assert "kinko proposals approve" in ja and "breaker" not in ja.replace(view.proposal.id, "")

    with pytest.raises(ApprovalError) as caught:
        loaded.propose("breaker", {"scope": "ETH"}, "  ", "no name")
    assert said(caught.value)[0] == "提案には提案者の名前が必要です"
