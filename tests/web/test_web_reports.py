"""Custody and reports, and reserves: the pages through the app (server side); the same in
a real browser is in tests/e2e."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path

from dashboard_site import HOT, E, Site
from fastapi.testclient import TestClient

from kinko.api import create_app
from kinko.domain.ledger import Posting
from kinko.domain.messages import msg, verbatim
from kinko.render.custody import render_custody
from kinko.services import reserves
from kinko.services.artifacts import Artifacts
from kinko.services.custody import Custody, custody_report
from kinko.services.incidents import Incidents
from kinko.services.refunds import Refunds


def _row(page: str, attr: str, value: str) -> dict[str, str]:
    row = re.search(rf'<tr [^>]*{attr}="{re.escape(value)}".*?</tr>', page, re.S)
    assert row, f"no row {attr}={value}"
    return dict(re.findall(r'data-field="(\w+)">\s*([^<]*?)\s*</td>', row.group(0), re.S))


def _paid_cell(page: str, plan_id: str) -> str:
    """The "paid" cell of a refund plan's row, as text."""
    row = re.search(rf'<tr [^>]*data-plan="{re.escape(plan_id)}".*?</tr>', page, re.S)
    assert row
    cell = re.search(r'data-field="paid">(.*?)</td>', row.group(0), re.S)
    assert cell
    return re.sub(r"<[^>]+>", "", cell.group(1)).strip()


def _form(site: Site, client: TestClient, page: str, **data: str) -> dict[str, str]:
    return {"csrf": site.csrf(client, page), **data}


def _no_node_client(site: Site) -> TestClient:
    app = create_app(lambda: Custody(site.ledger), lambda: site.access,
                     dashboard=site.data_dir, clock=site.clock)
    client = TestClient(app, raise_server_exceptions=False, follow_redirects=False)
    site.clients.append(client)
    assert client.post("/login", data={"api_key": site.tokens["ops"],
                                       "next": "/"}).status_code == 303
    return client


# ---------------------------------------------------------------------------- custody


def test_custody_page_shows_the_custody_report(site: Site) -> None:
    page = site.client("audit").get("/custody?lang=en").text
    eth = _row(page, "data-asset", "ETH")
    assert eth["liabilities"] == "100" and eth["hot"] == "4" and eth["cold"] == "96"
    assert eth["online_share"] == "4.00%" and eth["limit"] == "5%"
    assert eth["guarantee_required"] == "4" and eth["customers"] == "2"
    assert eth["guarantee_held"] == "0" and 'data-verdict="breach"' in page
    assert '<tr data-code="guarantee_shortfall" data-severity="critical">' in page
    # each finding says what it found, then what it is measured against
    row = re.search(r'<tr data-code="guarantee_shortfall".*?</tr>', page, re.S)
    assert row and re.search(r'data-field="finding">[^<]*4 ETH short<', row.group(0))
    assert 'data-form="reconcile"' not in page and 'data-form="propose"' not in page
    # each wallet: how it is signed, where its keys live, the co-signer's refusals
    assert ('<tr data-wallet="eth-hot" data-signing="single_key" data-keys="unknown" '
            'data-refusals="0">') in page
    assert '<tr data-wallet="eth-cold" data-signing="single_key" data-keys="offline"' in page
    assert "offline (kinko holds no key)" in page
    assert "単一鍵" in site.client("audit").get("/custody?lang=ja").text
    ops = site.client("ops").get("/custody").text
    assert 'data-form="reconcile"' in ops and 'data-form="propose"' in ops


def test_reconcile_now_shows_the_chains_findings(site: Site) -> None:
    ops = site.client("ops")
    page = ops.get("/custody?lang=en").text
    assert 'data-reconcile="done"' not in page and 'data-code="no_addresses"' not in page
    r = ops.post("/custody/reconcile", data=_form(site, ops, "/custody"))
    assert r.status_code == 200
    assert 'data-reconcile="done"' in r.text
    assert 'data-code="no_addresses"' in r.text  # eth-cold has no address registered
    assert 'data-code="wallet_short"' in r.text  # eth-hot's address holds nothing on chain
    actions = [a["action"] for a in site.access.audit_log()]
    assert "custody.reconcile" in actions
    audit = site.client("audit")
    assert audit.post("/custody/reconcile",
                      data=_form(site, audit, "/custody")).status_code == 403
    assert ops.post("/custody/reconcile", data={}).status_code == 403  # no CSRF token


