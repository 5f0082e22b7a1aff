"""Containing a theft: trip the breakers, and sweep what the thief has not taken yet.

A key that signed one unauthorised transfer signs for every wallet with its address, so
:meth:`Containment.compromised` is all of them (online ones; cold wallets have no key in
kinko). :meth:`Containment.contain` trips the breaker of every asset they hold (and the
global one when the policy says ``trip_global``), then, for a new incident, prepares the
emergency sweep of each: what is left on chain, less the gas, to a fresh cold address
(``emergency_address`` in the policy, registered in a cold wallet), tokens first so the coin
paying their gas goes last. With ``[watch] emergency_sweep = "auto"`` (the policy's quorum
authorised it in advance) it is signed and sent at once; otherwise it is a proposal for the
quorum. For a wallet of one key the attacker holds the same key: this is a race, and the
timeline says so. Its terms (:class:`Race`: the nonce to take, the gas price that outbids
the thief, the delegation to clear first, the allowances to revoke) are written into each
pre-authorised sweep's payload, and the wallet's ``Spender`` signs at exactly those terms
(:class:`~kinko.ports.RaceTerms`), wherever the key is (a keystore file or the HSM: the
same ``Signer``). The race has a ceiling (:class:`RaceCap`, from the settings): a
transaction above it is not sent, and the timeline says so. A co-signed Safe does not race
the key that leaked: that key alone cannot move it, so its emergency sweep is an ordinary
co-signed ``execTransaction`` and the timeline says that instead; when the Safe was moved
or changed without kinko (:data:`LOST_QUORUM`), enough owners' keys are in other hands, and
the timeline says its sweep races them on the Safe's next nonce.
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

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from kinko.domain.addresses import chain_key, chain_keys, same_address
from kinko.domain.chain import AUTHORIZATION_GAS, ZERO_ADDRESS, Block, delegate_of
from kinko.domain.custody import Wallet, same_key
from kinko.domain.erc20 import TOKEN_GAS
from kinko.domain.ledger import available, normal_balance
from kinko.domain.messages import N_, Message, Percent, Units, msg
from kinko.domain.money import Asset
from kinko.domain.watch import Alert
from kinko.errors import ChainRejected, KinkoError
from kinko.ports import Chain, Fee
from kinko.services.timeline import record, scope_word
from kinko.services.withdrawals import Withdrawals

__all__ = ["ACTOR", "Containment", "Race", "RaceCap", "Survey"]

log = logging.getLogger("kinko.watch")
ACTOR = "kinko:watch"
MAX_ATTEMPTS = 5  # emergency sweeps of one wallet for one incident, first one included
# the alert kinds that say a multisig's owners' keys moved or changed it without kinko
LOST_QUORUM = frozenset({"safe_execution", "safe_change"})


@dataclass
class Race:
    """How the emergency sweep of one address kinko holds the key of races the thief who
    holds it too: its transactions take the thief's own pending nonce (replacing his) and
    the ones after it, all at a fee above every pending transaction touching the address,
    so they are mined first; the first clears a delegation; open allowances are revoked."""

    address: str
    gas_price: int
    nonce: int  # the next nonce to take
    clear: bool  # delegated, or an authorization naming it is pending
    spent: int = 0  # native value of kinko's own pending transactions below the first nonce
    allowances: list[tuple[str, str]] = field(default_factory=list)  # (token, spender) open
    committed: int = 0  # the most the transactions already given a nonce may pay in fees
    replaced: list[str] = field(default_factory=list)  # the thief's pending transactions
    first: int = -1  # the first nonce taken (the thief's own when he has one pending)

    def __post_init__(self) -> None:
        self.first = self.nonce

    def take(self, gas: int) -> tuple[int, bool]:
        """The next nonce, and whether that transaction clears the delegation (the first)."""
        clear, self.clear = self.clear, False
        gas += AUTHORIZATION_GAS if clear else 0
        self.committed += gas * self.gas_price
        self.nonce += 1
        return self.nonce - 1, clear


@dataclass(frozen=True)
class RaceCap:
    """The most the race may pay (settings ``race_max_gwei`` and ``race_max_fee_percent``):
    ``max_gas_price`` wei per gas for any of its transactions, and, for a sweep of the
    chain's coin, fees of at most ``max_fee_percent`` % of the value it sweeps (a token's
    value is in another unit: only the gas price bounds its sweep). A transaction above
    either is not sent, and the incident's timeline says so: a thief bidding the fee up
    cannot make the sweep burn what it exists to save."""

    max_gas_price: int
    max_fee_percent: int


@dataclass
class Survey:
    """What the chain showed just before containing: per wallet, what is left on its
    addresses and what sweeping it costs (and who pays); per address of a wallet of one key
    kinko signs for, the race (when the node shows its mempool and state)."""

    left: dict[str, int] = field(default_factory=dict)
    fees: dict[str, Fee] = field(default_factory=dict)
    problems: dict[str, Message] = field(default_factory=dict)  # wallet -> why not read
    races: dict[str, Race] = field(default_factory=dict)  # canonical address -> race


@dataclass(frozen=True)
class Sweep:
    """A pre-authorised emergency sweep to broadcast once the unit that made it commits."""

    incident: str
    proposal: str
    shown: Units | Message  # what it moves, for the timeline
    target: str
    race: Message | None = None  # how it races the thief (nonce, fee), for the timeline
    lost_quorum: bool = False  # a multisig moved without kinko: its sweep races the owners


class Containment:
    """See the module docstring."""

    def __init__(self, withdrawals: Withdrawals, chain: Chain,
                 cap: RaceCap | None = None) -> None:
        self.withdrawals = withdrawals
        self.cap = cap
        self.custody = withdrawals.custody
        self.ledger = withdrawals.ledger
        self.chain = chain
        self._noted: set[str] = set()  # emergency sweeps whose inclusion is on the timeline

    def event(self, incident: str, kind: str, actor: str, detail: Message) -> None:
        """A timeline entry."""
        record(self.ledger.store, incident, self.ledger.clock.now(), kind, actor, detail)

    def compromised(self, wallet_name: str | None) -> list[Wallet]:
        """The wallet and every other online wallet with one of its addresses (one key
        signs for all of them: if it leaked for one, it leaked for all), tokens first so
        that the coin paying their gas is swept last."""
        same = same_key(self.ledger.wallets(), wallet_name)
        return sorted(same, key=lambda w: (self.ledger.assets[w.asset].token is None, w.name))

    def survey(self, wallet_names: Sequence[str | None], suspects: Sequence[str] = (), *,
               replace_own: bool = False) -> Survey:
        """Read from the chain what an emergency sweep of every wallet these wallets' key
        signs for needs (outside any transaction); ``suspects``: the hashes of the
        transactions that raised the alarm (their fees are outbid); ``replace_own``: the race
        starts at the first nonce not mined, replacing kinko's own waiting transactions
        (a race run again)."""
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
                out.problems[name] = exc.said()
        # a wallet of one key races the thief who holds it; a multisig (a co-signed Safe)
        # does not race the key that leaked (it alone cannot move it): its sweep is an
        # ordinary co-signed transaction, unless executions kinko did not approve are
        # pending (owners' keys in other hands): then it races them on the Safe's nonce
        hot = sorted({chain_key(a, self.chain.name) for w in wallets.values()
                      if w.tier == "hot" and w.kind == "key" for a in w.addresses})
        safes = sorted({chain_key(a, self.chain.name) for w in wallets.values()
                        if w.kind == "multisig" for a in w.addresses})
        try:
            out.races = {**self._races(hot, suspects, replace_own), **self._safe_races(safes)}
        except KinkoError as exc:  # the sweep still goes, as it would without a mempool
            for name in wallets:
                out.problems.setdefault(name, msg("sweep.problem.race", reason=exc.said()))
        for name, w in wallets.items():  # no race: what is waiting will leave first
            if name in out.left and not any(chain_key(a, self.chain.name) in out.races
                                            for a in w.addresses):
                out.left[name] = max(0, out.left[name] - self._unmined_out(
                    w, out.fees.get(name)))
        return out

    def _unmined_out(self, wallet: Wallet, fee: Fee | None) -> int:
        """What the node's not yet mined transactions take from ``wallet`` (a thief's, on a
        chain where no later transaction replaces them, NEM's): their value and, in the
        fee coin, at most ``fee`` each; 0 when the node shows none."""
        asset = self.ledger.assets[wallet.asset]
        ours = chain_keys(wallet.addresses, self.chain.name)
        try:
            waiting = [t for t in self.chain.pending()
                       if chain_key(t.sender, self.chain.name) in ours
                       and (t.token or None) == (asset.token or None)]
        except KinkoError:
            return 0  # the sweep still goes; the node refuses it if too large
        txs = {t.tx_hash for t in waiting}
        fees = len(txs) * fee.amount if fee is not None and asset.token is None else 0
        return sum(t.value for t in waiting) + fees

    def _races(self, addresses: list[str], suspects: Sequence[str],
               replace_own: bool = False) -> dict[str, Race]:
        """Per address, how its sweep races the thief (see :class:`Race`); empty when the
        node shows no mempool, state or gas price (the sweep then takes the next nonce)."""
        mempool = getattr(self.chain, "mempool", None)
        states = getattr(self.chain, "states", None)
        lookup = getattr(self.chain, "transaction", None)
        fee_params = getattr(self.chain, "fee_params", None)
        if mempool is None or states is None or lookup is None or fee_params is None \
                or not addresses:
            return {}
        gas_price = int(fee_params()[1])
        pool: Block = mempool()
        head = self.chain.head()
        now = states(addresses, [], head)
        tokens = [a.token for a in self.ledger.assets.values()
                  if a.chain == self.chain.name and a.token]
        own = self._own_hashes([t.tx_hash for t in pool.transfers])
        rivals = {h.lower() for h in suspects}
        out: dict[str, Race] = {}
        for address in addresses:
            mine = [t for t in pool.transfers if t.token is None and t.sender == address]
            theirs = sorted((t for t in mine if t.tx_hash.lower() not in own),
                            key=lambda t: t.nonce)
            if replace_own:
                first = now[address].nonce
            elif theirs:
                first = theirs[0].nonce
            else:
                first = max([now[address].nonce] + [t.nonce + 1 for t in mine])
            touching = {t.tx_hash.lower() for t in pool.transfers
                        if address in (t.sender, t.to)
                        and (replace_own or t.tx_hash.lower() not in own)}
            touching |= {a.tx_hash.lower() for a in pool.authorizations
                         if a.authority == address}
            touching |= rivals & {t.tx_hash.lower() for t in pool.transfers}
            top = gas_price
            for h in sorted(touching)[:32]:
                seen = lookup(h)
                if seen is not None:
                    top = max(top, int(seen["gas_price"]))
            allowances = [(token, spender) for token, spender, _ in
                          self._open_allowances(address, tokens)]
            allowances += [(g.token, g.spender) for g in pool.allowances
                           if g.owner == address and g.value > 0]
            out[address] = Race(
                address, gas_price=2 * top + 1, nonce=first,
                clear=delegate_of(now[address].code) is not None or any(
                    a.authority == address and a.delegate != ZERO_ADDRESS
                    for a in pool.authorizations),
                spent=sum(t.value for t in mine if t.tx_hash.lower() in own
                          and now[address].nonce <= t.nonce < first),
                allowances=list(dict.fromkeys(allowances)),
                replaced=[t.tx_hash for t in theirs])
        return out

    def _safe_races(self, safes: list[str]) -> dict[str, Race]:
        """Per Safe with ``execTransaction`` calls pending that kinko did not send (owners'
        keys in other hands, or a copy of its own), how its sweep races them: from the
        Safe's nonce now, its relayer bidding twice their highest fee (their executions then
        fail: the nonce they were signed for is used). None without pending executions."""
        reader = getattr(self.chain, "pending_executions", None)
        lookup = getattr(self.chain, "transaction", None)
        fee_params = getattr(self.chain, "fee_params", None)
        if reader is None or lookup is None or fee_params is None or not safes:
            return {}
        pending = reader(safes)
        if not pending:
            return {}
        own = self._own_hashes([p.tx_hash for p in pending])
        gas_price = int(fee_params()[1])
        out: dict[str, Race] = {}
        for safe in safes:
            theirs = [p for p in pending if chain_key(p.safe, self.chain.name) == safe
                      and p.tx_hash.lower() not in own]
            if not theirs:
                continue
            top = gas_price
            for p in theirs[:32]:
                seen = lookup(p.tx_hash)
                if seen is not None:
                    top = max(top, int(seen["gas_price"]))
            out[safe] = Race(safe, gas_price=2 * top + 1, nonce=theirs[0].safe_nonce,
                             clear=False, replaced=[p.tx_hash for p in theirs])
        return out

    def _open_allowances(self, address: str, tokens: list[str]) -> list[tuple[str, str, int]]:
        """The allowances ``address`` has open (none when the node will not say: a provider
        limiting log ranges; the race goes on without revocations)."""
        read = getattr(self.chain, "allowances", None)
        if read is None:
            return []
        try:
            found: list[tuple[str, str, int]] = read(address, tokens)
        except KinkoError as exc:
            log.warning("the open allowances of %s were not read (%s): the emergency sweep "
                        "revokes none", address, exc.message)
            return []
        return found

    def _own_hashes(self, pending: list[str]) -> set[str]:
        """Of ``pending`` transaction hashes, those kinko sent (withdrawals, sweeps)."""
        with self.ledger.store.screening(write=False) as tables:
            sent = {str(r["tx_hash"]).lower() for r in tables.withdrawals_for_watch(pending)
                    if r["tx_hash"]}
        sent |= {str(v.tx_hash).lower() for v in self.custody.proposals() if v.tx_hash}
        return sent

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
                self.withdrawals.trip(scope, ACTOR, msg(
                    "breaker.reason.alert", alert=msg(f"al.kind.{alert.kind}"),
                    tx=alert.tx_hash or ""),
                                      on_timelines=False, actor="")
                self.event(incident, "breaker", ACTOR,
                           msg("timeline.breaker.tripped", scope=scope_word(scope)))
            if not fresh:
                return []
            survey = survey if survey is not None else self.survey(
                [alert.wallet], [alert.tx_hash] if alert.tx_hash else [])
            sweeps: list[Sweep] = []
            revoked = False
            for wallet in compromised:
                native = self.ledger.assets[wallet.asset].token is None
                if native and not revoked:  # allowances revoked before the coin paying gas
                    sweeps += self.prepare_revokes(incident, survey)
                    revoked = True
                try:
                    with unit.savepoint():  # a sweep that cannot be prepared leaves no trace
                        sweep = self.prepare_sweep(incident, wallet.name, survey)
                except KinkoError as exc:
                    self.event(incident, "sweep", ACTOR, msg(
                        "timeline.sweep.not_prepared", wallet=wallet.name, reason=exc.said()))
                    continue
                if sweep is not None:
                    # owners' keys moved or changed a multisig without kinko: they can
                    # move it again, and its sweep (co-signed) races them
                    sweeps.append(replace(sweep, lost_quorum=alert.kind in LOST_QUORUM))
            if not revoked:
                sweeps += self.prepare_revokes(incident, survey)
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
            self.event(incident, "sweep", ACTOR, msg("timeline.sweep.no_cold_address",
                                                     asset=asset.symbol))
            return None
        if policy.watch.compromised_withdrawals == "reject":
            self._reject_waiting(incident, hot.name, asset)
        if wallet_name not in survey.left:  # the withdrawals above stay rejected
            self.event(incident, "sweep", ACTOR, msg(
                "timeline.sweep.not_surveyed", wallet=wallet_name,
                reason=survey.problems.get(wallet_name, msg("sweep.problem.not_read"))))
            return None
        amount = survey.left[wallet_name]
        auto = policy.watch.emergency_sweep == "auto"
        race = survey.races.get(chain_key(hot.addresses[0], asset.chain)) if auto else None
        fee = 0  # what the ledger must also be able to take from this wallet: the gas
        tokens = 0  # of which the gas of the token sweeps sent just before (not yet spent)
        own = survey.fees.get(wallet_name)
        if own is None:  # a race is only run for a wallet whose fee was read
            race = None
        if race is not None and self._over_cap(incident, wallet_name, race.gas_price):
            return None
        if asset.token is None and own is not None and \
                any(same_address(own.payer, a, asset.chain) for a in hot.addresses):
            if race is None:
                # the wallet pays its own gas: this transfer's, and that of the token sweeps
                # sent just before from the same address, which the ledger books to this
                # wallet when they settle (a multisig's relayer pays for it: nothing stays)
                tokens = sum(f.amount for w in self.compromised(wallet_name)
                             if self.ledger.assets[w.asset].token is not None
                             and (f := survey.fees.get(w.name)) is not None
                             and same_address(f.payer, own.payer, asset.chain))
                fee = own.amount + tokens
                amount -= own.amount
            else:  # the fees of the race's transactions come out of the same coin
                mine = (own.gas + (AUTHORIZATION_GAS if race.clear else 0)) * race.gas_price
                fee = race.committed + mine
                if self.cap is not None and \
                        fee * 100 > self.cap.max_fee_percent * (amount - race.spent):
                    self.event(incident, "sweep", ACTOR, msg(
                        "timeline.race.capped.share", wallet=wallet_name,
                        fee=Units(fee, asset.symbol, asset.decimals),
                        value=Units(max(0, amount - race.spent), asset.symbol,
                                    asset.decimals),
                        share=Percent(Decimal(self.cap.max_fee_percent) / 100, 0),
                        price=str(race.gas_price)))
                    return None
                amount -= race.spent + fee
        rows = self.ledger.balances(account=hot.account, asset=asset.symbol)
        usable = available(hot.account, rows[0].state) if rows else 0
        free = usable - fee
        if free < amount:
            # the sweep moves what the ledger can take from the wallet (nothing when
            # withdrawals the policy keeps reserve all of it: a sweep of their coins could
            # not be booked); the timeline says why the rest stays, part by part:
            # withdrawals (kept by the policy, or being sent) reserve some, the token sweeps
            # just sent will spend some as gas (booked when they settle), and what is left
            # is on chain but not booked to the wallet
            left = amount - max(free, 0)
            reserved = min(left, (normal_balance(hot.account, rows[0].state) - usable)
                           if rows else 0)
            gas = min(left - reserved, tokens)
            for part, said in ((reserved, N_("timeline.sweep.reserved")),
                               (gas, N_("timeline.sweep.gas_kept")),
                               (left - reserved - gas, N_("timeline.sweep.unbooked"))):
                if part > 0:
                    self.event(incident, "sweep", ACTOR, msg(
                        said, amount=Units(part, asset.symbol, asset.decimals),
                        wallet=wallet_name))
            if free <= 0 and left > 0:  # all of it stays, for the reasons just said
                return None
            amount = free
        if amount <= 0:
            self.event(incident, "sweep", ACTOR, msg("timeline.sweep.empty",
                                                     wallet=wallet_name))
            return None
        shown = Units(amount, asset.symbol, asset.decimals)
        payload: dict[str, object] = {
            "asset": asset.symbol, "amount": str(amount), "from_wallet": hot.name,
            "to_wallet": cold.name, "from_address": hot.addresses[0], "to_address": target,
            "emergency": incident}
        how: Message | None = None
        if race is not None and own is not None:  # the wallet signs at the race's terms
            nonce, clear = race.take(own.gas)
            payload.update(nonce=str(nonce), gas_price=str(race.gas_price),
                           clear_delegation=clear)
            how = _race_words(race, nonce, clear)
        view = self.custody.propose(
            "sweep", payload, ACTOR,
            msg("proposal.emergency_sweep.auto", wallet=wallet_name, incident=incident,
                version=str(policy.version)) if auto else
            msg("proposal.emergency_sweep", wallet=wallet_name, incident=incident))
        if not auto:
            # a co-signed Safe is not in a race: the leaked key alone cannot move it
            self.event(incident, "sweep", ACTOR, msg(
                N_("timeline.sweep.waits.cosigned") if _cosigned(hot)
                else N_("timeline.sweep.waits"), proposal=view.proposal.id, amount=shown,
                target=target, quorum=str(view.quorum)))
            return None
        self.custody.preauthorise(view.proposal.id, f"v{policy.version} emergency_sweep=auto")
        return Sweep(incident, view.proposal.id, shown, target, how)

    def prepare_revokes(self, incident: str, survey: Survey) -> list[Sweep]:
        """For each allowance a compromised address has open on a registered token, a
        pre-authorised emergency action revoking it (``approve(spender, 0)``) in the same
        race: a spender holding one could take the tokens whatever the sweep does. Without
        a pre-authorised sweep, the timeline names them for people to revoke."""
        policy = self.custody.policy()
        if policy is None or not survey.races:
            return []
        wallets = self.ledger.wallets()
        out: list[Sweep] = []
        for race in survey.races.values():
            for token, spender in race.allowances:
                asset = next((a for a in self.ledger.assets.values()
                              if a.chain == self.chain.name and a.token
                              and chain_key(a.token, a.chain) == token), None)
                owner = next((w for w in wallets if asset is not None
                              and w.asset == asset.symbol and w.tier == "hot"
                              and any(chain_key(a, asset.chain) == race.address
                                      for a in w.addresses)), None)
                if asset is None or owner is None:
                    continue
                if policy.watch.emergency_sweep == "auto" and self._over_cap(
                        incident, owner.name, race.gas_price):
                    continue
                if policy.watch.emergency_sweep != "auto":
                    self.event(incident, "sweep", ACTOR, msg(
                        "timeline.sweep.revoke_by_hand", address=race.address,
                        asset=asset.symbol, spender=spender))
                    continue
                nonce, clear = race.take(TOKEN_GAS)
                payload: dict[str, object] = {
                    "asset": asset.symbol, "amount": "0", "from_wallet": owner.name,
                    "to_wallet": owner.name, "from_address": race.address,
                    "to_address": spender, "emergency": incident, "revoke": spender,
                    "nonce": str(nonce), "gas_price": str(race.gas_price),
                    "clear_delegation": clear}
                view = self.custody.propose(
                    "sweep", payload, ACTOR, msg(
                        "proposal.emergency_revoke.auto", asset=asset.symbol,
                        spender=spender, incident=incident, version=str(policy.version)))
                self.custody.preauthorise(view.proposal.id,
                                          f"v{policy.version} emergency_sweep=auto")
                out.append(Sweep(incident, view.proposal.id,
                                 msg("race.revoked", asset=asset.symbol, spender=spender),
                                 spender, _race_words(race, nonce, clear)))
        return out

    def _over_cap(self, incident: str, wallet: str, gas_price: int) -> bool:
        """Whether the race's gas price is above the cap (then it is not sent, and the
        timeline says so)."""
        if self.cap is None or gas_price <= self.cap.max_gas_price:
            return False
        self.event(incident, "sweep", ACTOR, msg(
            "timeline.race.capped.gas_price", wallet=wallet, price=str(gas_price),
            cap=str(self.cap.max_gas_price)))
        return True

    def send(self, sweeps: list[Sweep]) -> None:
        """Broadcast pre-authorised emergency sweeps (outside any unit of work: each is
        signed and recorded before it is broadcast), and say so on the timeline."""
        for sweep in sweeps:
            try:
                sent = self.custody.execute(sweep.proposal)
            except (ChainRejected, KinkoError) as exc:
                self.event(sweep.incident, "sweep", ACTOR, msg(
                    "timeline.sweep.send_failed", proposal=sweep.proposal,
                    reason=exc.said()))
                continue
            source = next((w for w in self.ledger.wallets()
                           if w.name == sent.proposal.payload.get("from_wallet")), None)
            common: dict[str, Any] = {"proposal": sweep.proposal, "amount": sweep.shown,
                                      "target": sweep.target, "tx": str(sent.tx_hash)}
            if source is not None and _cosigned(source) and sweep.race is not None:
                # executions kinko did not approve are pending: it races them
                self.event(sweep.incident, "sweep", ACTOR, msg(
                    "timeline.sweep.sent.safe_race", how=sweep.race, **common))
            elif source is not None and _cosigned(source):
                # a Safe does not race the key that leaked: that key alone cannot move it;
                # but owners' keys that moved it without kinko can move it again
                self.event(sweep.incident, "sweep", ACTOR, msg(
                    N_("timeline.sweep.sent.quorum_lost") if sweep.lost_quorum
                    else N_("timeline.sweep.sent.cosigned"), **common))
            else:
                self.event(sweep.incident, "sweep", ACTOR, msg(
                    "timeline.sweep.sent.race", how=sweep.race or msg("race.next_nonce"),
                    **common))

    def follow(self) -> list[Message]:
        """Follow every emergency sweep sent and not yet booked (outside any unit of work):
        one mined is put on the timeline once; one reverted, dropped from the node's
        mempool or replaced (its nonce used by another transaction) fails and says so on
        the timeline, and the race of its address is run again: the sweeps of that address
        still waiting fail too (the new ones take their nonces, from the first one not
        mined, at a higher fee), and every wallet they swept is swept again, sized from
        what is left now (at most :data:`MAX_ATTEMPTS` per wallet and incident). Returns
        what happened, for the watch's report."""
        lookup = getattr(self.chain, "transaction", None)
        states = getattr(self.chain, "states", None)
        sent = [v for v in self.custody.proposals("sent")
                if v.proposal.payload.get("emergency") and v.tx_hash]
        if not sent or lookup is None or states is None:
            return []
        head = self.chain.head()
        out: list[Message] = []
        lost: dict[tuple[str, str], list[Any]] = {}  # (incident, address) -> failed sweeps
        waiting: dict[tuple[str, str], list[Any]] = {}
        for view in sent:
            p, tx = view.proposal, str(view.tx_hash)
            incident = str(p.payload["emergency"])
            address = chain_key(str(p.payload["from_address"]), self.chain.name)
            receipt = self.chain.receipt(tx)
            if receipt is not None and receipt.ok:
                if tx not in self._noted:
                    self._noted.add(tx)
                    self.event(incident, "sweep", ACTOR, msg(
                        "timeline.sweep.mined", proposal=p.id, block=str(receipt.block), tx=tx))
                continue
            nonce = p.payload.get("nonce")
            if self._is_multisig(str(p.payload.get("from_wallet"))):
                nonce = None  # a Safe's nonce is not its account's: its receipt says
            if receipt is not None:
                outcome = msg("race.outcome.reverted", block=str(receipt.block), tx=tx)
            elif nonce is not None and states([address], [], head)[address].nonce \
                    > int(str(nonce)):
                outcome = msg("race.outcome.replaced", nonce=str(nonce), tx=tx)
            elif lookup(tx) is None:
                outcome = msg("race.outcome.dropped", tx=tx)
            else:
                waiting.setdefault((incident, address), []).append(view)
                continue
            lost.setdefault((incident, address), []).append((view, outcome))
        again: list[Sweep] = []
        for (incident, address), failed in lost.items():
            superseded = waiting.get((incident, address), [])
            for view, outcome in failed:
                self._fail(view, incident, msg("timeline.sweep.failed",
                                               proposal=view.proposal.id, outcome=outcome))
                out.append(msg("watch.sweep_failed", proposal=view.proposal.id,
                               outcome=outcome))
            for view in superseded:  # its nonce goes to the new race
                self._fail(view, incident, msg("timeline.sweep.withdrawn",
                                               proposal=view.proposal.id))
            names = list(dict.fromkeys(
                str(v.proposal.payload["from_wallet"])
                for v in [*(f[0] for f in failed), *superseded]
                if not v.proposal.payload.get("revoke")))
            again += self._again(incident, names, out)
        self.send(again)
        return out

    def _is_multisig(self, wallet: str) -> bool:
        return any(w.name == wallet and w.kind == "multisig" for w in self.ledger.wallets())

    def _fail(self, view: Any, incident: str, detail: Message) -> None:
        with self.ledger.store.custody() as (_, tables):
            tables.set_state(view.proposal.id, "sent", "failed")
        self._noted.discard(str(view.tx_hash))
        self.event(incident, "sweep", ACTOR, detail)

    def _again(self, incident: str, names: list[str], out: list[Message]) -> list[Sweep]:
        """Sweep ``names`` (wallets of one address) again for ``incident``, in a new race
        that replaces kinko's own waiting transactions."""
        order = [w.name for w in self.compromised(names[0])] if names else []
        todo = [n for n in order if n in names]
        sweeps: list[Sweep] = []
        survey = self.survey(todo, replace_own=True)
        for name in todo:
            tries = sum(1 for v in self.custody.proposals()
                        if v.proposal.payload.get("emergency") == incident
                        and v.proposal.payload.get("from_wallet") == name
                        and not v.proposal.payload.get("revoke"))
            if tries >= MAX_ATTEMPTS:
                self.event(incident, "sweep", ACTOR, msg(
                    "timeline.sweep.gave_up", count=str(tries), wallet=name))
                continue
            with self.ledger.store.unit() as unit:
                try:
                    with unit.savepoint():
                        sweep = self.prepare_sweep(incident, name, survey)
                except KinkoError as exc:
                    self.event(incident, "sweep", ACTOR, msg(
                        "timeline.sweep.not_prepared_again", wallet=name, reason=exc.said()))
                    continue
            if sweep is not None:
                sweeps.append(sweep)
                out.append(msg("watch.swept_again", wallet=name, proposal=sweep.proposal))
        return sweeps

    def _reject_waiting(self, incident: str, wallet: str, asset: Asset) -> None:
        """Withdrawals waiting in a wallet whose key leaked would be paid from money the
        attacker can take: reject them (the customers keep their funds, swept to cold with
        the rest) and say so on the timeline."""
        rejected = self.withdrawals.reject_open(
            wallet, ACTOR, msg("wd.reason.key_leaked", wallet=wallet, incident=incident))
        if rejected:
            total = sum(v.amount for v in rejected)
            self.event(incident, "withdrawals", ACTOR, msg(
                "timeline.withdrawals.rejected", count=len(rejected), wallet=wallet,
                amount=Units(total, asset.symbol, asset.decimals),
                ids=", ".join(v.id for v in rejected[:20])
                + (" …" if len(rejected) > 20 else "")))


def _cosigned(wallet: Wallet) -> bool:
    """Whether every transfer from ``wallet`` needs the policy co-signer's signature too (a
    multisig with the co-signer among its owners and a threshold above one)."""
    m = wallet.multisig
    return m is not None and m.cosigner is not None and m.threshold >= 2


def _race_words(race: Race, nonce: int, clear: bool) -> Message:
    """How one transaction of the race is sent, for the timeline."""
    replaces = msg("race.replacing", txs=", ".join(race.replaced)) \
        if race.replaced and nonce == race.first else ""
    return msg("race.terms", nonce=str(nonce), price=str(race.gas_price), replacing=replaces,
               clears=msg("race.clears") if clear else "")


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

