"""The withdrawals queue, a withdrawal's page, proposals and approval signing, through the
app (server side); the same in a real browser is in tests/e2e."""

from __future__ import annotations

import base64
import html
import json
import re
import shutil
import subprocess
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from cryptography.hazmat.primitives import serialization
from dashboard_site import DEST, E, Site
from fastapi.testclient import TestClient

from kinko.domain.approvals import sign_proposal, signing_bytes
from kinko.domain.ledger import Posting
from kinko.domain.messages import verbatim
from kinko.services.custody import Custody
from kinko.services.withdrawals import Withdrawals

SIGN_JS = Path(__file__).parents[2] / "src/kinko/api/web/static/sign.js"


def service(site: Site) -> Withdrawals:
    return Withdrawals(Custody(site.ledger, chain=site.chain))


def held(site: Site, wid: str = "w-big", customer: str = "C1") -> str:
    """A withdrawal over the 10 ETH review line: held for 2-of-2 approval."""
    site.ledger.post("refill", [Posting("wallet:eth-hot", "ETH", 20 * E),
                                Posting("wallet:eth-cold", "ETH", -20 * E)], source="test")
    view = service(site).request(wid, customer, "ETH", 12 * E, DEST, requester="ops")
    assert view.state == "review"
    return wid


def approve(site: Site, client: TestClient, url: str, who: str, proposal_id: str,
            key: str | None = None) -> int:
    found = Custody(site.ledger).proposal(proposal_id)
    assert found is not None
    signature = sign_proposal(found.proposal, site.approver_keys[key or who])
    page = url.rsplit("/approve", 1)[0]
    r = client.post(url, data={"csrf": site.csrf(client, page), "approver": who,
                               "signature": signature})
    return r.status_code


def rows(page: str) -> list[str]:
    return [html.unescape(x) for x in re.findall(r'<tr data-withdrawal="([^"]*)"', page)]


