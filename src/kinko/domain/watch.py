"""Watch: what left our wallets, and did kinko approve it?

The watch reads every transfer the chain shows (mined blocks, and the mempool where the node
offers it) and keeps those that touch an exchange wallet's address. Each coin leaving one
(an *outflow*) must correspond to a movement kinko approved and expects on chain
(:class:`Expected`: an approved withdrawal, sweep or refill): first by transaction hash,
which kinko records before it broadcasts anything it signs; else, for a movement signed
elsewhere (a refill the offline signers send from cold storage), by sender, receiver, value
and, when known, nonce. One expectation explains one outflow, ever: the service hands an
expectation already used by a transaction back with that transaction's hash, so a copy
of it in another transaction (or another poll) is explained by nothing.

An outflow nothing explains is a theft alarm: :func:`theft_alert` turns it into an
:class:`Alert` whose key (:func:`alert_key`: chain and transaction) is the same whether it
was first seen in the mempool or in a block, and whether it was seen as a transfer or as a
change of state (:func:`state_alert`, from :mod:`kinko.domain.watch_state`), so one theft
alerts once. A transaction
from our key that moves no value (an ERC-20 ``approve`` would hand an attacker an allowance)
is an outflow of zero: it is explained only by a movement kinko made in the same
transaction; the call behind a token outflow nothing explains is left to that outflow's
alarm, so one theft is one alert.

A balance can also fall without a transfer kinko can read (a contract wallet's internal
call, fees of an attacker's transactions). :func:`unexplained_drop` measures the fall of a
wallet's balance over a window that explained outflows and inflows do not account for;
:func:`drop_exceeds` compares it with the policy's threshold, exactly.

Everything here is pure: the service feeds blocks in and stores what comes out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal, get_args

from kinko.domain.addresses import chain_key
from kinko.domain.chain import Transfer
from kinko.domain.messages import Message, Units, msg
from kinko.domain.money import Asset
from kinko.domain.watch_state import Finding

__all__ = [
    "ALERT_KINDS",
    "Alert",
    "AlertKind",
    "Expected",
    "Observation",
    "alert_key",
    "classify",
    "deposit_alert",
    "drop_exceeds",
    "observation_id",
    "state_alert",
    "theft_alert",
    "unexplained_drop",
]

Direction = Literal["out", "in"]

# every kind of alert: those the watch raises (safe_execution, safe_change and owner_key:
# kinko.domain.watch_safe), and those raised where the danger is seen
# (policy_loosening by a custody policy version that loosens, cosign_refused by the policy
# co-signer, which inserts its refusals itself); the dashboard's filter offers these
AlertKind = Literal["theft", "theft_attempt", "unknown_tx", "delegation", "nonce", "code",
                    "allowance", "call", "displaced", "balance_drop", "denied_deposit",
                    "audit_allowance", "audit_delegation", "state_gap", "safe_execution",
                    "safe_change", "owner_key", "cosign_refused", "policy_loosening"]
ALERT_KINDS: tuple[AlertKind, ...] = get_args(AlertKind)


@dataclass(frozen=True)
class Expected:
    """A movement kinko approved and expects to see leave ``senders`` on chain."""

    ref: str  # withdrawal:<id> or proposal:<id>
    asset: str
    senders: frozenset[str]  # the addresses it may leave from
    to: str
    value: int
    tx_hash: str | None = None  # known when kinko signed it
    nonce: int | None = None


@dataclass(frozen=True)
class Observation:
    """One transfer touching an exchange wallet, and what explains it (outflows only)."""

    transfer: Transfer
    direction: Direction
    wallet: str
    asset: str
    match: str | None = None  # the Expected.ref that explains an outflow

    @property
    def unexplained(self) -> bool:
        return self.direction == "out" and self.match is None


@dataclass(frozen=True)
class Alert:
    key: str  # one alert per key, ever
    kind: AlertKind
    severity: str  # critical, high, warning
    asset: str | None
    wallet: str | None
    detail: Message  # what happened, for people (kinko.domain.messages)
    tx_hash: str | None = None
    amount: int | None = None
    block: int | None = None


def observation_id(chain: str, t: Transfer) -> str:
    return f"{chain}:{t.tx_hash.lower()}:{-1 if t.log_index is None else t.log_index}"


def classify(transfers: Iterable[Transfer], wallets: Mapping[tuple[str, str], str],
             assets: Mapping[str | None, str], expected: Sequence[Expected], *, chain: str
             ) -> list[Observation]:
    """The transfers that touch our wallets, outflows matched against ``expected``.

    ``wallets`` maps (address, asset) to the wallet's name; ``assets`` maps a token's
    contract address (None: the native coin) to its asset symbol; transfers of other tokens
    are ignored. Addresses are compared in ``chain``'s canonical form, however either side
    spells them. Each expectation explains at most one outflow (zero-value calls of a
    transaction that also carries an explained token outflow aside).
    """
    def key(address: str | None) -> str:
        return chain_key(address, chain) if address else ""

    wallets = {(key(a), asset): name for (a, asset), name in wallets.items()}
    assets = {key(t) if t else None: symbol for t, symbol in assets.items()}
    by_hash: dict[str, list[Expected]] = {}
    loose: list[Expected] = []
    for e in expected:
        if e.tx_hash:
            by_hash.setdefault(e.tx_hash.lower(), []).append(e)
        else:
            loose.append(Expected(e.ref, e.asset, frozenset(key(a) for a in e.senders),
                                  key(e.to), e.value, e.tx_hash, e.nonce))
    used: set[str] = set()
    token_tx: dict[str, str | None] = {}  # tx → what explains its token outflow (if anything)
    out: list[Observation] = []
    calls: list[tuple[int, Observation]] = []  # zero-value calls, settled after the rest
    for t in transfers:
        asset = assets.get(key(t.token) if t.token else None)
        if asset is None:
            continue
        sender, to = key(t.sender), key(t.to)
        source = wallets.get((sender, asset))
        if source is not None and t.levy and t.tx_hash.lower() in by_hash:
            # a levy the chain moved with a transaction kinko made (a levied NEM mosaic's):
            # explained by that transaction; it moves no value kinko did not sign for
            out.append(Observation(t, "out", source, asset, by_hash[t.tx_hash.lower()][0].ref))
            continue
        if source is not None:
            obs = Observation(t, "out", source, asset)
            if t.value == 0 and t.token is None:
                calls.append((len(out), obs))
                out.append(obs)
                continue
            found = _match(t, (sender, to), asset, by_hash, loose, used)
            if found is not None:
                used.add(found.ref)
                obs = Observation(t, "out", source, asset, found.ref)
            if t.token is not None:
                token_tx[t.tx_hash.lower()] = token_tx.get(t.tx_hash.lower()) or obs.match
            out.append(obs)
        target = wallets.get((to, asset)) if to else None
        if target is not None and t.value > 0:
            out.append(Observation(t, "in", target, asset))
    drop: set[int] = set()
    for position, obs in calls:
        tx = obs.transfer.tx_hash.lower()
        if tx in token_tx and token_tx[tx] is None:
            drop.add(position)  # the call of an unexplained token outflow: that one alarms
            continue
        ref = token_tx.get(tx) or next((e.ref for e in by_hash.get(tx, ())), None)
        out[position] = Observation(obs.transfer, "out", obs.wallet, obs.asset, ref)
    return [o for i, o in enumerate(out) if i not in drop]


def _match(t: Transfer, ends: tuple[str, str], asset: str,
           by_hash: Mapping[str, list[Expected]], loose: Sequence[Expected],
           used: set[str]) -> Expected | None:
    """What explains ``t`` (``ends``: its sender and receiver in canonical form; ``loose``
    with canonical addresses too)."""
    for e in by_hash.get(t.tx_hash.lower(), ()):
        if e.asset == asset and e.value == t.value:
            return e
    sender, to = ends
    for e in loose:
        if e.ref not in used and e.asset == asset and e.value == t.value \
                and sender in e.senders and e.to == to \
                and (e.nonce is None or e.nonce == t.nonce):
            return e
    return None


def amount_of(units: int, asset: Asset | None, symbol: str) -> Units:
    """An amount for a message (in minor units when the asset is not known)."""
    return Units(units, symbol, asset.decimals if asset is not None else 0)


def seen_where(pending: bool, block: int) -> Message:
    return msg("alert.seen.mempool") if pending else msg("alert.seen.block", block=str(block))


def recipient(t: Transfer) -> str | Message:
    """Whom a transaction went to, as an alert says it: its address, or that it named none
    (a contract created on an EVM chain; a change of a NEM account's cosignatories)."""
    return t.to or msg("alert.no_recipient")


def alert_key(chain: str, tx_hash: str | None, address: str = "", block: int = -1) -> str:
    """One alert per theft: keyed by its transaction, whether first seen in the mempool or
    in a block, by a transfer record or by the state it changed; a change no transaction
    explains is keyed by the address and block."""
    if tx_hash:
        return f"outflow:{chain}:{tx_hash.lower()}"
    return f"state:{chain}:{address}:{block}"


def theft_alert(chain: str, obs: Observation, *, pending: bool,
                asset: Asset | None = None, amount: int | None = None,
                reverted: bool = False) -> Alert:
    """The alarm for an outflow nothing explains (``asset`` gives the amount's decimals;
    ``amount`` the total of the transaction's outflows of that asset, default the
    observation's; ``reverted``: the transaction failed, an attempt that moved nothing)."""
    t = obs.transfer
    value = t.value if amount is None else amount
    where = seen_where(pending, t.block)
    key = alert_key(chain, t.tx_hash)
    if reverted:
        return Alert(key, "theft_attempt", "critical", obs.asset, obs.wallet,
                     msg("alert.theft_attempt", wallet=obs.wallet, tx=t.tx_hash,
                         sender=t.sender, nonce=str(t.nonce),
                         amount=amount_of(value, asset, obs.asset), to=recipient(t),
                         where=where),
                     t.tx_hash, 0, None if pending else t.block)
    if value == 0 and t.token is None:
        return Alert(key, "unknown_tx", "critical", obs.asset,
                     obs.wallet, msg("alert.unknown_tx", wallet=obs.wallet, tx=t.tx_hash,
                                     sender=t.sender, nonce=str(t.nonce), to=recipient(t),
                                     where=where),
                     t.tx_hash, 0, None if pending else t.block)
    return Alert(key, "theft", "critical", obs.asset,
                 obs.wallet, msg("alert.theft", wallet=obs.wallet,
                                 amount=amount_of(value, asset, obs.asset), sender=t.sender,
                                 to=recipient(t), tx=t.tx_hash, nonce=str(t.nonce), where=where),
                 t.tx_hash, value, None if pending else t.block)


def state_alert(chain: str, finding: Finding, wallet: str, *, block: int | None) -> Alert:
    """The alarm for an unexplained change of a watched address (:mod:`kinko.domain.
    watch_state`): a hidden outflow is a theft of that amount; a delegation, a nonce used,
    foreign code, an allowance granted or a call into a delegated account are critical too
    (someone else holds the key), whatever moved yet. The finding's own account of what
    changed is kept as the state watch gave it."""
    key = alert_key(chain, finding.tx_hash, finding.address, -1 if block is None else block)
    kind = "theft" if finding.kind == "hidden_outflow" else finding.kind
    return Alert(key, kind, "critical", finding.asset, wallet,
                 msg("alert.state", wallet=wallet, detail=finding.detail,
                     where=msg("alert.seen.mempool") if block is None
                     else msg("alert.seen.block", block=str(block))),
                 finding.tx_hash, finding.amount, block)


def deposit_alert(chain: str, obs: Observation, label: str | Message,
                  asset: Asset | None = None) -> Alert:
    """A deposit from a listed sender: ``label`` is the list's (as written) or kinko's
    words for why it is listed (a tag mosaic held)."""
    t = obs.transfer
    return Alert(f"denied:{observation_id(chain, t)}", "denied_deposit", "high", obs.asset,
                 obs.wallet, msg("alert.denied_deposit",
                                 amount=amount_of(t.value, asset, obs.asset), wallet=obs.wallet,
                                 sender=t.sender, label=label),
                 t.tx_hash, t.value, t.block if t.block >= 0 else None)


def unexplained_drop(start: int, end: int, explained_out: int, inflow: int) -> int:
    """How much of a balance's fall from ``start`` to ``end`` the explained outflows and the
    inflows in between do not account for (never negative)."""
    return max(0, start - end - explained_out + inflow)


def drop_exceeds(drop: int, start: int, percent: Decimal) -> bool:
    """``drop`` is more than ``percent`` % of ``start`` (exact; nothing to lose: False)."""
    if start <= 0 or drop <= 0:
        return False
    num, den = percent.as_integer_ratio()  # integers: wei amounts exceed Decimal's precision
    return drop * 100 * den > num * start
