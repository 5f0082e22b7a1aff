"""The ledger use cases: append entries, open and resolve holds, read balances, verify.

Every append runs in one exclusive store transaction: expire due holds, look up the
idempotency keys, check the postings with the pure domain against the balances read in that
same transaction, seal each entry into the hash chain, persist. Either the whole batch is
written or nothing is::

    ledger = Ledger(store, SystemClock(), AssetRegistry.default())
    ledger.post("dep-1", [Posting("wallet:xem-hot", "XEM", 5_000000),
                          Posting("customer:C1", "XEM", -5_000000)], source="tx:0xabc")

The same idempotency key with the same content returns the first entry and writes nothing;
with other content it is refused (:class:`IdempotencyConflict`). The request's time is not
part of that comparison, so a client may simply retry.

A batch of plain transfers under new keys (deposits credited, an import) is checked and
sealed in one lean pass per entry (:class:`~kinko.domain.ledger.TransferSealer`); any other
batch, or one that pass would refuse, goes the general way, which writes the same rows and
refuses with the same error it always has.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import NamedTuple, overload

from kinko.domain.addresses import canonical_address, chain_key
from kinko.domain.custody import Wallet
from kinko.domain.ledger import (
    BalanceKey,
    BalanceState,
    ChainVerifier,
    Entry,
    EntryKind,
    Finding,
    Hold,
    KnownLegs,
    Posting,
    SealedTransfers,
    StateValues,
    TransferSealer,
    apply_entry,
    chain_hash,
    check_balance_size,
    check_hold,
    check_postings,
    entry_content,
    entry_digest,
    find_overdrafts,
    format_timestamp,
    normal_balance,
    parse_account,
    raise_overdrafts,
)
from kinko.domain.messages import N_, Time, msg
from kinko.domain.money import DEFAULT_ASSETS, AssetRegistry
from kinko.errors import (
    BadInput,
    ConfigError,
    HoldError,
    IdempotencyConflict,
    InvalidAccount,
    InvalidEntry,
    StoredValueInvalid,
)
from kinko.ports import BalanceRow, Clock, LedgerWriter, ReadAhead, Store
from kinko.services.access import Access

__all__ = ["Appended", "Draft", "KnownBalances", "Ledger", "VerifyReport", "no_cyclic_gc"]

MAX_KEY = 200


class Draft(NamedTuple):
    """What a client asks the ledger to append (before it has a place in the chain)."""

    key: str
    kind: EntryKind = "transfer"
    postings: tuple[Posting, ...] = ()
    hold: Hold | None = None  # the new hold, for kind "hold"
    hold_id: str | None = None  # the hold to resolve, for "post" and "void"
    amount: int | None = None  # partial post; default: the whole hold
    source: str = ""
    memo: str = ""
    timestamp: datetime | None = None
    new_customers_only: bool = False  # opening balances: refuse existing customer balances


class Appended(NamedTuple):
    entry: Entry
    replayed: bool  # True when the key was seen before and nothing was written


@dataclass(frozen=True)
class VerifyReport:
    entries: int
    head: tuple[int, str]
    balances: int
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings


class Ledger:
    """Ledger use cases over a :class:`~kinko.ports.Store`."""

    def __init__(self, store: Store, clock: Clock, assets: AssetRegistry) -> None:
        self.store = store
        self.clock = clock
        self.assets = assets
        # the legs batches of transfers checked, for the assets they were checked against
        self._known: tuple[AssetRegistry, KnownLegs] = (assets, KnownLegs())
        self.balances_written = KnownBalances()

    def known_legs(self) -> KnownLegs:
        """The legs earlier batches checked (see :class:`TransferSealer`), for these assets."""
        assets, known = self._known
        if assets is not self.assets:
            known = KnownLegs()
            self._known = (self.assets, known)
        return known

    # ---------------------------------------------------------------- appending

    def post(self, key: str, postings: Iterable[Posting], *, source: str, memo: str = "",
             timestamp: datetime | None = None) -> Appended:
        """Append one balanced entry (a transfer)."""
        return self.append([Draft(key, "transfer", tuple(postings), source=source, memo=memo,
                                  timestamp=timestamp)])[0]

    def open_hold(self, key: str, hold: Hold, *, source: str, memo: str = "") -> Appended:
        """Reserve ``hold.amount`` on both accounts without moving it."""
        return self.append([Draft(key, "hold", hold=hold, source=source, memo=memo)])[0]

    def post_hold(self, key: str, hold_id: str, amount: int | None = None, *, source: str,
                  memo: str = "") -> Appended:
        """Resolve a hold by moving ``amount`` (default all); the rest is released."""
        return self.append([Draft(key, "post", hold_id=hold_id, amount=amount, source=source,
                                  memo=memo)])[0]

    def void_hold(self, key: str, hold_id: str, *, source: str, memo: str = "") -> Appended:
        """Resolve a hold by releasing it; nothing moves."""
        return self.append([Draft(key, "void", hold_id=hold_id, source=source, memo=memo)])[0]

    def expire_holds(self) -> list[Entry]:
        """Resolve every hold whose expiry has passed (also done before every append)."""
        with self.store.writer() as tx:
            return self._expire(tx, self.clock.now())

    def append(self, drafts: Sequence[Draft]) -> Sequence[Appended]:
        """Append a batch atomically: all of it is written, or (on any error) none of it.
        What was appended, in the drafts' order."""
        now = self.clock.now()
        postings = sum(len(d.postings) for d in drafts)
        with no_cyclic_gc(len(drafts) > 100 or postings > 1000), self.store.writer() as tx:
            if len(drafts) <= 8 and postings <= 64:  # a request's few entries: their reads
                # in one round trip (not an import's entry of thousands of postings)
                tx.prefetch(*_reads(drafts))
            self._expire(tx, now)
            return _Batch(self, tx, now).run(drafts)

    def read_ahead_hold(self, key: str, hold: Hold) -> ReadAhead | None:
        """What opening ``hold`` under ``key`` (:meth:`open_hold`) reads before it writes,
        for another statement of the open write unit to carry (then the append reads
        nothing itself: one round trip less under the writers' lock)."""
        with self.store.writer() as tx:
            return tx.read_ahead(*_reads([Draft(key, "hold", hold=hold)]))

    def _expire(self, tx: LedgerWriter, now: datetime) -> list[Entry]:
        due = tx.due_holds(now)
        if not due:
            return []
        drafts = [
            Draft(f"expire:{h.id}", "expire", hold_id=h.id, source="kinko:expiry",
                  memo=f"expired at {format_timestamp(h.expires_at)}" if h.expires_at else "")
            for h in due
        ]
        return [a.entry for a in _Batch(self, tx, now).run(drafts)]

    # ---------------------------------------------------------------- wallets

    def add_wallet(self, wallet: Wallet, *, actor: str = "") -> Wallet:
        """Register (or update the addresses of) an exchange wallet; its addresses are
        kept in their chain's canonical form (an invalid one is refused, naming it). With
        ``actor``, the registration is in the audit log (``wallet.add``: the wallet's asset,
        tier, kind and addresses, and its multisig's owners and threshold), in the same unit.

        An address belongs to one wallet of an asset, once: an address given twice (in any
        spelling) or already registered to another wallet of the asset is refused, so the
        proof of reserves can never count one balance twice. The same address in wallets of
        two assets (a coin and a token on one chain) is one key holding both, and allowed.
        """
        chain = self.assets[wallet.asset].chain
        canonical = tuple(canonical_address(a, chain) for a in wallet.addresses)
        _refuse_repeated(wallet.name, wallet.addresses, canonical)
        multisig = wallet.multisig
        if multisig is not None:  # owners and contracts in canonical form too
            multisig = replace(
                multisig, owners=tuple(canonical_address(o, chain) for o in multisig.owners),
                contracts=tuple((role, canonical_address(a, chain))
                                for role, a in multisig.contracts),
                operator=None if multisig.operator is None
                else canonical_address(multisig.operator, chain),
                cosigner=None if multisig.cosigner is None
                else canonical_address(multisig.cosigner, chain))
        wallet = replace(wallet, addresses=canonical, multisig=multisig)
        with self.store.writer() as tx:
            registered = tx.wallets()
            _refuse_shared_addresses(wallet, registered, chain)
            existing = {w.name: w for w in registered}.get(wallet.name)
            if existing is not None and (existing.asset, existing.tier) != (wallet.asset,
                                                                           wallet.tier):
                held = tx.states([(wallet.account, existing.asset)])
                if any(st != BalanceState() for st in held.values()):
                    raise InvalidAccount(
                        f"wallet {wallet.name} already holds {existing.asset} as a "
                        f"{existing.tier} wallet; its asset or tier cannot change while it has "
                        "a balance",
                        wallet=wallet.name,
                        says=msg("error.ledger.wallet_fixed", wallet=wallet.name[:200],
                                 asset=existing.asset, tier=msg(f"tier.{existing.tier}")),
                    )
            tx.put_wallet(wallet)
            if actor:
                detail: dict[str, object] = {
                    "asset": wallet.asset, "tier": wallet.tier, "kind": wallet.kind,
                    "addresses": list(wallet.addresses),
                    "replaces": list(existing.addresses) if existing is not None else None}
                if multisig is not None:
                    detail.update(owners=list(multisig.owners), threshold=multisig.threshold)
                Access(self.store, self.clock).audit(actor, "wallet.add", wallet.name, detail)
        return wallet

    def wallets(self) -> list[Wallet]:
        """The registered wallets (read again when any process changes one)."""
        return list(self.store.cached("wallets", lambda u: tuple(u.ledger.wallets())))

    def sync_assets(self) -> AssetRegistry:
        """Record newly configured assets and learn the recorded ones.

        An asset's chain, decimals and token never change once recorded (amounts already in
        the ledger would change meaning); an asset recorded earlier but no longer configured
        stays known, so its balances can still be shown; a shipped default the database
        recorded differently yields to the record.
        """
        with self.store.reader() as tx:
            recorded = {a.symbol: a for a in tx.assets()}
        shipped = set(DEFAULT_ASSETS)
        for asset in self.assets.values():
            old = recorded.get(asset.symbol)
            if old is not None and old != asset and asset not in shipped:
                raise ConfigError(
                    f"asset {asset.symbol} is recorded as {old.chain} with {old.decimals} "
                    f"decimals (token {old.token or '-'}) but configured as {asset.chain} with "
                    f"{asset.decimals} (token {asset.token or '-'}); amounts already in the "
                    "ledger would change meaning",
                    asset=asset.symbol,
                    says=msg("error.ledger.asset_redefined", asset=asset.symbol,
                             chain=old.chain, decimals=old.decimals, token=old.token or "-",
                             new_chain=asset.chain, new_decimals=asset.decimals,
                             new_token=asset.token or "-"),
                )
        new = [a for a in self.assets.values() if a.symbol not in recorded]
        if new:
            with self.store.writer() as tx:
                tx.put_assets(new)
        # what the database recorded wins over a shipped default it redefined (the demo's
        # XEM is a token on its chain); an explicit setting that differs was refused above
        self.assets = AssetRegistry([*self.assets.values(), *recorded.values()])
        return self.assets

    # ---------------------------------------------------------------- reading

    def balances(self, *, account: str | None = None, kind: str | None = None,
                 asset: str | None = None, as_of_seq: int | None = None,
                 as_of_time: datetime | None = None, after: tuple[str, str] | None = None,
                 limit: int | None = None) -> list[BalanceRow]:
        """Balances now, or as of an earlier entry or time (posted amounts only then); now,
        a page of at most ``limit`` after the (account, asset) ``after``."""
        if asset is not None:
            self.assets[asset]
        if account is not None:
            parse_account(account)
        if (after is not None or limit is not None) and not (as_of_seq is None
                                                             and as_of_time is None):
            raise BadInput("balances as of an earlier entry or time are not paged",
                           says=msg("error.ledger.as_of_not_paged"))
        with self.store.reader() as tx:
            if as_of_seq is None and as_of_time is None:
                return list(tx.balances(account=account, kind=kind, asset=asset, after=after,
                                        limit=limit))
            return list(tx.balances_as_of(seq=as_of_seq, at=as_of_time, account=account,
                                          kind=kind, asset=asset))

    def debits(self, account: str) -> dict[str, int]:
        """Per asset, the total ever debited to ``account`` (minor units; assets with none
        left out): a loss account's losses as booked, before anything settled them."""
        parse_account(account)
        with self.store.reader() as tx:
            return tx.debits(account)

    def balance(self, account: str, asset: str, *, as_of_seq: int | None = None,
                as_of_time: datetime | None = None) -> int:
        """One account's balance with its natural sign (what a customer is owed ...)."""
        rows = self.balances(account=account, asset=asset, as_of_seq=as_of_seq,
                             as_of_time=as_of_time)
        return normal_balance(account, rows[0].state) if rows else 0

    def head(self) -> tuple[int, str]:
        with self.store.reader() as tx:
            return tx.head()

    def entries(self, after_seq: int = 0, limit: int | None = None) -> list[Entry]:
        with self.store.reader() as tx:
            return list(tx.entries(after_seq, limit))

    def pending_holds(self) -> list[Hold]:
        with self.store.reader() as tx:
            return tx.pending_holds()

    def hold(self, hold_id: str) -> tuple[Hold, str] | None:
        with self.store.reader() as tx:
            return tx.hold_state(hold_id)

    def stream(self) -> Iterator[Entry]:
        """Every entry in order, from one consistent read."""
        with self.store.reader() as tx:
            yield from tx.entries()

    # ---------------------------------------------------------------- verify

    def verify(self, progress: Callable[[int], None] | None = None,
               anchor: tuple[int, str] | None = None) -> VerifyReport:
        """Recompute the hash chain, the balances and the holds from the journal; given a
        head kept outside the database (``anchor``: sequence and hash), check that the
        journal still holds that entry with that hash (entries deleted from the end, with
        the balances rewritten to match, show only there)."""
        # the cyclic collector paused: the entries and balance states the verifier builds
        # form no cycles, and its full collections walking them again and again were a
        # fifth of the CPU of verifying 300,000 entries
        # a row holding what kinko never writes (SQLite keeps any UPDATE's text) is a
        # finding naming it, like an altered hash: the replay stops there
        with no_cyclic_gc(), self.store.reader() as tx:
            verifier = ChainVerifier()
            try:
                head: tuple[int, str] | None = tx.head()
            except StoredValueInvalid as exc:
                head, verifier.findings = None, [_unreadable(exc)]
            at_anchor: str | None = None
            try:
                for entry in tx.entries():
                    verifier.feed(entry)
                    if anchor is not None and entry.seq == anchor[0]:
                        at_anchor = entry.hash
                    if progress is not None and verifier.entries % 1000 == 0:
                        progress(verifier.entries)
            except StoredValueInvalid as exc:
                findings = [*verifier.findings, _unreadable(exc)]
                return VerifyReport(verifier.entries, head or verifier.end, 0, findings)
            try:
                stored: list[tuple[BalanceKey, BalanceState]] | None = [
                    ((r.account, r.asset), r.state) for r in tx.balances()]
            except StoredValueInvalid as exc:
                stored, verifier.findings = None, [*verifier.findings, _unreadable(exc)]
            pending = [h.id for h in tx.pending_holds()]
            findings = verifier.finish(head, stored, pending)
            if anchor is not None:
                findings = [*findings, *_anchor_findings(anchor, head or verifier.end,
                                                         at_anchor)]
            return VerifyReport(verifier.entries, head or verifier.end, len(stored or ()),
                                findings)


