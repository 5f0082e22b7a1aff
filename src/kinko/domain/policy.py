"""The custody policy: limits per asset, who approves, and how many must.

A policy is a versioned TOML file. Every asset listed gets limits; approvers are named with
their Ed25519 public keys; ``quorum`` of them (m of n) must sign any move of funds and any
new version of the policy itself::

    version = 2
    quorum = 2
    proposal_ttl_hours = 24
    total_max_hot_ratio = "0.05"     # all customer crypto, valued in yen (the ordinance)

    [[approvers]]
    name = "alice"
    public_key = "b2c1...(64 hex digits)"

    [assets.ETH]
    max_hot_ratio = "0.05"           # share of holdings that may be online
    target_hot_ratio = "0.03"        # a sweep brings the hot share down to this
    hot_min = "10"                   # refill below this (whole units)
    hot_max = "500"                  # sweep above this, whatever the ratio
    cold_wallet = "eth-cold"         # where sweeps go
    emergency_address = "0x…"        # a fresh cold address for the emergency sweep

    [screening]
    tiers = ["vip", "new"]           # customers' tiers besides "standard" (the tier of every
                                     # customer kinko has none recorded for)

    [[screening.rules]]              # the ordered rule pipeline (kinko.domain.screening)
    kind = "max_amount"
    asset = "ETH"
    amount = "5"
    tier = "new"                     # a tier a rule names must be declared above
    action = "review"

    [watch]
    emergency_sweep = "quorum"       # or "auto": pre-authorised, sent the moment a theft shows
    trip_global = false              # a theft trips the asset's breaker; true: every asset's
    balance_drop_percent = "20"      # alarm when a hot balance falls this much, unexplained,
    balance_drop_window = "1h"       # within this window
    compromised_withdrawals = "reject"  # or "keep": withdrawals waiting in a wallet whose key
                                        # leaked are rejected (funds back to the customers)
                                        # so the emergency sweep can take everything

A customer's tier is recorded in kinko (``kinko customers tier``, the ``tier`` column of an
import, the API), always one of the policy's tiers; a withdrawal request cannot name it.
A policy that declares no tiers has "standard" and the tiers its rules name.

Ratios are exact decimals in [0, 1]; amounts are parsed exactly in the asset's units.
Unknown keys and impossible values (ratio > 1, m > n, min > max) are refused with the field
named; nothing is loaded.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from functools import cached_property
from typing import Any

from kinko.domain.addresses import canonical_address
from kinko.domain.messages import Message, Units, msg, value_shown
from kinko.domain.money import Asset, AssetRegistry, format_units, parse_units
from kinko.domain.screening import parse_duration, parse_rules, place_said, refusal_said
from kinko.errors import ConfigError, KinkoError

__all__ = ["DEFAULT_TIER", "Approver", "AssetPolicy", "Policy", "WatchPolicy", "parse_policy"]

DEFAULT_TIER = "standard"  # the tier of a customer kinko has no tier recorded for
_TIER = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")

_TOP = {"version", "quorum", "proposal_ttl_hours", "total_max_hot_ratio", "warm_counts_as_hot",
        "approvers", "assets", "screening", "watch"}
_ASSET = {"max_hot_ratio", "target_hot_ratio", "hot_min", "hot_max", "cold_wallet",
          "emergency_address"}
_WATCH = {"emergency_sweep", "trip_global", "balance_drop_percent", "balance_drop_window",
          "compromised_withdrawals"}
# the highest version number: the store keeps it as a 32-bit integer (PostgreSQL's INTEGER)
VERSION_MAX = 2**31 - 1
# the longest a proposal may wait for its quorum: ten years (a proposal's expiry is a time
# kinko computes and stores; hours beyond any calendar overflowed there, after the policy
# was in force, and no proposal, not even the next policy's, could be made)
TTL_HOURS_MAX = 10 * 8760


@dataclass(frozen=True)
class Approver:
    name: str
    public_key: str  # 64 hex digits: a raw Ed25519 public key


@dataclass(frozen=True)
class AssetPolicy:
    asset: str
    max_hot_ratio: Decimal = Decimal("0.05")
    target_hot_ratio: Decimal = Decimal("0.025")
    hot_min: int = 0
    hot_max: int | None = None
    cold_wallet: str | None = None
    emergency_address: str | None = None  # a fresh cold address the emergency sweep goes to


@dataclass(frozen=True)
class WatchPolicy:
    """What the watch does when an outflow nobody approved shows up."""

    emergency_sweep: str = "quorum"  # "auto": pre-authorised by this policy's quorum
    trip_global: bool = False
    balance_drop_percent: Decimal = Decimal("20")
    balance_drop_window: timedelta = timedelta(hours=1)
    # "reject": withdrawals not yet sent from a wallet whose key leaked are rejected (their
    # reservations released) so the emergency sweep moves everything; "keep": they stay
    # reserved in the wallet, within the attacker's reach, until people decide
    compromised_withdrawals: str = "reject"

    def canonical(self) -> dict[str, Any]:
        return {"emergency_sweep": self.emergency_sweep, "trip_global": self.trip_global,
                "balance_drop_percent": str(self.balance_drop_percent),
                "balance_drop_window_s": int(self.balance_drop_window.total_seconds()),
                "compromised_withdrawals": self.compromised_withdrawals}


def plain_decimal(value: Decimal) -> str:
    """``value`` without an exponent or trailing zeros: ``20``, ``0.05``."""
    return format(value.normalize(), "f")


@dataclass(frozen=True)
class Policy:
    version: int
    quorum: int
    approvers: tuple[Approver, ...]
    assets: Mapping[str, AssetPolicy] = field(default_factory=dict)
    total_max_hot_ratio: Decimal = Decimal("0.05")
    proposal_ttl_hours: int = 24
    warm_counts_as_hot: bool = True
    screening_rules: tuple[dict[str, Any], ...] = ()  # checked by screening.parse_rules
    watch: WatchPolicy = WatchPolicy()
    declared_tiers: tuple[str, ...] = ()  # [screening] tiers, besides the default

    def approver(self, name: str) -> Approver | None:
        return next((a for a in self.approvers if a.name == name), None)

    @property
    def tiers(self) -> tuple[str, ...]:
        """The customers' tiers: the default, then those declared (or, when none are, those
        the rules name)."""
        named = self.declared_tiers or tuple(dict.fromkeys(
            str(r["tier"]) for r in self.screening_rules if r.get("tier") is not None))
        return (DEFAULT_TIER, *(t for t in named if t != DEFAULT_TIER))

    def canonical(self) -> dict[str, Any]:
        """A JSON-able form with exact decimals as strings: what is hashed and stored."""
        return {
            "version": self.version,
            "quorum": self.quorum,
            "proposal_ttl_hours": self.proposal_ttl_hours,
            "total_max_hot_ratio": str(self.total_max_hot_ratio),
            "warm_counts_as_hot": self.warm_counts_as_hot,
            "approvers": [{"name": a.name, "public_key": a.public_key} for a in self.approvers],
            "assets": {
                s: {"max_hot_ratio": str(p.max_hot_ratio),
                    "target_hot_ratio": str(p.target_hot_ratio),
                    "hot_min": str(p.hot_min),
                    "hot_max": None if p.hot_max is None else str(p.hot_max),
                    "cold_wallet": p.cold_wallet,
                    "emergency_address": p.emergency_address}
                for s, p in sorted(self.assets.items())
            },
            "screening_rules": [dict(r) for r in self.screening_rules],
            "watch": self.watch.canonical(),
            # only when declared: the digests of policies stored before tiers were declared
            # stay what their quorum approved
            **({"screening_tiers": list(self.declared_tiers)} if self.declared_tiers else {}),
        }

    def readable(self, assets: Mapping[str, Asset]) -> dict[str, Any]:
        """The canonical form as a person reads it: hot wallet bounds in whole units with
        thousands separators and their asset, percentages as plain numbers (``20``, never
        ``2E+1``). What is hashed and approved stays :meth:`canonical`."""
        body = self.canonical()
        for symbol, shown in body["assets"].items():
            for bound in ("hot_min", "hot_max"):
                if shown[bound] is not None:
                    shown[bound] = (f"{format_units(int(shown[bound]), assets[symbol], group=True)}"
                                    f" {symbol}")
        body["watch"]["balance_drop_percent"] = plain_decimal(self.watch.balance_drop_percent)
        body["total_max_hot_ratio"] = plain_decimal(self.total_max_hot_ratio)
        for shown in body["assets"].values():
            for ratio in ("max_hot_ratio", "target_hot_ratio"):
                shown[ratio] = plain_decimal(Decimal(shown[ratio]))
        return body

    @cached_property
    def digest(self) -> str:
        """SHA-256 of the canonical JSON (computed once: a policy is immutable)."""
        text = json.dumps(self.canonical(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()


def _at(where: str) -> Message | str:
    """Where in a policy file (``FILE: field``), as an error's catalog message names it."""
    return place_said(where)


