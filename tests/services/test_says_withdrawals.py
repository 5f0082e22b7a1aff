"""The errors of withdrawals, approvals, API keys and sessions say their specifics in the
reader's language: each carries ``says`` (a catalog message with the same id, address,
customer, state or field as its English words), so a Japanese operator reads what and where,
not only the class's generic sentence; and the English catalog says what the message says."""

from __future__ import annotations

from pathlib import Path

import pytest

from kinko.domain.custody import Wallet
from kinko.domain.ledger import Posting
from kinko.errors import (
    ApprovalError,
    BadInput,
    ConfigError,
    Forbidden,
    IdempotencyConflict,
    InvalidAmount,
    InvalidId,
    KinkoError,
    NotFound,
    RefusedDestination,
    Unauthorized,
)
from kinko.i18n import Localizer
from kinko.ports import FixedClock
from kinko.services.access import Access, parse_anchor
from kinko.services.custody import Custody
from kinko.services.ledger import Ledger
from kinko.services.sessions import Sessions
from kinko.services.withdrawals import Withdrawals, check_withdrawal_id
from kinko.store import SqlStore

JA, EN = Localizer("ja"), Localizer("en")
E = 10**18
TO = "0x" + "12" * 20
COLD = "0x" + "ab" * 20
ZERO = "0x" + "0" * 40
POLICY = ('version = 1\nquorum = 2\n[[approvers]]\nname = "alice"\npublic_key = "' + "11" * 32
          + '"\n[[approvers]]\nname = "bob"\npublic_key = "' + "22" * 32 + '"\n'
          '[screening]\n[[screening.rules]]\nkind = "max_amount"\nasset = "ETH"\n'
          'amount = "10"\naction = "review"\nreason = "large"\n')


@pytest.fixture
def backend() -> str:
    return "sqlite"  # the messages do not depend on the database


@pytest.fixture
def funded(ledger: Ledger) -> Ledger:
    ledger.add_wallet(Wallet("eth-cold", "ETH", "cold", (COLD,)))
    ledger.post("open", [Posting("wallet:eth-hot", "ETH", 100 * E),
                         Posting("customer:C1", "ETH", -100 * E)], source="opening")
    return ledger


@pytest.fixture
def w(funded: Ledger, tmp_path: Path) -> Withdrawals:
    (tmp_path / "p.toml").write_text(POLICY)
    custody = Custody(funded)
    custody.load_policy(tmp_path / "p.toml", "ops")
    return Withdrawals(custody)


def says(error: KinkoError, *specifics: str) -> str:
    """The error's Japanese words, checked to carry its own message (not the class's
    sentence) and every one of ``specifics``; no English sentence inside."""
    assert error.says is not None, error.message
    ja = JA.text(error.said())
    for specific in specifics:
        assert specific in ja, (specific, ja)
    for english in (" the ", "must", "not valid", "sign in", "cannot", "is not"):
        assert english not in ja, ja
    return ja


def english(error: KinkoError) -> str:
    return EN.text(error.said())


# ---------------------------------------------------------------------------- withdrawals


def test_a_refused_request_says_its_id_amount_destination_and_customer(
        w: Withdrawals) -> None:
    with pytest.raises(InvalidId) as bad_id:
        w.request("bad id!", "C1", "ETH", E, TO)
    says(bad_id.value, "'bad id!'", "Idempotency-Key", "1〜100")
    assert english(bad_id.value) == bad_id.value.message
    with pytest.raises(InvalidId) as long_id:
        check_withdrawal_id("x" * 5000 + " ")
    assert len(JA.text(long_id.value.said())) < 200  # bounded: a megabyte id is cut

    with pytest.raises(InvalidAmount) as amount:
        w.request("W-0", "C1", "ETH", -5, TO)
    says(amount.value, "-5", "出金額")
    assert english(amount.value) == amount.value.message

    with pytest.raises(RefusedDestination) as zero:
        w.request("W-0", "C1", "ETH", E, ZERO)
    says(zero.value, ZERO, "ゼロアドレス")
    assert english(zero.value) == zero.value.message

    with pytest.raises(RefusedDestination) as own:
        w.request("W-0", "C1", "ETH", E, COLD)
    says(own.value, own.value.details["destination"], "eth-cold", "自社")
    assert english(own.value) == own.value.message

    with pytest.raises(BadInput) as customer:
        w.request("W-0", "C9", "ETH", E, TO)
    says(customer.value, "C9", "ETH", "顧客")
    assert english(customer.value) == customer.value.message.replace("'", "")


