"""docs/formats.md is precise enough to re-implement: recompute the chain and a proposal's
signed bytes here with nothing but hashlib and json, as an auditor would."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

from kinko.domain.approvals import Proposal, signing_bytes
from kinko.domain.custody import Wallet
from kinko.domain.ledger import Hold, Posting
from kinko.domain.money import AssetRegistry
from kinko.ports import FixedClock
from kinko.services.ledger import Ledger
from kinko.store import open_store, upgrade


def F(s: str) -> str:  # the name the document uses
    return f"{len(s)}:{s}"


def documented_hash(e: dict[str, object], postings: list[tuple[str, str, int]],
                    hold: tuple[str, ...] | None) -> str:
    content = F(str(e["kind"])) + F(str(e["source"])) + F(str(e["memo"]))
    content += "".join(F(a) + F(s) + F(str(v)) for a, s, v in postings) + "|"
    if hold is not None:
        content += "".join(F(x) for x in hold)
    ts = e["timestamp"].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")  # type: ignore[attr-defined]
    text = ("kinko-entry-v1\n" + str(e["prev_hash"]) + "\n" + F(str(e["seq"])) + F(str(e["key"]))
            + F(ts) + content)
    return hashlib.sha256(text.encode()).hexdigest()


def test_chain_as_documented() -> None:
    store = open_store("sqlite://")
    upgrade(store)
    clock = FixedClock()
    ledger = Ledger(store, clock, AssetRegistry.default())
    ledger.add_wallet(Wallet("xem-hot", "XEM", "hot"))
    ledger.post("d1", [Posting("wallet:xem-hot", "XEM", 5), Posting("customer:C1", "XEM", -5)],
                source="tx:1", memo="入金")
    ledger.open_hold("h1", Hold("W1", "customer:C1", "wallet:xem-hot", "XEM", 3,
                                clock.now() + timedelta(hours=1)), source="req")
    ledger.post_hold("p1", "W1", 2, source="tx:2")
    prev = "0" * 64
    for entry in ledger.entries():
        hold = None
        if entry.hold is not None:
            h = entry.hold
            expiry = h.expires_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ") \
                if h.expires_at else ""
            hold = (h.id, h.debit, h.credit, h.asset, str(h.amount), expiry)
        assert entry.prev_hash == prev
        assert documented_hash(entry._asdict(), [tuple(p) for p in entry.postings],  # type: ignore[misc]
                               hold) == entry.hash
        prev = entry.hash
    store.close()


def test_proposal_bytes_as_documented() -> None:
    at = datetime(2018, 1, 26, 0, 2, tzinfo=UTC)
    p = Proposal("sweep-1", "sweep", {"asset": "XEM", "amount": "523000000000000"}, "carol", at,
                 at + timedelta(hours=24), 3)
    canonical = json.dumps({"created_at": "2018-01-26T00:02:00.000000Z",
                            "expires_at": "2018-01-27T00:02:00.000000Z", "id": "sweep-1",
                            "kind": "sweep", "payload": p.payload, "policy_version": 3,
                            "proposer": "carol"}, sort_keys=True, separators=(",", ":"),
                           ensure_ascii=False)
    assert signing_bytes(p) == b"kinko-proposal-v1\n" + canonical.encode()


def test_webhook_signature_as_documented() -> None:
    import hmac

    from kinko.services.notify import sign_webhook, verify_webhook

    body = json.dumps({"type": "kinko.alert", "alert": {"id": "A-1"}}).encode()
    documented = "sha256=" + hmac.new(b"s3cret", b"1516892520." + body,
                                      hashlib.sha256).hexdigest()
    assert sign_webhook("s3cret", 1516892520, body) == documented
    assert verify_webhook("s3cret", "1516892520", body, documented)
    assert not verify_webhook("s3cret", "1516892521", body, documented)
    assert not verify_webhook("s3cret", "soon", body, documented)
    assert not verify_webhook("s3cret", "²", body, documented)  # a digit, not an ASCII one
    assert not verify_webhook("s3cret", "1516892520", body, documented + "é")


def test_veto_bytes_as_documented() -> None:
    from kinko.domain.policy_lock import veto_bytes

    digest = hashlib.sha256(b"a policy").hexdigest()
    body = json.dumps({"version": 7, "digest": digest}, sort_keys=True, separators=(",", ":"))
    assert veto_bytes(7, digest) == b"kinko-policy-veto-v1\n" + body.encode()