# a ratio written as text: ASCII digits and one point, as an amount is (Decimal() would
# also take "１", "٠.٠٥", "5e-2" and " 0.05")
_PLAIN_RATIO = re.compile(r"[0-9]+(?:\.[0-9]+)?|\.[0-9]+")


def _ratio(value: Any, where: str) -> Decimal:
    try:
        if isinstance(value, bool) or (isinstance(value, str)
                                       and not _PLAIN_RATIO.fullmatch(value)):
            raise InvalidOperation
        ratio = Decimal(str(value))
    except InvalidOperation:
        raise ConfigError(f"{where} = {value!r} is not a number",
                          says=msg("error.policy_file.not_number", where=_at(where),
                                   value=value_shown(value))) from None
    if not ratio.is_finite() or not Decimal(0) <= ratio <= Decimal(1):
        raise ConfigError(f"{where} = {value!r} must be between 0 and 1",
                          says=msg("error.policy_file.ratio", where=_at(where),
                                   value=value_shown(value)))
    return ratio


def _whole(value: Any, where: str, low: int, high: int | None = None) -> int:
    if value is None:  # not written at all (an empty file): said so, not as Python's None
        raise ConfigError(f"{where} is missing: write a whole number ≥ {low}",
                          says=msg("error.policy_file.whole_missing", where=_at(where),
                                   low=low))
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(f"{where} = {value!r} must be a whole number ≥ {low}",
                          says=msg("error.policy_file.whole", where=_at(where),
                                   value=value_shown(value), low=low))
    if high is not None and value > high:
        raise ConfigError(f"{where} = {value_shown(value)} must be at most {high:,}",
                          says=msg("error.policy_file.at_most", where=_at(where),
                                   value=value_shown(value), high=f"{high:,}"))
    return value


