"""Hostile input to every route of ``kinko serve`` (the REST API and the dashboard), beside
the schemathesis fuzz: Hypothesis builds bodies and headers an attacker or a broken client
would send (nesting thousands deep, past the size limit, invalid UTF-8 and UTF-16, odd key
characters, numbers of thousands of digits, addresses and tiers in odd spellings, forged
sessions and keys) and every answer must be below 500, the server must go on answering,
and nothing may be written: the ledger's head and every table's row count stay as they
were, and the audit log only gains records of refusals.

One app for the module (SQLite, the in-process chain, a withdrawal held for review and a
breaker reset waiting for approvals, so approvals reach their signature checks). The last
test runs ``kinko serve`` as a real process and sends it the 80,000-bracket body that used
to kill it with a segmentation fault.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import anvilnode
import pytest
from apiledger import funded_ledger
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from dbtemplate import initialised_sqlite
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from kinko.api import create_app
from kinko.api.limits import nul_in_json
from kinko.chains.evm import EvmChain
from kinko.domain.approvals import public_key_hex, sign_proposal
from kinko.domain.custody import Wallet
from kinko.domain.ledger import Posting
from kinko.domain.money import AssetRegistry
from kinko.ports import FixedClock, SystemClock
from kinko.services.access import Access
from kinko.services.custody import Custody
from kinko.services.ledger import Ledger
from kinko.services.withdrawals import Withdrawals
from kinko.store import SqlStore, open_store
from kinko.store.custody_sql import parse_proposal

E = 10**18
DEST = "0x52908400098527886E0F7030069857D2E4169EE7"
HOT = "0x3f5CE5FBFe3E9af3971dD833D26bA9b5C936f0bE"  # the exchange's hot wallet
DEEP = "[" * 80_000 + "]" * 80_000
LIMIT = 2**20
# signing out ends the session the other examples use; the pages' event streams never end
# by design (``since`` is only compared with the change stamp)
SKIPPED = ("/logout", "/events/changes", "/events/overview")


@dataclass
class Hostile:
    app: Any
    store: SqlStore
    tokens: dict[str, str]
    session: str  # an auditor's session cookie: forms get past sign-in, never past the role
    csrf: str
    routes: list[tuple[str, str]]

    def client(self, address: str = "testclient") -> TestClient:
        return TestClient(self.app, raise_server_exceptions=False, follow_redirects=False,
                          client=(address, 50000))

    def state(self) -> dict[str, Any]:
        """Everything a request could have written: the ledger head, every table's rows."""
        with self.store.engine.connect() as conn:
            tables = [r[0] for r in conn.execute(text(
                "SELECT name FROM sqlite_master WHERE type = 'table'"))]
            counts = {t: conn.execute(text(f'SELECT count(*) FROM "{t}"')).scalar()
                      for t in tables if t not in ("audit_log", "web_sessions")}
            head = conn.execute(text("SELECT seq, hash FROM ledger_head")).first()
            sessions = conn.execute(text(
                "SELECT count(*) FROM web_sessions WHERE ended_us IS NULL")).scalar()
            audit = conn.execute(text("SELECT coalesce(max(seq), 0) FROM audit_log")).scalar()
        return {"head": tuple(head or ()), "rows": counts, "live_sessions": sessions,
                "audit": audit}

    def new_audit(self, after: int) -> list[str]:
        with self.store.engine.connect() as conn:
            return [r[0] for r in conn.execute(text(
                "SELECT action FROM audit_log WHERE seq > :s ORDER BY seq"), {"s": after})]