def _unreadable(exc: StoredValueInvalid) -> Finding:
    return Finding("unreadable", exc.message, exc.seq)


def _anchor_findings(anchor: tuple[int, str], head: tuple[int, str],
                     found: str | None) -> list[Finding]:
    seq, wanted = anchor
    if seq > head[0]:
        return [Finding("anchor_missing", f"entry {seq}, the anchored head, is missing: the "
                        f"journal ends at entry {head[0]}, so entries were deleted from its "
                        "end", seq)]
    if seq > 0 and found != wanted:  # seq 0: anchored while still empty
        return [Finding("anchor_rewritten", f"entry {seq} is not the anchored head "
                        f"{wanted[:16]}…: the journal was rewritten", seq)]
    return []


class _Written(Sequence[Appended]):
    """What a batch of transfers appended, each :class:`Appended` built from its draft when
    it is read: a caller that reads none of a large batch's builds none, and what is kept
    until then is the drafts and two texts (the entries' hashes and digests, 64 digits an
    entry), not thousands of records for the cyclic collector to scan."""

    def __init__(self, drafts: Sequence[Draft], now: datetime, head: tuple[int, str],
                 sealed: SealedTransfers) -> None:
        self._drafts = tuple(drafts)
        self._now = now
        self._head = head
        self._hashes, self._digests = sealed.hashes()

    def __len__(self) -> int:
        return len(self._drafts)

    @overload
    def __getitem__(self, index: int) -> Appended: ...

    @overload
    def __getitem__(self, index: slice) -> list[Appended]: ...

    def __getitem__(self, index: int | slice) -> Appended | list[Appended]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        d = self._drafts[index]
        at = index + len(self._drafts) if index < 0 else index
        seq, prev = self._head
        hashes = self._hashes
        return Appended(Entry(
            seq + 1 + at, "transfer", d.key, self._now if d.timestamp is None else d.timestamp,
            d.source, d.memo, d.postings, None,
            prev if at == 0 else hashes[64 * (at - 1):64 * at], hashes[64 * at:64 * (at + 1)],
            self._digests[64 * at:64 * (at + 1)]), False)

    def __eq__(self, other: object) -> bool:  # as a list of the same records is
        if isinstance(other, _Written | list):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # (as a list's)

    def __repr__(self) -> str:
        return repr(list(self))


