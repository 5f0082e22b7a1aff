"""Who gets in and what is kept of it: wrong keys throttled per client (and, at sign-in, per
key) and audited; refused approvals audited; the audit log read and verified over the API,
a deleted tail caught against an anchored head; long lists read a page at a time."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, text
from test_api import KEYS, api, body, h

from kinko.api.v1.ledger import balance_cursor_of
from kinko.domain.approvals import sign_proposal
from kinko.domain.ledger import Posting
from kinko.ports import FixedClock
from kinko.services.throttle import Rule, Throttle, Throttled
from kinko.store.custody_sql import parse_proposal

__all__ = ["api"]


def test_the_throttle_counts_failures_in_a_sliding_window() -> None:
    clock = FixedClock()
    throttle = Throttle(clock, per_client=Rule(3, timedelta(minutes=10)),
                        per_key=Rule(2, timedelta(minutes=10)), capacity=3)
    assert [throttle.fail("10.0.0.1") for _ in range(3)] == [False, False, True]
    with pytest.raises(Throttled, match="try again in 600 seconds") as caught:
        throttle.check("10.0.0.1")
    assert caught.value.retry_after == 600
    throttle.check("10.0.0.2")  # another client is not locked
    clock.advance(minutes=4)
    throttle.fail("10.0.0.2", "k1")
    clock.advance(minutes=6)  # the first three failures are 10 minutes old: free again
    assert throttle.retry_after("10.0.0.1") is None
    assert throttle.fail("10.0.0.3", "k1") is True  # the key's second failure locks it
    assert throttle.retry_after("10.0.0.9", "k1") == 240
    throttle.forgive("k1")  # its holder signed in
    assert throttle.retry_after("10.0.0.9", "k1") is None
    for n in range(10):  # bounded: the longest idle are forgotten
        throttle.fail(f"192.0.2.{n}")
    assert len(throttle._failures) == 3


def test_wrong_keys_are_throttled_per_client_and_audited(api) -> None:  # type: ignore[no-untyped-def]
    client, tokens, access = api
    clock = access.clock
    valid = tokens["ops"]
    wrong = valid[:-4] + "AAAA"
    for _ in range(10):
        assert client.get("/v1/breaker", headers=h(wrong)).status_code == 401
    r = client.get("/v1/breaker", headers=h(valid))  # the client is locked: even a good key
    assert r.status_code == 429 and r.json()["error"]["code"] == "throttled"
    assert int(r.headers["Retry-After"]) == 900
    assert client.get("/v1/breaker", headers=h(wrong)).status_code == 429
    refused = [a for a in access.audit_log() if a["action"] == "api.refused"]
    assert len(refused) == 10  # locked attempts are not written again
    assert '"locked": true' in refused[-1]["detail"] and "testclient" in refused[-1]["detail"]
    key_id = valid.split("_")[1]
    assert {a["target"] for a in refused} == {key_id}
    assert not any(valid.split("_", 2)[2][:12] in a["detail"] for a in access.audit_log())
    assert client.get("/v1/breaker").status_code == 401  # no key at all is not counted
    clock.advance(minutes=15)
    assert client.get("/v1/breaker", headers=h(valid)).status_code == 200


def test_refused_approvals_are_audited(api) -> None:  # type: ignore[no-untyped-def]
    client, tokens, access = api
    r = client.post("/v1/withdrawals", json=body("20"), headers=h(tokens["ops"], "W-9"))
    proposal = parse_proposal(r.json()["proposal"]["canonical"])
    bob = sign_proposal(proposal, KEYS["bob"])
    attempts = [("/v1/withdrawals/W-9/approve", "bob", bob, 403),  # as someone else
                ("/v1/withdrawals/W-9/approve", "alice", bob, 409),  # not her signature
                ("/v1/withdrawals/W-404/approve", "alice", bob, 404),
                ("/v1/proposals/nope/approve", "alice", bob, 404)]
    for path, approver, signature, status in attempts:
        r = client.post(path, json={"approver": approver, "signature": signature},
                        headers=h(tokens["alice"]))
        assert r.status_code == status, r.text
    refused = [a for a in access.audit_log() if a["action"].endswith(".approve.refused")]
    assert [(a["action"], a["target"], a["actor"]) for a in refused] == [
        ("withdrawal.approve.refused", "withdrawal-W-9", "alice"),
        ("withdrawal.approve.refused", "withdrawal-W-9", "alice"),
        ("withdrawal.approve.refused", "withdrawal-W-404", "alice"),
        ("proposal.approve.refused", "nope", "alice")]
    assert '"error": "approval_error"' in refused[1]["detail"]
    assert "does not verify" in refused[1]["detail"]
    long_id = "x" * 5000  # a target of any length fits the log
    client.post(f"/v1/proposals/{long_id}/approve", json={"approver": "alice",
                "signature": bob}, headers=h(tokens["alice"]))
    assert access.audit_log()[-1]["target"] == "x" * 199 + "…"
    assert access.verify_audit() == []


def test_the_audit_log_over_the_api_and_a_deleted_tail(api) -> None:  # type: ignore[no-untyped-def]
    client, tokens, access = api
    for n in range(3):
        client.post("/v1/withdrawals", json=body(), headers=h(tokens["ops"], f"W-{n}"))
    r = client.get("/v1/audit?limit=3", headers=h(tokens["audit"]))
    assert r.status_code == 200 and [a["seq"] for a in r.json()] == [1, 2, 3]
    assert r.headers["X-Next-Cursor"] == "3"
    assert re.fullmatch(r'<http://testserver/v1/audit\?limit=3&after=3>; rel="next"',
                        r.headers["Link"])
    rest = client.get("/v1/audit?limit=1000&after=3", headers=h(tokens["audit"])).json()
    assert rest[-1]["action"] == "withdrawal.request"
    assert rest[-1]["detail"]["state"] == "allowed"
    ok = client.get("/v1/audit/verify", headers=h(tokens["audit"])).json()
    assert ok["ok"] and ok["records"] == rest[-1]["seq"] == ok["head_seq"]
    head = f"{ok['head_seq']}:{ok['head_hash']}"
    with access.store.engine.begin() as conn:  # whoever can write the database cuts the tail
        conn.execute(text("DELETE FROM audit_log WHERE seq = :s"), {"s": ok["head_seq"]})
    assert client.get("/v1/audit/verify", headers=h(tokens["audit"])).json()["ok"]
    found = client.get(f"/v1/audit/verify?head={head}", headers=h(tokens["audit"])).json()
    assert not found["ok"] and found["problems"] == [{
        "seq": ok["head_seq"], "message": f"audit record {ok['head_seq']}, the anchored head, "
        f"is missing: the log ends at record {ok['head_seq'] - 1}, so records were deleted "
        "from its end"}]
    r = client.get("/v1/audit/verify?head=12:zz", headers=h(tokens["audit"]))
    assert r.status_code == 400 and "SEQ:HASH" in r.json()["error"]["message"]


def test_balances_are_read_a_page_at_a_time(api) -> None:  # type: ignore[no-untyped-def]
    client, tokens, access = api
    ledger_store = access.store
    from kinko.domain.money import AssetRegistry
    from kinko.services.ledger import Ledger

    ledger = Ledger(ledger_store, access.clock, AssetRegistry.default())
    ledger.post("more", [Posting("wallet:eth-hot", "ETH", 250)]
                + [Posting(f"customer:D{n:03d}", "ETH", -1) for n in range(250)], source="t")
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "FROM balances" in statement:
            statements.append(statement)

    event.listen(ledger_store.engine, "before_cursor_execute", seen)
    accounts: list[str] = []
    url = "/v1/balances?limit=100"
    while url:
        r = client.get(url, headers=h(tokens["audit"]))
        assert r.status_code == 200, r.text
        accounts += [b["account"] for b in r.json()]
        link = re.fullmatch(r'<http://testserver(.*)>; rel="next"', r.headers.get("Link", ""))
        url = link.group(1) if link else ""
    event.remove(ledger_store.engine, "before_cursor_execute", seen)
    assert accounts == sorted(accounts) and len(accounts) == len(set(accounts)) == 251
    assert len(statements) == 3 and all("LIMIT 101" in s for s in statements)
    one = client.get("/v1/balances?customer=D007", headers=h(tokens["audit"])).json()
    assert one == [{"account": "customer:D007", "asset": "ETH",
                    "balance": "0.000000000000000001", "held": "0"}]
    nul = balance_cursor_of("customer:D\x00", "ETH")  # a NUL: PostgreSQL's 500
    for query, status in (("after=!!", 400), ("after=" + "QQ" * 100, 400),
                          (f"after={nul}", 400), ("limit=1001", 400), ("limit=0", 400)):
        assert client.get(f"/v1/balances?{query}", headers=h(tokens["audit"])
                          ).status_code == status, query


def test_withdrawals_are_listed_a_page_at_a_time(api) -> None:  # type: ignore[no-untyped-def]
    client, tokens, access = api
    for n in range(5):
        access.clock.advance(seconds=1)
        client.post("/v1/withdrawals", json=body(), headers=h(tokens["ops"], f"P-{n}"))
    first = client.get("/v1/withdrawals?limit=2", headers=h(tokens["audit"]))
    assert [w["id"] for w in first.json()] == ["P-4", "P-3"]
    cursor = first.headers["X-Next-Cursor"]
    second = client.get(f"/v1/withdrawals?limit=2&before={cursor}", headers=h(tokens["audit"]))
    assert [w["id"] for w in second.json()] == ["P-2", "P-1"]
    assert client.get("/v1/withdrawals?state=nonsense",
                      headers=h(tokens["audit"])).status_code == 400
    assert client.get("/v1/withdrawals?limit=501", headers=h(tokens["audit"])).status_code == 400
    # a cursor that is none, digits int() refuses (²: str.isdigit says yes) included, and
    # a time past a database integer (19 and 20 digits were a 500: an overflow in SQLite)
    for cursor in ("x", "1", "²5.P-1", "٣.P-1", " 5.P-1", "9" * 21 + ".P-1",
                   f"{2**63}.P-1", "9" * 20 + ".P-1", "9" * 19 + ".P-1"):
        r = client.get(f"/v1/withdrawals?before={cursor}", headers=h(tokens["audit"]))
        assert r.status_code == 400 and "not a page cursor" in r.text, (cursor, r.text)
    latest = "253402300799999999.P-1"  # 9999-12-31T23:59:59.999999Z, in microseconds
    assert len(client.get(f"/v1/withdrawals?before={latest}",
                          headers=h(tokens["audit"])).json()) == 5


def test_the_api_reference_loads_nothing_from_elsewhere(api) -> None:  # type: ignore[no-untyped-def]
    client, _, _ = api
    r = client.get("/docs")
    assert r.status_code == 200
    assert "script-src 'self'" in r.headers["Content-Security-Policy"]
    assert "<script" not in r.text and "cdn" not in r.text.lower()
    assert 'data-route="POST /v1/withdrawals"' in r.text and "idempotency-key" in r.text
    assert "≤ 128 chars" in r.text  # the limits of every field are shown
    assert "パラメーター" in client.get("/docs?lang=ja").text
    # the language the browser asks for, as the dashboard and the API's errors follow it;
    # the limits in its words too
    page = client.get("/docs", headers={"Accept-Language": "ja-JP,ja;q=0.9,en;q=0.8"}).text
    assert '<html lang="ja"' in page and "128 文字以下" in page and "≤ 128 chars" not in page
    assert client.get("/redoc").status_code == 404
    assert client.get("/openapi.json").json()["paths"]["/v1/audit"]


def test_the_spec_documents_the_answer_to_bad_input_as_kinko_gives_it(api) -> None:  # type: ignore[no-untyped-def]
    """Bad input is answered 400 with kinko's error body; the spec says so (not FastAPI's
    422 with a validation schema kinko never sends)."""
    client, tokens, _ = api
    spec = client.get("/openapi.json").json()
    answers = spec["paths"]["/v1/withdrawals"]["post"]["responses"]
    error = {"$ref": "#/components/schemas/Error"}
    assert answers["400"]["content"]["application/json"]["schema"] == error
    # 422 is a request refused by a rule, answered with kinko's body, never FastAPI's shape
    assert answers["422"]["content"]["application/json"]["schema"] == error
    assert "rule" in answers["422"]["description"]
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    # every route says what it answers, and every error it may give
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            ok = next(a for code, a in op["responses"].items() if code.startswith("2"))
            assert ok["content"]["application/json"]["schema"], (method, path)
            assert {"401", "403", "503"} <= set(op["responses"]), (method, path)
            assert all(a["content"]["application/json"]["schema"] == error
                       for code, a in op["responses"].items() if code[0] in "45")
    r = client.post("/v1/withdrawals", json={"customer": 5}, headers=h(tokens["ops"], "k-400"))
    assert r.status_code == 400 and set(r.json()["error"]) == {"code", "message", "message_id", "details"}
