"""The co-signer's rules, pure: the wire format, its own settings, and the field-by-field match
of a SafeTx with what kinko approved (withdrawals allowed or approved by a verified quorum,
sweeps, refills, emergency sweeps), the breaker and its one exception, the Safe on chain and
its nonce."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from eth_account import Account

from kinko.domain.approvals import Approval, Proposal, public_key_hex, sign_proposal
from kinko.domain.cosign import (
    REASONS,
    CosignPolicy,
    CosignRequest,
    KinkoFacts,
    NemCosignRequest,
    ProposalFacts,
    SafeLimit,
    SafeState,
    WithdrawalFacts,
    check_nonce,
    check_safe_state,
    check_tx,
    match_movement,
    match_nem_movement,
    parse_cosign_policy,
    parse_request,
    safe_tx_json,
    severity,
)
from kinko.domain.custody import Wallet
from kinko.domain.erc20 import transfer_data
from kinko.domain.messages import Time
from kinko.domain.money import Asset, AssetRegistry
from kinko.domain.nem_tx import NemTransfer
from kinko.domain.policy import Approver, Policy, WatchPolicy
from kinko.domain.policy_lock import VersionFacts, Veto, veto_bytes
from kinko.domain.safe import DELEGATECALL, ZERO_ADDRESS, SafeTx
from kinko.errors import CosignRefused


def addr() -> str:
    return str(Account.create().address)


NOW = datetime(2026, 1, 26, 0, 2, tzinfo=UTC)
E, X = 10**18, 10**6
SAFE_E, SAFE_X, HOT2, COLD_E, COLD_X, TOKEN, DEST = (addr() for _ in range(7))
COSIGNER = addr()
CHAIN_ID = 31337
KEYS = {n: Ed25519PrivateKey.generate() for n in ("alice", "bob", "carol")}
ASSETS = {"ETH": Asset("ETH", "ethereum", 18), "XEM": Asset("XEM", "ethereum", 6, TOKEN)}
WALLETS = (Wallet("eth-hot", "ETH", "hot", (SAFE_E,)), Wallet("xem-hot", "XEM", "hot", (SAFE_X,)),
           Wallet("eth-hot2", "ETH", "hot", (HOT2,)), Wallet("eth-cold", "ETH", "cold", (COLD_E,)),
           Wallet("xem-cold", "XEM", "cold", (COLD_X,)))
REGISTRY = AssetRegistry.default(ASSETS.values())
POLICY = parse_cosign_policy({
    "safes": [{"address": SAFE_E, "asset": "ETH", "limit": "100 ETH", "window": "24h"},
              {"address": SAFE_X, "asset": "XEM", "token": TOKEN, "limit": "1000000 XEM"}],
    "cold": {"ETH": [COLD_E], "XEM": [COLD_X]}}, REGISTRY, "cosign.toml")
KINKO_POLICY = Policy(3, 2, tuple(Approver(n, public_key_hex(k)) for n, k in KEYS.items()),
                      watch=WatchPolicy(emergency_sweep="auto"))
# the policy version in force (loaded long ago), as the co-signer recomputes it
VERSIONS = (VersionFacts(3, KINKO_POLICY, NOW - timedelta(days=90), None, timedelta(hours=48)),)


def eth_tx(to: str = DEST, value: int = 2 * E, **kw: Any) -> SafeTx:
    return SafeTx(safe=kw.pop("safe", SAFE_E), chain_id=kw.pop("chain_id", CHAIN_ID), to=to,
                  value=value, data=kw.pop("data", b""), nonce=kw.pop("nonce", 5), **kw)


def xem_tx(to: str = DEST, amount: int = 500 * X, **kw: Any) -> SafeTx:
    return SafeTx(safe=kw.pop("safe", SAFE_X), chain_id=CHAIN_ID, to=kw.pop("token", TOKEN),
                  value=kw.pop("value", 0), data=kw.pop("data", transfer_data(to, amount)),
                  nonce=kw.pop("nonce", 0), **kw)


def withdrawal(**kw: Any) -> WithdrawalFacts:
    base: dict[str, Any] = dict(id="W-1", asset="ETH", amount=2 * E, destination=DEST,
                                wallet="eth-hot", state="allowed", outcome="allow",
                                hold_state="pending", hold_expires=NOW + timedelta(hours=1),
                                decided_under=3, requested_at=NOW - timedelta(minutes=5))
    return WithdrawalFacts(**{**base, **kw})


def facts(w: WithdrawalFacts | None = None, p: ProposalFacts | None = None,
          tripped: frozenset[str] = frozenset(), wallets: tuple[Wallet, ...] = WALLETS
          ) -> KinkoFacts:
    return KinkoFacts(w, p, ASSETS, wallets, tripped, versions=VERSIONS)


def proposal(kind: str, payload: dict[str, Any], *, approvers: tuple[str, ...] = ("alice", "bob"),
             state: str = "approved", policy: Policy | None = KINKO_POLICY,
             expires: datetime = NOW + timedelta(hours=2), pid: str = "sweep-1",
             extra: tuple[Approval, ...] = (), incident: str | None = None) -> ProposalFacts:
    p = Proposal(pid, kind, payload, "carol", NOW - timedelta(hours=1), expires, 3)  # type: ignore[arg-type]
    approvals = tuple(Approval(n, sign_proposal(p, KEYS[n]), NOW - timedelta(minutes=30))
                      for n in approvers) + extra
    return ProposalFacts(p, state, approvals, policy, incident)


def sweep_payload(to_address: str = COLD_E, amount: int = 5 * E, **kw: Any) -> dict[str, Any]:
    return {"asset": "ETH", "amount": str(amount), "from_wallet": "eth-hot",
            "to_wallet": "eth-cold", "from_address": SAFE_E, "to_address": to_address, **kw}


def match(request: CosignRequest, f: KinkoFacts, policy: CosignPolicy = POLICY):  # type: ignore[no-untyped-def]
    limits = check_tx(request, policy, CHAIN_ID)
    return match_movement(request, f, policy, limits, NOW)


def refused(reason: str, request: CosignRequest, f: KinkoFacts, field: str | None = None,
            policy: CosignPolicy = POLICY) -> CosignRefused:
    with pytest.raises(CosignRefused) as caught:
        match(request, f, policy)
    assert caught.value.reason == reason, caught.value.message
    if field is not None:
        assert caught.value.details.get("field") == field, caught.value.details
    return caught.value


# ---------------------------------------------------------------------- the wire


def test_request_round_trips_and_checks_its_hash() -> None:
    tx = xem_tx()
    request = CosignRequest("withdrawal", "W-1", tx)
    assert parse_request(request.to_json()) == request
    body = request.to_json()
    body["safe_tx"]["value"] = "1"  # altered after hashing
    with pytest.raises(CosignRefused) as caught:
        parse_request(body)
    assert caught.value.reason == "wrong_hash" and caught.value.details["field"] == "safe_tx_hash"


@pytest.mark.parametrize("change, message", [
    (lambda b: b.pop("safe_tx_hash"), "safe_tx_hash"),
    (lambda b: b.update(kind="sweep"), "kind must be"),
    (lambda b: b.update(id=""), "id must be"),
    (lambda b: b.update(id="W 1; DROP"), "id must be"),
    (lambda b: b.update(extra=1), "unknown field"),
    (lambda b: b["safe_tx"].pop("gas_token"), "missing gas_token"),
    (lambda b: b["safe_tx"].update(memo="x"), "unknown memo"),
    (lambda b: b["safe_tx"].update(value="-1"), "whole number"),
    (lambda b: b["safe_tx"].update(value="1e18"), "whole number"),
    (lambda b: b["safe_tx"].update(value=True), "whole number"),
    (lambda b: b["safe_tx"].update(value=1.5), "whole number"),
    (lambda b: b["safe_tx"].update(nonce=str(2**256)), "uint256"),
    (lambda b: b["safe_tx"].update(data="0x123"), "0x-hex"),
    (lambda b: b["safe_tx"].update(operation="0"), "operation"),
    (lambda b: b["safe_tx"].update(operation=2), "operation must be 0"),
    (lambda b: b["safe_tx"].update(to="0x1234"), "not an Ethereum address"),
    (lambda b: b["safe_tx"].update(to=None), "must be an address"),
    (lambda b: b.update(safe_tx=[]), "must be an object"),
])
def test_malformed_requests_are_refused_naming_the_field(change: Any, message: str) -> None:
    body = CosignRequest("withdrawal", "W-1", eth_tx()).to_json()
    change(body)
    with pytest.raises(CosignRefused, match=message) as caught:
        parse_request(body)
    assert caught.value.reason == "malformed"
    with pytest.raises(CosignRefused):
        parse_request([body])


def test_every_reason_has_a_meaning_and_a_severity() -> None:
    assert severity("kinko_unreachable") == "warning" and severity("mismatch") == "critical"
    assert all(text and severity(r) in ("warning", "critical") for r, text in REASONS.items())


# ---------------------------------------------------------------------- its settings


def test_settings_tables_are_checked() -> None:
    assert POLICY.limit(SAFE_E.lower(), "ETH").limit == 100 * E  # type: ignore[union-attr]
    assert POLICY.limit(SAFE_X, "XEM").token == TOKEN.lower()  # type: ignore[union-attr]
    assert POLICY.is_cold("ETH", COLD_E.lower()) and not POLICY.is_cold("XEM", COLD_E)
    bad: list[tuple[dict[str, Any], str]] = [
        ({"safes": [{"address": SAFE_E, "asset": "ETH"}]}, "missing 'limit'"),
        ({"safes": [{"address": SAFE_E, "asset": "ETH", "limit": "1 XEM"}]}, "not in ETH"),
        ({"safes": [{"address": SAFE_E.lower()[:-1], "asset": "ETH", "limit": "1 ETH"}]},
         "not an Ethereum address"),
        ({"safes": [{"address": SAFE_E, "asset": "ETH", "limit": "1 ETH", "window": "1w"}]},
         "window"),
        ({"safes": [{"address": SAFE_E, "asset": "ETH", "limit": "1 ETH", "limt": 1}]},
         "unknown key"),
        ({"safes": [{"address": SAFE_E, "asset": "ETH", "limit": "1 ETH"}] * 2}, "twice"),
        ({"safes": [{"address": SAFE_E, "asset": "DOGE", "limit": "1 ETH"}]}, "DOGE"),
        ({"safes": {"address": SAFE_E}}, "array of tables"),
        ({"cold": {"ETH": COLD_E}}, "list of addresses"),
    ]
    for data, message in bad:
        with pytest.raises(ValueError, match=message):
            parse_cosign_policy(data, REGISTRY, "cosign.toml")
    two = parse_cosign_policy({"safes": [
        {"address": SAFE_E, "asset": "ETH", "limit": "1 ETH"},
        {"address": SAFE_E, "asset": "XEM", "token": TOKEN, "limit": "1 XEM"}]}, REGISTRY,
        "c")
    assert set(two.limits(SAFE_E)) == {"ETH", "XEM"}  # one Safe holding two assets


# ---------------------------------------------------------------------- withdrawals


def test_matching_withdrawals_of_a_coin_and_a_token() -> None:
    move = match(CosignRequest("withdrawal", "W-1", eth_tx()), facts(withdrawal()))
    assert (move.kind, move.amount, move.counts, move.authorised) == \
        ("withdrawal", 2 * E, True, "screened allow (policy v3)")
    move = match(CosignRequest("withdrawal", "W-2", xem_tx()),
                 facts(withdrawal(id="W-2", asset="XEM", amount=500 * X, wallet="xem-hot")))
    assert move.asset.symbol == "XEM" and move.amount == 500 * X


@pytest.mark.parametrize("tx, field", [
    (eth_tx(to=addr()), "to"),
    (eth_tx(value=2 * E + 1), "value"),
    (eth_tx(data=b"\x00"), "data"),
])
def test_altered_native_payments_are_refused(tx: SafeTx, field: str) -> None:
    refused("mismatch", CosignRequest("withdrawal", "W-1", tx), facts(withdrawal()), field)


@pytest.mark.parametrize("tx, field", [
    (xem_tx(token=addr()), "to"),
    (xem_tx(value=1), "value"),
    (xem_tx(to=addr()), "data"),
    (xem_tx(amount=500 * X + 1), "data"),
    (xem_tx(data=transfer_data(DEST, 500 * X) + b"\x00"), "data"),
    (xem_tx(data=bytes.fromhex("095ea7b3") + transfer_data(DEST, 500 * X)[4:]), "data"),
])
def test_altered_token_payments_are_refused(tx: SafeTx, field: str) -> None:
    w = withdrawal(asset="XEM", amount=500 * X, wallet="xem-hot")
    error = refused("mismatch", CosignRequest("withdrawal", "W-1", tx), facts(w), field)
    assert "500 XEM" in error.message


@pytest.mark.parametrize("change, reason", [
    (dict(operation=DELEGATECALL), "forbidden_tx"),
    (dict(gas_price=1), "forbidden_tx"),
    (dict(safe_tx_gas=1), "forbidden_tx"),
    (dict(base_gas=1), "forbidden_tx"),
    (dict(gas_token=TOKEN), "forbidden_tx"),
    (dict(refund_receiver=addr()), "forbidden_tx"),
    (dict(to=SAFE_E), "forbidden_tx"),
    (dict(chain_id=1), "wrong_chain"),
    (dict(safe=addr()), "unknown_safe"),
])
def test_what_the_settings_alone_refuse(change: dict[str, Any], reason: str) -> None:
    request = CosignRequest("withdrawal", "W-1", replace(eth_tx(), **change))
    with pytest.raises(CosignRefused) as caught:
        check_tx(request, POLICY, CHAIN_ID)
    assert caught.value.reason == reason


def test_withdrawal_state_hold_and_approvals() -> None:
    r = CosignRequest("withdrawal", "W-1", eth_tx())
    refused("no_such_request", r, facts())
    for state in ("review", "blocked", "rejected", "sent", "confirmed", "expired"):
        refused("request_state", r, facts(withdrawal(state=state)))
    refused("hold_closed", r, facts(withdrawal(hold_state="voided")))
    refused("hold_closed", r, facts(withdrawal(hold_state=None)))
    refused("hold_closed", r, facts(withdrawal(hold_expires=NOW)))
    refused("not_approved", r, facts(withdrawal(outcome="block")))
    review = withdrawal(state="approved", outcome="review")
    refused("not_approved", r, facts(review))  # no review proposal at all
    payload = {"withdrawal": "W-1", "customer": "C1", "asset": "ETH", "amount": str(2 * E),
               "destination": DEST}
    one = proposal("withdrawal", payload, approvers=("alice",), pid="withdrawal-W-1")
    assert "1 verified approval(s) of the 2" in refused("not_approved", r, facts(review, one)).message
    two = proposal("withdrawal", payload, pid="withdrawal-W-1")
    assert match(r, facts(review, two)).authorised == "quorum alice, bob (policy v3)"
    assert match(r, facts(replace(review, state="sending"), two)).kind == "withdrawal"
    # a forged approval row (what a thief writing to kinko's database could add) or one under
    # a policy kinko has not got does not count
    forged = replace(two, approvals=(two.approvals[0], Approval("bob", "00" * 64, NOW)))
    assert "does not verify" in refused("not_approved", r, facts(review, forged)).message
    self_approved = proposal("withdrawal", payload, approvers=("alice", "carol"),
                             pid="withdrawal-W-1")
    refused("not_approved", r, facts(review, self_approved))  # carol proposed it
    refused("not_approved", r, facts(review, replace(two, policy=None)))
    refused("not_approved", r, facts(review, replace(two, policy=replace(KINKO_POLICY,
                                                                         version=4))))


def test_wallets_and_destinations() -> None:
    r = CosignRequest("withdrawal", "W-1", eth_tx())
    refused("wrong_wallet", r, facts(withdrawal(wallet="eth-hot2")))  # paid by another wallet
    refused("wrong_wallet", r, facts(withdrawal(wallet="ghost")))
    refused("unknown_asset", r, facts(withdrawal(asset="DOGE")))
    own = CosignRequest("withdrawal", "W-1", eth_tx(to=HOT2))
    refused("own_hot_wallet", own, facts(withdrawal(destination=HOT2)), "to")
    # the co-signer's settings know the Safe for another asset, or another token
    xem_by_eth = CosignRequest("withdrawal", "W-1", eth_tx(safe=SAFE_X))
    wallets = (*WALLETS[:1], Wallet("eth-hot", "ETH", "hot", (SAFE_E, SAFE_X)))
    refused("unknown_safe", xem_by_eth, facts(withdrawal(), wallets=wallets[1:]))
    other_token = {**ASSETS, "XEM": Asset("XEM", "ethereum", 6, addr())}
    x = CosignRequest("withdrawal", "W-2", xem_tx())
    with pytest.raises(CosignRefused) as caught:
        match_movement(x, KinkoFacts(withdrawal(asset="XEM", amount=500 * X, wallet="xem-hot"),
                                     None, other_token, WALLETS, frozenset(), versions=VERSIONS),
                       POLICY, POLICY.limits(SAFE_X), NOW)
    assert caught.value.reason == "unknown_token"
    nem = {**ASSETS, "ETH": Asset("ETH", "nem", 18)}
    with pytest.raises(CosignRefused) as caught:
        match_movement(r, KinkoFacts(withdrawal(), None, nem, WALLETS, frozenset(), versions=VERSIONS), POLICY,
                       POLICY.limits(SAFE_E), NOW)
    assert caught.value.reason == "wrong_chain"


def test_breakers_stop_withdrawals_and_sweeps_but_not_the_emergency_sweep_to_own_cold() -> None:
    r = CosignRequest("withdrawal", "W-1", eth_tx())
    refused("breaker_tripped", r, facts(withdrawal(), tripped=frozenset({"ETH"})))
    refused("breaker_tripped", r, facts(withdrawal(), tripped=frozenset({"*"})))
    assert match(r, facts(withdrawal(), tripped=frozenset({"XEM"}))).kind == "withdrawal"
    sweep = CosignRequest("proposal", "sweep-1", eth_tx(to=COLD_E, value=5 * E))
    refused("breaker_tripped", sweep, facts(p=proposal("sweep", sweep_payload()),
                                            tripped=frozenset({"ETH"})))
    pre = Approval("policy: v3 emergency_sweep=auto", "", NOW)
    emergency = proposal("sweep", sweep_payload(emergency="INC-1"), approvers=(), extra=(pre,),
                         incident="open")
    move = match(sweep, facts(p=emergency, tripped=frozenset({"ETH", "*"})))
    assert move.emergency == "INC-1" and not move.counts
    assert move.authorised == "pre-authorised by policy v3 for INC-1"
    # to a cold wallet kinko registers but the co-signer's settings do not list: no exemption
    elsewhere = addr()
    wallets = (*WALLETS, Wallet("eth-cold2", "ETH", "cold", (elsewhere,)))
    odd = proposal("sweep", sweep_payload(elsewhere, emergency="INC-1", to_wallet="eth-cold2"),
                   approvers=(), extra=(pre,), incident="open")
    refused("breaker_tripped", CosignRequest("proposal", "sweep-1", eth_tx(to=elsewhere,
                                                                        value=5 * E)),
            facts(p=odd, tripped=frozenset({"ETH"}), wallets=wallets))
    # the pre-authorisation holds only while the policy says auto and the incident is live
    refused("not_approved", sweep, facts(p=replace(emergency, incident_state="resolved")))
    quorum_only = replace(emergency, policy=replace(KINKO_POLICY, watch=WatchPolicy()))
    refused("not_approved", sweep, facts(p=quorum_only))


def test_sweeps_and_refills() -> None:
    sweep = CosignRequest("proposal", "sweep-1", eth_tx(to=COLD_E, value=5 * E))
    move = match(sweep, facts(p=proposal("sweep", sweep_payload())))
    assert move.kind == "sweep" and not move.counts  # to the co-signer's own cold list
    for state in ("pending", "sent", "executed", "rejected", "failed"):
        refused("request_state", sweep, facts(p=proposal("sweep", sweep_payload(),
                                                         state=state)))
    refused("expired", sweep, facts(p=proposal("sweep", sweep_payload(), expires=NOW)))
    refused("not_approved", sweep, facts(p=proposal("sweep", sweep_payload(),
                                                    approvers=("alice",))))
    refused("mismatch", CosignRequest("proposal", "sweep-1", eth_tx(to=COLD_E, value=6 * E)),
            facts(p=proposal("sweep", sweep_payload())), "value")
    refused("mismatch", sweep, facts(p=proposal("sweep", sweep_payload(to_address=addr()))))
    refused("no_such_request", sweep, facts())
    refused("request_state", CosignRequest("proposal", "breaker-1", eth_tx()),
            facts(p=proposal("breaker", {"scope": "ETH"}, pid="breaker-1")))
    # a sweep to a hot wallet is no sweep
    to_hot = sweep_payload(HOT2, to_wallet="eth-hot2")
    refused("wrong_wallet", CosignRequest("proposal", "sweep-1", eth_tx(to=HOT2, value=5 * E)),
            facts(p=proposal("sweep", to_hot)))
    # a refill leaves a cold Safe for a registered hot wallet of the asset, and counts
    cold_safe = addr()
    policy = parse_cosign_policy({"safes": [{"address": cold_safe, "asset": "ETH",
                                             "limit": "50 ETH"}]}, REGISTRY, "c")
    wallets = (*WALLETS, Wallet("eth-vault", "ETH", "cold", (cold_safe,)))
    refill = {"asset": "ETH", "amount": str(5 * E), "from_wallet": "eth-vault",
              "to_wallet": "eth-hot2", "from_address": cold_safe, "to_address": HOT2}
    r = CosignRequest("proposal", "refill-1", eth_tx(safe=cold_safe, to=HOT2, value=5 * E))
    for state in ("approved", "requested"):
        move = match(r, facts(p=proposal("refill", refill, state=state, pid="refill-1"),
                              wallets=wallets), policy)
        assert move.kind == "refill" and move.counts
    refill_to_cold = {**refill, "to_wallet": "eth-cold", "to_address": COLD_E}
    refused("wrong_wallet", CosignRequest("proposal", "refill-1",
                                          eth_tx(safe=cold_safe, to=COLD_E, value=5 * E)),
            facts(p=proposal("refill", refill_to_cold, pid="refill-1"), wallets=wallets),
            policy=policy)


# ---------------------------------------------------------------------- the Safe on chain


def state(**kw: Any) -> SafeState:
    base: dict[str, Any] = dict(address=SAFE_E, version="1.4.1", nonce=5,
                                owners=(addr(), COSIGNER, addr()), threshold=2, modules=(),
                                guard=ZERO_ADDRESS, singleton_ok=True)
    return SafeState(**{**base, **kw})


def test_the_safe_must_need_the_cosigner() -> None:
    check_safe_state(state(), COSIGNER)
    check_safe_state(state(), COSIGNER.lower())
    for change, message in [(dict(owners=(addr(), addr())), "not an owner"),
                            (dict(threshold=1), "threshold 1"),
                            (dict(modules=(addr(),)), "modules enabled"),
                            (dict(guard=addr()), "guard"),
                            (dict(singleton_ok=False), "audited SafeL2"),
                            (dict(version="1.3.0"), "audited SafeL2")]:
        with pytest.raises(CosignRefused, match=message) as caught:
            check_safe_state(state(**change), COSIGNER)
        assert caught.value.reason == "safe_config"


def test_nonces_behind_the_safe_are_replays_and_too_far_ahead_are_refused() -> None:
    check_nonce(eth_tx(nonce=5), state(nonce=5), 16)
    check_nonce(eth_tx(nonce=20), state(nonce=5), 16)
    for nonce, reason in ((4, "nonce_used"), (0, "nonce_used"), (21, "nonce_too_far")):
        with pytest.raises(CosignRefused) as caught:
            check_nonce(eth_tx(nonce=nonce), state(nonce=5), 16)
        assert caught.value.reason == reason


def test_safe_tx_json_is_strings_for_uint256() -> None:
    body = safe_tx_json(eth_tx(value=2**255))
    assert body["value"] == str(2**255) and body["operation"] == 0


# ---------------------------------------------------------------------- the policy's lineage


def _policy_change(new: Policy, under: Policy, signers: tuple[str, ...],
                   keys: dict[str, Ed25519PrivateKey]) -> ProposalFacts:
    made = NOW - timedelta(days=2)  # approved within the 24 hours its version allows
    p = Proposal(f"policy-{new.version}", "policy", {"version": new.version,  # type: ignore[arg-type]
                                                     "digest": new.digest,
                                                     "body": new.canonical()},
                 "carol", made, made + timedelta(hours=24), under.version)
    return ProposalFacts(p, "executed", tuple(
        Approval(n, sign_proposal(p, keys[n]), made + timedelta(hours=1)) for n in signers),
        None)


def test_quorums_count_only_under_policies_descended_from_the_anchor() -> None:
    from kinko.domain.cosign import PolicyRecord, policy_lineage

    v1 = Policy(1, 2, tuple(Approver(n, public_key_hex(k)) for n, k in KEYS.items()))
    v3 = replace(KINKO_POLICY, version=3)
    v2 = replace(v3, version=2)
    lineage = {1: PolicyRecord(1, v1, "bootstrap"),
               2: PolicyRecord(2, v2, "policy-2", _policy_change(v2, v1, ("alice", "bob"), KEYS)),
               3: PolicyRecord(3, v3, "policy-3", _policy_change(v3, v2, ("bob", "alice"), KEYS))}
    anchored = replace(POLICY, policy_anchor=v1.digest)
    sweep = CosignRequest("proposal", "sweep-1", eth_tx(to=COLD_E, value=5 * E))
    good = proposal("sweep", sweep_payload())  # made under version 3
    f = KinkoFacts(None, good, ASSETS, WALLETS, frozenset(), lineage, VERSIONS)
    assert match(sweep, f, anchored).authorised == "quorum alice, bob (policy v3)"
    assert policy_lineage(lineage, 3, v1.digest) == "yes"
    assert policy_lineage(lineage, 1, v1.digest) == "anchor"
    # a version written straight into kinko's database, with the thief's approvers
    thief_keys = {n: Ed25519PrivateKey.generate() for n in ("mallory", "trudy")}
    v4 = Policy(4, 2, tuple(Approver(n, public_key_hex(k)) for n, k in thief_keys.items()),
                watch=WatchPolicy(emergency_sweep="auto"))
    p4 = Proposal("sweep-1", "sweep", sweep_payload(), "eve", NOW - timedelta(hours=1),
                  NOW + timedelta(hours=2), 4)  # type: ignore[arg-type]
    forged = ProposalFacts(p4, "approved", (Approval("trudy", sign_proposal(p4, thief_keys["trudy"]),
                                                     NOW),
                                            Approval("mallory", sign_proposal(p4, thief_keys["mallory"]),
                                                     NOW)), v4)
    for how in (PolicyRecord(4, v4, "bootstrap"),
                PolicyRecord(4, v4, "policy-4", _policy_change(v4, v3, ("mallory", "trudy"),
                                                               thief_keys)),
                PolicyRecord(4, v4, "policy-4", _policy_change(v4, v3, ("alice",), KEYS))):
        f4 = KinkoFacts(None, forged, ASSETS, WALLETS, frozenset(), {**lineage, 4: how},
                        (*VERSIONS, VersionFacts(4, v4, NOW - timedelta(days=9), 3,
                                                 timedelta(0))))
        assert match(sweep, f4, POLICY).kind == "sweep"  # without an anchor: taken as stored
        error = refused("not_approved", sweep, f4, policy=anchored)
        assert "policy version 4" in error.message
        assert policy_lineage({**lineage, 4: how}, 4, v1.digest).startswith("no: ")
    # a change whose proposal names another digest than the version it activated
    swapped = {**lineage, 3: PolicyRecord(3, v3, "policy-3",
                                          _policy_change(replace(v3, quorum=1), v2,
                                                         ("alice", "bob"), KEYS))}
    refused("not_approved", sweep, KinkoFacts(None, good, ASSETS, WALLETS, frozenset(), swapped,
                       VERSIONS),
            policy=anchored)


def test_the_review_approved_is_of_the_withdrawal_as_it_stands() -> None:
    r = CosignRequest("withdrawal", "W-1", eth_tx())
    payload = {"withdrawal": "W-1", "customer": "C1", "asset": "ETH", "amount": str(2 * E),
               "destination": DEST}
    review = proposal("withdrawal", payload, pid="withdrawal-W-1")
    approved = withdrawal(state="approved", outcome="review")
    assert match(r, facts(approved, review)).kind == "withdrawal"
    # the row changed after the approvers signed (more, or elsewhere): not what they approved
    thief = addr()
    for changed, tx in ((replace(approved, amount=3 * E), eth_tx(value=3 * E)),
                        (replace(approved, destination=thief), eth_tx(to=thief))):
        error = refused("not_approved", CosignRequest("withdrawal", "W-1", tx),
                        facts(changed, review))
        assert "not of withdrawal W-1" in error.message


# ---------------------------------------------------------------------- the time lock


def _loosening(vetoes: tuple[Veto, ...] = (), lock: timedelta = timedelta(hours=48)
               ) -> tuple[Policy, tuple[VersionFacts, ...]]:
    """Version 4 raises nothing but lowers the quorum to 1: it loosens, so it waits."""
    v4 = replace(KINKO_POLICY, version=4, quorum=1)
    return v4, (*VERSIONS, VersionFacts(4, v4, NOW - timedelta(hours=1), 3, lock, vetoes))


def test_a_withdrawal_allowed_only_by_a_pending_loosening_is_refused() -> None:
    _v4, versions = _loosening()
    r = CosignRequest("withdrawal", "W-1", eth_tx())
    under_v4 = withdrawal(decided_under=4)
    f = KinkoFacts(under_v4, None, ASSETS, WALLETS, frozenset(), versions=versions)
    error = refused("policy_not_in_force", r, f)
    assert "version 3" in error.message and error.details["in_force"] == 3
    # screened under the version in force: signed as before
    ok = KinkoFacts(withdrawal(), None, ASSETS, WALLETS, frozenset(), versions=versions)
    assert match(r, ok).kind == "withdrawal"
    # kinko recorded no lock for it (its database rewritten): the co-signer's own holds
    _v4, unlocked = _loosening(lock=timedelta(0))
    refused("policy_not_in_force", r, KinkoFacts(under_v4, None, ASSETS, WALLETS, frozenset(),
                                                 versions=unlocked))
    # once the lock has run out, version 4 is the one in force
    later = replace(under_v4, requested_at=NOW + timedelta(hours=48),
                    hold_expires=NOW + timedelta(hours=50))
    with pytest.raises(CosignRefused):  # the co-signer's clock says it is not later yet
        match(r, KinkoFacts(later, None, ASSETS, WALLETS, frozenset(), versions=versions))
    limits = check_tx(r, POLICY, CHAIN_ID)
    assert match_movement(r, KinkoFacts(later, None, ASSETS, WALLETS, frozenset(),
                                        versions=versions), POLICY, limits,
                          NOW + timedelta(hours=48)).kind == "withdrawal"


def test_a_vetoed_loosening_never_authorises_and_a_quorum_under_it_counts_for_nothing() -> None:
    v4, _ = _loosening()
    signature = KEYS["carol"].sign(veto_bytes(4, v4.digest)).hex()
    _v4, vetoed = _loosening((Veto(4, "carol", signature, NOW - timedelta(minutes=5)),))
    # a sweep approved by one approver under version 4 (quorum 1)
    p = Proposal("sweep-4", "sweep", sweep_payload(), "carol", NOW + timedelta(hours=48),
                 NOW + timedelta(hours=50), 4)  # type: ignore[arg-type]
    one = ProposalFacts(p, "approved", (Approval("alice", sign_proposal(p, KEYS["alice"]),
                                                 NOW),), v4)
    sweep = CosignRequest("proposal", "sweep-4", eth_tx(to=COLD_E, value=5 * E))
    later = NOW + timedelta(hours=49)
    limits = check_tx(sweep, POLICY, CHAIN_ID)
    with pytest.raises(CosignRefused) as caught:
        match_movement(sweep, KinkoFacts(None, one, ASSETS, WALLETS, frozenset(),
                                         versions=vetoed), POLICY, limits, later)
    assert caught.value.reason == "policy_not_in_force"
    # not vetoed: after its lock, version 4's quorum of one counts
    assert match_movement(sweep, KinkoFacts(None, one, ASSETS, WALLETS, frozenset(),
                                            versions=_loosening()[1]), POLICY, limits,
                          later).authorised == "quorum alice (policy v4)"


# ---------------------------------------------------------------------- a proposal's lifetime


def long_lived(kind: str, payload: dict[str, Any], age: timedelta, approved_after: timedelta,
               pid: str, state: str = "approved") -> ProposalFacts:
    """A proposal made ``age`` ago under version 3 (24-hour lifetime) but stored with an
    expiry a century away (as an earlier kinko, or a version granting longer, could write
    it), approved by alice and bob ``approved_after`` it was made."""
    made = NOW - age
    p = Proposal(pid, kind, payload, "carol", made, made + timedelta(days=36500),  # type: ignore[arg-type]
                 3)
    approvals = tuple(Approval(n, sign_proposal(p, KEYS[n]), made + approved_after)
                      for n in ("alice", "bob"))
    return ProposalFacts(p, state, approvals, KINKO_POLICY)


def test_a_sweep_older_than_the_policy_in_force_allows_is_not_signed() -> None:
    sweep = CosignRequest("proposal", "sweep-1", eth_tx(to=COLD_E, value=5 * E))
    young = long_lived("sweep", sweep_payload(), timedelta(hours=23), timedelta(hours=1),
                       "sweep-1")
    assert match(sweep, facts(p=young)).kind == "sweep"
    old = long_lived("sweep", sweep_payload(), timedelta(hours=25), timedelta(hours=1),
                     "sweep-1")
    error = refused("expired", sweep, facts(p=old))
    lapsed = old.proposal.created_at + timedelta(hours=24)  # not the stored expiry
    assert error.said().params["at"] == Time(lapsed) and lapsed.isoformat() in error.message
    # the version in force now, by the co-signer's reckoning, not the one it was made under:
    # version 4 shortens the lifetime to 4 hours (a tightening, in force at once)
    v4 = replace(KINKO_POLICY, version=4, proposal_ttl_hours=4)
    shorter = (*VERSIONS, VersionFacts(4, v4, NOW - timedelta(hours=4), 3, timedelta(hours=48)))
    five = long_lived("sweep", sweep_payload(), timedelta(hours=5), timedelta(hours=1),
                      "sweep-1")
    assert match(sweep, facts(p=five)).kind == "sweep"
    error = refused("expired", sweep, KinkoFacts(None, five, ASSETS, WALLETS, frozenset(),
                                                 versions=shorter))
    assert error.said().params["at"] == Time(five.proposal.created_at + timedelta(hours=4))


def test_an_approval_given_after_the_proposal_expired_does_not_count() -> None:
    """kinko records an approval only while the proposal is younger than the version it was
    made under allows: one given later (with a stored expiry far off) is no approval."""
    r = CosignRequest("withdrawal", "W-1", eth_tx())
    payload = {"withdrawal": "W-1", "customer": "C1", "asset": "ETH", "amount": str(2 * E),
               "destination": DEST}
    approved = withdrawal(state="approved", outcome="review")
    timely = long_lived("withdrawal", payload, timedelta(hours=30), timedelta(hours=1),
                        "withdrawal-W-1", "executed")
    assert match(r, facts(approved, timely)).authorised == "quorum alice, bob (policy v3)"
    late = long_lived("withdrawal", payload, timedelta(hours=30), timedelta(hours=29),
                      "withdrawal-W-1", "executed")
    error = refused("not_approved", r, facts(approved, late))
    assert "0 verified approval(s)" in error.message and "expired at" in error.message


def test_a_nem_transfer_may_not_outlive_the_proposal_under_the_policy_in_force() -> None:
    account, cold = "NACCOUNT", "NCOLD"
    assets = {"XEM": Asset("XEM", "nem", 6)}
    wallets = (Wallet("xem-hot", "XEM", "hot", (account,)),
               Wallet("xem-cold", "XEM", "cold", (cold,)))
    settings = CosignPolicy("nem", {account.lower(): {
        "XEM": SafeLimit(account, "XEM", 10**12, timedelta(hours=24))}})
    payload = {"asset": "XEM", "amount": str(5 * X), "from_wallet": "xem-hot",
               "to_wallet": "xem-cold", "from_address": account, "to_address": cold}
    # made 23 hours ago: it expires in an hour, not in a century
    p = long_lived("sweep", payload, timedelta(hours=23), timedelta(hours=1), "sweep-1")
    f = KinkoFacts(None, p, assets, wallets, frozenset(), versions=VERSIONS)

    def request(deadline: datetime) -> NemCosignRequest:
        return NemCosignRequest("proposal", "sweep-1", NemTransfer(
            "nem", account, "", cold, 5 * X, (), 0, 0, int(deadline.timestamp()), 0, "00",
            ""))

    limits = settings.limits(account)
    within = request(NOW + timedelta(minutes=30))
    assert match_nem_movement(within, f, settings, limits, NOW).kind == "sweep"
    with pytest.raises(CosignRefused) as caught:
        match_nem_movement(request(NOW + timedelta(hours=2)), f, settings, limits, NOW)
    assert caught.value.reason == "mismatch" and caught.value.details["field"] == "deadline"
    assert caught.value.said().params["bound"] == Time(NOW + timedelta(hours=1))