class KnownBalances:
    """Balances as they stand at a ledger head this process's batches wrote, so that the
    next batch need not read them again.

    Balances are a function of the journal, and the head's hash commits to the whole
    journal (the chain): when a batch finds the head this one left, every balance here is
    still the stored one. Any other write (another process, the general way, a batch rolled
    back with its unit) leaves another head, and everything here is dropped. Balances not
    here are read from the store and kept. At most ``limit`` are kept: memory stays bounded.
    Used inside the writers' turn only (one batch at a time).

    Kept as texts and ints, which the cyclic collector never tracks: each balance by asset,
    then account, and apart the pending debit and credit of the few that have any (see
    :class:`TransferSealer`). A record per balance is an object the collector scans after
    the batch that made it and in every full collection after that; a dict keyed by
    (account, asset) tuples is tracked again by every batch that adds a new key tuple to
    it, and then scanned whole, a hundred thousand balances, by the next collection of the
    youngest objects."""

    def __init__(self, limit: int = 1 << 17) -> None:
        self.limit = limit
        self.head: tuple[int, str] | None = None
        self._balances: dict[str, dict[str, int]] = {}
        self._held: dict[BalanceKey, tuple[int, int]] = {}

    def at(self, head: tuple[int, str]) -> tuple[dict[str, dict[str, int]],
                                                 dict[BalanceKey, tuple[int, int]]]:
        """The stored balances kept at ``head``, the store's current head (none when the
        head is not the one kept), and the pending amounts of those that have any; the
        caller adds those it reads from the store (:meth:`add`)."""
        if head != self.head:
            self._balances = {}
            self._held = {}
            self.head = head
        return self._balances, self._held

    def add(self, states: Mapping[BalanceKey, StateValues]) -> None:
        """Keep ``states``, read from the store at the head kept."""
        held = self._held
        balances = self._balances
        for key, (balance, debit, credit) in states.items():
            of_asset = balances.get(key[1])
            if of_asset is None:
                of_asset = balances[key[1]] = {}
            of_asset[key[0]] = balance
            if debit or credit:
                held[key] = (debit, credit)
            else:
                held.pop(key, None)

    def moved(self, head: tuple[int, str], now: tuple[int, str],
              changed: Mapping[BalanceKey, int]) -> None:
        """A batch of transfers appended at ``head`` (as kept) took the ledger to ``now``,
        moving the balances ``changed`` (all it moved, or some: those left out are read
        from the store when a batch needs them) and nothing pending; the batch may yet roll
        back (then the store's head is not ``now``)."""
        balances = self._balances
        if head != self.head or sum(map(len, balances.values())) + len(changed) > self.limit:
            self._balances = {}
            self._held = {}
            self.head = None
            return
        for (account, asset), balance in changed.items():
            of_asset = balances.get(asset)
            if of_asset is None:
                of_asset = balances[asset] = {}
            of_asset[account] = balance
        self.head = now


