"""Custody: the exchange's wallets and their tiers.

A :class:`Wallet` is one exchange wallet for one asset, in a tier: ``hot`` (keys online,
signs withdrawals), ``warm`` or ``cold`` (kinko never holds all of their keys). In the ledger
it is the debit-normal account ``wallet:<name>``::

    >>> Wallet("xem-hot", "XEM", "hot", ("NC4C6PSUW5CLTDT5SXAGJDQJGZNESKFK5MCN77OG",)).account
    'wallet:xem-hot'

Its *kind* says how a transfer from it is authorised: ``key`` (one key signs: in an HSM or,
for development, a keystore file; or, for warm and cold wallets, kept offline) or
``multisig`` (a contract account, a Safe on Ethereum, that moves funds only with
``threshold`` of its ``owners``' signatures). A multisig wallet records its
:class:`Multisig`: the owners, the threshold, the contracts it runs on, and which owner is
kinko's operations key and which the policy co-signer (a co-signed hot wallet is 2-of-3:
the operations key, the co-signer and an offline recovery key)::

    >>> m = Multisig(("0x" + "1" * 40, "0x" + "2" * 40, "0x" + "3" * 40), 2)
    >>> Wallet("eth-hot", "ETH", "hot", ("0x" + "a" * 40,), kind="multisig", multisig=m).kind
    'multisig'

The custody policy (hot share ≤ 5%, rebalancing, approvals) builds on these records.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Literal

from kinko.domain.addresses import address_key
from kinko.domain.messages import N_, Message, Percent, Units, msg
from kinko.domain.policy import Policy
from kinko.errors import InvalidAccount

__all__ = [
    "ART_27",
    "ART_63_11",
    "ART_63_11_2",
    "KINDS",
    "LEGAL_MAX_ONLINE",
    "TIERS",
    "AssetPosition",
    "CustodyFinding",
    "Guarantee",
    "Move",
    "Multisig",
    "Tier",
    "Wallet",
    "WalletSigning",
    "customer_offline",
    "evaluate",
    "guarantee",
    "not_offline_share",
    "rebalance",
    "same_key",
    "signing_findings",
    "wallet_signing",
]

Tier = Literal["hot", "warm", "cold"]
TIERS: tuple[Tier, ...] = ("hot", "warm", "cold")
KINDS = ("key", "multisig")
_WALLET_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class Multisig:
    """A multisig wallet's set-up as registered: its owners (addresses in the chain's
    canonical form), how many must sign, the contracts it runs on (role -> address, e.g.
    the Safe singleton, proxy factory and fallback handler) and the roles of two owners:
    ``operator`` (kinko's operations key) and ``cosigner`` (the policy co-signer)."""

    owners: tuple[str, ...]
    threshold: int
    contracts: tuple[tuple[str, str], ...] = ()
    operator: str | None = None
    cosigner: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.threshold, bool) or not isinstance(self.threshold, int) \
                or not 1 <= self.threshold <= len(self.owners):
            raise InvalidAccount(f"a multisig threshold must be between 1 and the number of "
                                 f"owners ({len(self.owners)}), not {self.threshold!r}",
                                 says=msg("error.multisig.threshold", owners=len(self.owners),
                                          threshold=repr(self.threshold)[:80]))
        keys = [address_key(o) for o in self.owners]
        if len(set(keys)) != len(keys):
            raise InvalidAccount("a multisig owner is named twice",
                                 says=msg("error.multisig.owner_twice"))
        for role, not_owner in (("operator", N_("error.multisig.operator_not_owner")),
                                ("cosigner", N_("error.multisig.cosigner_not_owner"))):
            who = getattr(self, role)
            if who is not None and address_key(who) not in keys:
                raise InvalidAccount(f"the {role} {who} is not one of the owners",
                                     says=msg(not_owner, address=str(who)[:200]))

    def to_json(self) -> dict[str, object]:
        return {"owners": list(self.owners), "threshold": self.threshold,
                "contracts": dict(self.contracts), "operator": self.operator,
                "cosigner": self.cosigner}

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Multisig:
        owners = data.get("owners")
        contracts = data.get("contracts") or {}
        threshold = data.get("threshold")
        if not isinstance(owners, list) or not isinstance(contracts, Mapping) \
                or not isinstance(threshold, int):
            raise InvalidAccount("a multisig set-up needs owners, a threshold and contracts",
                                 says=msg("error.multisig.incomplete"))
        operator, cosigner = data.get("operator"), data.get("cosigner")
        return cls(tuple(str(o) for o in owners), threshold,
                   tuple((str(k), str(v)) for k, v in contracts.items()),
                   None if operator is None else str(operator),
                   None if cosigner is None else str(cosigner))


