"""Withdrawal screening: an ordered pipeline of rules, each with an action and a reason.

Every withdrawal is checked before anything is signed. Each rule kind is registered once in
:data:`RULE_KINDS` (its parameters and what it detects), which drives parsing of the policy
file, ``kinko withdrawals rules`` and the documentation. A rule that matches produces a
:class:`RuleHit`; the decision is the strictest action among the hits (``block`` over
``review`` over ``allow``), and it keeps every hit and the policy version so it can be
explained later::

    rules = parse_rules([{"kind": "max_amount", "asset": "ETH", "amount": "100",
                          "action": "review", "reason": "large withdrawal"}], assets, "policy")
    decision = screen(request, rules, context, policy_version=3)
    decision.outcome      # "review"
    decision.hits[0].detail

A tripped circuit breaker (for the asset, or global) turns every ``allow`` into ``review``.
Rules are pure functions of the request and a :class:`Context` the service prepares (the
history, lists and balances they need), so screening is deterministic and testable.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar, Literal, TypedDict

from kinko.domain.messages import Message, Percent, Units, from_data, msg, value_shown, verbatim
from kinko.domain.money import AssetRegistry, parse_units
from kinko.errors import ConfigError, KinkoError, ValueRefused

__all__ = [
    "AMOUNTS_SCREENED",
    "AMOUNT_PARAMS",
    "OUTCOMES",
    "RULE_KINDS",
    "Context",
    "Decision",
    "DecisionData",
    "Label",
    "Outcome",
    "Param",
    "Past",
    "Request",
    "Rule",
    "RuleHit",
    "RuleHitData",
    "ValueRefused",
    "duration_text",
    "needed_sums",
    "parse_duration",
    "parse_rules",
    "place_said",
    "refusal_said",
    "rules_markdown",
    "screen",
    "window_sum",
]

Outcome = Literal["allow", "review", "block"]
OUTCOMES: tuple[Outcome, ...] = ("allow", "review", "block")
_OUTCOME: dict[str, Outcome] = {o: o for o in OUTCOMES}  # a stored word, typed
_RANK = {"allow": 0, "review": 1, "block": 2}


@dataclass(frozen=True)
class Request:
    """A withdrawal to screen; ``destination`` in its chain's canonical form
    (:func:`kinko.domain.addresses.canonical_address`), as every address the rules
    compare it with."""

    id: str
    customer: str
    asset: str
    amount: int
    destination: str
    at: datetime
    tier: str = "standard"


@dataclass(frozen=True)
class Past:
    """An earlier withdrawal that was not blocked or rejected."""

    customer: str
    asset: str
    amount: int
    destination: str
    at: datetime


@dataclass(frozen=True)
class Label:
    """What a deny list says about an address (TagPack ``label``/``category``/``actor``, and
    the taxonomy ``concepts`` a TagPack may list besides the category)."""

    address: str
    label: str
    source: str
    category: str = ""
    actor: str = ""
    concepts: tuple[str, ...] = ()


# how many of a customer's latest amounts (of the asset) the service gives screening
AMOUNTS_SCREENED = 200


@dataclass(frozen=True)
class Context:
    """What rules need to know besides the request; prepared by the service.

    ``sums`` holds, per (scope, window), the amount and count of earlier withdrawals of this
    request's customer / destination / asset / everyone inside that window, as the store
    computes them with indexed aggregates; ``history`` is the raw alternative (used when a
    sum is not given, e.g. in tests) and is scanned linearly.
    """

    history: Sequence[Past] = ()  # recent withdrawals of every customer
    sums: Mapping[tuple[str, timedelta], tuple[int, int]] = field(default_factory=dict)
    customer_amounts: Sequence[int] = ()  # this customer's earlier amounts of this asset
    # addresses in canonical form, as the request's destination
    known_destinations: frozenset[str] = frozenset()  # used before by this customer
    allow_list: Mapping[str, datetime] = field(default_factory=dict)  # address -> added
    deny: Mapping[str, Label] = field(default_factory=dict)  # address -> label (deny_index)
    hot_balance: int | None = None
    tripped: frozenset[str] = frozenset()  # tripped breakers: asset symbols and/or "*"
    compromised: str | None = None  # the open incident in which the paying wallet's key leaked
    utc_offset_hours: int = 9  # the exchange's local time, for the unusual-hour rule


@dataclass(frozen=True)
class RuleHit:
    rule: str
    kind: str
    action: Outcome
    reason: Message  # the policy's reason for the rule (as written), or what its kind catches
    detail: Message  # what matched, with the figures

    def to_data(self) -> RuleHitData:
        """The hit as JSON-ready data, its words as catalog messages: how a decision is
        stored and the API's ``messages``; :meth:`from_data` reads it back."""
        return {"rule": self.rule, "kind": self.kind, "action": self.action,
                "reason": self.reason.to_data(), "detail": self.detail.to_data()}

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> RuleHit:
        """A hit from :meth:`to_data` (a reason or detail an earlier version kept as text
        is kept as written)."""
        action = str(data["action"])
        if action not in OUTCOMES:
            raise ValueError(f"not a screening action: {action!r}")
        return cls(str(data["rule"]), str(data["kind"]), _OUTCOME[action],
                   from_data(data.get("reason")), from_data(data.get("detail")))