@contextmanager
def no_cyclic_gc(pause: bool = True) -> Iterator[None]:
    """Pause the cyclic garbage collector around a large batch.

    A batch allocates hundreds of thousands of small immutable records (postings, balance
    states) that form no cycles; letting the collector rescan them repeatedly cost about a
    third of the time of a 260,000-customer import. Reference counting still frees them.
    """
    if not pause or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


class _Batch:
    """Check and seal a batch of drafts inside one open writer transaction."""

    def __init__(self, ledger: Ledger, tx: LedgerWriter, now: datetime) -> None:
        self.ledger = ledger
        self.tx = tx
        self.now = now
        self.stamp = format_timestamp(now)
        self._wallets: dict[str, Wallet] | None = None
        self._checked: set[BalanceKey] = set()  # legs already validated in this batch

    def wallet(self, name: str) -> Wallet | None:
        if self._wallets is None:
            self._wallets = {w.name: w for w in self.ledger.wallets()}
        return self._wallets.get(name)

    def run(self, drafts: Sequence[Draft]) -> Sequence[Appended]:
        if not drafts:
            return []
        for d in drafts:
            if not d.key or len(d.key) > MAX_KEY:
                raise InvalidEntry(f"idempotency key must be 1-{MAX_KEY} characters", key=d.key,
                                   says=msg("error.ledger.key_length", most=MAX_KEY))
        keys = {d.key for d in drafts}
        found = self.tx.entries_by_key(keys)
        if not found and len(keys) == len(drafts):
            sealed = self._transfers(drafts)
            if sealed is not None:
                return sealed
        return self._general(drafts, found)

    def _transfers(self, drafts: Sequence[Draft]) -> Sequence[Appended] | None:
        """The common batch (transfers under new keys) in one lean pass per entry; ``None``
        when a draft is anything else or is refused: the general way then does the batch,
        and refuses it exactly as it always has (see :class:`TransferSealer`)."""
        head = self.tx.head()
        known = self.ledger.balances_written
        kept, held = known.at(head)
        sealer = self._seal(drafts, kept, held, head)
        if sealer is None or sealer.absent:
            # balances the pass took for new ones may only not be kept: read them, and if
            # any is stored (or the pass refused an entry), seal the batch again with them
            if sealer is None:
                if any(d.kind != "transfer" or type(d.postings) is not tuple for d in drafts):
                    return None
                missing = {(p[0], p[1]) for d in drafts for p in d.postings
                           if p[0] not in kept.get(p[1], ())}
            else:
                missing = set(sealer.absent)
            found = self.tx.states(missing) if missing else {}
            if found:  # (none found: the same balances, the same pass)
                known.add(found)
                sealer = self._seal(drafts, kept, held, head)
            if sealer is None:
                return None
        self.tx.append_transfers(sealer.sealed, sealer.changed())
        # an opening balance names its customer once: kept, it would only crowd the others
        moved = sealer.balances
        keep = moved if not sealer.new_customers else {
            key: balance for key, balance in moved.items()
            if not key[0].startswith("customer:")}
        known.moved(head, (sealer.seq, sealer.prev), keep)
        return _Written(drafts, self.now, head, sealer.sealed)

    def _seal(self, drafts: Sequence[Draft], kept: Mapping[str, Mapping[str, int]],
              held: Mapping[BalanceKey, tuple[int, int]],
              head: tuple[int, str]) -> TransferSealer | None:
        """The batch sealed against the balances ``kept`` and their pending amounts
        ``held`` (those not kept taken for new), or ``None`` if a draft is not a plain
        transfer or the sealer does not take it."""
        sealer = TransferSealer(kept, head, self.now, frozenset(self.ledger.assets),
                                self._wallet_asset, self.ledger.known_legs(), held)
        seal = sealer.seal
        for key, kind, postings, _, _, _, source, memo, timestamp, new_only in drafts:
            if kind != "transfer" or type(postings) is not tuple or not seal(
                    key, postings, source, memo, timestamp, new_only):
                return None
        return sealer

    def _wallet_asset(self, name: str) -> str | None:
        wallet = self.wallet(name)
        return None if wallet is None else wallet.asset

    def _general(self, drafts: Sequence[Draft], found: dict[str, Entry]) -> list[Appended]:
        holds: dict[str, tuple[Hold, str]] = {}
        for d in drafts:
            if d.hold_id is not None and d.hold_id not in holds:
                state = self.tx.hold_state(d.hold_id)
                if state is not None:
                    holds[d.hold_id] = state
        planned: list[tuple[Draft, Entry, str, str]] = []
        touched: set[BalanceKey] = set()
        seen: set[str] = set(found)
        for d in drafts:
            entry, stamp, content = self._entry(d, holds, replay=d.key in seen)
            seen.add(d.key)
            planned.append((d, entry, stamp, content))
            if entry.hold is None:
                touched.update([(p[0], p[1]) for p in entry.postings])
            else:
                touched.update(_keys(entry))
        states = self.tx.states(touched)
        seq, prev = self.tx.head()
        results: list[Appended] = []
        sealed: list[Entry] = []
        changed: dict[BalanceKey, BalanceState] = {}
        for d, entry, stamp, content in planned:
            first = found.get(d.key)
            if first is not None:
                if first.digest != entry.digest:
                    raise IdempotencyConflict(
                        f"idempotency key {d.key!r} was already used for a different entry "
                        f"(entry {first.seq}); nothing was written",
                        key=d.key, seq=first.seq,
                        says=msg("error.ledger.key_used", key=d.key, seq=str(first.seq)),
                    )
                results.append(Appended(first, True))
                continue
            if d.new_customers_only:
                self._require_new(entry, states)
            self._resolve(d, entry, holds)
            after = apply_entry(states, entry)
            check_balance_size(d.key, after)
            overdrafts = find_overdrafts(states, after, self.ledger.assets)
            if overdrafts:
                raise_overdrafts(d.key, overdrafts, states, after, self.ledger.assets)
            seq += 1
            digest = chain_hash(prev, seq, d.key, stamp, content)
            placed = Entry(seq, entry.kind, entry.key, entry.timestamp, entry.source, entry.memo,
                           entry.postings, entry.hold, prev, digest, entry.digest)
            prev = digest
            states.update(after)
            changed.update(after)
            sealed.append(placed)
            found[d.key] = placed
            results.append(Appended(placed, False))
        self.tx.append(sealed, changed)
        return results

    def _entry(self, d: Draft, holds: dict[str, tuple[Hold, str]], *,
               replay: bool) -> tuple[Entry, str, str]:
        """The unsealed entry, its canonical time text and content (hashed twice)."""
        when = d.timestamp or self.now
        stamp = self.stamp if when is self.now else format_timestamp(when)  # refuses naive
        if d.kind == "transfer":
            postings = check_postings(d.postings)
            hold = None
        elif d.kind == "hold":
            if d.hold is None:
                raise InvalidEntry("a hold entry needs a hold", says=msg("error.hold.missing"))
            check_hold(d.hold)
            if not replay and (d.hold.id in holds or self.tx.hold_state(d.hold.id) is not None):
                raise HoldError(f"hold id {d.hold.id!r} is already used", hold=d.hold.id,
                                says=msg("error.hold.id_used", hold=d.hold.id))
            holds[d.hold.id] = (d.hold, "new")
            postings, hold = (), d.hold
        elif d.kind in ("post", "void", "expire"):
            if d.hold_id is None or d.hold_id not in holds:
                raise HoldError(f"unknown hold {d.hold_id!r}", hold=d.hold_id,
                                says=msg("error.hold.unknown", hold=str(d.hold_id)[:200]))
            hold = holds[d.hold_id][0]
            if d.kind == "post":
                amount = hold.amount if d.amount is None else d.amount
                if type(amount) is not int or not 0 < amount <= hold.amount:
                    raise HoldError(
                        f"hold {hold.id}: can post between 1 and {hold.amount} minor units, "
                        f"not {amount}", hold=hold.id,
                        says=msg("error.hold.post_amount", hold=hold.id, most=hold.amount,
                                 amount=amount if type(amount) is int else str(amount)[:80]))
                postings = hold.postings(amount)
            else:
                postings = ()
        else:
            raise InvalidEntry(f"unknown entry kind {d.kind!r}",
                               says=msg("error.ledger.entry_kind", kind=str(d.kind)[:80]))
        check = self._check_leg
        for account, asset, _ in postings:
            check(account, asset)
        if hold is not None:
            self._check_leg(hold.debit, hold.asset)
            self._check_leg(hold.credit, hold.asset)
        content = entry_content(d.kind, d.source, d.memo, postings, hold)
        digest = entry_digest(content)
        entry = Entry(seq=0, kind=d.kind, key=d.key, timestamp=when, source=d.source,
                      memo=d.memo, postings=postings, hold=hold, digest=digest)
        return entry, stamp, content

    def _check_leg(self, account: str, asset: str) -> None:
        if (account, asset) in self._checked:
            return
        self.ledger.assets[asset]
        kind, name = parse_account(account)
        if kind.name == "wallet":
            wallet = self.wallet(name or "")
            if wallet is None:
                raise InvalidAccount(
                    f"unknown wallet {name!r}: register it first with `kinko wallets add`",
                    account=account,
                    says=msg("error.ledger.unknown_wallet", wallet=(name or "")[:200]))
            if wallet.asset != asset:
                raise InvalidAccount(
                    f"wallet {name} holds {wallet.asset}, not {asset}", account=account,
                    says=msg("error.ledger.wallet_asset", wallet=wallet.name,
                             held=wallet.asset, asset=asset))
        self._checked.add((account, asset))

    def _resolve(self, d: Draft, entry: Entry, holds: dict[str, tuple[Hold, str]]) -> None:
        if d.kind not in ("post", "void", "expire") or entry.hold is None:
            return
        hold, state = holds[entry.hold.id]
        if state != "pending":
            raise HoldError(f"hold {hold.id} is already {state}; a hold is resolved exactly once",
                            hold=hold.id, state=state,
                            says=msg("error.hold.resolved", hold=hold.id,
                                     state=msg(_HOLD_STATES[state]) if state in _HOLD_STATES
                                     else state[:80]))
        if d.kind == "post" and hold.expires_at is not None and self.now >= hold.expires_at:
            raise HoldError(f"hold {hold.id} expired at {format_timestamp(hold.expires_at)}",
                            hold=hold.id,
                            says=msg("error.hold.expired", hold=hold.id,
                                     at=Time(hold.expires_at)))
        holds[hold.id] = (hold, {"post": "posted", "void": "voided"}.get(d.kind, "expired"))

    def _require_new(self, entry: Entry, states: dict[BalanceKey, BalanceState]) -> None:
        for p in entry.postings:
            if (p[0], p[1]) in states and p.account.startswith("customer:"):
                raise InvalidEntry(
                    f"{p.account} already has a {p.asset} balance; opening balances are "
                    "imported once", account=p.account, asset=p.asset,
                    says=msg("error.ledger.opening_once", account=p.account, asset=p.asset))


