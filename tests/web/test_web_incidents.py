"""Alerts, incidents and the breaker in the dashboard (server side): list, filter, page,
acknowledge, the incident's timeline, moves and notes, trip and propose a reset, roles,
CSRF, escaping and the Japanese words."""

from __future__ import annotations

import re
from datetime import timedelta

from dashboard_site import E, Site

from kinko.api.web.incidents import MAX_PAGE, REPORT_CSP
from kinko.domain.messages import msg, verbatim
from kinko.domain.watch import ALERT_KINDS
from kinko.i18n import ENGLISH
from kinko.i18n.catalogs import catalog
from kinko.services.incidents import Incidents


def _incident(site: Site, *, alerts: int = 1, detail: str = "10 ETH left eth-hot") -> str:
    """An incident the way the watch opens one: an open incident and its theft alerts."""
    opened = site.clock.now()
    with site.ledger.store.watch() as t:
        incident = t.put_incident({"state": "open", "title": msg("incident.title.outflow", wallet="eth-hot"),
                                   "asset": "ETH", "wallet": "eth-hot", "opened": opened,
                                   "closed": None})
        t.add_event(incident, opened, "opened", "kinko", verbatim("incident opened by alert A-1"))
        for n in range(alerts):
            at = opened + timedelta(minutes=n)
            alert = t.put_alert({
                "key": f"outflow:{incident}:{n}", "kind": "theft", "severity": "critical",
                "state": "open", "chain_state": "final", "asset": "ETH", "wallet": "eth-hot",
                "tx_hash": f"0x{n:064x}", "amount": (n + 1) * E + E // 2, "block": 100 + n,
                "detail": verbatim(detail), "incident": incident, "raised": at})
            t.add_event(incident, at, "alert", "kinko", verbatim(f"{alert}: {detail}"))
    site.clock.advance(minutes=alerts)  # what operators do comes after the watch's alarm
    return incident


def _warning(site: Site, n: int, minutes: int) -> str:
    with site.ledger.store.watch() as t:
        return t.put_alert({
            "key": f"drop:{n}", "kind": "balance_drop", "severity": "warning",
            "state": "open", "chain_state": None, "asset": "ETH", "wallet": "eth-hot",
            "tx_hash": None, "amount": None, "block": None,
            "detail": verbatim(f"balance drop {n}"), "incident": None,
            "raised": site.clock.now() + timedelta(minutes=minutes)})


def _rows(page: str, hook: str) -> list[str]:
    return re.findall(rf'<tr {hook}="([^"]+)"', page)


def _audit(site: Site, action: str) -> list[dict[str, object]]:
    return [e for e in site.access.audit_log() if e["action"] == action]


def test_alerts_newest_first_filtered_and_paged(site: Site) -> None:
    incident = _incident(site, alerts=2)
    for n in range(60):
        _warning(site, n, 10 + n)
    client = site.client("audit")
    page = client.get("/alerts").text
    rows = _rows(page, "data-alert")
    assert len(rows) == 50 and rows[0] == "A-62" and rows[-1] == "A-13"
    assert 'data-page="older"' in page and 'data-page="newer"' not in page
    older = client.get("/alerts?page=2").text
    assert _rows(older, "data-alert") == [f"A-{n}" for n in range(12, 0, -1)]
    assert 'data-page="newer"' in older and 'data-page="older"' not in older
    thefts = client.get("/alerts?kind=theft").text
    assert _rows(thefts, "data-alert") == ["A-2", "A-1"]
    assert f'href="/incidents/{incident}"' in thefts
    Incidents(site.ledger.store, site.clock).ack("A-2", "ops")
    assert _rows(client.get("/alerts?state=acked").text, "data-alert") == ["A-2"]
    assert "A-2" not in _rows(client.get("/alerts?state=open&kind=theft").text, "data-alert")
    assert client.get("/alerts?state=nope").status_code == 400


def test_a_page_number_past_any_page_is_refused_not_a_server_error(site: Site) -> None:
    """``?page=`` whose offset no database integer holds was a 500 (SQLite's OverflowError);
    it is a 400 that names the field, and the last page that may exist is still served."""
    client = site.client("audit")
    for page in (MAX_PAGE + 1, 2**63 - 1, 10**20):
        r = client.get(f"/alerts?page={page}")
        assert r.status_code == 400 and "query.page" in r.text, (page, r.status_code)
    assert client.get(f"/alerts?page={MAX_PAGE}").status_code == 200


