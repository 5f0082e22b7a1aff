"""A proposal lives no longer than the policy in force allows, whatever expiry it was stored
with: one stored before lifetimes were bounded (or under a version granting longer) is
refused as expired, at approval and at execution, once it is older than the active
policy's ``proposal_ttl_hours`` (ten years at most), and nothing is recorded."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from kinko.domain.approvals import Proposal, lapses_at, public_key_hex, sign_proposal
from kinko.domain.custody import Wallet
from kinko.domain.ledger import Posting
from kinko.domain.messages import Time, verbatim
from kinko.domain.money import AssetRegistry
from kinko.domain.policy import TTL_HOURS_MAX
from kinko.errors import ApprovalError
from kinko.i18n import Localizer
from kinko.ports import FixedClock
from kinko.services.custody import Custody
from kinko.services.ledger import Ledger
from kinko.store import open_store, upgrade

E = 10**18
KEYS = {n: Ed25519PrivateKey.generate() for n in ("alice", "bob")}


@pytest.fixture
def custody(tmp_path: Path) -> Iterator[Custody]:
    store = open_store("sqlite://")
    upgrade(store)
    ledger = Ledger(store, FixedClock(), AssetRegistry.default())
    ledger.sync_assets()
    ledger.add_wallet(Wallet("eth-hot", "ETH", "hot", ("0x" + "a" * 40,)))
    ledger.add_wallet(Wallet("eth-cold", "ETH", "cold", ("0x" + "b" * 40,)))
    ledger.post("open", [Posting("wallet:eth-hot", "ETH", 100 * E),
                         Posting("customer:C1", "ETH", -100 * E)], source="opening")
    approvers = "".join(f'[[approvers]]\nname = "{n}"\npublic_key = "{public_key_hex(k)}"\n'
                        for n, k in KEYS.items())
    (tmp_path / "p.toml").write_text(
        f"version = 1\nquorum = 2\nproposal_ttl_hours = 24\n{approvers}\n[assets.ETH]\n"
        'max_hot_ratio = "0.05"\ntarget_hot_ratio = "0.02"\n', encoding="utf-8")
    custody = Custody(ledger)
    custody.load_policy(tmp_path / "p.toml", "ops")
    yield custody
    store.close()


def long_lived(custody: Custody) -> Proposal:
    """A pending sweep stored with an expiry a century away (as an earlier kinko, or an
    earlier policy version, could write it)."""
    (made,) = custody.propose_rebalance("ops")
    p = replace(made.proposal, id="sweep-long-lived",
                expires_at=made.proposal.created_at + timedelta(days=36500))
    with custody.ledger.store.custody() as (_, tables):
        tables.put_proposal(p, verbatim("stored long ago"))
    return p


def test_a_proposal_older_than_the_policy_allows_cannot_be_approved(custody: Custody) -> None:
    p = long_lived(custody)
    custody.clock.advance(hours=25)  # type: ignore[attr-defined]
    with pytest.raises(ApprovalError, match="expired") as caught:
        custody.approve(p.id, "alice", sign_proposal(p, KEYS["alice"]))
    assert caught.value.said().id == "error.proposal_expired"
    assert "期限切れ" in Localizer("ja").text(caught.value.said())
    # expired when the policy's 24 hours were up, not when the stored expiry comes
    assert caught.value.said().params["at"] == Time(p.created_at + timedelta(hours=24))
    view = custody.proposal(p.id)
    assert view is not None and view.state == "pending" and view.approvals == []


def test_a_proposal_older_than_the_policy_allows_is_not_executed(custody: Custody) -> None:
    p = long_lived(custody)
    for name in KEYS:
        custody.approve(p.id, name, sign_proposal(p, KEYS[name]))
    custody.clock.advance(hours=25)  # type: ignore[attr-defined]
    with pytest.raises(ApprovalError, match="expired"):
        custody.execute(p.id)
    view = custody.proposal(p.id)
    assert view is not None and view.state == "approved"


def test_the_lifetime_is_never_more_than_ten_years(custody: Custody) -> None:
    p = long_lived(custody)
    policy = custody.policy()
    assert policy is not None
    assert lapses_at(p, policy) == p.created_at + timedelta(hours=24)
    longer = replace(policy, proposal_ttl_hours=100 * 8760)  # stored before the bound
    assert lapses_at(p, longer) == lapses_at(p, None) \
        == p.created_at + timedelta(hours=TTL_HOURS_MAX)
    early = replace(p, expires_at=p.created_at + timedelta(hours=1))
    assert lapses_at(early, policy) == early.expires_at  # the stored expiry, when earlier


def test_a_proposal_is_shown_expiring_when_the_policy_ends_its_life(custody: Custody) -> None:
    """What a person is shown as a proposal's expiry (its view, as the dashboard and
    ``kinko custody proposals`` show it) is when an approval would be refused."""
    p = long_lived(custody)
    lapsed = p.created_at + timedelta(hours=24)
    view = custody.proposal(p.id)
    assert view is not None and view.lapses_at == lapsed
    assert [v.lapses_at for v in custody.proposals("pending") if v.proposal.id == p.id] \
        == [lapsed]


def test_a_lapsed_pending_sweep_does_not_block_a_new_one(custody: Custody) -> None:
    """A sweep nobody approved in time can never move funds: the next rebalance proposes
    again instead of leaving the hot wallet above its share until someone rejects it."""
    (stale,) = custody.propose_rebalance("ops")
    assert custody.propose_rebalance("ops") == []  # still open: one per asset
    custody.clock.advance(hours=25)  # type: ignore[attr-defined]
    (fresh,) = custody.propose_rebalance("ops")
    assert fresh.proposal.kind == "sweep" and fresh.proposal.id != stale.proposal.id
    assert fresh.state == "pending"


@pytest.mark.parametrize("state", ["sending", "sent", "requested"])
def test_a_sweep_in_flight_blocks_a_new_one_whatever_its_age(custody: Custody,
                                                             state: str) -> None:
    """One whose transaction may be on chain keeps its asset however long ago it was made."""
    (made,) = custody.propose_rebalance("ops")
    for name in KEYS:
        custody.approve(made.proposal.id, name, sign_proposal(made.proposal, KEYS[name]))
    with custody.ledger.store.custody() as (_, tables):
        tables.set_state(made.proposal.id, "approved", state,  # type: ignore[arg-type]
                         "0x" + "c" * 64)
    custody.clock.advance(hours=25)  # type: ignore[attr-defined]
    assert custody.propose_rebalance("ops") == []
