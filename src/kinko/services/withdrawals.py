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
requester may not approve their own request. Closing a withdrawal closes its proposal in the
same transaction (rejected or expired), so nobody is asked to sign for nothing. Every
decision keeps its rule hits and the policy version (``kinko withdrawals explain``).

Each use case is **one unit of work** (:meth:`kinko.ports.Store.unit`): the request (the
idempotency check, the screening reads, the hold, the withdrawal row, the proposal, a
breaker trip, the audit record), an approval, a rejection, the expiry, and each step of
sending. A crash leaves all of it or none of it, and a retry with the same id (the API's
``Idempotency-Key``) always gets the first answer: the unit is serialised with every other
writer and looks the id up after taking the lock, so concurrent retries wait for the first
and return what it recorded. A retry writes nothing, not even an audit record.

A request reads what it can before the writers' lock, so that the lock is held for little
more than the writes: the customer's allow list and earlier withdrawals, as the process
kept them from the customer's last request, or else read in a read unit first. Under the
lock one statement reads again everything a racing writer may change
(the id, the customer, their tier, the paying wallet's balance, marks of the allow list and
of the history, whether the customer withdrew to the destination before:
:meth:`~kinko.ports.ScreeningTables.request_marks`), the window sums are
read, the cached tables are checked by their stamps, and what changed since is read again;
the time is taken there too. So the decision is the one a request read wholly under the
lock would get: no overdraft, no limit passed by racing requests. Sending
signs and records ``sending`` with the transaction's hash in one unit, broadcasts outside
any transaction, then records ``sent``: a crash in between leaves a ``sending`` withdrawal
whose hash the chain can be asked about (:meth:`Withdrawals.confirm`).

A withdrawal id is 1-100 ASCII letters, digits and ``. _ : -``, starting with a letter or
a digit (so every id is one URL path segment); the zero address and the exchange's own
wallets are refused as destinations. The tier screening rules see is the customer's, as
recorded in kinko (:mod:`kinko.services.customers`); a request cannot name it.

