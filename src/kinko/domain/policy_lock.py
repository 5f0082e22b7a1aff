"""Loosening waits, tightening is immediate: which custody policy version is in force.

A new policy version is approved by the quorum of the version it was proposed under (its
*base*). :func:`compare` reads the two field by field and says, for every difference,
whether it **loosens** (lets more money move, or with fewer or other people's say) or
**tightens**. A version that only tightens takes effect the moment its quorum is reached;
a version that loosens anything, even if it tightens other things, waits as a whole for the
time lock it was approved under (``policy_time_lock_hours``, 48 by default), during which
any single approver of its base can veto it with a signature (:func:`veto_bytes`); a
vetoed version never takes effect.

The version in force at a time is computed from stored facts only, by
:func:`effective_version`: each version's body, when its quorum was reached, the version it
was proposed under, the lock recorded with it, and the vetoes whose signatures verify. It is
the highest version whose quorum was reached by then, that is not vetoed, and whose lock
(if it loosens) has run out. So a later version that takes effect supersedes an earlier one
still waiting (which then never takes effect: propose it again), and no flag in a database
makes a version effective. kinko, its screening and custody checks, and the co-signer all
call this one rule; a cache of "the active policy" must key on the time as well (a pending
version becomes effective without any write).

What loosens (the rest of a change tightens, or is neutral, like a rule's reason):

- ``quorum`` lower; an approver added, or an approver's key replaced; ``proposal_ttl_hours``
  longer; ``total_max_hot_ratio`` higher; ``warm_counts_as_hot`` turned off;
- per asset: the asset no longer governed; ``max_hot_ratio``, ``target_hot_ratio``,
  ``hot_min`` or ``hot_max`` higher (or ``hot_max`` removed); ``cold_wallet`` changed; an
  ``emergency_address`` set or changed (a new destination);
- screening: a rule removed; its action milder; its asset or tier narrowed or changed; an
  amount, count, share, threshold, history or floor higher; a window or cooling-off shorter;
  the unusual hours no longer covering all they did; an outflow rule's window or baseline
  changed; a window's scope narrowed; a tier declared (customers can be moved into it);
- watch: ``emergency_sweep = "auto"`` (a move without signatures); ``trip_global`` off;
  ``balance_drop_percent`` higher; ``balance_drop_window`` shorter; ``compromised_withdrawals
  = "keep"``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from kinko.domain.approvals import Proposal
from kinko.domain.messages import Message, msg
from kinko.domain.money import AssetRegistry, format_units
from kinko.domain.policy import AssetPolicy, Policy, policy_from_canonical
from kinko.domain.screening import OUTCOMES, Rule, UnusualHour, parse_rules
from kinko.errors import ApprovalError, KinkoError

__all__ = [
    "DEFAULT_TIME_LOCK",
    "Change",
    "PolicyDiff",
    "Standing",
    "StoredPolicy",
    "VersionFacts",
    "Veto",
    "changes_message",
    "check_veto",
    "compare",
    "describe",
    "effective_from",
    "effective_version",
    "standings",
    "version_facts",
    "veto_bytes",
]

DEFAULT_TIME_LOCK = timedelta(hours=48)


@dataclass(frozen=True)
class Change:
    """One difference between two policy versions: the field (``assets.ETH.hot_max``,
    ``screening.rules.big.amount``, ...), its value before and after (as text), and whether
    it loosens."""

    field: str
    before: str
    after: str
    loosens: bool

    def describe(self) -> str:
        word = "loosens" if self.loosens else "tightens"
        return f"{self.field}: {self.before} → {self.after} ({word})"


@dataclass(frozen=True)
class PolicyDiff:
    changes: tuple[Change, ...]

    @property
    def loosenings(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.loosens)

    @property
    def tightenings(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if not c.loosens)

    @property
    def loosens(self) -> bool:
        return any(c.loosens for c in self.changes)


# ---------------------------------------------------------------------- the comparison

_NONE = "none"


def _text(value: Any) -> str:
    if value is None:
        return _NONE
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, timedelta):
        return f"{int(value.total_seconds())}s"
    return str(value)


class _Diff:
    def __init__(self) -> None:
        self.out: list[Change] = []

    def add(self, path: str, before: Any, after: Any, loosens: bool,
            shown: Callable[[Any], str] = _text) -> None:
        self.out.append(Change(path, shown(before), shown(after), loosens))

    def higher_loosens(self, path: str, before: Any, after: Any, *,
                       none_is_unlimited: bool = False,
                       shown: Callable[[Any], str] = _text) -> None:
        """A number (a limit, a ratio) where more is looser; ``None`` as no limit at all
        when ``none_is_unlimited``."""
        if before == after:
            return
        if none_is_unlimited and (before is None or after is None):
            self.add(path, before, after, after is None, shown)
            return
        if before is None or after is None:
            self.add(path, before, after, True, shown)
            return
        self.add(path, before, after, after > before, shown)

    def lower_loosens(self, path: str, before: Any, after: Any) -> None:
        if before != after:
            self.add(path, before, after, after < before)

    def change_loosens(self, path: str, before: Any, after: Any) -> None:
        if before != after:
            self.add(path, before, after, True)

    def flag(self, path: str, before: bool, after: bool, loose: bool) -> None:
        """A switch whose ``loose`` position is the looser one."""
        if before != after:
            self.add(path, before, after, after == loose)


def compare(old: Policy, new: Policy, registry: AssetRegistry) -> PolicyDiff:
    """Every difference from ``old`` to ``new``, each marked loosening or tightening (see
    the module docstring); the version number itself is no difference."""
    d = _Diff()
    d.lower_loosens("quorum", old.quorum, new.quorum)
    keys = {a.name: a.public_key for a in old.approvers}
    new_keys = {a.name: a.public_key for a in new.approvers}
    for name in sorted(keys.keys() | new_keys.keys()):
        before, after = keys.get(name), new_keys.get(name)
        if before == after:
            continue
        # a new key can approve: looser; a key gone is one fewer signer: tighter
        if after is not None:
            d.add(f"approvers.{name}", before, after, True)
        else:
            d.add(f"approvers.{name}", before, after, False)
    d.higher_loosens("proposal_ttl_hours", old.proposal_ttl_hours, new.proposal_ttl_hours)
    d.higher_loosens("total_max_hot_ratio", old.total_max_hot_ratio, new.total_max_hot_ratio)
    d.flag("warm_counts_as_hot", old.warm_counts_as_hot, new.warm_counts_as_hot, False)
    for symbol in sorted(old.assets.keys() | new.assets.keys()):
        _asset(d, f"assets.{symbol}", old.assets.get(symbol), new.assets.get(symbol),
               _amounts(registry, symbol))
    _rules(d, parse_rules(old.screening_rules, registry, f"policy version {old.version}"),
           parse_rules(new.screening_rules, registry, f"policy version {new.version}"),
           registry)
    for tier in sorted(set(old.tiers) ^ set(new.tiers)):
        # a tier declared: customers can be moved into it, out of rules naming theirs
        d.add(f"screening.tiers.{tier}", "absent" if tier in new.tiers else "declared",
              "declared" if tier in new.tiers else "absent", tier in new.tiers)
    ow, nw = old.watch, new.watch
    d.flag("watch.emergency_sweep", ow.emergency_sweep == "auto",
           nw.emergency_sweep == "auto", True)
    d.flag("watch.trip_global", ow.trip_global, nw.trip_global, False)
    d.higher_loosens("watch.balance_drop_percent", ow.balance_drop_percent,
                     nw.balance_drop_percent)
    d.lower_loosens("watch.balance_drop_window", ow.balance_drop_window,
                    nw.balance_drop_window)
    if ow.compromised_withdrawals != nw.compromised_withdrawals:
        d.add("watch.compromised_withdrawals", ow.compromised_withdrawals,
              nw.compromised_withdrawals, nw.compromised_withdrawals == "keep")
    return PolicyDiff(tuple(d.out))


def _amounts(registry: AssetRegistry, symbol: str | None) -> Callable[[Any], str]:
    """Minor units shown in the asset's whole units (as the policy file writes them)."""
    asset = registry[symbol] if symbol is not None and symbol in registry else None

    def shown(value: Any) -> str:
        if asset is None or not isinstance(value, int) or isinstance(value, bool):
            return _text(value)
        return format_units(value, asset)
    return shown


