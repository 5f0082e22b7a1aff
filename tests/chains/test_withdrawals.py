"""The withdrawal lifecycle on a real chain: allowed and sent, held for review and approved
by two approvers (never the requester), blocked by a real deny list, refused on overdraft,
rejected with funds released, and a burst that trips the breaker until a quorum resets it."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from dbtemplate import migrated_store
from eth_account import Account
from keyfiles import new_keystore

from kinko.chains.evm import EvmChain
from kinko.chains.keystore import KeystoreSigner
from kinko.chains.wallets import KeyWallet
from kinko.domain.approvals import public_key_hex, sign_proposal
from kinko.domain.custody import Wallet
from kinko.domain.ledger import Posting
from kinko.domain.messages import msg
from kinko.domain.money import AssetRegistry
from kinko.errors import ApprovalError, IdempotencyConflict, Overdraft
from kinko.i18n import ENGLISH
from kinko.ports import FixedClock
from kinko.services.custody import Custody
from kinko.services.ledger import Ledger
from kinko.services.withdrawals import Withdrawals

E = 10**18
DATA = Path(__file__).resolve().parents[1] / "data"
KEYS = {n: Ed25519PrivateKey.generate() for n in ("alice", "bob", "carol")}
RULES = """
[[screening.rules]]
kind = "deny_list"
action = "block"
reason = "listed address"

[[screening.rules]]
kind = "max_amount"
asset = "ETH"
amount = "10"
action = "review"
reason = "large withdrawal"