# a hold's state, as a refusal to resolve it again says it
_HOLD_STATES = {"new": N_("error.hold.state.new"), "posted": N_("error.hold.state.posted"),
                "voided": N_("error.hold.state.voided"),
                "expired": N_("error.hold.state.expired")}


def _reads(drafts: Sequence[Draft]) -> tuple[set[str], set[str], set[BalanceKey]]:
    """What appending a few drafts reads first: their keys, their holds, their balances
    (:meth:`~kinko.ports.LedgerWriter.prefetch`)."""
    return ({d.key for d in drafts if isinstance(d.key, str)},
            {h for d in drafts for h in (d.hold_id, d.hold.id if isinstance(d.hold, Hold)
                                         else None) if isinstance(h, str)},
            {leg for d in drafts for leg in _legs(d)})


def _legs(d: Draft) -> list[BalanceKey]:
    """The balances a draft touches, as far as it says itself (a resolution's are its
    hold's, known once the hold is read); only text: the drafts are not checked yet."""
    if isinstance(d.hold, Hold):
        legs = [(d.hold.debit, d.hold.asset), (d.hold.credit, d.hold.asset)]
    else:
        legs = [(p[0], p[1]) for p in d.postings if isinstance(p, tuple) and len(p) == 3]
    return [(a, c) for a, c in legs if isinstance(a, str) and isinstance(c, str)]