def _asset(d: _Diff, path: str, old: AssetPolicy | None, new: AssetPolicy | None,
           amounts: Callable[[Any], str]) -> None:
    if old is None or new is None:
        # an asset no longer governed has no online limit at all
        d.add(path, "governed" if old else "absent", "governed" if new else "absent",
              new is None)
        return
    d.higher_loosens(f"{path}.max_hot_ratio", old.max_hot_ratio, new.max_hot_ratio)
    d.higher_loosens(f"{path}.target_hot_ratio", old.target_hot_ratio, new.target_hot_ratio)
    d.higher_loosens(f"{path}.hot_min", old.hot_min, new.hot_min, shown=amounts)
    d.higher_loosens(f"{path}.hot_max", old.hot_max, new.hot_max, none_is_unlimited=True,
                     shown=amounts)
    d.change_loosens(f"{path}.cold_wallet", old.cold_wallet, new.cold_wallet)
    if old.emergency_address != new.emergency_address:
        d.add(f"{path}.emergency_address", old.emergency_address, new.emergency_address,
              new.emergency_address is not None)


# a rule parameter is compared the way its kind declares (Param.looser: more is looser,
# less is looser); tier, scope and the hours as below; any other change loosens
_SCOPE_BREADTH = {"customer": 0, "destination": 0, "asset": 1, "all": 1}
_NEUTRAL = {"name", "reason", "decimals"}


