"""Ports: the small interfaces services depend on, implemented at the edge.

``Clock`` gives the time (``SystemClock`` in production, ``FixedClock`` in tests).
``Store`` opens units of work: ``unit()`` is one transaction over every table group
(:class:`Unit`: the ledger, screening, custody, deposits, access and watch tables), so a use
case commits all it wrote or nothing. Write units are serialised (each journal entry carries
the previous entry's hash); read units are one consistent snapshot. The table-group
openers (``writer()``, ``reader()``, ``screening()`` ...) open a unit of their own, or join
the unit already open in the same thread, so services compose without passing it around.
The SQL implementation lives in :mod:`kinko.store`; SQLite in memory is its fast double and
the contract suite runs on SQLite and PostgreSQL alike.

Money moves through three ports, so that services never build a transaction by hand:
``Chain`` (a node: blocks, balances, receipts, broadcasting raw transactions), ``Spender``
(one wallet of some kind: it turns a :class:`Payment` into a transaction, says what it
costs in the chain's fee coin and who pays it, gathers the authorisations its kind needs,
and proves control of its address) and ``Signer`` (a key, in an HSM or a file). A
``Spender`` for a multisig wallet asks its owners through ``SafeOwner``: a key kinko holds,
or the policy co-signer (``Cosigner``). A sending use case calls ``prepare`` before its
unit of work opens (the node and the co-signer are asked then), ``sign`` inside the unit
that records the transaction's hash, and ``Chain.send_raw`` after that unit committed.

``Cosigner`` is the policy co-signer as kinko's services ask it for a Safe's second
signature (:class:`MemoryCosigner` its double; the HTTP client in
:mod:`kinko.cosign.client`); ``KinkoView``, ``SafeReader``, ``CosignLog`` and
``AlertSink`` are what the co-signer itself reads, writes and tells
(:mod:`kinko.services.cosign`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, NamedTuple, Protocol, TypedDict, TypeVar, Unpack

from kinko.domain.approvals import Approval, Proposal
from kinko.domain.chain import Block, Transfer
from kinko.domain.cosign import CosignRequest, KinkoFacts, SafeState, refuse
from kinko.domain.cosign_log import Decision, SignedRow
from kinko.domain.custody import Multisig, Wallet
from kinko.domain.ledger import (
    BalanceKey,
    BalanceState,
    Entry,
    Hold,
    SealedTransfers,
    StateValues,
)
from kinko.domain.messages import Message
from kinko.domain.money import Asset
from kinko.domain.policy_lock import StoredPolicy, Veto
from kinko.domain.safe import SafeTx, recover_owner
from kinko.domain.screening import Label
from kinko.domain.states import AlertState, IncidentState, ProposalState, WithdrawalState
from kinko.domain.watch import AlertKind

__all__ = [
    "AccessTables",
    "AlertChange",
    "AlertNotice",
    "AlertRow",
    "AlertSink",
    "ApiKeyRow",
    "ArtifactChange",
    "ArtifactRow",
    "AuditRow",
    "BalanceRow",
    "BreakerEventRow",
    "Chain",
    "Clock",
    "CoSignature",
    "CosignAlertChange",
    "CosignAlertRow",
    "CosignLog",
    "CosignTables",
    "Cosigner",
    "CustodyTables",
    "DepositAddress",
    "DepositRow",
    "DepositTables",
    "DigestSigner",
    "Fee",
    "FixedClock",
    "HeartbeatRow",
    "IncidentChange",
    "IncidentRow",
    "KinkoView",
    "LedgerReader",
    "LedgerWriter",
    "MemoryCosigner",
    "Multisigs",
    "NewAlert",
    "NewIncident",
    "NotificationChange",
    "NotificationRow",
    "Notifier",
    "ObservationChange",
    "ObservationRow",
    "Outgoing",
    "OwnerSignatureRow",
    "Payment",
    "Prepared",
    "Prices",
    "ProposalRow",
    "RaceTerms",
    "Receipt",
    "RequestMarks",
    "SafeOwner",
    "SafeReader",
    "SampleRow",
    "ScreeningTables",
    "SeenBlock",
    "SessionRow",
    "SignedMove",
    "Signer",
    "Spender",
    "Store",
    "SystemClock",
    "TierRow",
    "TimelineRow",
    "Unit",
    "UnitError",
    "WatchTables",
    "WithdrawalRow",
    "WouldBlock",
]


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, time-zone aware."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class FixedClock:
    """A clock for tests and replays: returns ``at``; ``advance`` moves it."""

    at: datetime = field(default_factory=lambda: datetime(2018, 1, 25, 15, 0, tzinfo=UTC))

    def now(self) -> datetime:
        return self.at

    def advance(self, **delta: float) -> datetime:
        self.at = self.at + timedelta(**delta)
        return self.at


@dataclass(frozen=True)
class BalanceRow:
    account: str
    asset: str
    state: BalanceState


class LedgerReader(Protocol):
    def head(self) -> tuple[int, str]: ...
    def entries(self, after_seq: int = 0, limit: int | None = None) -> Iterator[Entry]: ...
    def balances(
        self, account: str | None = None, kind: str | None = None, asset: str | None = None,
        *, after: tuple[str, str] | None = None, limit: int | None = None,
    ) -> Iterator[BalanceRow]: ...
    def balances_as_of(
        self, *, seq: int | None = None, at: datetime | None = None,
        account: str | None = None, kind: str | None = None, asset: str | None = None,
    ) -> Iterator[BalanceRow]: ...
    def sum_balances(self, kind: str) -> dict[str, tuple[BalanceState, int]]: ...
    def debits(self, account: str) -> dict[str, int]: ...
    def backdated(self, at: datetime, limit: int = 5
                  ) -> tuple[int, list[tuple[int, str, datetime]]]: ...
    def pending_holds(self) -> list[Hold]: ...
    def hold_state(self, hold_id: str) -> tuple[Hold, str] | None: ...
    def hold_states(self, hold_ids: Collection[str]) -> dict[str, str]: ...
    def wallets(self) -> list[Wallet]: ...
    def assets(self) -> list[Asset]: ...
    def known_keys(self, keys: Collection[str]) -> set[str]: ...
    def count_keys(self, prefix: str) -> int: ...
    def entries_by_key(self, keys: Collection[str]) -> dict[str, Entry]: ...
    def states(self, keys: Collection[BalanceKey]) -> dict[BalanceKey, BalanceState]: ...


class ReadAhead(NamedTuple):
    """A read one statement of a unit of work may carry for another part of the unit (one
    round trip less): ``SELECT`` parts to join with ``UNION ALL`` (of as many columns as
    asked, the first a tag), their parameters, what takes the rows they return, and what
    they read (:meth:`LedgerWriter.read_ahead`)."""

    parts: Callable[[int], list[str]]
    params: tuple[Any, ...]
    accept: Callable[[Iterable[Sequence[Any]]], None]
    reads: tuple[frozenset[str], frozenset[str], frozenset[BalanceKey]]


class LedgerWriter(LedgerReader, Protocol):
    def due_holds(self, now: datetime) -> list[Hold]: ...
    # read ahead what an append is about to ask (one round trip for a few of each)
    def prefetch(self, keys: Collection[str], hold_ids: Collection[str],
                 balances: Collection[BalanceKey]) -> None: ...
    # the same read, for another statement to carry (prefetch then reads nothing)
    def read_ahead(self, keys: Collection[str], hold_ids: Collection[str],
                   balances: Collection[BalanceKey]) -> ReadAhead | None: ...
    def append(
        self, entries: Sequence[Entry], states: Mapping[BalanceKey, BalanceState]
    ) -> None: ...
    # the same, for plain transfers sealed by a TransferSealer
    def append_transfers(
        self, sealed: SealedTransfers, states: Mapping[BalanceKey, StateValues]
    ) -> None: ...
    def put_wallet(self, wallet: Wallet) -> None: ...
    def put_assets(self, assets: Sequence[Asset]) -> None: ...


@dataclass(frozen=True)
class Receipt:
    tx_hash: str
    block: int
    ok: bool
    fee: int  # what the transaction cost, in the chain's fee coin (gas used × price)
    payer: str | None = None  # who paid the fee (the sender), in canonical form
    levies: tuple[tuple[str | None, str, int], ...] = ()  # (token, recipient, amount) the
    #  chain moved with it from the payer (a levied NEM mosaic's; token None: the coin)


class Chain(Protocol):
    """A blockchain node: read blocks and balances, send signed transactions. Building
    and signing a transaction is a wallet's (:class:`Spender`)."""

    @property
    def name(self) -> str: ...

    def caip2(self) -> str: ...  # the chain's CAIP-2 id, as the node says (eip155:1)
    def head(self) -> int: ...
    def block(self, number: int) -> Block: ...
    def pending(self) -> tuple[Transfer, ...]: ...  # the mempool's transfers; () if hidden
    def balances(self, addresses: Sequence[str], block: int | None = None,
                 token: str | None = None) -> dict[str, int]: ...  # token: an ERC-20's
    def tx_hash(self, raw: bytes) -> str: ...  # the hash the chain will give a signed tx
    def send_raw(self, raw: bytes) -> str: ...
    def receipt(self, tx_hash: str) -> Receipt | None: ...