@dataclass(frozen=True)
class Wallet:
    """One exchange wallet: name, the asset it holds, its tier, its chain addresses, and
    its kind (``key`` or ``multisig``, with its :class:`Multisig` set-up)."""

    name: str
    asset: str
    tier: Tier
    addresses: tuple[str, ...] = ()
    kind: str = "key"
    multisig: Multisig | None = None

    def __post_init__(self) -> None:
        if not _WALLET_NAME.match(self.name):
            raise InvalidAccount(
                f"wallet name {self.name!r} must be 1-64 lower-case letters, digits, '.', '_' "
                "or '-', starting with a letter or digit",
                wallet=self.name, says=msg("error.wallet.name", name=str(self.name)[:80]),
            )
        if self.tier not in TIERS:
            raise InvalidAccount(
                f"wallet {self.name}: tier must be one of {', '.join(TIERS)}, not {self.tier!r}",
                wallet=self.name, says=msg("error.wallet.tier", wallet=self.name,
                                           tiers=", ".join(TIERS), tier=str(self.tier)[:80]),
            )
        if self.kind not in KINDS:
            raise InvalidAccount(f"wallet {self.name}: kind must be one of {', '.join(KINDS)}, "
                                 f"not {self.kind!r}", wallet=self.name,
                                 says=msg("error.wallet.kind", wallet=self.name,
                                          kinds=", ".join(KINDS), kind=str(self.kind)[:80]))
        if (self.kind == "multisig") != (self.multisig is not None):
            raise InvalidAccount(f"wallet {self.name}: a multisig wallet (and only one) needs "
                                 "its owners and threshold", wallet=self.name,
                                 says=msg("error.wallet.multisig_setup", wallet=self.name))
        if self.kind == "multisig" and len(self.addresses) != 1:
            raise InvalidAccount(f"wallet {self.name}: a multisig wallet is one address (its "
                                 "contract account)", wallet=self.name,
                                 says=msg("error.wallet.multisig_one_address",
                                          wallet=self.name))

    @property
    def account(self) -> str:
        return f"wallet:{self.name}"


def same_key(wallets: Sequence[Wallet], name: str | None) -> list[Wallet]:
    """The wallet ``name`` and every other online wallet with one of its addresses: one key
    signs for all of them, so if it leaked for one it leaked for all (cold wallets hold no
    key in kinko)."""
    source = next((w for w in wallets if w.name == name), None)
    if source is None:
        return []
    keys = {address_key(a) for a in source.addresses}
    return [w for w in wallets if w.name == source.name or (
        w.tier != "cold" and keys & {address_key(a) for a in w.addresses})]


@dataclass(frozen=True)
class AssetPosition:
    """One asset's custody position, exact, in minor units."""

    asset: str
    customers: int  # number of customer accounts holding the asset
    liabilities: int
    held_for_withdrawal: int
    holdings: dict[str, int] = field(default_factory=dict)  # tier or "bank" -> units
    own_funds: int = 0

    @property
    def total_holdings(self) -> int:
        return sum(self.holdings.values())

    @property
    def coverage(self) -> int:
        return self.total_holdings - self.liabilities

    def online(self, warm_counts_as_hot: bool = True) -> int:
        """Held with keys online: hot, and warm unless the policy says otherwise."""
        return self.holdings.get("hot", 0) + (self.holdings.get("warm", 0)
                                               if warm_counts_as_hot else 0)


@dataclass(frozen=True)
class Guarantee:
    """PSA Art. 63-11-2: own crypto of the same kind and amount as customer crypto held online."""

    required: int  # customer crypto held online
    held: int  # the exchange's own crypto held offline

    @property
    def shortfall(self) -> int:
        return max(0, self.required - self.held)


def guarantee(position: AssetPosition, warm_counts_as_hot: bool = True) -> Guarantee:
    online = position.online(warm_counts_as_hot)
    offline = position.total_holdings - online - position.holdings.get("bank", 0)
    customers_online = min(online, position.liabilities)
    customers_offline = position.liabilities - customers_online
    return Guarantee(customers_online, max(0, offline - customers_offline))