def test_reconcile_without_a_node_says_so(site: Site) -> None:
    client = _no_node_client(site)
    page = client.get("/custody?lang=en").text
    assert 'data-reconcile="no-node"' in page and 'data-form="reconcile"' not in page
    r = client.post("/custody/reconcile", data=_form(site, client, "/custody"))
    assert r.status_code == 200 and 'data-reconcile="no-node"' in r.text


def test_an_operator_proposes_a_rebalance_and_an_auditor_cannot(site: Site) -> None:
    site.ledger.post("refill", [Posting("wallet:eth-hot", "ETH", 6 * E),
                                Posting("wallet:eth-cold", "ETH", -6 * E)], source="test")
    audit = site.client("audit")
    assert audit.post("/custody/propose",
                      data=_form(site, audit, "/custody")).status_code == 403
    assert 'data-proposal="' not in audit.get("/custody").text
    ops = site.client("ops")
    page = ops.get("/custody?lang=en").text
    assert 'data-code="hot_ratio_breach"' in page
    r = ops.post("/custody/propose", data=_form(site, ops, "/custody"))
    assert r.status_code == 303 and r.headers["location"] == "/custody?proposed=1#proposals"
    page = ops.get(r.headers["location"]).text
    found = re.search(r'<tr data-proposal="(sweep-[^"]+)"', page)
    assert found and f'href="/proposals/{found.group(1)}"' in page
    assert 'data-proposed="1"' in page and "0 of 2" in page and "eth-hot → eth-cold" in page
    assert _row(page, "data-proposal", found.group(1)) == {"approvals": "0 of 2"}
    # once open, the same breach is not proposed twice
    r = ops.post("/custody/propose", data=_form(site, ops, "/custody"))
    assert r.headers["location"] == "/custody?proposed=0#proposals"
    log = [a for a in site.access.audit_log() if a["action"] == "custody.propose_rebalance"]
    assert len(log) == 2 and found.group(1) in log[0]["detail"]


def test_a_proposed_count_that_is_no_number_is_ignored(site: Site) -> None:
    """``?proposed=`` (the count the page says was proposed) is read with ``int`` once
    ``str.isdigit`` says yes, which it says of ``²`` and of 5,000 digits: a 500."""
    client = site.client("audit")
    for value in ("²", "1" * 5000, "٣", "-1", "x"):
        page = client.get("/custody", params={"proposed": value})
        assert page.status_code == 200 and "data-proposed=" not in page.text, value


def test_the_custody_page_works_while_a_breaker_reset_is_pending(site: Site) -> None:
    """A breaker reset names a scope, not an asset: the page lists it without one (it
    answered 400 "unknown asset 'None'" for everyone during an incident)."""
    ops = site.client("ops")
    assert ops.post("/breaker/trip", data=_form(site, ops, "/breaker", scope="ETH",
                                                reason="drill")).status_code == 303
    r = ops.post("/breaker/reset", data=_form(site, ops, "/breaker", scope="ETH"))
    proposal = r.headers["location"].rsplit("/", 1)[1]
    for who in ("ops", "audit"):
        page = site.client(who).get("/custody?lang=en")
        assert page.status_code == 200, page.text
        row = re.search(rf'<tr data-proposal="{proposal}">.*?</tr>', page.text, re.S)
        assert row and "None" not in row.group(0) and "breaker" in row.group(0)
    report = custody_report(Custody(site.ledger), reconcile=False)
    assert [(p.kind, p.asset) for p in report.pending] == [("breaker", None)]
    assert "None" not in render_custody(report, "html", "en")
    assert "None" not in site.ledger.assets and "ETH" in site.ledger.assets


# ---------------------------------------------------------------------------- reports


def _fsa(site: Site, client: TestClient, **data: str) -> str:
    r = client.post("/reports/fsa", data=_form(site, client, "/reports", **data))
    assert r.status_code == 303, r.text
    made = re.search(r"made=([\w-]+)", r.headers["location"])
    assert made
    return made.group(1)