def test_queue_tabs_filters_and_keyset_paging(site: Site) -> None:
    w = service(site)
    for i in range(120):
        w.request(f"s{i:03}", "C1" if i % 3 else "C2", "ETH", E // 100, DEST)
        site.clock.advance(seconds=1)
    held(site)
    client = site.client("audit")
    page = client.get("/withdrawals").text  # the review queue by default
    assert rows(page) == ["w-big"] and 'data-state="review"' in page
    assert re.search(r'data-state="allowed"[^>]*>[^<]*<span class="count">120<', page)
    assert 'data-field="progress">0 of 2 approvals' in page
    seen: list[str] = []
    url = "/withdrawals?state=allowed"
    while url:
        page = client.get(url).text
        found = rows(page)
        assert len(found) <= 50
        seen += found
        older = re.search(r'href="([^"]+)" data-page="older"', page)
        url = html.unescape(older.group(1)) if older else ""
    assert seen == [f"s{i:03}" for i in reversed(range(120))]  # newest first, each once
    c2 = rows(client.get("/withdrawals?state=all&customer=C2").text)
    assert c2 == [f"s{i:03}" for i in reversed(range(0, 120, 3))][:50]
    assert rows(client.get("/withdrawals?state=all&asset=BTC").text) == []
    assert "0.01" in client.get("/withdrawals?state=allowed").text  # per asset decimals
    assert client.get("/withdrawals?state=nope").status_code == 400
    assert client.get("/withdrawals?before=x").status_code == 400


def test_the_page_of_a_withdrawal_shows_the_decision_and_the_proposal(site: Site) -> None:
    held(site)
    client = site.client("alice")
    page = client.get("/withdrawals/w-big").text
    assert "max_amount" in page and "large" in page  # the rule hit and its reason
    assert re.search(r'data-field="policy-version">1<', page)
    assert 'data-form="approve"' in page and 'name="signature"' in page
    assert 'name="key_file"' in page and 'name="key_password"' in page
    assert 'data-action="sign"' in page and '/static/sign.js' in page
    proposal = Custody(site.ledger).proposal("withdrawal-w-big")
    assert proposal is not None
    b64 = re.search(r'data-signing-bytes="([^"]+)"', page)
    assert b64 and base64.b64decode(b64.group(1)) == signing_bytes(proposal.proposal)
    pre = re.search(r'<pre class="canonical"[^>]*>(.*?)</pre>', page, re.S)
    assert pre and html.unescape(pre.group(1)) == proposal.proposal.canonical()
    # each field of the proposal by its label, and its name in the signed bytes where the
    # label is another word (Japanese); the progress beside its heading says no word twice
    assert "<dt>amount</dt>" in page and "<code>amount</code>" not in page
    assert 'data-quorum="2">0 of 2</span></h2>' in page
    ja = client.get("/withdrawals/w-big?lang=ja").text
    assert "<dt>数量 <code>amount</code></dt>" in ja
    assert 'data-quorum="2">0 / 2</span></h2>' in ja
    # the key inputs belong to a form that is never submitted
    assert re.search(r'name="key_password" form="local-only-', page)
    assert 'data-form="reject"' not in page  # an approver cannot reject
    assert client.get("/withdrawals/nope").status_code == 404


def test_two_approvers_approve_a_held_withdrawal_and_it_leaves_the_queue(site: Site) -> None:
    held(site)
    alice, bob = site.client("alice"), site.client("bob")
    assert approve(site, alice, "/withdrawals/w-big/approve", "alice",
                   "withdrawal-w-big") == 303
    page = alice.get("/withdrawals/w-big").text
    assert 'data-quorum="2">1 of 2</span>' in page and 'data-approver="alice"' in page
    assert approve(site, bob, "/withdrawals/w-big/approve", "bob", "withdrawal-w-big") == 303
    assert service(site).get("w-big").state == "approved"
    assert rows(bob.get("/withdrawals?state=review").text) == []
    assert rows(bob.get("/withdrawals?state=approved").text) == ["w-big"]
    actions = [a["action"] for a in site.access.audit_log()]
    assert actions.count("withdrawal.approve") == 2


def test_a_bad_signature_or_another_name_is_refused(site: Site) -> None:
    held(site)
    alice = site.client("alice")
    csrf = site.csrf(alice, "/withdrawals/w-big")
    r = alice.post("/withdrawals/w-big/approve",
                   data={"csrf": csrf, "approver": "alice", "signature": "ab" * 64})
    assert r.status_code == 409 and "does not verify" in r.text
    assert approve(site, alice, "/withdrawals/w-big/approve", "bob", "withdrawal-w-big") == 403
    root = site.client("root")  # an admin may relay another approver's signature
    assert approve(site, root, "/withdrawals/w-big/approve", "bob", "withdrawal-w-big") == 303
    refused = [(a["actor"], a["target"], a["detail"]) for a in site.access.audit_log()
               if a["action"] == "withdrawal.approve.refused"]
    assert [r[:2] for r in refused] == [("alice", "withdrawal-w-big")] * 2  # both are kept
    assert "does not verify" in refused[0][2]
    assert '"error": "forbidden"' in refused[1][2] and '"approver": "bob"' in refused[1][2]


def test_an_auditor_cannot_approve_and_csrf_is_required(site: Site) -> None:
    held(site)
    audit = site.client("audit")
    page = audit.get("/withdrawals/w-big").text
    assert 'data-form="approve"' not in page and 'data-note="cannot-approve"' in page
    assert approve(site, audit, "/withdrawals/w-big/approve", "audit",
                   "withdrawal-w-big", key="alice") == 403
    assert [a["actor"] for a in site.access.audit_log()
            if a["action"] == "withdrawal.approve.refused"] == ["audit"]  # role refused
    alice = site.client("alice")
    found = Custody(site.ledger).proposal("withdrawal-w-big")
    assert found is not None
    signature = sign_proposal(found.proposal, site.approver_keys["alice"])
    r = alice.post("/withdrawals/w-big/approve", data={"approver": "alice",
                                                       "signature": signature})
    assert r.status_code == 403
    r = alice.post("/withdrawals/w-big/approve", data={"csrf": "forged", "approver": "alice",
                                                       "signature": signature})
    assert r.status_code == 403
    assert service(site).get("w-big").approvals == 0


def test_an_operator_rejects_with_a_reason(site: Site) -> None:
    held(site)
    ops = site.client("ops")
    page = ops.get("/withdrawals/w-big").text
    assert 'data-form="reject"' in page and 'data-form="approve"' not in page
    csrf = site.csrf(ops, "/withdrawals/w-big")
    assert ops.post("/withdrawals/w-big/reject", data={"csrf": csrf, "reason": ""}
                    ).status_code == 400
    r = ops.post("/withdrawals/w-big/reject", data={"csrf": csrf, "reason": "customer called"})
    assert r.status_code == 303 and r.headers["location"] == "/withdrawals/w-big"
    assert service(site).get("w-big").state == "rejected"
    assert site.client("alice").post("/withdrawals/w-big/reject", data={
        "csrf": csrf, "reason": "x"}).status_code in (401, 403)


def test_a_script_in_a_customer_id_is_shown_as_text(site: Site) -> None:
    evil = "<script>alert(1)</script>"
    with site.ledger.store.screening() as tables:
        tables.put_withdrawal({
            "id": "w-evil", "customer": evil, "asset": "ETH", "amount": E, "wallet": "eth-hot",
            "destination": DEST, "requested_at": site.clock.now(), "requester": evil,
            "state": "allowed", "tx_hash": None,
            "decision": json.dumps({"outcome": "allow", "policy_version": 1, "hits": [
                {"rule": "r<b>", "kind": "k", "action": "allow", "reason": evil,
                 "detail": evil}]})})
    client = site.client("audit")
    for url in ("/withdrawals?state=allowed", "/withdrawals/w-evil",
                f"/withdrawals?state=all&customer={evil}"):
        page = client.get(url).text
        assert evil not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page, url


def test_a_breaker_reset_is_approved_on_the_proposal_page(site: Site) -> None:
    w = service(site)
    w.trip("ETH", "ops", verbatim("theft"))
    proposal = w.propose_reset("ETH", "ops").proposal.id
    alice, bob = site.client("alice"), site.client("bob")
    listing = alice.get("/proposals").text
    assert f'data-proposal="{proposal}"' in listing and "breaker reset" in listing
    page = alice.get(f"/proposals/{proposal}").text
    assert 'data-form="approve"' in page and 'data-quorum="2">0 of 2</span>' in page
    url = f"/proposals/{proposal}/approve"
    assert approve(site, alice, url, "alice", proposal) == 303
    assert "ETH" in w.breaker()
    assert approve(site, bob, url, "bob", proposal) == 303
    assert "ETH" not in w.breaker()
    page = bob.get(f"/proposals/{proposal}").text
    assert 'data-quorum="2">2 of 2</span>' in page and 'data-form="approve"' not in page
    assert alice.get("/proposals/nope").status_code == 404
    assert site.client("audit").get("/proposals?state=all").status_code == 200


def test_a_withdrawal_proposal_approved_from_its_proposal_page_moves_it(site: Site) -> None:
    held(site)
    for who in ("alice", "bob"):
        client = site.client(who)
        assert approve(site, client, "/proposals/withdrawal-w-big/approve", who,
                       "withdrawal-w-big") == 303
    assert service(site).get("w-big").state == "approved"


def test_pages_in_japanese(site: Site) -> None:
    held(site)
    client = site.client("alice")
    assert "審査待ち" in client.get("/withdrawals?lang=ja").text
    page = client.get("/withdrawals/w-big").text
    assert "承認者名" in page and "署名" in page and "審査" in page


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
@pytest.mark.parametrize("encrypted", [True, False])
def test_sign_js_signs_with_the_key_file_kinko_writes(site: Site, tmp_path: Path,
                                                      encrypted: bool) -> None:
    held(site)
    key = site.approver_keys["alice"]
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.BestAvailableEncryption(b"pass word")
                            if encrypted else serialization.NoEncryption())
    found = Custody(site.ledger).proposal("withdrawal-w-big")
    assert found is not None
    message = base64.b64encode(signing_bytes(found.proposal)).decode()
    script = (f"const s = require({json.dumps(str(SIGN_JS))});"
              "const [pem, pw, msg] = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
              "s.sign(pem, pw, s.base64ToBytes(msg), require('crypto').webcrypto.subtle)"
              ".then((sig) => console.log(sig), (e) => { console.log('ERR ' + e.message); });")
    for password, ok in (("pass word", True), ("wrong", not encrypted)):
        done = subprocess.run(["node", "-e", script], capture_output=True, text=True,
                              timeout=60, input=json.dumps([pem.decode(), password, message]))
        out = done.stdout.strip()
        if ok:
            key.public_key().verify(bytes.fromhex(out), signing_bytes(found.proposal))
        else:
            assert out.startswith("ERR") and "password" in out, out