class Signer(Protocol):
    """A key: holds it, never reveals it. Signs 32-byte digests (``r ‖ s ‖ v`` for
    secp256k1) and text messages (proof of control); what a chain's transactions sign is the
    chain adapter's business."""

    address: str

    def sign_digest(self, digest: bytes) -> bytes: ...
    def sign_message(self, text: str) -> str: ...


@dataclass(frozen=True)
class RaceTerms:
    """How one transaction of an emergency sweep races a thief who holds the same key: it
    takes ``nonce`` (replacing his pending transaction there) at ``gas_price``, first clears
    an EIP-7702 delegation of the address (``clear_delegation``), and instead of paying may
    revoke the allowance of spender ``revoke`` on the token (``approve(revoke, 0)``). A
    Safe races only owners' keys whose executions are pending: ``nonce`` is then the Safe's
    own and ``gas_price`` its relayer's bid; it refuses a delegation-clear or a revocation."""

    nonce: int
    gas_price: int
    clear_delegation: bool = False
    revoke: str | None = None


@dataclass(frozen=True)
class Payment:
    """What a use case asks a wallet to send: ``amount`` (minor units) of ``asset`` to
    ``to``, for ``request``, what authorises it: ``("withdrawal", id)`` or ``("proposal",
    id)`` (a co-signer checks the transfer against it, field by field); ``race``: an
    emergency sweep's nonce, fee and delegation-clear (see :class:`RaceTerms`)."""

    asset: Asset
    to: str
    amount: int
    request: tuple[str, str]
    signatures: tuple[tuple[str, bytes], ...] = ()  # (owner, signature) made offline
    race: RaceTerms | None = None


