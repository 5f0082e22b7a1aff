"""Sign-in, sessions, CSRF, roles and the overview, through the app (server side); the same
in a real browser is in tests/e2e."""

from __future__ import annotations

import re
import threading
from typing import Any

from dashboard_site import Site
from fastapi.testclient import TestClient

from kinko.api.web import CSP
from kinko.domain.ledger import Posting
from kinko.i18n.catalogs import problems
from kinko.services.sessions import Sessions


def test_pages_need_a_session_and_sign_in_sets_a_strict_cookie(site: Site) -> None:
    client = site.anonymous()
    r = client.get("/?lang=en")
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")
    r = client.post("/login", data={"api_key": site.tokens["audit"],
                                    "next": "/?lang=en"})
    assert r.status_code == 303 and r.headers["location"] == "/?lang=en"
    cookie = r.headers["set-cookie"]
    assert "kinko_session=" in cookie and "HttpOnly" in cookie
    assert "SameSite=strict" in cookie and "Max-Age=28800" in cookie
    token = cookie.split("kinko_session=")[1].split(";")[0]
    assert site.tokens["audit"] not in cookie and token not in str(
        site.access.api_keys())  # the key is not the cookie; the token is stored hashed
    assert client.get("/").status_code == 200


def test_a_wrong_key_is_refused_with_a_message_and_no_cookie(site: Site) -> None:
    client = site.anonymous()
    r = client.post("/login", data={"api_key": "kinko_nope_nope", "next": "/"})
    assert r.status_code == 401 and "not valid" in r.text and "set-cookie" not in r.headers
    r = client.post("/login?lang=ja", data={"api_key": "kinko_nope_nope", "next": "/"})
    assert r.status_code == 401 and "API キーが無効です" in r.text and "not valid" not in r.text


def test_sign_in_from_another_site_is_refused_and_audited(site: Site) -> None:
    """Login CSRF: another site posting a key would sign the operator in as someone else."""
    client = site.anonymous()
    for headers in ({"Origin": "https://evil.example"}, {"Origin": "null"},
                    {"Sec-Fetch-Site": "cross-site"}):
        r = client.post("/login", data={"api_key": site.tokens["audit"], "next": "/"},
                        headers=headers)
        assert r.status_code == 403 and "set-cookie" not in r.headers, headers
    r = client.post("/login", data={"api_key": site.tokens["audit"], "next": "/"},
                    headers={"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"})
    assert r.status_code == 303
    refused = [a for a in site.access.audit_log() if a["action"] == "sign_in.refused"]
    assert len(refused) == 3 and "is not accepted" in refused[0]["detail"]
    assert "testclient" in refused[0]["detail"]


def test_wrong_keys_at_sign_in_are_throttled_per_key_and_audited(site: Site) -> None:
    client = site.anonymous()
    good = site.tokens["alice"]
    key_id = good.split("_")[1]
    wrong = f"kinko_{key_id}_{'x' * 43}"
    for _ in range(5):
        r = client.post("/login", data={"api_key": wrong, "next": "/"})
        assert r.status_code == 401
    r = client.post("/login", data={"api_key": good, "next": "/"})  # the key is locked
    assert r.status_code == 429 and int(r.headers["Retry-After"]) == 900
    assert "too many wrong keys" in r.text and "900 seconds" in r.text
    r = client.post("/login?lang=ja", data={"api_key": good, "next": "/"})
    assert r.status_code == 429 and "900 秒後" in r.text and "too many" not in r.text
    refused = [a for a in site.access.audit_log() if a["action"] == "sign_in.refused"]
    assert len(refused) == 5 and {a["target"] for a in refused} == {key_id}
    assert '"locked": true' in refused[-1]["detail"]
    assert client.post("/login", data={"api_key": site.tokens["bob"],  # other keys work
                                       "next": "/"}).status_code == 303
    site.clock.advance(minutes=15)
    assert client.post("/login", data={"api_key": good, "next": "/"}).status_code == 303
    for _ in range(10):  # keys that do not exist count against the client only
        client.post("/login", data={"api_key": "kinko_0123456789ab_nope", "next": "/"})
    r = client.post("/login", data={"api_key": site.tokens["bob"], "next": "/"})
    assert r.status_code == 429


def test_next_never_leaves_the_site(site: Site) -> None:
    client = site.anonymous()
    for target in ("https://evil.example/", "//evil.example/", "/\\evil"):
        r = client.post("/login", data={"api_key": site.tokens["audit"], "next": target})
        assert r.headers["location"] == "/"


def test_sign_out_needs_the_csrf_token_and_ends_the_session(site: Site) -> None:
    client = site.client("ops")
    assert client.post("/logout", data={}).status_code == 403
    # a token with characters beyond ASCII is a wrong token, not a server error
    assert client.post("/logout", data={"csrf": "forged-\x80é"}).status_code == 403
    assert client.get("/").status_code == 200  # still signed in
    assert client.post("/logout", data={"csrf": site.csrf(client)}).status_code == 303
    assert client.get("/").status_code == 303