# The law's limits, which apply whether or not a policy is loaded.
LEGAL_MAX_ONLINE = Decimal("0.05")  # Cabinet Office Ordinance Art. 27: ≤ 5% online, by value
ART_27 = "Art. 27"  # Cabinet Office Ordinance on Crypto-Asset Exchange Service Providers
ART_63_11 = "Art. 63-11"  # Payment Services Act: segregation of customers' crypto-assets
ART_63_11_2 = "Art. 63-11-2"  # Payment Services Act: performance-guarantee crypto-assets


@dataclass(frozen=True)
class CustodyFinding:
    """A breach or a fact worth knowing; ``message`` says it for people, ``law`` names the
    article when a legal test failed (None: a policy limit, a reconciliation difference, a
    note)."""

    code: str
    severity: Literal["critical", "warning", "info"]
    asset: str | None
    message: Message
    amount: int | None = None
    addresses: tuple[str, ...] = ()
    wallet: str | None = None
    law: str | None = None


@dataclass(frozen=True)
class WalletSigning:
    """How one wallet is signed and where its keys live, for the reports.

    ``signing``: ``single_key`` (one key moves it), ``multisig`` (a Safe: ``threshold`` of
    its ``owners``) or ``cosigned`` (a Safe one of whose owners is the policy co-signer).
    ``keys``: where the key kinko signs with lives: ``hsm``, ``file``, ``absent`` (kinko
    would read it from a key file that is not there: a wallet registered by its address),
    ``offline`` (kinko holds none) or ``unknown`` (this process was not told).
    ``offline``: owners' keys kinko does not hold, the co-signer's not counted (it keeps its
    own). ``refusals``: the co-signer's refusals for this wallet in kinko's alerts, the
    latest as (when, reason code, alert id)."""

    wallet: str
    asset: str
    tier: str
    signing: str
    threshold: int
    owners: int
    keys: str
    offline: int = 0
    refusals: int = 0
    latest_refusal: tuple[datetime, str, str] | None = None


def wallet_signing(wallets: Sequence[Wallet], key_location: Mapping[str, str | None] | None,
                   refusals: Mapping[str, Sequence[tuple[datetime, str, str]]] | None = None
                   ) -> list[WalletSigning]:
    """Each wallet's :class:`WalletSigning`. ``key_location`` maps a wallet's name to "hsm",
    "file", "absent" or None (kinko holds no key of it); None when not known. ``refusals``
    maps a wallet's name to the co-signer's refusals for it (when, reason code, alert id)."""
    out = []
    for w in wallets:
        m = w.multisig
        where = None if key_location is None else key_location.get(w.name)
        if key_location is None:
            keys = "unknown" if w.tier == "hot" or (m is not None and m.operator) else "offline"
        else:
            keys = where or "offline"
        if m is None:
            signing, threshold, owners = "single_key", 1, 1
            offline = 1 if keys == "offline" else 0
        else:
            signing = "cosigned" if m.cosigner is not None else "multisig"
            threshold, owners = m.threshold, len(m.owners)
            offline = owners - (m.operator is not None) - (m.cosigner is not None)
        found = sorted((refusals or {}).get(w.name, ()))
        out.append(WalletSigning(w.name, w.asset, w.tier, signing, threshold, owners, keys,
                                 offline, len(found), found[-1] if found else None))
    return out


def signing_findings(wallets: Sequence[Wallet], key_location: Mapping[str, str | None],
                     nem_assets: Collection[str] = ()) -> list[CustodyFinding]:
    """How the online wallets sign, as findings: a key kinko signs with that sits in a file
    (``key_in_file``: it belongs in an HSM), and a hot wallet of one key
    (``single_key_hot``: whoever takes that key takes the wallet; a co-signed multisig is the
    expected set-up). ``key_location`` maps a wallet's name to "hsm", "file", "absent" (no
    key file where kinko would read it) or None (kinko holds no key of it). A wallet of an
    asset in ``nem_assets`` is on NEM, whose advice differs: no HSM holds a NEM key, and a
    NEM multisig account is made on NEM and registered (``wallets add --safe``), not
    created by kinko."""
    out: list[CustodyFinding] = []
    for w in wallets:
        if w.tier == "cold":
            continue
        nem = w.asset in nem_assets
        if key_location.get(w.name) == "file":
            out.append(CustodyFinding(
                "key_in_file", "warning", w.asset,
                msg("finding.key_in_file_nem", wallet=w.name, tier=msg(f"tier.{w.tier}"))
                if nem else
                msg("finding.key_in_file", wallet=w.name, tier=msg(f"tier.{w.tier}")),
                addresses=w.addresses, wallet=w.name))
        if w.tier == "hot" and w.kind == "key":
            out.append(CustodyFinding(
                "single_key_hot", "warning", w.asset,
                msg("finding.single_key_hot_nem", wallet=w.name) if nem else
                msg("finding.single_key_hot", wallet=w.name), addresses=w.addresses,
                wallet=w.name))
        if w.multisig is not None and w.tier == "hot" and w.multisig.cosigner is None:
            out.append(CustodyFinding(
                "hot_without_cosigner", "warning", w.asset,
                msg("finding.hot_without_cosigner", wallet=w.name), addresses=w.addresses,
                wallet=w.name))
    return out


