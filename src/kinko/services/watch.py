"""The watch: follows a chain block by block (and its mempool), demands that every coin
leaving an exchange wallet was approved by kinko, and raises the alarm when one was not.

One :meth:`Watch.poll` does a full round:

1. **Mempool** (where the node offers it): transactions from our addresses are matched at
   once, so a theft signed with a stolen key alarms before it is mined.
2. **Blocks** from the checkpoint to the head, each read once, its hash kept. A block whose
   parent is not the hash kept below it means a reorganisation: the watch walks back to the
   fork, retracts what it saw above it (observations become ``retracted``, their alerts'
   ``chain_state`` too, with a timeline entry) and reads the new branch, where a transaction
   seen again is re-confirmed under the same alert, never a second one.
3. **Finality**: an observation with ``confirmations`` blocks on top is final; a matched
   outflow then closes its withdrawal (posted) or sweep/refill (booked) through the same
   services an operator would use.
4. **Balances**: when caught up, each hot wallet's balance is sampled; a fall over the
   policy's window that explained outflows do not account for raises ``balance_drop``.

An unexplained outflow (see :mod:`kinko.domain.watch`) raises a critical alert keyed by its
chain, transaction and log index, then in order: opens an incident for the wallet (or adds
to the open one), contains it (:mod:`kinko.services.containment`: breakers tripped, the
emergency sweep prepared or sent), and tells every :class:`~kinko.ports.Notifier`. Deposits
from addresses on a deny list raise ``denied_deposit`` (the deposit scanner books them
frozen); so do deposits from accounts holding a tag token (``tag_tokens``: NEM mosaics such
as the NEM Foundation's mark of 2018), asked of the node before the unit of work opens.

A node outage is survived by the chain's retry wrapper and, beyond it, by the checkpoint:
the next poll resumes from the last block kept; no block is skipped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from kinko.domain.addresses import canonical_token, chain_key, chain_keys
from kinko.domain.chain import ZERO_ADDRESS, AccountState, Block, Transfer, delegate_of
from kinko.domain.messages import N_, Message, Percent, Units, msg
from kinko.domain.safe import SafeEvent
from kinko.domain.states import IN_FLIGHT_WITHDRAWAL_STATES, SENDABLE_WITHDRAWAL_STATES
from kinko.domain.watch import (
    Alert,
    Expected,
    Observation,
    alert_key,
    classify,
    deposit_alert,
    drop_exceeds,
    observation_id,
    state_alert,
    theft_alert,
    unexplained_drop,
)
from kinko.domain.watch_safe import (
    OwnerKey,
    SafeVerdict,
    judge_pending,
    judge_safes,
    owner_key_alerts,
)
from kinko.domain.watch_state import Finding, flows_of, judge, span_words, suspects
from kinko.errors import ChainRejected, KinkoError
from kinko.i18n import ENGLISH
from kinko.ports import (
    AlertChange,
    AlertNotice,
    Chain,
    NewAlert,
    NewIncident,
    Notifier,
    ObservationRow,
    SeenBlock,
)
from kinko.services.containment import ACTOR, Containment, RaceCap, Sweep
from kinko.services.deposits import find_fork, tag_holders, tag_label
from kinko.services.withdrawals import Withdrawals

__all__ = ["PollReport", "Watch"]

log = logging.getLogger("kinko.watch")

_PREFETCH = 4
_SAVE_EVERY = 256  # blocks read between checkpoint writes
# the state watch reads every block's state within _LIVE_DEPTH of the head; deeper (catching
# up a backlog) every _STRIDE-th, explaining the change over the span with all its blocks
# (a node keeps little history: deep state is slow to read or gone)
_LIVE_DEPTH = 64
_STRIDE = 64
_MOVING = ("approved", "sending", "sent", "requested", "executed")


@dataclass
class PollReport:
    head: int = 0
    blocks: int = 0  # blocks read this round
    pending: int = 0  # our transactions seen in the mempool
    observed: int = 0  # transfers touching our wallets
    # our movements matched to what kinko approved: each once a round, though a node may
    # still list a transaction in its mempool that the round also reads in a block
    matched: int = 0
    matched_ids: set[str] = field(default_factory=set, repr=False, compare=False)
    finalised: int = 0
    closed: list[str] = field(default_factory=list)  # withdrawals/proposals closed
    alerts: list[AlertNotice] = field(default_factory=list)  # raised this round
    # what the operator is told, as messages (the terminal says them in its language)
    reorgs: list[Message] = field(default_factory=list)
    problems: list[Message] = field(default_factory=list)  # closing a matched movement failed
    sweeps: list[Message] = field(default_factory=list)  # emergency sweeps failed (and resent)


@dataclass(frozen=True)
class _Fired:
    """An alert raised in a unit of work, and what to do once it commits."""

    row: AlertNotice
    sweeps: list[Sweep]


class Watch:
    """See the module docstring. ``withdrawals`` gives the ledger, custody and breaker."""

    def __init__(self, withdrawals: Withdrawals, chain: Chain, *, confirmations: int,
                 notifiers: Sequence[Notifier] = (), start_block: int = 0,
                 state_watch: bool = True, live_depth: int = _LIVE_DEPTH,
                 tag_tokens: Sequence[str] = (), interval_ms: int = 1000,
                 race_cap: RaceCap | None = None) -> None:
        self.withdrawals = withdrawals
        self.tag_tokens = tuple(canonical_token(t, chain.name) for t in tag_tokens)
        self.custody = withdrawals.custody
        self.ledger = withdrawals.ledger
        self.store = withdrawals.ledger.store
        self.clock = withdrawals.clock
        self.chain = chain
        self.confirmations = max(1, confirmations)
        self.notifiers = list(notifiers)
        self.start_block = start_block
        self.containment = Containment(withdrawals, chain, race_cap)
        self.interval_ms = interval_ms
        self.started = self.clock.now()  # for the heartbeat: since when this watch runs
        self._sampled = -1  # the head the balances were last sampled at
        # the state watch (see _state_findings): what the watched addresses held after the
        # last block read, and that block's hash
        self.state_watch = state_watch
        self.live_depth = live_depth  # every block's state within this depth of the head
        self._state: dict[str, AccountState] = {}
        self._state_at = ""
        # blocks awaiting a state: each with its receipts and the native value Safes sent
        self._span: list[tuple[Block, dict[str, tuple[bool, int]], list[Transfer]]] = []
        # blocks whose changes of state could not be checked (first, last): each is said
        self._gaps: list[tuple[int, int]] = []
        self._wallet_map: dict[tuple[str, str], str] = {}
        self._asset_map: dict[str | None, str] = {}
        # the Safes watched (canonical address -> (wallet, asset)) and their owner keys
        # whose own address must never send (see kinko.domain.watch_safe)
        self._safes: dict[str, tuple[str, str]] = {}
        self._owner_keys: dict[str, OwnerKey] = {}
        self.metrics: dict[str, int] = {"blocks_read": 0, "alerts_raised": 0, "reorgs": 0,
                                        "head": 0, "checkpoint": -1, "polls": 0}

    # ------------------------------------------------------------------ context

    def _assets(self) -> dict[str | None, str]:
        """Token contract (canonical; None: the native coin) → asset, for this chain."""
        out: dict[str | None, str] = {}
        for a in self.ledger.assets.values():
            if a.chain == self.chain.name:
                out[chain_key(a.token, a.chain) if a.token else None] = a.symbol
        return out

    def _wallets(self, assets: dict[str | None, str]) -> dict[tuple[str, str], str]:
        """(canonical address, asset) → wallet name, for the assets of this chain."""
        names, chain = set(assets.values()), self.chain.name
        return {(chain_key(address, chain), w.asset): w.name for w in self.ledger.wallets()
                if w.asset in names for address in w.addresses}

    def _multisigs(self, assets: dict[str | None, str]) -> None:
        """The Safes of this chain's assets and their owner keys kinko knows (the
        operations key, the co-signer), for :mod:`kinko.domain.watch_safe`."""
        chain, native = self.chain.name, assets.get(None)
        safes: dict[str, tuple[str, str]] = {}
        keys: dict[str, OwnerKey] = {}
        for w in sorted(self.ledger.wallets(), key=lambda w: (w.asset != native, w.name)):
            if w.multisig is None or w.asset not in set(assets.values()):
                continue
            for address in w.addresses:
                safes.setdefault(chain_key(address, chain), (w.name, w.asset))
            m = w.multisig
            for role, owner in (("operator", m.operator), ("cosigner", m.cosigner)):
                if owner is not None:
                    keys.setdefault(chain_key(owner, chain),
                                    OwnerKey(chain_key(owner, chain), role, w.name, w.asset))
        self._safes, self._owner_keys = safes, keys

    def _touches(self, t: Transfer, ours: set[str]) -> bool:
        """Whether a transfer leaves or reaches one of ``ours`` (canonical addresses)."""
        chain = self.chain.name
        return chain_key(t.sender, chain) in ours or (bool(t.to) and chain_key(
            t.to or "", chain) in ours)

    def _expected(self, tx_hashes: list[str],
                  executed: dict[str, tuple[str, str]] | None = None) -> list[Expected]:
        """What kinko approved that the chain may show; ``executed``: approved Safe
        executions seen (lower tx hash -> (ref, the hash kinko recorded for it)), whose
        movements are expected in the transaction that executed them, whoever sent it."""
        executed = executed or {}
        executed_refs = {ref for ref, _ in executed.values()}
        tx_hashes = [*tx_hashes, *(recorded for _, recorded in executed.values() if recorded)]
        wallets = {w.name: w for w in self.ledger.wallets()}

        def senders(name: str) -> frozenset[str]:
            w = wallets.get(name)
            return chain_keys(w.addresses, self.chain.name) if w else frozenset()

        out: list[Expected] = []
        with self.store.screening(write=False) as tables:
            rows = tables.withdrawals_for_watch(tx_hashes)
        for r in rows:
            if r["state"] in ("review", "blocked", "rejected", "expired", "failed"):
                # never approved, or failed with its reservation released to the customer
                # (displaced by another transaction on its nonce, or reverted): if it shows
                # on chain after all (a reorganisation dropped what displaced it), nothing
                # in the books explains it
                continue
            w = wallets.get(r["wallet"])
            if not r["tx_hash"] and (w is None or w.tier == "hot") \
                    and f"withdrawal:{r['id']}" not in executed_refs:
                # kinko signs for a hot wallet and records the hash before it broadcasts:
                # a transfer it has not sent is not its own, however alike it looks
                continue
            out.append(Expected(f"withdrawal:{r['id']}", r["asset"], senders(r["wallet"]),
                                r["destination"], int(r["amount"]), r["tx_hash"]))
        for view in self.custody.proposals():
            p = view.proposal
            if p.kind not in ("sweep", "refill") or view.state not in _MOVING:
                continue
            to = p.payload.get("to_address")
            if not to:
                continue
            w = wallets.get(str(p.payload["from_wallet"]))
            reserved = p.payload.get("nonce")  # a race's: the nonce kinko will sign at
            if not view.tx_hash and reserved is None and (w is None or w.tier == "hot") \
                    and f"proposal:{p.id}" not in executed_refs:
                continue  # kinko signs it and records the hash first: nothing else is it
            out.append(Expected(f"proposal:{p.id}", str(p.payload["asset"]),
                                senders(str(p.payload["from_wallet"])), str(to),
                                int(str(p.payload["amount"])), view.tx_hash,
                                None if reserved is None else int(str(reserved))))
        if executed:
            by_ref = {ref: tx for tx, (ref, _) in executed.items()}
            out = [replace(e, tx_hash=by_ref[e.ref]) if e.ref in by_ref else e for e in out]
        loose = [e.ref for e in out if not e.tx_hash]
        if not loose:
            return out
        with self.store.watch(write=False) as watched:
            used = watched.consumed(loose)
        # an expectation a transaction already used explains that transaction only
        return [replace(e, tx_hash=used[e.ref]) if not e.tx_hash and e.ref in used else e
                for e in out]

    # ------------------------------------------------------------------ one round

    def poll(self, max_blocks: int | None = None) -> PollReport:
        """Mempool, new blocks, finality and balances; see the module docstring."""
        report = PollReport()
        assets = self._assets()
        wallets = self._wallets(assets)
        self._asset_map, self._wallet_map = assets, wallets
        self._multisigs(assets)
        # the mempool before the head: a transaction mined in between is then in a block
        # this round reads, not missed by both
        self._mempool(assets, wallets, report)
        report.head = self.chain.head()
        self.metrics["head"] = report.head
        self.metrics["polls"] += 1
        self._blocks(assets, wallets, report, max_blocks)
        report.sweeps += self.containment.follow()
        self._dropped()
        self._displaced(report)
        self._finality(report)
        with self.store.watch(write=False) as tables:
            last = tables.last_block(self.chain.name)
        if (self.start_block - 1 if last is None else last) == report.head:  # caught up
            self._balances(report)
        self._beat(last, report.head)
        self._settle(report)
        return report

    def _settle(self, report: PollReport) -> None:
        """An alert first seen in the mempool and then in a block of the same round (a
        node may still list a transaction it has just mined) is reported as the block left
        it: what it took, from which block."""
        if not report.alerts:
            return
        with self.store.watch(write=False) as tables:
            now = {a["id"]: tables.alert_by_key(a["key"]) for a in report.alerts}
        report.alerts = [AlertNotice(id=a["id"], key=r["key"], kind=r["kind"],
                                     severity=r["severity"], asset=r["asset"],
                                     wallet=r["wallet"], tx_hash=r["tx_hash"],
                                     amount=r["amount"], block=r["block"],
                                     chain_state=r["chain_state"], detail=r["detail"],
                                     incident=r["incident"], raised=r["raised"])
                         if (r := now[a["id"]]) is not None and a["block"] is None
                         and r["block"] is not None else a for a in report.alerts]

    def _beat(self, last: int | None, head: int) -> None:
        """The heartbeat: this round happened, up to which block, how far behind the node
        (a watch that stops writing it is itself an alarm; :mod:`kinko.services.heartbeat`)."""
        with self.store.watch() as tables:
            tables.beat(self.chain.name, self.clock.now(), started=self.started,
                        last_block=last, node_head=head, interval_ms=self.interval_ms)

    def _mempool(self, assets: dict[str | None, str], wallets: dict[tuple[str, str], str],
                 report: PollReport) -> None:
        """Pending transactions: outflows of our wallets (classified as mined ones are),
        and what moves value without one: authorizations signed with a watched key,
        allowances it would grant, calls into a watched account that is (or is being)
        delegated."""
        reader = getattr(self.chain, "mempool", None)
        if reader is not None:
            pool: Block = reader()
        else:
            pending = getattr(self.chain, "pending", None)
            if pending is None:
                return
            pool = Block(-1, "", "", 0, pending())
        ours = {a for a, _ in wallets}
        transfers = [t for t in pool.transfers if self._touches(t, ours)]
        observations = classify(transfers, wallets, assets,
                                self._expected([t.tx_hash for t in transfers]),
                                chain=self.chain.name) if transfers else []
        report.pending += sum(1 for o in observations if o.direction == "out")
        findings = self._pending_findings(pool, ours, assets)
        leaked = owner_key_alerts(pool.transfers, self._owner_keys, chain=self.chain.name,
                                  block=None) if self._owner_keys else []
        leaked += self._pending_executions()
        if observations or findings or leaked:
            self._record(observations, None, report, findings, alerts=leaked)

    def _pending_findings(self, pool: Block, ours: set[str],
                          assets: dict[str | None, str]) -> list[Finding]:
        native = assets.get(None, "")
        tokens = {k: v for k, v in assets.items() if k is not None}
        found: list[Finding] = []
        named: set[str] = set()
        for auth in pool.authorizations:
            if auth.authority not in ours or auth.delegate == ZERO_ADDRESS:
                continue  # clearing a delegation moves nothing (kinko's sweep does it)
            named.add(auth.authority)
            found.append(Finding(auth.authority, "delegation", None, 0,
                                 msg("state.pending.delegation", tx=auth.tx_hash,
                                     sender=auth.sender, address=auth.authority,
                                     delegate=auth.delegate), auth.tx_hash))
        for grant in pool.allowances:
            if grant.owner in ours and grant.value > 0:
                symbol = tokens.get(grant.token, grant.token)
                known = self.ledger.assets.get(symbol)
                found.append(Finding(grant.owner, "allowance", tokens.get(grant.token), 0,
                                     msg("state.pending.allowance", tx=grant.tx_hash,
                                         address=grant.owner, spender=grant.spender,
                                         amount=Units(grant.value, symbol,
                                                      known.decimals if known else 0)),
                                     grant.tx_hash))
        delegated = {a for a, st in self._state.items() if st.code} | named
        for t in pool.transfers:
            if t.token is None and t.to in delegated and t.sender not in ours:
                found.append(Finding(t.to, "call", None, 0,
                                     msg("state.pending.call", tx=t.tx_hash, sender=t.sender,
                                         address=t.to, native=native), t.tx_hash))
        return found

    def _blocks(self, assets: dict[str | None, str], wallets: dict[tuple[str, str], str],
                report: PollReport, max_blocks: int | None) -> None:
        name = self.chain.name
        with self.store.watch(write=False) as tables:
            last = tables.last_block(name)
        number = self.start_block if last is None else last + 1
        if last is not None:  # the tip itself may have been replaced, or the chain shortened
            top = min(last, report.head)
            with self.store.watch(write=False) as tables:
                kept = tables.block_hash(name, top)
            if top < last or (top >= self.start_block
                              and self.chain.block(top).hash != kept):
                number = self._rewind(top, report) + 1
        ours = {a for a, _ in wallets}
        watched = sorted(ours)
        tokens = sorted(k for k in assets if k is not None)
        states = getattr(self.chain, "states", None) if self.state_watch else None
        both = getattr(self.chain, "block_and_states", None) if states is not None else None
        safes = sorted(self._safes)
        safe_events = getattr(self.chain, "safe_events", None) if safes else None
        # block hashes are kept in memory and written in batches: a crash before a batch is
        # written only means those blocks are read again (recording is idempotent)
        unsaved: list[SeenBlock] = []

        def save() -> None:
            if unsaved:
                with self.store.watch() as tables:
                    tables.put_blocks(name, unsaved)
                self.metrics["checkpoint"] = unsaved[-1].number
                unsaved.clear()

        def read(n: int) -> tuple[Block, dict[str, AccountState] | None, list[SafeEvent]]:
            """A block, what the watched addresses hold after it (one thread each; one
            round trip where the chain batches them; deep in a backlog, the state only
            every _STRIDE-th block) and the events of the watched Safes in it."""
            events: list[SafeEvent] = safe_events(safes, n, n) if safe_events else []
            wanted = report.head - n < self.live_depth or n % _STRIDE == 0 \
                or n == report.head
            if states is None or not watched or not wanted:
                return self.chain.block(n), None, events
            try:
                if both is not None:
                    block, after = both(n, watched, tokens)
                    return block, after, events
                return self.chain.block(n), states(watched, tokens, n), events
            except ChainRejected as exc:  # a pruned node, or one restarted from a dump
                gaps.append(f"block {n}: the state of the watched addresses was not "
                            f"readable ({exc.message}); its changes are explained with the "
                            "next block's")
                return self.chain.block(n), None, events

        gaps: list[str] = []  # blocks whose state the node would not give
        with self.store.watch(write=False) as tables:
            below = tables.block_hash(name, number - 1)
            waiting = {str(a["tx_hash"]).lower() for a in tables.chain_alerts(name, ("pending",))
                       if a["tx_hash"]}
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="kinko-watch") as pool:
            ahead: dict[int, Future[tuple[Block, dict[str, AccountState] | None,
                                          list[SafeEvent]]]] = {}
            try:
                while number <= report.head and (max_blocks is None
                                                 or report.blocks < max_blocks):
                    for n in range(number, min(report.head, number + _PREFETCH) + 1):
                        if n not in ahead:
                            ahead[n] = pool.submit(read, n)
                    block, after, events = ahead.pop(number).result()
                    report.blocks += 1
                    self.metrics["blocks_read"] += 1
                    if below is not None and block.parent_hash != below:
                        for f in ahead.values():
                            f.cancel()
                        ahead.clear()
                        save()
                        number = self._rewind(number - 1, report) + 1
                        with self.store.watch(write=False) as tables:
                            below = tables.block_hash(name, number - 1)
                        continue
                    mine = [t for t in block.transfers if self._touches(t, ours)]
                    receipts = self._receipts(mine, ours)
                    safe, executed = self._judge_safes(events, block.number)
                    findings = self._state_findings(block, after, receipts, ours, assets,
                                                    safe.internal)
                    mine += safe.internal
                    leaked = owner_key_alerts(block.transfers, self._owner_keys,
                                              chain=self.chain.name, block=block.number) \
                        if self._owner_keys else []
                    leaked += self._gap_alerts()
                    if mine or findings or safe.alerts or leaked:
                        observations = classify(
                            mine, wallets, assets,
                            self._expected([t.tx_hash for t in mine], executed),
                            chain=self.chain.name) if mine else []
                        failed = frozenset(h for h, (ok, _fee) in receipts.items() if not ok)
                        self._record(observations, block, report, findings, failed,
                                     alerts=[*safe.alerts, *leaked])
                    if waiting:
                        included = waiting & {t.tx_hash.lower() for t in block.transfers}
                        if included:
                            self._included(block, included)
                            waiting -= included
                    unsaved.append(SeenBlock(number, block.hash, block.timestamp))
                    if len(unsaved) >= _SAVE_EVERY:
                        save()
                    below = block.hash
                    number += 1
            finally:
                for f in ahead.values():
                    f.cancel()
                save()

    def _judge_safes(self, events: list[SafeEvent], number: int
                     ) -> tuple[SafeVerdict, dict[str, tuple[str, str]]]:
        """The watched Safes' events of block ``number`` judged against the SafeTx hashes
        kinko approved (:func:`kinko.domain.watch_safe.judge_safes`), and the approved
        executions seen: lower tx hash -> (ref, the hash kinko recorded sending it as)."""
        if not events:
            return SafeVerdict(), {}
        approved, recorded, used = self._safe_approvals(
            [str(e.fields["safe_tx_hash"]) for e in events if "safe_tx_hash" in e.fields])
        native, decimals = self._native()
        verdict = judge_safes(events, self._safes, approved, used, chain=self.chain.name,
                              native=native, decimals=decimals, block=number)
        return verdict, {tx: (ref, recorded.get(ref, "")) for tx, ref in
                         verdict.matched.items()}

    def _pending_executions(self) -> list[Alert]:
        """``execTransaction`` calls to the watched Safes waiting in the mempool that would
        execute a SafeTx kinko did not approve (:func:`kinko.domain.watch_safe.
        judge_pending`): alarmed before they are mined."""
        reader = getattr(self.chain, "pending_executions", None)
        if reader is None or not self._safes:
            return []
        pending = reader(sorted(self._safes))
        if not pending:
            return []
        approved, _, used = self._safe_approvals([h for p in pending
                                                  for h in p.safe_tx_hashes])
        native, decimals = self._native()
        return judge_pending(pending, self._safes, approved, used, chain=self.chain.name,
                             native=native, decimals=decimals)

    def _native(self) -> tuple[str, int]:
        """The chain's coin and its decimals."""
        native = self._asset_map.get(None, "")
        asset = self.ledger.assets.get(native)
        return native, asset.decimals if asset else 0

    def _safe_approvals(self, safe_tx_hashes: list[str]
                        ) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
        """Of ``safe_tx_hashes``, those kinko approved: lower SafeTx hash -> ref (what it
        signed for an approved movement, or what the owners signed offline for an approved
        sweep or refill); ref -> the transaction hash kinko recorded for it; and ref -> the
        lower hash of the transaction that already used it (it explains no other)."""
        safe_tx_hashes = sorted({h.lower() for h in safe_tx_hashes})
        if not safe_tx_hashes:
            return {}, {}, {}
        with self.store.watch(write=False) as tables:
            signed = tables.signed_safe_txs(safe_tx_hashes)
        approved = {h: str(row["ref"]) for h, row in signed.items()}
        recorded = {str(row["ref"]): str(row["tx_hash"]) for row in signed.values()}
        wanted = set(safe_tx_hashes) - set(approved)
        if wanted:
            moving = [v for v in self.custody.proposals()
                      if v.proposal.kind in ("sweep", "refill") and v.state in _MOVING]
            with self.store.custody(write=False) as (_, tables):
                for view in moving:
                    for row in tables.owner_signatures(view.proposal.id):
                        digest = str(row["digest"]).lower()
                        if digest in wanted:
                            approved[digest] = f"proposal:{view.proposal.id}"
                            if view.tx_hash:
                                recorded[f"proposal:{view.proposal.id}"] = str(view.tx_hash)
        with self.store.watch(write=False) as tables:
            used = {ref: tx.lower() for ref, tx in
                    tables.consumed(sorted(set(approved.values()))).items()}
        return approved, recorded, used

    def _dropped(self) -> None:
        """Alerts of transactions seen only in the mempool that the node no longer knows:
        replaced (an emergency sweep took their nonce) or dropped; they never moved
        anything, and the timeline says so."""
        lookup = getattr(self.chain, "transaction", None)
        if lookup is None:
            return
        with self.store.watch(write=False) as tables:
            pending = [a for a in tables.chain_alerts(self.chain.name, ("pending",))
                       if a["tx_hash"]]
        gone = [a for a in pending if lookup(str(a["tx_hash"])) is None]
        if not gone:
            return
        now = self.clock.now()
        with self.store.watch() as tables:
            for alert in gone:
                tables.update_alert(alert["id"], chain_state="dropped")
                if alert["incident"]:
                    tables.add_event(alert["incident"], now, "chain", ACTOR, msg(
                        "timeline.chain.dropped", tx=str(alert["tx_hash"])))

    def _displaced(self, report: PollReport) -> None:
        """Withdrawals kinko sent whose nonce another transaction used (the thief signed
        his own with it): theirs can never be mined. Each raises a critical ``displaced``
        alert; with ``[watch] compromised_withdrawals = "reject"`` (the default) it fails
        and its reservation goes back to the customer, with ``"keep"`` it stays for people
        to decide. The nonce is the one the watch saw it with in the mempool."""
        lookup = getattr(self.chain, "transaction", None)
        states = getattr(self.chain, "states", None)
        if lookup is None or states is None:
            return
        with self.store.watch(write=False) as tables:
            if not tables.incidents("open"):
                return  # a nonce used by someone else is a theft: it opens an incident
        with self.store.screening(write=False) as screening:
            sent = [r for r in screening.withdrawals("sent", limit=10_000) if r["tx_hash"]]
        if not sent:
            return
        refs = {f"withdrawal:{r['id']}": r for r in sent}
        with self.store.watch(write=False) as tables:
            seen = [o for o in tables.observations(self.chain.name, status=("pending",))
                    if o["match_ref"] in refs and o["direction"] == "out"]
        if not seen:
            return
        head = self.chain.head()
        senders = sorted({chain_key(o["sender"], self.chain.name) for o in seen})
        used = {a: st.nonce for a, st in states(senders, [], head).items()}
        policy = self.custody.policy()
        release = policy is None or policy.watch.compromised_withdrawals == "reject"
        fired: list[_Fired] = []
        for o in seen:
            row = refs[str(o["match_ref"])]  # one of refs: the observations were picked so
            sender = chain_key(o["sender"], self.chain.name)
            tx_hash = str(row["tx_hash"])  # sent ones only, each with its hash (above)
            if used.get(sender, 0) <= int(o["nonce"]) or self.chain.receipt(tx_hash) \
                    or lookup(row["tx_hash"]) is not None:
                continue
            asset = self.ledger.assets.get(row["asset"])
            detail = msg(N_("alert.displaced.released") if release
                         else N_("alert.displaced.kept"), wallet=row["wallet"],
                         withdrawal=row["id"], tx=tx_hash, nonce=str(o["nonce"]),
                         sender=sender, amount=Units(int(row["amount"]), row["asset"],
                                                     asset.decimals if asset else 0))
            with self.store.unit():
                if release:
                    self.withdrawals.displaced(row["id"], ACTOR, detail)
                done = self._alarm(Alert(f"displaced:{self.chain.name}:{row['tx_hash']}",
                                         "displaced", "critical", row["asset"], row["wallet"],
                                         detail, row["tx_hash"], 0, head))
            if done is not None:
                fired.append(done)
        self._announce(fired, report)

    def _included(self, block: Block, hashes: set[str]) -> None:
        """Alerts first seen in the mempool whose transaction ``block`` includes and nothing
        in it alarmed again (a transfer of someone else's, such as a ``transferFrom`` that
        reverted): mined, and a reverted one is an attempt that moved nothing."""
        reader = getattr(self.chain, "receipts", None)
        receipts = reader(sorted(hashes)) if reader is not None else {}
        now = self.clock.now()
        with self.store.watch() as tables:
            for alert in tables.chain_alerts(self.chain.name, ("pending",)):
                tx = str(alert["tx_hash"] or "").lower()
                if tx not in hashes:
                    continue
                receipt = receipts.get(tx)
                changes: AlertChange = {"chain_state": "mined", "block": block.number}
                reverted = receipt is not None and not receipt.ok \
                    and alert["kind"] in ("theft", "safe_execution", "safe_change")
                note = msg(N_("timeline.chain.included.reverted") if reverted
                           else N_("timeline.chain.included"), tx=tx, block=str(block.number))
                if reverted:  # a Safe's execution stays one (its signatures are out there)
                    changes["kind"] = "theft_attempt" if alert["kind"] == "theft" \
                        else alert["kind"]
                    changes["amount"] = 0
                    changes["detail"] = msg("alert.reverted", alert=alert["detail"],
                                            block=str(block.number))
                tables.update_alert(alert["id"], **changes)
                if alert["incident"]:
                    tables.add_event(alert["incident"], now, "chain", ACTOR, note)

    # ------------------------------------------------------------------ state

    def _receipts(self, mine: list[Transfer], ours: set[str]) -> dict[str, tuple[bool, int]]:
        """(succeeded, fee) of the block's transactions that send from or to our addresses:
        what their native records really moved."""
        reader = getattr(self.chain, "receipts", None)
        hashes = [t.tx_hash for t in mine if t.token is None]
        if reader is None or not hashes:
            return {}
        return {h: (r.ok, r.fee) for h, r in reader(hashes).items()}

    def _state_findings(self, block: Block, after: dict[str, AccountState] | None,
                        receipts: dict[str, tuple[bool, int]], ours: set[str],
                        assets: dict[str | None, str],
                        internal: list[Transfer] | None = None) -> list[Finding]:
        """Compare what every watched address holds after ``block`` with what it held
        before (kept from the last state read, else read), and keep the unexplained changes
        (:func:`kinko.domain.watch_state.judge`). Blocks read without their state (deep in
        a backlog, or not readable) wait in a span and are explained with the next block
        whose state is read: the change over the span against all their transfers."""
        if not self.state_watch or getattr(self.chain, "states", None) is None:
            return []
        self._span.append((block, receipts, internal or []))
        if after is None:
            if len(self._span) > 16 * _STRIDE:  # a long gap: start again after it
                log.warning("state watch: no state for %d blocks up to %d; comparing anew",
                            len(self._span), block.number)
                self._gaps.append((self._span[0][0].number, block.number))
                self._span, self._state_at = [], ""
            return []
        span, self._span = self._span, []
        first = span[0][0]
        if len(span) > 1:
            block = Block(block.number, block.hash, first.parent_hash, block.timestamp,
                          tuple(t for b, _, _ in span for t in b.transfers),
                          tuple(a for b, _, _ in span for a in b.authorizations),
                          tuple(g for b, _, _ in span for g in b.allowances))
            receipts = {h: r for _, rs, _ in span for h, r in rs.items()}
        moved = [t for _, _, sent in span for t in sent]
        watched = sorted(after)
        tokens = sorted(k for k in assets if k is not None)
        before = self._state if self._state_at == first.parent_hash else {}
        missing = [a for a in watched if a not in before]
        self._state, self._state_at = after, block.hash
        if missing and first.number > 0:
            states = getattr(self.chain, "states")  # noqa: B009 - present: checked above
            try:
                before = {**before, **states(missing, tokens, first.number - 1)}
            except ChainRejected as exc:  # pruned: this block is the new starting point
                log.warning("state watch: the state before block %d is not readable (%s); "
                            "comparing from block %d on", first.number, exc.message,
                            block.number)
                self._gaps.append((first.number, block.number))
        token_assets = {k: v for k, v in assets.items() if k is not None}
        own = self._own_authorizations(block)
        where = span_words(first.number, block.number)
        decimals = {a.symbol: a.decimals for a in self.ledger.assets.values()}
        found: list[Finding] = []
        for address in watched:
            if address not in before:
                continue
            found += judge(address, before[address], after[address],
                           flows_of(block.transfers, address, receipts, moved),
                           native=assets.get(None, ""), tokens=token_assets,
                           suspected=suspects(address, block.transfers, block.authorizations,
                                              ours),
                           allowances=block.allowances,
                           own_authorizations=own.get(address, 0), where=where,
                           decimals=decimals)
        return found

    def _gap_alerts(self) -> list[Alert]:
        """A span of blocks whose watched addresses' state the node would not give (a
        pruned node, a long backlog): what left them there without a transfer (a delegated
        account's internal call) was not checked, and people must compare their balances
        with the books (severity high: it is no theft seen, and nothing is contained)."""
        gaps, self._gaps = self._gaps, []
        name = self.chain.name
        return [Alert(f"state_gap:{name}:{first}:{last}", "state_gap", "high", None, None,
                      msg("alert.state_gap", chain=name, first=str(first), last=str(last)),
                      block=last) for first, last in gaps]

    def _own_authorizations(self, block: Block) -> dict[str, int]:
        """Per address, the authorizations its own transactions in ``block`` carried that
        kinko sent (an emergency sweep clearing a delegation bumps the nonce twice)."""
        if not block.authorizations:
            return {}
        mine = {t.lower() for t in self._own_hashes()}
        out: dict[str, int] = {}
        for a in block.authorizations:
            if a.tx_hash.lower() in mine and a.authority == a.sender:
                out[a.authority] = out.get(a.authority, 0) + 1
        return out

    def _own_hashes(self) -> set[str]:
        return {str(v.tx_hash) for v in self.custody.proposals() if v.tx_hash}

    # ------------------------------------------------------------------ recording

    def _record(self, observations: list[Observation], block: Block | None,
                report: PollReport, findings: Sequence[Finding] = (),
                failed: frozenset[str] = frozenset(), alerts: Sequence[Alert] = ()) -> None:
        """Store what was seen and alarm for what is unexplained and new: one unit of work
        (an observation is never kept without the alert it raises, so a crash in between
        cannot make a re-read block look seen and stay silent); the chain and the notifiers
        are told after it commits. Unexplained outflows of one transaction and asset are
        one alert (their total); ``findings`` (unexplained changes of state) alarm under
        the key of the transaction they are blamed on; ``failed`` transactions (reverted)
        are attempts, not losses; ``alerts`` raised elsewhere (a Safe's execution or change
        kinko did not approve, an owner key sending) take in the unexplained outflows of
        their own transaction, so one transaction is one alert."""
        name = self.chain.name
        now = self.clock.now()
        raised: list[Alert] = []
        deny = self.withdrawals.deny_list()
        thefts: dict[tuple[str, str], tuple[Observation, int]] = {}
        tagged = tag_holders(self.chain, [o.transfer.sender for o in observations
                                          if o.direction == "in" and o.transfer.value > 0],
                             self.tag_tokens) if self.tag_tokens else {}  # the node: first
        with self.store.unit() as unit:
            tables = unit.watch
            for obs in observations:
                t = obs.transfer
                oid = observation_id(name, t) + ("" if obs.direction == "out" else ":in")
                old = tables.observation(oid)
                report.observed += 1
                if obs.match is not None and oid not in report.matched_ids:
                    report.matched_ids.add(oid)
                    report.matched += 1
                status = "pending" if block is None else "mined"
                number = None if block is None else block.number
                block_hash = None if block is None else block.hash
                if old is None:
                    tables.put_observation(ObservationRow(
                        id=oid, chain=name, tx_hash=t.tx_hash, direction=obs.direction,
                        wallet=obs.wallet, asset=obs.asset, sender=t.sender, receiver=t.to,
                        amount=t.value, nonce=t.nonce, block=number, block_hash=block_hash,
                        status=status, match_ref=obs.match, first_seen=now, updated=now))
                elif block is not None and old["status"] in ("pending", "retracted"):
                    tables.update_observation(oid, status=status, block=number,
                                              block_hash=block_hash, match_ref=obs.match,
                                              updated=now)
                elif block is None or old["block"] == block.number:
                    continue  # seen before, nothing new
                if obs.direction == "out" and obs.match is None:
                    k = (t.tx_hash.lower(), obs.asset)
                    first, total = thefts.get(k, (obs, 0))
                    thefts[k] = (first, total + t.value)
                elif obs.direction == "in":
                    label = deny.get(chain_key(t.sender, name))
                    tag = tagged.get(chain_key(t.sender, name))
                    if label is not None or tag is not None:
                        said = (label.label or label.source) if label is not None else \
                            tag_label(str(tag))
                        raised.append(deposit_alert(name, obs, said,
                                                    self.ledger.assets.get(obs.asset)))
            keyed = {a.key: a for a in alerts}
            for (tx, asset), (obs, total) in thefts.items():
                other = keyed.get(alert_key(name, tx))
                if other is not None and other.kind.startswith("safe_") and (
                        other.asset == asset or not other.amount):
                    # the Safe's own alarm says what happened; it carries what was taken
                    keyed[other.key] = replace(other, asset=asset, amount=total,
                                               wallet=obs.wallet)
                    continue
                raised.append(theft_alert(name, obs, pending=block is None,
                                          asset=self.ledger.assets.get(asset), amount=total,
                                          reverted=tx in failed))
            raised += keyed.values()
            for f in findings:
                wallet = self._wallet_of(f.address, f.asset)
                if wallet is not None:
                    raised.append(state_alert(
                        name, f, wallet, block=None if block is None else block.number))
            # what moved first, so the one alert of a transaction carries its loss
            raised.sort(key=lambda a: not a.amount)
            fired = [done for alert in raised if (done := self._alarm(alert)) is not None]
        self._announce(fired, report)

    def _wallet_of(self, address: str, asset: str | None) -> str | None:
        """The wallet an unexplained change of ``address`` is about: the one of ``asset``,
        else the one of the chain's coin, else any with that address."""
        wallets = self._wallet_map
        native = self._asset_map.get(None)
        for want in (asset, native):
            if want is not None and (address, want) in wallets:
                return wallets[(address, want)]
        return next((w for (a, _), w in sorted(wallets.items()) if a == address), None)

    def _alarm(self, alert: Alert) -> _Fired | None:
        """Record an alert in the caller's unit of work (or its own): a new one opens (or
        joins) its wallet's incident and is contained there (breakers, rejections, sweep
        proposals); None when it was raised before (a block after the mempool, a reorg, a
        second finding of the same transaction), whose alert is then brought up to date:
        its block, and what the block showed moved (a mempool sighting of a delegation
        learns its loss; a reverted transaction becomes an attempt). Another asset taken in
        the same transaction is an alert of its own (each is a loss)."""
        now = self.clock.now()
        chain_state = "pending" if alert.block is None else "mined"
        with self.store.unit() as unit:
            tables = unit.watch
            old = tables.alert_by_key(alert.key)
            if old is not None and alert.amount and old["amount"] \
                    and old["asset"] != alert.asset:
                alert = replace(alert, key=f"{alert.key}:{alert.asset}")
                old = tables.alert_by_key(alert.key)
            if old is not None:  # seen again: in a block after the mempool, or after a reorg
                changes: AlertChange = {}
                moved = old["chain_state"] != chain_state or old["block"] != alert.block
                # a mempool sighting never takes a mined alert back to pending
                if moved and not (alert.block is None and old["chain_state"] != "pending"):
                    changes["chain_state"] = chain_state
                    changes["block"] = alert.block
                learnt = alert.block is not None and (
                    alert.kind == "theft_attempt" != old["kind"]
                    or (alert.amount and alert.amount != old["amount"])
                    # a Safe's events say what a pending execution did, whether the alert
                    # is still pending or its inclusion was noted first (same block)
                    or (alert.kind.startswith("safe_") and old["detail"] != alert.detail
                        and (old["chain_state"] == "pending" or old["block"] == alert.block)))
                if learnt:
                    changes.update(AlertChange(kind=alert.kind, asset=alert.asset,
                                               wallet=alert.wallet, amount=alert.amount,
                                               detail=alert.detail))
                if changes:
                    tables.update_alert(old["id"], **changes)
                if old["incident"] and "block" in changes and alert.block is not None:
                    tables.add_event(old["incident"], now, "chain", ACTOR, msg(
                        N_("timeline.chain.included_again") if old["chain_state"] == "retracted"
                        else N_("timeline.chain.included"), tx=alert.tx_hash or alert.key,
                        block=str(alert.block)))
                if old["incident"] and learnt:
                    tables.add_event(old["incident"], now, "alert", ACTOR,
                                     msg("timeline.alert", alert=old["id"],
                                         detail=alert.detail))
                return None
            alert_id = tables.put_alert(NewAlert(
                key=alert.key, kind=alert.kind, severity=alert.severity, state="open",
                chain_state=chain_state, asset=alert.asset, wallet=alert.wallet,
                tx_hash=alert.tx_hash, amount=alert.amount, block=alert.block,
                detail=alert.detail, incident=None, raised=now))
            incident = None
            sweeps: list[Sweep] = []
            if alert.severity == "critical":
                same_key = {w.name for w in self.containment.compromised(alert.wallet)}
                incident = next((i["id"] for i in tables.incidents("open")
                                 if i["wallet"] in same_key), None)
                fresh = incident is None
                if incident is None:
                    incident = tables.put_incident(NewIncident(
                        state="open",
                        title=msg("incident.title.outflow", wallet=alert.wallet or ""),
                        asset=alert.asset, wallet=alert.wallet, opened=now, closed=None))
                    tables.add_event(incident, now, "opened", ACTOR,
                                     msg("timeline.opened.by_alert", alert=alert_id))
                tables.update_alert(alert_id, incident=incident)
                tables.add_event(incident, now, "alert", ACTOR,
                                 msg("timeline.alert", alert=alert_id, detail=alert.detail))
                sweeps = self.containment.contain(incident, alert, fresh)
        row = AlertNotice(id=alert_id, key=alert.key, kind=alert.kind,
                          severity=alert.severity, asset=alert.asset, wallet=alert.wallet,
                          tx_hash=alert.tx_hash, amount=alert.amount, block=alert.block,
                          chain_state=chain_state, detail=alert.detail, incident=incident,
                          raised=now)
        return _Fired(row, sweeps)

    def _announce(self, fired: list[_Fired], report: PollReport) -> None:
        """After the unit that raised them committed: log the alerts, broadcast the
        pre-authorised emergency sweeps (the race with the attacker), tell the notifiers."""
        for f in fired:
            row = f.row
            self.metrics["alerts_raised"] += 1
            report.alerts.append(row)
            if row["severity"] == "critical":
                log.critical("ALERT %s %s: %s", row["id"], row["kind"],
                             ENGLISH.text(row["detail"]))
            else:
                log.warning("ALERT %s %s: %s", row["id"], row["kind"],
                            ENGLISH.text(row["detail"]))
        for f in fired:
            self.containment.send(f.sweeps)
        for f in fired:
            for notifier in self.notifiers:
                try:
                    notifier.notify(f.row)
                except Exception as exc:  # a notifier never stops the watch
                    log.error("notifier %s failed for %s: %s", type(notifier).__name__,
                              f.row["id"], exc)

    # ------------------------------------------------------------------ reorgs

    def _rewind(self, number: int, report: PollReport) -> int:
        name = self.chain.name

        def kept(n: int) -> str | None:
            with self.store.watch(write=False) as tables:
                return tables.block_hash(name, n)

        fork = find_fork(self.chain, kept, number, self.start_block)
        self._span, self._state_at = [], ""  # the state watch starts again on the new branch
        now = self.clock.now()
        wallets = [w.name for w in self.ledger.wallets()]
        with self.store.watch() as tables:
            gone = tables.observations(name, status=("mined", "final"), above=fork)
            for o in gone:
                tables.update_observation(o["id"], status="retracted", block=None,
                                          block_hash=None, updated=now)
            for alert in tables.chain_alerts(name, ("mined", "final")):
                if alert["block"] is not None and alert["block"] > fork:
                    tables.update_alert(alert["id"], chain_state="retracted", block=None)
                    if alert["incident"]:
                        tables.add_event(alert["incident"], now, "chain", ACTOR,
                                         msg("timeline.chain.retracted",
                                             tx=alert["tx_hash"] or "", block=str(fork)))
            tables.forget_blocks_after(name, fork)
            tables.forget_samples_after(wallets, fork)
        self.metrics["reorgs"] += 1
        report.reorgs.append(msg("watch.reorg", chain=name, block=str(fork), count=len(gone)))
        log.warning("reorganisation on %s after block %d", name, fork)
        return fork

    # ------------------------------------------------------------------ finality

    def _finality(self, report: PollReport) -> None:
        """Observations with enough blocks on top become final, and the withdrawals and
        sweeps they show are closed (booked), in one unit of work: a crash cannot leave an
        observation final with its movement still open. A movement that cannot be closed
        is undone alone (a savepoint) and reported."""
        final = report.head - self.confirmations + 1
        now = self.clock.now()
        with self.store.watch(write=False) as tables:
            due = [o for o in tables.observations(self.chain.name, status=("mined",))
                   if o["block"] is not None and o["block"] <= final]
            alerts = [a["id"] for a in tables.chain_alerts(self.chain.name, ("mined",))
                      if a["block"] is not None and a["block"] <= final]
        if not due and not alerts:
            return
        with self.store.unit() as unit:
            tables = unit.watch
            for alert_id in alerts:
                tables.update_alert(alert_id, chain_state="final")
            for o in due:
                tables.update_observation(o["id"], status="final", updated=now)
            report.finalised += len(due)
            for ref in sorted({o["match_ref"] for o in due if o["match_ref"]}):
                try:
                    with unit.savepoint():
                        if self._close(ref, next(o for o in due if o["match_ref"] == ref)):
                            report.closed.append(ref)
                except KinkoError as exc:
                    report.problems.append(msg("watch.close_failed", ref=ref,
                                               reason=exc.said()))
                    log.error("closing %s failed: %s", ref, exc.message)

    def _close(self, ref: str, obs: ObservationRow) -> bool:
        kind, _, ident = ref.partition(":")
        if kind == "withdrawal":
            view = self.withdrawals.get(ident)
            if view.state in SENDABLE_WITHDRAWAL_STATES:  # signed outside kinko, seen on chain
                with self.store.screening() as tables:
                    tables.set_state(ident, (view.state,), "sent", obs["tx_hash"])
                view = self.withdrawals.get(ident)
            if view.state in IN_FLIGHT_WITHDRAWAL_STATES:
                return self.withdrawals.confirm(ident) is not None
            return False
        if kind == "proposal":
            proposal = self.custody.proposal(ident)
            if proposal is None or proposal.state in ("executed", "failed"):
                return False
            tx = obs["tx_hash"] if proposal.state == "requested" else None
            return self.custody.settle(ident, tx) is not None
        return False

    # ------------------------------------------------------------------ balances

    def _balances(self, report: PollReport) -> None:
        policy = self.custody.policy()
        head = report.head
        if policy is None or head == self._sampled:
            return  # nothing new since the last sample
        self._sampled = head
        block = self.chain.block(head)
        window = int(policy.watch.balance_drop_window.total_seconds())
        for wallet in self.ledger.wallets():
            asset = self.ledger.assets[wallet.asset]
            if wallet.tier != "hot" or asset.chain != self.chain.name or not wallet.addresses:
                continue
            balance = sum(self.chain.balances(list(wallet.addresses), head,
                                              token=asset.token).values())
            fired: list[_Fired] = []
            with self.store.unit() as unit:
                tables = unit.watch
                tables.put_sample(wallet.name, head, block.timestamp, balance)
                samples = tables.samples(wallet.name, block.timestamp - window)
                start = samples[0] if samples else None
                flows = ([] if start is None else
                         tables.wallet_flows(wallet.name, int(start["block"]), head))
                already = tables.alerts(state="open", kind="balance_drop", wallet=wallet.name)
                if start is None or already:
                    continue
                explained = sum(int(f["amount"]) for f in flows
                                if f["direction"] == "out" and f["match_ref"])
                unexplained_out = sum(int(f["amount"]) for f in flows
                                      if f["direction"] == "out" and not f["match_ref"])
                inflow = sum(int(f["amount"]) for f in flows if f["direction"] == "in")
                start_balance = int(start["balance"])
                # outflows already alarmed as thefts are explained for this rule's purpose
                drop = unexplained_drop(start_balance, balance, explained + unexplained_out,
                                        inflow)
                if drop_exceeds(drop, start_balance, policy.watch.balance_drop_percent):
                    alert = Alert(
                        f"balance_drop:{wallet.name}:{start['block']}:{head}", "balance_drop",
                        "high", wallet.asset, wallet.name,
                        msg("alert.balance_drop", wallet=wallet.name,
                            drop=Units(drop, asset.symbol, asset.decimals),
                            share=Percent(Decimal(drop) / Decimal(start_balance), 0),
                            start=Units(start_balance, asset.symbol, asset.decimals),
                            first=str(start["block"]), last=str(head),
                            threshold=Percent(policy.watch.balance_drop_percent / 100),
                            window=window),
                        None, drop, head)
                    fired = [f for f in [self._alarm(alert)] if f is not None]
            self._announce(fired, report)

    # ------------------------------------------------------------------ audit

    def audit(self) -> list[AlertNotice]:
        """What the watched hot addresses carry from before the watch: allowances they
        granted that are still open (a spender can take their tokens at any time) and
        EIP-7702 delegations (anyone can run the delegate's code with their funds), each
        raised once as a finding (severity high: it may be the exchange's own doing, and
        people must look). Returns the findings raised now."""
        states = getattr(self.chain, "states", None)
        granted = getattr(self.chain, "allowances", None)
        if states is None or granted is None:
            return []
        assets = self._assets()
        tokens = {k: v for k, v in assets.items() if k is not None}
        name = self.chain.name
        hot = sorted({(chain_key(a, name), w.name) for w in self.ledger.wallets()
                      if w.tier == "hot" and w.asset in set(assets.values())
                      for a in w.addresses})
        addresses = sorted({a for a, _ in hot})
        if not addresses:
            return []
        head = self.chain.head()
        now = states(addresses, [], head)
        found: list[Alert] = []
        for address in addresses:
            wallet = next(w for a, w in hot if a == address)
            delegate = delegate_of(now[address].code)
            if delegate is not None:
                found.append(Alert(
                    f"audit:{name}:{address}:delegation:{delegate}", "audit_delegation",
                    "high", None, wallet, msg("alert.audit_delegation", wallet=wallet,
                                              address=address, delegate=delegate),
                    block=head))
            for token, spender, amount in granted(address, sorted(tokens)):
                asset = tokens.get(token, token)
                known = self.ledger.assets.get(asset)
                found.append(Alert(
                    f"audit:{name}:{address}:{token}:{spender}", "audit_allowance", "high",
                    asset, wallet, msg("alert.audit_allowance", wallet=wallet, address=address,
                                       spender=spender, amount=Units(
                                           amount, asset, known.decimals if known else 0)),
                    block=head))
        fired: list[_Fired] = []
        with self.store.unit():
            for alert in found:
                done = self._alarm(alert)
                if done is not None:
                    fired.append(done)
        report = PollReport()
        self._announce(fired, report)
        return report.alerts

    # ------------------------------------------------------------------ operators

    def run(self, interval: float, should_stop: Callable[[], bool],
            on_report: Callable[[PollReport], None] | None = None,
            sleep: Callable[[float], Any] | None = None) -> None:
        """Poll until ``should_stop()``; a poll that fails on the node is logged and tried
        again after ``interval`` from the same checkpoint."""
        import time

        pause = sleep or time.sleep
        try:
            self.audit()
        except KinkoError as exc:
            log.error("the start audit of allowances and delegations failed: %s", exc.message)
        while not should_stop():
            try:
                report = self.poll()
            except KinkoError as exc:
                log.error("watch round failed: %s; resuming from the checkpoint", exc.message)
                pause(interval)
                continue
            if on_report is not None:
                on_report(report)
            if report.blocks == 0 or report.head == self.metrics["checkpoint"]:
                pause(interval)