def test_revoking_the_key_ends_its_sessions_and_sessions_expire(site: Site) -> None:
    client = site.client("audit")
    key_id = site.tokens["audit"].split("_")[1]
    site.access.revoke(key_id, "root")
    assert client.get("/").status_code == 303
    other = site.client("ops")
    site.clock.advance(hours=8, seconds=1)
    assert other.get("/").status_code == 303


def test_a_form_from_another_origin_is_refused(site: Site) -> None:
    client = site.client("ops")
    r = client.post("/logout", data={"csrf": site.csrf(client)},
                    headers={"Origin": "https://evil.example"})
    assert r.status_code == 403


def test_overview_shows_custody_as_the_api_does(site: Site) -> None:
    client = site.client("audit")
    page = client.get("/").text
    api = client.get("/v1/custody", headers={"Authorization": f"Bearer {site.tokens['audit']}"})
    eth = next(a for a in api.json()["assets"] if a["asset"] == "ETH")
    row = re.search(r'<tr data-asset="ETH".*?</tr>', page, re.S)
    assert row
    cells = dict(re.findall(r'data-field="(\w+)">\s*(?:<span.*?</span>\s*)?([^<]+?)\s*</td>',
                            row.group(0), re.S))
    assert cells["hot"] == "4" == eth["hot"] and cells["cold"] == "96" == eth["cold"]
    assert cells["liabilities"] == "100" == eth["liabilities"]
    assert cells["online_share"] == "4.00%" and cells["limit"] == "5%"


def test_security_headers_and_no_cdn(site: Site) -> None:
    client = site.client("audit")
    r = client.get("/")
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["referrer-policy"] == "same-origin"
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["x-content-type-options"] == "nosniff"
    for page in ("/login", "/nope", "/static/nope"):  # a sign-in, a page not found
        got = site.anonymous().get(page).headers
        assert got["content-security-policy"] == CSP and got["x-frame-options"] == "DENY"
        assert got.get("cache-control") == (None if page.startswith("/static") else "no-store")
    static = client.get("/static/kinko.css")
    assert static.status_code == 200 and static.headers["content-security-policy"] == CSP
    assert "no-store" not in static.headers.get("cache-control", "")
    key = {"Authorization": f"Bearer {site.tokens['audit']}"}
    for answer in (client.get("/v1/breaker", headers=key), client.get("/v1/breaker"),
                   client.get("/openapi.json"),
                   client.post("/v1/breaker/trip", headers=key, content=b"[" * 100)):
        assert answer.headers["x-content-type-options"] == "nosniff", answer.url
        assert "content-security-policy" not in answer.headers, answer.url
        assert "x-frame-options" not in answer.headers, answer.url
    too_deep = site.anonymous().post("/login", content=b"[" * 100,
                                     headers={"content-type": "application/json"})
    assert too_deep.status_code == 422  # refused before any parser: headers still there
    assert too_deep.headers["content-security-policy"] == CSP
    assert "http://" not in re.sub(r'https?://testserver', "", r.text.split("<main>")[0]) \
        and "https://" not in r.text.split("<main>")[0]


def test_every_page_has_the_pages_headers_even_one_named_like_the_api(site: Site) -> None:
    """``/v1x``, ``/v1.json`` ... are the dashboard's (its error page, for a signed-in
    operator with the session's CSRF token), but the security headers took every path
    beginning ``/v1`` for the API's: the page went without its CSP, framing ban and
    no-store. ``/v1`` itself was such a page; it is the API's now."""
    client = site.client("audit")
    for path in ("/v1x", "/v1.json", "/openapi", "/openapi.jsonx"):
        page = client.get(path)
        assert page.status_code == 404 and page.headers["content-type"].startswith(
            "text/html"), path
        assert page.headers["content-security-policy"] == CSP, path
        assert page.headers["x-frame-options"] == "DENY", path
        assert page.headers["cache-control"] == "no-store", path
    for path in ("/v1", "/v1/", "/v1/nope"):  # the API's: JSON, without the pages' headers
        answer = client.get(path)
        assert answer.status_code == 404 and answer.json()["error"]["code"] == "not_found"
        assert "content-security-policy" not in answer.headers, path
        assert answer.headers["x-content-type-options"] == "nosniff", path


def test_japanese_pages_and_every_word_in_both_languages(site: Site) -> None:
    client = site.client("audit")
    page = client.get("/?lang=ja").text
    assert "ホットウォレット" in page and "コールドウォレット" in page and "履行保証暗号資産" in page
    assert client.get("/").text.count("ホットウォレット") >= 1  # the language is remembered
    assert problems() == []  # every id the code names has both texts, same placeholders


