"""Containing a theft: trip the breakers, and sweep what the thief has not taken yet.

A key that signed one unauthorised transfer signs for every wallet with its address, so
:meth:`Containment.compromised` is all of them (online ones; cold wallets have no key in
kinko). :meth:`Containment.contain` trips the breaker of every asset they hold (and the
global one when the policy says ``trip_global``), then, for a new incident, prepares the
emergency sweep of each: what is left on chain, less the gas, to a fresh cold address
(``emergency_address`` in the policy, registered in a cold wallet), tokens first so the coin
paying their gas goes last. With ``[watch] emergency_sweep = "auto"`` (the policy's quorum
authorised it in advance) it is signed and sent at once; otherwise it is a proposal for the
quorum. The attacker holds the same key: this is a race, and the timeline says so.
Withdrawals waiting in a compromised wallet (held for review, allowed, approved) would be
paid from money within the attacker's reach: with ``compromised_withdrawals = "reject"``
(the default) they are rejected first, their reservations released to the customers, so the
sweep takes everything; with ``"keep"`` what they reserve stays (the ledger keeps
reservations whole) until people reject them. Withdrawals already being sent stay.

In three steps, so the database and the chain never wait on each other:

1. :meth:`Containment.survey` reads the chain first (what is left in each wallet the
   leaked key signs for, and what its sweep will cost in the chain's fee coin and who pays
   it: the wallet itself for one key, a relayer for a multisig), outside any transaction;
2. :meth:`Containment.contain` runs inside the watch's unit of work, with the alert and the
   incident: breakers, rejections, sweep proposals (pre-authorised ones approved) and the
   timeline commit together, or not at all;
3. :meth:`Containment.send` broadcasts the pre-authorised sweeps after that unit committed,
   each signed and recorded before it is broadcast (:meth:`Custody.execute`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kinko.domain.addresses import same_address
from kinko.domain.custody import Wallet, same_key
from kinko.domain.ledger import available, normal_balance
from kinko.domain.money import Asset, format_units
from kinko.domain.watch import Alert
from kinko.errors import ChainRejected, KinkoError
from kinko.ports import Chain, Fee
from kinko.services.timeline import record
from kinko.services.withdrawals import Withdrawals

__all__ = ["ACTOR", "Containment", "Survey"]

ACTOR = "kinko:watch"


@dataclass
class Survey:
    """What the chain showed just before containing: per wallet, what is left on its
    addresses and what sweeping it costs (and who pays)."""

    left: dict[str, int] = field(default_factory=dict)
    fees: dict[str, Fee] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)  # wallet -> why it was not read


@dataclass(frozen=True)
class Sweep:
    """A pre-authorised emergency sweep to broadcast once the unit that made it commits."""

    incident: str
    proposal: str
    shown: str  # the amount, for the timeline
    target: str


class Containment:
    """See the module docstring."""

    def __init__(self, withdrawals: Withdrawals, chain: Chain) -> None:
        self.withdrawals = withdrawals
        self.custody = withdrawals.custody
        self.ledger = withdrawals.ledger
        self.chain = chain

    def event(self, incident: str, kind: str, actor: str, detail: str) -> None:
        record(self.ledger.store, incident, self.ledger.clock.now(), kind, actor, detail)

    def compromised(self, wallet_name: str | None) -> list[Wallet]:
        """The wallet and every other online wallet with one of its addresses (one key
        signs for all of them: if it leaked for one, it leaked for all), tokens first so
        that the coin paying their gas is swept last."""
        same = same_key(self.ledger.wallets(), wallet_name)
        return sorted(same, key=lambda w: (self.ledger.assets[w.asset].token is None, w.name))

    def survey(self, wallet_names: list[str | None]) -> Survey:
        """Read from the chain what an emergency sweep of every wallet these wallets' key
        signs for needs (outside any transaction)."""
        out = Survey()
        wallets = {w.name: w for name in dict.fromkeys(wallet_names)
                   for w in self.compromised(name)}
        if not wallets:
            return out
        policy = self.custody.policy()
        every = self.ledger.wallets()
        for name, w in wallets.items():
            if not w.addresses:
                continue
            try:
                asset = self.ledger.assets[w.asset]
                rule = policy.assets.get(asset.symbol) if policy is not None else None
                target, _ = _emergency_target(rule.emergency_address if rule else None,
                                              rule.cold_wallet if rule else None, asset, every)
                out.fees[name] = self.custody.spender(w).fee(asset, target)
                out.left[name] = sum(self.chain.balances(list(w.addresses), None,
                                                         token=asset.token).values())
            except KinkoError as exc:
                out.problems[name] = exc.message
        return out

    def contain(self, incident: str, alert: Alert, fresh: bool,
                survey: Survey | None = None) -> list[Sweep]:
        """Trip the breaker(s) and, for a new incident, prepare the emergency sweep of
        every wallet the leaked key signs for: in the caller's unit of work (see the module
        docstring). Returns the pre-authorised sweeps to :meth:`send` after it commits."""
        with self.ledger.store.unit() as unit:
            policy = self.custody.policy()
            compromised = self.compromised(alert.wallet) if alert.kind != "balance_drop" else []
            scopes = list(dict.fromkeys([*([alert.asset] if alert.asset else []),
                                         *(w.asset for w in compromised)]))
            if policy is not None and policy.watch.trip_global:
                scopes.append("*")
            tripped = self.withdrawals.breaker()
            for scope in scopes:
                if scope in tripped:
                    continue
                self.withdrawals.trip(scope, ACTOR, f"{alert.kind}: {alert.tx_hash}",
                                      on_timelines=False, actor="")
                self.event(incident, "breaker", ACTOR,
                           f"breaker {scope} tripped: every {scope} withdrawal is held for "
                           "review")
            if not fresh:
                return []
            survey = survey if survey is not None else self.survey([alert.wallet])
            sweeps = []
            for wallet in compromised:
                try:
                    with unit.savepoint():  # a sweep that cannot be prepared leaves no trace
                        sweep = self.prepare_sweep(incident, wallet.name, survey)
                except KinkoError as exc:
                    self.event(incident, "sweep", ACTOR, f"emergency sweep of {wallet.name} "
                               f"not prepared: {exc.message}")
                    continue
                if sweep is not None:
                    sweeps.append(sweep)
            return sweeps

    def prepare_sweep(self, incident: str, wallet_name: str, survey: Survey) -> Sweep | None:
        """Propose (or, if the policy pre-authorises it, approve for :meth:`send`) moving
        what the survey found left in a compromised wallet to a fresh cold address, in the
        caller's unit of work. The attacker holds the same key and may empty the wallet
        first: this is a race, and the timeline says so."""
        wallets = {w.name: w for w in self.ledger.wallets()}
        hot = wallets[wallet_name]
        asset = self.ledger.assets[hot.asset]
        policy = self.custody.policy()
        if policy is None or hot.tier == "cold" or not hot.addresses:
            return None
        rule = policy.assets.get(asset.symbol)
        target, cold = _emergency_target(rule.emergency_address if rule else None,
                                         rule.cold_wallet if rule else None, asset,
                                         list(wallets.values()))
        if target is None or cold is None:
            self.event(incident, "sweep", ACTOR, f"no cold address for {asset.symbol}: "
                       "register one (policy assets.<asset>.emergency_address)")
            return None
        if policy.watch.compromised_withdrawals == "reject":
            self._reject_waiting(incident, hot.name, asset)
        if wallet_name not in survey.left:  # the withdrawals above stay rejected
            self.event(incident, "sweep", ACTOR, f"emergency sweep of {wallet_name} not "
                       "prepared: the node did not say what is left in it: "
                       f"{survey.problems.get(wallet_name, 'not read')}")
            return None
        amount = survey.left[wallet_name]
        fee = 0  # what the ledger must also be able to take from this wallet: the gas
        own = survey.fees.get(wallet_name)
        if asset.token is None and own is not None and \
                any(same_address(own.payer, a, asset.chain) for a in hot.addresses):
            # the wallet pays its own gas: this transfer's, and that of the token sweeps
            # sent just before from the same address, which the ledger books to this wallet
            # when they settle (a multisig's relayer pays for it: nothing stays behind)
            tokens = sum(f.amount for w in self.compromised(wallet_name)
                         if self.ledger.assets[w.asset].token is not None
                         and (f := survey.fees.get(w.name)) is not None
                         and same_address(f.payer, own.payer, asset.chain))
            fee = own.amount + tokens
            amount -= own.amount
        rows = self.ledger.balances(account=hot.account, asset=asset.symbol)
        free = (available(hot.account, rows[0].state) if rows else 0) - fee
        if 0 < free < amount:
            reserved = (normal_balance(hot.account, rows[0].state)
                        - available(hot.account, rows[0].state)) if rows else 0
            stays = f"{format_units(amount - free, asset)} {asset.symbol} stay in {wallet_name}"
            if reserved:
                # withdrawals (kept by the policy, or being sent) hold it: the ledger will
                # not move what they reserve
                self.event(incident, "sweep", ACTOR,
                           f"{stays}: reserved for withdrawals held, approved or being sent; "
                           "reject them (kinko withdrawals reject) and sweep again to move it")
            else:
                self.event(incident, "sweep", ACTOR,
                           f"{stays}: set aside for the gas of the sweeps just sent (booked "
                           "when they settle); sweep again to move what is left")
            amount = free
        if amount <= 0:
            self.event(incident, "sweep", ACTOR, f"{wallet_name} is already empty: nothing "
                       "left to sweep")
            return None
        shown = f"{format_units(amount, asset)} {asset.symbol}"
        payload: dict[str, object] = {
            "asset": asset.symbol, "amount": str(amount), "from_wallet": hot.name,
            "to_wallet": cold.name, "from_address": hot.addresses[0], "to_address": target,
            "emergency": incident}
        auto = policy.watch.emergency_sweep == "auto"
        view = self.custody.propose(
            "sweep", payload, ACTOR,
            f"EMERGENCY sweep of {wallet_name} for {incident}"
            + (" (pre-authorised by policy)" if auto else ""))
        if not auto:
            self.event(incident, "sweep", ACTOR,
                       f"emergency sweep {view.proposal.id} of {shown} to "
                       f"{target} waits for {view.quorum} approvals; {_race(hot)}")
            return None
        self.custody.preauthorise(view.proposal.id, f"v{policy.version} emergency_sweep=auto")
        return Sweep(incident, view.proposal.id, shown, target)

    def send(self, sweeps: list[Sweep]) -> None:
        """Broadcast pre-authorised emergency sweeps (outside any unit of work: each is
        signed and recorded before it is broadcast), and say so on the timeline."""
        for sweep in sweeps:
            try:
                sent = self.custody.execute(sweep.proposal)
            except (ChainRejected, KinkoError) as exc:
                self.event(sweep.incident, "sweep", ACTOR,
                           f"emergency sweep {sweep.proposal} could not be sent: {exc}; the "
                           "attacker may have emptied the wallet first")
                continue
            source = next((w for w in self.ledger.wallets()
                           if w.name == sent.proposal.payload.get("from_wallet")), None)
            self.event(sweep.incident, "sweep", ACTOR,
                       f"emergency sweep {sweep.proposal} sent ({sweep.shown} to "
                       f"{sweep.target}) as {sent.tx_hash}, pre-authorised by the policy; "
                       + ("co-signed: the leaked key alone could not have moved the wallet"
                          if source is not None and _cosigned(source) else
                          "a race with the attacker, who holds the same key"))

    def _reject_waiting(self, incident: str, wallet: str, asset: Asset) -> None:
        """Withdrawals waiting in a wallet whose key leaked would be paid from money the
        attacker can take: reject them (the customers keep their funds, swept to cold with
        the rest) and say so on the timeline."""
        rejected = self.withdrawals.reject_open(
            wallet, ACTOR, f"the key of {wallet} leaked ({incident}); the funds stay yours "
            "and are moved to cold storage: request again when withdrawals resume")
        if rejected:
            total = sum(v.amount for v in rejected)
            self.event(incident, "withdrawals", ACTOR,
                       f"{len(rejected)} withdrawal(s) waiting in {wallet} rejected "
                       f"({format_units(total, asset, group=True)} {asset.symbol} released to "
                       "their customers) so the emergency sweep can take everything: "
                       + ", ".join(v.id for v in rejected[:20])
                       + (" …" if len(rejected) > 20 else ""))


def _cosigned(wallet: Wallet) -> bool:
    """Whether every transfer from ``wallet`` needs the policy co-signer's signature too (a
    multisig with the co-signer among its owners and a threshold above one)."""
    m = wallet.multisig
    return m is not None and m.cosigner is not None and m.threshold >= 2


def _race(wallet: Wallet) -> str:
    if _cosigned(wallet):
        return ("the leaked key alone cannot move the wallet: every transfer needs the "
                "co-signer, which signs only what kinko approved")
    return "the attacker holds the same key and may empty the wallet first"


def _emergency_target(address: str | None, cold_wallet: str | None, asset: Asset,
                      wallets: list[Any]) -> tuple[str | None, Any]:
    """The fresh cold address and the wallet it belongs to."""
    cold = [w for w in wallets if w.asset == asset.symbol and w.tier != "hot"]
    if address is not None:
        owner = next((w for w in cold if any(same_address(a, address, asset.chain)
                                             for a in w.addresses)), None)
        return (address, owner) if owner is not None else (None, None)
    preferred = next((w for w in cold if w.name == cold_wallet), None) or next(
        (w for w in cold if w.addresses), None)
    if preferred is None or not preferred.addresses:
        return None, None
    return preferred.addresses[-1], preferred