def test_fsa_report_is_generated_and_downloaded(site: Site) -> None:
    ops = site.client("ops")
    page = ops.get("/reports").text
    assert 'data-form="fsa"' in page and 'name="lang"' in page
    made = _fsa(site, ops, lang="en")
    row = Artifacts(site.ledger.store, site.clock).get(made)
    assert row["kind"] == "fsa" and row["state"] == "done" and row["created_by"] == "ops"
    assert row["folder"] == (site.data_dir / "fsa" / made).resolve()
    page = ops.get("/reports").text
    link = re.search(rf'href="(/reports/{made}/[^"]+\.html)" data-download="html"', page)
    assert link and 'data-download="pdf"' not in page
    r = ops.get(link.group(1))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "attachment" in r.headers["content-disposition"] and "<html" in r.text
    assert "report.fsa" in [a["action"] for a in site.access.audit_log()]
    audit = site.client("audit")
    assert audit.get(link.group(1)).status_code == 200  # auditors read reports
    assert audit.post("/reports/fsa", data=_form(site, audit, "/reports",
                                                 lang="en")).status_code == 403


def test_fsa_report_in_japanese_with_its_pdf(site: Site) -> None:
    ops = site.client("ops")
    made = _fsa(site, ops, lang="ja", pdf="1")
    page = ops.get("/reports").text
    pdf = re.search(rf'href="(/reports/{made}/fsa-report\.ja\.pdf)" data-download="pdf"', page)
    html = re.search(rf'href="(/reports/{made}/fsa-report\.ja\.html)" data-download="html"',
                     page)
    assert pdf and html
    r = ops.get(pdf.group(1))
    assert r.status_code == 200 and r.content.startswith(b"%PDF")
    assert r.headers["content-type"] == "application/pdf"
    assert "ホットウォレット" in ops.get(html.group(1)).text


def test_an_unknown_incident_is_refused_before_the_job_starts(site: Site) -> None:
    """Each refusal left a failed report in the index and an empty folder on disk."""
    ops = site.client("ops")
    r = ops.post("/reports/fsa", data=_form(site, ops, "/reports", lang="en",
                                            incident="INC-nope"))
    assert r.status_code == 400 and "unknown incident" in r.text
    assert Artifacts(site.ledger.store, site.clock).find("fsa") == []
    assert not (site.data_dir / "fsa").exists() or not any((site.data_dir / "fsa").iterdir())
    bad = ops.post("/reports/fsa", data=_form(site, ops, "/reports", lang="fr"))
    assert bad.status_code == 400


def test_an_incident_id_longer_than_any_is_refused_before_the_job_starts(site: Site) -> None:
    """An incident of more characters than a report's index keeps (64) was a 500 on
    PostgreSQL (the column's width) and a failed job on SQLite; it is refused before."""
    ops = site.client("ops")
    r = ops.post("/reports/fsa", data=_form(site, ops, "/reports", lang="en",
                                            incident="I" * 65))
    assert r.status_code == 400 and "incident is longer than 64 characters" in r.text
    assert Artifacts(site.ledger.store, site.clock).find("fsa") == []


def test_downloads_never_leave_the_artifacts_folder(site: Site, tmp_path: Path) -> None:
    ops = site.client("ops")
    made = _fsa(site, ops, lang="en")
    folder = site.data_dir / "fsa" / made
    (tmp_path / "secret.txt").write_text("secret")
    (folder / "link.txt").symlink_to(tmp_path / "secret.txt")
    (folder / "sub").mkdir()
    (folder / "sub" / "x.txt").write_text("x")
    for name in ("..%2F..%2F..%2Fk.db", "%2E%2E", "%2E", "link.txt", "sub",
                 "sub%2Fx.txt", "..%5C..%5Ck.db", "nope.html", "%00"):
        r = ops.get(f"/reports/{made}/{name}")
        assert r.status_code == (400 if name == "%00" else 404), name  # a NUL: no name
        assert "secret" not in r.text
    assert ops.get("/reports/fsa-nope/fsa-report.en.html").status_code == 404
    snap = _snapshot(site)
    assert ops.get(f"/reports/{snap}/root.json").status_code == 404  # not a report
    assert ops.get(f"/reports/{made}/fsa-report.en.html").status_code == 200


