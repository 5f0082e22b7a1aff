"""Sign-in, the overview's numbers against the API's, and every page in both languages, in
Chromium. (A theft appearing live on an open overview is the first act of
:mod:`test_e2e_story`.)"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from browser_site import CUSTOMERS, Browse, Exchange, Server

pytestmark = pytest.mark.xdist_group("e2e")


# one server for the tests that only read (sign-in, the pages in both languages); the
# overview's numbers are checked on an exchange of their own, on PostgreSQL
@pytest.fixture
def server(shared_server: Server) -> Server:
    return shared_server


FIELDS = ("liabilities", "hot", "warm", "cold", "guarantee_required", "guarantee_held")


def test_sign_in_with_an_api_key(server: Server, browse: Browse) -> None:
    page = browse.page()
    page.goto(server.url + "/")
    assert re.search(r"/login\?next=%2F$", page.url), page.url  # no session: sign in first
    browse.shot(page, "login")
    page.fill('input[name="api_key"]', "kinko_nope_nope")
    page.click('form[action="/login"] button[type="submit"]')
    page.wait_for_selector('[role="alert"]')
    assert "/login" in page.url and page.locator('[data-table="custody"]').count() == 0
    browse.shot(page, "login-refused")
    page.fill('input[name="api_key"]', server.exchange.tokens["audit"])
    with page.expect_navigation():
        page.click('form[action="/login"] button[type="submit"]')
    assert page.url == server.url + "/"
    page.wait_for_selector('table[data-table="custody"] tr[data-asset="ETH"]')
    assert "audit" in page.inner_text("header")
    # the session cookie is HttpOnly (scripts cannot read it) and strict about sites
    (cookie,) = [c for c in page.context.cookies() if c["name"] == "kinko_session"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert "kinko_session" not in page.evaluate("document.cookie")
    assert server.exchange.tokens["audit"] not in cookie["value"]
    # the browser's time zone was sent with the form and times are shown in it
    assert "Asia/Tokyo" in page.inner_text("header")
    browse.shot(page, "overview")


@pytest.mark.postgres
def test_overview_numbers_equal_the_api(make_exchange: Callable[..., Exchange],
                                        serve: Callable[[Exchange], Server],
                                        browse: Browse) -> None:
    server = browse.server = serve(make_exchange("postgres"))
    held = server.withdraw("W-big", "C1", "123.5")  # held for review: its funds reserved
    assert held["state"] == "review"
    page = browse.as_("audit")
    row = page.locator('table[data-table="custody"] tr[data-asset="ETH"]')
    shown = {f: row.locator(f'td[data-field="{f}"]').inner_text().strip() for f in FIELDS}
    browse.shot(page, "overview")
    status, api = server.api("GET", "/v1/custody", "audit")
    assert status == 200
    (eth,) = [a for a in api["assets"] if a["asset"] == "ETH"]
    for f in FIELDS:
        # the page groups thousands for reading; the figure is the same, to the last digit
        assert shown[f].replace(",", "") == (eth[f] or "0").replace(",", ""), (f, shown, eth)
    owed = sum(float(v) for v in CUSTOMERS.values())
    assert shown["liabilities"] == "12,345.678" and float(eth["liabilities"]) == owed
    assert shown["hot"] == "500" and shown["cold"] == "12,345.678"
    assert shown["guarantee_required"] == "500" == shown["guarantee_held"]
    assert row.locator('td[data-field="online_share"]').inner_text().strip().endswith("%")
    assert page.locator('[data-tile="review"] [data-count="review"]').inner_text() == "1"


def test_the_japanese_pages_use_the_fsa_terms(server: Server, browse: Browse) -> None:
    page = browse.as_("audit", next="/?lang=ja")
    assert page.get_attribute("html", "lang") == "ja"
    custody = page.inner_text('table[data-table="custody"]')
    for word in ("ホットウォレット", "コールドウォレット", "履行保証暗号資産"):
        assert word in custody, word
    assert "12,345.678" in custody  # numbers as the asset's decimals give them
    browse.shot(page, "overview-ja")
    # the choice is remembered: the custody page (no ?lang) is in Japanese too
    page.click('header nav a[href="/custody"]')
    assert page.get_attribute("html", "lang") == "ja"
    text = page.inner_text("main")
    for word in ("ホットウォレット", "コールドウォレット", "履行保証暗号資産"):
        assert word in text, word
    assert page.locator('[data-table="findings"]').count() == 1
    browse.shot(page, "custody-ja")
    page.click("header a.lang")
    assert page.get_attribute("html", "lang") == "en"
    assert "Hot" in page.inner_text('table[data-table="custody"]')
    browse.shot(page, "custody-en")


PAGES = ("/", "/withdrawals", "/proposals", "/alerts", "/incidents", "/breaker", "/custody",
         "/reports", "/reserves", "/trace", "/trace/new")


def test_every_page_in_both_languages_is_shot(server: Server, browse: Browse) -> None:
    """A screenshot of every page in Japanese and in English (test-artifacts/screenshots/),
    to be looked at; each answers 200 in the language chosen."""
    page = browse.as_("ops")
    for lang in ("ja", "en"):
        for path in PAGES:
            sep = "&" if "?" in path else "?"
            answer = page.goto(f"{server.url}{path}{sep}lang={lang}")
            assert answer is not None and answer.status == 200, (lang, path)
            assert page.get_attribute("html", "lang") == lang, path
            name = path.strip("/").replace("/", "-") or "overview"
            browse.shot(page, f"page-{name}-{lang}")
