"""``POST /v1/withdrawals`` reads its own body, headers and key (kinko.api.v1.direct): every
refusal is the one FastAPI gives for the route's declared signature, in the same order (a
body that is not JSON, then the key and its role, then the headers' and the body's
problems together), and the OpenAPI document still declares the body and headers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from apiledger import served_api
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from kinko.domain.approvals import public_key_hex
from kinko.services.access import Access

E = 10**18
DEST = "0x52908400098527886E0F7030069857D2E4169EE7"
HOT = "0xABaBaBaBABabABabAbAbABAbABabababaBaBABaB"
JSON = "application/json"
NOT_AN_OBJECT = "Input should be a valid dictionary or object to extract fields from"


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str], Access]]:
    key = public_key_hex(Ed25519PrivateKey.generate())
    client, tokens, access, store = served_api(
        tmp_path, HOT, f'version = 1\nquorum = 1\n[[approvers]]\nname = "alice"\n'
        f'public_key = "{key}"\n', (("ops", "operator"), ("audit", "auditor"),
                                    ("root", "admin")))
    yield client, tokens, access
    store.close()


def fields(**changed: Any) -> dict[str, Any]:
    body = {"customer": "C1", "asset": "ETH", "amount": "1", "destination": DEST}
    body.update(changed)
    return {k: v for k, v in body.items() if v is not None}


def headers(token: str | None, key: str | None = "k1",
            content_type: str | None = JSON) -> dict[str, str]:
    out = {}
    if token is not None:
        out["Authorization"] = f"Bearer {token}"
    if key is not None:
        out["Idempotency-Key"] = key
    if content_type is not None:
        out["Content-Type"] = content_type
    return out


def bad_input(problems: list[tuple[str, str]]) -> dict[str, Any]:
    where, problem = problems[0]
    return {"error": {"code": "bad_input", "message": f"{where}: {problem}",
                      "message_id": "error.api_field", "details": {
        "problems": [{"where": w, "problem": p} for w, p in problems]}}}


@pytest.mark.parametrize(("content", "content_type", "problems"), [
    (b"", JSON, [("body", "Field required")]),
    (b"", None, [("body", "Field required")]),
    (b"{}", JSON, [(f"body.{f}", "Field required")
                   for f in ("customer", "asset", "amount", "destination")]),
    (b"[]", JSON, [("body", NOT_AN_OBJECT)]),
    (b"null", JSON, [("body", NOT_AN_OBJECT)]),
    (b'"x"', JSON, [("body", NOT_AN_OBJECT)]),
    # only a JSON Content-Type is parsed: other bodies are bytes, which no model accepts
    (json.dumps(fields()).encode(), None, [("body", NOT_AN_OBJECT)]),
    (json.dumps(fields()).encode(), "text/plain", [("body", NOT_AN_OBJECT)]),
    # nor measured for depth: no parser will read it (not 422 too deep, as a JSON body is)
    (b"[" * 500 + b"]" * 500, None, [("body", NOT_AN_OBJECT)]),
    (json.dumps(fields(customer="C" * 129)).encode(), JSON,
     [("body.customer", "String should have at most 128 characters")]),
    (json.dumps(fields(customer="")).encode(), JSON,
     [("body.customer", "String should have at least 1 character")]),
    (json.dumps(fields(amount=1.5, asset=True)).encode(), JSON,
     [("body.asset", "Input should be a valid string"),
      ("body.amount", "Input should be a valid string")]),
    (json.dumps(fields(asset=None, amount=None)).encode(), JSON,
     [("body.asset", "Field required"), ("body.amount", "Field required")]),
    (b'{"customer": "C1", "asset": "ETH", "amount": NaN, "destination": "x"}', JSON,
     [("body.amount", "Input should be a valid string")]),
])
def test_body_refused_as_fastapi_words_it(api: Any, content: bytes, content_type: str | None,
                                          problems: list[tuple[str, str]]) -> None:
    client, tokens, _ = api
    r = client.post("/v1/withdrawals", content=content,
                    headers=headers(tokens["ops"], content_type=content_type))
    assert r.status_code == 400
    assert r.json() == bad_input(problems)


@pytest.mark.parametrize("content_type", [
    JSON, "application/json; charset=utf-8", "Application/JSON", "application/merge-patch+json"])
def test_json_content_types_accepted(api: Any, content_type: str) -> None:
    client, tokens, _ = api
    r = client.post("/v1/withdrawals", content=json.dumps(fields()),
                    headers=headers(tokens["ops"], content_type=content_type))
    assert r.status_code == 201 and r.json()["id"] == "k1"


def test_a_number_python_cannot_read_is_bad_input(api: Any) -> None:
    """Refused in words that say so ("There was an error parsing the body" before, and in
    Japanese only "status 400"), on this route and on those FastAPI reads."""
    client, tokens, _ = api
    content = b'{"customer": "C1", "asset": "ETH", "amount": ' + b"9" * 5000 + b"}"
    r = client.post("/v1/withdrawals", content=content, headers=headers(tokens["ops"]))
    assert r.status_code == 400
    assert r.json()["error"] == {
        "code": "bad_input", "details": {}, "message_id": "error.file.not_json",
        "message": "request body: not valid JSON: a number has more than 4,300 digits"}
    r = client.post("/v1/breaker/trip", content=b'{"x": [-' + b"1" * 4301 + b"]}",
                    headers={**headers(tokens["ops"]), "Accept-Language": "ja"})
    assert r.status_code == 400 and r.json()["error"]["message"] == (
        "リクエストの本文：JSON として正しくありません（数値の桁数が 4,300 桁を超えています）")


@pytest.mark.parametrize(("content", "where"), [
    (b'{"customer": ', "1:14"), (json.dumps(fields()).encode() + b"\n x", "2:2")])
def test_text_that_is_no_json_is_refused_where_the_parser_stops(
        api: Any, content: bytes, where: str) -> None:
    """It was a missing field named after the character's offset ("body.13: JSON decode
    error"; in Japanese, "the field body.13 is missing or wrong"), here and on the routes
    FastAPI reads."""
    client, tokens, _ = api
    for route in ("/v1/withdrawals", "/v1/breaker/trip"):
        r = client.post(route, content=content, headers=headers(tokens["ops"]))
        assert r.status_code == 400 and r.json()["error"]["message_id"] == "error.file.not_json"
        assert r.json()["error"]["message"].startswith(f"request body:{where}: not valid JSON: ")
        r = client.post(route, content=content,
                        headers={**headers(tokens["ops"]), "Accept-Language": "ja"})
        assert r.json()["error"]["message"].startswith(
            f"リクエストの本文:{where}：JSON として正しくありません（"), r.json()


def test_a_body_that_names_a_key_twice_is_refused_before_anything_reads_it(api: Any) -> None:
    """``{"amount": "1", "amount": "1000000"}``: kinko's parser took the last, a proxy's or
    a log's may take the first; such a body is refused (400) and nothing is written."""
    client, tokens, _ = api
    content = (b'{"customer": "C1", "asset": "ETH", "amount": "1", "destination": "'
               + DEST.encode() + b'", "amount": "1000000"}')
    r = client.post("/v1/withdrawals", content=content, headers=headers(tokens["ops"]))
    assert r.status_code == 400
    error = r.json()["error"]
    assert (error["code"], error["message_id"]) == ("bad_input", "error.json_key_twice")
    assert error["message"] == ("request body: the key 'amount' is given twice in one "
                                "object (JSON readers disagree on which value it holds)")
    r = client.post("/v1/withdrawals", content=content, headers={
        **headers(tokens["ops"]), "Accept-Language": "ja"})
    assert "二度" in r.json()["error"]["message"], r.json()
    r = client.get("/v1/withdrawals", headers=headers(tokens["ops"]))
    assert r.status_code == 200 and "k1" not in r.text  # nothing was written
    r = client.post("/v1/withdrawals", content=json.dumps(fields()),
                    headers=headers(tokens["ops"]))
    assert r.status_code == 201 and r.json()["id"] == "k1"