@dataclass(frozen=True)
class Move:
    """A proposed rebalance: ``sweep`` hot → cold or ``refill`` cold → hot."""

    kind: Literal["sweep", "refill"]
    asset: str
    amount: int
    reason: Message


def _exceeds(part: int, whole: int, ratio: Decimal) -> bool:
    """part / whole > ratio, exactly (integers and a decimal fraction, no rounding)."""
    p, q = ratio.as_integer_ratio()
    return part * q > p * whole


def within_share(part: int, whole: int, ratio: Decimal) -> bool:
    """part / whole <= ratio, exactly."""
    return not _exceeds(part, whole, ratio)


def _share(whole: int, ratio: Decimal) -> int:
    p, q = ratio.as_integer_ratio()
    return whole * p // q


def customer_offline(position: AssetPosition, warm_counts_as_hot: bool = True) -> int:
    """Customer crypto held offline: what is owed, less what is held online for customers
    (online holdings count as the customers' first) and less what is not held at all."""
    online = min(position.online(warm_counts_as_hot), position.liabilities)
    offline = (position.total_holdings - position.online(warm_counts_as_hot)
               - position.holdings.get("bank", 0))
    return max(0, min(offline, position.liabilities - online))


def not_offline_share(position: AssetPosition, warm_counts_as_hot: bool = True
                      ) -> Decimal | None:
    """The share of what customers are owed that is not held offline (online, or not held
    at all): the ordinance's test is that it stays within 5%. None: nothing is owed."""
    if position.liabilities <= 0:
        return None
    return Decimal(position.liabilities - customer_offline(position, warm_counts_as_hot)) \
        / Decimal(position.liabilities)