def test_a_reused_id_an_unknown_withdrawal_and_a_bad_page_say_which(w: Withdrawals) -> None:
    w.request("W-1", "C1", "ETH", E, TO)
    with pytest.raises(IdempotencyConflict) as reused:
        w.request("W-1", "C1", "ETH", 2 * E, TO)
    says(reused.value, "W-1", "別の依頼")
    assert english(reused.value) == reused.value.message.replace("'", "")

    with pytest.raises(BadInput) as unknown:
        w.get("W-404")
    assert says(unknown.value, "W-404") == "出金 W-404 はありません"
    with pytest.raises(NotFound) as rejected:
        w.reject("W-405", "ops", "no")
    says(rejected.value, "W-405")

    with pytest.raises(BadInput) as cursor:
        w.page(before="yesterday")
    says(cursor.value, "yesterday", "カーソル")
    assert english(cursor.value) == cursor.value.message.replace("'", "")
    with pytest.raises(BadInput) as limit:
        w.page(limit=501)
    says(limit.value, "1〜500")
    assert english(limit.value) == limit.value.message


def test_sending_and_confirming_what_cannot_be_say_the_withdrawal_and_its_state(
        w: Withdrawals) -> None:
    w.request("W-big", "C1", "ETH", 20 * E, TO)  # held for review
    w.request("W-ok", "C1", "ETH", E, TO)  # allowed
    with pytest.raises(ApprovalError) as review:
        w.send("W-big")
    says(review.value, "W-big", "「審査待ち」")
    assert english(review.value) == ("withdrawal W-big is held for review; only an allowed "
                                     "or approved withdrawal is sent")
    with pytest.raises(ConfigError) as no_node:
        w.send("W-ok")  # no chain node in this process
    says(no_node.value, "ノード", "署名者")
    assert english(no_node.value) == no_node.value.message
    with pytest.raises(ConfigError) as no_cost:
        w.cost("W-ok")
    says(no_cost.value, "ノード")
    assert english(no_cost.value) == no_cost.value.message
    with pytest.raises(ApprovalError) as confirm:
        w.confirm("W-ok")
    says(confirm.value, "W-ok", "「許可」")
    assert english(confirm.value) == confirm.value.message


def test_a_breaker_not_tripped_says_which(w: Withdrawals) -> None:
    with pytest.raises(BadInput) as breaker:
        w.propose_reset("ETH", "ops")
    says(breaker.value, "ETH", "サーキットブレーカー")
    assert english(breaker.value) == breaker.value.message


def test_a_request_without_a_policy_says_how_to_load_one(funded: Ledger) -> None:
    bare = Withdrawals(Custody(funded))  # no policy ever loaded
    with pytest.raises(ConfigError) as policy:
        bare.request("W-2", "C1", "ETH", E, TO)
    says(policy.value, "管理方針", "kinko policy load FILE --by NAME")
    assert english(policy.value) == policy.value.message


# ---------------------------------------------------------------------------- approvals


def test_a_refused_approval_says_the_proposal_and_why(w: Withdrawals) -> None:
    w.request("W-big", "C1", "ETH", 20 * E, TO)
    w.request("W-ok", "C1", "ETH", E, TO)
    with pytest.raises(ApprovalError) as kind:
        w.approve_reset("withdrawal-W-big", "alice", "00" * 64)
    says(kind.value, "withdrawal-W-big", "「審査待ちの出金」", "「サーキットブレーカーの解除」",
         "何も記録していません")
    assert english(kind.value) == ("proposal withdrawal-W-big is a withdrawal held for review, "
                                   "not a breaker reset: nothing was recorded")

    with pytest.raises(ApprovalError) as allowed:
        w.approve("W-ok", "alice", "00" * 64)
    says(allowed.value, "W-ok", "「許可」")
    assert english(allowed.value) == allowed.value.message
    with pytest.raises(NotFound) as no_withdrawal:
        w.approve("W-404", "alice", "00" * 64)
    says(no_withdrawal.value, "W-404")
    with pytest.raises(NotFound) as no_proposal:
        w.approve_proposal("sweep-" + "9" * 5000, "alice", "00" * 64)
    says(no_proposal.value, "sweep-999")
    assert len(JA.text(no_proposal.value.said())) < 300