def test_refund_plans_show_the_plans_own_totals(site: Site) -> None:
    incident = Incidents(site.ledger.store, site.clock).open("theft", "ops", asset="ETH")
    refunds = Refunds(site.ledger, Incidents(site.ledger.store, site.clock))
    plan = refunds.plan(incident, "ETH", price=Decimal("300000.5"))
    folder = site.data_dir / "refunds" / "p1"
    files = refunds.write_plan(plan, folder)
    Artifacts(site.ledger.store, site.clock).record("refunds", verbatim("refund plan"), folder,
                                                    by="ops", incident=incident)
    page = site.client("audit").get("/reports?lang=en").text
    doc = files.document
    cells = _row(page, "data-plan", doc["plan_id"])
    assert cells["customers"] == "2" and cells["total_units"] == "100 ETH"
    assert cells["total_yen"] == f"{int(doc['total_yen']):,} JPY" == "30,000,050 JPY"
    assert "short by" in page  # no yen in the bank
    assert 'data-download="json"' in page and 'data-download="csv"' in page
    assert _paid_cell(page, doc["plan_id"]) == "not paid"
    # an edited plan is shown as unreadable, not with its edited numbers
    edited = json.loads((folder / "plan.json").read_text())
    edited["total_yen"] = "1"
    (folder / "plan.json").write_text(json.dumps(edited))
    page = site.client("audit").get("/reports?lang=en").text
    assert "altered" in page and "30,000,050" not in page
    # paid: the page says so (its funds check says what it was when planned)
    site.ledger.post("yen-in", [Posting("bank:mufg", "JPY", 40_000_000),
                                Posting("own", "JPY", -40_000_000)], source="test")
    funded = refunds.write_plan(refunds.plan(incident, "ETH", price=Decimal("300000.5")),
                                site.data_dir / "refunds" / "p2")
    Artifacts(site.ledger.store, site.clock).record("refunds", verbatim("refund plan"),
                                                    funded.plan_json.parent, by="ops",
                                                    incident=incident)
    assert refunds.execute(funded.plan_json.parent, by="ops").posted == 2
    page = site.client("audit").get("/reports?lang=en").text
    assert _paid_cell(page, funded.plan_id) == "2 of 2 refunds posted"
    page = site.client("audit").get("/reports?lang=ja").text
    assert _paid_cell(page, funded.plan_id) == "2 件中 2 件の返金を記帳済み"


# ---------------------------------------------------------------------------- reserves


def _snapshot(site: Site, name: str = "s1") -> str:
    folder = site.data_dir / "reserves" / name
    snap = reserves.snapshot(site.ledger, min_height=3, chain=site.chain)
    reserves.publish(snap, folder)
    sid = snap.tree.snapshot_id.hex()
    row = Artifacts(site.ledger.store, site.clock).record(
        "reserves", msg("artifact.reserves", snapshot=sid), folder, by="ops",
        detail={"snapshot_id": sid, "root_hash": snap.tree.root.hex()})
    return str(row["id"])


def test_reserves_page_shows_the_latest_snapshot_and_its_ratio(site: Site) -> None:
    client = site.client("audit")
    assert 'data-snapshot="none"' in client.get("/reserves").text
    made = _snapshot(site)
    root = json.loads((site.data_dir / "reserves" / "s1" / "root.json").read_text())
    page = client.get("/reserves?lang=en").text
    assert f'data-snapshot="{root["snapshot"]["id"]}"' in page and root["root_hash"] in page
    eth = _row(page, "data-asset", "ETH")
    assert eth["liabilities"] == "100"
    assert eth["proven"] == "0" and eth["ratio"] == "0.0000" and eth["unproven"] == "0"
    block = root["snapshot"]["reserves_at"][0]["block"]
    assert f"block {block} of ethereum (eip155:" in page and "not published (at most 8)" in page
    r = client.get(f"/reserves/{made}/verify_proof.py")
    assert r.status_code == 200 and "def " in r.text
    nodeless = _no_node_client(site).get("/reserves").text
    assert 'data-ratio="no-node"' in nodeless and 'data-field="ratio"' not in nodeless


def test_reserves_page_counts_only_proven_and_committed(site: Site) -> None:
    """An address without a proof of control holds 4 ETH: shown apart, never in the ratio;
    totals edited in root.json are refused, not shown."""
    site.chain.fund(HOT, 4 * 10**18)  # the hot wallet's address, never signed for
    _snapshot(site)
    client = site.client("audit")
    page = client.get("/reserves?lang=en").text
    eth = _row(page, "data-asset", "ETH")
    assert eth["proven"] == "0" and eth["ratio"] == "0.0000" and eth["unproven"] == "4"
    assert 'data-not-counted="ETH"' in page and "without a valid proof of control" in page
    path = site.data_dir / "reserves" / "s1" / "root.json"
    edited = json.loads(path.read_text())
    edited["totals"][edited["snapshot"]["assets"].index(next(
        a for a in edited["snapshot"]["assets"] if a["symbol"] == "ETH"))] = "1"
    path.write_text(json.dumps(edited))
    page = client.get("/reserves?lang=en").text
    assert "does not match its root hash" in page and 'data-asset="ETH"' not in page