def test_a_browser_that_prefers_japanese_gets_japanese_until_told_otherwise(
        site: Site) -> None:
    """No language asked for: the browser's Accept-Language chooses; one asked for
    (``?lang=``, then its cookie) wins over it."""
    client = site.client("audit")
    prefers_ja = {"Accept-Language": "ja-JP,ja;q=0.9,en;q=0.8"}
    assert "ホットウォレット" in client.get("/", headers=prefers_ja).text
    assert "ホットウォレット" not in client.get("/").text
    assert "ホットウォレット" not in client.get("/?lang=en", headers=prefers_ja).text
    assert "ホットウォレット" not in client.get("/", headers=prefers_ja).text  # the cookie
    sign_in = site.anonymous().get("/login", headers=prefers_ja)
    assert sign_in.status_code == 200 and "API キー" in sign_in.text, sign_in.text


def test_times_are_shown_in_the_operators_zone(site: Site) -> None:
    client = site.anonymous()
    client.post("/login", data={"api_key": site.tokens["audit"], "zone": "America/New_York"})
    page = client.get("/").text
    assert "America/New_York" in page
    shown = re.search(r"As of (\S+ \S+)", page)
    assert shown and shown.group(1) == site.clock.now().astimezone(
        __import__("zoneinfo").ZoneInfo("America/New_York")).strftime("%Y-%m-%d %H:%M:%S")


def test_a_zone_that_is_no_zone_file_is_ignored_not_a_server_error(site: Site) -> None:
    """A zone named by a folder of the zone database (``America``), or longer than a file
    name, makes ``ZoneInfo`` raise ``OSError``, not ``ZoneInfoNotFoundError``: every page,
    the sign-in page too, was a 500, for a year (the cookie's life) after a clumsy
    sign-in."""
    for zone in ("America", "Asia", "a" * 300, "../etc", "UTC\x00"):
        anonymous = site.anonymous()
        anonymous.cookies.set("kinko_tz", zone)
        got = anonymous.get("/login")
        assert got.status_code == 200, (zone, got.text[:200])
    client = site.anonymous()
    r = client.post("/login", data={"api_key": site.tokens["audit"], "zone": "America"})
    assert r.status_code == 303 and "kinko_tz" not in r.headers["set-cookie"]
    page = client.get("/")
    assert page.status_code == 200 and "Asia/Tokyo" in page.text  # the default zone
    client.cookies.set("kinko_tz", "Europe")
    assert client.get("/").status_code == 200


def test_sessions_service_refuses_unknown_and_ended_tokens(site: Site) -> None:
    sessions = Sessions(site.ledger.store, site.clock)
    session, token = sessions.sign_in(site.tokens["ops"])
    assert sessions.resolve(token).key.name == "ops" and session.csrf
    sessions.sign_out(token)
    for bad in (token, "", "x"):
        try:
            sessions.resolve(bad)
        except Exception as exc:  # Unauthorized
            assert type(exc).__name__ == "Unauthorized"
        else:
            raise AssertionError(f"{bad!r} was accepted")


def _first_event(client: TestClient, url: str) -> list[str]:
    with client.stream("GET", url) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        lines: list[str] = []
        for line in r.iter_lines():
            lines.append(line)
            if line.startswith("event:"):
                break
        return lines


def test_live_feeds_send_what_changed_since_the_page_was_drawn(site: Site) -> None:
    client = site.client("ops")
    page = client.get("/breaker").text
    since = re.search(r'data-watch="/events/changes\?since=([^"]+)"', page)
    assert since and 'data-changed hidden' in page
    site.ledger.post("later", [Posting("wallet:eth-hot", "ETH", 1),
                               Posting("customer:C1", "ETH", -1)], source="test")
    assert "event: changed" in _first_event(client, f"/events/changes?since={since.group(1)}")
    lines = _first_event(client, "/events/overview?since=0")  # a stale page: drawn again
    assert lines[-1] == "event: overview"
    anonymous = site.anonymous()
    assert anonymous.get("/events/changes").status_code == 303


def test_head_on_a_live_feed_ends_with_its_headers(site: Site) -> None:
    """A HEAD of a feed (a monitor checking the page) never ended: the stream's body was
    dropped part by part while the server went on polling, for as long as the client
    stayed, and the client's next request on the connection was never answered."""
    client = site.client("ops")
    for url in ("/events/changes", "/events/overview"):
        answers: list[Any] = []
        asking = threading.Thread(target=lambda u=url, a=answers: a.append(client.head(u)),
                                  daemon=True)
        asking.start()
        asking.join(5)
        assert answers, f"HEAD {url} did not end"
        assert answers[0].status_code == 200 and answers[0].content == b"", url
        assert answers[0].headers["content-type"].startswith("text/event-stream"), url