def _rules(d: _Diff, old: Sequence[Rule], new: Sequence[Rule],
           registry: AssetRegistry) -> None:
    before = {r.name: r for r in old}
    after = {r.name: r for r in new}
    for name in sorted(before.keys() | after.keys()):
        path = f"screening.rules.{name}"
        a, b = before.get(name), after.get(name)
        if a is None or b is None:
            rule = a or b
            assert rule is not None
            if rule.action == "allow":
                continue  # an allow rule changes no outcome: adding or removing it is neither
            d.add(path, "present" if a else "absent", "present" if b else "absent", b is None)
            continue
        if a.kind != b.kind:
            d.add(f"{path}.kind", a.kind, b.kind, True)
            continue
        if a.action != b.action:
            milder = OUTCOMES.index(b.action) < OUTCOMES.index(a.action)
            d.add(f"{path}.action", a.action, b.action, milder)
        if a.asset != b.asset:  # None: every asset
            d.add(f"{path}.asset", a.asset, b.asset, b.asset is not None)
        _params(d, path, a, b, _amounts(registry, b.asset))


def _params(d: _Diff, path: str, a: Rule, b: Rule, amounts: Callable[[Any], str]) -> None:
    for f in fields(a):
        name = f.name
        if name in _NEUTRAL or name in ("action", "asset"):
            continue
        x, y = getattr(a, name), getattr(b, name)
        if x == y:
            continue
        where = f"{path}.{name}"
        declared = type(a).params.get(name)
        looser = declared.looser if declared is not None else None
        if looser == "higher":
            d.higher_loosens(where, x, y, none_is_unlimited=True,
                             shown=amounts if declared is not None and declared.amount
                             else _text)
        elif looser == "lower":
            d.lower_loosens(where, x, y)
        elif name == "tier":  # None: every tier
            d.add(where, x, y, y is not None)
        elif name == "scope":
            d.add(where, x, y, _SCOPE_BREADTH[str(y)] <= _SCOPE_BREADTH[str(x)])
        elif name in ("start_hour", "end_hour"):
            continue  # compared together below
        else:  # an outflow rule's window or baseline: not comparable, so it waits
            d.change_loosens(where, x, y)
    if isinstance(a, UnusualHour) and isinstance(b, UnusualHour):
        was, now = _hours(a), _hours(b)
        if was != now:  # looser unless every hour it flagged is still flagged
            d.add(f"{path}.hours", _span(a), _span(b), not was <= now)