@dataclass(frozen=True)
class Fee:
    """What one transfer costs at most, in the chain's fee coin, and who pays it: the
    wallet itself (one key) or a relayer (a multisig's transaction is sent by another key)."""

    payer: str
    amount: int
    gas: int = 0  # the most gas it uses, where the chain prices gas (0 elsewhere)
    levies: tuple[tuple[str, str, int], ...] = ()  # (mosaic, recipient, amount): NEM levies


@dataclass(frozen=True)
class Prepared:
    """A payment made ready to sign: what the node said (nonces, fee, chain id) and every
    authorisation gathered that needs asking someone; ``detail`` is the wallet kind's own
    (shown in logs: a Safe's safeTxHash and nonce), ``fee`` its most."""

    payment: Payment
    sender: str
    fee: Fee
    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Outgoing:
    """A signed transaction and the hash the chain will give it."""

    raw: bytes
    tx_hash: str


class Spender(Protocol):
    """One wallet that moves money (a *wallet kind*: one key, or a multisig's owners with a
    relayer that sends). ``prepare`` reads the node and gathers the authorisations (outside
    any unit of work); ``sign`` signs without asking anyone (inside the unit that records
    the hash); ``fee`` is what a transfer of ``asset`` (to ``to``) will cost at most and who
    pays it (the ledger books it; a sweep leaves it behind when the wallet pays), or with
    ``amount`` what a transfer of exactly that costs, a NEM mosaic's levy included;
    ``prove`` signs a message that shows control of ``address`` (proof of reserves).
    ``authorisation`` is what owners who sign offline sign for a payment (a multisig's
    transaction and its ``digest``; empty for one key) and ``accept`` checks one such
    signature, returning it in the form the chain checks."""

    kind: str
    address: str

    def fee(self, asset: Asset, to: str | None = None, amount: int | None = None) -> Fee: ...
    def prepare(self, payment: Payment) -> Prepared: ...
    def sign(self, prepared: Prepared) -> Outgoing: ...
    def prove(self, message: str) -> str: ...
    def authorisation(self, payment: Payment) -> dict[str, Any]: ...
    def accept(self, payment: Payment, owner: str, signature: bytes) -> bytes: ...


class Multisigs(Protocol):
    """A chain's multisig accounts (Safes on an EVM chain): ``create`` deploys one owned by
    ``owners`` with ``threshold`` (its contracts deployed first where the chain lets kinko,
    a development node) and returns its address and set-up; ``check`` reads one back and
    refuses it, naming every difference, unless it is exactly ``multisig``."""

    def create(self, owners: Sequence[str], threshold: int, *, operator: str | None = None,
               cosigner: str | None = None) -> tuple[str, Multisig]: ...
    def check(self, address: str, multisig: Multisig) -> None: ...
    def contracts(self) -> tuple[tuple[str, str], ...]: ...


class SafeOwner(Protocol):
    """One owner of a multisig wallet that kinko asks for its signature of a SafeTx for
    ``request`` (see :class:`Payment`): a key kinko holds (the operations key), or the
    policy co-signer through :class:`Cosigner`. Raises rather than signing what it may not."""

    address: str

    def sign_safe_tx(self, tx: SafeTx, request: tuple[str, str]) -> bytes: ...


class ProposalRow(NamedTuple):
    """A stored proposal: what was proposed, where it stands, its transaction, its words."""

    proposal: Proposal
    state: ProposalState
    tx_hash: str | None
    detail: Message


class CustodyTables(Protocol):
    """Policy versions, proposals and approvals (inside a store transaction)."""

    def policy_rows(self) -> list[StoredPolicy]: ...  # every version, oldest first
    def put_policy(self, version: int, digest: str, body: dict[str, Any], at: datetime,
                   via: str, time_lock_s: int = 0) -> None: ...
    def vetoes(self) -> list[Veto]: ...
    def put_veto(self, veto: Veto) -> None: ...
    def put_proposal(self, proposal: Proposal, detail: Message) -> None: ...
    def proposal(self, proposal_id: str) -> ProposalRow | None: ...
    def proposals(self, state: ProposalState | None = None) -> list[ProposalRow]: ...
    def set_state(self, proposal_id: str, old: ProposalState, new: ProposalState,
                  tx_hash: str | None = None) -> None: ...
    def close(self, proposal_id: str, new: ProposalState) -> bool: ...
    def add_approval(self, proposal_id: str, approval: Approval) -> None: ...
    def put_owner_signature(self, proposal_id: str, owner: str, digest: str, signature: str,
                            at: datetime) -> None: ...
    def owner_signatures(self, proposal_id: str) -> list[OwnerSignatureRow]: ...
    def approvals(self, proposal_id: str) -> list[Approval]: ...
    def approvals_of(self, proposal_ids: list[str]) -> dict[str, list[Approval]]: ...


class DepositTables(Protocol):
    """Deposit addresses, scanned block hashes and credited deposits."""

    def put_address(self, address: str, chain: str, customer: str, asset: str,
                    wallet: str) -> None: ...
    def addresses(self, chain: str) -> dict[str, DepositAddress]: ...
    def block_hash(self, chain: str, number: int) -> str | None: ...
    def last_block(self, chain: str) -> int | None: ...
    def put_block(self, chain: str, number: int, block_hash: str) -> None: ...
    def forget_blocks_after(self, chain: str, number: int) -> None: ...
    def put_deposits(self, rows: list[DepositRow]) -> set[str]: ...
    def credited_after(self, chain: str, number: int) -> list[DepositRow]: ...
    # the deposits of these transactions that stand credited (or frozen), in any block
    def credited_in(self, chain: str, tx_hashes: Collection[str]) -> list[DepositRow]: ...
    def mark_reverted(self, deposit_id: str) -> None: ...
    def deposits(self, chain: str | None = None) -> list[DepositRow]: ...