def _routes(routes: list[Any]) -> Iterator[tuple[str, str]]:
    for route in routes:
        if hasattr(route, "original_router"):  # a router included by the dashboard
            yield from _routes(route.original_router.routes)
        elif hasattr(route, "methods") and route.methods:
            for method in sorted(route.methods - {"HEAD"}):
                yield method, route.path


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hostile]:
    folder = tmp_path_factory.mktemp("hostile")
    clock = FixedClock()
    store, ledger = funded_ledger(folder / "k.db", clock, HOT)
    approvers = "".join(f'[[approvers]]\nname = "{n}"\npublic_key = '
                        f'"{public_key_hex(Ed25519PrivateKey.generate())}"\n'
                        for n in ("alice", "bob"))
    (folder / "p.toml").write_text(
        f"version = 1\nquorum = 2\n{approvers}[[screening.rules]]\nkind = \"max_amount\"\n"
        'asset = "ETH"\namount = "10"\naction = "review"\nreason = "large"\n')
    chain = EvmChain.in_process()
    custody = Custody(ledger, chain=chain)
    custody.load_policy(folder / "p.toml", "ops")
    withdrawals = Withdrawals(custody)
    withdrawals.request("W-review", "C1", "ETH", 20 * E, DEST, requester="ops")
    withdrawals.trip("ETH", "ops", "drill")
    withdrawals.propose_reset("ETH", "ops")
    access = Access(store, clock)
    tokens = {role: access.create_key(role, role)[1]
              for role in ("admin", "operator", "approver", "auditor")}
    app = create_app(lambda: Custody(ledger, chain=chain), lambda: access,
                     dashboard=folder / "data", clock=clock)
    client = TestClient(app, raise_server_exceptions=False, follow_redirects=False)
    assert client.post("/login", data={"api_key": tokens["auditor"]}).status_code == 303
    session = client.cookies["kinko_session"]
    found = re.search(r'name="csrf" value="([^"]+)"', client.get("/").text)
    assert found
    yield Hostile(app, store, tokens, session, found.group(1),
                  [r for r in _routes(app.routes) if r[1] not in SKIPPED])
    client.close()
    store.close()


# ---------------------------------------------------------------------------- strategies

ODD = ["", " ", "\u0000", "\u202e", "\ufeff", "../..", "..%2F..", "/", "%00", "\\", "'", '"',
       "<script>", "{{7*7}}", "${jndi:x}", "=cmd|' /C calc'!A0", "\ud800", "Ａ", "ｅｔｈ",
       "x" * 5000, "9" * 5000, "-1", "1e999999", "NaN", "Infinity", "0x", "*", "null",
       "VIP", "standard ", "STANDARD", "vip\u0000"]
ADDRESSES = [DEST.lower(), DEST.upper().replace("0X", "0x"), "0X" + DEST[2:], DEST + " ",
             " " + DEST, DEST[:-1], DEST + "00", "0x" + "0" * 40, "0x" + "Z" * 40,
             DEST.replace("0", "０"), "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",
             "BC1QAR0SRRR7XFKVY5L643LYDNW9RE59GTZZWF5MDQ", "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa",
             "NA4BRG-FPNVL5-PJFD2X-4KDMU7-MQZQ2T-AOMMKX-OR37", "na4brgfpnvl5pjfd2x4kdmu7mqzq2taommkxor37"]
scope_safe = st.sampled_from(ODD) | st.text(max_size=30)
texts = st.sampled_from(ODD + ADDRESSES) | st.text(max_size=40)
numbers = st.sampled_from([10**400, -(10**400), 2**63, -1, 0, 1.5, 1e308]) | st.integers()


def json_values(depth: int = 3) -> st.SearchStrategy[Any]:
    return st.recursive(st.none() | st.booleans() | numbers | texts,
                        lambda inner: st.lists(inner, max_size=3)
                        | st.dictionaries(texts, inner, max_size=3), max_leaves=8)


def withdrawal_bodies() -> st.SearchStrategy[Any]:
    """Mostly well-formed, so that they reach screening, yet refused: the customer owns
    nothing (or is a real one misspelt), so nothing can be reserved."""
    customers = ["NOBODY"] * 4 + ["nobody", "C1 ", " C1", "c1", "ｃ１", "C1\u0000", "C" * 200]
    return st.fixed_dictionaries({
        "customer": st.sampled_from(customers),
        "asset": st.sampled_from(["ETH"] * 4 + ["eth", "ＥＴＨ", "DOGE", "", "E" * 40]),
        "amount": st.sampled_from(["1", "0.5", "1", "0.5", "1e18", "-1", "0", "NaN",
                                   "1." + "0" * 40, "9" * 60, "１", "0x10", " 1", "1,000",
                                   10**400, 1.5, None]),
        "destination": st.sampled_from(ADDRESSES) | texts,
        "tier": st.sampled_from(["standard", "VIP", "standard ", "STANDARD", "", "t" * 40])},
        optional={"extra\u0000": json_values()})