def _unknown_keys(where: str, keys: list[str]) -> ConfigError:
    return ConfigError(f"{where}: unknown key(s) {', '.join(keys)}",
                       says=msg("error.policy_file.unknown_keys", where=_at(where),
                                keys=", ".join(keys)[:200]))


def parse_policy(data: Mapping[str, Any], registry: AssetRegistry, where: str) -> Policy:
    """Check a policy read from TOML; raise :class:`ConfigError` naming the field."""
    unknown = sorted(set(data) - _TOP)
    if unknown:
        raise _unknown_keys(where, unknown)
    version = _whole(data.get("version"), f"{where}: version", 1, VERSION_MAX)
    approvers: list[Approver] = []
    seen: set[str] = set()
    listed = data.get("approvers") or []
    if not isinstance(listed, list):
        raise ConfigError(f"{where}: approvers must be a list of [[approvers]] tables",
                          says=msg("error.policy_file.approvers_list", where=_at(where)))
    for i, raw in enumerate(listed):
        label = f"{where}: approvers[{i}]"
        if not isinstance(raw, Mapping) or set(raw) != {"name", "public_key"}:
            raise ConfigError(f"{label} needs exactly name and public_key",
                              says=msg("error.policy_file.approver_keys", where=_at(label)))
        if not isinstance(raw["name"], str):
            raise ConfigError(f"{label}.name must be text, not {value_shown(raw['name'])}",
                              says=msg("error.policy_file.approver_name_text", where=_at(label),
                                       name=value_shown(raw["name"])))
        name, key = raw["name"].strip(), str(raw["public_key"]).strip().lower()
        if not name or name in seen:
            raise ConfigError(f"{label}.name {name!r} is empty or repeated",
                              says=msg("error.policy_file.approver_name", where=_at(label),
                                       name=value_shown(name)))
        if len(key) != 64 or any(c not in "0123456789abcdef" for c in key):
            raise ConfigError(f"{label}.public_key must be 64 hex digits (a raw Ed25519 key)",
                              says=msg("error.policy_file.public_key", where=_at(label)))
        other = next((a.name for a in approvers if a.public_key == key), None)
        if other is not None:  # one key holder would count twice towards the quorum
            raise ConfigError(f"{label}.public_key is {other}'s too: each approver signs with "
                              "a key of their own", says=msg(
                                  "error.policy_file.public_key_twice", where=_at(label),
                                  other=value_shown(other)))
        seen.add(name)
        approvers.append(Approver(name, key))
    if not approvers:
        raise ConfigError(f"{where}: at least one approver is needed",
                          says=msg("error.policy_file.no_approver", where=_at(where)))
    quorum = _whole(data.get("quorum"), f"{where}: quorum", 1)
    if quorum > len(approvers):
        raise ConfigError(f"{where}: quorum = {quorum} but only {len(approvers)} approver(s): "
                          "m must not exceed n",
                          says=msg("error.policy_file.quorum", where=_at(where), quorum=quorum,
                                   approvers=len(approvers)))
    assets: dict[str, AssetPolicy] = {}
    tables = data.get("assets") or {}
    if not isinstance(tables, Mapping):
        raise ConfigError(f"{where}: assets must be a table",
                          says=msg("error.policy_file.not_table", where=_at(f"{where}: assets")))
    for symbol, raw in tables.items():
        label = f"{where}: assets.{symbol}"
        try:
            asset = registry[symbol]
        except KinkoError as exc:
            raise ConfigError(f"{label}: {exc.message}",
                              says=msg("error.policy_file.at", where=_at(label),
                                       problem=exc.said())) from None
        if not isinstance(raw, Mapping):
            raise ConfigError(f"{label} must be a table",
                              says=msg("error.policy_file.not_table", where=_at(label)))
        bad = sorted(set(raw) - _ASSET)
        if bad:
            raise _unknown_keys(label, bad)
        max_ratio = _ratio(raw.get("max_hot_ratio", "0.05"), f"{label}.max_hot_ratio")
        target = _ratio(raw.get("target_hot_ratio", str(max_ratio / 2)),
                        f"{label}.target_hot_ratio")
        if target > max_ratio:
            raise ConfigError(f"{label}.target_hot_ratio {target} exceeds max_hot_ratio "
                              f"{max_ratio}",
                              says=msg("error.policy_file.target_over_max", where=_at(label),
                                       target=str(target)[:80], max=str(max_ratio)[:80]))
        try:
            hot_min = parse_units(str(raw.get("hot_min", "0")), asset)
            hot_max = (parse_units(str(raw["hot_max"]), asset) if "hot_max" in raw else None)
        except KinkoError as exc:
            raise ConfigError(f"{label}: {exc.message}",
                              says=msg("error.policy_file.at", where=_at(label),
                                       problem=exc.said())) from None
        if hot_max is not None and hot_min > hot_max:
            raise ConfigError(f"{label}: hot_min {format_units(hot_min, asset)} exceeds hot_max "
                              f"{format_units(hot_max, asset)}",
                              says=msg("error.policy_file.hot_min_over_max", where=_at(label),
                                       min=Units(hot_min, asset.symbol, asset.decimals),
                                       max=Units(hot_max, asset.symbol, asset.decimals)))
        cold = raw.get("cold_wallet")
        emergency = raw.get("emergency_address")
        if emergency is not None:
            try:
                emergency = canonical_address(str(emergency), asset.chain)
            except KinkoError as exc:
                raise ConfigError(f"{label}.emergency_address: {exc.message}",
                                  says=msg("error.policy_file.at",
                                           where=_at(f"{label}.emergency_address"),
                                           problem=exc.said())) from None
        assets[asset.symbol] = AssetPolicy(asset.symbol, max_ratio, target, hot_min, hot_max,
                                           str(cold) if cold is not None else None, emergency)
    screening = data.get("screening") or {}
    if not isinstance(screening, Mapping) or set(screening) - {"rules", "tiers"}:
        raise ConfigError(f"{where}: [screening] takes tiers and a list of "
                          "[[screening.rules]]",
                          says=msg("error.policy_file.screening", where=_at(where)))
    listed_rules = screening.get("rules") or []
    if not isinstance(listed_rules, list):
        raise ConfigError(f"{where}: [screening] takes tiers and a list of "
                          "[[screening.rules]]",
                          says=msg("error.policy_file.screening", where=_at(where)))
    parse_rules(listed_rules, registry, where)  # refuse a bad rule when the policy is loaded
    raw_rules = tuple(dict(r) for r in listed_rules)
    tiers = _tiers(screening.get("tiers"), raw_rules, f"{where}: screening")
    ttl = _whole(data.get("proposal_ttl_hours", 24), f"{where}: proposal_ttl_hours", 1,
                 TTL_HOURS_MAX)
    warm = data.get("warm_counts_as_hot", True)
    if not isinstance(warm, bool):
        raise ConfigError(f"{where}: warm_counts_as_hot must be true or false",
                          says=msg("error.policy_file.true_false",
                                   where=_at(f"{where}: warm_counts_as_hot")))
    return Policy(version, quorum, tuple(approvers), assets,
                  _ratio(data.get("total_max_hot_ratio", "0.05"),
                         f"{where}: total_max_hot_ratio"), ttl, warm, raw_rules,
                  _watch(data.get("watch") or {}, f"{where}: watch"), tiers)