class WithdrawalRow(TypedDict):
    """A withdrawal as the store keeps it."""

    id: str
    customer: str
    asset: str
    amount: int  # minor units
    destination: str  # canonical
    wallet: str  # the wallet that pays
    requested_at: datetime
    requester: str
    state: WithdrawalState
    decision: str  # the screening Decision as JSON (Decision.to_data)
    tx_hash: str | None


class DepositAddress(NamedTuple):
    """Whose a deposit address is: the customer, the asset it takes, the wallet it is of."""

    customer: str
    asset: str
    wallet: str


class SeenBlock(NamedTuple):
    """A block the watch read: its number, hash and own timestamp (seconds)."""

    number: int
    hash: str
    ts: int


class TierRow(TypedDict):
    """A customer's recorded tier (KYC level)."""

    customer: str
    tier: str
    set_at: datetime
    set_by: str


class _AlertFields(TypedDict):
    key: str  # one alert per key, ever (kinko.domain.watch.alert_key)
    kind: AlertKind
    severity: str  # critical, high, warning
    chain_state: str | None  # pending, mined, final, retracted, dropped
    asset: str | None
    wallet: str | None
    tx_hash: str | None
    amount: int | None  # minor units
    block: int | None
    detail: Message
    incident: str | None
    raised: datetime


class NewAlert(_AlertFields):
    """An alert to record (``WatchTables.put_alert`` gives it its id)."""

    state: AlertState


class AlertRow(NewAlert):
    """An alert as the store keeps it (written by ``WatchTables.put_alert``, or by the
    co-signer straight into the table)."""

    id: str
    acked_by: str | None
    acked: datetime | None


class AlertChange(TypedDict, total=False):
    """What ``WatchTables.update_alert`` may change of an alert: what a block, a reorg or
    a finding taught, its incident, its acknowledgement."""

    kind: AlertKind
    state: AlertState
    chain_state: str | None
    asset: str | None
    wallet: str | None
    amount: int | None
    block: int | None
    detail: Message
    incident: str | None
    acked_by: str | None
    acked: datetime | None


class AlertNotice(_AlertFields):
    """An alert as a :class:`Notifier` is told it when it is raised (the fields a
    webhook receives, docs/formats.md)."""

    id: str


class NewIncident(TypedDict):
    """An incident to open (``WatchTables.put_incident`` gives it its id)."""

    state: IncidentState
    title: Message
    asset: str | None
    wallet: str | None
    opened: datetime
    closed: datetime | None


class IncidentRow(NewIncident):
    """An incident as the store keeps it."""

    id: str


class IncidentChange(TypedDict, total=False):
    """What ``WatchTables.update_incident`` may change: its state, when it closed."""

    state: IncidentState
    closed: datetime | None


class TimelineRow(TypedDict):
    """One entry of an incident's timeline."""

    id: int
    incident: str
    at: datetime
    kind: str  # opened, alert, breaker, sweep, note, notice, state, loss, ...
    actor: str
    detail: Message


class BreakerEventRow(TypedDict):
    """A trip or reset of the circuit breaker."""

    id: int
    scope: str  # an asset, or * for every asset
    event: str  # trip, reset
    at: datetime
    at_us: int
    by: str
    reason: Message


class AuditRow(TypedDict):
    """A record of the hash-chained audit log (``AccessTables.put_audit`` writes one
    whole, its hashes made by the caller)."""

    seq: int
    at: datetime
    actor: str
    action: str
    target: str
    detail: str  # JSON
    prev_hash: str
    hash: str


class RequestMarks(NamedTuple):
    """What one withdrawal request's screening reads of the tables that any writer may
    change, read in one statement: the values themselves where they are small, else marks
    that move whenever what they stand for changes (``ScreeningTables.request_marks``)."""

    exists: bool  # a withdrawal has this id already
    customer_known: bool  # the customer has a balance of the asset
    tier: str | None  # the customer's recorded tier (None: never set)
    allow: tuple[int, int]  # the customer's allow list: entries and their summed times
    history: tuple[int, int]  # the customer's withdrawals: all of them, and those counted
    hot: BalanceState | None  # the paying wallet's balance of the asset (None: no row)
    # the customer withdrew to the request's destination before (a withdrawal screening
    # counts); read by the customer and that address, whatever else the customer used
    destination_known: bool = False


class ApiKeyRow(TypedDict):
    """An API key as the store keeps it: the secret only as its SHA-256; times in
    microseconds since the epoch, as stored."""

    id: str
    name: str
    role: str
    secret_hash: str
    created_us: int
    revoked_us: int | None


class SessionRow(TypedDict):
    """A dashboard sign-in: the token only as its SHA-256."""

    id_hash: str
    key_id: str
    csrf: str
    created: datetime
    expires: datetime
    ended: datetime | None


class OwnerSignatureRow(TypedDict):
    """A multisig owner's signature of a proposal's transaction, made offline."""

    owner: str
    digest: str  # what was signed (a SafeTx hash)
    signature: str
    signed_at: datetime


class DepositRow(TypedDict):
    """A deposit credited (or frozen, or reverted by a reorganisation)."""

    id: str  # chain:tx_hash:index:block_hash
    chain: str
    block: int
    block_hash: str
    tx_hash: str
    address: str
    customer: str
    asset: str
    amount: int  # minor units
    state: str  # credited, frozen, reverted