def test_idempotency_key_header(api: Any) -> None:
    client, tokens, _ = api
    body = json.dumps(fields())
    r = client.post("/v1/withdrawals", content=body, headers=headers(tokens["ops"], key=None))
    assert r.status_code == 400
    assert r.json() == bad_input([("header.idempotency-key", "Field required")])
    r = client.post("/v1/withdrawals", content=body, headers=headers(tokens["ops"], key=""))
    assert r.json() == bad_input([("header.idempotency-key",
                                   "String should have at least 1 character")])
    # the header's problems come first, then the body's, all in one answer
    r = client.post("/v1/withdrawals", content=json.dumps(fields(asset=None, amount=5)),
                    headers=headers(tokens["ops"], key=None))
    assert r.json() == bad_input([("header.idempotency-key", "Field required"),
                                  ("body.asset", "Field required"),
                                  ("body.amount", "Input should be a valid string")])
    r = client.post("/v1/withdrawals", content=body, headers=headers(tokens["ops"], key="-k"))
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_id"
    r = client.post("/v1/withdrawals", content=body, headers=headers(tokens["ops"], key="a" * 101))
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_id"
    r = client.post("/v1/withdrawals", content=body, headers=headers(tokens["ops"], key="b" * 100))
    assert r.status_code == 201 and r.json()["id"] == "b" * 100
    # sent twice: refused (a structured header of one item; it made a withdrawal of the
    # first, as FastAPI reads a header, where a proxy may have read the second)
    r = client.post("/v1/withdrawals", content=body, headers=[
        ("Authorization", f"Bearer {tokens['ops']}"), ("Content-Type", JSON),
        ("Idempotency-Key", "first"), ("Idempotency-Key", "second")])
    assert r.status_code == 400 and r.json()["error"]["message_id"] == \
        "error.request.header_twice"