def _hours(rule: UnusualHour) -> frozenset[int]:
    start, end = rule.start_hour, rule.end_hour
    if start < end:
        return frozenset(range(start, end))
    return frozenset(h for h in range(24) if h >= start or h < end)


def _span(rule: UnusualHour) -> str:
    return f"{rule.start_hour:02d}h-{rule.end_hour:02d}h"


# ---------------------------------------------------------------------- vetoes


@dataclass(frozen=True)
class Veto:
    """One approver's veto of a policy version still waiting: a signature over
    :func:`veto_bytes` with the approver's key in the version's base."""

    version: int
    approver: str
    signature: str  # hex
    at: datetime
    reason: str = ""


def veto_bytes(version: int, digest: str) -> bytes:
    """What an approver signs to veto policy ``version`` (its ``digest``)."""
    body = json.dumps({"version": version, "digest": digest}, sort_keys=True,
                      separators=(",", ":"))
    return b"kinko-policy-veto-v1\n" + body.encode()


def check_veto(veto: Veto, version: Policy, base: Policy) -> None:
    """Raise :class:`ApprovalError` unless ``veto`` is signed by an approver of ``base``
    over ``version``."""
    who = base.approver(veto.approver)
    if who is None:
        raise ApprovalError(f"{veto.approver!r} is not an approver of policy version "
                            f"{base.version}, under which version {version.version} was "
                            "approved: only they may veto it", approver=veto.approver,
                            says=msg("error.policy.veto_not_approver",
                                     approver=str(veto.approver)[:80], base=base.version,
                                     version=version.version))
    try:
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(who.public_key)).verify(
            bytes.fromhex(veto.signature), veto_bytes(version.version, version.digest))
    except (ValueError, InvalidSignature):
        raise ApprovalError(
            f"the veto given for {veto.approver} does not verify against "
            f"{veto.approver}'s key over policy version {version.version} "
            f"({version.digest[:16]}): forged, or signed over another version",
            approver=veto.approver,
            says=msg("error.policy.veto_forged", approver=str(veto.approver)[:80],
                     version=version.version, digest=version.digest[:16])) from None


# ---------------------------------------------------------------------- the facts


@dataclass(frozen=True)
class StoredPolicy:
    """A policy version as kinko's database stores it, with the proposal that activated
    it (None for the bootstrap, or when that proposal is missing)."""

    version: int
    digest: str
    body: str  # the canonical JSON as stored
    activated_at: datetime
    activated_by: str
    time_lock_s: int
    proposal: Proposal | None


def version_facts(rows: Iterable[StoredPolicy], vetoes: Iterable[Veto],
                  registry: AssetRegistry) -> list[VersionFacts]:
    """The facts :func:`effective_version` reads, from stored rows. A version's quorum
    time is never taken as earlier than its signed proposal was made, and a body that
    cannot be read (or whose digest is not the stored one) is unreadable: it never takes
    effect. The base is the version the approvers signed the proposal under."""
    by_version: dict[int, list[Veto]] = {}
    for veto in vetoes:
        by_version.setdefault(veto.version, []).append(veto)
    out = []
    for row in rows:
        policy = _parsed(row, registry)
        proposal = row.proposal
        base = None
        loaded = row.activated_at
        if proposal is not None and row.activated_by != "bootstrap":
            payload = proposal.payload
            if (proposal.kind == "policy" and payload.get("version") == row.version
                    and payload.get("digest") == row.digest):
                base = proposal.policy_version
            loaded = max(loaded, proposal.created_at)
        if row.activated_by != "bootstrap" and base is None:
            base = -1  # names no proposal that activated it: nothing to compare with
        out.append(VersionFacts(row.version, policy, loaded, base,
                                timedelta(seconds=max(0, row.time_lock_s)),
                                tuple(by_version.get(row.version, ()))))
    return out