[[screening.rules]]
name = "burst"
kind = "outflow_rate"
asset = "ETH"
duration = "1h"
baseline_windows = 24
factor = "5"
min_amount = "30"
action = "review"
reason = "outflow far above normal"
"""


@pytest.fixture
def flow(chain: EvmChain, tmp_path: Path):  # type: ignore[no-untyped-def]
    store = migrated_store(tmp_path / "k.db")
    clock = FixedClock()
    ledger = Ledger(store, clock, AssetRegistry.default())
    hot = new_keystore(tmp_path / "eth-hot.json", "correct horse battery")
    signer = KeystoreSigner.open(tmp_path / "eth-hot.json", "correct horse battery")
    ledger.add_wallet(Wallet("eth-hot", "ETH", "hot", (hot,)))
    chain.fund(hot, 100 * E)
    ledger.post("open", [Posting("wallet:eth-hot", "ETH", 100 * E),
                         Posting("customer:C1", "ETH", -50 * E),
                         Posting("customer:C2", "ETH", -50 * E)], source="opening")
    approvers = "".join(f'[[approvers]]\nname = "{n}"\npublic_key = "{public_key_hex(k)}"\n'
                        for n, k in KEYS.items())
    (tmp_path / "p.toml").write_text(f"version = 1\nquorum = 2\n{approvers}{RULES}")
    custody = Custody(ledger, chain=chain, spender_for=lambda _w: KeyWallet(chain, signer), confirmations=2)
    custody.load_policy(tmp_path / "p.toml", "ops")
    w = Withdrawals(custody)
    # the real list has two addresses whose EIP-55 case is wrong (listed again in lower
    # case): kept as written, as an exchange would have to load it
    w.load_deny_list(DATA / "labels" / "etherscan_malicious_labels.csv", invalid="keep")
    yield w, chain, clock
    store.close()


def approve(w: Withdrawals, wid: str, name: str) -> object:
    proposal = w.custody.proposal(f"withdrawal-{wid}")
    assert proposal is not None
    return w.approve(wid, name, sign_proposal(proposal.proposal, KEYS[name]))


def to() -> str:
    return str(Account.create().address)


def test_allowed_withdrawal_is_sent_and_booked(flow) -> None:  # type: ignore[no-untyped-def]
    w, chain, _ = flow
    dest = to()
    view = w.request("W1", "C1", "ETH", 1 * E, dest)
    assert view.state == "allowed" and view.decision.outcome == "allow"
    assert w.ledger.balances(account="customer:C1")[0].state.pending_debit == 1 * E
    assert w.send("W1").state == "sent"
    assert [f for f in w.custody.reconcile() if f.severity != "info"] == []  # in flight
    assert w.confirm("W1") is None  # one confirmation
    chain.mine(1)
    assert w.confirm("W1").state == "confirmed"  # type: ignore[union-attr]
    assert chain.balances([dest])[dest] == 1 * E
    assert w.ledger.balance("customer:C1", "ETH") == 49 * E
    assert w.ledger.balance("fees", "ETH") > 0
    assert w.ledger.verify().ok
    assert w.request("W1", "C1", "ETH", 1 * E, dest).state == "confirmed"  # idempotent
    with pytest.raises(IdempotencyConflict):
        w.request("W1", "C1", "ETH", 2 * E, dest)


def test_large_withdrawal_waits_for_two_approvers(flow) -> None:  # type: ignore[no-untyped-def]
    w, chain, _ = flow
    view = w.request("W2", "C1", "ETH", 20 * E, to(), requester="alice")
    assert view.state == "review" and "large withdrawal" in ENGLISH.text(view.decision.explain()[0])
    with pytest.raises(ApprovalError, match="review"):
        w.send("W2")
    with pytest.raises(ApprovalError, match="cannot approve"):
        approve(w, "W2", "alice")  # the requester
    assert approve(w, "W2", "bob").state == "review"  # type: ignore[attr-defined]
    with pytest.raises(ApprovalError, match="already approved"):
        approve(w, "W2", "bob")
    assert approve(w, "W2", "carol").state == "approved"  # type: ignore[attr-defined]
    w.send("W2")
    chain.mine(1)
    assert w.confirm("W2").state == "confirmed"  # type: ignore[union-attr]


def test_deny_listed_destination_is_blocked_and_released(flow) -> None:  # type: ignore[no-untyped-def]
    w, _, _ = flow
    listed = "0x80d7bb18521acbef32d7906502ebe94928690e93"  # etherscan: Fake_Phishing1772
    view = w.request("W3", "C1", "ETH", 1 * E, listed)
    assert view.state == "blocked"
    assert "Fake_Phishing1772" in ENGLISH.text(view.decision.hits[0].detail)
    assert w.ledger.balances(account="customer:C1")[0].state.pending_debit == 0
    with pytest.raises(ApprovalError):
        w.send("W3")


def test_overdraft_is_refused_before_anything_is_recorded(flow) -> None:  # type: ignore[no-untyped-def]
    w, _, _ = flow
    with pytest.raises(Overdraft):
        w.request("W4", "C1", "ETH", 51 * E, to())
    assert w.find() == []


def test_reject_releases_the_hold(flow) -> None:  # type: ignore[no-untyped-def]
    w, _, _ = flow
    w.request("W5", "C2", "ETH", 20 * E, to())
    assert w.reject("W5", "bob", "customer called").state == "rejected"
    assert w.ledger.balances(account="customer:C2")[0].state.pending_debit == 0
    with pytest.raises(ApprovalError):
        w.reject("W5", "bob", "again")


def test_burst_trips_the_breaker_until_a_quorum_resets_it(flow) -> None:  # type: ignore[no-untyped-def]
    w, _, clock = flow
    for i in range(4):  # 4 × 9 ETH within the hour, nothing before: far above the baseline
        w.request(f"B{i}", "C1" if i % 2 else "C2", "ETH", 9 * E, to())
        clock.advance(minutes=5)
    assert "ETH" in w.breaker()
    view = w.request("B9", "C2", "ETH", 1 * E, to())
    assert view.state == "review" and view.decision.hits[-1].kind == "breaker"
    reset = w.propose_reset("ETH", "ops")
    assert not w.approve_reset(reset.proposal.id, "alice",
                               sign_proposal(reset.proposal, KEYS["alice"]))
    assert "ETH" in w.breaker()
    assert w.approve_reset(reset.proposal.id, "bob", sign_proposal(reset.proposal, KEYS["bob"]))
    assert "ETH" not in w.breaker()
    assert [e["event"] for e in w.breaker_log()] == ["trip", "reset"]


def test_unknown_customer_and_expiry(flow) -> None:  # type: ignore[no-untyped-def]
    from kinko.errors import BadInput

    w, _, clock = flow
    with pytest.raises(BadInput, match="unknown customer 'C404'"):
        w.request("W9", "C404", "ETH", 1, to())
    w.request("W8", "C1", "ETH", 20 * E, to())  # held for review
    clock.advance(hours=25)  # past the policy's 24 h: the hold expires
    assert w.expire() == ["W8"]
    assert w.get("W8").state == "expired"
    assert w.ledger.balances(account="customer:C1")[0].state.pending_debit == 0
    with pytest.raises(ApprovalError):
        approve(w, "W8", "bob")


def adopt(w: Withdrawals, path: Path, text: str) -> None:
    """A later policy version, proposed and approved by alice and bob."""
    path.write_text(text)
    _, proposed = w.custody.load_policy(path, "ops")
    assert proposed is not None
    for name in ("alice", "bob"):
        w.custody.approve(proposed.proposal.id, name,
                          sign_proposal(proposed.proposal, KEYS[name]))


def test_a_review_lapsed_under_a_shorter_lifetime_releases_its_funds(  # type: ignore[no-untyped-def]
        flow, tmp_path: Path) -> None:
    """A review held under a ten-day proposal lifetime, then a version of one day adopted:
    past that day nobody can approve it, and ``expire`` gives the customer back the funds
    its hold would have kept nine more days, with its proposal expired."""
    w, _, clock = flow
    first = (tmp_path / "p.toml").read_text()
    adopt(w, tmp_path / "p2.toml",
          first.replace("version = 1\n", "version = 2\nproposal_ttl_hours = 240\n"))
    clock.advance(hours=49)  # a longer lifetime loosens the policy: in force after 48 hours
    assert w.custody.policy().proposal_ttl_hours == 240  # type: ignore[union-attr]
    w.request("W6", "C1", "ETH", 20 * E, to())  # held for review: a ten-day hold
    clock.advance(hours=1)
    adopt(w, tmp_path / "p3.toml",
          first.replace("version = 1\n", "version = 3\nproposal_ttl_hours = 24\n"))
    assert w.custody.policy().proposal_ttl_hours == 24  # type: ignore[union-attr]
    clock.advance(hours=22)  # 23 hours old: still open
    assert w.expire() == [] and w.get("W6").state == "review"
    clock.advance(hours=2)
    assert w.expire() == ["W6"]
    closed = w.get("W6")
    assert closed.state == "expired" and closed.closed_why == msg("wd.reason.review_lapsed")
    assert w.ledger.balances(account="customer:C1")[0].state.pending_debit == 0
    view = w.custody.proposal("withdrawal-W6")
    assert view is not None and view.state == "expired"
    assert w.expire() == [] and w.ledger.verify().ok
    with pytest.raises(ApprovalError):
        approve(w, "W6", "bob")


def test_crash_between_broadcast_and_record_is_recovered(flow, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The transaction reached the node but kinko stopped before recording 'sent': the hash
    recorded beforehand lets confirm() find it on chain; nothing is sent twice."""
    w, chain, _ = flow
    w.request("W7", "C2", "ETH", 1 * E, to())
    from kinko.store.screening_sql import SqlScreening

    real_set_state = SqlScreening.set_state

    def crash_on_sent(self, withdrawal_id, old, new, tx_hash=None):  # type: ignore[no-untyped-def]
        if new == "sent":
            raise KeyboardInterrupt("killed")  # the process dies after broadcasting
        return real_set_state(self, withdrawal_id, old, new, tx_hash)

    monkeypatch.setattr(SqlScreening, "set_state", crash_on_sent)
    with pytest.raises(KeyboardInterrupt):
        w.send("W7")
    monkeypatch.setattr(SqlScreening, "set_state", real_set_state)
    view = w.get("W7")
    assert view.state == "sending" and view.tx_hash  # the hash was kept before broadcasting
    with pytest.raises(ApprovalError):
        w.send("W7")  # never a second transaction
    chain.mine(2)
    assert w.confirm("W7").state == "confirmed"  # type: ignore[union-attr]
    assert w.ledger.balance("customer:C2", "ETH") == 49 * E