class RuleHitData(TypedDict):
    """A :class:`RuleHit` as JSON (:meth:`RuleHit.to_data`)."""

    rule: str
    kind: str
    action: Outcome
    reason: dict[str, Any]  # a Message's data (kinko.domain.messages)
    detail: dict[str, Any]


class DecisionData(TypedDict):
    """A :class:`Decision` as JSON (:meth:`Decision.to_data`), as withdrawals keep it."""

    outcome: Outcome
    policy_version: int
    hits: list[RuleHitData]


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    hits: tuple[RuleHit, ...]
    policy_version: int

    def to_data(self) -> DecisionData:
        return {"outcome": self.outcome, "policy_version": self.policy_version,
                "hits": [h.to_data() for h in self.hits]}

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Decision:
        outcome = str(data["outcome"])
        if outcome not in OUTCOMES:
            raise ValueError(f"not a screening outcome: {outcome!r}")
        return cls(_OUTCOME[outcome], tuple(RuleHit.from_data(h) for h in data["hits"]),
                   int(data["policy_version"]))

    def explain(self) -> list[Message]:
        """One message per hit (or one saying no rule matched), for people."""
        if not self.hits:
            return [msg("decision.no_hit", version=str(self.policy_version))]
        return [msg("decision.hit", action=msg(f"wd.outcome.{h.action}"), rule=h.rule,
                    kind=h.kind, reason=h.reason, detail=h.detail) for h in self.hits]


# ---------------------------------------------------------------------------- rules


def refusal_said(exc: Exception) -> Message:
    """What refused a value, as a catalog message: a kinko error's, a
    :class:`ValueRefused`'s, or the English words of any other as a
    :class:`~kinko.errors.ConfigError`'s (shown in English only)."""
    if isinstance(exc, KinkoError):
        return exc.said()
    if isinstance(exc, ValueRefused):
        return exc.says
    return msg("error.config_error", detail=str(exc)[:300])


def place_said(label: str) -> Message | str:
    """Where in a policy file (``FILE: field``) as an error's catalog message names it: the
    file, then the field (each cut short), in the reader's punctuation."""
    file, sep, place = label.rpartition(": ")
    if not sep:
        return label[:300]
    return msg("error.policy_file.where", file=file[:200], field=place[:200])


