"""Loosening waits, against real kinko data, real Safes and the co-signer in process: a policy
version that raises a limit is approved by the quorum but is not in force for 48 hours;
kinko screens under the version in force; a withdrawal allowed only by the pending
loosening (kinko's screening rewritten by someone holding the server) is refused by the
co-signer; one approver's veto stops it for good; a loosening nobody vetoes takes effect
when its lock runs out, and the co-signer then signs what it allows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cosignworld import ETH, KEYS, build, cosign_config, fresh, policy_text

from kinko.chains.evm import EvmChain
from kinko.chains.keystore import throwaway_signer
from kinko.chains.safe_reader import ChainSafes
from kinko.domain.approvals import sign_proposal
from kinko.domain.cosign import parse_cosign_policy
from kinko.domain.policy_lock import veto_bytes
from kinko.errors import ApprovalError, CosignRefused
from kinko.services.cosign import CosignService
from kinko.settings import load_cosign_settings
from kinko.store.cosign_sql import open_cosign_log
from kinko.store.cosign_view import SqlKinkoView

pytestmark = [pytest.mark.slow]


def test_a_withdrawal_allowed_only_by_a_pending_loosening_is_not_cosigned(
        tmp_path: Path) -> None:
    key = throwaway_signer()
    ex = build(EvmChain.in_process(), tmp_path, key.address)
    custody = ex.custody
    bootstrap = custody.policy()
    assert bootstrap is not None
    settings = load_cosign_settings(cosign_config(ex, tmp_path, rpc_url="http://unused",
                                                  policy_anchor=bootstrap.digest), env={})
    service = CosignService(
        policy=parse_cosign_policy(settings.tables, settings.registry, settings.path,
                                   policy_anchor=settings.policy_anchor),
        kinko=SqlKinkoView(ex.store_url), chain=ChainSafes(ex.chain),
        log=open_cosign_log(settings.database_url), signer=key, clock=ex.clock, sinks=())

    def loosen(version: int) -> None:
        """Withdrawals up to 1,000 ETH pass without review: approved by alice and bob."""
        text = policy_text(ex.eth_cold, version=version).replace('amount = "10"',
                                                                 'amount = "1000"')
        (tmp_path / f"v{version}.toml").write_text(text, encoding="utf-8")
        _policy, view = custody.load_policy(tmp_path / f"v{version}.toml", "carol")
        assert view is not None
        for name in ("alice", "bob"):
            custody.approve(view.proposal.id, name, sign_proposal(view.proposal, KEYS[name]))

    loosen(2)
    assert custody.policy().version == 1  # type: ignore[union-attr]
    (pending, _) = custody.policy_standings()
    assert pending.state == "pending" and pending.diff is not None
    assert [c.field for c in pending.diff.loosenings] == \
        ["screening.rules.max_amount-1.amount"]

    # kinko screens under the version in force: 15 ETH is held for review
    to = fresh()
    assert ex.request("W-big", "ETH", 15 * ETH, to).state == "review"
    # someone holding kinko's server rewrites the decision as version 2 would have made it
    with ex.store.unit() as unit:
        unit.conn.exec_driver_sql(
            "UPDATE withdrawals SET state = 'allowed', decision = ? WHERE id = 'W-big'",
            (json.dumps({"outcome": "allow", "hits": [], "policy_version": 2}),))
    tx = ex.eth_tx(to, 15 * ETH)
    with pytest.raises(CosignRefused) as caught:
        service.cosign("withdrawal", "W-big", tx)
    assert caught.value.reason == "policy_not_in_force", caught.value.message

    # carol vetoes version 2: it never takes effect, not even after its lock
    with pytest.raises(ApprovalError, match="does not verify"):
        custody.veto(2, "carol", KEYS["carol"].sign(b"something else").hex())
    signature = KEYS["carol"].sign(veto_bytes(2, pending.facts.policy.digest)).hex()  # type: ignore[union-attr]
    assert custody.veto(2, "carol", signature, "not agreed").state == "vetoed"
    with pytest.raises(ApprovalError, match="is vetoed"):
        custody.veto(2, "bob", KEYS["bob"].sign(veto_bytes(2, pending.facts.policy.digest)).hex())  # type: ignore[union-attr]
    ex.clock.advance(hours=49)
    assert custody.policy().version == 1  # type: ignore[union-attr]
    with ex.store.access(write=False) as access:
        assert any(r["action"] == "policy.veto" and r["actor"] == "carol"
                   for r in access.audit(0, 100))

    # version 3, the same loosening, nobody vetoes: in force 48 hours after its quorum
    loosen(3)
    ex.clock.advance(hours=47)
    assert custody.policy().version == 1  # type: ignore[union-attr]
    ex.clock.advance(hours=1)
    assert custody.policy().version == 3  # type: ignore[union-attr]
    to = fresh()
    assert ex.request("W-now", "ETH", 15 * ETH, to).state == "allowed"
    assert service.cosign("withdrawal", "W-now", ex.eth_tx(to, 15 * ETH))
    ex.close()