def _tiers(raw: Any, rules: tuple[dict[str, Any], ...], where: str) -> tuple[str, ...]:
    """The declared tiers (besides the default); every tier a rule names must be one."""
    declared: list[str] = []
    if raw is not None:
        if not isinstance(raw, list):
            raise ConfigError(f"{where}.tiers must be a list of tier names",
                              says=msg("error.policy_file.tiers_list", where=_at(where)))
        for name in raw:
            if not isinstance(name, str) or not _TIER.fullmatch(name):
                raise ConfigError(f"{where}.tiers: {name!r} is not a tier name (1-32 lower-case "
                                  "letters, digits, - and _)",
                                  says=msg("error.policy_file.tier_name",
                                           where=_at(f"{where}.tiers"), tier=value_shown(name)))
            if name in declared:
                raise ConfigError(f"{where}.tiers: {name!r} is repeated",
                                  says=msg("error.policy_file.tier_repeated",
                                           where=_at(f"{where}.tiers"), tier=value_shown(name)))
            if name != DEFAULT_TIER:
                declared.append(name)
    for i, rule in enumerate(rules):
        tier = rule.get("tier")
        if tier is None:
            continue
        if not isinstance(tier, str) or not _TIER.fullmatch(tier):
            raise ConfigError(f"{where}.rules[{i}].tier: {tier!r} is not a tier name (1-32 "
                              "lower-case letters, digits, - and _)",
                              says=msg("error.policy_file.tier_name",
                                       where=_at(f"{where}.rules[{i}].tier"),
                                       tier=value_shown(tier)))
        if raw is not None and tier != DEFAULT_TIER and tier not in declared:
            raise ConfigError(f"{where}.rules[{i}].tier: {tier!r} is not one of the declared "
                              f"tiers ({', '.join([DEFAULT_TIER, *declared])})",
                              says=msg("error.policy_file.tier_undeclared",
                                       where=_at(f"{where}.rules[{i}].tier"),
                                       tier=value_shown(tier),
                                       tiers=", ".join([DEFAULT_TIER, *declared])[:300]))
    return tuple(declared)