def evaluate(positions: list[AssetPosition], policy: Policy | None,
             prices: Mapping[str, Decimal] | None = None,
             decimals: Mapping[str, int] | None = None) -> list[CustodyFinding]:
    """Every breach of the law and of the policy in these positions, most serious first.

    The law applies with or without a policy: reserves ≥ what customers are owed (PSA Art.
    63-11), the performance guarantee (Art. 63-11-2) and the ordinance's 5%: customer crypto
    held offline covers at least 95% of what customers are owed, by yen value across assets
    (Art. 27). Without prices the 5% test is decided when every asset's share lies on the
    same side of 5% (a weighted average lies between its parts), else it is not assessed.
    A policy adds its own limits per asset (share of holdings online, hot minimum and
    maximum).

    ``prices`` are yen per *minor unit* of each asset (a price per whole unit divided by
    10^decimals), since positions are in minor units; ``decimals`` show amounts in whole
    units in the findings' messages."""
    places = decimals or {}
    out: list[CustodyFinding] = []
    warm = policy.warm_counts_as_hot if policy is not None else True
    owed_jpy = not_offline_jpy = Decimal(0)
    shares: list[Decimal] = []
    priced_all = prices is not None
    for pos in positions:
        if pos.asset == "JPY":
            continue

        def units(value: int, pos: AssetPosition = pos) -> Units:
            return Units(value, pos.asset, places.get(pos.asset, 0))

        rule = policy.assets.get(pos.asset) if policy is not None else None
        online = pos.online(warm)
        total = pos.total_holdings - pos.holdings.get("bank", 0)
        if pos.coverage < 0:
            out.append(CustodyFinding(
                "reserve_shortfall", "critical", pos.asset,
                msg("finding.reserve_shortfall", asset=pos.asset, amount=units(-pos.coverage),
                    held=units(pos.total_holdings), owed=units(pos.liabilities)),
                -pos.coverage, law=ART_63_11))
        if policy is not None and rule is None:
            out.append(CustodyFinding("no_policy", "warning", pos.asset,
                                      msg("finding.no_limits", asset=pos.asset)))
        if rule is not None:
            if total and _exceeds(online, total, rule.max_hot_ratio):
                out.append(CustodyFinding(
                    "hot_ratio_breach", "critical", pos.asset,
                    msg("finding.hot_ratio_breach", asset=pos.asset,
                        share=Percent(Decimal(online) / Decimal(total)),
                        limit=Percent(rule.max_hot_ratio),
                        amount=units(online - _share(total, rule.max_hot_ratio))),
                    online - _share(total, rule.max_hot_ratio)))
            if rule.hot_max is not None and pos.holdings.get("hot", 0) > rule.hot_max:
                out.append(CustodyFinding(
                    "hot_above_max", "warning", pos.asset,
                    msg("finding.hot_above_max", asset=pos.asset,
                        amount=units(pos.holdings.get("hot", 0) - rule.hot_max)),
                    pos.holdings.get("hot", 0) - rule.hot_max))
            if pos.holdings.get("hot", 0) < rule.hot_min:
                out.append(CustodyFinding(
                    "hot_below_min", "warning", pos.asset,
                    msg("finding.hot_below_min", asset=pos.asset,
                        amount=units(rule.hot_min - pos.holdings.get("hot", 0))),
                    rule.hot_min - pos.holdings.get("hot", 0)))
        g = guarantee(pos, warm)
        if g.shortfall:
            out.append(CustodyFinding(
                "guarantee_shortfall", "critical", pos.asset,
                msg("finding.guarantee_shortfall", asset=pos.asset, amount=units(g.shortfall),
                    required=units(g.required), held=units(g.held)),
                g.shortfall, law=ART_63_11_2))
        share = not_offline_share(pos, warm)
        if share is not None:
            shares.append(share)
        price = prices.get(pos.asset) if prices is not None else None
        if prices is not None and price is None and pos.liabilities:
            priced_all = False
            out.append(CustodyFinding("no_price", "warning", pos.asset,
                                      msg("finding.no_price", asset=pos.asset)))
        elif price is not None:
            owed_jpy += price * pos.liabilities
            not_offline_jpy += price * (pos.liabilities - customer_offline(pos, warm))
    limit = policy.total_max_hot_ratio if policy is not None else LEGAL_MAX_ONLINE
    limit = min(limit, LEGAL_MAX_ONLINE)  # a policy may be stricter than the law, not laxer
    if priced_all and owed_jpy:
        if not_offline_jpy > limit * owed_jpy:
            out.append(CustodyFinding(
                "total_hot_ratio_breach", "critical", None,
                msg("finding.total_hot_ratio_breach",
                    share=Percent(not_offline_jpy / owed_jpy), limit=Percent(limit),
                    offline=Percent(1 - not_offline_jpy / owed_jpy)),
                law=ART_27))
    elif shares and min(shares) > limit:  # every asset above: so is any weighted average
        out.append(CustodyFinding(
            "total_hot_ratio_breach", "critical", None,
            msg("finding.total_hot_ratio_breach.unpriced", share=Percent(min(shares)),
                limit=Percent(limit)),
            law=ART_27))
    elif shares and max(shares) > limit:
        out.append(CustodyFinding("total_not_assessed", "warning", None,
                                  msg("finding.total_not_assessed", limit=Percent(limit))))
    order = {"critical": 0, "warning": 1, "info": 2}
    return sorted(out, key=lambda f: order[f.severity])


def rebalance(positions: list[AssetPosition], policy: Policy) -> list[Move]:
    """The moves that bring each asset back within its limits."""
    moves = []
    for pos in positions:
        rule = policy.assets.get(pos.asset)
        if rule is None:
            continue
        hot = pos.holdings.get("hot", 0)
        online = pos.online(policy.warm_counts_as_hot)
        total = pos.total_holdings
        ceiling = _share(total, rule.max_hot_ratio)
        too_much = total and _exceeds(online, total, rule.max_hot_ratio)
        if too_much or (rule.hot_max is not None and hot > rule.hot_max):
            allowed = _share(total, rule.target_hot_ratio) - (online - hot)
            if rule.hot_max is not None:
                allowed = min(allowed, rule.hot_max)
            amount = hot - max(0, allowed)
            if amount > 0:
                moves.append(Move("sweep", pos.asset, amount, msg(
                    "proposal.sweep.ratio", limit=Percent(rule.max_hot_ratio),
                    target=Percent(rule.target_hot_ratio)) if too_much else
                    msg("proposal.sweep.max")))
        elif hot < rule.hot_min:
            room = ceiling - online
            amount = min(rule.hot_min - hot, room, pos.holdings.get("cold", 0))
            if amount > 0:
                moves.append(Move("refill", pos.asset, amount, msg("proposal.refill.min")))
    return moves