def test_keys_roles_and_order(api: Any) -> None:
    client, tokens, _ = api
    body = json.dumps(fields())
    bad_body = json.dumps(fields(asset=None))
    r = client.post("/v1/withdrawals", content=body, headers=headers(None))
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    # text that is not JSON is refused before the key is looked at; a body that is JSON
    # but not a withdrawal, after the key and its role
    r = client.post("/v1/withdrawals", content=b"{", headers=headers(None, key=None))
    assert r.status_code == 400 and r.json()["error"]["message_id"] == "error.file.not_json"
    r = client.post("/v1/withdrawals", content=bad_body, headers=headers(None, key=None))
    assert r.status_code == 401
    r = client.post("/v1/withdrawals", content=bad_body, headers=headers(tokens["audit"]))
    assert r.status_code == 403 and r.json()["error"] == {
        "code": "forbidden", "details": {}, "message_id": "error.role_may_not",
        "message": "key 'audit' has role auditor; this needs admin or operator"}
    r = client.post("/v1/withdrawals", content=body,
                    headers={"X-API-Key": tokens["ops"], "Idempotency-Key": "k2",
                             "Content-Type": JSON})
    assert r.status_code == 201 and r.json()["id"] == "k2"
    r = client.post("/v1/withdrawals", content=body, headers=headers(tokens["root"], "k3"))
    assert r.status_code == 201 and r.json()["id"] == "k3"


def test_wrong_keys_audited_then_throttled(api: Any) -> None:
    client, _, access = api
    answers = [client.post("/v1/withdrawals", content=json.dumps(fields()),
                           headers=headers(f"kinko_nope_{i}", f"k{i}")) for i in range(12)]
    assert answers[0].status_code == 401
    assert answers[0].json()["error"]["message"] == "the API key is not valid"
    first = next(i for i, r in enumerate(answers) if r.status_code == 429)
    assert all(r.status_code == 429 for r in answers[first:])
    assert int(answers[first].headers["Retry-After"]) > 0
    assert answers[first].json()["error"]["code"] == "throttled"
    # each wrong key is audited, the last one as locking the client out; then none are
    refused = [a for a in access.audit_log() if a["action"] == "api.refused"]
    assert [json.loads(a["detail"])["locked"] for a in refused] == [False] * (first - 1) + [True]
    assert not [a for a in access.audit_log() if a["action"] == "withdrawal.request"]


def test_tier_refused(api: Any) -> None:
    client, tokens, _ = api
    for tier in ("vip", None, ""):  # a tier named at all, null too, is refused, not ignored
        r = client.post("/v1/withdrawals", content=json.dumps({**fields(), "tier": tier}),
                        headers=headers(tokens["ops"]))
        assert r.status_code == 422 and r.json()["error"]["code"] == "tier_not_accepted", tier


def test_openapi_declares_body_and_headers(api: Any) -> None:
    client, _, _ = api
    spec = client.get("/openapi.json").json()
    post = spec["paths"]["/v1/withdrawals"]["post"]
    assert [(p["name"], p["in"], p["required"]) for p in post["parameters"]] == [
        ("idempotency-key", "header", True), ("authorization", "header", False),
        ("x-api-key", "header", False)]
    assert post["parameters"][0]["schema"]["minLength"] == 1
    assert post["requestBody"] == {"required": True, "content": {JSON: {
        "schema": {"$ref": "#/components/schemas/WithdrawalIn"}}}}
    assert post["responses"]["201"]["content"][JSON]["schema"] == {
        "$ref": "#/components/schemas/WithdrawalOut"}
    assert spec["components"]["schemas"]["WithdrawalIn"]["required"] == [
        "customer", "asset", "amount", "destination"]


def test_a_header_that_says_who_or_what_given_twice_is_refused(api: Any) -> None:
    """Two Idempotency-Keys made a withdrawal of the first; two Authorizations counted the
    first (a proxy or a log may read the second): refused, naming the header."""
    client, tokens, _ = api
    body = json.dumps(fields()).encode()
    for doubled in (
            [("Idempotency-Key", "A1"), ("Idempotency-Key", "A2"),
             ("Authorization", f"Bearer {tokens['ops']}")],
            [("Authorization", f"Bearer {tokens['audit']}"),
             ("authorization", f"Bearer {tokens['ops']}"), ("Idempotency-Key", "A3")]):
        r = client.post("/v1/withdrawals", content=body,
                        headers=[*doubled, ("Content-Type", JSON)])
        assert r.status_code == 400, r.text
        assert r.json()["error"]["message_id"] == "error.request.header_twice"
    r = client.get("/v1/withdrawals", headers=headers(tokens["ops"]))
    assert not [w for w in r.json() if w["id"] in ("A1", "A2", "A3")]
