"""The policy page: the version in force, a loosening waiting for its lock with its
countdown and its changes, and one approver's veto from the dashboard (audited)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from dashboard_site import Site

from kinko.domain.approvals import sign_proposal
from kinko.domain.policy_lock import veto_bytes
from kinko.i18n import ENGLISH, Localizer
from kinko.services.custody import Custody


def _loosen(site: Site, tmp_path: Path) -> Custody:
    """Version 2: the online limit up (looser), the review threshold down (tighter)."""
    custody = Custody(site.ledger, chain=site.chain)
    text = (tmp_path / "p.toml").read_text().replace("version = 1", "version = 2") \
        .replace('max_hot_ratio = "0.05"', 'max_hot_ratio = "0.1"') \
        .replace('amount = "10"', 'amount = "5"')
    (tmp_path / "p2.toml").write_text(text)
    _policy, view = custody.load_policy(tmp_path / "p2.toml", "ops")
    assert view is not None
    for name, key in site.approver_keys.items():
        custody.approve(view.proposal.id, name, sign_proposal(view.proposal, key))
    return custody


def test_a_pending_loosening_shows_its_countdown_and_one_approver_vetoes_it(
        site: Site, tmp_path: Path) -> None:
    custody = _loosen(site, tmp_path)
    site.clock.advance(hours=1, minutes=30)
    auditor = site.client("audit")
    # every approver is told there is something to veto, and until when
    alerts = auditor.get("/alerts?lang=en").text
    assert "policy loosening waiting (vetoable)" in alerts
    with site.ledger.store.watch(write=False) as tables:
        (alert,) = tables.alerts(kind="policy_loosening")
    assert alert["severity"] == "warning" and "assets.ETH.max_hot_ratio" in ENGLISH.text(alert["detail"])
    # what it loosens is a message too, not an English phrase inside the Japanese sentence
    japanese = Localizer("ja").text(alert["detail"])
    assert "assets.ETH.max_hot_ratio：0.05 → 0.1" in japanese and "loosens" not in japanese
    page = auditor.get("/custody/policy?lang=en").text
    assert 'data-section="in-force" data-version="1"' in page
    assert 'data-pending="2"' in page and "in 46 h 30 min" in page
    assert 'data-countdown-s="167400" data-countdown-words="in {hours} h {minutes} min"' in page
    assert 'data-change="assets.ETH.max_hot_ratio"' in page  # loosens
    assert 'data-change="screening.rules.max_amount-1.amount"' in page  # tightens, waits too
    assert 'data-form="veto"' not in page and 'data-note="cannot-veto"' in page
    ja = auditor.get("/custody/policy?lang=ja").text
    assert "あと46時間30分" in ja and "適用待ち" in ja

    bob = site.client("bob")
    assert 'data-form="veto"' in bob.get("/custody/policy").text
    policy = custody.policy_standings()[0].facts.policy
    assert policy is not None
    forged = site.approver_keys["alice"].sign(veto_bytes(2, policy.digest)).hex()
    r = bob.post("/custody/policy/2/veto", data={"csrf": site.csrf(bob, "/custody/policy"),
                                                 "approver": "bob", "signature": forged})
    assert r.status_code == 409 and "does not verify" in r.text
    good = site.approver_keys["bob"].sign(veto_bytes(2, policy.digest)).hex()
    # a reason longer than the form takes is refused, not kept cut short (as the API does)
    r = bob.post("/custody/policy/2/veto", data={"csrf": site.csrf(bob, "/custody/policy"),
                                                 "approver": "bob", "signature": good,
                                                 "reason": "x" * 500 + " DO NOT RE-PROPOSE"})
    assert r.status_code == 400
    assert "Reason (kept with the veto) is longer than 500 characters" in r.text
    r = bob.post("/custody/policy/2/veto", data={"csrf": site.csrf(bob, "/custody/policy"),
                                                 "approver": "bob", "signature": good,
                                                 "reason": "the limit is too high"})
    assert r.status_code == 303
    site.clock.advance(hours=60)
    page = site.client("audit").get("/custody/policy?lang=en").text  # a new session
    assert 'data-version="2" data-state="vetoed"' in page and "vetoed by bob" in page
    assert 'data-section="in-force" data-version="1"' in page and "data-pending" not in page
    actions = [(a["action"], a["actor"]) for a in site.access.audit_log()]
    assert ("policy.veto", "bob") in actions and ("policy.veto.refused", "bob") in actions
    assert custody.policy().version == 1  # type: ignore[union-attr]
    assert custody.check(reconcile=False).policy.version == 1  # type: ignore[union-attr]
    assert timedelta(hours=48) == custody.time_lock