_DURATION = re.compile(r"^(\d{1,12})\s*([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def duration_text(value: timedelta) -> str:
    """A window as a policy writes it: 30m, 24h, 30d (seconds when nothing shorter fits)."""
    seconds = int(value.total_seconds())
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds >= size and seconds % size == 0 and not (unit == "d" and seconds < 172_800):
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def parse_duration(text: Any) -> timedelta:
    match = _DURATION.match(str(text).strip())
    if match and int(match.group(1)) > 0:
        try:
            return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
        except OverflowError:  # beyond what a date can hold (a billion days)
            pass
    raise ValueRefused(f"{value_shown(text)} is not a duration like 30m, 24h or 30d",
                       says=msg("error.screening.duration", value=value_shown(text)))


def _ratio(value: Any) -> Decimal:
    try:
        ratio = Decimal(str(value))
    except InvalidOperation:
        raise ValueRefused(f"{value_shown(value)} is not a number",
                           says=msg("error.screening.not_number",
                                    value=value_shown(value))) from None
    if not ratio.is_finite() or ratio < 0:
        raise ValueRefused(f"{value_shown(value)} must be a number ≥ 0",
                           says=msg("error.screening.negative_number", value=value_shown(value)))
    return ratio


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueRefused(f"{value_shown(value)} must be a whole number ≥ 0",
                           says=msg("error.screening.whole_number", value=value_shown(value)))
    return value


def _hour(value: Any) -> int:
    if _count(value) > 23:
        raise ValueRefused(f"{value_shown(value)} must be an hour 0-23",
                           says=msg("error.screening.hour", value=value_shown(value)))
    return int(value)


def _scope(value: Any) -> str:
    if value not in ("customer", "destination", "asset", "all"):
        raise ValueRefused(f"{value_shown(value)} must be customer, destination, asset or all",
                           says=msg("error.screening.scope", value=value_shown(value)))
    return str(value)


Looser = Literal["higher", "lower"]


@dataclass(frozen=True)
class Param:
    """A rule kind's parameter: what it means, how the policy file's value is read
    (``parse``; an ``amount`` is read in whole units of the rule's asset and kept in its
    minor units), and which way of changing it loosens the rule (``looser``: ``higher``,
    ``lower``, or None when the policy's comparison judges it otherwise,
    :mod:`kinko.domain.policy_lock`)."""

    meaning: str
    parse: Callable[[Any], Any] = str
    amount: bool = False
    looser: Looser | None = None


def _amount_param(meaning: str) -> Param:
    return Param(meaning, amount=True, looser="higher")  # a higher limit lets more out


@dataclass(frozen=True)
class Rule:
    """A configured rule. Each kind (a subclass) owns its parameters (``params``: how each
    is read and compared), their checks together (:meth:`incomplete`), the window sums it
    reads (:meth:`sums`) and what it matches (:meth:`check`)."""

    kind: ClassVar[str]
    doc: ClassVar[str]
    params: ClassVar[dict[str, Param]]  # parameter -> how it is read and compared
    name: str
    action: Outcome
    reason: Message
    asset: str | None = None

    def applies(self, request: Request) -> bool:
        return self.asset is None or self.asset == request.asset

    def check(self, request: Request, ctx: Context) -> Message | None:
        """What matched (a message with the figures), or None."""
        raise NotImplementedError

    def sums(self) -> set[tuple[str, timedelta]]:
        """The (scope, window) sums :meth:`check` reads from ``Context.sums``."""
        return set()

    @classmethod
    def incomplete(cls, values: Mapping[str, Any]) -> ValueRefused | None:
        """What the parameters given (parsed) lack together (its words and its catalog
        message), or None."""
        return None


def _units(units: int, request: Request, decimals: int) -> Units:
    return Units(units, request.asset, decimals)


@dataclass(frozen=True)
class MaxAmount(Rule):
    kind: ClassVar[str] = "max_amount"
    doc: ClassVar[str] = "One withdrawal above a maximum (per asset, optionally per tier)."
    params: ClassVar[dict[str, Param]] = {
        "amount": _amount_param("maximum, in whole units of the asset"),
        "tier": Param("only customers of this tier (optional)")}
    amount: int = 0
    tier: str | None = None
    decimals: int = 0

    @classmethod
    def incomplete(cls, values: Mapping[str, Any]) -> ValueRefused | None:
        return None if "amount" in values else ValueRefused(
            "max_amount needs amount and asset", says=msg("error.screening.max_amount_needs"))

    def check(self, request: Request, ctx: Context) -> Message | None:
        if self.tier is not None and request.tier != self.tier:
            return None
        if request.amount > self.amount:
            return msg("hit.max_amount", amount=_units(request.amount, request, self.decimals),
                       limit=_units(self.amount, request, self.decimals))
        return None


@dataclass(frozen=True)
class Window(Rule):
    kind: ClassVar[str] = "window"
    doc: ClassVar[str] = ("Rolling window of amount and/or count per customer, per destination, "
                          "per asset or across everyone.")
    params: ClassVar[dict[str, Param]] = {
        "scope": Param("customer, destination, asset or all", _scope),
        # a shorter window sums less
        "duration": Param("window length: 1h, 24h, 30d ...", parse_duration, looser="lower"),
        "max_amount": _amount_param("most that may leave in the window, whole units "
                                    "(optional)"),
        "max_count": Param("most withdrawals in the window (optional)", _count,
                           looser="higher"),
    }
    scope: str = "customer"
    duration: timedelta = timedelta(hours=24)
    max_amount: int | None = None
    max_count: int | None = None
    decimals: int = 0

    @classmethod
    def incomplete(cls, values: Mapping[str, Any]) -> ValueRefused | None:
        if "max_amount" in values or "max_count" in values:
            return None
        return ValueRefused("a window needs max_amount or max_count",
                            says=msg("error.screening.window_needs"))

    def sums(self) -> set[tuple[str, timedelta]]:
        return {(self.scope, self.duration)}

    def check(self, request: Request, ctx: Context) -> Message | None:
        earlier, earlier_count = window_sum(ctx, request, self.scope, self.duration)
        total, count = earlier + request.amount, earlier_count + 1
        if self.max_amount is not None and total > self.max_amount:
            return msg("hit.window_amount", amount=_units(total, request, self.decimals),
                       scope=msg(f"rule.scope.{self.scope}"),
                       window=duration_text(self.duration),
                       limit=_units(self.max_amount, request, self.decimals))
        if self.max_count is not None and count > self.max_count:
            return msg("hit.window_count", count=count, scope=msg(f"rule.scope.{self.scope}"),
                       window=duration_text(self.duration), limit=self.max_count)
        return None


@dataclass(frozen=True)
class HotShare(Rule):
    kind: ClassVar[str] = "hot_share"
    doc: ClassVar[str] = "One withdrawal taking more than a share of the hot wallet's balance."
    params: ClassVar[dict[str, Param]] = {
        "max_share": Param("ratio of the hot balance, e.g. 0.1", _ratio, looser="higher")}
    max_share: Decimal = Decimal("0.1")

    def check(self, request: Request, ctx: Context) -> Message | None:
        if ctx.hot_balance is None:
            return None
        p, q = self.max_share.as_integer_ratio()
        if request.amount * q > p * ctx.hot_balance:
            share = Decimal(request.amount) / Decimal(ctx.hot_balance or 1)
            return msg("hit.hot_share", share=Percent(share, 1),
                       limit=Percent(self.max_share, 1))
        return None


@dataclass(frozen=True)
class AllowList(Rule):
    kind: ClassVar[str] = "allow_list"
    doc: ClassVar[str] = ("Destination not on the customer's allow list, or added less than a "
                          "cooling-off period ago.")
    params: ClassVar[dict[str, Param]] = {
        "cooling_off": Param("how long a new address waits: 24h ...", parse_duration,
                             looser="lower")}
    cooling_off: timedelta = timedelta(hours=24)

    def check(self, request: Request, ctx: Context) -> Message | None:
        added = ctx.allow_list.get(request.destination)
        if added is None:
            return msg("hit.allow_list.missing", address=request.destination)
        if request.at - added < self.cooling_off:
            ago = timedelta(seconds=int((request.at - added).total_seconds()))
            return msg("hit.allow_list.cooling", address=request.destination,
                       ago=duration_text(ago), period=duration_text(self.cooling_off))
        return None


@dataclass(frozen=True)
class DenyList(Rule):
    kind: ClassVar[str] = "deny_list"
    doc: ClassVar[str] = ("Destination on a deny list (GraphSense TagPacks, CSV lists such as "
                          "sanctions or phishing labels, trace results).")
    params: ClassVar[dict[str, Param]] = {}

    def check(self, request: Request, ctx: Context) -> Message | None:
        label = ctx.deny.get(request.destination)
        if label is None:
            return None
        return msg("hit.deny_list", address=request.destination,
                   label=label.label + (f" ({label.actor})" if label.actor else ""),
                   source=label.source)


@dataclass(frozen=True)
class ZScore(Rule):
    kind: ClassVar[str] = "zscore"
    doc: ClassVar[str] = ("Amount far from the customer's own history: robust z-score "
                          "0.6745·(x − median)/MAD above a threshold.")
    params: ClassVar[dict[str, Param]] = {
        "threshold": Param("z above which the rule matches, e.g. 3.5", _ratio,
                           looser="higher"),
        # more history needed: fewer customers judged
        "min_history": Param("fewest earlier withdrawals to judge by", _count,
                             looser="higher")}
    threshold: Decimal = Decimal("3.5")
    min_history: int = 5
    decimals: int | None = None  # the rule's asset's (None: a rule for every asset)

    def check(self, request: Request, ctx: Context) -> Message | None:
        amounts = list(ctx.customer_amounts)
        if len(amounts) < self.min_history:
            return None
        median = statistics.median(amounts)
        mad = statistics.median(abs(a - median) for a in amounts)
        if mad == 0:
            if request.amount <= median:
                return None
            if self.decimals is None:  # whole units unknown: minor units, said so
                return msg("hit.zscore.constant_minor", amount=request.amount,
                           usual=int(median))
            return msg("hit.zscore.constant",
                       amount=_units(request.amount, request, self.decimals),
                       usual=_units(int(median), request, self.decimals))
        z = Decimal("0.6745") * (Decimal(request.amount) - Decimal(median)) / Decimal(mad)
        if z > self.threshold:
            return msg("hit.zscore", z=f"{z:.1f}", count=len(amounts))
        return None


@dataclass(frozen=True)
class NewDestination(Rule):
    kind: ClassVar[str] = "new_destination"
    doc: ClassVar[str] = "First withdrawal by this customer to this destination."
    params: ClassVar[dict[str, Param]] = {}

    def check(self, request: Request, ctx: Context) -> Message | None:
        if request.destination in ctx.known_destinations:
            return None
        return msg("hit.new_destination", address=request.destination)


@dataclass(frozen=True)
class UnusualHour(Rule):
    kind: ClassVar[str] = "unusual_hour"
    doc: ClassVar[str] = "Requested at a local hour when this exchange's customers rarely act."
    params: ClassVar[dict[str, Param]] = {  # the hours are compared together (policy_lock)
        "start_hour": Param("first unusual hour (local, 0-23)", _hour),
        "end_hour": Param("first usual hour again (local, 0-23)", _hour)}
    start_hour: int = 1
    end_hour: int = 6

    def check(self, request: Request, ctx: Context) -> Message | None:
        hour = (request.at + timedelta(hours=ctx.utc_offset_hours)).hour
        inside = (self.start_hour <= hour < self.end_hour if self.start_hour < self.end_hour
                  else hour >= self.start_hour or hour < self.end_hour)
        return msg("hit.unusual_hour", hour=f"{hour:02d}") if inside else None


@dataclass(frozen=True)
class OutflowRate(Rule):
    kind: ClassVar[str] = "outflow_rate"
    doc: ClassVar[str] = ("The asset's outflow over a window, this request included, above a "
                          "multiple of its average over the windows before (trips the breaker).")
    params: ClassVar[dict[str, Param]] = {
        # the window and the baseline: not comparable, so a change waits
        "duration": Param("window length, e.g. 1h", parse_duration),
        "baseline_windows": Param("how many earlier windows to average", _count),
        "factor": Param("multiple of the baseline that matches, e.g. 5", _ratio,
                        looser="higher"),
        "min_amount": _amount_param("ignore outflows below this (whole units)")}
    duration: timedelta = timedelta(hours=1)
    baseline_windows: int = 24
    factor: Decimal = Decimal(5)
    min_amount: int = 0
    decimals: int = 0

    def sums(self) -> set[tuple[str, timedelta]]:
        return {("asset", self.duration),
                ("asset", self.duration * (self.baseline_windows + 1))}

    def check(self, request: Request, ctx: Context) -> Message | None:
        recent = window_sum(ctx, request, "asset", self.duration)[0]
        longer = window_sum(ctx, request, "asset", self.duration * (self.baseline_windows + 1))[0]
        current = recent + request.amount
        earlier = longer - recent
        if current <= self.min_amount:
            return None
        p_, q_ = self.factor.as_integer_ratio()
        # current > factor × (earlier / windows), in integers
        if current * q_ * self.baseline_windows > p_ * earlier:
            baseline = earlier // self.baseline_windows
            return msg("hit.outflow_rate", amount=_units(current, request, self.decimals),
                       window=duration_text(self.duration),
                       baseline=_units(baseline, request, self.decimals))
        return None


def window_sum(ctx: Context, request: Request, scope: str,
               duration: timedelta) -> tuple[int, int]:
    """Amount and count of earlier withdrawals in the window, for the request's scope."""
    given = ctx.sums.get((scope, duration))
    if given is not None:
        return given
    since = request.at - duration
    total = count = 0
    for p in ctx.history:
        if p.at <= since or p.at > request.at or p.asset != request.asset:
            continue
        if scope == "customer" and p.customer != request.customer:
            continue
        if scope == "destination" and p.destination != request.destination:
            continue
        total += p.amount
        count += 1
    return total, count


def needed_sums(rules: Sequence[Rule]) -> set[tuple[str, timedelta]]:
    """The (scope, window) sums these rules read, for the service to compute."""
    return set().union(*(r.sums() for r in rules))


RULE_KINDS: dict[str, type[Rule]] = {k.kind: k for k in (
    MaxAmount, Window, HotShare, AllowList, DenyList, ZScore, NewDestination, UnusualHour,
    OutflowRate)}
_COMMON = {"kind", "name", "action", "reason", "asset"}


# every parameter that is an amount, in any kind (kept in minor units of the rule's asset)
AMOUNT_PARAMS = frozenset(name for kind in RULE_KINDS.values()
                          for name, param in kind.params.items() if param.amount)


def parse_rules(raw: Sequence[Mapping[str, Any]], registry: AssetRegistry,
                where: str) -> tuple[Rule, ...]:
    """Check the ``[[screening.rules]]`` of a policy; the field is named on any error."""
    rules: list[Rule] = []
    names: set[str] = set()
    for i, spec in enumerate(raw):
        label = f"{where}: screening.rules[{i}]"
        if not isinstance(spec, Mapping):
            raise ConfigError(f"{label} must be a table",
                              says=msg("error.policy_file.not_table", where=place_said(label)))
        kind = RULE_KINDS.get(str(spec.get("kind")))
        if kind is None:
            raise ConfigError(f"{label}.kind {spec.get('kind')!r} is not one of "
                              f"{', '.join(RULE_KINDS)}",
                              says=msg("error.screening.kind", where=place_said(label),
                                       kind=value_shown(spec.get("kind")),
                                       kinds=", ".join(RULE_KINDS)))
        unknown = sorted(set(spec) - _COMMON - set(kind.params))
        if unknown:
            raise ConfigError(f"{label}: {kind.kind} has no parameter(s) {', '.join(unknown)}",
                              says=msg("error.screening.unknown_params", where=place_said(label),
                                       kind=kind.kind, params=", ".join(unknown)[:200]))
        action = spec.get("action")
        if action not in OUTCOMES:
            raise ConfigError(f"{label}.action must be allow, review or block",
                              says=msg("error.screening.action", where=place_said(label)))
        name = str(spec.get("name") or f"{kind.kind}-{i + 1}")
        if name in names:
            raise ConfigError(f"{label}.name {name!r} is used twice",
                              says=msg("error.screening.name_twice", where=place_said(label),
                                       name=value_shown(name)))
        names.add(name)
        given = str(spec.get("reason") or "").strip()
        values: dict[str, Any] = {"name": name, "action": action,
                                  "reason": verbatim(given) if given
                                  else msg(f"rule.kind.{kind.kind}")}
        asset = None
        if "asset" in spec:
            try:
                asset = registry[str(spec["asset"])]
            except KinkoError as exc:
                raise ConfigError(f"{label}.asset: {exc.message}",
                                  says=msg("error.policy_file.at",
                                           where=place_said(f"{label}.asset"),
                                           problem=exc.said())) from None
            values["asset"] = asset.symbol
            if "decimals" in kind.__dataclass_fields__:
                values["decimals"] = asset.decimals
        for name, param in kind.params.items():
            if name not in spec:
                continue
            try:
                if param.amount:
                    if asset is None:
                        raise ValueRefused("an amount needs the rule's asset",
                                           says=msg("error.screening.amount_needs_asset"))
                    values[name] = parse_units(str(spec[name]), asset)
                else:
                    values[name] = param.parse(spec[name])
            except (ValueError, KinkoError) as exc:
                reason = exc.message if isinstance(exc, KinkoError) else str(exc)
                raise ConfigError(f"{label}.{name}: {reason}",
                                  says=msg("error.policy_file.at",
                                           where=place_said(f"{label}.{name}"),
                                           problem=refusal_said(exc))) from None
        lacking = kind.incomplete(values)
        if lacking is not None:
            raise ConfigError(f"{label}: {lacking}",
                              says=msg("error.policy_file.at", where=place_said(label),
                                       problem=lacking.says))
        rules.append(kind(**values))
    return tuple(rules)


def screen(request: Request, rules: Sequence[Rule], ctx: Context,
           policy_version: int) -> Decision:
    """Run every rule; the strictest action wins; a tripped breaker means at least review,
    a paying wallet whose key leaked (an open incident says so) means block."""
    hits = []
    for rule in rules:
        if not rule.applies(request):
            continue
        detail = rule.check(request, ctx)
        if detail is not None:
            hits.append(RuleHit(rule.name, rule.kind, rule.action, rule.reason, detail))
    if ctx.compromised is not None:
        hits.append(RuleHit("compromised-wallet", "compromised", "block",
                            msg("rule.kind.compromised"),
                            msg("hit.compromised", incident=ctx.compromised)))
    if request.asset in ctx.tripped or "*" in ctx.tripped:
        scope: Message | str = msg("brk.all") if "*" in ctx.tripped else request.asset
        hits.append(RuleHit("circuit-breaker", "breaker", "review", msg("rule.kind.breaker"),
                            msg("hit.breaker", scope=scope)))
    outcome: Outcome = "allow"
    for h in hits:
        if _RANK[h.action] > _RANK[outcome]:
            outcome = h.action
    return Decision(outcome, tuple(hits), policy_version)


def rules_markdown() -> str:
    """The README's table of rule kinds, generated from :data:`RULE_KINDS`."""
    lines = ["| kind | what it catches | parameters (besides action, reason, asset, name) |",
             "|---|---|---|"]
    for kind in RULE_KINDS.values():
        params = "; ".join(f"`{p}`: {m.meaning}" for p, m in kind.params.items()) or "-"
        lines.append(f"| `{kind.kind}` | {kind.doc} | {params} |")
    return "\n".join(lines)
