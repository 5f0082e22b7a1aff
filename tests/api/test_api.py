"""The REST API: keys and roles, idempotent creation, review by approvers, the breaker, the
audit log, errors as 4xx with a message; and a property-based fuzz of the OpenAPI spec that
must never produce a 500."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from apiledger import served_api
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from kinko.domain.approvals import Proposal, public_key_hex, sign_proposal
from kinko.domain.money import AssetRegistry
from kinko.services.access import Access
from kinko.services.custody import Custody
from kinko.services.ledger import Ledger
from kinko.store.custody_sql import parse_proposal

E = 10**18
KEYS = {n: Ed25519PrivateKey.generate() for n in ("alice", "bob")}
DEST = "0x52908400098527886E0F7030069857D2E4169EE7"
HOT = "0xABaBaBaBABabABabAbAbABAbABabababaBaBABaB"  # the hot wallet's address


@pytest.fixture
def api(tmp_path: Path):  # type: ignore[no-untyped-def]
    approvers = "".join(f'[[approvers]]\nname = "{n}"\npublic_key = "{public_key_hex(k)}"\n'
                        for n, k in KEYS.items())
    client, tokens, access, store = served_api(
        tmp_path, HOT,
        f"version = 1\nquorum = 2\n{approvers}\n[[screening.rules]]\nkind = \"max_amount\"\n"
        'asset = "ETH"\namount = "10"\naction = "review"\nreason = "large"\n'
        '[[screening.rules]]\nkind = "max_amount"\nasset = "ETH"\namount = "5"\n'
        'tier = "new"\naction = "block"\nreason = "new customers: at most 5 ETH"\n',
        (("ops", "operator"), ("alice", "approver"), ("bob", "approver"),
         ("audit", "auditor"), ("root", "admin")))
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


def test_a_request_is_answered_as_the_withdrawal_reads(api) -> None:  # type: ignore[no-untyped-def]
    """The answer to a request (JSON prepared by the route) is, byte for byte, the
    withdrawal as ``GET /v1/withdrawals/{id}`` answers it (FastAPI's serialization)."""
    client, tokens, _ = api
    for key, amount in (("W-a", "1"), ("W-r", "20")):  # allowed; held for review
        made = client.post("/v1/withdrawals", json=body(amount), headers=h(tokens["ops"], key))
        assert made.status_code == 201
        assert made.headers["content-type"] == "application/json"
        assert made.content == client.get(f"/v1/withdrawals/{key}",
                                          headers=h(tokens["audit"])).content


def test_the_key_is_looked_up_once_per_request(api) -> None:  # type: ignore[no-untyped-def]
    """A route that needs a role and the audit's actor looks the caller's key up once."""
    client, tokens, access = api
    seen: list[str | None] = []
    recognise = access.recognise

    def counted(token: str | None, **kw: Any) -> Any:
        seen.append(token)
        return recognise(token, **kw)

    access.recognise = counted  # type: ignore[method-assign]
    r = client.post("/v1/breaker/trip", json={"scope": "ETH", "reason": "drill"},
                    headers=h(tokens["ops"]))
    assert r.status_code == 200 and seen == [tokens["ops"]]
    r = client.post("/v1/withdrawals", json=body(), headers=h(tokens["ops"], "W-k"))
    assert r.status_code == 201 and seen == [tokens["ops"]] * 2


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


def test_a_method_a_path_does_not_take_is_405_with_the_methods_it_does(api) -> None:  # type: ignore[no-untyped-def]
    client, tokens, _ = api
    r = client.delete("/v1/withdrawals", headers=h(tokens["ops"]))
    assert r.status_code == 405
    assert r.json()["error"]["code"] == "method_not_allowed"
    assert r.headers["allow"] == "GET, HEAD, POST"  # both routes of the path (and HEAD)


def test_head_is_answered_wherever_get_is_without_a_body(api) -> None:  # type: ignore[no-untyped-def]
    """A monitor's HEAD: GET's status and headers (its key checked as GET's), no body."""
    client, tokens, _ = api
    for path, token in (("/v1/breaker", tokens["audit"]), ("/openapi.json", None),
                        ("/v1/withdrawals/nope", tokens["audit"])):
        headers = h(token) if token else {}
        got, head = client.get(path, headers=headers), client.head(path, headers=headers)
        assert head.status_code == got.status_code and head.content == b"", path
        assert head.headers["content-length"] == got.headers["content-length"], path
        assert head.headers["content-type"] == got.headers["content-type"], path
        assert head.headers["x-content-type-options"] == "nosniff", path
    assert client.head("/v1/breaker").status_code == 401  # no key: refused as GET is
    r = client.head("/v1/withdrawals/nope/approve", headers=h(tokens["ops"]))
    assert r.status_code == 405 and r.headers["allow"] == "POST" and r.content == b""


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


def test_the_list_says_who_closed_a_withdrawal_as_its_own_page_does(api) -> None:  # type: ignore[no-untyped-def]
    """A rejected withdrawal in the list carries who rejected it and why, as
    ``GET /v1/withdrawals/{id}`` does (the list said nothing of it)."""
    client, tokens, _ = api
    client.post("/v1/withdrawals", json=body("20"), headers=h(tokens["ops"], "W-x"))
    client.post("/v1/withdrawals", json=body(), headers=h(tokens["ops"], "W-y"))
    r = client.post("/v1/withdrawals/W-x/reject", json={"reason": "unknown destination"},
                    headers=h(tokens["ops"]))
    assert r.status_code == 200 and r.json()["state"] == "rejected"
    one = client.get("/v1/withdrawals/W-x", headers=h(tokens["audit"])).json()
    assert one["closed"]["by"] == "ops" and one["closed"]["reason"] == "unknown destination"
    listed = {w["id"]: w for w in client.get("/v1/withdrawals",
                                             headers=h(tokens["audit"])).json()}
    assert listed["W-x"]["closed"] == one["closed"] and listed["W-y"]["closed"] is None
    rejected = client.get("/v1/withdrawals?state=rejected", headers=h(tokens["audit"])).json()
    assert [w["closed"] for w in rejected] == [one["closed"]]


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
    assert r.json()["reset"] is True and r.json()["tripped"] == []
    assert (r.json()["kind"], r.json()["state"]) == ("breaker", "executed")


def test_audit_log_detects_an_edit(api) -> None:  # type: ignore[no-untyped-def]
    client, tokens, access = api
    client.post("/v1/withdrawals", json=body(), headers=h(tokens["ops"], "W-4"))
    assert access.verify_audit() == []
    from sqlalchemy import text

    with access.store.engine.begin() as conn:  # type: ignore[attr-defined]
        conn.execute(text("UPDATE audit_log SET actor = 'mallory' WHERE seq = 2"))
    assert access.verify_audit() == ["audit record 2 was altered or reordered"]


def _written(access: Access) -> tuple[int, list[str]]:
    """How many withdrawals exist, and the audit log's actions (after the policy's
    bootstrap)."""
    with access.store.unit(write=False) as u:
        count = sum(u.screening.withdrawal_counts().values())
    actions = [a["action"] for a in access.audit_log()]
    assert actions[:1] == ["policy.bootstrap"]
    return count, actions[1:]


def _review(client: TestClient, tokens: dict[str, str], key: str) -> Proposal:
    r = client.post("/v1/withdrawals", json=body("20"), headers=h(tokens["ops"], key))
    assert r.json()["state"] == "review"
    return parse_proposal(r.json()["proposal"]["canonical"])


def test_one_approve_path_routes_by_kind_and_audits(api) -> None:  # type: ignore[no-untyped-def]
    client, tokens, access = api
    proposal = _review(client, tokens, "W-5")
    for name in ("alice", "bob"):  # the proposals route takes a withdrawal's review too
        r = client.post(f"/v1/proposals/{proposal.id}/approve", json={
            "approver": name, "signature": sign_proposal(proposal, KEYS[name])},
            headers=h(tokens[name]))
        assert r.status_code == 200, r.text
    assert (r.json()["kind"], r.json()["state"]) == ("withdrawal", "executed")
    after = client.get("/v1/withdrawals/W-5", headers=h(tokens["audit"])).json()
    assert after["state"] == "approved" and after["approvals"] == 2
    assert _written(access)[1].count("withdrawal.approve") == 2
    assert access.verify_audit() == []


def test_a_breaker_approval_of_another_kind_records_nothing(api) -> None:  # type: ignore[no-untyped-def]
    client, tokens, access = api
    proposal = _review(client, tokens, "W-6")
    from kinko.errors import ApprovalError
    from kinko.services.withdrawals import Withdrawals

    w = Withdrawals(Custody(Ledger(access.store, access.clock, AssetRegistry.default())))
    with pytest.raises(ApprovalError, match="not a breaker"):  # `kinko breaker approve`
        w.approve_reset(proposal.id, "alice", sign_proposal(proposal, KEYS["alice"]))
    view = w.custody.proposal(proposal.id)
    assert view is not None and view.approvals == [] and view.state == "pending"
    assert _written(access)[1][-1] == "withdrawal.approve.refused"


def test_refused_approvals_are_audited(api) -> None:  # type: ignore[no-untyped-def]
    client, tokens, access = api
    proposal = _review(client, tokens, "W-7")
    r = client.post("/v1/withdrawals/W-7/approve", json={
        "approver": "alice", "signature": sign_proposal(proposal, KEYS["bob"])},
        headers=h(tokens["alice"]))
    assert r.status_code == 409  # signed with bob's key
    r = client.post(f"/v1/proposals/{proposal.id}/approve", json={
        "approver": "bob", "signature": sign_proposal(proposal, KEYS["bob"])},
        headers=h(tokens["alice"]))
    assert r.status_code == 403  # alice's key cannot approve as bob
    r = client.post("/v1/proposals/nothing-here/approve", json={
        "approver": "alice", "signature": "ab"}, headers=h(tokens["alice"]))
    assert r.status_code == 404
    refused = [a for a in access.audit_log() if a["action"].endswith(".approve.refused")]
    assert [(a["actor"], a["action"]) for a in refused] == [
        ("alice", "withdrawal.approve.refused"), ("alice", "withdrawal.approve.refused"),
        ("alice", "proposal.approve.refused")]
    assert "does not verify" in refused[0]["detail"] and "forbidden" in refused[1]["detail"]
    view = client.get("/v1/withdrawals/W-7", headers=h(tokens["audit"])).json()
    assert view["approvals"] == 0 and access.verify_audit() == []


def test_a_request_cannot_name_its_tier(api) -> None:  # type: ignore[no-untyped-def]
    client, tokens, access = api
    for tier in ("vip", "STANDARD", "standard ", "new"):
        r = client.post("/v1/withdrawals", json={**body("6"), "tier": tier},
                        headers=h(tokens["ops"], "W-t"))
        assert r.status_code == 422, r.text
        assert r.json()["error"]["code"] == "tier_not_accepted"
    assert _written(access) == (0, ["apikey.create"] * 5)
    # the tier is the customer's: recorded by an admin, from the policy's tiers, audited
    r = client.put("/v1/customers/C1/tier", json={"tier": "new"}, headers=h(tokens["ops"]))
    assert r.status_code == 403
    for wrong in ("NEW", "new ", "vip"):
        r = client.put("/v1/customers/C1/tier", json={"tier": wrong}, headers=h(tokens["root"]))
        assert r.status_code == 400 and "not one of the policy's tiers" in r.text
    r = client.post("/v1/withdrawals", json=body("6"), headers=h(tokens["ops"], "W-8"))
    assert r.json()["state"] == "allowed"  # standard: the 10 ETH review rule only
    r = client.put("/v1/customers/C1/tier", json={"tier": "new"}, headers=h(tokens["root"]))
    assert r.status_code == 200 and r.json()["tier"] == "new" and r.json()["set_by"] == "root"
    r = client.get("/v1/customers/C1/tier", headers=h(tokens["audit"]))
    assert r.json()["tier"] == "new"
    r = client.post("/v1/withdrawals", json=body("6"), headers=h(tokens["ops"], "W-9"))
    assert r.json()["state"] == "blocked"
    assert "new customers" in r.json()["decision"]["hits"][0]["reason"]
    tiers = [a for a in access.audit_log() if a["action"] == "customer.tier"]
    assert [(a["actor"], a["target"]) for a in tiers] == [("root", "C1")]
    assert '"was": null' in tiers[0]["detail"] and '"tier": "new"' in tiers[0]["detail"]


@pytest.mark.parametrize("key", ["a/b", "..", ".", "W 1", "ü-1", "x" * 101, "-a", "a\\b",
                                 "a?b", "a#b", "a%2Fb"])
def test_idempotency_keys_outside_the_allowed_characters_are_refused(api, key: str) -> None:  # type: ignore[no-untyped-def]
    client, tokens, access = api
    r = client.post("/v1/withdrawals", json=body(),  # as UTF-8 bytes on the wire
                    headers={**h(tokens["ops"]), "Idempotency-Key": key.encode()})  # type: ignore[dict-item]
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "invalid_id"
    assert r.json()["error"]["details"] == {"field": "Idempotency-Key"}
    assert _written(access) == (0, ["apikey.create"] * 5)


def test_a_key_of_every_allowed_character_reaches_its_withdrawal(api) -> None:  # type: ignore[no-untyped-def]
    client, tokens, _ = api
    key = "Aa0._:-z" + "9" * 92
    r = client.post("/v1/withdrawals", json=body(), headers=h(tokens["ops"], key))
    assert r.status_code == 201
    assert client.get(f"/v1/withdrawals/{key}", headers=h(tokens["ops"])).json()["id"] == key


@pytest.mark.parametrize("destination, why", [
    ("0x" + "0" * 40, "zero address"),
    (HOT, "own wallet eth-hot"),
    (HOT.lower(), "own wallet eth-hot"),
])
def test_zero_and_own_wallet_destinations_are_refused(api, destination: str, why: str) -> None:  # type: ignore[no-untyped-def]
    client, tokens, access = api
    r = client.post("/v1/withdrawals", json={**body(), "destination": destination},
                    headers=h(tokens["ops"], "W-z"))
    assert r.status_code == 422 and why in r.json()["error"]["message"], r.text
    assert r.json()["error"]["code"] == "refused_destination"
    assert _written(access) == (0, ["apikey.create"] * 5)


def test_a_retry_answers_first_and_writes_no_audit_record(api) -> None:  # type: ignore[no-untyped-def]
    client, tokens, access = api
    first = client.post("/v1/withdrawals", json=body(), headers=h(tokens["ops"], "W-r"))
    for _ in range(3):
        again = client.post("/v1/withdrawals", json=body(), headers=h(tokens["ops"], "W-r"))
        assert again.status_code == 201 and again.json() == first.json()
    assert _written(access) == (1, ["apikey.create"] * 5 + ["withdrawal.request"])


def test_a_retry_under_another_api_key_is_refused(api) -> None:  # type: ignore[no-untyped-def]
    """An id is one client's: the same request sent under it with another API key is not
    taken for a retry (that client would read the first one's answer as its own)."""
    client, tokens, access = api
    first = client.post("/v1/withdrawals", json=body(), headers=h(tokens["ops"], "W-o"))
    assert first.status_code == 201
    other = client.post("/v1/withdrawals", json=body(), headers=h(tokens["root"], "W-o"))
    assert other.status_code == 409 and "W-o" in other.json()["error"]["message"]
    assert other.json() != first.json()
    again = client.post("/v1/withdrawals", json=body(), headers=h(tokens["ops"], "W-o"))
    assert again.status_code == 201 and again.json() == first.json()
    assert _written(access) == (1, ["apikey.create"] * 5 + ["withdrawal.request"])


def test_a_pending_loosening_is_listed_and_one_approver_vetoes_it(  # type: ignore[no-untyped-def]
        api, tmp_path: Path) -> None:
    from kinko.domain.policy_lock import veto_bytes

    client, tokens, access = api
    text = (tmp_path / "p.toml").read_text().replace("version = 1", "version = 2") \
        .replace('amount = "10"', 'amount = "50"')
    (tmp_path / "p2.toml").write_text(text)
    custody = Custody(Ledger(access.store, access.clock, AssetRegistry.default()))
    policy, view = custody.load_policy(tmp_path / "p2.toml", "ops")
    assert view is not None
    for name, key in KEYS.items():
        r = client.post(f"/v1/proposals/{view.proposal.id}/approve", json={
            "approver": name, "signature": sign_proposal(view.proposal, key)},
            headers=h(tokens[name]))
        assert r.status_code == 200, r.text
    versions = client.get("/v1/policy/versions", headers=h(tokens["audit"])).json()["versions"]
    assert [(v["version"], v["state"]) for v in versions] == [(2, "pending"), (1, "effective")]
    assert versions[0]["loosens"] == ["screening.rules.max_amount-1.amount: 10 → 50 (loosens)"]
    assert client.get("/v1/policy", headers=h(tokens["audit"])).json()["version"] == 1
    r = client.post("/v1/withdrawals", json=body("20"), headers=h(tokens["ops"], "W-20"))
    assert r.json()["state"] == "review"  # screened under the version in force
    signature = {n: k.sign(veto_bytes(2, policy.digest)).hex() for n, k in KEYS.items()}
    r = client.post("/v1/policy/versions/2/veto", json={"approver": "bob", "signature":
                    signature["bob"]}, headers=h(tokens["alice"]))
    assert r.status_code == 403
    r = client.post("/v1/policy/versions/2/veto", json={"approver": "alice", "signature":
                    signature["bob"]}, headers=h(tokens["alice"]))
    assert r.status_code == 409 and "does not verify" in r.json()["error"]["message"]
    r = client.post("/v1/policy/versions/2/veto", json={"approver": "alice", "signature":
                    signature["alice"], "reason": "too high"}, headers=h(tokens["alice"]))
    assert r.status_code == 200 and r.json()["state"] == "vetoed"
    assert r.json()["vetoed_by"][0]["approver"] == "alice"
    r = client.post("/v1/policy/versions/9/veto", json={"approver": "alice", "signature":
                    signature["alice"]}, headers=h(tokens["alice"]))
    assert r.status_code == 404
    actions = [a["action"] for a in access.audit_log()]
    assert actions.count("policy.veto") == 1 and actions.count("policy.veto.refused") == 3



def test_the_api_served_alone_says_nosniff_too(api) -> None:  # type: ignore[no-untyped-def]
    """Without the dashboard (``kinko serve --no-dashboard``) no answer said ``nosniff``:
    the security headers were added with the dashboard's pages."""
    client, tokens, _ = api
    too_deep = {**h(tokens["root"]), "Content-Type": "application/json"}
    for answer in (client.get("/v1/custody", headers=h(tokens["audit"])),
                   client.get("/v1/custody"), client.get("/v1/nope"),
                   client.get("/openapi.json"), client.get("/docs"),
                   client.post("/v1/breaker/trip", headers=too_deep, content=b"[" * 100)):
        assert answer.status_code != 500, answer.url
        assert answer.headers["x-content-type-options"] == "nosniff", answer.url