def test_a_snapshot_id_recorded_for_another_root_is_refused(site: Site) -> None:
    made = _snapshot(site)
    root = json.loads((site.data_dir / "reserves" / "s1" / "root.json").read_text())
    Artifacts(site.ledger.store, site.clock).record(
        "reserves", verbatim("an older tree under the same id"), site.data_dir / "reserves" / "old",
        by="ops", detail={"snapshot_id": root["snapshot"]["id"], "root_hash": "00" * 32})
    page = site.client("audit").get(f"/reserves?snapshot={made}&lang=en").text
    assert "is already used by the snapshot" in page and 'data-asset="ETH"' not in page


def test_proof_lookup_valid_unknown_and_invalid(site: Site) -> None:
    made = _snapshot(site)
    client = site.client("audit")  # looking up is reading
    r = client.post("/reserves/proof", data=_form(site, client, "/reserves", snapshot=made,
                                                  customer="C1"))
    assert r.status_code == 200 and 'data-proof-result="valid"' in r.text
    assert re.search(r'<tr data-asset="ETH"><th>ETH</th><td>60</td>', r.text)
    proof = client.get(f"/reserves/{made}/proof?customer=C1")
    assert proof.status_code == 200 and json.loads(proof.text)["customer"]["id"] == "C1"
    assert "attachment" in proof.headers["content-disposition"]
    r = client.post("/reserves/proof", data=_form(site, client, "/reserves", snapshot=made,
                                                  customer="<script>x</script>"))
    assert 'data-proof-result="unknown"' in r.text and "<script>x" not in r.text
    assert client.get(f"/reserves/{made}/proof?customer=nobody").status_code == 404
    path = site.data_dir / "reserves" / "s1" / "proofs" / "C2.json"
    tampered = json.loads(path.read_text())
    tampered["customer"]["balances"][0] = str(10**30)
    path.write_text(json.dumps(tampered))
    r = client.post("/reserves/proof", data=_form(site, client, "/reserves", snapshot=made,
                                                  customer="C2"))
    assert 'data-proof-result="invalid"' in r.text
    lookups = [a for a in site.access.audit_log() if a["action"] == "reserves.proof_lookup"]
    assert len(lookups) == 3
    assert client.post("/reserves/proof", data={"snapshot": made,
                                                "customer": "C1"}).status_code == 403


def test_an_unreadable_proof_file_is_a_4xx_naming_it(site: Site) -> None:
    """A proof file of the snapshot folder that is not UTF-8 (a copy gone wrong): the
    lookup and the download answered 500. Now 400, naming the file; so for a jsonl shard."""
    made = _snapshot(site)
    client = site.client("audit")
    proofs = site.data_dir / "reserves" / "s1" / "proofs"
    (proofs / "C2.json").write_bytes(b'{"customer": "\xff\xfe"}')
    r = client.post("/reserves/proof", data=_form(site, client, "/reserves", snapshot=made,
                                                  customer="C2"))
    assert r.status_code == 400 and "C2.json:1: not UTF-8 text" in r.text, r.text[:300]
    r = client.get(f"/reserves/{made}/proof?customer=C2")
    assert r.status_code == 400 and "C2.json:1: not UTF-8 text" in r.text
    (proofs / "C2.json").unlink()
    (proofs / "proofs-0000.jsonl").write_bytes(b'{"customer":{"id":"C9"}}\n\xff\n')
    r = client.get(f"/reserves/{made}/proof?customer=C2")
    assert r.status_code == 400 and "proofs-0000.jsonl:2: not UTF-8 text" in r.text, r.text[:300]


# ---------------------------------------------------------------------------- Japanese


def test_japanese_pages_use_the_fsa_terms(site: Site) -> None:
    client = site.client("ops")
    page = client.get("/custody?lang=ja").text
    for term in ("ホットウォレット", "コールドウォレット", "履行保証暗号資産", "分別管理"):
        assert term in page, term
    assert "金融庁" in client.get("/reports").text  # the language is remembered
    _snapshot(site)
    assert "準備金証明" in client.get("/reserves").text