# A stored body is parsed (and its digest checked) once per process, and two versions are
# compared once: every screening reads the rule, and a policy is a few kilobytes of JSON.
# Pure memoisation keyed by the exact stored text and digests (nothing a database write can
# make stale: a changed body is another key); bounded, cleared when full.
_MEMO = 256
_PARSED: dict[tuple[int, str, str], Policy | None] = {}
_DIFFS: dict[tuple[str, str, tuple[tuple[str, int], ...]], PolicyDiff] = {}


def _parsed(row: StoredPolicy, registry: AssetRegistry) -> Policy | None:
    key = (row.version, row.digest, row.body)
    if key in _PARSED:
        return _PARSED[key]
    policy: Policy | None
    try:
        policy = policy_from_canonical(json.loads(row.body), registry)
    except (KinkoError, KeyError, TypeError, ValueError, AttributeError):
        policy = None
    if policy is not None and (policy.version != row.version or policy.digest != row.digest):
        policy = None  # not what its quorum approved
    if len(_PARSED) >= _MEMO:
        _PARSED.clear()
    _PARSED[key] = policy
    return policy


def _compared(old: Policy, new: Policy, registry: AssetRegistry) -> PolicyDiff:
    key = (old.digest, new.digest, tuple((s, registry[s].decimals) for s in registry))
    found = _DIFFS.get(key)
    if found is None:
        found = compare(old, new, registry)
        if len(_DIFFS) >= _MEMO:
            _DIFFS.clear()
        _DIFFS[key] = found
    return found


# ---------------------------------------------------------------------- the rule


@dataclass(frozen=True)
class VersionFacts:
    """What is stored about one policy version: its body (None if it cannot be read), when
    its quorum was reached, the version it was proposed under (None: loaded as the
    bootstrap), the time lock recorded with it, and the vetoes given."""

    version: int
    policy: Policy | None
    loaded_at: datetime
    base: int | None
    time_lock: timedelta
    vetoes: tuple[Veto, ...] = ()


