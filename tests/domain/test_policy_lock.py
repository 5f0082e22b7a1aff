"""Loosening waits, tightening is immediate: the field-by-field comparison of two policy
versions, the effective-version rule (time lock, vetoes, supersession) and a property over
random pairs: a pair that only tightens is never delayed, any loosening is."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from kinko.domain.approvals import public_key_hex
from kinko.domain.money import AssetRegistry
from kinko.domain.policy import Policy, parse_policy
from kinko.domain.policy_lock import (
    DEFAULT_TIME_LOCK,
    VersionFacts,
    Veto,
    check_veto,
    compare,
    effective_version,
    standings,
    veto_bytes,
)
from kinko.errors import ApprovalError

REG = AssetRegistry.default()
T0 = datetime(2018, 1, 26, 9, 0, tzinfo=UTC)
KEYS = {n: Ed25519PrivateKey.generate() for n in ("alice", "bob", "carol", "dave")}
EMERGENCY = "0x" + "ee" * 20

# every knob's settings, TIGHTEST FIRST: a later index is looser than an earlier one
KNOBS: dict[str, list[Any]] = {
    "quorum": [3, 2, 1],
    "dave": [False, True],  # a fourth approver
    "ttl": [12, 24, 72],
    "total": ["0.01", "0.05", "0.2"],
    "warm_hot": [True, False],
    "eth_max": ["0.02", "0.05", "0.1"],
    "eth_target": ["0.005", "0.01", "0.02"],
    "hot_min": ["0", "10", "50"],
    "hot_max": ["100", "500", None],
    "emergency": [None, EMERGENCY],
    "xem_governed": [True, False],
    "big_present": [True, False],
    "big_action": ["block", "review"],
    "big_amount": ["1", "5", "50"],
    "big_tier": [None, "new"],
    "window_duration": ["30d", "24h", "1h"],
    "window_count": [1, 10, None],
    "window_scope": ["all", "customer"],
    "cooling": ["72h", "24h", "1h"],
    "hours": [(0, 8), (1, 6), (2, 4)],
    "zscore": ["2", "3.5", "10"],
    "deny_present": [True, False],
    "vip_tier": [False, True],
    "sweep": ["quorum", "auto"],
    "trip_global": [True, False],
    "drop_percent": ["10", "20", "50"],
    "drop_window": ["4h", "1h", "10m"],
    "compromised": ["reject", "keep"],
}
NAMES = list(KNOBS)
BASE = {name: 1 if len(values) > 2 else 0 for name, values in KNOBS.items()}


def build(idx: dict[str, int], version: int = 1) -> Policy:
    k = {name: KNOBS[name][i] for name, i in idx.items()}
    names = ["alice", "bob", "carol"] + (["dave"] if k["dave"] else [])
    eth: dict[str, Any] = {"max_hot_ratio": k["eth_max"], "target_hot_ratio": k["eth_target"],
                           "hot_min": k["hot_min"]}
    if k["hot_max"] is not None:
        eth["hot_max"] = k["hot_max"]
    if k["emergency"] is not None:
        eth["emergency_address"] = k["emergency"]
    assets: dict[str, Any] = {"ETH": eth}
    if k["xem_governed"]:
        assets["XEM"] = {"max_hot_ratio": "0.05"}
    rules: list[dict[str, Any]] = []
    if k["big_present"]:
        big = {"kind": "max_amount", "name": "big", "asset": "ETH", "amount": k["big_amount"],
               "action": k["big_action"]}
        if k["big_tier"] is not None:
            big["tier"] = k["big_tier"]
        rules.append(big)
    window: dict[str, Any] = {"kind": "window", "name": "daily", "asset": "ETH",
                              "scope": k["window_scope"], "duration": k["window_duration"],
                              "max_amount": "100", "action": "review"}
    if k["window_count"] is not None:
        window["max_count"] = k["window_count"]
    rules.append(window)
    rules.append({"kind": "allow_list", "name": "allow", "cooling_off": k["cooling"],
                  "action": "review"})
    rules.append({"kind": "unusual_hour", "name": "night", "start_hour": k["hours"][0],
                  "end_hour": k["hours"][1], "action": "review"})
    rules.append({"kind": "zscore", "name": "odd", "threshold": k["zscore"],
                  "action": "review"})
    if k["deny_present"]:
        rules.append({"kind": "deny_list", "name": "deny", "action": "block"})
    data: dict[str, Any] = {
        "version": version, "quorum": k["quorum"], "proposal_ttl_hours": k["ttl"],
        "total_max_hot_ratio": k["total"], "warm_counts_as_hot": k["warm_hot"],
        "approvers": [{"name": n, "public_key": public_key_hex(KEYS[n])} for n in names],
        "assets": assets,
        "screening": {"tiers": ["new", *(["vip"] if k["vip_tier"] else [])], "rules": rules},
        "watch": {"emergency_sweep": k["sweep"], "trip_global": k["trip_global"],
                  "balance_drop_percent": k["drop_percent"],
                  "balance_drop_window": k["drop_window"],
                  "compromised_withdrawals": k["compromised"]},
    }
    return parse_policy(data, REG, f"v{version}.toml")


def versions(old: Policy, new: Policy, *, vetoes: tuple[Veto, ...] = (),
             lock: timedelta = DEFAULT_TIME_LOCK) -> list[VersionFacts]:
    return [VersionFacts(old.version, old, T0 - timedelta(days=30), None, lock),
            VersionFacts(new.version, new, T0, old.version, lock, vetoes)]


def effective_at(facts: list[VersionFacts], at: datetime) -> int | None:
    found = effective_version(facts, at, REG)
    return None if found is None else found.version


STEPS = [(name, i) for name, values in KNOBS.items() for i in range(len(values))
         if i != BASE[name]]


@pytest.mark.parametrize(("knob", "index"), STEPS, ids=[f"{n}-{i}" for n, i in STEPS])
def test_each_loosening_waits_and_each_tightening_is_immediate(knob: str, index: int) -> None:
    old = build(BASE)
    new = build({**BASE, knob: index}, version=2)
    diff = compare(old, new, REG)
    looser = index > BASE[knob]
    assert diff.changes, f"{knob}: a change nobody sees"
    assert diff.loosens is looser, [c.describe() for c in diff.changes]
    facts = versions(old, new)
    assert effective_at(facts, T0) == (1 if looser else 2)
    assert effective_at(facts, T0 + DEFAULT_TIME_LOCK - timedelta(seconds=1)) == \
        (1 if looser else 2)
    assert effective_at(facts, T0 + DEFAULT_TIME_LOCK) == 2


@settings(max_examples=80, deadline=None)
@given(st.lists(st.integers(0, 2), min_size=len(NAMES), max_size=len(NAMES)),
       st.lists(st.integers(0, 2), min_size=len(NAMES), max_size=len(NAMES)))
def test_only_tightening_is_never_delayed_and_any_loosening_is(a: list[int],
                                                                b: list[int]) -> None:
    old_idx = {n: min(i, len(KNOBS[n]) - 1) for n, i in zip(NAMES, a, strict=True)}
    new_idx = {n: min(i, len(KNOBS[n]) - 1) for n, i in zip(NAMES, b, strict=True)}
    old, new = build(old_idx), build(new_idx, version=2)
    # the "big" rule's settings count only while it exists in both versions
    both = old_idx["big_present"] == new_idx["big_present"] == 0
    counted = [n for n in NAMES if both or n not in ("big_action", "big_amount", "big_tier")]
    loosens = any(new_idx[n] > old_idx[n] for n in counted)
    diff = compare(old, new, REG)
    assert diff.loosens is loosens, [c.describe() for c in diff.changes]
    assert bool(diff.changes) is any(new_idx[n] != old_idx[n] for n in counted)
    facts = versions(old, new)
    assert effective_at(facts, T0) == (1 if loosens else 2)
    assert effective_at(facts, T0 + DEFAULT_TIME_LOCK) == 2


def test_a_version_that_tightens_and_loosens_waits_as_a_whole() -> None:
    old = build(BASE)
    new = build({**BASE, "quorum": 0, "big_amount": 2}, version=2)  # quorum up, limit up
    diff = compare(old, new, REG)
    assert [c.field for c in diff.tightenings] == ["quorum"]
    assert [c.field for c in diff.loosenings] == ["screening.rules.big.amount"]
    assert effective_at(versions(old, new), T0 + timedelta(hours=47)) == 1


def test_changes_the_knobs_do_not_cover() -> None:
    old = build(BASE)
    rekeyed = replace(old, version=2, approvers=tuple(
        replace(a, public_key=public_key_hex(Ed25519PrivateKey.generate()))
        if a.name == "bob" else a for a in old.approvers))
    assert compare(old, rekeyed, REG).loosens  # a new key for bob can approve
    fewer = replace(old, version=2, approvers=old.approvers[:3], quorum=2)
    assert not compare(build({**BASE, "dave": 1}), fewer, REG).loosens  # dave removed
    cold = replace(old, version=2, assets={**old.assets, "ETH": replace(
        old.assets["ETH"], cold_wallet="eth-cold-2")})
    assert [c.field for c in compare(old, cold, REG).loosenings] == ["assets.ETH.cold_wallet"]
    renamed = replace(old, version=2, screening_rules=tuple(
        {**r, "name": "huge"} if r["name"] == "big" else r for r in old.screening_rules))
    assert compare(old, renamed, REG).loosens  # a renamed rule: removed, then added
    allow_rule = {"kind": "max_amount", "name": "fine", "asset": "ETH", "amount": "1",
                  "action": "allow"}
    with_allow = replace(old, version=2, screening_rules=(*old.screening_rules, allow_rule))
    assert compare(old, with_allow, REG).changes == ()  # an allow rule decides nothing
    assert compare(with_allow, old, REG).changes == ()
    eth_only = replace(old, version=2, screening_rules=tuple(
        {**r, "asset": "ETH"} if r["name"] == "odd" else r for r in old.screening_rules))
    assert compare(old, eth_only, REG).loosens  # the rule no longer covers every asset
    assert not compare(eth_only, old, REG).loosens


def sign_veto(name: str, policy: Policy, at: datetime) -> Veto:
    signature = KEYS[name].sign(veto_bytes(policy.version, policy.digest)).hex()
    return Veto(policy.version, name, signature, at, "not agreed")


def test_one_approver_vetoes_a_pending_loosening_for_good() -> None:
    old = build(BASE)
    new = build({**BASE, "quorum": 2}, version=2)  # 2 → 1 approver needed
    veto = sign_veto("carol", new, T0 + timedelta(hours=1))
    facts = versions(old, new, vetoes=(veto,))
    assert effective_at(facts, T0 + timedelta(days=365)) == 1
    (second, first) = standings(facts, T0 + timedelta(days=3), REG)
    assert (second.state, first.state) == ("vetoed", "effective")
    assert second.vetoed_by == (veto,)


def test_a_veto_that_does_not_verify_counts_for_nothing() -> None:
    old = build(BASE)
    new = build({**BASE, "quorum": 2}, version=2)
    other = build({**BASE, "quorum": 2, "ttl": 2}, version=2)
    forged = [Veto(2, "carol", "00" * 64, T0, ""),           # no signature
              sign_veto("dave", new, T0),                      # not an approver of v1
              sign_veto("carol", other, T0),                   # over another version
              sign_veto("carol", new, T0 + DEFAULT_TIME_LOCK)]  # after it took effect
    for veto in forged:
        assert effective_at(versions(old, new, vetoes=(veto,)), T0 + DEFAULT_TIME_LOCK) == 2
    with pytest.raises(ApprovalError, match="not an approver"):
        check_veto(forged[1], new, old)
    with pytest.raises(ApprovalError, match="does not verify"):
        check_veto(forged[2], new, old)


def test_a_tightening_loaded_while_a_loosening_waits_supersedes_it() -> None:
    v1 = build(BASE)
    v2 = build({**BASE, "big_amount": 2}, version=2)  # looser: waits
    v3 = build({**BASE, "big_amount": 0}, version=3)  # tighter than v1: at once
    facts = [*versions(v1, v2),
             VersionFacts(3, v3, T0 + timedelta(hours=1), 1, DEFAULT_TIME_LOCK)]
    assert effective_at(facts, T0 + timedelta(minutes=30)) == 1
    assert effective_at(facts, T0 + timedelta(hours=1)) == 3
    assert effective_at(facts, T0 + timedelta(days=30)) == 3  # v2 never takes effect
    states = {s.facts.version: s.state for s in standings(facts, T0 + timedelta(days=3), REG)}
    assert states == {3: "effective", 2: "superseded", 1: "superseded"}


def test_a_version_no_quorum_approved_under_an_earlier_one_never_takes_effect() -> None:
    v1 = build(BASE)
    tighter = build({**BASE, "ttl": 0}, version=3)
    # its base is missing, names no proposal, claims to be a second bootstrap, or is later
    for base in (2, -1, None, 3):
        facts = [VersionFacts(1, v1, T0 - timedelta(days=9), None, DEFAULT_TIME_LOCK),
                 VersionFacts(3, tighter, T0, base, DEFAULT_TIME_LOCK)]
        assert effective_at(facts, T0 + timedelta(days=900)) == 1
        assert standings(facts, T0, REG)[0].state == "unverifiable"
    unreadable = [VersionFacts(1, v1, T0 - timedelta(days=9), None, DEFAULT_TIME_LOCK),
                  VersionFacts(2, None, T0, 1, DEFAULT_TIME_LOCK)]
    assert effective_at(unreadable, T0 + timedelta(days=9)) == 1


def test_a_floor_on_the_lock_holds_whatever_was_recorded() -> None:
    old, new = build(BASE), build({**BASE, "ttl": 2}, version=2)
    facts = versions(old, new, lock=timedelta(0))  # recorded without a lock
    assert effective_at(facts, T0) == 2
    assert effective_version(facts, T0 + timedelta(hours=47), REG,
                             min_lock=DEFAULT_TIME_LOCK).version == 1  # type: ignore[union-attr]
