"""Custody use cases: positions, the policy, proposals with m-of-n approvals, sweeps, checks.

- :func:`custody_positions`: per asset, liabilities against holdings by tier, from the ledger.
- :class:`Custody`: loads policy versions (the first is a bootstrap; later ones need the
  quorum of the active policy), turns breaches into sweep/refill proposals, records Ed25519
  approvals, executes an approved sweep through the hot wallet's ``Spender`` and posts the
  ledger entry once the transaction has enough confirmations, reconciles wallets against
  the chain, and evaluates every check the FSA asks about.

Executing twice, settling twice or crashing in between never moves or books funds twice:
the chain nonce and the ledger's idempotency keys (``sweep:<proposal>``) see to that.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from kinko.domain.addresses import (
    canonical_address,
    chain_key,
    chain_keys,
    same_address,
    same_token,
)
from kinko.domain.approvals import (
    Approval,
    Proposal,
    check_approval,
    lapses_at,
    quorum_reached,
)
from kinko.domain.custody import (
    LEGAL_MAX_ONLINE,
    AssetPosition,
    CustodyFinding,
    Move,
    Wallet,
    WalletSigning,
    customer_offline,
    evaluate,
    guarantee,
    rebalance,
    signing_findings,
    wallet_signing,
    within_share,
)
from kinko.domain.ledger import BalanceState, Entry, Posting, format_timestamp, normal_balance
from kinko.domain.messages import N_, Message, Time, Units, id_shown, msg, verbatim
from kinko.domain.money import Asset, AssetRegistry
from kinko.domain.nem_tx import is_nem
from kinko.domain.policy import Policy, parse_policy, policy_from_canonical
from kinko.domain.policy_lock import (
    DEFAULT_TIME_LOCK,
    Standing,
    VersionFacts,
    Veto,
    changes_message,
    check_veto,
    effective_version,
    standings,
    version_facts,
)
from kinko.domain.report import CustodyReport, CustodyRow, PendingMove
from kinko.domain.states import (
    IN_FLIGHT_WITHDRAWAL_STATES,
    PROPOSAL_STATES,
    ProposalState,
    one_of,
)
from kinko.errors import (
    ApprovalError,
    ChainRejected,
    ConfigError,
    InvalidAccount,
    KinkoError,
    NotFound,
)
from kinko.ports import (
    Chain,
    CustodyTables,
    NewAlert,
    Outgoing,
    OwnerSignatureRow,
    Payment,
    Prepared,
    Prices,
    RaceTerms,
    SignedMove,
    Spender,
    Store,
    UnitError,
)
from kinko.safeload import loads_toml, read_text
from kinko.services.access import append_audit
from kinko.services.ledger import Ledger
from kinko.services.notify import alert_body
from kinko.services.timeline import record

__all__ = ["CheckResult", "Custody", "ProposalView", "custody_positions", "custody_report",
           "effective_policy", "fee_payer", "fee_postings", "levy_postings", "merge_postings",
           "payment", "signed_move", "stored_versions", "unknown_proposal"]

# proposals whose approval moves something only the withdrawals service knows (a withdrawal
# held for review, a breaker reset): they are approved through it (Withdrawals.approve_proposal)
ROUTED_KINDS = ("withdrawal", "breaker")
# a rebalance's states that keep its asset from another one: awaiting approvers or execution
# (until it lapses), and in flight (its transaction may be on chain, whatever its age)
_AWAITING: tuple[ProposalState, ...] = ("pending", "approved")
_IN_FLIGHT: tuple[ProposalState, ...] = ("requested", "sending", "sent")


def unknown_proposal(proposal_id: str,
                     error: type[KinkoError] = ApprovalError) -> KinkoError:
    """The refusal of an id no proposal has (as ``error``: a 404 where a URL names it, a
    bad input where a command's argument does): its id, a caller's, quoted short."""
    shown = id_shown(proposal_id)
    return error(f"unknown proposal {shown!r}", says=msg("error.unknown_proposal", id=shown))


def outside_units(store: Store, what: str) -> None:
    """Refuse to broadcast from inside a unit of work: what is recorded before a broadcast
    must be committed before it (a crash must not lose the hash of a sent transaction)."""
    if store.current() is not None:
        raise UnitError(f"{what} broadcasts a transaction: it must run outside a unit of work")


def payment(asset: Asset, to: str, amount: int, kind: str, request_id: str) -> Payment:
    """What a use case asks a wallet to send, for withdrawal or proposal ``request_id``."""
    return Payment(asset, to, amount, (kind, request_id))


def signed_move(prepared: Prepared, out: Outgoing, chain: str, at: datetime) -> SignedMove:
    """What kinko signed for a movement, as the watch matches it (``signed_moves``): the
    sender, the nonce it takes, its hash; for a Safe's execution also the Safe, the SafeTx
    hash and the Safe's nonce. Recorded in the unit that records the hash, before the
    broadcast."""
    d = prepared.detail
    kind, ident = prepared.payment.request
    safe_hash = d.get("safe_tx_hash")
    return SignedMove(ref=f"{kind}:{ident}", chain=chain, sender=prepared.sender,
                      nonce=None if d.get("nonce") is None else int(d["nonce"]),
                      tx_hash=out.tx_hash, safe=d.get("to") if safe_hash else None,
                      safe_tx_hash=str(safe_hash).lower() if safe_hash else None,
                      safe_nonce=None if d.get("safe_nonce") is None else int(d["safe_nonce"]),
                      signed=at)


def fee_payer(ledger: Ledger, wallet_name: str, payer: str | None = None
              ) -> tuple[str, str] | None:
    """(wallet, fee coin) that paid the network fee of a transaction sent for
    ``wallet_name``: the wallet of the chain's own coin that holds the address ``payer``
    (the receipt's sender: the wallet's own key, or the relayer of a multisig wallet), by
    default an address of ``wallet_name`` itself (None when no such wallet is registered:
    kinko then does not track that money and books no fee)."""
    wallets = ledger.wallets()
    source = next(w for w in wallets if w.name == wallet_name)
    asset = ledger.assets[source.asset]
    native = next((a.symbol for a in ledger.assets.values()
                   if a.chain == asset.chain and a.token is None), None)
    paying = (chain_keys([payer], asset.chain) if payer is not None
              else chain_keys(source.addresses, asset.chain))
    found = next((w for w in wallets if w.asset == native
                  and paying & chain_keys(w.addresses, asset.chain)), None)
    return None if found is None or native is None else (found.name, native)


def fee_postings(ledger: Ledger, wallet_name: str, fee: int, payer: str | None = None
                 ) -> list[Posting]:
    """The legs booking a network fee paid for ``wallet_name`` by ``payer`` (see
    :func:`fee_payer`)."""
    found = fee_payer(ledger, wallet_name, payer) if fee else None
    if found is None:
        return []
    return [Posting("fees", found[1], fee), Posting(f"wallet:{found[0]}", found[1], -fee)]


def levy_postings(ledger: Ledger, wallet_name: str,
                  levies: Sequence[tuple[str | None, str, int]],
                  payer: str | None = None) -> list[Posting]:
    """The legs booking the levies a transaction sent for ``wallet_name`` paid (a levied NEM
    mosaic's: ``(token, recipient, amount)``, token None for the chain's coin): each from
    the wallet of that asset holding ``payer`` (by default an address of ``wallet_name``) to
    ``fees``; a levy in an asset kinko registers no such wallet for is not booked."""
    if not levies:
        return []
    wallets = ledger.wallets()
    source = next(w for w in wallets if w.name == wallet_name)
    chain = ledger.assets[source.asset].chain
    paying = chain_keys([payer] if payer is not None else source.addresses, chain)
    legs: list[Posting] = []
    for token, _recipient, amount in levies:
        symbol = next((a.symbol for a in ledger.assets.values() if a.chain == chain
                       and (a.token or "") == (token or "")), None)
        found = next((w for w in wallets if w.asset == symbol
                      and paying & chain_keys(w.addresses, chain)), None)
        if symbol is not None and found is not None and amount:
            legs += [Posting("fees", symbol, amount), Posting(f"wallet:{found.name}", symbol,
                                                              -amount)]
    return merge_postings(legs)


def merge_postings(legs: list[Posting]) -> list[Posting]:
    """One leg per (account, asset), amounts added; zero legs dropped."""
    sums: dict[tuple[str, str], int] = {}
    for leg in legs:
        sums[(leg.account, leg.asset)] = sums.get((leg.account, leg.asset), 0) + leg.amount
    return [Posting(account, asset, amount) for (account, asset), amount in sums.items()
            if amount]


def _positions_as_of(ledger: Ledger, at: datetime) -> list[AssetPosition]:
    """Positions from the journal as it stood at ``at`` (posted amounts; no holds)."""
    tiers = {w.name: w.tier for w in ledger.wallets()}
    sums: dict[str, dict[str, int]] = {}
    counts: dict[str, int] = {}
    for r in ledger.balances(as_of_time=at):
        kind, _, name = r.account.partition(":")
        slot = sums.setdefault(r.asset, {"hot": 0, "warm": 0, "cold": 0, "customers": 0,
                                         "own": 0})
        value = normal_balance(r.account, r.state)
        if kind == "customer":
            slot["customers"] += value
            counts[r.asset] = counts.get(r.asset, 0) + (1 if value else 0)
        elif kind == "wallet":
            slot[tiers.get(name, "cold")] += value
        elif kind == "bank":
            slot["bank"] = slot.get("bank", 0) + value
        elif kind == "own":
            slot["own"] += value
    out = []
    for asset, slot in sorted(sums.items()):
        holdings = {k: slot[k] for k in ("hot", "warm", "cold")}
        if "bank" in slot:
            holdings["bank"] = slot["bank"]
        out.append(AssetPosition(asset, counts.get(asset, 0), slot["customers"], 0, holdings,
                                 slot["own"]))
    return out


def stored_versions(tables: CustodyTables, registry: AssetRegistry) -> list[VersionFacts]:
    """Every stored policy version with its vetoes, as the effective-version rule reads
    them (one read of two small tables)."""
    return version_facts(tables.policy_rows(), tables.vetoes(), registry)


def effective_policy(tables: CustodyTables, registry: AssetRegistry, at: datetime,
                     facts: list[VersionFacts] | None = None) -> Policy | None:
    """The policy version in force at ``at``, computed from the stored facts (the one rule:
    :func:`kinko.domain.policy_lock.effective_version`)."""
    found = effective_version(facts if facts is not None else stored_versions(tables, registry),
                              at, registry)
    return None if found is None else found.policy


def custody_positions(ledger: Ledger, *, at: datetime | None = None) -> list[AssetPosition]:
    """One :class:`AssetPosition` per asset that appears anywhere in the ledger, now or as
    the journal stood at time ``at``."""
    if at is not None:
        return _positions_as_of(ledger, at)
    with ledger.store.reader() as tx:
        customers = tx.sum_balances("customer")
        own = tx.sum_balances("own")
        banks = tx.sum_balances("bank")
        tiers = {w.name: w.tier for w in tx.wallets()}
        wallet_rows = list(tx.balances(kind="wallet"))
    assets = sorted(set(customers) | set(own) | set(banks) | {r.asset for r in wallet_rows})
    out = []
    for asset in assets:
        holdings: dict[str, int] = {"hot": 0, "warm": 0, "cold": 0}
        for r in wallet_rows:
            if r.asset == asset:
                tier = tiers.get(r.account.partition(":")[2], "cold")
                holdings[tier] += normal_balance(r.account, r.state)
        if asset in banks:
            holdings["bank"] = banks[asset][0].balance
        owed, count = customers.get(asset, (BalanceState(), 0))
        out.append(AssetPosition(
            asset=asset,
            customers=count,
            liabilities=-owed.balance,
            held_for_withdrawal=owed.pending_debit,
            holdings=holdings,
            own_funds=-own[asset][0].balance if asset in own else 0,
        ))
    return out


@dataclass(frozen=True)
class ProposalView:
    """A proposal as it stands: its state, approvals, the quorum of the policy in force, and
    ``lapses_at``, when it expires under that policy (:func:`~kinko.domain.approvals.lapses_at`:
    its stored expiry, or sooner once older than the policy allows): what an approval and
    an execution are refused after, so what a person is shown as its expiry."""

    proposal: Proposal
    state: ProposalState
    tx_hash: str | None
    detail: Message
    approvals: list[Approval]
    quorum: int
    lapses_at: datetime


@dataclass(frozen=True)
class CheckResult:
    findings: list[CustodyFinding]
    positions: list[AssetPosition]
    policy: Policy | None
    pending: list[ProposalView] = field(default_factory=list)

    @property
    def breaches(self) -> list[CustodyFinding]:
        return [f for f in self.findings if f.severity == "critical"]


class Custody:
    """Custody use cases over the ledger, a chain (optional) and the wallets that can send
    (``spender_for``: a wallet's :class:`~kinko.ports.Spender`, by its kind)."""

    def __init__(self, ledger: Ledger, *, chain: Chain | None = None,
                 spender_for: Callable[[Wallet], Spender] | None = None,
                 prices: Prices | None = None, confirmations: int = 12,
                 key_location: Callable[[Wallet], str | None] | None = None,
                 time_lock: timedelta = DEFAULT_TIME_LOCK) -> None:
        self.ledger = ledger
        self.key_location = key_location
        self.time_lock = time_lock  # how long a loosening policy version waits
        self.clock = ledger.clock
        self.chain = chain
        self.spender_for = spender_for
        self.prices = prices
        self.confirmations = confirmations

    # ------------------------------------------------------------------ policy

    def policy(self, at: datetime | None = None) -> Policy | None:
        """The policy version in force now, or at time ``at`` (a loosening still waiting
        for its time lock is not: :func:`kinko.domain.policy_lock.effective_version`). The
        stored versions and vetoes are read once per change (every process reads them again
        when a version or a veto is added); which one is in force is decided at each call,
        since a time lock runs out without anything being written."""
        if at is not None:
            with self.ledger.store.custody(write=False) as (_, tables):
                return effective_policy(tables, self.ledger.assets, at)
        assets = self.ledger.assets
        facts = self.ledger.store.cached("policies",
                                         lambda u: stored_versions(u.custody, assets))
        found = effective_version(facts, self.clock.now(), assets)
        return None if found is None else found.policy
    def policy_standings(self, at: datetime | None = None) -> list[Standing]:
        """Every policy version, newest first, as it stands now (or at ``at``): in force,
        pending (with when it takes effect and what it loosens), vetoed or superseded."""
        with self.ledger.store.custody(write=False) as (_, tables):
            facts = stored_versions(tables, self.ledger.assets)
        return standings(facts, at or self.clock.now(), self.ledger.assets)

    def veto(self, version: int, approver: str, signature: str, reason: str = "", *,
             actor: str | None = None) -> Standing:
        """One approver's veto of a policy version still waiting for its time lock: checked
        against the approver's key in the version it was proposed under, recorded and
        audited; the version then never takes effect."""
        now = self.clock.now()
        with self.ledger.store.unit() as unit:
            tables = unit.custody
            facts = stored_versions(tables, self.ledger.assets)
            found = next((s for s in standings(facts, now, self.ledger.assets)
                          if s.facts.version == version), None)
            if found is None:
                raise NotFound(f"no policy version {version} is loaded", version=version,
                               says=msg("error.policy.no_version", version=str(version)))
            if found.state != "pending":
                raise ApprovalError(
                    f"policy version {version} is {found.state}: only a version waiting for "
                    "its time lock can be vetoed", version=version, state=found.state,
                    says=msg("error.policy.veto_not_pending", version=str(version),
                             state=msg(f"pol.state.{found.state}")))
            base = next((f for f in facts if f.version == found.facts.base), None)
            assert found.facts.policy is not None
            if base is None or base.policy is None:
                raise ApprovalError(f"policy version {version} names no version it was "
                                    "proposed under: nobody's veto can be checked",
                                    says=msg("error.policy.no_base", version=str(version)))
            veto = Veto(version, approver.strip(), signature.strip().lower(), now,
                        reason.strip()[:500])
            check_veto(veto, found.facts.policy, base.policy)
            tables.put_veto(veto)
            append_audit(unit.access, now, actor or veto.approver, "policy.veto",
                         f"policy-v{version}", {"approver": veto.approver, "reason": veto.reason,
                                                "digest": found.facts.policy.digest})
            after = next(s for s in standings(stored_versions(tables, self.ledger.assets),
                                               now, self.ledger.assets)
                         if s.facts.version == version)
        return after

    def load_policy(self, path: Path, proposer: str, *, actor: str | None = None
                    ) -> tuple[Policy, ProposalView | None]:
        """Activate the first policy at once; propose any later version to the quorum.
        Either is recorded in the audit log (``policy.bootstrap``, ``policy.propose``, with
        the version's digest, under ``actor``: by default ``proposer``)."""
        data = loads_toml(read_text(path, error=ConfigError), str(path), error=ConfigError)
        policy = parse_policy(data, self.ledger.assets, str(path))
        wallets = {w.name: w for w in self.ledger.wallets()}
        for rule in policy.assets.values():
            cold = wallets.get(rule.cold_wallet or "")
            if rule.cold_wallet and (cold is None or cold.tier == "hot"
                                     or cold.asset != rule.asset):
                raise ConfigError(f"{path}: assets.{rule.asset}.cold_wallet: {rule.cold_wallet!r} "
                                  f"is not a registered warm or cold {rule.asset} wallet",
                                  says=msg("error.policy.cold_wallet", file=str(path)[:200],
                                           asset=rule.asset[:40],
                                           wallet=rule.cold_wallet[:80]))
        now = self.clock.now()
        target = f"policy-v{policy.version}"
        with self.ledger.store.unit() as unit:
            tables = unit.custody
            facts = stored_versions(tables, self.ledger.assets)
            if not facts:
                tables.put_policy(policy.version, policy.digest, policy.canonical(), now,
                                  "bootstrap")
                append_audit(unit.access, now, actor or proposer, "policy.bootstrap", target,
                             {"digest": policy.digest, "file": str(path)})
                return policy, None
            newest = max(f.version for f in facts)
            if policy.version <= newest:
                raise ConfigError(f"{path}: version {policy.version} is not newer than version "
                                  f"{newest}, the newest loaded",
                                  says=msg("error.policy.not_newer", file=str(path)[:200],
                                           version=str(policy.version), newest=str(newest)))
            current = effective_policy(tables, self.ledger.assets, now, facts)
            if current is None:
                raise ConfigError("no custody policy version is in force: none can approve "
                                  f"version {policy.version}",
                                  says=msg("error.policy.none_in_force",
                                           version=str(policy.version)))
            proposal = self._new_proposal(
                "policy", {"version": policy.version, "digest": policy.digest,
                           "body": policy.canonical()}, proposer, current, now)
            tables.put_proposal(proposal, msg("proposal.policy", version=str(policy.version),
                                              digest=policy.digest[:16]))
            append_audit(unit.access, now, actor or proposer, "policy.propose", target,
                         {"digest": policy.digest, "file": str(path),
                          "proposal": proposal.id})
        return policy, self.proposal(proposal.id)

    # ------------------------------------------------------------------ proposals

    def _new_proposal(self, kind: str, payload: dict[str, object], proposer: str,
                      policy: Policy, now: datetime, proposal_id: str | None = None
                      ) -> Proposal:
        """A new proposal: under ``proposal_id`` if given, else an id of its kind, day and
        content."""
        if not proposer.strip():
            raise ApprovalError("a proposal needs the proposer's name",
                                says=msg("error.proposal.no_proposer"))
        pid = proposal_id
        if pid is None:
            seed = f"{kind}|{sorted(payload.items())}|{proposer}|{format_timestamp(now)}"
            pid = f"{kind}-{now:%Y%m%d}-{hashlib.sha256(seed.encode()).hexdigest()[:10]}"
        return Proposal(pid, kind, payload, proposer.strip(), now,  # type: ignore[arg-type]
                        now + timedelta(hours=policy.proposal_ttl_hours), policy.version)

    def _require_policy(self) -> Policy:
        policy = self.policy()
        if policy is None:
            raise ConfigError("no custody policy is loaded: run `kinko policy load FILE --by NAME`",
                              says=msg("error.policy.none_loaded"))
        return policy

    def propose_rebalance(self, proposer: str) -> list[ProposalView]:
        """Turn every breach into a sweep or refill proposal (one open proposal per asset).

        A pending or approved proposal that has lapsed (:func:`lapses_at`, under the policy
        in force) is no longer open: it can never be approved or executed, so it does not
        keep the hot wallet outside its share. One being sent, sent or requested from an
        offline signer is open whatever its age: its transaction may be on chain."""
        policy = self._require_policy()
        moves = rebalance(custody_positions(self.ledger), policy)
        wallets = self.ledger.wallets()
        now = self.clock.now()
        made = []
        with self.ledger.store.custody() as (_, tables):
            open_assets = {(p.kind, p.payload.get("asset")) for p, state, *_ in tables.proposals()
                           if state in _IN_FLIGHT
                           or (state in _AWAITING and now < lapses_at(p, policy))}
            for move in moves:
                if (move.kind, move.asset) in open_assets:
                    continue
                payload = self._move_payload(move, policy, wallets)
                proposal = self._new_proposal(move.kind, payload, proposer, policy, now)
                tables.put_proposal(proposal, move.reason)
                made.append(proposal.id)
        return [v for pid in made if (v := self.proposal(pid)) is not None]

    def _move_payload(self, move: Move, policy: Policy, wallets: list[Wallet]
                      ) -> dict[str, object]:
        rule = policy.assets[move.asset]
        hot = next((w for w in wallets if w.asset == move.asset and w.tier == "hot"), None)
        cold = next((w for w in wallets if w.name == rule.cold_wallet), None) or next(
            (w for w in wallets if w.asset == move.asset and w.tier == "cold"), None)
        if hot is None or cold is None:
            raise InvalidAccount(f"{move.asset}: a {move.kind} needs a registered hot and cold "
                                 "wallet", says=msg("error.custody.move_needs_wallets",
                                                    asset=move.asset[:40],
                                                    kind=msg(f"prop.kind.{move.kind}")))
        src, dst = (hot, cold) if move.kind == "sweep" else (cold, hot)
        return {"asset": move.asset, "amount": str(move.amount), "from_wallet": src.name,
                "to_wallet": dst.name,
                "from_address": src.addresses[0] if src.addresses else None,
                "to_address": dst.addresses[0] if dst.addresses else None}

    def propose(self, kind: str, payload: dict[str, object], proposer: str,
                detail: Message | str, proposal_id: str | None = None) -> ProposalView:
        """Put any action to the quorum of the active policy (withdrawals, breaker resets).
        A ``str`` detail is a person's words, kept as written."""
        if isinstance(detail, str):
            detail = verbatim(detail)
        policy = self._require_policy()
        proposal = self.put_proposal(kind, payload, proposer, detail, policy, proposal_id)
        return ProposalView(proposal, "pending", None, detail, [], policy.quorum,
                            lapses_at(proposal, policy))

    def put_proposal(self, kind: str, payload: dict[str, object], proposer: str,
                     detail: Message, policy: Policy, proposal_id: str | None = None
                     ) -> Proposal:
        """Record a new pending proposal under ``policy`` (the active one, read by the caller
        in the same unit of work)."""
        proposal = self._new_proposal(kind, payload, proposer, policy, self.clock.now(),
                                      proposal_id)
        with self.ledger.store.custody() as (_, tables):
            tables.put_proposal(proposal, detail)
        return proposal

    def preauthorise(self, proposal_id: str, why: str) -> ProposalView:
        """Approve a proposal without signatures because the active policy (itself
        quorum-approved) authorised it in advance; ``why`` names the policy clause."""
        with self.ledger.store.custody() as (_, tables):
            tables.set_state(proposal_id, "pending", "approved")
            tables.add_approval(proposal_id, Approval(f"policy: {why}", "", self.clock.now()))
        view = self.proposal(proposal_id)
        assert view is not None
        return view

    def mark_executed(self, proposal_id: str) -> None:
        with self.ledger.store.custody() as (_, tables):
            tables.set_state(proposal_id, "approved", "executed")

    def proposal(self, proposal_id: str) -> ProposalView | None:
        with self.ledger.store.custody(write=False) as (_, tables):
            row = tables.proposal(proposal_id)
            if row is None:
                return None
            approvals = tables.approvals(proposal_id)
            active = effective_policy(tables, self.ledger.assets, self.clock.now())
        quorum = active.quorum if active else 0
        proposal, state, tx_hash, detail = row
        return ProposalView(proposal, state, tx_hash, detail, approvals, quorum,
                            lapses_at(proposal, active))

    def proposals(self, state: str | None = None) -> list[ProposalView]:
        return self._views((None if state is None
                            else one_of(state, PROPOSAL_STATES, "proposal state"),))

    def _views(self, states: tuple[ProposalState | None, ...]) -> list[ProposalView]:
        """The proposals in any of ``states`` (None: every state), by id, with their
        approvals: one read transaction (not one per proposal; the withdrawals held for
        review are proposals too, and there may be thousands)."""
        with self.ledger.store.custody(write=False) as (_, tables):
            rows = sorted((row for state in states for row in tables.proposals(state)),
                          key=lambda row: row[0].id)
            found = tables.approvals_of([row[0].id for row in rows])
            approvals = [found[row[0].id] for row in rows]
            active = effective_policy(tables, self.ledger.assets, self.clock.now())
        quorum = active.quorum if active else 0
        return [ProposalView(proposal, state, tx_hash, detail, approved, quorum,
                             lapses_at(proposal, active))
                for (proposal, state, tx_hash, detail), approved in zip(rows, approvals,
                                                                        strict=True)]

    def approve(self, proposal_id: str, approver: str, signature: str) -> ProposalView:
        """Record one approver's signature on a custody proposal (sweep, refill, policy,
        refund); at quorum it is approved (a policy proposal is then activated). A
        withdrawal's or a breaker reset's is refused before anything is recorded: their
        approval goes through :meth:`Withdrawals.approve_proposal`, which moves them on."""
        shown = id_shown(proposal_id)  # a caller's id: quoted short, never whole
        with self.ledger.store.custody() as (_, tables):
            row = tables.proposal(proposal_id)
            if row is not None and row[0].kind in ROUTED_KINDS:
                raise ApprovalError(
                    f"proposal {shown} is a {row[0].kind} proposal: approve it through "
                    "the withdrawals service (`kinko proposals approve`, POST "
                    "/v1/proposals/{id}/approve), which moves it on at quorum",
                    proposal=shown, kind=row[0].kind,
                    says=msg("error.proposal.routed", id=shown,
                             kind=msg(f"prop.kind.{row[0].kind}")))
            return self.record_approval(proposal_id, approver, signature)

    def record_approval(self, proposal_id: str, approver: str, signature: str) -> ProposalView:
        """Check and record one approval of any proposal, in the caller's unit of work (see
        :meth:`approve`); at quorum the proposal is approved, a policy activated."""
        shown = id_shown(proposal_id)  # a caller's id: quoted short, never whole
        now = self.clock.now()
        with self.ledger.store.custody() as (_, tables):
            row = tables.proposal(proposal_id)
            if row is None:
                raise unknown_proposal(proposal_id)
            proposal, state, _tx, _detail = row
            if state != "pending":
                raise ApprovalError(f"proposal {shown} is {state}, not pending",
                                    says=msg("error.proposal.not_pending", id=shown,
                                             state=msg(f"prop.state.{state}")))
            policy = effective_policy(tables, self.ledger.assets, now)
            if policy is None:
                raise ConfigError("no custody policy is loaded",
                                  says=msg("error.policy.not_loaded"))
            if proposal.policy_version != policy.version:
                raise ApprovalError(
                    f"proposal {shown} was made under policy version "
                    f"{proposal.policy_version}; version {policy.version} is in force now: "
                    "propose again",
                    says=msg("error.proposal.old_policy", id=shown,
                             made=str(proposal.policy_version), version=str(policy.version)))
            earlier = tables.approvals(proposal_id)
            approval = Approval(approver, signature.strip().lower(), now)
            # its stored expiry, or sooner the lifetime the policy in force grants
            check_approval(proposal, policy, approval, earlier, now,
                           lapsed=lapses_at(proposal, policy))
            tables.add_approval(proposal_id, approval)
            reached = quorum_reached(policy, [*earlier, approval])
            if reached:
                if proposal.kind == "policy":
                    body = proposal.payload["body"]
                    new = policy_from_canonical(body, self.ledger.assets)
                    tables.put_policy(new.version, new.digest, new.canonical(), now, proposal.id,
                                      int(self.time_lock.total_seconds()))
                    tables.set_state(proposal_id, "pending", "executed")
                    self._announce_loosening(new.version, tables, now)
                else:
                    tables.set_state(proposal_id, "pending", "approved")
            self._on_incident(proposal, now, "approval", approver, msg(
                N_("timeline.approval.quorum") if reached else N_("timeline.approval"),
                approver=approver, proposal=proposal_id))
            view = self.proposal(proposal_id)
        assert view is not None
        return view

    def _announce_loosening(self, version: int, tables: CustodyTables, now: datetime) -> None:
        """A version whose quorum was just reached and that loosens anything waits: say so
        in the alerts (the dashboard, `kinko alerts`, the FSA report), so that every
        approver learns there is something they may veto, and until when."""
        found = next((s for s in standings(stored_versions(tables, self.ledger.assets), now,
                                           self.ledger.assets)
                      if s.facts.version == version), None)
        if found is None or found.state != "pending" or found.diff is None:
            return
        row = NewAlert(
            key=f"policy-loosening:{version}", kind="policy_loosening",
            severity="warning", state="open", chain_state=None, asset=None,
            wallet=None, tx_hash=None, amount=None, block=None,
            detail=msg("alert.policy_loosening", version=str(version),
                       changes=changes_message(found.diff.loosenings),
                       when=Time(found.effective_at) if found.effective_at
                       else msg("pol.never")),
            incident=None, raised=now)
        with self.ledger.store.watch() as watch:
            alert_id = watch.put_alert(row)
            # to the webhook like the watch's alerts: its outbox, delivered by the webhook
            # of whichever process runs one (the watch, with watch_webhook_url)
            watch.queue_notification(alert_id, alert_body({**row, "id": alert_id}), now)

    def _on_incident(self, proposal: Proposal, at: datetime, kind: str, actor: str,
                     detail: Message) -> None:
        """A proposal made for an incident (an emergency sweep) writes to its timeline."""
        incident = proposal.payload.get("emergency")
        if isinstance(incident, str) and incident:
            record(self.ledger.store, incident, at, kind, actor, detail)

    def execute(self, proposal_id: str) -> ProposalView:
        """Send an approved sweep from the hot wallet, or a sweep or refill from a multisig
        wallet with its owners' offline signatures (:meth:`add_owner_signature`) and those
        kinko can ask; a refill from a cold wallet of one key becomes a request for its
        offline signer (kinko holds no cold key).

        Crash-safe: the transaction is signed and recorded as ``sending`` (with its hash) in
        one unit of work that commits before it is broadcast; the broadcast runs outside any
        transaction, and ``sent`` is recorded after it. A crash in between leaves a
        ``sending`` proposal whose hash :meth:`settle` finds on chain."""
        shown = id_shown(proposal_id)  # a caller's id: quoted short, never whole
        outside_units(self.ledger.store, "sending a sweep")
        now = self.clock.now()
        view = self.proposal(proposal_id)
        if view is None:
            raise unknown_proposal(proposal_id)
        p = view.proposal
        if view.state != "approved":
            raise ApprovalError(f"proposal {shown} is {view.state}; only an approved "
                                f"proposal executes ({len(view.approvals)} of {view.quorum} "
                                "approvals)",
                                says=msg("error.proposal.not_approved", id=shown,
                                         state=msg(f"prop.state.{view.state}"),
                                         approvals=len(view.approvals), quorum=view.quorum))
        lapsed = view.lapses_at  # its stored expiry, or sooner as the policy in force says
        if now >= lapsed:
            raise ApprovalError(f"proposal {shown} expired at "
                                f"{format_timestamp(lapsed)}",
                                says=msg("error.proposal_expired", id=shown,
                                         at=Time(lapsed)))
        source = next((w for w in self.ledger.wallets()
                       if w.name == p.payload.get("from_wallet")), None)
        if p.kind == "refill" and (source is None or source.kind != "multisig"):
            with self.ledger.store.custody() as (_, tables):
                tables.set_state(proposal_id, "approved", "requested")
            return self.proposal(proposal_id)  # type: ignore[return-value]
        chain, wallet, to = self._sweep_parts(p)
        spender = self.spender(wallet)
        with self.ledger.store.custody(write=False) as (_, tables):
            offline = tuple((r["owner"], bytes.fromhex(r["signature"][2:]))
                            for r in tables.owner_signatures(proposal_id))
        # the node (and a multisig's owners) are asked before the unit opens
        prepared = spender.prepare(replace(self._payment(p, to), signatures=offline))
        with self.ledger.store.unit() as unit:  # signed and recorded together
            out = spender.sign(prepared)
            unit.custody.set_state(proposal_id, "approved", "sending", out.tx_hash)
            unit.watch.put_signed(signed_move(prepared, out, chain.name, now))
        try:
            tx_hash = chain.send_raw(out.raw)
        except ChainRejected:
            with self.ledger.store.custody() as (_, tables):
                tables.set_state(proposal_id, "sending", "approved")
            raise
        with self.ledger.store.custody() as (_, tables):
            tables.set_state(proposal_id, "sending", "sent", tx_hash)
        return self.proposal(proposal_id)  # type: ignore[return-value]

    def _payment(self, p: Proposal, to: str) -> Payment:
        paying = payment(self.ledger.assets[str(p.payload["asset"])], to,
                         int(str(p.payload["amount"])), "proposal", p.id)
        if p.payload.get("nonce") is None:
            return paying
        # an emergency sweep racing a thief: the wallet honours its nonce, fee and delegation
        revoke = p.payload.get("revoke")
        return replace(paying, race=RaceTerms(
            int(str(p.payload["nonce"])), int(str(p.payload["gas_price"])),
            clear_delegation=bool(p.payload.get("clear_delegation")),
            revoke=str(revoke) if revoke else None))

    def _approved_move(self, proposal_id: str) -> tuple[Proposal, Spender, Payment]:
        shown = id_shown(proposal_id)  # a caller's id: quoted short, never whole
        view = self.proposal(proposal_id)
        if view is None:
            raise unknown_proposal(proposal_id)
        if view.proposal.kind not in ("sweep", "refill") or view.state != "approved":
            raise ApprovalError(f"proposal {shown} is a {view.state} {view.proposal.kind}:"
                                " owners sign an approved sweep or refill",
                                says=msg("error.proposal.owners_sign_moves",
                                         id=shown,
                                         state=msg(f"prop.state.{view.state}"),
                                         kind=msg(f"prop.kind.{view.proposal.kind}")))
        _, wallet, to = self._sweep_parts(view.proposal)
        spender = self.spender(wallet)
        return view.proposal, spender, self._payment(view.proposal, to)

    def owners_transaction(self, proposal_id: str) -> dict[str, Any]:
        """What the owners of the paying multisig wallet sign for an approved sweep or
        refill (its transaction and ``digest``), for owners who sign offline."""
        shown = id_shown(proposal_id)  # a caller's id: quoted short, never whole
        _, spender, paying = self._approved_move(proposal_id)
        what = spender.authorisation(paying)
        if not what:
            raise ApprovalError(f"proposal {shown} is paid by a wallet of one key: no "
                                "owners sign it",
                                says=msg("error.proposal.single_key", id=shown))
        return what

    def owners_signing(self, proposal_id: str) -> tuple[dict[str, Any],
                                                        list[OwnerSignatureRow]] | None:
        """For an approved sweep or refill paid by a multisig wallet: what its owners sign
        (:meth:`owners_transaction`) and the signatures recorded so far (owner, digest,
        signature, signed_at); None for any other proposal."""
        view = self.proposal(proposal_id)
        if view is None or view.state != "approved" \
                or view.proposal.kind not in ("sweep", "refill"):
            return None
        source = next((w for w in self.ledger.wallets()
                       if w.name == view.proposal.payload.get("from_wallet")), None)
        if source is None or source.multisig is None:
            return None
        what = self.owners_transaction(proposal_id)
        with self.ledger.store.custody(write=False) as (_, tables):
            return what, tables.owner_signatures(proposal_id)

    def add_owner_signature(self, proposal_id: str, owner: str, signature: bytes, *,
                            actor: str | None = None) -> int:
        """Record an owner's offline signature for an approved sweep or refill from a
        multisig wallet, once checked (an owner's, over the transaction as it stands now),
        with its audit record (``actor``: who handed it in, the owner by default); returns
        how many owners' signatures the proposal has."""
        p, spender, paying = self._approved_move(proposal_id)  # the node is read here
        accepted = spender.accept(paying, owner, signature)
        digest = str(spender.authorisation(paying)["digest"])
        owner = canonical_address(owner, self.ledger.assets[str(p.payload["asset"])].chain)
        with self.ledger.store.unit() as unit:
            now = self.clock.now()
            unit.custody.put_owner_signature(proposal_id, owner, digest,
                                             "0x" + accepted.hex(), now)
            count = len(unit.custody.owner_signatures(proposal_id))
            append_audit(unit.access, now, actor or owner, "proposal.owner_signature",
                         proposal_id, {"owner": owner, "digest": digest})
            self._on_incident(p, self.clock.now(), "approval", owner, msg(
                "timeline.owner_signature", owner=owner, proposal=proposal_id, digest=digest))
        return count

    def spender(self, wallet: Wallet) -> Spender:
        """The wallet's :class:`~kinko.ports.Spender`, checked to send from its address."""
        if self.spender_for is None:
            raise ConfigError(f"no signer is configured for wallet {wallet.name}",
                              says=msg("error.custody.no_signer", wallet=wallet.name))
        spender = self.spender_for(wallet)
        chain = self.ledger.assets[wallet.asset].chain
        if not any(same_address(spender.address, a, chain) for a in wallet.addresses):
            raise ConfigError(f"the signer for {wallet.name} sends from {spender.address}, "
                              "which is not one of the wallet's addresses",
                              says=msg("error.custody.signer_address", wallet=wallet.name,
                                       address=str(spender.address)[:200]))
        return spender

    def _sweep_parts(self, p: Proposal) -> tuple[Chain, Wallet, str]:
        if self.chain is None:
            raise ConfigError("no chain node is configured (set KINKO_EVM_RPC_URL)",
                              says=msg("error.custody.no_node"))
        wallets = {w.name: w for w in self.ledger.wallets()}
        wallet = wallets.get(str(p.payload["from_wallet"]))
        to = p.payload.get("to_address")
        if wallet is None or not wallet.addresses or not to:
            raise InvalidAccount(f"proposal {p.id}: the hot and cold wallets need addresses",
                                 says=msg("error.proposal.no_addresses", id=p.id[:80]))
        if self.ledger.assets[str(p.payload["asset"])].chain != self.chain.name:
            raise ConfigError(f"proposal {p.id}: {p.payload['asset']} is not on "
                              f"{self.chain.name}",
                              says=msg("error.proposal.other_chain", id=p.id[:80],
                                       asset=str(p.payload["asset"])[:40],
                                       chain=self.chain.name[:40]))
        return self.chain, wallet, str(to)

    def settle(self, proposal_id: str, tx_hash: str | None = None) -> Entry | None:
        """Book a sent sweep, or a requested refill seen on chain as ``tx_hash``, once it has
        enough confirmations; None while it has not. The node is read first; what changes
        (the state, the ledger entry with its fee, the incident's timeline) is one unit."""
        shown = id_shown(proposal_id)  # a caller's id: quoted short, never whole
        view = self.proposal(proposal_id)
        if view is None:
            raise unknown_proposal(proposal_id)
        if view.state == "executed":
            return None
        chain = self.chain
        sent: str | None = view.tx_hash
        if view.state == "requested":
            if tx_hash is None:
                raise ApprovalError(f"refill {shown}: give the hash of the transaction the "
                                    "offline signers sent",
                                    says=msg("error.refill.hash_needed", id=shown))
            self._check_refill(view.proposal, tx_hash)
            sent = tx_hash
        elif view.state == "sending" and not (view.tx_hash and chain is not None
                                              and chain.receipt(view.tx_hash) is not None):
            raise ApprovalError(f"proposal {shown} is sending: nothing to settle",
                                says=msg("error.proposal.nothing_to_settle",
                                         id=shown, state=msg("prop.state.sending")))
        elif view.state not in ("sending", "sent"):
            raise ApprovalError(f"proposal {shown} is {view.state}: nothing to settle",
                                says=msg("error.proposal.nothing_to_settle",
                                         id=shown,
                                         state=msg(f"prop.state.{view.state}")))
        if sent is None or chain is None:
            raise ApprovalError(f"proposal {shown} is {view.state}: nothing to settle",
                                says=msg("error.proposal.nothing_to_settle",
                                         id=shown,
                                         state=msg(f"prop.state.{view.state}")))
        # "requested" and "sending" become "sent": the chain has it (kinko may have stopped
        # between broadcasting and recording it)
        was = view.state
        receipt = chain.receipt(sent)
        if receipt is None or chain.head() - receipt.block + 1 < self.confirmations:
            if was != "sent":
                with self.ledger.store.custody() as (_, tables):
                    tables.set_state(proposal_id, was, "sent", tx_hash)
            return None
        p = view.proposal
        if not receipt.ok:
            with self.ledger.store.custody() as (_, tables):
                if was != "sent":
                    tables.set_state(proposal_id, was, "sent", tx_hash)
                tables.set_state(proposal_id, "sent", "failed")
            raise ChainRejected(f"sweep {sent} failed on chain",
                                says=msg("error.sweep.failed_on_chain", tx=sent[:100]))
        asset, amount = str(p.payload["asset"]), int(str(p.payload["amount"]))
        with self.ledger.store.custody() as (_, tables):
            if was != "sent":
                tables.set_state(proposal_id, was, "sent", tx_hash)
            legs = merge_postings([
                Posting(f"wallet:{p.payload['to_wallet']}", asset, amount),
                Posting(f"wallet:{p.payload['from_wallet']}", asset, -amount),
                *fee_postings(self.ledger, str(p.payload["from_wallet"]), receipt.fee,
                              receipt.payer),
                *levy_postings(self.ledger, str(p.payload["from_wallet"]), receipt.levies,
                               receipt.payer)])
            entry = self.ledger.post(f"sweep:{proposal_id}", legs, source=f"tx:{sent}",
                                     memo=f"{p.kind} {proposal_id}").entry
            tables.set_state(proposal_id, "sent", "executed")
            known = self.ledger.assets[asset]
            self._on_incident(p, self.clock.now(), "sweep", "kinko", msg(
                "timeline.sweep.booked", proposal=proposal_id,
                amount=Units(amount, known.symbol, known.decimals),
                wallet=str(p.payload["to_wallet"])))
        return entry

    def _check_refill(self, p: Proposal, tx_hash: str) -> None:
        """The transaction must move exactly the approved amount from the cold wallet to the
        hot wallet."""
        if self.chain is None:
            raise ConfigError("no chain node is configured (set KINKO_EVM_RPC_URL)",
                              says=msg("error.custody.no_node"))
        receipt = self.chain.receipt(tx_hash)
        if receipt is None:
            raise ChainRejected(f"transaction {tx_hash} is not on chain (yet)",
                                says=msg("error.refill.not_on_chain", tx=tx_hash[:100]))
        asset = self.ledger.assets[str(p.payload["asset"])]
        on = asset.chain
        moved = [t for t in self.chain.block(receipt.block).transfers
                 if t.tx_hash.lower() == tx_hash.lower()
                 and same_token(t.token, asset.token, on)]
        wallets = {w.name: w for w in self.ledger.wallets()}
        cold, hot = wallets[str(p.payload["from_wallet"])], wallets[str(p.payload["to_wallet"])]
        if not moved or not any(same_address(moved[0].sender, a, on) for a in cold.addresses) \
                or not any(same_address(moved[0].to, a, on) for a in hot.addresses) \
                or moved[0].value != int(str(p.payload["amount"])):
            raise ApprovalError(f"transaction {tx_hash} is not the approved refill {p.id} "
                                f"({p.payload['amount']} minor units from {cold.name} to "
                                f"{hot.name})",
                                says=msg("error.refill.mismatch", tx=tx_hash[:100], id=p.id[:80],
                                         amount=Units(int(str(p.payload["amount"])),
                                                      asset.symbol, asset.decimals),
                                         cold=cold.name, hot=hot.name))

    # ------------------------------------------------------------------ checks

    def reconcile(self, block: int | None = None) -> list[CustodyFinding]:
        """Each wallet's ledger balance against its addresses on chain, at ``block`` (default
        the head; the ledger then as it stood at that block's time). Movements kinko sent but
        has not booked yet (sweeps, withdrawals awaiting confirmations) are allowed for once
        they are mined at or below that height, with their network fee."""
        findings: list[CustodyFinding] = []
        wallets = self.ledger.wallets()
        chain = self.chain
        height = None
        if chain is not None and any(self.ledger.assets[w.asset].chain == chain.name
                                     for w in wallets):
            height = block if block is not None else chain.head()
        adjust = self._in_flight(height) if height is not None else {}
        at = None
        if block is not None and chain is not None:
            at = datetime.fromtimestamp(chain.block(block).timestamp, UTC)
        balances = {(r.account, r.asset): normal_balance(r.account, r.state)
                    for r in self.ledger.balances(kind="wallet", as_of_time=at)}
        for wallet in wallets:
            chain_name = self.ledger.assets[wallet.asset].chain
            booked = balances.get((wallet.account, wallet.asset), 0)
            if chain is None or height is None or chain_name != chain.name:
                findings.append(CustodyFinding(
                    "not_reconciled", "info", wallet.asset,
                    msg("finding.not_reconciled", wallet=wallet.name, chain=chain_name),
                    wallet=wallet.name))
                continue
            if not wallet.addresses:
                findings.append(CustodyFinding("no_addresses", "warning", wallet.asset,
                                               msg("finding.no_addresses", wallet=wallet.name),
                                               wallet=wallet.name))
                continue
            on_chain = sum(chain.balances(list(wallet.addresses), height,
                                          token=self.ledger.assets[wallet.asset].token).values())
            gap = on_chain - (booked + adjust.get(wallet.name, 0))
            asset = self.ledger.assets[wallet.asset]
            if gap < 0:
                findings.append(CustodyFinding(
                    "wallet_short", "critical", wallet.asset,
                    msg("finding.wallet_short", wallet=wallet.name,
                        amount=Units(-gap, asset.symbol, asset.decimals)),
                    -gap, wallet.addresses, wallet.name))
            elif gap > 0:
                findings.append(CustodyFinding(
                    "wallet_unbooked", "warning", wallet.asset,
                    msg("finding.wallet_unbooked", wallet=wallet.name,
                        amount=Units(gap, asset.symbol, asset.decimals)),
                    gap, wallet.addresses, wallet.name))
        return findings

    def _in_flight(self, height: int) -> dict[str, int]:
        """Per wallet, what sent-but-unbooked transactions mined by ``height`` changed."""
        moves: list[tuple[str, str | None, int, str]] = []  # from, to (ours), amount, tx
        for state in ("sending", "sent"):
            for v in self.proposals(state):
                if v.tx_hash:
                    moves.append((str(v.proposal.payload["from_wallet"]),
                                  str(v.proposal.payload["to_wallet"]),
                                  int(str(v.proposal.payload["amount"])), v.tx_hash))
        with self.ledger.store.screening(write=False) as tables:
            for state in IN_FLIGHT_WITHDRAWAL_STATES:
                moves += [(w["wallet"], None, int(w["amount"]), w["tx_hash"])
                          for w in tables.withdrawals(state, limit=100_000) if w["tx_hash"]]
        adjust: dict[str, int] = {}
        assert self.chain is not None
        for source, target, amount, tx_hash in moves:
            receipt = self.chain.receipt(tx_hash)
            if receipt is None or receipt.block > height:
                continue  # not on chain at that height: balances there do not show it
            payer = fee_payer(self.ledger, source, receipt.payer)
            if payer is not None:
                adjust[payer[0]] = adjust.get(payer[0], 0) - receipt.fee
            if not receipt.ok:  # a failed transaction still paid its fee, and moved nothing
                continue
            adjust[source] = adjust.get(source, 0) - amount
            if target is not None:
                adjust[target] = adjust.get(target, 0) + amount
        return adjust

    def check(self, *, block: int | None = None, at: datetime | None = None,
              reconcile: bool = True) -> CheckResult:
        """Every check; ``at`` evaluates the ledger as it stood then, ``block`` reads the
        chain at that height for reconciliation."""
        policy = self.policy(at)
        positions = custody_positions(self.ledger, at=at)
        prices = None
        if self.prices is not None:  # yen per minor unit: positions are in minor units
            prices = {p.asset: price.scaleb(-self.ledger.assets[p.asset].decimals)
                      for p in positions if (price := self.prices.price(p.asset)) is not None}
        decimals = {a.symbol: a.decimals for a in self.ledger.assets.values()}
        findings = evaluate(positions, policy, prices, decimals)
        if policy is None:  # the law is checked all the same; the policy's own limits not
            findings.append(CustodyFinding("no_policy", "warning", None,
                                           msg("finding.no_policy")))
        if reconcile:
            findings += self.reconcile(block)
        if self.key_location is not None and at is None:
            wallets = self.ledger.wallets()
            assets = self.ledger.assets
            findings += signing_findings(wallets, {w.name: self.key_location(w)
                                                   for w in wallets},
                                         {sym for sym in assets if is_nem(assets[sym].chain)})
        if at is None:
            findings += self._pending_loosenings()
        else:
            findings += self._backdated(at)
        order = {"critical": 0, "warning": 1, "info": 2}
        findings.sort(key=lambda f: order[f.severity])
        pending = self._views(("pending", "approved", "sent", "requested"))
        return CheckResult(findings, positions, policy, pending)

    def _backdated(self, at: datetime) -> list[CustodyFinding]:
        """Positions as of ``at`` count every entry dated by then, including entries appended
        later with an earlier date: a finding naming them, so that a figure "as of" a past
        moment is not taken for what the books said at that moment."""
        with self.ledger.store.reader() as tx:
            count, first = tx.backdated(at, 1)
        if not count:
            return []
        seq, key, when = first[0]
        return [CustodyFinding("backdated_entries", "warning", None, msg(
            "finding.backdated_entries", count=str(count), at=Time(at), seq=str(seq),
            key=key[:80], time=Time(when)))]

    def _pending_loosenings(self) -> list[CustodyFinding]:
        """A policy version that loosens something and waits for its time lock: a finding
        (any approver may still veto it), with when it takes effect."""
        return [CustodyFinding("policy_loosening_pending", "warning", None, msg(
            "finding.policy_loosening_pending", version=str(s.facts.version),
            changes=changes_message(s.diff.loosenings),
            when=Time(s.effective_at) if s.effective_at else msg("pol.never")))
            for s in self.policy_standings()
            if s.state == "pending" and s.diff is not None and s.diff.loosenings]

    def signing(self) -> list[WalletSigning]:
        """How each wallet is signed, where its keys live, and the co-signer's refusals for
        it (from kinko's alerts: the co-signer inserts each one)."""
        wallets = self.ledger.wallets()
        where = None if self.key_location is None else \
            {w.name: self.key_location(w) for w in wallets}
        return wallet_signing(wallets, where, self.cosigner_refusals(wallets))

    def cosigner_refusals(self, wallets: list[Wallet]
                          ) -> dict[str, list[tuple[datetime, str, str]]]:
        """The co-signer's refusals (when, reason code, alert id) by the wallet whose Safe
        they name; refusals naming no registered wallet are left out."""
        chains = {w.name: self.ledger.assets[w.asset].chain for w in wallets}
        by_address = {chain_key(a, chains[w.name]): w.name
                      for w in wallets if w.multisig is not None for a in w.addresses}
        with self.ledger.store.watch(write=False) as tables:
            rows = tables.alerts(kind="cosign_refused", limit=None)
        out: dict[str, list[tuple[datetime, str, str]]] = {}
        for row in rows:
            detail = row["detail"]
            params = detail.params if isinstance(detail, Message) else {}
            safe = str(params.get("safe", ""))
            for chain in sorted(set(chains.values())):
                name = by_address.get(chain_key(safe, chain))
                if name is not None:
                    out.setdefault(name, []).append((row["raised"], str(params.get("code", "")),
                                                     str(row["id"])))
                    break
        return out

    def jpy(self, asset: str, units: int) -> int | None:
        """Yen value of ``units`` (floored to the yen), or None without a price."""
        if self.prices is None:
            return None
        price = self.prices.price(asset)
        if price is None:
            return None
        decimals = self.ledger.assets[asset].decimals
        p, q = price.as_integer_ratio()
        scale: int = 10**decimals
        return units * p // (q * scale)


def _text_or_none(payload: dict[str, Any], name: str) -> str | None:
    """A payload's text field, None when absent (a breaker reset names a scope, no asset)."""
    value = payload.get(name)
    return value if isinstance(value, str) else None


def custody_report(custody: Custody, *, reconcile: bool = True, at: datetime | None = None,
                   block: int | None = None) -> CustodyReport:
    """The custody report's data, from one check of positions, policy and chain, now or as
    of time ``at`` (and chain height ``block``)."""
    result = custody.check(reconcile=reconcile, at=at, block=block)
    policy = result.policy
    warm_hot = policy.warm_counts_as_hot if policy is not None else True
    rows = []
    total_online = total = owed = not_offline = 0
    priced_all = True
    for pos in result.positions:
        if pos.asset == "JPY":
            continue
        asset = custody.ledger.assets[pos.asset]
        online = pos.online(warm_hot)
        holdings = pos.total_holdings - pos.holdings.get("bank", 0)
        g = guarantee(pos, warm_hot)
        rule = policy.assets.get(pos.asset) if policy is not None else None
        limit = rule.max_hot_ratio if rule is not None else LEGAL_MAX_ONLINE
        price = custody.prices.price(pos.asset) if custody.prices is not None else None
        online_jpy = custody.jpy(pos.asset, online)
        cold_jpy = custody.jpy(pos.asset, holdings - online)
        owed_jpy = custody.jpy(pos.asset, pos.liabilities)
        outside_jpy = custody.jpy(pos.asset, pos.liabilities - customer_offline(pos, warm_hot))
        if online_jpy is None or cold_jpy is None or owed_jpy is None or outside_jpy is None:
            priced_all = False
        else:
            total_online += online_jpy
            total += online_jpy + cold_jpy
            owed += owed_jpy
            not_offline += outside_jpy
        rows.append(CustodyRow(
            asset=pos.asset, decimals=asset.decimals, customers=pos.customers,
            liabilities=pos.liabilities, hot=pos.holdings.get("hot", 0),
            warm=pos.holdings.get("warm", 0), cold=pos.holdings.get("cold", 0),
            own_funds=pos.own_funds,
            online_share=(Decimal(online) / Decimal(holdings)) if holdings else None,
            max_hot_ratio=limit, guarantee_required=g.required, guarantee_held=g.held,
            price_jpy=price, liabilities_jpy=custody.jpy(pos.asset, pos.liabilities),
            online_jpy=online_jpy, cold_jpy=cold_jpy,
            within_limit=within_share(online, holdings, limit) if holdings else None))
    pending = [PendingMove(v.proposal.id, v.proposal.kind, _text_or_none(v.proposal.payload,
                                                                         "asset"),
                           int(str(v.proposal.payload.get("amount", 0))), v.state,
                           len(v.approvals), v.quorum)
               for v in result.pending if v.proposal.kind != "policy"]
    return CustodyReport(
        generated_at=at or custody.clock.now(),
        policy_version=policy.version if policy is not None else None,
        rows=rows, findings=result.findings, pending=pending,
        total_online_jpy=total_online if priced_all and rows else None,
        total_jpy=total if priced_all and rows else None,
        total_max_hot_ratio=min(policy.total_max_hot_ratio, LEGAL_MAX_ONLINE)
        if policy is not None else LEGAL_MAX_ONLINE,
        total_owed_jpy=owed if priced_all and rows else None,
        total_not_offline_jpy=not_offline if priced_all and rows else None,
        wallets=custody.signing())