class HeartbeatRow(TypedDict):
    """The watch's last round on one chain."""

    chain: str
    round: datetime  # the last round's end
    started: datetime  # when this watch process began
    rounds: int
    last_block: int | None
    node_head: int | None
    interval_ms: int


class ObservationChange(TypedDict, total=False):
    """What ``WatchTables.update_observation`` may change: where the transfer stands."""

    status: str  # pending, mined, final, retracted
    block: int | None
    block_hash: str | None
    match_ref: str | None
    updated: datetime


class ObservationRow(TypedDict):
    """A transfer touching a watched wallet, as the watch saw it."""

    id: str  # chain:tx_hash:log_index (-1: native), ":in" for an inflow
    chain: str
    tx_hash: str
    direction: str  # out, in
    wallet: str
    asset: str
    sender: str
    receiver: str | None
    amount: int  # minor units
    nonce: int
    block: int | None  # None while pending or after a reorg
    block_hash: str | None
    status: str  # pending, mined, final, retracted
    match_ref: str | None  # withdrawal:<id> / proposal:<id>
    first_seen: datetime
    updated: datetime


class SignedMove(TypedDict):
    """What kinko signed for an approved movement, recorded before its broadcast."""

    ref: str  # withdrawal:<id> / proposal:<id>
    chain: str
    sender: str
    nonce: int | None  # the sender's nonce it takes (EVM)
    tx_hash: str
    safe: str | None  # a Safe's execution: the Safe,
    safe_tx_hash: str | None  # its SafeTx hash (lower case)
    safe_nonce: int | None  # and the Safe's nonce it takes
    signed: datetime


class NotificationRow(TypedDict):
    """One alert in the webhook outbox."""

    id: int
    alert: str
    body: str  # the JSON POSTed
    state: str  # queued, sent, failed
    attempts: int
    next: datetime  # not before
    last_error: str | None


class NotificationChange(TypedDict, total=False):
    """What ``WatchTables.update_notification`` may change: the delivery's progress."""

    state: str
    attempts: int
    next: datetime
    last_error: str | None


class SampleRow(TypedDict):
    """A hot wallet's balance at one block (the balance-drop rule's window)."""

    wallet: str
    block: int
    ts: int  # the block's timestamp (seconds)
    balance: int  # minor units


class ArtifactRow(TypedDict):
    """A folder of files kinko wrote (a trace, a refund plan, a snapshot, a report)."""

    id: str
    kind: str  # trace, refunds, reserves, fsa
    incident: str | None
    title: Message
    folder: str
    state: str  # running, done, failed
    created: datetime
    created_by: str
    detail: str  # JSON


class ArtifactChange(TypedDict, total=False):
    """What ``WatchTables.update_artifact`` may change: how the job ended."""

    state: str
    detail: str  # JSON


class CosignAlertRow(TypedDict):
    """One alert of the co-signer's outbox, for one sink."""

    id: int
    record: int  # the decision record it tells of
    sink: str
    reason: str
    body: str  # JSON
    state: str  # queued, sent
    attempts: int
    queued_us: int
    next_us: int
    last_error: str | None


class CosignAlertChange(TypedDict, total=False):
    """What ``CosignTables.update_alert`` may change: the delivery's progress."""

    state: str
    attempts: int
    next: datetime
    last_error: str | None


class ScreeningTables(Protocol):
    """Withdrawals and their decisions, allow and deny lists, the breaker's log."""

    def put_withdrawal(self, row: WithdrawalRow) -> None: ...
    def withdrawal(self, withdrawal_id: str) -> WithdrawalRow | None: ...
    def withdrawals(self, state: WithdrawalState | None = None, customer: str | None = None,
                    limit: int = 1000) -> list[WithdrawalRow]: ...
    def withdrawal_page(self, *, state: WithdrawalState | None = None,
                        customer: str | None = None,
                        asset: str | None = None, before: tuple[int, str] | None = None,
                        limit: int = 50) -> list[WithdrawalRow]: ...
    def approval_counts(self, proposal_ids: list[str]) -> dict[str, int]: ...
    def withdrawal_counts(self) -> dict[str, int]: ...
    def open_withdrawals(self, wallet: str, states: tuple[WithdrawalState, ...]
                         ) -> list[WithdrawalRow]: ...
    def withdrawals_for_watch(self, tx_hashes: list[str]) -> list[WithdrawalRow]: ...
    def set_state(self, withdrawal_id: str, old: tuple[WithdrawalState, ...],
                  new: WithdrawalState, tx_hash: str | None = None) -> bool: ...
    def customer_amounts(self, customer: str, asset: str, limit: int = 200
                         ) -> tuple[list[int], int | None]: ...
    def window_sums(self, customer: str, destination: str, asset: str, until: datetime,
                    windows: Collection[tuple[str, timedelta]]
                    ) -> dict[tuple[str, timedelta], tuple[int, int]]: ...
    def request_marks(self, withdrawal_id: str, customer: str, asset: str,
                      hot_account: str,
                      sums: tuple[str, datetime, Collection[tuple[str, timedelta]]] | None
                      = None, also: ReadAhead | None = None, destination: str = ""
                      ) -> RequestMarks: ...
    def request_inputs(self, withdrawal_id: str, customer: str, asset: str, hot_account: str,
                       destination: str = ""
                       ) -> tuple[RequestMarks, dict[str, datetime], list[int], int | None]: ...
    def customer_tier(self, customer: str) -> TierRow | None: ...
    def set_tiers(self, tiers: dict[str, str], at: datetime, by: str) -> None: ...
    def allow(self, customer: str, address: str, at: datetime) -> None: ...
    def allowed(self, customer: str) -> dict[str, datetime]: ...
    def put_labels(self, list_name: str, labels: list[tuple[str, Label]],
                   kind: str = "deny") -> int: ...
    def tag_map(self) -> dict[str, tuple[Label, ...]]: ...
    def deny_count(self) -> int: ...
    def deny_map(self) -> dict[str, Label]: ...
    def breaker_event(self, scope: str, event: str, at: datetime, by: str,
                      reason: Message) -> None: ...
    def breaker_events(self) -> list[BreakerEventRow]: ...
    def tripped(self) -> dict[str, BreakerEventRow]: ...