def _watch(raw: Any, where: str) -> WatchPolicy:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where} must be a table",
                          says=msg("error.policy_file.not_table", where=_at(where)))
    bad = sorted(set(raw) - _WATCH)
    if bad:
        raise _unknown_keys(where, bad)
    mode = raw.get("emergency_sweep", "quorum")
    if mode not in ("quorum", "auto"):
        raise ConfigError(f"{where}.emergency_sweep must be \"quorum\" or \"auto\", not {mode!r}",
                          says=msg("error.policy_file.emergency_sweep", where=_at(where),
                                   value=value_shown(mode)))
    trip_global = raw.get("trip_global", False)
    if not isinstance(trip_global, bool):
        raise ConfigError(f"{where}.trip_global must be true or false",
                          says=msg("error.policy_file.true_false",
                                   where=_at(f"{where}.trip_global")))
    drop = raw.get("balance_drop_percent", "20")
    try:
        percent = Decimal(str(drop))
    except (ArithmeticError, ValueError):  # not a number: refused below, as it is written
        percent = Decimal("NaN")
    if isinstance(drop, bool) or not percent.is_finite() or not 0 <= percent <= 100:
        raise ConfigError(f"{where}.balance_drop_percent = {value_shown(drop)} must be a "
                          "percentage between 0 and 100",
                          says=msg("error.policy_file.percent",
                                   where=_at(f"{where}.balance_drop_percent"),
                                   value=value_shown(drop)))
    try:
        window = parse_duration(raw.get("balance_drop_window", "1h"))
    except ValueError as exc:
        raise ConfigError(f"{where}.balance_drop_window: {exc}",
                          says=msg("error.policy_file.at",
                                   where=_at(f"{where}.balance_drop_window"),
                                   problem=refusal_said(exc))) from None
    compromised = raw.get("compromised_withdrawals", "reject")
    if compromised not in ("reject", "keep"):
        raise ConfigError(f"{where}.compromised_withdrawals must be \"reject\" or \"keep\", "
                          f"not {compromised!r}",
                          says=msg("error.policy_file.compromised", where=_at(where),
                                   value=value_shown(compromised)))
    return WatchPolicy(str(mode), trip_global, percent.normalize(), window, str(compromised))