def _keys(entry: Entry) -> set[BalanceKey]:
    keys = {(p.account, p.asset) for p in entry.postings}
    if entry.hold is not None:
        keys.add((entry.hold.debit, entry.hold.asset))
        keys.add((entry.hold.credit, entry.hold.asset))
    return keys


def _refuse_repeated(name: str, given: Sequence[str], canonical: Sequence[str]) -> None:
    """Refuse an address a wallet is given twice (two spellings of one address included)."""
    first: dict[str, str] = {}
    for typed, key in zip(given, canonical, strict=True):
        if key in first:
            raise InvalidAccount(f"wallet {name}: address {key} is given twice ({first[key]} "
                                 f"and {typed})", wallet=name, address=key,
                                 says=msg("error.ledger.address_twice", wallet=name[:200],
                                          address=key[:200], first=first[key][:200],
                                          then=typed[:200]))
        first[key] = typed


def _refuse_shared_addresses(wallet: Wallet, registered: Sequence[Wallet], chain: str) -> None:
    """Refuse an address (in canonical form) that another wallet of the asset holds."""
    given = set(wallet.addresses)
    for other in registered:
        if other.name == wallet.name or other.asset != wallet.asset:
            continue
        for address in other.addresses:
            if chain_key(address, chain) in given:
                raise InvalidAccount(
                    f"address {chain_key(address, chain)} is already registered to wallet "
                    f"{other.name} ({other.asset}): an address belongs to one wallet of an "
                    "asset, so that its balance is counted once", wallet=wallet.name,
                    address=address, registered_to=other.name,
                    says=msg("error.ledger.address_taken", address=chain_key(address, chain),
                             wallet=other.name, asset=other.asset))