def deep(n: int, kind: str) -> str:
    return "[" * n + "]" * n if kind == "[" else '{"a":' * n + "1" + "}" * n


@st.composite
def bodies(draw: st.DrawFn, path: str) -> tuple[bytes | None, str | None]:
    """(body, Content-Type) of every hostile kind."""
    kind = draw(st.sampled_from(["none", "deep", "deep16", "binary", "json", "form",
                                 "multipart", "withdrawal"]))
    if kind == "none":
        return None, draw(st.sampled_from([None, "application/json"]))
    if kind == "deep":
        text_ = deep(draw(st.sampled_from([65, 500, 80_000])), draw(st.sampled_from("[{")))
        return text_.encode(), draw(st.sampled_from([None, "application/json",
                                                      "application/merge-patch+json",
                                                      "text/plain"]))
    if kind == "deep16":
        return deep(2000, "[").encode("utf-16"), "application/json"
    if kind == "binary":
        return draw(st.binary(max_size=200) | st.sampled_from(
            [b"\xff\xfe\xfd", b'{"a": "\xc0\xaf"}', b"\xef\xbb\xbf{}", b"\x00" * 10])), \
            draw(st.sampled_from([None, "application/json", "application/octet-stream"]))
    if kind == "form":
        fields = draw(st.dictionaries(st.sampled_from(
            ["csrf", "api_key", "next", "zone", "signature", "approver", "reason", "scope",
             "state", "text", "customer", "snapshot", "seed_txs", "asset", "policy"])
            | texts, texts, max_size=5))
        if draw(st.booleans()):
            fields["csrf"] = "forged-" + draw(st.text(max_size=10))
        body = "&".join(f"{quote(k)}={quote(v)}" for k, v in fields.items()
                        if "\ud800" not in k + v)
        return body.encode(), "application/x-www-form-urlencoded"
    if kind == "multipart":
        return draw(st.binary(max_size=300)), draw(st.sampled_from(
            ["multipart/form-data", "multipart/form-data; boundary=x",
             "multipart/form-data; boundary=" + "b" * 100]))
    value = draw(withdrawal_bodies() if kind == "withdrawal" else json_values())
    return json.dumps(value, ensure_ascii=draw(st.booleans())).encode(
        "utf-8", "surrogatepass"), draw(st.sampled_from([None, "application/json"]))


header_text = st.sampled_from(ODD).map(lambda s: s.encode("utf-8", "surrogatepass")) \
    | st.binary(max_size=60)


@st.composite
def requests(draw: st.DrawFn, hostile: Hostile) -> dict[str, Any]:
    method, template = draw(st.sampled_from(hostile.routes))
    path = re.sub(r"\{[^}]+\}", lambda _m: quote(
        draw(texts).encode("utf-8", "surrogatepass"), safe=""), template)
    query = draw(st.dictionaries(st.sampled_from(
        ["state", "customer", "asset", "before", "after", "limit", "head", "lang", "next",
         "snapshot", "since", "kind", "page"]), texts, max_size=3))
    if query:  # percent-encoded by hand: a lone surrogate arrives as invalid UTF-8
        path += "?" + "&".join(f"{k}={quote(v.encode('utf-8', 'surrogatepass'), safe='')}"
                               for k, v in query.items())
    headers: dict[str, bytes] = {}
    who = draw(st.sampled_from(["admin", "operator", "approver", "auditor", "wrong", "odd",
                                "none"]))
    if who in hostile.tokens:
        key = hostile.tokens[who]
        headers["Authorization"] = f"Bearer {key}".encode()
    elif who == "wrong":
        headers["Authorization"] = b"Bearer kinko_" + draw(st.binary(max_size=40))
    elif who == "odd":
        headers[draw(st.sampled_from(["Authorization", "X-Api-Key"]))] = draw(header_text)
    if draw(st.booleans()):
        headers["Idempotency-Key"] = draw(header_text)
    if draw(st.booleans()):
        headers["Origin"] = draw(st.sampled_from([b"null", b"https://evil.example",
                                                  b"http://testserver"]))
    signed_in = f"kinko_session={hostile.session}".encode()
    headers["Cookie"] = draw(st.sampled_from([
        signed_in, signed_in, signed_in + b"; kinko_tz=Mars/Olympus; kinko_lang=xx",
        b"kinko_session=forged", b"kinko_lang=" + draw(header_text), b""]))
    body, content_type = draw(bodies(template))
    if content_type is not None:
        headers["Content-Type"] = content_type.encode()
    if body is not None and b"csrf=" in body and draw(st.booleans()):
        body = body.replace(b"csrf=", b"csrf=" + hostile.csrf.encode() + b"&x=", 1)
    headers = {k: v for k, v in headers.items()
               if not any(c in v for c in b"\r\n\x00")}  # what HTTP itself cannot carry
    address = draw(st.sampled_from(["testclient", "10.0.0.1", "192.0.2.7", "::1"]))
    return {"method": method, "url": path, "headers": headers,
            "content": body, "address": address}