# ---------------------------------------------------------------------------- API keys


def test_key_errors_say_the_role_key_and_anchor(store: SqlStore, clock: FixedClock) -> None:
    keys = Access(store, clock)
    with pytest.raises(BadInput) as role:
        keys.create_key("alice", "root")
    says(role.value, "root", "auditor, operator, approver, admin", "役割")
    assert english(role.value) == role.value.message.replace("'", "")
    with pytest.raises(BadInput) as name:
        keys.create_key("  ", "admin")
    says(name.value, "名前")
    assert english(name.value) == name.value.message
    with pytest.raises(BadInput) as revoke:
        keys.revoke("feedbeef", "ops")
    says(revoke.value, "feedbeef")
    assert english(revoke.value) == revoke.value.message.replace("'", "")

    with pytest.raises(BadInput) as anchor:
        parse_anchor("12:nothex", "--head")
    says(anchor.value, "--head", "12:nothex", "SEQ:HASH", "64 桁")
    assert english(anchor.value) == anchor.value.message.replace("'", "")


def test_an_api_key_refused_says_why_and_a_wrong_secret_says_what_an_unknown_key_does(
        store: SqlStore, clock: FixedClock) -> None:
    keys = Access(store, clock)
    key, token = keys.create_key("alice", "operator")
    refused = {}
    for what, text in {"none": None, "malformed": "Bearer nonsense",
                       "unknown": "kinko_000000000000_secret",
                       "wrong": f"kinko_{key.id}_wrong"}.items():
        with pytest.raises(Unauthorized) as caught:
            keys.authenticate(text)
        says(caught.value, "API キー")
        assert english(caught.value) == caught.value.message
        refused[what] = caught.value
    assert "Authorization: Bearer <key>" in JA.text(refused["none"].said())
    assert JA.text(refused["malformed"].said()) == "API キーの形式が正しくありません"
    # no oracle: a wrong secret of a real key reads as an unknown key, in every language
    assert refused["wrong"].said() == refused["unknown"].said()
    keys.revoke(key.id, "ops")
    with pytest.raises(Unauthorized) as revoked:
        keys.authenticate(token)
    says(revoked.value, "失効")
    assert english(revoked.value) == revoked.value.message

    with pytest.raises(Forbidden) as role:
        keys.create_key("bob", "auditor")[0].require("operate")
    says(role.value, "bob", "監査")


# ---------------------------------------------------------------------------- sessions


def test_a_session_refused_says_why(store: SqlStore, clock: FixedClock) -> None:
    keys = Access(store, clock)
    key, token = keys.create_key("alice", "operator")
    signed = Sessions(store, clock)
    _session, cookie = signed.sign_in(token)
    _other, later = signed.sign_in(token)

    for text, specific in ((None, "先にサインイン"), ("forged", "セッションが無効")):
        with pytest.raises(Unauthorized) as caught:
            signed.resolve(text)
        says(caught.value, specific, "サインイン")
        assert english(caught.value) == caught.value.message
    keys.revoke(key.id, "ops")
    with pytest.raises(Unauthorized) as revoked:
        signed.resolve(cookie)
    says(revoked.value, "このセッションの API キー", "失効")
    assert english(revoked.value) == revoked.value.message
    clock.advance(hours=9)
    with pytest.raises(Unauthorized) as expired:
        signed.resolve(later)
    says(expired.value, "有効期限", "もう一度サインイン")
    assert english(expired.value) == expired.value.message