def test_alert_page_shows_every_field_and_acknowledging_is_audited(site: Site) -> None:
    incident = _incident(site, alerts=2)
    client = site.client("ops")
    page = client.get("/alerts/A-2").text
    assert '<dd data-field="amount">2.5 ETH</dd>' in page
    assert f"0x{1:064x}" in page and '<dd data-field="block">101</dd>' in page
    assert f'href="/incidents/{incident}" data-link="incident"' in page
    assert 'data-form="ack"' in page
    r = client.post("/alerts/A-2/ack", data={"csrf": site.csrf(client), "note": "on it"})
    assert r.status_code == 303 and r.headers["location"] == "/alerts/A-2"
    page = client.get("/alerts/A-2").text
    assert '<dd data-field="acked_by">ops</dd>' in page and 'data-form="ack"' not in page
    assert [e["target"] for e in _audit(site, "alert.ack")] == ["A-2"]
    timeline = Incidents(site.ledger.store, site.clock).incident(incident).timeline
    assert timeline[-1]["kind"] == "ack" and "on it" in ENGLISH.text(timeline[-1]["detail"])
    # twice is a mistake the operator is told about, not a crash
    again = client.post("/alerts/A-2/ack", data={"csrf": site.csrf(client)})
    assert again.status_code == 400 and "already" in again.text


def test_acknowledging_needs_the_role_and_the_csrf_token(site: Site) -> None:
    _incident(site)
    auditor = site.client("audit")
    assert 'data-form="ack"' not in auditor.get("/alerts/A-1").text
    r = auditor.post("/alerts/A-1/ack", data={"csrf": site.csrf(auditor)})
    assert r.status_code == 403
    ops = site.client("ops")
    assert ops.post("/alerts/A-1/ack", data={"note": "x"}).status_code == 403
    assert ops.post("/alerts/A-1/ack", data={"csrf": "forged"}).status_code == 403
    assert Incidents(site.ledger.store, site.clock).alert("A-1")["state"] == "open"
    assert _audit(site, "alert.ack") == []


def test_unknown_ids_are_404_pages(site: Site) -> None:
    client = site.client("ops")
    for url in ("/alerts/A-404", "/incidents/INC-nope", "/incidents/INC-nope/report.html"):
        r = client.get(url)
        assert r.status_code == 404 and "unknown" in r.text, url
    r = client.post("/alerts/A-404/ack", data={"csrf": site.csrf(client)})
    assert r.status_code == 404


def test_a_long_id_or_value_a_request_sent_is_quoted_cut_short(site: Site) -> None:
    """An error page quotes what the request named cut short, as every error kinko makes
    does: an unknown alert, incident, proposal or file set of 5,000 characters, or a report
    language of as many, was shown whole (in the page's language, Japanese too)."""
    client = site.client("root")
    csrf = site.csrf(client)
    long = "Z" * 5000
    for method, url, form in [
            ("GET", f"/alerts/{long}", None), ("GET", f"/incidents/{long}", None),
            ("GET", f"/proposals/{long}", None), ("GET", f"/trace/new?incident={long}", None),
            ("GET", f"/trace/{long}", None), ("GET", f"/reports/{long}/x.html", None),
            ("POST", f"/proposals/{long}/approve", {"csrf": csrf, "signature": "ab" * 64}),
            ("POST", "/reports/fsa", {"csrf": csrf, "lang": long})]:
        for lang in ("en", "ja"):
            r = client.request(method, f"{url}{'&' if '?' in url else '?'}lang={lang}",
                               data=form)
            assert 400 <= r.status_code < 500, (url[:40], r.status_code)
            assert "Z" * 81 not in r.text and "Z" * 20 in r.text, (url[:40], lang)