def policy_from_canonical(data: Mapping[str, Any], registry: AssetRegistry) -> Policy:
    """Rebuild a stored policy (the inverse of :meth:`Policy.canonical`)."""
    assets = {}
    for symbol, raw in data["assets"].items():
        assets[symbol] = AssetPolicy(
            symbol, Decimal(raw["max_hot_ratio"]), Decimal(raw["target_hot_ratio"]),
            int(raw["hot_min"]), None if raw["hot_max"] is None else int(raw["hot_max"]),
            raw["cold_wallet"], raw.get("emergency_address"))
    w = data.get("watch") or WatchPolicy().canonical()
    watch = WatchPolicy(str(w["emergency_sweep"]), bool(w["trip_global"]),
                        Decimal(w["balance_drop_percent"]),
                        timedelta(seconds=int(w["balance_drop_window_s"])),
                        # a policy stored before the choice existed keeps what its quorum
                        # approved then: reservations kept
                        str(w.get("compromised_withdrawals", "keep")))
    return Policy(int(data["version"]), int(data["quorum"]),
                  tuple(Approver(a["name"], a["public_key"]) for a in data["approvers"]),
                  assets, Decimal(data["total_max_hot_ratio"]), int(data["proposal_ttl_hours"]),
                  bool(data["warm_counts_as_hot"]),
                  tuple(dict(r) for r in data.get("screening_rules", [])), watch,
                  tuple(data.get("screening_tiers", ())))