class AccessTables(Protocol):
    """API keys (hashed), the audit log and the dashboard's sessions (hashed)."""

    def put_key(self, key_id: str, name: str, role: str, secret_hash: str,
                at: datetime) -> None: ...
    def key(self, key_id: str) -> ApiKeyRow | None: ...
    def api_keys(self) -> list[ApiKeyRow]: ...
    def revoke(self, key_id: str, at: datetime) -> bool: ...
    def audit_head(self) -> tuple[int, str]: ...
    def put_audit(self, row: AuditRow) -> None: ...
    def audit(self, after: int = 0, limit: int = 1000, action: str = ""
              ) -> list[AuditRow]: ...
    def put_session(self, id_hash: str, key_id: str, csrf: str, at: datetime,
                    expires: datetime) -> None: ...
    def session(self, id_hash: str) -> SessionRow | None: ...
    def end_session(self, id_hash: str, at: datetime) -> bool: ...
    def forget_sessions(self, before: datetime) -> int: ...


class WatchTables(Protocol):
    """The watch's checkpoint, observations, alerts, incidents, outbox and samples."""

    def last_block(self, chain: str) -> int | None: ...
    def block_hash(self, chain: str, number: int) -> str | None: ...
    def put_blocks(self, chain: str, blocks: list[SeenBlock]) -> None: ...
    def block_time(self, chain: str, number: int) -> int | None: ...
    def beat(self, chain: str, at: datetime, *, started: datetime, last_block: int | None,
             node_head: int | None, interval_ms: int) -> None: ...
    def heartbeats(self) -> list[HeartbeatRow]: ...
    def forget_blocks_after(self, chain: str, number: int) -> None: ...
    def observation(self, obs_id: str) -> ObservationRow | None: ...
    def put_observation(self, row: ObservationRow) -> None: ...
    def update_observation(self, obs_id: str, **values: Unpack[ObservationChange]) -> None: ...
    def observations(self, chain: str, *, status: tuple[str, ...] | None = None,
                     above: int | None = None) -> list[ObservationRow]: ...
    def wallet_flows(self, wallet: str, after_block: int, to_block: int
                     ) -> list[ObservationRow]: ...
    def consumed(self, refs: list[str]) -> dict[str, str]: ...  # ref -> tx that used it
    def put_signed(self, row: SignedMove) -> None: ...  # what kinko signed for a ref
    def signed(self, refs: list[str]) -> dict[str, SignedMove]: ...
    def signed_safe_txs(self, safe_tx_hashes: list[str]) -> dict[str, SignedMove]: ...
    def chain_alerts(self, chain: str, chain_states: tuple[str, ...]
                     ) -> list[AlertRow]: ...
    def alert_by_key(self, key: str) -> AlertRow | None: ...
    def alert(self, alert_id: str) -> AlertRow | None: ...
    def alerts(self, *, state: AlertState | None = None, kind: AlertKind | None = None,
               wallet: str | None = None, incident: str | None = None,
               limit: int | None = 1000, newest_first: bool = False,
               offset: int = 0) -> list[AlertRow]: ...
    def put_alert(self, row: NewAlert) -> str: ...
    def update_alert(self, alert_id: str, **values: Unpack[AlertChange]) -> None: ...
    def put_incident(self, row: NewIncident) -> str: ...
    def incident(self, incident_id: str) -> IncidentRow | None: ...
    def incidents(self, state: IncidentState | None = None) -> list[IncidentRow]: ...
    def update_incident(self, incident_id: str, **values: Unpack[IncidentChange]) -> None: ...
    def add_event(self, incident: str, at: datetime, kind: str, actor: str,
                  detail: Message) -> None: ...
    def events(self, incident: str) -> list[TimelineRow]: ...
    def queue_notification(self, alert: str, body: str, at: datetime) -> None: ...
    def due_notifications(self, now: datetime, limit: int = 50) -> list[NotificationRow]: ...
    def notifications(self) -> list[NotificationRow]: ...
    def update_notification(self, notification_id: int,
                            **values: Unpack[NotificationChange]) -> None: ...
    def put_sample(self, wallet: str, block: int, ts: int, balance: int) -> None: ...
    def samples(self, wallet: str, since_ts: int) -> list[SampleRow]: ...
    def forget_samples_after(self, wallets: list[str], block: int) -> None: ...
    def put_artifact(self, row: ArtifactRow) -> None: ...
    def update_artifact(self, artifact_id: str, **values: Unpack[ArtifactChange]) -> None: ...
    def artifact(self, artifact_id: str) -> ArtifactRow | None: ...
    def artifacts(self, kind: str | None = None, incident: str | None = None,
                  limit: int = 200) -> list[ArtifactRow]: ...
    def change_stamp(self) -> tuple[int, ...]: ...
    def count_alerts(self, state: str | None = None) -> int: ...