@dataclass(frozen=True)
class Standing:
    """A version as it stands at a time: ``effective`` (the one in force), ``pending``
    (waiting for its lock), ``vetoed``, ``superseded`` (a later version took effect first,
    or it was replaced in force), ``unreadable`` or ``unverifiable`` (no quorum-approved
    proposal under an earlier version activated it: it never takes effect); with when it
    takes or took effect and why it waits."""

    facts: VersionFacts
    state: str
    effective_at: datetime | None
    diff: PolicyDiff | None  # against its base; None for the bootstrap
    vetoed_by: tuple[Veto, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """A JSON-able form (the API, ``kinko policy show``)."""
        policy, diff = self.facts.policy, self.diff
        return {
            "version": self.facts.version, "state": self.state,
            "digest": policy.digest if policy is not None else None,
            "approved_at": self.facts.loaded_at.isoformat(),
            "effective_at": self.effective_at.isoformat() if self.effective_at else None,
            "proposed_under": self.facts.base,
            "time_lock_hours": self.facts.time_lock.total_seconds() / 3600,
            "loosens": [c.describe() for c in diff.loosenings] if diff else [],
            "tightens": [c.describe() for c in diff.tightenings] if diff else [],
            "vetoed_by": [{"approver": v.approver, "at": v.at.isoformat(), "reason": v.reason}
                          for v in self.vetoed_by],
        }


def _judge(v: VersionFacts, by_version: Mapping[int, VersionFacts], registry: AssetRegistry,
           min_lock: timedelta, first: int
           ) -> tuple[datetime | None, PolicyDiff | None, tuple[Veto, ...]]:
    """(when ``v`` takes effect or None if never, its diff, the vetoes that count)."""
    if v.policy is None:
        return None, None, ()
    lock = max(v.time_lock, min_lock)
    base = by_version.get(v.base) if v.base is not None else None
    if v.base is None and v.version == first:
        return v.loaded_at, None, ()  # the bootstrap: nothing to compare with
    if base is None or base.policy is None or v.base is None or v.base >= v.version:
        # not the first, and no quorum-signed proposal under an earlier version that kinko
        # has: written into the database some other way, it never takes effect
        return None, None, ()
    diff = _compared(base.policy, v.policy, registry)
    ripe = v.loaded_at + lock if diff.loosens else v.loaded_at
    vetoes = tuple(x for x in v.vetoes if x.at < ripe and _valid(x, v.policy, base.policy))
    return (None if vetoes else ripe), diff, vetoes


def _valid(veto: Veto, version: Policy, base: Policy) -> bool:
    try:
        check_veto(veto, version, base)
    except ApprovalError:
        return False
    return True


def effective_from(v: VersionFacts, versions: Iterable[VersionFacts], registry: AssetRegistry,
                   min_lock: timedelta = timedelta(0)) -> datetime | None:
    """When version ``v`` takes (or took) effect unless a later one does first; None when
    it never does (vetoed, unreadable)."""
    by_version = {x.version: x for x in versions}
    return _judge(v, by_version, registry, min_lock, min(by_version, default=v.version))[0]


def effective_version(versions: Iterable[VersionFacts], at: datetime, registry: AssetRegistry,
                      min_lock: timedelta = timedelta(0)) -> VersionFacts | None:
    """The version in force at ``at``: the highest one whose quorum was reached by then,
    not vetoed, whose lock (if it loosens) has run out. ``min_lock``: a floor on every
    version's lock (the co-signer's own setting)."""
    by_version = {x.version: x for x in versions}
    first = min(by_version, default=0)
    for version in sorted(by_version, reverse=True):
        v = by_version[version]
        if v.loaded_at > at:
            continue
        ripe = _judge(v, by_version, registry, min_lock, first)[0]
        if ripe is not None and ripe <= at:
            return v
    return None


def standings(versions: Iterable[VersionFacts], at: datetime, registry: AssetRegistry,
              min_lock: timedelta = timedelta(0)) -> list[Standing]:
    """Every version loaded by ``at``, newest first, as it stands then."""
    by_version = {x.version: x for x in versions if x.loaded_at <= at}
    first = min(by_version, default=0)
    effective = effective_version(by_version.values(), at, registry, min_lock)
    out = []
    for version in sorted(by_version, reverse=True):
        v = by_version[version]
        ripe, diff, vetoes = _judge(v, by_version, registry, min_lock, first)
        if v.policy is None:
            state = "unreadable"
        elif ripe is None and not vetoes:
            state = "unverifiable"
        elif vetoes:
            state = "vetoed"
        elif effective is not None and version == effective.version:
            state = "effective"
        elif effective is not None and version < effective.version:
            state = "superseded"
        else:
            state = "pending"
        out.append(Standing(v, state, ripe, diff, vetoes))
    return out


def describe(changes: Iterable[Change], limit: int = 6) -> str:
    """Up to ``limit`` changes on one line, in English (the CLI's and the API's listings)."""
    shown = list(changes)
    text = "; ".join(c.describe() for c in shown[:limit])
    return text + (f" (and {len(shown) - limit} more)" if len(shown) > limit else "")


def changes_message(changes: Iterable[Change], limit: int = 6) -> Message:
    """Up to ``limit`` changes as a message (an alert's or a finding's), read in each
    reader's language: ``field: before → after``, the policy's own values as written (an
    absent one is the word for none)."""
    shown = list(changes)

    def value(text: str) -> str | Message:
        return msg("pol.value.none") if text == _NONE else text

    said: Message | None = None
    for c in reversed(shown[:limit]):
        one = msg("pol.change", field=c.field, before=value(c.before), after=value(c.after))
        said = one if said is None else msg("pol.changes", first=one, rest=said)
    if said is None:
        return msg("pol.value.none")
    return msg("pol.changes.more", changes=said, count=len(shown) - limit) \
        if len(shown) > limit else said