def test_incident_page_timeline_in_order_notes_and_moves(site: Site) -> None:
    incident = _incident(site, alerts=2)
    site.clock.advance(minutes=5)
    client = site.client("ops")
    listing = client.get("/incidents").text
    assert _rows(listing, "data-incident") == [incident]
    page = client.get(f"/incidents/{incident}").text
    assert "<ol class=\"timeline\" data-timeline>" in page
    assert re.findall(r'<li data-kind="(\w+)"', page) == ["opened", "alert", "alert"]
    assert _rows(page, "data-alert") == ["A-1", "A-2"]  # in the order they were raised
    assert f'href="/trace/new?incident={incident}" data-action="trace"' in page
    assert 'data-form="note"' in page and 'data-form="move"' in page
    csrf = site.csrf(client)
    r = client.post(f"/incidents/{incident}/note", data={"csrf": csrf, "text": "x" * 2001})
    assert r.status_code == 400  # named by its label on the page, not the form's field
    assert "Note is longer than 2,000 characters" in r.text
    r = client.post(f"/incidents/{incident}/note", data={"csrf": csrf, "text": "keys rotated"})
    assert r.status_code == 303 and r.headers["location"] == f"/incidents/{incident}"
    site.clock.advance(minutes=1)
    r = client.post(f"/incidents/{incident}/move",
                    data={"csrf": csrf, "state": "contained", "reason": "breaker tripped"})
    assert r.status_code == 303
    page = client.get(f"/incidents/{incident}").text
    assert re.findall(r'<li data-kind="(\w+)"', page) == ["opened", "alert", "alert", "note",
                                                          "state"]
    assert "open → contained: breaker tripped" in page
    assert '<span class="state contained" data-field="state">' in page
    # a move the lifecycle does not allow is refused with the reason
    r = client.post(f"/incidents/{incident}/move",
                    data={"csrf": csrf, "state": "contained", "reason": "again"})
    assert r.status_code == 400 and "can move to" in r.text
    r = client.post(f"/incidents/{incident}/move",
                    data={"csrf": csrf, "state": "resolved", "reason": ""})
    assert r.status_code == 400
    assert "say who moves the incident and why" in r.text and "--reason" not in r.text
    r = client.post(f"/incidents/{incident}/move",
                    data={"csrf": csrf, "state": "", "reason": "why"})  # said, not blank
    assert r.status_code == 400 and "not &#39;&#39;" in r.text, r.text
    client.post(f"/incidents/{incident}/move",
                data={"csrf": csrf, "state": "resolved", "reason": "customers refunded"})
    assert _rows(client.get("/incidents?state=resolved").text, "data-incident") == [incident]
    assert _rows(client.get("/incidents?state=open").text, "data-incident") == []
    assert [e["detail"] for e in _audit(site, "incident.move")] == [
        '{"from": "open", "reason": "breaker tripped", "to": "contained"}',
        '{"from": "contained", "reason": "customers refunded", "to": "resolved"}']
    assert len(_audit(site, "incident.note")) == 1
    auditor = site.client("audit")
    assert 'data-form="move"' not in auditor.get(f"/incidents/{incident}").text
    r = auditor.post(f"/incidents/{incident}/note",
                     data={"csrf": site.csrf(auditor), "text": "x"})
    assert r.status_code == 403


def test_losses_and_the_incident_report(site: Site) -> None:
    incident = _incident(site, alerts=1)
    Incidents(site.ledger.store, site.clock, site.ledger).record_losses(incident, "ops")
    client = site.client("audit")
    page = client.get(f"/incidents/{incident}").text
    loss = re.search(r'<tr data-loss="ETH">.*?</tr>', page, re.S)
    assert loss and f"loss:{incident}" in loss.group(0) and "1.5" in loss.group(0)
    r = client.get(f"/incidents/{incident}/report.html")
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    assert incident in r.text and "1.5" in r.text
    assert r.headers["content-security-policy"] == REPORT_CSP  # its own, not the pages'
    assert r.headers.get_list("content-security-policy") == [REPORT_CSP]


def test_markup_in_alerts_and_notes_is_shown_as_text(site: Site) -> None:
    incident = _incident(site, detail="<script>alert('x')</script>")
    client = site.client("ops")
    client.post(f"/incidents/{incident}/note",
                data={"csrf": site.csrf(client), "text": "<img src=x onerror=alert(1)>"})
    for url in ("/alerts", "/alerts/A-1", f"/incidents/{incident}", "/"):
        page = client.get(url).text
        assert "<script>alert" not in page and "<img src=x" not in page, url
    assert "&lt;script&gt;alert(" in client.get("/alerts/A-1").text
    assert "&lt;img src=x onerror=alert(1)&gt;" in client.get(f"/incidents/{incident}").text


def test_tripping_by_hand_goes_on_the_open_incidents_timeline(site: Site) -> None:
    incident = _incident(site)
    client = site.client("ops")
    client.post("/breaker/trip", data={"csrf": site.csrf(client, "/breaker"), "scope": "ETH",
                                       "reason": "second outflow suspected"})
    page = client.get(f"/incidents/{incident}").text
    assert re.search(r'<li data-kind="breaker">.*?tripped by hand: second outflow suspected',
                     page, re.S)
    client.post("/breaker/trip", data={"csrf": site.csrf(client, "/breaker"), "scope": "ETH",
                                       "reason": "again"})  # already tripped: no new line
    assert client.get(f"/incidents/{incident}").text.count('data-kind="breaker"') == 1