class Notifier(Protocol):
    """Where an alert is told: a log, the operator's terminal, a webhook."""

    def notify(self, alert: AlertNotice) -> None: ...


class Prices(Protocol):
    """Reference prices in JPY per whole unit (a price feed is outside kinko)."""

    def price(self, asset: str) -> Decimal | None: ...


class Unit(Protocol):
    """One open transaction and every table group on it (see :meth:`Store.unit`)."""

    @property
    def write(self) -> bool: ...
    @property
    def ledger(self) -> LedgerWriter: ...
    @property
    def screening(self) -> ScreeningTables: ...
    @property
    def custody(self) -> CustodyTables: ...
    @property
    def deposits(self) -> DepositTables: ...
    @property
    def access(self) -> AccessTables: ...
    @property
    def watch(self) -> WatchTables: ...
    def savepoint(self) -> AbstractContextManager[None]: ...
    # what a write unit hands on to the later write units of its transaction (the group
    # commit's batch of several requests' units): kept while every unit before has gone
    # through, emptied when one is undone; a read unit's is its own
    @property
    def handed_on(self) -> dict[tuple[str, ...], object]: ...


class UnitError(RuntimeError):
    """A unit of work used against its rules (a write inside a read unit, a broadcast
    inside a unit): a bug in kinko, not the caller's input, so not a ``KinkoError``."""


class WouldBlock(RuntimeError):
    """Raised inside ``Store.loop_only()`` where the store would have to read the database,
    and by ``Store.on_loop`` where the work would wait on the loop: the caller runs the same
    work again in a worker thread (control flow, never an answer)."""


T = TypeVar("T")


class Store(Protocol):
    # snapshot=False: a read whose statements each stand alone (checked again under the
    # writers' lock): no shared snapshot, on PostgreSQL no transaction
    def unit(self, *, write: bool = True, snapshot: bool = True
             ) -> AbstractContextManager[Unit]: ...
    def current(self) -> Unit | None: ...
    # read-mostly tables cached per process, read again when their stamp moved
    def stamps(self) -> dict[str, int]: ...
    def cached(self, table: str, load: Callable[[Unit], T], part: str = "") -> T: ...
    def group_commit(self) -> dict[str, int]: ...  # batches, units, largest, on_loop
    def one_request(self) -> AbstractContextManager[None]: ...  # stamps read once for it
    async def request_stamps(self) -> None: ...  # ... without holding the event loop
    def loop_only(self) -> AbstractContextManager[None]: ...  # no database: WouldBlock
    # work that may write, on the event loop (else WouldBlock): returns once it is durable
    async def on_loop(self, work: Callable[[], T]) -> T: ...
    def when_durable(self, then: Callable[[], None]) -> None: ...  # now, or at its commit
    def writer(self) -> AbstractContextManager[LedgerWriter]: ...
    def reader(self) -> AbstractContextManager[LedgerReader]: ...
    def custody(self, *, write: bool = True
                ) -> AbstractContextManager[tuple[LedgerWriter, CustodyTables]]: ...
    def deposits(self, *, write: bool = True) -> AbstractContextManager[DepositTables]: ...
    def screening(self, *, write: bool = True) -> AbstractContextManager[ScreeningTables]: ...
    def access(self, *, write: bool = True) -> AbstractContextManager[AccessTables]: ...
    def watch(self, *, write: bool = True) -> AbstractContextManager[WatchTables]: ...
    def close(self) -> None: ...


# ---------------------------------------------------------------------- the co-signer


class DigestSigner(Protocol):
    """A key that signs 32-byte digests: ``r ‖ s ‖ v`` (65 bytes, ``v`` 27/28).
    :class:`~kinko.chains.keystore.KeystoreSigner` and :class:`~kinko.chains.hsm.HsmSigner`
    are ones."""

    address: str

    def sign_digest(self, digest: bytes) -> bytes: ...


@dataclass(frozen=True)
class CoSignature:
    """The co-signer's signature of one SafeTx for one request of kinko's."""

    request: str  # withdrawal:<id> / proposal:<id>
    safe_tx_hash: bytes
    signer: str  # the co-signer's address: an owner of the Safe
    signature: bytes  # 65 bytes r ‖ s ‖ v over safe_tx_hash
    record: int  # the co-signer's decision record
    repeated: bool = False  # the signature it gave this request before


class Cosigner(Protocol):
    """The policy co-signer, asked for a Safe's second signature: it signs ``tx`` only if
    it pays exactly what kinko approved for withdrawal or proposal ``request_id`` (``kind``
    ``withdrawal`` or ``proposal``), else :class:`~kinko.errors.CosignRefused` with its
    reason; :class:`~kinko.errors.CosignerUnavailable` when it cannot be asked."""

    def cosign(self, kind: str, request_id: str, tx: SafeTx) -> CoSignature: ...


@dataclass(frozen=True)
class NemCoSignature:
    """The co-signer's cosignature of one NEM multisig transfer for one request of kinko's:
    a signed cosignature transaction as NIS1 announces it (``data``, ``signature``: hex)."""

    request: str  # withdrawal:<id> / proposal:<id>
    inner_hash: str  # the transfer's hash (lower-case hex) the cosignature names
    signer: str  # the co-signer's NEM address: a cosignatory of the account
    data: str
    signature: str
    record: int  # the co-signer's decision record
    repeated: bool = False


