"""Withdrawals: screened before anything is signed, held for people when in doubt.

Lifecycle::

    request ──screen──▶ allowed ─────────────────────▶ sent ──N confirmations──▶ confirmed
               │        review ──m-of-n approvals──▶ approved ─▶ sent ─▶ ...
               │          └──reject / expiry──▶ rejected / expired
               └──────▶ blocked

The customer's funds are reserved by a ledger hold from the request on (an overdraft is
refused before anything is recorded); block, rejection and expiry void it; confirmation
posts it, with the network fee booked to ``fees``. A withdrawal held for review becomes a
proposal of kind ``withdrawal``: its approvers sign it with their Ed25519 keys, and the
requester may not approve their own request. Every decision keeps its rule hits and the
policy version (``kinko withdrawals explain``).

The circuit breaker, per asset or global (``*``), sends every withdrawal of its scope to
review while tripped. It trips by hand, or when an ``outflow_rate`` rule matches; only a
quorum-approved proposal of kind ``breaker`` resets it. Every trip and reset is logged.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from kinko.domain.addresses import canonical_address, chain_key
from kinko.domain.custody import Wallet, same_key
from kinko.domain.labels import deny_index
from kinko.domain.ledger import Hold, parse_account
from kinko.domain.screening import (
    Context,
    Decision,
    Label,
    Request,
    Rule,
    RuleHit,
    needed_sums,
    parse_rules,
    screen,
)
from kinko.errors import (
    ApprovalError,
    BadInput,
    ChainRejected,
    ConfigError,
    IdempotencyConflict,
    InvalidAmount,
)
from kinko.ports import ScreeningTables
from kinko.services.custody import Custody, ProposalView, fee_postings, sign_move
from kinko.services.labels import Loaded, load_labels
from kinko.services.timeline import active_incidents, incidents_for, record

__all__ = ["STATES", "WithdrawalPage", "WithdrawalView", "Withdrawals"]

_OPEN = ("allowed", "review", "approved")
# every state a withdrawal can be in, in the order of its life
STATES = ("review", "allowed", "approved", "sending", "sent", "confirmed", "blocked",
          "rejected", "expired")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class WithdrawalView:
    id: str
    customer: str
    asset: str
    amount: int
    destination: str
    state: str
    decision: Decision
    tx_hash: str | None
    approvals: int = 0
    quorum: int = 0
    requested_at: datetime | None = None
    requester: str = ""
    wallet: str = ""


@dataclass(frozen=True)
class WithdrawalPage:
    """One page of a withdrawal list, newest first, and where the next (older) one starts."""

    rows: list[WithdrawalView]
    older: str | None  # cursor for :meth:`Withdrawals.page`'s ``before``; None on the last page
    counts: dict[str, int] = field(default_factory=dict)  # every withdrawal by state


def _cursor(row: WithdrawalView) -> str:
    assert row.requested_at is not None
    return f"{(row.requested_at - _EPOCH) // timedelta(microseconds=1)}.{row.id}"


def _parse_cursor(cursor: str) -> tuple[int, str]:
    at, dot, last = cursor.partition(".")
    if not dot or not at.isdigit() or len(at) > 20:
        raise BadInput(f"not a page cursor: {cursor[:40]!r}")
    return int(at), last


def _decision_json(d: Decision) -> str:
    return json.dumps({"outcome": d.outcome, "policy_version": d.policy_version,
                       "hits": [h.__dict__ for h in d.hits]}, ensure_ascii=False)


def _decision(text: str) -> Decision:
    data = json.loads(text)
    return Decision(data["outcome"], tuple(RuleHit(**h) for h in data["hits"]),
                    int(data["policy_version"]))


class Withdrawals:
    def __init__(self, custody: Custody) -> None:
        self.custody = custody
        self.ledger = custody.ledger
        self.clock = custody.clock
        self._rules: tuple[str, tuple[Rule, ...]] = ("", ())
        # the deny list, cached until the number of listed addresses changes
        self._deny: tuple[int, dict[str, Label]] = (-1, {})

    # ------------------------------------------------------------------ helpers

    def rules(self) -> tuple[int, tuple[Rule, ...]]:
        policy = self.custody.policy()
        if policy is None:
            raise ConfigError("no custody policy is loaded: run `kinko policy load FILE`")
        if self._rules[0] != policy.digest:
            self._rules = (policy.digest, parse_rules(policy.screening_rules, self.ledger.assets,
                                                      f"policy version {policy.version}"))
        return policy.version, self._rules[1]

    def _view(self, row: dict[str, Any], progress: tuple[int, int] | None = None, *,
              any_state: bool = False) -> WithdrawalView:
        """A row as a view; ``progress`` (approvals, quorum) when the caller has it already,
        else it is read from the review's proposal (``any_state``: also after the review,
        so one withdrawal's page says who approved it)."""
        approvals = quorum = 0
        if row["state"] == "review" or any_state:
            if progress is not None:
                approvals, quorum = progress
            else:
                proposal = self.custody.proposal(f"withdrawal-{row['id']}")
                if proposal is not None:
                    approvals, quorum = len(proposal.approvals), proposal.quorum
        return WithdrawalView(row["id"], row["customer"], row["asset"], row["amount"],
                              row["destination"], row["state"], _decision(row["decision"]),
                              row["tx_hash"], approvals, quorum, row.get("requested_at"),
                              str(row.get("requester") or ""), str(row.get("wallet") or ""))

    def get(self, withdrawal_id: str) -> WithdrawalView:
        with self.ledger.store.screening(write=False) as tables:
            row = tables.withdrawal(withdrawal_id)
        if row is None:
            raise BadInput(f"unknown withdrawal {withdrawal_id!r}")
        return self._view(row, any_state=True)

    def find(self, state: str | None = None, customer: str | None = None
             ) -> list[WithdrawalView]:
        with self.ledger.store.screening(write=False) as tables:
            rows = tables.withdrawals(state, customer)
        return [self._view(r) for r in rows]

    def page(self, *, state: str | None = None, customer: str | None = None,
             asset: str | None = None, before: str | None = None,
             limit: int = 50) -> WithdrawalPage:
        """A page of withdrawals, newest first, filtered by state, customer and asset;
        ``before`` is the ``older`` cursor of the previous page. The review rows' approval
        counts are read in one query (no query per row)."""
        if state is not None and state not in STATES:
            raise BadInput(f"state must be one of {', '.join(STATES)}, not {state!r}")
        if asset is not None:
            asset = self.ledger.assets[asset].symbol
        if not 1 <= limit <= 500:
            raise BadInput("a page holds 1-500 withdrawals")
        key = _parse_cursor(before) if before else None
        with self.ledger.store.screening(write=False) as tables:
            rows = tables.withdrawal_page(state=state, customer=customer, asset=asset,
                                          before=key, limit=limit + 1)
            reviews = [f"withdrawal-{r['id']}" for r in rows[:limit] if r["state"] == "review"]
            approvals = tables.approval_counts(reviews) if reviews else {}
            counts = tables.withdrawal_counts()
        quorum = 0
        if reviews:
            policy = self.custody.policy()
            quorum = policy.quorum if policy is not None else 0
        views = [self._view(r, (approvals.get(f"withdrawal-{r['id']}", 0), quorum))
                 for r in rows[:limit]]
        older = _cursor(views[-1]) if len(rows) > limit else None
        return WithdrawalPage(views, older, counts)

    def approve_proposal(self, proposal_id: str, approver: str,
                         signature: str) -> ProposalView:
        """Approve any proposal through the use case that owns it: a withdrawal's moves the
        withdrawal on at quorum, a breaker reset resets the breaker, the rest (sweeps,
        refills, refunds, policies) are custody's."""
        found = self.custody.proposal(proposal_id)
        if found is None:
            raise BadInput(f"unknown proposal {proposal_id!r}")
        kind = found.proposal.kind
        if kind == "withdrawal":
            self.approve(str(found.proposal.payload["withdrawal"]), approver, signature)
        elif kind == "breaker":
            self.approve_reset(proposal_id, approver, signature)
        else:
            self.custody.approve(proposal_id, approver, signature)
        view = self.custody.proposal(proposal_id)
        assert view is not None
        return view

    # ------------------------------------------------------------------ request

    def request(self, withdrawal_id: str, customer: str, asset: str, amount: int,
                destination: str, requester: str | None = None,
                tier: str = "standard") -> WithdrawalView:
        """Screen a withdrawal, reserve the funds, and record the decision."""
        known = self.ledger.assets[asset]
        if type(amount) is not int or amount <= 0:
            raise InvalidAmount(f"a withdrawal amount must be positive, not {amount}")
        parse_account(f"customer:{customer}")
        if not withdrawal_id or len(withdrawal_id) > 100:
            raise BadInput("a withdrawal id must be 1-100 characters")
        destination = canonical_address(destination, known.chain)
        with self.ledger.store.screening(write=False) as tables:
            earlier = tables.withdrawal(withdrawal_id)
        if earlier is not None:
            if (earlier["customer"], earlier["asset"], earlier["amount"],
                    chain_key(earlier["destination"], known.chain)) != (
                        customer, known.symbol, amount, destination):
                raise IdempotencyConflict(f"withdrawal id {withdrawal_id!r} was already used for "
                                          "a different request")
            return self._view(earlier)
        if not self.ledger.balances(account=f"customer:{customer}", asset=known.symbol):
            raise BadInput(f"unknown customer {customer!r}: no {known.symbol} balance in the "
                           "ledger", customer=customer)
        hots = [w for w in self.ledger.wallets() if w.asset == known.symbol and w.tier == "hot"]
        if not hots:
            raise ConfigError(f"no hot wallet for {known.symbol} is registered")
        # the first whose key has not leaked (a fresh one registered during an incident);
        # when every one has, the first, and screening refuses the request
        leaked = self._leaked(hots)
        hot = next((w for w in hots if leaked[w.name] is None), hots[0])
        version, rules = self.rules()
        now = self.clock.now()
        request = Request(withdrawal_id, customer, known.symbol, amount, destination, now, tier)
        decision = screen(request, rules,
                          self._context(request, rules, hot.account, leaked[hot.name]), version)
        policy = self.custody.policy()
        ttl = timedelta(hours=policy.proposal_ttl_hours if policy else 24)
        self.ledger.open_hold(
            f"withdrawal:{withdrawal_id}",
            Hold(f"withdrawal:{withdrawal_id}", f"customer:{customer}", hot.account,
                 known.symbol, amount, now + ttl),
            source=f"withdrawal:{withdrawal_id}", memo=f"to {destination}")
        state = {"allow": "allowed", "review": "review", "block": "blocked"}[decision.outcome]
        try:
            with self.ledger.store.screening() as tables:
                tables.put_withdrawal({
                    "id": withdrawal_id, "customer": customer, "asset": known.symbol,
                    "amount": amount, "destination": destination, "wallet": hot.name,
                    "requested_at": now, "requester": requester or f"customer:{customer}",
                    "state": state, "decision": _decision_json(decision), "tx_hash": None})
        except IdempotencyConflict:
            # a concurrent retry recorded it first; the hold above was a replay of its hold
            return self.request(withdrawal_id, customer, asset, amount, destination, requester,
                                tier)
        if state == "blocked":
            self._release(withdrawal_id, "blocked by screening")
        elif state == "review":
            self.custody.propose(
                "withdrawal", {"withdrawal": withdrawal_id, "customer": customer,
                               "asset": known.symbol, "amount": str(amount),
                               "destination": destination},
                requester or f"customer:{customer}", "; ".join(decision.explain()),
                proposal_id=f"withdrawal-{withdrawal_id}")
        for hit in decision.hits:
            if hit.kind == "outflow_rate":
                self.trip(known.symbol, "kinko:screening", hit.detail)
        return self.get(withdrawal_id)

    def _context(self, request: Request, rules: tuple[Rule, ...], hot_account: str,
                 leaked_in: str | None = None) -> Context:
        with self.ledger.store.screening(write=False) as tables:
            sums = {(scope, duration): tables.window_sum(
                        scope, request.customer, request.destination, request.asset,
                        request.at - duration, request.at)
                    for scope, duration in needed_sums(rules)}
            amounts = tables.customer_amounts(request.customer, request.asset)
            known = tables.customer_destinations(request.customer)
            allowed = tables.allowed(request.customer)
            deny = self._deny_map(tables)
            tripped = frozenset(tables.tripped())
        hot = self.ledger.balance(hot_account, request.asset)
        return Context(sums=sums, customer_amounts=amounts, known_destinations=known,
                       allow_list=allowed, deny=deny, hot_balance=hot, tripped=tripped,
                       compromised=leaked_in)

    def _leaked(self, hots: list[Wallet]) -> dict[str, str | None]:
        """Per wallet, the open (or contained) incident in which its key leaked: an
        incident's wallet, and every online wallet sharing one of its addresses."""
        out: dict[str, str | None] = {w.name: None for w in hots}
        active = [i for i in active_incidents(self.ledger.store) if i.get("wallet")]
        if active:
            wallets = self.ledger.wallets()
            for incident in active:
                for w in same_key(wallets, incident["wallet"]):
                    if w.name in out and out[w.name] is None:
                        out[w.name] = str(incident["id"])
        return out

    def _deny_map(self, tables: ScreeningTables) -> dict[str, Label]:
        count = tables.deny_count()
        if count != self._deny[0]:
            self._deny = (count, deny_index(tables.deny_map()))
        return self._deny[1]

    def deny_list(self) -> dict[str, Label]:
        """Every listed address (canonical form, and its equivalents) with its label."""
        with self.ledger.store.screening(write=False) as tables:
            return self._deny_map(tables)

    def _release(self, withdrawal_id: str, why: str) -> None:
        hold = self.ledger.hold(f"withdrawal:{withdrawal_id}")
        if hold is not None and hold[1] == "pending":
            self.ledger.void_hold(f"void:withdrawal:{withdrawal_id}",
                                  f"withdrawal:{withdrawal_id}", source=why)

    # ------------------------------------------------------------------ review

    def approve(self, withdrawal_id: str, approver: str, signature: str) -> WithdrawalView:
        view = self.get(withdrawal_id)
        if view.state != "review":
            raise ApprovalError(f"withdrawal {withdrawal_id} is {view.state}: only a withdrawal "
                                "held for review is approved")
        proposal = self.custody.approve(f"withdrawal-{withdrawal_id}", approver, signature)
        if proposal.state == "approved":
            with self.ledger.store.screening() as tables:
                tables.set_state(withdrawal_id, ("review",), "approved")
            self.custody.mark_executed(proposal.proposal.id)
        return self.get(withdrawal_id)

    def reject_open(self, wallet: str, by: str, reason: str) -> list[WithdrawalView]:
        """Reject every withdrawal from ``wallet`` not yet being sent (held for review,
        allowed or approved), releasing what they reserve to their customers."""
        with self.ledger.store.screening(write=False) as tables:
            ids = [r["id"] for r in tables.open_withdrawals(wallet, _OPEN)]
        done = []
        for withdrawal_id in ids:
            try:
                done.append(self.reject(withdrawal_id, by, reason))
            except ApprovalError:  # it moved on meanwhile (sent): not ours to stop now
                continue
        return done

    def reject(self, withdrawal_id: str, by: str, reason: str) -> WithdrawalView:
        with self.ledger.store.screening() as tables:
            if not tables.set_state(withdrawal_id, _OPEN, "rejected"):
                raise ApprovalError(f"withdrawal {withdrawal_id} cannot be rejected now")
        self._release(withdrawal_id, f"rejected by {by}: {reason}")
        return self.get(withdrawal_id)

    # ------------------------------------------------------------------ sending

    def send(self, withdrawal_id: str) -> WithdrawalView:
        """Sign and broadcast an allowed or approved withdrawal from the hot wallet."""
        view = self.get(withdrawal_id)
        if view.state not in ("allowed", "approved"):
            raise ApprovalError(f"withdrawal {withdrawal_id} is {view.state}; only an allowed or "
                                "approved withdrawal is sent")
        hold = self.ledger.hold(f"withdrawal:{withdrawal_id}")
        if hold is None or hold[1] != "pending":
            with self.ledger.store.screening() as tables:
                tables.set_state(withdrawal_id, _OPEN, "expired")
            raise ApprovalError(f"withdrawal {withdrawal_id} expired before it was sent; the "
                                "funds are released")
        chain, signer = self.custody.chain, self.custody.signer_for
        if chain is None or signer is None:
            raise ConfigError("sending needs a chain node and the hot wallet's keystore")
        with self.ledger.store.screening(write=False) as tables:
            row = tables.withdrawal(withdrawal_id)
        assert row is not None
        wallet = next(w for w in self.ledger.wallets() if w.name == row["wallet"])
        raw = sign_move(signer(wallet), chain, self.ledger.assets[view.asset], view.destination,
                        view.amount)
        with self.ledger.store.screening() as tables:  # the hash is known before broadcasting
            if not tables.set_state(withdrawal_id, ("allowed", "approved"), "sending",
                                    chain.tx_hash(raw)):
                raise ApprovalError(f"withdrawal {withdrawal_id} is being sent already")
        try:
            tx_hash = chain.send_raw(raw)
        except ChainRejected:
            with self.ledger.store.screening() as tables:
                tables.set_state(withdrawal_id, ("sending",), view.state)
            raise
        with self.ledger.store.screening() as tables:
            tables.set_state(withdrawal_id, ("sending",), "sent", tx_hash)
        return self.get(withdrawal_id)

    def confirm(self, withdrawal_id: str) -> WithdrawalView | None:
        """Post the hold once the transaction has enough confirmations; None until then."""
        view = self.get(withdrawal_id)
        chain = self.custody.chain
        if view.state == "sending" and view.tx_hash and chain is not None \
                and chain.receipt(view.tx_hash) is not None:
            # kinko stopped between broadcasting and recording it: the chain has it
            with self.ledger.store.screening() as tables:
                tables.set_state(withdrawal_id, ("sending",), "sent")
            view = self.get(withdrawal_id)
        if view.state != "sent" or view.tx_hash is None or chain is None:
            raise ApprovalError(f"withdrawal {withdrawal_id} is {view.state}: nothing to confirm")
        receipt = chain.receipt(view.tx_hash)
        if receipt is None or chain.head() - receipt.block + 1 < self.custody.confirmations:
            return None
        hold_id = f"withdrawal:{withdrawal_id}"
        self.ledger.post_hold(f"sent:{hold_id}", hold_id, source=f"tx:{view.tx_hash}",
                              memo=f"withdrawal to {view.destination}")
        with self.ledger.store.screening(write=False) as tables:
            row = tables.withdrawal(withdrawal_id)
        assert row is not None
        fee = fee_postings(self.ledger, row["wallet"], receipt.fee)
        if fee:
            self.ledger.post(f"fee:{hold_id}", fee,
                             source=f"tx:{view.tx_hash}", memo="network fee")
        with self.ledger.store.screening() as tables:
            tables.set_state(withdrawal_id, ("sent",), "confirmed")
        return self.get(withdrawal_id)

    def expire(self) -> list[str]:
        """Mark open withdrawals whose hold has expired (the ledger already released the
        funds); returns their ids."""
        self.ledger.expire_holds()
        expired = []
        for view in self.find():
            if view.state not in _OPEN:
                continue
            hold = self.ledger.hold(f"withdrawal:{view.id}")
            if hold is not None and hold[1] == "expired":
                with self.ledger.store.screening() as tables:
                    if tables.set_state(view.id, _OPEN, "expired"):
                        expired.append(view.id)
        return expired

    # ------------------------------------------------------------------ lists

    def allow(self, customer: str, address: str, asset: str) -> str:
        canonical = canonical_address(address, self.ledger.assets[asset].chain)
        with self.ledger.store.screening() as tables:
            tables.allow(customer, canonical, self.clock.now())
        return canonical

    def load_deny_list(self, path: Path, *, invalid: str = "refuse") -> Loaded:
        """Load a TagPack (.yaml/.yml) or CSV deny list; ``invalid``: what becomes of an
        address no format accepts (refuse the list, or keep it as written)."""
        return load_labels(self.ledger.store, path, "deny", invalid=invalid)

    # ------------------------------------------------------------------ breaker

    def trip(self, scope: str, by: str, reason: str, *, on_timelines: bool = True) -> bool:
        """Trip a breaker (True when it was not tripped yet); by hand it also goes on the
        timeline of every open incident of its scope (the watch records its own)."""
        scope = "*" if scope == "*" else self.ledger.assets[scope].symbol
        with self.ledger.store.screening() as tables:
            if scope in tables.tripped():
                return False
            tables.breaker_event(scope, "trip", self.clock.now(), by, reason)
        if on_timelines:
            for incident in incidents_for(self.ledger.store, scope):
                record(self.ledger.store, incident, self.clock.now(), "breaker", by,
                       f"breaker {scope} tripped by hand: {reason}")
        return True

    def breaker(self) -> dict[str, dict[str, Any]]:
        with self.ledger.store.screening(write=False) as tables:
            return tables.tripped()

    def breaker_log(self) -> list[dict[str, Any]]:
        with self.ledger.store.screening(write=False) as tables:
            return tables.breaker_events()

    def propose_reset(self, scope: str, by: str) -> ProposalView:
        if scope not in self.breaker():
            raise BadInput(f"the {scope} breaker is not tripped")
        return self.custody.propose("breaker", {"scope": scope}, by, f"reset the {scope} breaker")

    def approve_reset(self, proposal_id: str, approver: str, signature: str) -> bool:
        """Record an approval; at quorum the breaker is reset (True)."""
        view = self.custody.approve(proposal_id, approver, signature)
        if view.proposal.kind != "breaker":
            raise ApprovalError(f"{proposal_id} is not a breaker reset")
        if view.state != "approved":
            return False
        scope = str(view.proposal.payload["scope"])
        by = ",".join(a.approver for a in view.approvals)
        with self.ledger.store.screening() as tables:
            tables.breaker_event(scope, "reset", self.clock.now(), by,
                                 f"quorum-approved {proposal_id}")
        for incident in incidents_for(self.ledger.store, scope):
            record(self.ledger.store, incident, self.clock.now(), "breaker", by,
                   f"breaker {scope} reset by the quorum ({proposal_id})")
        self.custody.mark_executed(proposal_id)
        return True