def test_a_rejected_withdrawal_leaves_no_proposal_to_sign(site: Site) -> None:
    held(site)
    held(site, "w-late", "C2")
    # containment rejects what waits in a wallet whose key leaked; an operator rejects one
    service(site).reject_open("eth-hot", "kinko:watch", "the key of eth-hot leaked")
    alice = site.client("alice")
    live = alice.get("/").text
    assert re.search(r'data-count="proposals">0<', live)
    assert "withdrawal-w-big" not in alice.get("/proposals").text  # pending: none
    assert 'data-proposal="withdrawal-w-big"' in alice.get("/proposals?state=rejected").text
    assert "withdrawal-w-big" not in alice.get("/custody").text
    for url in ("/withdrawals/w-big", "/proposals/withdrawal-w-late"):
        page = alice.get(url).text
        assert 'data-form="approve"' not in page and "no more approvals" in page, url
    assert approve(site, alice, "/proposals/withdrawal-w-big/approve", "alice",
                   "withdrawal-w-big") == 409
    assert [a["action"] for a in site.access.audit_log()][-1] == "withdrawal.approve.refused"


def test_a_proposal_older_than_the_policy_allows_is_shown_expired(site: Site) -> None:
    """A pending breaker reset stored with an expiry a century away (as an earlier kinko, or
    a policy version granting longer, could write it) is shown expiring when the policy in
    force ends its life (24 hours here), and expired after, as approval would refuse it: on
    its page, in the proposals' list and on the breaker's page alike."""
    w = service(site)
    w.trip("ETH", "ops", verbatim("theft"))
    made = w.propose_reset("ETH", "ops").proposal
    p = replace(made, id="breaker-long-lived",
                expires_at=made.created_at + timedelta(days=36500))
    with site.ledger.store.custody() as (_, tables):
        tables.put_proposal(p, verbatim("stored long ago"))
    lapsed = (p.created_at + timedelta(hours=24)).astimezone(ZoneInfo("Asia/Tokyo"))
    shown, stored = lapsed.strftime("%Y-%m-%d %H:%M:%S"), str(p.expires_at.year)
    badge = '<span class="sev critical">expired</span>'
    site.clock.advance(hours=23)
    page = site.client("alice").get(f"/proposals/{p.id}").text
    assert shown in page and badge not in page
    site.clock.advance(hours=2)
    client = site.client("alice")  # signed in again: a session lasts one shift
    page = client.get(f"/proposals/{p.id}").text
    assert shown in page and badge in page
    row = re.search(rf'<tr data-proposal="{p.id}">.*?</tr>', client.get("/proposals").text,
                    re.S)
    assert row is not None and shown in row[0] and badge in row[0] and stored not in row[0]
    row = re.search(rf'<tr data-proposal="{p.id}">.*?</tr>', client.get("/breaker").text,
                    re.S)
    assert row is not None and shown in row[0] and stored not in row[0]