def test_a_reverted_withdrawal_releases_the_funds_and_books_only_its_fee(flow) -> None:  # type: ignore[no-untyped-def]
    """A transaction mined but reverted moved nothing: booking it as paid would take the
    customer's funds for a payment that never happened."""
    w, chain, _ = flow
    # a contract whose every call reverts (runtime PUSH1 0 PUSH1 0 REVERT)
    _, made = chain.dev_transact({"data": "0x6460006000fd6000526005601bf3"}, "deploying")
    refuses = str(made["contractAddress"])
    assert chain.code(refuses) == bytes.fromhex("60006000fd")
    before = chain.balances([refuses])[refuses]
    view = w.request("W9", "C1", "ETH", 1 * E, refuses)
    assert view.state == "allowed"
    assert w.send("W9").state == "sent"
    chain.mine(1)
    failed = w.confirm("W9")
    assert failed is not None and failed.state == "failed"
    assert chain.balances([refuses])[refuses] == before  # nothing arrived
    assert w.ledger.balance("customer:C1", "ETH") == 50 * E  # released, not paid
    assert w.ledger.balances(account="customer:C1")[0].state.pending_debit == 0
    assert w.ledger.balance("fees", "ETH") > 0  # the fee was paid all the same
    assert [f for f in w.custody.reconcile() if f.severity != "info"] == []
    assert w.ledger.verify().ok


def test_a_customer_without_the_asset_is_not_called_unknown(flow) -> None:  # type: ignore[no-untyped-def]
    """A customer of the exchange who holds no ETH asking for ETH is told that, not that
    the customer is unknown (an operator would look for the wrong mistake)."""
    from kinko.errors import BadInput
    from kinko.i18n import Localizer

    w, _, _ = flow
    w.ledger.post("yen", [Posting("bank:mufg", "JPY", 5000),
                          Posting("customer:C3", "JPY", -5000)], source="deposit")
    with pytest.raises(BadInput) as caught:
        w.request("W7", "C3", "ETH", 1, to())
    assert caught.value.message == ("customer 'C3' has no ETH balance in the ledger "
                                    "(balances in JPY)")
    assert "unknown" not in caught.value.message
    said = Localizer("ja").text(caught.value.says)
    assert said == "顧客 C3 には帳簿に ETH の残高がありません（残高のある資産：JPY）", said
    assert w.ledger.balance("customer:C3", "JPY") == 5000  # nothing written