class NemCosigner(Protocol):
    """The policy co-signer as a cosignatory of a NEM multisig account: it cosigns the
    transfer whose bytes are ``transfer`` (hex) only if it pays exactly what kinko approved
    for ``request_id`` (see :class:`Cosigner`), else :class:`~kinko.errors.CosignRefused`."""

    def cosign_nem(self, kind: str, request_id: str, chain: str,
                   transfer: str) -> NemCoSignature: ...


class NemCosignKey(Protocol):
    """The co-signer's NEM key: ``cosign`` signs a cosignature of the transfer with hash
    ``inner_hash`` from ``account`` (time stamp and deadline in NEM network seconds) and
    returns NIS1's (``data``, ``signature``), hex."""

    address: str
    chain: str

    def cosign(self, inner_hash: str, account: str, timestamp: int,
               deadline: int) -> tuple[str, str]: ...


class NemAccountReader(Protocol):
    """The co-signer's read of a NEM multisig account on chain: (minimum of
    cosignatories, their addresses); :class:`~kinko.errors.ChainUnavailable` when the node
    does not answer."""

    def multisig(self, address: str) -> tuple[int, tuple[str, ...]]: ...


class MemoryCosigner:
    """A co-signer in memory for tests of what asks one: it signs with ``signer`` whatever
    ``allow`` accepts (``allow(kind, id, tx)`` returns None, or a refusal's reason code),
    exactly once per request like the real one: the same request and SafeTx get the same
    signature again; another SafeTx for a request it signed, or a second SafeTx for a Safe
    nonce it signed, is refused. Every answer is kept in ``decisions``."""

    def __init__(self, signer: DigestSigner,
                 allow: Any = None) -> None:  # Callable[[str, str, SafeTx], str | None]
        self.signer = signer
        self.allow = allow or (lambda _kind, _id, _tx: None)
        self.decisions: list[tuple[str, str, str]] = []  # request, outcome, reason
        self._signed: dict[str, tuple[SafeTx, CoSignature]] = {}
        self._nonces: dict[tuple[str, int, int], str] = {}

    def cosign(self, kind: str, request_id: str, tx: SafeTx) -> CoSignature:
        key = f"{kind}:{request_id}"
        earlier = self._signed.get(key)
        if earlier is not None:
            if earlier[0].hash != tx.hash:
                raise self._refuse(key, "already_signed", f"{key} was co-signed for "
                                   f"another SafeTx (0x{earlier[0].hash.hex()})")
            self.decisions.append((key, "repeated", ""))
            return CoSignature(key, tx.hash, earlier[1].signer, earlier[1].signature,
                               len(self.decisions), repeated=True)
        slot = (tx.safe.lower(), tx.chain_id, tx.nonce)
        if slot in self._nonces:
            raise self._refuse(key, "nonce_used", f"nonce {tx.nonce} of Safe {tx.safe} was "
                               f"co-signed for {self._nonces[slot]}")
        reason = self.allow(kind, request_id, tx)
        if reason is not None:
            raise self._refuse(key, str(reason), f"{key} refused by the test's rule")
        signature = self.signer.sign_digest(tx.hash)
        if recover_owner(tx.hash, signature) != self.signer.address:
            raise AssertionError("the double's signer does not sign as its address")
        self.decisions.append((key, "signed", ""))
        answer = CoSignature(key, tx.hash, self.signer.address, signature,
                             len(self.decisions))
        self._signed[key] = (tx, answer)
        self._nonces[slot] = key
        return answer

    def _refuse(self, key: str, reason: str, message: str) -> Exception:
        self.decisions.append((key, "refused", reason))
        return refuse(reason, message, record=len(self.decisions))


class KinkoView(Protocol):
    """The co-signer's read of kinko's database: every fact one request needs, in one
    consistent snapshot. :class:`~kinko.errors.StoreUnavailable` when it cannot read."""

    def facts(self, request: CosignRequest) -> KinkoFacts: ...


class SafeReader(Protocol):
    """The co-signer's read of the chain. :class:`~kinko.errors.ChainUnavailable` when
    the node does not answer; :class:`~kinko.errors.ChainRejected` for no Safe there."""

    def chain_id(self) -> int: ...
    def safe_state(self, address: str) -> SafeState: ...


class CosignTables(Protocol):
    """The co-signer's own database inside one transaction."""

    def head(self) -> tuple[int, str]: ...
    def signed(self, request: str) -> Decision | None: ...
    def signed_at(self, safe: str, chain_id: int, nonce: int) -> Decision | None: ...
    def used(self, safe: str, asset: str, since: datetime) -> int: ...
    def append(self, decision: Decision) -> None: ...
    def queue_alert(self, record: int, sinks: Sequence[str], body: str,
                    at: datetime) -> None: ...
    def last_alert(self, reason: str) -> datetime | None: ...
    def records(self, after: int = 0, limit: int | None = None) -> list[Decision]: ...
    def signed_rows(self) -> list[SignedRow]: ...
    def due_alerts(self, now: datetime, limit: int = 50) -> list[CosignAlertRow]: ...
    def update_alert(self, alert_id: int, **values: Unpack[CosignAlertChange]) -> None: ...


class CosignLog(Protocol):
    """The co-signer's own database: ``transaction()`` is exclusive (one decision at a
    time, across processes) and durable on commit (synced to disk)."""

    def transaction(self, *, write: bool = True) -> AbstractContextManager[CosignTables]: ...


class AlertSink(Protocol):
    """Where the co-signer tells a refusal: kinko's alerts table, a webhook. ``deliver``
    raises on failure (the alert stays queued and is tried again)."""

    name: str

    def deliver(self, alert: Mapping[str, Any]) -> None: ...