The circuit breaker, per asset or global (``*``), sends every withdrawal of its scope to
review while tripped. It trips by hand, or when an ``outflow_rate`` rule matches; only a
quorum-approved proposal of kind ``breaker`` resets it. Every trip and reset is logged.
Approvals of every kind go through :meth:`Withdrawals.approve_proposal`
(:mod:`kinko.services.approvals`), which checks the proposal's kind before recording
anything and audits every approval and every refusal.
"""

from __future__ import annotations

import json
import re
from contextlib import suppress
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, Literal

from kinko.domain.addresses import canonical_address, chain_key, same_address
from kinko.domain.approvals import Proposal, lapses_at
from kinko.domain.custody import Wallet, same_key
from kinko.domain.labels import deny_index
from kinko.domain.ledger import Hold, normal_balance, parse_account
from kinko.domain.messages import Message, decode, id_shown, msg, stored, verbatim
from kinko.domain.money import Asset
from kinko.domain.policy import DEFAULT_TIER, Policy
from kinko.domain.screening import (
    AMOUNTS_SCREENED,
    Context,
    Decision,
    Label,
    Request,
    Rule,
    needed_sums,
    parse_rules,
    screen,
)
from kinko.domain.states import (
    COUNTED_WITHDRAWAL_STATES,
    IN_FLIGHT_WITHDRAWAL_STATES,
    OPEN_WITHDRAWAL_STATES,
    SENDABLE_WITHDRAWAL_STATES,
    WITHDRAWAL_STATES,
    WithdrawalState,
    one_of,
)
from kinko.errors import (
    ApprovalError,
    BadInput,
    ChainRejected,
    ConfigError,
    IdempotencyConflict,
    InvalidAmount,
    InvalidId,
    KinkoError,
    NotFound,
    RefusedDestination,
)
from kinko.i18n import ENGLISH
from kinko.ports import BreakerEventRow, Fee, ReadAhead, RequestMarks, Unit, WithdrawalRow
from kinko.safeload import whole_number
from kinko.services.access import Access
from kinko.services.approvals import Approvals
from kinko.services.custody import (
    Custody,
    ProposalView,
    effective_policy,
    fee_postings,
    levy_postings,
    outside_units,
    payment,
    signed_move,
)
from kinko.services.labels import Loaded, load_labels
from kinko.services.timeline import active_incidents, incidents_for, record, scope_word

__all__ = ["WithdrawalPage", "WithdrawalView", "Withdrawals", "check_withdrawal_id", "closing",
           "reason_detail"]

# the state a screening decision's outcome puts a new withdrawal in
_STATE_OF: dict[str, WithdrawalState] = {"allow": "allowed", "review": "review",
                                         "block": "blocked"}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,99}")
_ZERO = re.compile(r"0x0{40}", re.IGNORECASE)
_KEPT_LISTS = 10_000  # customers (of an asset) whose screening lists a process keeps


def check_withdrawal_id(withdrawal_id: str) -> str:
    """A withdrawal id (the API's Idempotency-Key) as kinko accepts it: 1-100 ASCII letters,
    digits and ``. _ : -``, starting with a letter or digit, so that the withdrawal's own
    URL (``/v1/withdrawals/{id}``) reaches it; anything else is refused, nothing written."""
    if not isinstance(withdrawal_id, str) or _ID.fullmatch(withdrawal_id) is None:
        text = withdrawal_id if isinstance(withdrawal_id, str) else "?"
        shown = ascii(text[:40]) + ("..." if len(text) > 40 else "")
        raise InvalidId(
            f"withdrawal id (Idempotency-Key) {shown} is not accepted: use 1-100 characters "
            "of A-Z, a-z, 0-9 and . _ : -, starting with a letter or a digit",
            field="Idempotency-Key", says=msg("error.withdrawal.bad_id", id=shown))
    return withdrawal_id


@dataclass(frozen=True)
class WithdrawalView:
    id: str
    customer: str
    asset: str
    amount: int
    destination: str
    state: WithdrawalState
    decision: Decision
    tx_hash: str | None
    approvals: int = 0
    quorum: int = 0
    requested_at: datetime | None = None
    requester: str = ""
    wallet: str = ""
    closed_by: str = ""  # who rejected it (or found it displaced), read with :meth:`get`
    closed_why: Message | None = None  # why it was rejected or failed, in any language
    proposal: Proposal | None = None  # the review's proposal, when this answer made it


@dataclass(frozen=True)
class WithdrawalPage:
    """One page of a withdrawal list, newest first, and where the next (older) one starts."""

    rows: list[WithdrawalView]
    older: str | None  # cursor for :meth:`Withdrawals.page`'s ``before``; None on the last page
    counts: dict[str, int] = field(default_factory=dict)  # every withdrawal by state


# what earlier versions wrote into the ledger when they closed a withdrawal (English, kept as
# written in the hash chain): read back into the messages they were made from
_OLD_LEAKED = re.compile(r"the key of (?P<wallet>\S+) leaked \((?P<incident>[^)]*)\); the funds "
                         r"stay yours and are moved to cold storage: request again when "
                         r"withdrawals resume")
_OLD_REVERTED = "the transaction reverted; funds released"


def closing(source: str, memo: str) -> tuple[str, Message]:
    """Who closed a withdrawal and why, from the ledger entry that voided its hold: the
    memo keeps the reason as a message (:func:`~kinko.domain.messages.stored`); entries
    of earlier versions (the reason after ``rejected by NAME:`` in the source, in English)
    are read back into their message where kinko wrote it, else kept as written."""
    by, why = "", memo
    for verb in ("rejected by ", "displaced by "):
        if source.startswith(verb):
            by, _, said = source[len(verb):].partition(": ")
            why = memo or said
    if not why and not by:
        why = source
    old = _OLD_LEAKED.fullmatch(why)
    if old:
        return by, msg("wd.reason.key_leaked", wallet=old["wallet"], incident=old["incident"])
    if why == _OLD_REVERTED:
        return by, msg("wd.reason.reverted")
    return by, decode(why)


def _closed(u: Unit, views: list[WithdrawalView]) -> list[WithdrawalView]:
    """The views with who closed each rejected, failed or expired one and why, from the
    ledger entries that voided their holds (read in one statement)."""
    keys = {v.id: f"void:withdrawal:{v.id}" for v in views
            if v.state in ("rejected", "failed", "expired")}
    if not keys:
        return views
    entries = u.ledger.entries_by_key(list(keys.values()))
    shown = []
    for v in views:
        entry = entries.get(keys.get(v.id, ""))
        if entry is not None:
            by, why = closing(entry.source, entry.memo)
            v = replace(v, closed_by=by, closed_why=why)
        shown.append(v)
    return shown


def reason_detail(why: Message) -> dict[str, Any]:
    """A reason in an audit record's detail: its English words, and kinko's own as the
    catalog message too (``reason_message``: id and parameters) for a reader in another
    language."""
    if why.is_text:
        return {"reason": str(why.params.get("text", ""))}
    return {"reason": ENGLISH.text(why), "reason_message": why.to_data()}


@dataclass(frozen=True)
class _Inputs:
    """What screening reads of a customer that any writer may change (see
    :meth:`Withdrawals._inputs`)."""

    marks: RequestMarks
    allow_list: dict[str, datetime]
    amounts: tuple[int, ...]
    newest: int | None = None  # when the newest of ``amounts`` was requested (µs); None: none

    def after(self, amount: int, at: datetime, counted: bool) -> _Inputs | None:
        """The inputs once a withdrawal of ``amount``, requested ``at``, is added (counted
        by screening or not), when they can be told without reading them: None when its
        time is older than the newest amount's (another process's clock) and the amounts
        are as many as screening reads (which are the latest is then a question for the
        database)."""
        marks = self.marks
        history = (marks.history[0] + 1, marks.history[1] + int(counted))
        marks = marks._replace(history=history)
        if not counted:
            return replace(self, marks=marks)
        at_us = (at - _EPOCH) // timedelta(microseconds=1)  # as the store keeps it
        if self.newest is not None and at_us < self.newest:
            if len(self.amounts) >= AMOUNTS_SCREENED:
                return None
            return _Inputs(marks, self.allow_list, (*self.amounts, amount), self.newest)
        return _Inputs(marks, self.allow_list, (amount, *self.amounts)[:AMOUNTS_SCREENED],
                       at_us)


def _handed_key(customer: str, asset: str) -> tuple[str, ...]:
    """Where a request leaves the customer's lists for their next request in the same
    transaction (:attr:`kinko.ports.Unit.handed_on`)."""
    return ("withdrawal lists", customer, asset)


def _cursor(row: WithdrawalView) -> str:
    assert row.requested_at is not None
    return f"{(row.requested_at - _EPOCH) // timedelta(microseconds=1)}.{row.id}"


def _parse_cursor(cursor: str) -> tuple[int, str]:
    at, dot, last = cursor.partition(".")
    # microseconds since 1970: 18 digits reach the year 9999, and stay inside an int64
    when = whole_number(at, digits=18) if dot and at == at.strip() else None
    if when is None:
        raise BadInput(f"not a page cursor: {cursor[:40]!r}",
                       says=msg("error.withdrawal.bad_cursor", cursor=cursor[:40]))
    return when, last


def _decision_json(d: Decision) -> str:
    return json.dumps(d.to_data(), ensure_ascii=False)


def _decision(text: str) -> Decision:
    """A stored decision; a hit's reason and detail are messages (kept as written when an
    earlier version stored text)."""
    return Decision.from_data(json.loads(text))


class Withdrawals:
    def __init__(self, custody: Custody) -> None:
        self.custody = custody
        self.ledger = custody.ledger
        self.store = custody.ledger.store
        self.clock = custody.clock
        # the rules of the policy in force, parsed, and the window sums they read: per
        # policy digest, made once rather than on every request
        self._rules: tuple[str, tuple[Rule, ...], frozenset[tuple[str, timedelta]]] = \
            ("", (), frozenset())
        # per (customer, asset): the lists screening reads (allow list, latest amounts) with
        # the marks they were read at and the database's stamp; used before the writers'
        # lock only while the marks read then have not moved
        self._lists: dict[tuple[str, str], tuple[int, _Inputs]] = {}

    # ------------------------------------------------------------------ helpers

    def rules(self) -> tuple[int, tuple[Rule, ...]]:
        policy = self._policy()
        return policy.version, self._parsed(policy)

    def _policy(self) -> Policy:
        return _required(self.custody.policy())

    def _parsed(self, policy: Policy) -> tuple[Rule, ...]:
        return self._compiled(policy)[1]

    def _compiled(self, policy: Policy
                  ) -> tuple[str, tuple[Rule, ...], frozenset[tuple[str, timedelta]]]:
        """The policy's rules parsed and the window sums they read (:func:`needed_sums`)."""
        compiled = self._rules
        if compiled[0] != policy.digest:
            rules = parse_rules(policy.screening_rules, self.ledger.assets,
                                f"policy version {policy.version}")
            compiled = self._rules = (policy.digest, rules, frozenset(needed_sums(rules)))
        return compiled

    def audit(self, actor: str, action: str, target: str, detail: dict[str, Any]) -> None:
        """An audit record, in the caller's unit of work (long texts are clipped there)."""
        Access(self.store, self.clock).audit(actor, action, target, detail)

    def _view(self, row: WithdrawalRow, progress: tuple[int, int] | None = None, *,
              any_state: bool = False, decision: Decision | None = None,
              review: Proposal | None = None) -> WithdrawalView:
        """A row as a view; ``progress`` (approvals, quorum) when the caller has it already,
        else it is read from the review's proposal (``any_state``: also after the review,
        so one withdrawal's page says who approved it); ``decision``, the one the row
        stores, when the caller made it (not read back from its JSON); ``review``, the proposal
        this answer made."""
        approvals = quorum = 0
        if row["state"] == "review" or any_state:
            if progress is not None:
                approvals, quorum = progress
            else:
                proposal = self.custody.proposal(f"withdrawal-{row['id']}")
                if proposal is not None:
                    approvals, quorum = len(proposal.approvals), proposal.quorum
        return WithdrawalView(row["id"], row["customer"], row["asset"], row["amount"],
                              row["destination"], row["state"],
                              _decision(row["decision"]) if decision is None else decision,
                              row["tx_hash"], approvals, quorum, row["requested_at"],
                              row["requester"], row["wallet"], proposal=review)

    def get(self, withdrawal_id: str) -> WithdrawalView:
        """One withdrawal; a rejected or failed one, or one expired when its review lapsed,
        says who closed it and why (the ledger entry that released its funds)."""
        with self.store.unit(write=False) as u:
            row = u.screening.withdrawal(withdrawal_id)
            if row is None:
                shown = id_shown(withdrawal_id)
                raise NotFound(f"unknown withdrawal {shown!r}",
                               says=msg("error.unknown_withdrawal", id=shown))
            return _closed(u, [self._view(row, any_state=True)])[0]

    def find(self, state: str | None = None, customer: str | None = None
             ) -> list[WithdrawalView]:
        with self.store.unit(write=False) as u:
            chosen = None if state is None else one_of(state, WITHDRAWAL_STATES,
                                                       "withdrawal state")
            return [self._view(r) for r in u.screening.withdrawals(chosen, customer)]

    def page(self, *, state: str | None = None, customer: str | None = None,
             asset: str | None = None, before: str | None = None,
             limit: int = 50) -> WithdrawalPage:
        """A page of withdrawals, newest first, filtered by state, customer and asset;
        ``before`` is the ``older`` cursor of the previous page. The review rows' approval
        counts are read in one query (no query per row)."""
        chosen = None if state is None else one_of(state, WITHDRAWAL_STATES, "state")
        if asset is not None:
            asset = self.ledger.assets[asset].symbol
        if not 1 <= limit <= 500:
            raise BadInput("a page holds 1-500 withdrawals",
                           says=msg("error.withdrawal.page_limit"))
        key = _parse_cursor(before) if before else None
        with self.store.unit(write=False) as u:
            tables = u.screening
            rows = tables.withdrawal_page(state=chosen, customer=customer, asset=asset,
                                          before=key, limit=limit + 1)
            reviews = [f"withdrawal-{r['id']}" for r in rows[:limit] if r["state"] == "review"]
            approvals = tables.approval_counts(reviews) if reviews else {}
            counts = tables.withdrawal_counts()
            quorum = 0
            if reviews:
                policy = self.custody.policy()
                quorum = policy.quorum if policy is not None else 0
            views = _closed(u, [self._view(r, (approvals.get(f"withdrawal-{r['id']}", 0),
                                                  quorum)) for r in rows[:limit]])
        older = _cursor(views[-1]) if len(rows) > limit else None
        return WithdrawalPage(views, older, counts)

    # ------------------------------------------------------------------ request

    def request(self, withdrawal_id: str, customer: str, asset: str, amount: int,
                destination: str, requester: str | None = None, *,
                actor: str | None = None) -> WithdrawalView:
        """Screen a withdrawal, reserve the funds, and record the decision: one unit of
        work (see the module docstring). ``actor`` (the API key's holder, or who ran the
        command) is written to the audit log; a retry of an earlier request returns its
        first answer and writes nothing."""
        known = self.ledger.assets[asset]
        if known.chain == "fiat":  # paid by bank transfer, outside kinko
            raise BadInput(f"{known.symbol} is a fiat currency: it is not withdrawn on a "
                           "chain, so kinko screens no withdrawal of it",
                           asset=known.symbol,
                           says=msg("error.withdrawal.fiat", asset=known.symbol))
        if type(amount) is not int or amount <= 0:
            raise InvalidAmount(f"a withdrawal amount must be positive, not {amount}",
                                says=msg("error.withdrawal.amount_not_positive",
                                         amount=amount if type(amount) is int
                                         else str(amount)[:40]))
        parse_account(f"customer:{customer}")
        check_withdrawal_id(withdrawal_id)
        destination = canonical_address(destination, known.chain)
        if _ZERO.fullmatch(destination):
            raise RefusedDestination(f"{destination} is the zero address: what is sent there "
                                     "is lost for good", destination=destination,
                                     says=msg("error.withdrawal.zero_address",
                                              destination=destination))
        requester = requester or f"customer:{customer}"
        if self.store.current() is not None:  # inside the caller's unit: read under the lock
            with self.store.unit() as u:
                return self._request(u, withdrawal_id, customer, known, amount, destination,
                                     requester, actor or requester, None)[0]
        # the customer's lists as this process kept them, or read before the writers' lock;
        # either is checked under it by their marks (and read again there if they moved)
        database = self.store.stamps()["database"]
        kept = self._lists.get((customer, known.symbol))
        if kept is not None and kept[0] == database:
            seen = kept[1]
        else:
            with self.store.unit(write=False, snapshot=False) as u:
                seen = self._inputs_before(u, database, withdrawal_id, customer, known.symbol)
                earlier = u.screening.withdrawal(withdrawal_id) if seen.marks.exists else None
            if earlier is not None:
                return self._retried(earlier, customer, known, amount, destination,
                                     requester)
        with self.store.unit() as u:
            view, after = self._request(u, withdrawal_id, customer, known, amount,
                                        destination, requester, actor or requester, seen)
        # once committed: the customer's lists with this withdrawal, for their next request
        # (a retry leaves them as they were: their marks are checked where they are used)
        if after is not seen:
            self.store.when_durable(partial(self._keep_lists, customer, known.symbol,
                                            database, after))
        return view

    def _inputs_before(self, u: Unit, database: int, withdrawal_id: str, customer: str,
                       asset: str) -> _Inputs:
        """The inputs read before the writers' lock, for a customer whose lists this process
        does not keep: the marks and the lists in one statement (then kept)."""
        seen = self._inputs(u, withdrawal_id, customer, asset, "", None)
        self._keep_lists(customer, asset, database, seen)
        return seen

    def _keep_lists(self, customer: str, asset: str, database: int,
                    inputs: _Inputs | None) -> None:
        """Keep a customer's lists (with the marks they go with) for their next request;
        None forgets them."""
        key = (customer, asset)
        if inputs is None or inputs.marks.history[0] < 0:  # unknown: nothing to keep
            self._lists.pop(key, None)
            return
        held = self._lists.get(key)
        if held is not None and held[0] == database and \
                held[1].marks.history[0] > inputs.marks.history[0]:
            return  # a later request's are kept (requests of one batch end in any order)
        if held is None and len(self._lists) >= _KEPT_LISTS:
            with suppress(StopIteration, KeyError, RuntimeError):  # the longest kept goes
                del self._lists[next(iter(self._lists))]
        self._lists[key] = (database, inputs)

    def _retried(self, earlier: WithdrawalRow, customer: str, known: Asset, amount: int,
                 destination: str, requester: str) -> WithdrawalView:
        """The first answer to a request made again with its id by its requester; another
        request under the same id, or the same one by another requester (another API key:
        it would take the first one's answer for its own), is refused."""
        if (earlier["customer"], earlier["asset"], earlier["amount"],
                chain_key(earlier["destination"], known.chain), earlier["requester"]) != (
                    customer, known.symbol, amount, destination, requester):
            raise IdempotencyConflict(f"withdrawal id {earlier['id']!r} was already "
                                      "used for a different request",
                                      says=msg("error.withdrawal.id_reused",
                                               id=earlier["id"][:100]))
        return self._view(earlier)

    def _inputs(self, u: Unit, withdrawal_id: str, customer: str, asset: str,
                hot_account: str, seen: _Inputs | None,
                sums: tuple[str, datetime, frozenset[tuple[str, timedelta]]] | None = None,
                also: ReadAhead | None = None) -> _Inputs:
        """What screening reads of the customer: the marks (the id taken, the customer
        known, tier, the paying wallet's balance, marks of the allow list and of the
        withdrawal history, and whether they withdrew to the destination of ``sums``
        before) and the allow list and latest amounts themselves, in one statement; with
        ``seen`` (read earlier, outside the writers' lock) the marks alone (and in the same
        statement the window ``sums`` screening is about to ask for and the reads of the
        hold's append, ``also``), and a list again only if its marks moved."""
        tables = u.screening
        destination = sums[0] if sums is not None else ""
        if seen is None:
            marks, allowed, amounts_, newest = tables.request_inputs(
                withdrawal_id, customer, asset, hot_account, destination)
            if marks.exists or not marks.customer_known:  # nothing to screen
                return _Inputs(marks._replace(allow=(-1, 0), history=(-1, 0)), {}, ())
            return _Inputs(marks, allowed, tuple(amounts_), newest)
        marks = tables.request_marks(withdrawal_id, customer, asset, hot_account, sums, also,
                                     destination)
        if marks.exists or not marks.customer_known:  # nothing to screen: lists not read
            return _Inputs(marks._replace(allow=(-1, 0), history=(-1, 0)), {}, ())
        # the lists an earlier request of the customer left in this transaction (a unit of
        # the same batch), else those seen before the lock, else read again
        handed = u.handed_on.get(_handed_key(customer, asset))
        if isinstance(handed, _Inputs) and handed.marks.allow == marks.allow:
            allow = handed.allow_list
        else:
            allow = seen.allow_list if seen.marks.allow == marks.allow \
                else tables.allowed(customer)
        if seen.marks.history == marks.history:
            return _Inputs(marks, allow, seen.amounts, seen.newest)
        if isinstance(handed, _Inputs) and handed.marks.history == marks.history:
            return _Inputs(marks, allow, handed.amounts, handed.newest)
        # a history that moved: the amounts read again, with the marks they go with (the
        # writers' lock is held: nobody else moves them), so the next request may keep them
        amounts, newest = tables.customer_amounts(customer, asset)
        return _Inputs(marks, allow, tuple(amounts), newest)

    def _request(self, u: Unit, withdrawal_id: str, customer: str, known: Asset, amount: int,
                 destination: str, requester: str, actor: str, seen: _Inputs | None
                 ) -> tuple[WithdrawalView, _Inputs | None]:
        """The request under the writers' lock: every input screening reads is read here,
        or checked here against what was read before the lock (``seen``) and read again
        where a writer changed it, so the decision is the one a request read wholly under
        the lock would get. Also the customer's lists as this request leaves them (None:
        not told without reading them; ``seen`` itself for a retry, which changes none)."""
        wallets = self.ledger.wallets()
        hots = [w for w in wallets if w.asset == known.symbol and w.tier == "hot"]
        # the first whose key has not leaked (a fresh one registered during an incident);
        # when every one has, the first, and screening refuses the request
        leaked = self._leaked(hots, wallets)
        hot = next((w for w in hots if leaked[w.name] is None), hots[0]) if hots else None
        # the time, the windows the rules sum and the hold, so that the marks' statement
        # reads the sums and the hold's ledger reads too (a missing policy or hot wallet is
        # refused below, where it was)
        now = self.clock.now()
        loaded = self.custody.policy()  # read once: a time lock may run out meanwhile
        windows = self._compiled(loaded)[2] if loaded is not None else frozenset()
        hold_id = f"withdrawal:{withdrawal_id}"
        also = None if hot is None else self.ledger.read_ahead_hold(hold_id, Hold(
            hold_id, f"customer:{customer}", hot.account, known.symbol, amount))
        inputs = self._inputs(u, withdrawal_id, customer, known.symbol,
                              hot.account if hot is not None else "", seen,
                              (destination, now, windows), also)
        marks = inputs.marks
        if marks.exists:  # a retry that raced its first attempt: that one's answer
            earlier = u.screening.withdrawal(withdrawal_id)
            assert earlier is not None
            return self._retried(earlier, customer, known, amount, destination,
                                 requester), seen
        if not marks.customer_known:
            held = sorted({r.asset for r in u.ledger.balances(account=f"customer:{customer}")})
            if held:  # a customer of the exchange, who holds none of this asset
                raise BadInput(f"customer {customer!r} has no {known.symbol} balance in the "
                               f"ledger (balances in {', '.join(held)})", customer=customer,
                               says=msg("error.withdrawal.no_balance",
                                        customer=customer[:200], asset=known.symbol,
                                        held=", ".join(held)))
            raise BadInput(f"unknown customer {customer!r}: no {known.symbol} balance in the "
                           "ledger", customer=customer,
                           says=msg("error.withdrawal.unknown_customer", customer=customer[:200],
                                    asset=known.symbol))
        for w in wallets:
            other = self.ledger.assets.get(w.asset)
            if other is not None and other.chain == known.chain and any(
                    same_address(a, destination, known.chain) for a in w.addresses):
                raise RefusedDestination(
                    f"{destination} is an address of the exchange's own wallet {w.name}: a "
                    "withdrawal cannot go there", destination=destination, wallet=w.name,
                    says=msg("error.withdrawal.own_wallet", destination=destination,
                             wallet=w.name))
        if hot is None:
            raise ConfigError(f"no hot wallet for {known.symbol} is registered",
                              says=msg("error.withdrawal.no_hot_wallet", asset=known.symbol))
        policy = _required(loaded)
        rules = self._parsed(policy)
        request = Request(withdrawal_id, customer, known.symbol, amount, destination, now,
                          marks.tier or DEFAULT_TIER)
        sums = u.screening.window_sums(customer, destination, known.symbol, now, windows)
        context = Context(sums=sums, customer_amounts=inputs.amounts,
                          known_destinations=frozenset({destination})
                          if marks.destination_known else frozenset(),
                          allow_list=inputs.allow_list, deny=self.deny_list(),
                          hot_balance=normal_balance(hot.account, marks.hot)
                          if marks.hot is not None else 0,
                          tripped=frozenset(self._breaker()[1]),
                          compromised=leaked[hot.name])
        decision = screen(request, rules, context, policy.version)
        self.ledger.open_hold(
            hold_id, Hold(hold_id, f"customer:{customer}", hot.account, known.symbol, amount,
                          now + timedelta(hours=policy.proposal_ttl_hours)),
            source=hold_id, memo=f"to {destination}")
        state = _STATE_OF[decision.outcome]
        row: WithdrawalRow = {"id": withdrawal_id, "customer": customer, "asset": known.symbol,
               "amount": amount, "destination": destination, "wallet": hot.name,
               "requested_at": now, "requester": requester, "state": state,
               "decision": _decision_json(decision), "tx_hash": None}
        u.screening.put_withdrawal(row)
        review: Proposal | None = None
        if state == "blocked":
            self._release(withdrawal_id, "blocked by screening")
        elif state == "review":
            review = self.custody.put_proposal(
                "withdrawal", {"withdrawal": withdrawal_id, "customer": customer,
                               "asset": known.symbol, "amount": str(amount),
                               "destination": destination},
                requester, msg("proposal.review", rules=", ".join(
                    dict.fromkeys(h.rule for h in decision.hits))), policy,
                proposal_id=f"withdrawal-{withdrawal_id}")
        for hit in decision.hits:
            if hit.kind == "outflow_rate":
                self.trip(known.symbol, "kinko:screening", hit.detail, actor="")
        self.audit(actor, "withdrawal.request", withdrawal_id,
                   {"state": state, "outcome": decision.outcome})
        after = inputs.after(amount, now, state in COUNTED_WITHDRAWAL_STATES) \
            if marks.history[0] >= 0 else None
        # for the customer's next request in this transaction (the batch's later units)
        if after is None:
            u.handed_on.pop(_handed_key(customer, known.symbol), None)
        else:
            u.handed_on[_handed_key(customer, known.symbol)] = after
        return self._view(row, (0, policy.quorum), decision=decision, review=review), after

    def _leaked(self, hots: list[Wallet], wallets: list[Wallet]) -> dict[str, str | None]:
        """Per wallet, the open (or contained) incident in which its key leaked: an
        incident's wallet, and every online wallet sharing one of its addresses."""
        out: dict[str, str | None] = {w.name: None for w in hots}
        for incident in (i for i in active_incidents(self.store) if i.get("wallet")):
            for w in same_key(wallets, incident["wallet"]):
                if w.name in out and out[w.name] is None:
                    out[w.name] = str(incident["id"])
        return out

    def deny_list(self) -> dict[str, Label]:
        """Every listed address (canonical form, and its equivalents) with its label (read
        again when any process changes the list)."""
        return self.store.cached("deny_labels", lambda u: deny_index(u.screening.deny_map()))

    def _release(self, withdrawal_id: str, source: str, why: Message | None = None) -> None:
        """Void the withdrawal's hold (its funds go back to the customer); the entry's memo
        keeps why as a message (:func:`closing` reads it back)."""
        hold = self.ledger.hold(f"withdrawal:{withdrawal_id}")
        if hold is not None and hold[1] == "pending":
            self.ledger.void_hold(f"void:withdrawal:{withdrawal_id}",
                                  f"withdrawal:{withdrawal_id}", source=source,
                                  memo="" if why is None else stored(why))

    def _close(self, u: Unit, withdrawal_id: str, old: tuple[WithdrawalState, ...],
               new: Literal["rejected", "expired"]) -> bool:
        """Close a withdrawal (rejected, expired) and its review's proposal together; what it
        reserves is released (already, for an expired hold). False when it had moved on."""
        if not u.screening.set_state(withdrawal_id, old, new):
            return False
        u.custody.close(f"withdrawal-{withdrawal_id}", new)
        return True

    # ------------------------------------------------------------------ approvals

    def approve_proposal(self, proposal_id: str, approver: str, signature: str, *,
                         actor: str | None = None, kind: str | None = None) -> ProposalView:
        """Approve any proposal through the use case that owns it, in one unit of work with
        its audit record; refused ones audited too (see :mod:`kinko.services.approvals`)."""
        return Approvals(self.custody).approve(proposal_id, approver, signature, actor=actor,
                                       kind=kind)

    def refused_approval(self, actor: str, proposal_id: str, approver: str,
                         error: KinkoError, kind: str | None = None) -> None:
        """Audit an approval refused before it reached this service (a key that may not
        approve, or not as that approver)."""
        Approvals(self.custody).refused(actor, proposal_id, approver, error, kind)

    def approve(self, withdrawal_id: str, approver: str, signature: str, *,
                actor: str | None = None) -> WithdrawalView:
        """Approve a withdrawal held for review (see :meth:`approve_proposal`)."""
        self.approve_proposal(f"withdrawal-{withdrawal_id}", approver, signature, actor=actor,
                              kind="withdrawal")
        return self.get(withdrawal_id)

    def approve_reset(self, proposal_id: str, approver: str, signature: str, *,
                      actor: str | None = None) -> bool:
        """Approve a breaker reset (see :meth:`approve_proposal`); True when this approval
        reached the quorum and the breaker is reset."""
        view = self.approve_proposal(proposal_id, approver, signature, actor=actor,
                                     kind="breaker")
        return view.state == "executed"

    # ------------------------------------------------------------------ rejecting

    def reject_open(self, wallet: str, by: str, reason: Message | str
                    ) -> list[WithdrawalView]:
        """Reject every withdrawal from ``wallet`` not yet being sent (held for review,
        allowed or approved), releasing what they reserve to their customers: one unit."""
        with self.store.unit() as u:
            return [self.reject(r["id"], by, reason)
                    for r in u.screening.open_withdrawals(wallet, OPEN_WITHDRAWAL_STATES)]

    def reject(self, withdrawal_id: str, by: str, reason: Message | str, *,
               actor: str | None = None) -> WithdrawalView:
        """Reject a withdrawal not yet being sent: its funds are released and its review's
        proposal closed, with the audit record, in one unit of work. A ``str`` reason is a
        person's words, kept as written; kinko's own is a message, shown in the reader's
        language."""
        why = verbatim(reason) if isinstance(reason, str) else reason
        with self.store.unit() as u:
            if not self._close(u, withdrawal_id, OPEN_WITHDRAWAL_STATES, "rejected"):
                row = u.screening.withdrawal(withdrawal_id)
                if row is None:
                    shown = id_shown(withdrawal_id)
                    raise NotFound(f"unknown withdrawal {shown!r}",
                                   says=msg("error.unknown_withdrawal", id=shown))
                raise ApprovalError(f"withdrawal {withdrawal_id} is {row['state']}: it cannot "
                                    "be rejected now", says=msg(
                                        "error.cannot_reject", id=withdrawal_id,
                                        state=msg(f"wd.state.{row['state']}")))
            self._release(withdrawal_id, f"rejected by {by}", why)
            self.audit(actor or by, "withdrawal.reject", withdrawal_id, reason_detail(why))
            return self.get(withdrawal_id)

    # ------------------------------------------------------------------ sending

    def cost(self, withdrawal_id: str) -> Fee:
        """What sending the withdrawal costs, as its paying wallet says for exactly its
        asset, destination and amount: the network fee, who pays it, and any levy the
        chain adds (a levied NEM mosaic's). Reads the node; asks no one to sign."""
        outside_units(self.store, "costing a withdrawal")
        view = self.get(withdrawal_id)
        if self.custody.chain is None or self.custody.spender_for is None:
            raise ConfigError("the cost of a withdrawal is its wallet's on a chain node: none "
                              "is configured", says=msg("error.withdrawal.cost_needs_node"))
        wallet = next(w for w in self.ledger.wallets() if w.name == view.wallet)
        return self.custody.spender(wallet).fee(self.ledger.assets[view.asset],
                                                view.destination, view.amount)

    def send(self, withdrawal_id: str) -> WithdrawalView:
        """Sign and broadcast an allowed or approved withdrawal from the hot wallet (see the
        module docstring: signed and recorded in one unit, broadcast outside it)."""
        outside_units(self.store, "sending a withdrawal")
        view = self.get(withdrawal_id)
        if view.state not in SENDABLE_WITHDRAWAL_STATES:
            raise ApprovalError(f"withdrawal {withdrawal_id} is {view.state}; only an allowed or "
                                "approved withdrawal is sent",
                                says=msg("error.withdrawal.not_sendable", id=view.id,
                                         state=msg(f"wd.state.{view.state}")))
        chain = self.custody.chain
        if chain is None or self.custody.spender_for is None:
            raise ConfigError("sending needs a chain node and the hot wallet's signer",
                              says=msg("error.withdrawal.send_needs_node"))
        if self.ledger.assets[view.asset].chain != chain.name:  # one chain per process
            raise ConfigError(f"withdrawal {withdrawal_id}: {view.asset} is on "
                              f"{self.ledger.assets[view.asset].chain}, this process sends on "
                              f"{chain.name} (the first of the chains setting)",
                              says=msg("error.withdrawal.other_chain", id=view.id,
                                       asset=view.asset,
                                       chain=self.ledger.assets[view.asset].chain,
                                       sends_on=chain.name))
        wallet = next(w for w in self.ledger.wallets() if w.name == view.wallet)
        spender = self.custody.spender(wallet)
        # the node (and a multisig's owners: the co-signer) are asked before the unit opens
        prepared = spender.prepare(payment(self.ledger.assets[view.asset], view.destination,
                                           view.amount, "withdrawal", withdrawal_id))
        expired = False
        with self.store.unit() as u:
            row = u.screening.withdrawal(withdrawal_id)
            assert row is not None
            if row["state"] not in SENDABLE_WITHDRAWAL_STATES:
                raise ApprovalError(f"withdrawal {withdrawal_id} is {row['state']}: it is being "
                                    "sent already, or closed",
                                    says=msg("error.withdrawal.sending_or_closed", id=view.id,
                                             state=msg(f"wd.state.{row['state']}")))
            hold = u.ledger.hold_state(f"withdrawal:{withdrawal_id}")
            now = self.clock.now()
            if hold is None or hold[1] != "pending" or (
                    hold[0].expires_at is not None and hold[0].expires_at <= now):
                self.ledger.expire_holds()  # releases it, if it is due and not yet released
                expired = self._close(u, withdrawal_id, OPEN_WITHDRAWAL_STATES, "expired")
            else:
                out = spender.sign(prepared)
                u.screening.set_state(withdrawal_id, (row["state"],), "sending", out.tx_hash)
                u.watch.put_signed(signed_move(prepared, out, chain.name, now))
        if expired:
            raise ApprovalError(f"withdrawal {withdrawal_id} expired before it was sent; the "
                                "funds are released",
                                says=msg("error.withdrawal.expired_unsent", id=view.id))
        try:
            tx_hash = chain.send_raw(out.raw)
        except ChainRejected:
            with self.store.screening() as tables:
                tables.set_state(withdrawal_id, ("sending",), view.state)
            raise
        with self.store.screening() as tables:
            tables.set_state(withdrawal_id, ("sending",), "sent", tx_hash)
        return self.get(withdrawal_id)

    def confirm(self, withdrawal_id: str) -> WithdrawalView | None:
        """Post the hold once the transaction has enough confirmations; None until then. A
        transaction mined but reverted moved nothing: its hold is voided (the customer's funds
        released), its fee booked, and the withdrawal is ``failed``.
        The node is read first; the hold's posting, the network fee and the state are one
        unit of work."""
        view = self.get(withdrawal_id)
        chain = self.custody.chain
        receipt = (chain.receipt(view.tx_hash) if chain is not None and view.tx_hash
                   and view.state in IN_FLIGHT_WITHDRAWAL_STATES else None)
        # "sending" with a receipt: kinko stopped between broadcasting and recording it
        if chain is None or view.tx_hash is None \
                or view.state not in IN_FLIGHT_WITHDRAWAL_STATES \
                or (view.state == "sending" and receipt is None):
            raise ApprovalError(f"withdrawal {withdrawal_id} is {view.state}: nothing to confirm",
                                says=msg("error.withdrawal.nothing_to_confirm", id=view.id,
                                         state=msg(f"wd.state.{view.state}")))
        final = receipt is not None and \
            chain.head() - receipt.block + 1 >= self.custody.confirmations
        with self.store.unit() as u:
            row = u.screening.withdrawal(withdrawal_id)
            assert row is not None
            if (row["state"], row["tx_hash"]) != (view.state, view.tx_hash):
                raise ApprovalError(f"withdrawal {withdrawal_id} is {row['state']} now: "
                                    "nothing to confirm",
                                    says=msg("error.withdrawal.moved_nothing_to_confirm",
                                             id=view.id,
                                             state=msg(f"wd.state.{row['state']}")))
            if row["state"] == "sending":
                u.screening.set_state(withdrawal_id, ("sending",), "sent")
            if not final or receipt is None:
                return None
            hold_id = f"withdrawal:{withdrawal_id}"
            if receipt.ok:
                self.ledger.post_hold(f"sent:{hold_id}", hold_id, source=f"tx:{view.tx_hash}",
                                      memo=f"withdrawal to {view.destination}")
            else:  # mined but reverted: nothing left the wallet but the fee
                self.ledger.void_hold(f"void:{hold_id}", hold_id, source=f"tx:{view.tx_hash}",
                                      memo=stored(msg("wd.reason.reverted")))
            fee = fee_postings(self.ledger, row["wallet"], receipt.fee, receipt.payer)
            if fee:
                self.ledger.post(f"fee:{hold_id}", fee,
                                 source=f"tx:{view.tx_hash}", memo="network fee")
            levies = levy_postings(self.ledger, row["wallet"], receipt.levies, receipt.payer)
            if levies:
                self.ledger.post(f"levy:{hold_id}", levies,
                                 source=f"tx:{view.tx_hash}", memo="mosaic levy")
            u.screening.set_state(withdrawal_id, ("sent",),
                                  "confirmed" if receipt.ok else "failed")
            return self.get(withdrawal_id)

    def displaced(self, withdrawal_id: str, by: str, reason: Message) -> bool:
        """A withdrawal sent whose transaction can never be mined (another transaction used
        its nonce) moved nothing: its hold is voided (the customer's funds released) and it
        is ``failed``, in one unit; False when it had moved on."""
        with self.store.unit() as u:
            if not u.screening.set_state(withdrawal_id, IN_FLIGHT_WITHDRAWAL_STATES, "failed"):
                return False
            hold_id = f"withdrawal:{withdrawal_id}"
            hold = self.ledger.hold(hold_id)
            if hold is not None and hold[1] == "pending":
                self.ledger.void_hold(f"void:{hold_id}", hold_id, source=f"displaced by {by}",
                                      memo=stored(reason))
            self.audit(by, "withdrawal.displaced", withdrawal_id, reason_detail(reason))
            return True

    def expire(self) -> list[str]:
        """Release every hold whose expiry has passed, and every review that lapsed under
        the policy in force before its hold's expiry (a shorter proposal lifetime adopted
        since: nobody can approve it any more, and its funds stay the customer's), and mark
        the open withdrawals they reserved (and their reviews' proposals) expired, in one
        unit; returns their ids."""
        with self.store.unit() as u:
            self.ledger.expire_holds()
            rows = [r for state in OPEN_WITHDRAWAL_STATES
                    for r in u.screening.withdrawals(state, limit=1_000_000)]
            states = u.ledger.hold_states([f"withdrawal:{r['id']}" for r in rows])
            now = self.clock.now()
            policy = effective_policy(u.custody, self.ledger.assets, now)
            pending = {p.id: p for p, *_ in u.custody.proposals("pending")} \
                if any(r["state"] == "review" for r in rows) else {}
            lapsed: set[str] = set()
            for r in rows:
                review = pending.get(f"withdrawal-{r['id']}")
                if r["state"] == "review" and review is not None \
                        and states.get(f"withdrawal:{r['id']}") == "pending" \
                        and lapses_at(review, policy) <= now:
                    self._release(r["id"], "expired", msg("wd.reason.review_lapsed"))
                    lapsed.add(r["id"])
            return [r["id"] for r in rows
                    if (r["id"] in lapsed or states.get(f"withdrawal:{r['id']}") == "expired")
                    and self._close(u, r["id"], OPEN_WITHDRAWAL_STATES, "expired")]

    # ------------------------------------------------------------------ lists

    def allow(self, customer: str, address: str, asset: str) -> str:
        canonical = canonical_address(address, self.ledger.assets[asset].chain)
        with self.store.screening() as tables:
            tables.allow(customer, canonical, self.clock.now())
        return canonical

    def load_deny_list(self, path: Path, *, invalid: str = "refuse",
                       actor: str = "") -> Loaded:
        """Load a TagPack (.yaml/.yml) or CSV deny list; ``invalid``: what becomes of an
        address no format accepts (refuse the list, or keep it as written); audited under
        ``actor`` when given."""
        return load_labels(self.store, path, "deny", invalid=invalid, actor=actor,
                           clock=self.clock)

    # ------------------------------------------------------------------ breaker

    def trip(self, scope: str, by: str, reason: Message | str, *, on_timelines: bool = True,
             actor: str | None = None) -> bool:
        """Trip a breaker (True when it was not tripped yet); by hand it also goes on the
        timeline of every open incident of its scope (the watch records its own). ``actor``
        (default ``by``; empty: none) is audited in the same unit. A ``str`` reason is a
        person's words, kept as written."""
        if isinstance(reason, str):
            reason = verbatim(reason)
        scope = "*" if scope == "*" else self.ledger.assets[scope].symbol
        with self.store.unit() as u:
            if scope in self.breaker():
                return False
            now = self.clock.now()
            u.screening.breaker_event(scope, "trip", now, by, reason)
            if on_timelines:
                for incident in incidents_for(self.store, scope):
                    record(self.store, incident, now, "breaker", by,
                           msg("timeline.breaker.tripped_by_hand", scope=scope_word(scope),
                               reason=reason))
            if actor is None or actor:
                self.audit(actor or by, "breaker.trip", scope, reason_detail(reason))
            return True

    def breaker(self) -> dict[str, BreakerEventRow]:
        """The tripped scopes, each with the event that tripped it."""
        return {scope: e.copy() for scope, e in self._breaker()[1].items()}

    def breaker_log(self) -> list[BreakerEventRow]:
        return [e.copy() for e in self._breaker()[0]]

    def _breaker(self) -> tuple[tuple[BreakerEventRow, ...], dict[str, BreakerEventRow]]:
        """The breaker's log and its tripped scopes (read again when any process trips or
        resets one)."""
        return self.store.cached("breaker_events", lambda u: (
            tuple(u.screening.breaker_events()), u.screening.tripped()))

    def propose_reset(self, scope: str, by: str, *, actor: str | None = None) -> ProposalView:
        """Propose resetting a tripped breaker to the quorum (audited in the same unit)."""
        with self.store.unit():
            if scope not in self.breaker():
                shown = id_shown(scope)  # a URL's scope: quoted short, never whole
                raise BadInput(f"the {shown} breaker is not tripped",
                               says=msg("error.breaker.reset_not_tripped", scope=shown))
            view = self.custody.propose("breaker", {"scope": scope}, by,
                                        msg("proposal.breaker_reset", scope=scope_word(scope)))
            self.audit(actor or by, "breaker.reset.propose", scope,
                        {"proposal": view.proposal.id})
            return view


def _required(policy: Policy | None) -> Policy:
    """The policy in force, or the refusal every use case gives without one."""
    if policy is None:
        raise ConfigError("no custody policy is loaded: run `kinko policy load FILE --by NAME`",
                          says=msg("error.policy.none_loaded"))
    return policy