# ---------------------------------------------------------------------------- tests


def check(hostile: Hostile, request: dict[str, Any]) -> None:
    before = hostile.state()
    client = hostile.client(request.pop("address"))
    try:
        r = client.request(**request)
    finally:
        client.close()
    assert r.status_code < 500, (request["method"], request["url"], r.status_code,
                                 r.text[:500])
    if request["url"].startswith("/v1/") and r.status_code >= 400:
        assert set(r.json()["error"]) == {"code", "message", "message_id", "details"}
    after = hostile.state()
    assert after["head"] == before["head"] and after["rows"] == before["rows"], request
    assert after["live_sessions"] == before["live_sessions"], request
    assert all(a.endswith(".refused") for a in hostile.new_audit(before["audit"])), request


@pytest.mark.slow
@settings(max_examples=250, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_hostile_requests_get_a_4xx_and_write_nothing(hostile: Hostile,
                                                      data: st.DataObject) -> None:
    check(hostile, data.draw(requests(hostile)))


@settings(max_examples=120, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(body=withdrawal_bodies(), role=st.sampled_from(["admin", "operator"]),
       key=st.sampled_from([b"W-hostile", b"a/../b", b"k" * 100]) | header_text)
def test_hostile_withdrawal_requests_reserve_nothing(hostile: Hostile, body: dict[str, Any],
                                                     key: bytes, role: str) -> None:
    """Through screening as far as a request can get: every spelling of a customer, an
    asset, an amount, an address and a tier is refused without a hold or a row."""
    headers = {"Authorization": f"Bearer {hostile.tokens[role]}".encode(),
               "Content-Type": b"application/json"}
    if not any(c in key for c in b"\r\n\x00"):
        headers["Idempotency-Key"] = key
    check(hostile, {"method": "POST", "url": "/v1/withdrawals", "headers": headers,
                    "content": json.dumps(body).encode("utf-8", "surrogatepass"),
                    "address": "testclient"})


@pytest.mark.parametrize("body, content_type, status", [
    (DEEP.encode(), "application/json", 422),
    (deep(80_000, "{").encode(), None, 422),
    (deep(65, "[").encode("utf-16-le"), "application/json", 422),
    (b"[" + b" " * LIMIT + b"]", "application/json", 413),
    (b"a=" + b"x" * LIMIT, "application/x-www-form-urlencoded", 413),
    (b'{"customer": "\xff"}', "application/json", 400),
    (b'{"amount": NaN}', "application/json", 400),
    (b'{"amount": ' + b"9" * 5000 + b"}", "application/json", 400),
], ids=["deep-array", "deep-object-form", "deep-utf16", "huge-json", "huge-form",
        "invalid-utf8", "nan", "huge-number"])  # short ids: see conftest
def test_every_json_route_refuses_the_classic_bombs(hostile: Hostile, body: bytes,
                                                    content_type: str | None,
                                                    status: int) -> None:
    headers = {"Authorization": f"Bearer {hostile.tokens['admin']}".encode(),
               "Idempotency-Key": b"bomb"}
    if content_type:
        headers["Content-Type"] = content_type.encode()
    for method, path in hostile.routes:
        if method != "POST" or not path.startswith("/v1/"):
            continue
        url = re.sub(r"\{[^}]+\}", "W-review", path)
        client = hostile.client()
        r = client.request(method, url, content=body, headers=headers)
        assert r.status_code < 500, (path, r.text[:300])
        if content_type != "application/x-www-form-urlencoded" or status == 413:
            assert r.status_code in (status, 400, 404, 422), (path, r.status_code)
    client = hostile.client()
    r = client.get("/v1/custody", headers={"Authorization": f"Bearer {hostile.tokens['admin']}"})
    assert r.status_code == 200  # still answering


def test_a_body_streamed_past_the_limit_is_cut_off(hostile: Hostile) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(3):
            yield b"[" * (LIMIT // 2)

    r = hostile.client().post("/v1/breaker/trip", content=chunks(), headers={
        "Authorization": f"Bearer {hostile.tokens['admin']}", "Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "too_large"


# ---------------------------------------------------------------------------- a real server


def _answer(port: int, method: str, path: str, body: bytes = b"",
            headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        answer = conn.getresponse()
        return answer.status, answer.read()
    finally:
        conn.close()


def _oversized(port: int, path: str, size: int, headers: dict[str, str]) -> bytes:
    """Announce a body of ``size`` bytes and wait for the answer before sending it, as a
    client does with ``Expect: 100-continue``: kinko must refuse on the declared length alone
    (a server that answers 413 and closes mid-body makes the sender's next write fail)."""
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    request = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {size}\r\n"
               f"Expect: 100-continue\r\n{head}\r\n").encode()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request)
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
        return answer


@pytest.mark.slow
def test_the_deep_body_no_longer_kills_kinko_serve(tmp_path: Path) -> None:
    """80,000 nested brackets made ``kinko serve`` die of a segmentation fault (py-evm
    raises Python's recursion limit, and the JSON parser then overflows the C stack)."""
    env = {**os.environ, "KINKO_DATABASE_URL": f"sqlite:///{tmp_path / 'k.db'}"}
    kinko = [sys.executable, "-m", "kinko"]
    store = open_store(initialised_sqlite(tmp_path / "k.db"))
    token = Access(store, SystemClock()).create_key("ops", "admin")[1]
    store.close()
    port = anvilnode.free_port()
    server = subprocess.Popen([*kinko, "serve", "--port", str(port)], env=env, cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=2):
                    break
            except OSError:
                assert server.poll() is None, server.communicate()[1][-2000:]
                assert time.monotonic() < deadline, "kinko serve did not start"
                time.sleep(0.2)
        auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        for path in ("/v1/withdrawals", "/v1/breaker/trip", "/login"):
            status, body = _answer(port, "POST", path, DEEP.encode(),
                                   {**auth, "Idempotency-Key": "k1"})
            assert status == 422 and b"nested more than 64 levels deep" in body, body[:300]
            assert server.poll() is None, "kinko serve died"
        assert _oversized(port, "/v1/withdrawals", 2 * LIMIT,
                          {**auth, "Idempotency-Key": "k2"}).startswith(b"HTTP/1.1 413 ")
        assert server.poll() is None, "kinko serve died"
        status, body = _answer(port, "GET", "/v1/breaker", headers=auth)
        assert status == 200 and json.loads(body) == {"tripped": [], "log": []}
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.communicate()
    assert server.returncode in (0, -signal.SIGTERM), server.returncode


# ----------------------------------------------------- both stores: NUL, widths


@dataclass
class BothStores:
    api: TestClient  # an admin's API client
    browser: TestClient  # a signed-in admin's browser
    csrf: str
    alice: Ed25519PrivateKey  # the policy's one approver (quorum 1)


@pytest.fixture
def both_stores(store: SqlStore, tmp_path: Path) -> Iterator[BothStores]:
    """The API and the dashboard on ``store`` (SQLite and PostgreSQL), a withdrawal W-1
    held for review (above 10 ETH)."""
    clock = FixedClock()
    ledger = Ledger(store, clock, AssetRegistry.default())
    ledger.add_wallet(Wallet("eth-hot", "ETH", "hot", (HOT,)))
    ledger.post("open", [Posting("wallet:eth-hot", "ETH", 100 * E),
                         Posting("customer:C1", "ETH", -100 * E)], source="opening")
    alice = Ed25519PrivateKey.generate()
    (tmp_path / "p.toml").write_text(
        'version = 1\nquorum = 1\n[[approvers]]\nname = "alice"\npublic_key = "'
        + public_key_hex(alice) + '"\n[[screening.rules]]\nkind = "max_amount"\n'
        'asset = "ETH"\namount = "10"\naction = "review"\n')
    chain = EvmChain.in_process()
    Custody(ledger, chain=chain).load_policy(tmp_path / "p.toml", "ops")
    Withdrawals(Custody(ledger, chain=chain)).request("W-1", "C1", "ETH", 20 * E, DEST,
                                                      requester="ops")
    access = Access(store, clock)
    token = access.create_key("root", "admin")[1]
    app = create_app(lambda: Custody(ledger, chain=chain), lambda: access,
                     dashboard=tmp_path / "data", clock=clock)
    api = TestClient(app, raise_server_exceptions=False, follow_redirects=False,
                     headers={"Authorization": f"Bearer {token}"})
    browser = TestClient(app, raise_server_exceptions=False, follow_redirects=False)
    assert browser.post("/login", data={"api_key": token}).status_code == 303
    found = re.search(r'name="csrf" value="([^"]+)"', browser.get("/").text)
    assert found
    yield BothStores(api, browser, found.group(1), alice)
    api.close()
    browser.close()


def test_a_nul_character_anywhere_in_a_request_is_a_400_naming_where(
        both_stores: BothStores) -> None:
    """PostgreSQL keeps no text with a NUL (U+0000): an id, a filter or a reason with one
    was a 500 there (the driver refused the statement), and on SQLite a reason kept it. It
    is refused before anything reads the store, on both, naming the path, the query
    parameter, the body's field or the form's field."""
    api, browser, csrf = both_stores.api, both_stores.browser, both_stores.csrf
    for method, url, body, says, where in [
            ("GET", "/v1/withdrawals/W%00", None, "error.request.nul_path", "path"),
            ("GET", "/v1/withdrawals?customer=C%001", None, "error.request.nul_query",
             "'customer'"),
            ("POST", "/v1/withdrawals/W-1/reject", {"reason": "a\u0000b"},
             "error.request.nul_body", "reason"),
            ("POST", "/v1/withdrawals/W-1/approve", {"approver": "alice", "signature": "ab",
                                                     "x": [{"y": "\u0000"}]},
             "error.request.nul_body", "x[0].y")]:
        r = api.request(method, url, json=body)
        assert r.status_code == 400, (url, r.status_code, r.text[:300])
        error = r.json()["error"]
        assert error["message_id"] == says and where in error["message"], error
    for url in ("/withdrawals/W%00", "/withdrawals?customer=%00"):
        r = browser.get(url)
        assert r.status_code == 400 and "NUL character" in r.text, (url, r.status_code)
    r = browser.post("/withdrawals/W-1/reject", data={"csrf": csrf, "reason": "a\x00b"})
    assert r.status_code == 400 and "the form&#39;s field &#39;reason&#39;" in r.text, r.text
    assert api.get("/v1/withdrawals/W-1").json()["state"] == "review"  # nothing written


def test_only_a_nul_itself_is_refused_in_json() -> None:
    """``\\\\u0000`` in JSON text is a backslash and ``u0000``, not a NUL."""
    assert nul_in_json('{"a": "\\\\u0000"}') is None
    assert nul_in_json('{"a": ["x", {"\\u0000": 1}]}') == "a[1].\x00"
    assert nul_in_json('"\\u0000"') == "(the body)"
    assert nul_in_json('{"a": "\\u0000",') is None  # not JSON: its parser refuses it


def test_a_withdrawal_held_for_review_under_the_longest_key_is_recorded_and_approved(
        both_stores: BothStores) -> None:
    """An Idempotency-Key may have 100 characters; its withdrawal's proposal id
    (``withdrawal-`` and the key, 111) did not fit the 64 characters proposals and their
    approvals kept: on PostgreSQL, a review under a key of more than 53 was a 500."""
    api = both_stores.api
    key = "K" * 100
    r = api.post("/v1/withdrawals", headers={"Idempotency-Key": key}, json={
        "customer": "C1", "asset": "ETH", "amount": "20", "destination": DEST})
    assert r.status_code == 201, r.text[:300]
    proposal = r.json()["proposal"]
    assert proposal["id"] == f"withdrawal-{key}"
    signature = sign_proposal(parse_proposal(proposal["canonical"]), both_stores.alice)
    r = api.post(f"/v1/withdrawals/{key}/approve",
                 json={"approver": "alice", "signature": signature})
    assert r.status_code == 200 and r.json()["state"] == "approved", r.text[:300]
