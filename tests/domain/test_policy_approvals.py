"""Policy parsing, Ed25519 approvals (forgery, replay, expiry, self-approval), and the
custody evaluation: hot share, performance guarantee, rebalancing."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from kinko.domain.approvals import (
    Approval,
    Proposal,
    check_approval,
    public_key_hex,
    quorum_reached,
    sign_proposal,
)
from kinko.domain.custody import AssetPosition, evaluate, guarantee, rebalance
from kinko.domain.money import AssetRegistry
from kinko.domain.policy import Policy, parse_policy, policy_from_canonical
from kinko.errors import ApprovalError, ConfigError

REG = AssetRegistry.default()
NOW = datetime(2018, 1, 26, tzinfo=UTC)
KEYS = {name: Ed25519PrivateKey.generate() for name in ("alice", "bob", "carol")}


def policy_data(**over: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "version": 1, "quorum": 2,
        "approvers": [{"name": n, "public_key": public_key_hex(k)} for n, k in KEYS.items()],
        "assets": {"ETH": {"max_hot_ratio": "0.05", "target_hot_ratio": "0.02",
                           "hot_min": "10", "hot_max": "500"},
                   "XEM": {"max_hot_ratio": "0.05"}},
    }
    data.update(over)
    return data


def make_policy(**over: Any) -> Policy:
    return parse_policy(policy_data(**over), REG, "policy.toml")


def test_policy_roundtrips_through_its_canonical_form() -> None:
    p = make_policy()
    assert p.assets["ETH"].hot_min == 10 * 10**18
    assert policy_from_canonical(p.canonical(), REG) == p
    assert p.digest == policy_from_canonical(p.canonical(), REG).digest
    assert p.watch.compromised_withdrawals == "reject"  # the safe default for new policies
    stored = p.canonical()
    del stored["watch"]["compromised_withdrawals"]  # a policy stored before the choice
    assert policy_from_canonical(stored, REG).watch.compromised_withdrawals == "keep"


@pytest.mark.parametrize("over, message", [
    ({"quorum": 4}, "m must not exceed n"),
    ({"quorum": 0}, "quorum"),
    ({"version": None}, "version is missing"),  # an empty file: it said "version = None"
    ({"colour": "red"}, "unknown key"),
    ({"assets": {"ETH": {"max_hot_ratio": "1.5"}}}, "between 0 and 1"),
    # digits of other scripts, exponents and spaces: as an amount refuses them (１ was 100 %)
    *(({"assets": {"ETH": {"max_hot_ratio": text}}}, "is not a number")
      for text in ("１", "٠.٠٥", "5e-2", " 0.05", "0.05 ", "", "NaN", True)),
    ({"assets": {"ETH": {"max_hot_ratio": "0.05", "target_hot_ratio": "0.1"}}}, "exceeds"),
    ({"assets": {"ETH": {"hot_min": "5", "hot_max": "1"}}}, "hot_min 5 exceeds hot_max 1"),
    ({"assets": {"ETH": {"hot_min": "0.0000000000000000001"}}}, "19 decimal places"),
    ({"assets": {"DOGE": {}}}, "unknown asset"),
    ({"assets": {"ETH": {"max_hot_ratio": "0.05", "hot_limit": 1}}}, "hot_limit"),
    ({"approvers": [{"name": "a", "public_key": "xyz"}], "quorum": 1}, "64 hex digits"),
    ({"approvers": []}, "at least one approver"),
    # one key under two names: its holder alone would reach a quorum of two
    ({"approvers": [{"name": "alice", "public_key": public_key_hex(KEYS["alice"])},
                    {"name": "bob", "public_key": public_key_hex(KEYS["alice"]).upper()}]},
     r"approvers\[1\]\.public_key is alice's too"),
    ({"watch": {"compromised_withdrawals": "pay"}}, "compromised_withdrawals must be"),
])
def test_bad_policies_name_the_field(over: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        make_policy(**over)


def proposal(proposer: str = "carol", expires: timedelta = timedelta(hours=1)) -> Proposal:
    return Proposal("sweep-1", "sweep", {"asset": "ETH", "amount": "100"}, proposer, NOW,
                    NOW + expires, 1)


def approve(name: str, p: Proposal, key: Ed25519PrivateKey | None = None) -> Approval:
    return Approval(name, sign_proposal(p, key or KEYS[name]), NOW)


RULE = {"kind": "max_amount", "asset": "ETH", "amount": "5", "action": "review"}


def test_tiers_are_declared_by_the_policy_and_rules_must_name_one() -> None:
    declared = parse_policy(policy_data(screening={
        "tiers": ["vip", "new"], "rules": [{**RULE, "tier": "new"}]}), REG, "p.toml")
    assert declared.tiers == ("standard", "vip", "new")
    back = policy_from_canonical(declared.canonical(), REG)
    assert back.tiers == declared.tiers and back.digest == declared.digest
    # none declared: "standard" and the tiers the rules name; the stored form (and so the
    # digest a quorum approved before tiers could be declared) has no tiers key
    named = parse_policy(policy_data(screening={"rules": [{**RULE, "tier": "vip"}]}), REG, "p")
    assert named.tiers == ("standard", "vip") and "screening_tiers" not in named.canonical()
    for screening, message in [
        ({"tiers": ["vip"], "rules": [{**RULE, "tier": "new"}]}, "'new' is not one of the "
                                                                  "declared tiers"),
        ({"tiers": ["VIP"]}, "'VIP' is not a tier name"),
        ({"tiers": ["vip", "vip"]}, "'vip' is repeated"),
        ({"tiers": "vip"}, "must be a list"),
        ({"rules": [{**RULE, "tier": "standard "}]}, "is not a tier name"),
    ]:
        with pytest.raises(ConfigError, match=message):
            parse_policy(policy_data(screening=screening), REG, "p.toml")


def test_valid_approvals_reach_quorum() -> None:
    pol, p = make_policy(), proposal()
    a, b = approve("alice", p), approve("bob", p)
    check_approval(p, pol, a, [], NOW)
    check_approval(p, pol, b, [a], NOW)
    assert not quorum_reached(pol, [a]) and quorum_reached(pol, [a, b])
    # a policy stored before keys were checked for repeats: one key counts once
    same = dataclasses.replace(pol, approvers=tuple(
        dataclasses.replace(x, public_key=pol.approvers[0].public_key) if x.name == "bob"
        else x for x in pol.approvers))
    assert not quorum_reached(same, [a, approve("bob", p, KEYS["alice"])])


def test_forged_signature_is_refused() -> None:
    with pytest.raises(ApprovalError, match="does not verify"):
        check_approval(proposal(), make_policy(), approve("alice", proposal(),
                                                          Ed25519PrivateKey.generate()), [], NOW)


def test_signature_over_other_content_is_refused() -> None:
    other = Proposal("sweep-1", "sweep", {"asset": "ETH", "amount": "999"}, "carol", NOW,
                     NOW + timedelta(hours=1), 1)
    replayed = approve("alice", other)  # a valid signature, but over a different proposal
    with pytest.raises(ApprovalError, match="signed over different content"):
        check_approval(proposal(), make_policy(), replayed, [], NOW)


def test_self_duplicate_unknown_and_late_approvals_are_refused() -> None:
    pol, p = make_policy(), proposal()
    with pytest.raises(ApprovalError, match="proposed sweep-1 and cannot approve"):
        check_approval(p, pol, approve("carol", p), [], NOW)
    a = approve("alice", p)
    with pytest.raises(ApprovalError, match="already approved"):
        check_approval(p, pol, a, [a], NOW)
    with pytest.raises(ApprovalError, match="not an approver"):
        check_approval(p, pol, Approval("mallory", a.signature, NOW), [], NOW)
    with pytest.raises(ApprovalError, match="expired"):
        check_approval(p, pol, a, [], NOW + timedelta(hours=2))


def pos(hot: int, cold: int, owed: int, warm: int = 0, asset: str = "ETH") -> AssetPosition:
    return AssetPosition(asset, 10, owed, 0, {"hot": hot, "warm": warm, "cold": cold})


def test_hot_ratio_breach_and_sweep_to_target() -> None:
    pol = make_policy()
    e = 10**18
    position = pos(hot=300 * e, cold=700 * e, owed=900 * e)  # 30% hot
    codes = {f.code for f in evaluate([position], pol)}
    assert "hot_ratio_breach" in codes
    (move,) = rebalance([position], pol)
    assert move.kind == "sweep" and move.amount == 300 * e - 20 * e  # down to 2% of 1000
    after = pos(hot=20 * e, cold=980 * e, owed=900 * e)
    assert "hot_ratio_breach" not in {f.code for f in evaluate([after], pol)}
    assert rebalance([after], pol) == []


def test_exactly_at_the_limit_is_not_a_breach() -> None:
    pol = make_policy()
    assert not [f for f in evaluate([pos(hot=50, cold=950, owed=0, asset="XEM")], pol)
                if f.code == "hot_ratio_breach"]
    assert [f for f in evaluate([pos(hot=51, cold=949, owed=0, asset="XEM")], pol)
            if f.code == "hot_ratio_breach"]


def test_warm_counts_as_online_unless_the_policy_says_otherwise() -> None:
    position = pos(hot=10, warm=40, cold=950, owed=0, asset="XEM")
    assert [f for f in evaluate([position], make_policy()) if f.code == "hot_ratio_breach"] == []
    position = pos(hot=10, warm=41, cold=949, owed=0, asset="XEM")
    assert [f for f in evaluate([position], make_policy()) if f.code == "hot_ratio_breach"]
    relaxed = make_policy(warm_counts_as_hot=False)
    assert not [f for f in evaluate([position], relaxed) if f.code == "hot_ratio_breach"]


def test_performance_guarantee() -> None:
    # customers are owed 1000; 50 is online, so own offline holdings must be >= 50
    ok = pos(hot=50, cold=1000, owed=1000, asset="XEM")
    assert guarantee(ok).required == 50 and guarantee(ok).shortfall == 0
    short = pos(hot=50, cold=970, owed=1000, asset="XEM")
    assert guarantee(short).shortfall == 30
    assert "guarantee_shortfall" in {f.code for f in evaluate([short], make_policy())}


def test_refill_below_minimum_within_the_ratio() -> None:
    e = 10**18
    position = pos(hot=2 * e, cold=998 * e, owed=500 * e)
    (move,) = rebalance([position], make_policy())
    assert move.kind == "refill" and move.amount == 8 * e


def test_total_hot_ratio_in_yen() -> None:
    pol = make_policy()
    # the ordinance weighs what customers are owed: the share of it not held in cold wallets
    positions = [pos(hot=4, cold=96, owed=100, asset="XEM"), pos(hot=0, cold=100, owed=100)]
    # each asset within 5%: (4 + 0) / 200 -> fine
    assert "total_hot_ratio_breach" not in {
        f.code for f in evaluate(positions, pol, {"XEM": Decimal(1), "ETH": Decimal(1)})}
    positions = [pos(hot=5, cold=95, owed=100, asset="XEM"), pos(hot=6, cold=94, owed=100)]
    findings = {f.code for f in evaluate(positions, pol, {"XEM": Decimal(1), "ETH": Decimal(1)})}
    assert "total_hot_ratio_breach" in findings and "hot_ratio_breach" in findings


def test_total_hot_ratio_weighs_each_asset_by_its_own_decimals() -> None:
    """300 ETH hot (18 decimals) beside 549 million XEM cold (6 decimals): by yen the online
    share is tiny; counted in raw minor units the wei would swamp it (a bug once)."""
    from kinko.domain.custody import Wallet
    from kinko.domain.ledger import Posting
    from kinko.ports import FixedClock
    from kinko.prices import FixedPrices
    from kinko.services.custody import Custody
    from kinko.services.ledger import Ledger
    from kinko.store import open_store, upgrade

    store = open_store("sqlite://")
    upgrade(store)
    ledger = Ledger(store, FixedClock(), AssetRegistry.default())
    for w in (Wallet("eth-hot", "ETH", "hot"), Wallet("eth-cold", "ETH", "cold"),
              Wallet("xem-cold", "XEM", "cold")):
        ledger.add_wallet(w)
    e, x = 10**18, 10**6
    ledger.post("open", [Posting("wallet:eth-hot", "ETH", 300 * e),
                         Posting("wallet:eth-cold", "ETH", 4_600 * e),
                         Posting("wallet:xem-cold", "XEM", 549_000_000 * x),
                         Posting("customer:C1", "ETH", -4_900 * e),
                         Posting("customer:C1", "XEM", -549_000_000 * x)], source="opening")
    custody = Custody(ledger, prices=FixedPrices({"ETH": Decimal(120_000),
                                                 "XEM": Decimal("88.549")}))
    custody.policy = lambda at=None: make_policy()  # type: ignore[method-assign]
    codes = {f.code for f in custody.check(reconcile=False).findings}
    assert "total_hot_ratio_breach" not in codes  # ¥36M online of ¥49.2B: 0.07%
    assert "hot_ratio_breach" in codes  # ETH alone: 6.1%, above its own 5%
    store.close()