def test_trip_the_breaker_and_propose_a_reset(site: Site) -> None:
    client = site.client("ops")
    page = client.get("/breaker").text
    assert 'data-breaker="normal"' in page and 'data-form="trip"' in page
    csrf = site.csrf(client, "/breaker")
    r = client.post("/breaker/trip", data={"csrf": csrf, "scope": "ETH", "reason": "theft"})
    assert r.status_code == 303 and r.headers["location"] == "/breaker"
    api = client.get("/v1/breaker", headers={"Authorization": f"Bearer {site.tokens['ops']}"})
    assert api.json()["tripped"] == ["ETH"]
    page = client.get("/breaker").text
    assert re.search(r'<tr data-scope="ETH" data-state="tripped"', page)
    assert '<tr data-scope="*" data-state="normal">' in page and 'data-form="propose-reset"' in page
    assert [e["target"] for e in _audit(site, "breaker.trip")] == ["ETH"]
    r = client.post("/breaker/reset", data={"csrf": csrf, "scope": "ETH"})
    assert r.status_code == 303
    proposal = r.headers["location"].removeprefix("/proposals/")
    assert proposal and r.headers["location"].startswith("/proposals/")
    page = client.get("/breaker").text
    row = re.search(rf'<tr data-proposal="{re.escape(proposal)}">.*?</tr>', page, re.S)
    assert row and "0 of 2" in row.group(0) and f'href="/proposals/{proposal}"' in row.group(0)
    tripped = re.search(r'<tr data-scope="ETH".*?</tr>', page, re.S)
    assert tripped and f'href="/proposals/{proposal}" data-proposal-link' in tripped.group(0)
    assert [e["target"] for e in _audit(site, "breaker.reset.propose")] == ["ETH"]
    # a reset of a breaker that is not tripped, an unknown asset, no reason: told, not crashed
    assert client.post("/breaker/reset", data={"csrf": csrf, "scope": "*"}).status_code == 400
    assert client.post("/breaker/trip", data={"csrf": csrf, "scope": "NOPE",
                                              "reason": "x"}).status_code == 400
    assert client.post("/breaker/trip", data={"csrf": csrf, "scope": "*"}).status_code == 400
    auditor = site.client("audit")
    assert 'data-form="trip"' not in auditor.get("/breaker").text
    r = auditor.post("/breaker/trip", data={"csrf": site.csrf(auditor), "scope": "*",
                                            "reason": "x"})
    assert r.status_code == 403
    assert client.post("/breaker/trip", data={"scope": "*", "reason": "x"}).status_code == 403


def test_japanese_pages(site: Site) -> None:
    incident = _incident(site)
    client = site.client("ops")
    client.get("/?lang=ja")
    assert "未確認" in client.get("/alerts").text and "不正送金" in client.get("/alerts").text
    page = client.get(f"/incidents/{incident}").text
    assert "タイムライン" in page and "封じ込め" in page and "インシデント" in page
    assert "このインシデントの不正送金から追跡を開始" in page
    page = client.get("/breaker").text
    assert "サーキットブレーカー" in page and "作動" in page
    client.post("/breaker/trip", data={"csrf": site.csrf(client, "/breaker"), "scope": "*",
                                       "reason": "盗難"})
    assert "解除を提案" in client.get("/breaker").text
    assert "日本語" not in client.get("/breaker").text  # the switch offers English now


def test_every_word_has_both_languages() -> None:
    en, ja = catalog("en"), catalog("ja")
    mine = {k: (v, ja.get(k)) for k, v in en.items() if k.startswith(("al.", "inc.", "brk."))}
    assert mine and all(en and ja for en, ja in mine.values())
    assert all(f"al.kind.{kind}" in mine for kind in ALERT_KINDS)


def test_a_form_its_parser_cannot_read_is_refused_saying_why(site: Site) -> None:
    """A form that is no form (malformed multipart, more fields than the parser takes) was
    refused as "the request was refused (status 400)" alone: the page now says why, in
    English and in Japanese."""
    client = site.client("ops")
    many = "&".join(f"f{n}=v" for n in range(1001)).encode()
    for content_type, body, why in [
            ("multipart/form-data; boundary=x", b"not multipart", "Invalid multipart data"),
            ("application/x-www-form-urlencoded", many, "Too many fields")]:
        for lang, words in (("en", "the request was refused (status 400): "),
                            ("ja", "リクエストは受け付けられませんでした（ステータス 400：")):
            r = client.post(f"/breaker/trip?lang={lang}", content=body,
                            headers={"Content-Type": content_type})
            assert r.status_code == 400 and words + why in r.text, (why, lang, r.text[-800:])
