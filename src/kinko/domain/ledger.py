"""Double-entry ledger: accounts, postings, journal entries, holds and the hash chain.

Accounts are named ``kind:name`` (``customer:C000042``, ``wallet:xem-hot``,
``loss:2018-01-26``); ``own`` and ``fees`` may stand alone. A balance is kept per
(account, asset). A :class:`Posting` moves an exact integer amount; by convention a
positive amount is a *debit* and a negative one a *credit*, so an entry balances when its
postings sum to zero per asset::

    deposit of 100 XEM seen on chain         wallet:xem-hot  +100_000000
                                             customer:C1     -100_000000

Customers and own funds are credit-normal (what the exchange owes), wallets and banks
debit-normal (what it holds). Customer, wallet and bank balances may never go below zero,
counting the funds reserved by pending holds.

A :class:`Hold` is a two-phase transfer (debit account, credit account, asset, amount,
optional expiry): opening it reserves the amount on both sides without moving it; it is
resolved exactly once, by *posting* all or part of it, by *voiding* it or by *expiry*.

Every appended :class:`Entry` carries the hash of the previous one; :class:`ChainVerifier`
recomputes the chain and the balances and names the first entry that was altered, deleted
or reordered. Nothing here touches a database or a clock: the store persists what these
functions compute.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Literal, NamedTuple

from kinko.domain.messages import N_, Message, Units, id_shown, msg
from kinko.domain.money import MAX_DIGITS, Asset, format_units
from kinko.errors import HoldError, InvalidAccount, InvalidEntry, Overdraft

__all__ = [
    "ACCOUNT_KINDS",
    "GENESIS_HASH",
    "AccountKind",
    "BalanceKey",
    "BalanceState",
    "ChainVerifier",
    "Entry",
    "EntryKind",
    "Finding",
    "Hold",
    "KnownLegs",
    "Posting",
    "SealedTransfers",
    "TransferSealer",
    "apply_entry",
    "available",
    "chain_hash",
    "check_account",
    "check_postings",
    "entry_content",
    "entry_deltas",
    "entry_digest",
    "entry_hash",
    "find_overdrafts",
    "format_timestamp",
    "normal_balance",
    "parse_account",
]

GENESIS_HASH = "0" * 64
EntryKind = Literal["transfer", "hold", "post", "void", "expire"]
ENTRY_KINDS: tuple[EntryKind, ...] = ("transfer", "hold", "post", "void", "expire")
BalanceKey = tuple[str, str]  # (account, asset)
# A balance's state as a plain tuple of ints: (balance, pending_debit, pending_credit)
StateValues = tuple[int, int, int]


@dataclass(frozen=True)
class AccountKind:
    """What a kind of account means and which rules its balances obey."""

    name: str
    normal: Literal["debit", "credit"]
    may_go_negative: bool
    needs_name: bool
    beancount_root: str
    meaning: str


ACCOUNT_KINDS: dict[str, AccountKind] = {
    k.name: k
    for k in (
        AccountKind("customer", "credit", False, True, "Liabilities:Customers",
                    "what the exchange owes one customer, per asset"),
        AccountKind("wallet", "debit", False, True, "Assets:Wallets",
                    "coins held in one registered exchange wallet (tier hot/warm/cold)"),
        AccountKind("bank", "debit", False, True, "Assets:Bank",
                    "fiat held in one bank account"),
        AccountKind("own", "credit", True, False, "Equity:Own",
                    "the exchange's own funds, including performance-guarantee crypto"),
        AccountKind("fees", "debit", True, False, "Expenses:Fees",
                    "network fees paid"),
        AccountKind("loss", "debit", True, True, "Expenses:Loss",
                    "value lost in an incident (customers are still owed)"),
        AccountKind("clearing", "debit", True, True, "Assets:Clearing",
                    "transit and opening-balance accounts that should net to zero"),
    )
}

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+:-]{0,127}$")


def check_account(text: str) -> tuple[AccountKind, str | None]:
    """Split ``kind:name`` and check it; raise :class:`InvalidAccount` with the reason."""
    kind_name, sep, name = text.partition(":")
    kind = ACCOUNT_KINDS.get(kind_name)
    # an account refused is one a caller gave (a URL's customer id, a file's): quoted short
    if kind is None:
        known = ", ".join(ACCOUNT_KINDS)
        shown, kind_shown = id_shown(text), id_shown(kind_name)
        raise InvalidAccount(
            f"account {shown!r}: unknown kind {kind_shown!r} (use one of {known})",
            account=shown,
            says=msg("error.account.unknown_kind", account=shown, kind=kind_shown,
                     known=known),
        )
    if not sep:
        if kind.needs_name:
            shown = id_shown(text)
            raise InvalidAccount(
                f"account {shown!r}: a {kind.name} account needs a name, like "
                f"'{kind.name}:NAME'", account=shown,
                says=msg("error.account.needs_name", account=shown, kind=kind.name),
            )
        return kind, None
    if not _NAME.match(name):
        shown = id_shown(text)
        raise InvalidAccount(
            f"account {shown!r}: the name must be 1-128 letters, digits or . _ @ + : - "
            "and start with a letter or digit",
            account=shown,
            says=msg("error.account.bad_name", account=shown),
        )
    return kind, name


@lru_cache(maxsize=1 << 16)
def parse_account(text: str) -> tuple[AccountKind, str | None]:
    """:func:`check_account`, cached: batches name the same accounts many times."""
    return check_account(text)


@lru_cache(maxsize=1 << 16)
def account_kind(account: str) -> AccountKind:
    return ACCOUNT_KINDS[account.partition(":")[0]]


class Posting(NamedTuple):
    """One leg of an entry: ``amount`` minor units, positive = debit, negative = credit."""

    account: str
    asset: str
    amount: int


@dataclass(frozen=True)
class Hold:
    """A pending transfer of ``amount`` from ``debit`` to ``credit``, resolved exactly once."""

    id: str
    debit: str
    credit: str
    asset: str
    amount: int
    expires_at: datetime | None = None

    def postings(self, amount: int | None = None) -> tuple[Posting, Posting]:
        value = self.amount if amount is None else amount
        return Posting(self.debit, self.asset, value), Posting(self.credit, self.asset, -value)


class Entry(NamedTuple):
    """An appended journal entry. ``hold`` is set for every kind except ``transfer``.

    A named tuple rather than a frozen dataclass: equally immutable, and several times
    cheaper to build, which matters when a batch seals a million of them."""

    seq: int
    kind: EntryKind
    key: str
    timestamp: datetime
    source: str
    memo: str
    postings: tuple[Posting, ...]
    hold: Hold | None = None
    prev_hash: str = GENESIS_HASH
    hash: str = ""
    digest: str = ""


class BalanceState(NamedTuple):
    """A (account, asset) balance: ``balance`` is Σ debits − Σ credits; pending = held."""

    balance: int = 0
    pending_debit: int = 0
    pending_credit: int = 0


@dataclass(frozen=True)
class Finding:
    """Something verification found wrong: data, not an exception."""

    code: str
    message: str
    seq: int | None = None


# ---------------------------------------------------------------------------- checks


def check_postings(postings: Iterable[Posting], *, min_postings: int = 2) -> tuple[Posting, ...]:
    """Validate the shape of an entry's postings; raise :class:`InvalidEntry` if wrong."""
    legs = tuple(postings)
    if len(legs) < min_postings:
        raise InvalidEntry(
            f"an entry needs at least {min_postings} postings, got {len(legs)}",
            postings=len(legs),
            says=msg("error.entry.too_few_postings", least=min_postings, count=len(legs)),
        )
    sums: dict[str, int] = {}
    get = sums.get
    for i, (account, asset, amount) in enumerate(legs):
        parse_account(account)
        if type(amount) is not int or amount == 0:
            zero = amount == 0
            problem = "amount is zero" if zero else (
                "amount must be an integer count of minor units")
            raise InvalidEntry(
                f"posting {i + 1} ({account}): {problem}", posting=i + 1,
                says=msg(N_("error.entry.posting_zero") if zero
                         else N_("error.entry.posting_not_integer"),
                         number=i + 1, account=account[:200]))
        sums[asset] = get(asset, 0) + amount
    off = {asset: total for asset, total in sums.items() if total != 0}
    if off:
        detail = ", ".join(f"{asset} off by {total:+d} minor units" for asset, total in off.items())
        raise InvalidEntry(
            f"entry does not balance: {detail} (debits must equal credits per asset)",
            imbalance={a: str(v) for a, v in off.items()},
            says=msg("error.entry.unbalanced", off=_off_said(off)),
        )
    return legs


_LISTED = 3  # how many assets or balances an error's catalog message names (then: N more)


def _off_said(off: Mapping[str, int]) -> Message:
    """What :func:`check_postings` found off, per asset, as a catalog message (the first
    few assets, then how many more)."""
    said: Message | None = None
    for n, (asset, total) in enumerate(off.items()):
        if said is None:
            said = msg("error.entry.off_by", asset=str(asset)[:80], off=total)
        elif n == _LISTED:
            return msg("error.entry.off_more", first=said, more=len(off) - n)
        else:
            said = msg("error.entry.off_by_next", first=said, asset=str(asset)[:80],
                       off=total)
    assert said is not None  # (only called with something off)
    return said


def check_hold(hold: Hold) -> None:
    parse_account(hold.debit)
    parse_account(hold.credit)
    if hold.debit == hold.credit:
        raise HoldError(f"hold {hold.id}: debit and credit account are the same", hold=hold.id,
                        says=msg("error.hold.same_accounts", hold=str(hold.id)[:200]))
    if type(hold.amount) is not int or hold.amount <= 0:
        raise HoldError(f"hold {hold.id}: amount must be a positive integer", hold=hold.id,
                        says=msg("error.hold.amount_not_positive", hold=str(hold.id)[:200]))
    if not hold.id or len(hold.id) > 128:
        raise HoldError("a hold id must be 1-128 characters", hold=hold.id,
                        says=msg("error.hold.id_length"))


def normal_balance(account: str, state: BalanceState) -> int:
    """The balance with its natural sign: what a customer is owed, what a wallet holds."""
    return -state.balance if account_kind(account).normal == "credit" else state.balance


def available(account: str, state: BalanceState) -> int:
    """Normal balance less what pending holds reserve on the side that reduces it."""
    if account_kind(account).normal == "credit":
        return -state.balance - state.pending_debit
    return state.balance - state.pending_credit


# ---------------------------------------------------------------------------- effects

Delta = tuple[int, int, int]  # (balance, pending_debit, pending_credit)


def entry_deltas(entry: Entry) -> dict[BalanceKey, Delta]:
    """How an entry changes each (account, asset): balance and pending amounts."""
    out: dict[BalanceKey, Delta] = {}
    get = out.get
    for account, asset, amount in entry.postings:
        key = (account, asset)
        cur = get(key)
        out[key] = (amount, 0, 0) if cur is None else (cur[0] + amount, cur[1], cur[2])
    hold = entry.hold
    if hold is not None:
        sign = 1 if entry.kind == "hold" else -1
        for key, pd, pc in (((hold.debit, hold.asset), sign * hold.amount, 0),
                            ((hold.credit, hold.asset), 0, sign * hold.amount)):
            b0, pd0, pc0 = out.get(key, (0, 0, 0))
            out[key] = (b0, pd0 + pd, pc0 + pc)
    return out


def apply_entry(
    states: Mapping[BalanceKey, BalanceState], entry: Entry
) -> dict[BalanceKey, BalanceState]:
    """The new states of the balances ``entry`` touches (others are unchanged)."""
    changed: dict[BalanceKey, BalanceState] = {}
    get = states.get
    if entry.hold is None:  # the common case, kept lean: one new state per posting
        for account, asset, amount in entry.postings:
            key = (account, asset)
            cur = changed.get(key) or get(key)
            changed[key] = (BalanceState(amount) if cur is None else
                            BalanceState(cur[0] + amount, cur[1], cur[2]))
        return changed
    for key, (b, pd, pc) in entry_deltas(entry).items():
        cur = get(key)
        changed[key] = (BalanceState(b, pd, pc) if cur is None else
                        BalanceState(cur[0] + b, cur[1] + pd, cur[2] + pc))
    return changed


def _overdrawn(before: Mapping[BalanceKey, BalanceState],
               after: Mapping[BalanceKey, BalanceState]) -> list[tuple[str, str, int, int]]:
    """(account, asset, available now, available before) of each balance that may not go
    negative and that this change took below zero (and lower than it was)."""
    found = []
    for (account, asset), new in after.items():
        kind = account_kind(account)
        if kind.may_go_negative:
            continue
        # available = normal balance less what holds reserve on the reducing side
        now = -new[0] - new[1] if kind.normal == "credit" else new[0] - new[2]
        if now >= 0:
            continue
        was = available(account, before.get((account, asset), BalanceState()))
        if now < was:
            found.append((account, asset, now, was))
    return found


def find_overdrafts(
    before: Mapping[BalanceKey, BalanceState], after: Mapping[BalanceKey, BalanceState],
    assets: Mapping[str, Asset] | None = None
) -> list[Finding]:
    """Balances that may not go negative and that this change took below zero (in whole
    units of the asset where ``assets`` knows it, else in minor units)."""
    found = []
    for account, asset, now, was in _overdrawn(before, after):
        known = assets.get(asset) if assets is not None else None
        found.append(Finding("overdraft", (
            f"{account} would have {now} {asset} minor units available (had {was}); it may "
            "not go below zero") if known is None else (
            f"{account} would have {format_units(now, known, group=True)} {asset} "
            f"available (had {format_units(was, known, group=True)} {asset}); it may not go "
            "below zero")))
    return found


# a balance or pending amount holds fewer digits than this bound (as an amount does: the
# databases store each in NUMERIC(78, 0) or its text; the ledger refuses what would not fit)
BALANCE_BOUND = 10**MAX_DIGITS


def check_balance_size(key: str, after: Mapping[BalanceKey, BalanceState]) -> None:
    """Refuse an entry (``key``) that would take a balance or a pending amount to more than
    :data:`~kinko.domain.money.MAX_DIGITS` digits: PostgreSQL cannot store it, and SQLite
    would hold what PostgreSQL refuses."""
    bound = BALANCE_BOUND
    for (account, asset), state in after.items():
        for value in state:
            if not -bound < value < bound:
                digits = len(str(abs(value)))
                raise InvalidEntry(
                    f"entry {key!r} would take {account}'s {asset} balance to {digits} digits; "
                    f"a balance holds at most {MAX_DIGITS} digits of {asset}'s smallest unit; "
                    "nothing was written",
                    key=key, account=account, asset=asset,
                    says=msg("error.balance_too_large", key=repr(key), account=account,
                             asset=asset, digits=digits, most=MAX_DIGITS))


def overdrafts_said(before: Mapping[BalanceKey, BalanceState],
                    after: Mapping[BalanceKey, BalanceState],
                    assets: Mapping[str, Asset] | None = None) -> Message:
    """The overdrafts :func:`find_overdrafts` finds, as a catalog message (the first few,
    then how many more): computed again, on the way to refusing, so that finding them
    (every entry) builds nothing more."""
    said: Message | None = None
    found = _overdrawn(before, after)
    for account, asset, now, was in found[:_LISTED]:
        known = assets.get(asset) if assets is not None else None
        one = msg("error.overdraft.below_zero", account=account, asset=asset, now=now,
                  was=was) if known is None else \
            msg("error.overdraft.below_zero_units", account=account,
                now=Units(now, asset, known.decimals), was=Units(was, asset, known.decimals))
        said = one if said is None else msg("error.and_then", first=said, then=one)
    more = len(found) - _LISTED
    if more > 0:
        said = msg("error.overdraft.more", first=said or msg("error.none"), more=more)
    return said or msg("error.none")


def raise_overdrafts(key: str, findings: list[Finding],
                     before: Mapping[BalanceKey, BalanceState],
                     after: Mapping[BalanceKey, BalanceState],
                     assets: Mapping[str, Asset] | None = None) -> None:
    """Refuse entry ``key``, the change from ``before`` to ``after``, if
    :func:`find_overdrafts` found overdrafts in it (``findings``)."""
    if findings:
        raise Overdraft(
            f"entry {key!r} refused: " + "; ".join(f.message for f in findings),
            key=key, overdrafts=[f.message for f in findings],
            says=msg("error.overdraft.entry", key=key,
                     overdrafts=overdrafts_said(before, after, assets)),
        )


# ---------------------------------------------------------------------------- hashing


def format_timestamp(ts: datetime) -> str:
    """Canonical UTC text with microseconds: ``2018-01-25T15:02:00.000000Z``."""
    if ts.tzinfo is None:
        raise InvalidEntry(f"timestamp {ts.isoformat()} has no time zone",
                           timestamp=ts.isoformat(),
                           says=msg("error.entry.naive_time", time=ts.isoformat()))
    if ts.tzinfo is not UTC:
        try:
            ts = ts.astimezone(UTC)
        except OverflowError:  # before year 1 or after 9999 once in UTC
            raise InvalidEntry(f"timestamp {ts.isoformat()} is outside the years 1 to 9999 "
                               "in UTC", timestamp=ts.isoformat(),
                               says=msg("error.entry.time_range", time=ts.isoformat())
                               ) from None
    if ts.year >= 1000:  # the same text as strftime's below, at two thirds of its cost
        return ts.isoformat(timespec="microseconds")[:-6] + "Z"
    return ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _field(value: str) -> str:
    # length in code points, then the text: unambiguous once encoded as UTF-8
    return f"{len(value)}:{value}"


def _content_head(kind: str, source: str, memo: str) -> str:
    """The start of an entry's canonical content: its kind, source and memo."""
    return f"{len(kind)}:{kind}{len(source)}:{source}{len(memo)}:{memo}"


def _leg_field(account: str, asset: str) -> str:
    """A posting's account and asset as they open its part of the canonical content."""
    return f"{len(account)}:{account}{len(asset)}:{asset}"


_CHAIN = "kinko-entry-v1\n"  # what the chain hash covers first


def _chain_prefix(prev_hash: str, seq: int, key: str, timestamp: str) -> str:
    """What the chain hash covers before an entry's content."""
    return _prefix(prev_hash, seq, key, _field(timestamp))


def _prefix(prev_hash: str, seq: int, key: str, time_field: str) -> str:
    """:func:`_chain_prefix` with the time already spelled as a field (a batch spells its
    time once)."""
    position = str(seq)
    return f"{_CHAIN}{prev_hash}\n{len(position)}:{position}{len(key)}:{key}{time_field}"


def entry_content(kind: str, source: str, memo: str, postings: Iterable[Posting],
                  hold: Hold | None) -> str:
    """Length-prefixed canonical text of what an entry asks for (no seq, key or time)."""
    parts = [_content_head(kind, source, memo)]
    parts.extend(f"{_leg_field(a, s)}{len(v)}:{v}"
                 for a, s, v in ((p[0], p[1], str(p[2])) for p in postings))
    parts.append("|")
    if hold is not None:
        parts.extend(_field(value) for value in (
            hold.id, hold.debit, hold.credit, hold.asset, str(hold.amount),
            format_timestamp(hold.expires_at) if hold.expires_at else ""))
    return "".join(parts)


def entry_digest(content: str) -> str:
    """What an idempotency key is compared on: the request's content, without its time."""
    return hashlib.sha256(content.encode()).hexdigest()


def chain_hash(prev_hash: str, seq: int, key: str, timestamp: str, content: str) -> str:
    """SHA-256 over the previous hash, the position, key, time text and content of an entry."""
    return hashlib.sha256(
        (_chain_prefix(prev_hash, seq, key, timestamp) + content).encode()).hexdigest()


def entry_hash(entry: Entry) -> str:
    """The hash an entry must carry, recomputed from its fields."""
    return chain_hash(entry.prev_hash, entry.seq, entry.key, format_timestamp(entry.timestamp),
                      entry_content(entry.kind, entry.source, entry.memo, entry.postings,
                                    entry.hold))


# ---------------------------------------------------------------------------- batches


# a checked leg: its account and asset as the canonical content spells them; +1
# credit-normal, -1 debit-normal, 0 may go negative; whether it is a customer's (a plain
# tuple: a batch builds one per account it names)
_Leg = tuple[str, int, bool]


class KnownLegs(dict[BalanceKey, _Leg]):
    """Legs (not wallets') a :class:`TransferSealer` checked, kept from batch to batch for one
    set of assets; cleared when it holds ``limit`` of them (memory stays bounded)."""

    def __init__(self, limit: int = 1 << 17) -> None:
        super().__init__()
        self.limit = limit

    def keep(self, key: BalanceKey, leg: _Leg) -> None:
        if len(self) >= self.limit:
            self.clear()
        self[key] = leg


class SealedTransfers:
    """Plain transfers a :class:`TransferSealer` sealed, in the shape they are stored in
    rather than as an :class:`Entry` each: ``rows`` holds, entry after entry, its sequence
    number, key, time, source, memo, digest, previous hash and hash (``ROW`` values an
    entry); ``legs``, posting after posting, its entry's sequence number, its place in the
    entry, account, asset and amount as decimal text (``LEG`` values a posting). A batch
    of thousands of entries builds no record per entry or posting."""

    ROW = 8
    LEG = 5

    def __init__(self) -> None:
        self.rows: list[Any] = []
        self.legs: list[Any] = []

    def __len__(self) -> int:
        return len(self.rows) // self.ROW

    def hashes(self) -> tuple[str, str]:
        """Every entry's hash, then every entry's digest, each a text of the entries' 64
        hexadecimal digits one after the other (two objects, however large the batch)."""
        return "".join(self.rows[7::self.ROW]), "".join(self.rows[5::self.ROW])


class TransferSealer:
    """Seal a batch of plain transfers into the chain, one lean pass per entry.

    The general way (:func:`check_postings`, :func:`entry_content`, :func:`apply_entry`,
    :func:`find_overdrafts`, :func:`chain_hash`) builds several records per entry; a batch
    of a million transfers spends most of its time there. This does the same in one pass:
    each posting is checked, encoded (each leg's text built once per batch), added to its
    running balance and checked for an overdraft; the content is hashed for the digest
    and, after the chain prefix, for the entry's hash: the same bytes, the same hashes.

    It only ever *accepts*: :meth:`seal` returns ``False`` for anything it does not take
    as it comes (a refusal of any kind, a repeated customer in an opening balance), and the
    sealer is then of no further use (what it had sealed is dropped with it). The caller
    then does the whole batch the general way, which refuses it exactly as it always has
    (or accepts it: an entry naming one account twice is checked on its net change there).
    Nothing here is written anywhere: the caller persists :attr:`sealed` and
    :meth:`changed`, or drops them.

    A leg is checked the first time the batch names it: a valid account, an asset in
    ``assets``, and for a wallet, ``wallet_asset(name)`` (the asset the registered wallet
    holds, ``None`` if there is no such wallet) is that asset. A leg that is not a wallet's
    depends on nothing but its text and ``assets``: given ``known`` (a :class:`KnownLegs`
    the caller keeps for one set of ``assets``), such a leg checked by an earlier batch is
    not checked again (a customer named by every batch of a long run).

    Balances before the batch are given as ``states`` (by asset, then account: each a
    balance) and ``held`` (pending debit and credit, of the balances that have any): a
    caller that keeps them from batch to batch then keeps only texts and ints, which the
    cyclic collector never tracks.
    """

    def __init__(self, states: Mapping[str, Mapping[str, int]], head: tuple[int, str],
                 now: datetime, assets: Collection[str],
                 wallet_asset: Callable[[str], str | None],
                 known: KnownLegs | None = None,
                 held: Mapping[BalanceKey, tuple[int, int]] | None = None) -> None:
        self.states = states  # before the batch
        self.held = held if held is not None else {}
        self.balances: dict[BalanceKey, int] = {}  # running, of the legs the batch moved
        self.seq, self.prev = head
        self.now = now
        self._stamp = format_timestamp(now)
        self._assets = assets
        self._wallet_asset = wallet_asset
        self._legs: dict[BalanceKey, _Leg] = {}
        self._known = known if known is not None else KnownLegs()
        self._last: tuple[str, tuple[AccountKind, str | None]] = ("", (ACCOUNT_KINDS["own"], None))
        self._heads: dict[tuple[str, str], str] = {}
        self._field = _field(self._stamp)  # the batch's time as the chain prefix spells it
        self.sealed = SealedTransfers()
        # the legs the batch moved that ``states`` does not hold (taken for new balances)
        self.absent: list[BalanceKey] = []
        self._absent = self.absent.append
        self.new_customers = False  # whether an entry was an opening balance
        self._add_row = self.sealed.rows.extend
        self._add_leg = self.sealed.legs.extend

    def _leg(self, account: str, asset: str, keep_customers: bool) -> _Leg | None:
        known = self._known
        leg = known.get((account, asset))
        if leg is None:
            if asset not in self._assets:
                return None
            last, checked = self._last
            if account == last:  # a customer's other assets, next to each other
                kind, name = checked
            else:
                try:
                    kind, name = check_account(account)
                except InvalidAccount:
                    return None
                self._last = (account, (kind, name))
            if kind.name == "wallet" and self._wallet_asset(name or "") != asset:
                return None
            guard = 0 if kind.may_go_negative else (1 if kind.normal == "credit" else -1)
            leg = (_leg_field(account, asset), guard, kind.name == "customer")
            # a wallet's asset is the registry's: checked per batch; an opening balance
            # names its customer once: not worth keeping
            if kind.name != "wallet" and not (keep_customers is False and leg[2]):
                known.keep((account, asset), leg)
        self._legs[(account, asset)] = leg
        return leg

    def seal(self, key: str, postings: tuple[Posting, ...], source: str, memo: str,
             timestamp: datetime | None = None, new_customers_only: bool = False) -> bool:
        """Seal this transfer as the next entry of the chain (added to :attr:`sealed`);
        ``False`` if it is not taken (see the class)."""
        if len(postings) < 2:
            return False
        if timestamp is None or timestamp is self.now:
            when, stamp = self.now, self._field
        elif timestamp.tzinfo is None:
            return False
        else:
            when, stamp = timestamp, _field(format_timestamp(timestamp))
        if new_customers_only:
            self.new_customers = True
        head = self._heads.get((source, memo))
        if head is None:
            head = self._heads[(source, memo)] = _content_head("transfer", source, memo)
        parts = [head]
        add = parts.append
        legs = self._legs
        known = self._known
        balances = self.balances
        states = self.states
        held = self.held
        add_leg = self._add_leg
        first = postings[0][1]
        total = 0
        assets = False  # more than one asset
        seq = self.seq + 1
        for place, (account, asset, amount) in enumerate(postings):
            leg_key = (account, asset)
            # (a customer named by an earlier batch: found at once among the known legs)
            leg = known.get(leg_key)
            if leg is None:
                leg = legs.get(leg_key)
                if leg is None:
                    leg = self._leg(account, asset, not new_customers_only)
                    if leg is None:
                        return False
            if type(amount) is not int or not amount:
                return False
            field, guard, customer = leg
            text = str(amount)
            add(f"{field}{len(text)}:{text}")
            add_leg((seq, place, account, asset, text))
            if asset == first:
                total += amount
            else:
                assets = True
            balance = balances.get(leg_key)
            if balance is None:
                of_asset = states.get(asset)
                before = None if of_asset is None else of_asset.get(account)
                if before is None:
                    balance = amount
                    self._absent(leg_key)
                elif new_customers_only and customer:
                    return False
                else:
                    balance = before + amount
            elif new_customers_only and customer:
                return False
            else:
                balance += amount
            balances[leg_key] = balance
            if not -BALANCE_BOUND < balance < BALANCE_BOUND:  # refused the general way
                return False
            # an amount that lowers what the account has available, and leaves it below
            # zero: refused the general way (which checks an entry's net change per leg;
            # this check, per posting, is never more lenient than that one)
            if guard and guard * amount > 0:
                pending = held.get(leg_key)
                reserved = 0 if pending is None else pending[0] if guard > 0 else pending[1]
                if -guard * balance < reserved:
                    return False
        if _unbalanced(postings) if assets else total:
            return False
        parts.append("|")
        content = "".join(parts).encode()
        self.seq = seq
        prev = self.prev
        position = str(seq)  # what _prefix spells, inline (a call an entry less)
        chained = hashlib.sha256(
            f"{_CHAIN}{prev}\n{len(position)}:{position}{len(key)}:{key}{stamp}".encode())
        chained.update(content)
        self.prev = sealed = chained.hexdigest()
        self._add_row((seq, key, when, source, memo, hashlib.sha256(content).hexdigest(),
                       prev, sealed))
        return True

    def changed(self) -> dict[BalanceKey, StateValues]:
        """The new state of every balance the sealed entries moved (a transfer moves no
        pending amount: those are as ``held`` has them)."""
        held = self.held
        if not held:
            return {key: (balance, 0, 0) for key, balance in self.balances.items()}
        out: dict[BalanceKey, StateValues] = {}
        for key, balance in self.balances.items():
            pending = held.get(key)
            out[key] = (balance, 0, 0) if pending is None else (balance, *pending)
        return out


def _unbalanced(postings: Iterable[Posting]) -> bool:
    sums: dict[str, int] = {}
    for _, asset, amount in postings:
        sums[asset] = sums.get(asset, 0) + amount
    return any(sums.values())


# ---------------------------------------------------------------------------- verify


@dataclass
class ChainVerifier:
    """Feed stored entries in sequence order; collect findings; compare the end state.

    An entry whose hash fails is checked against nearby positions (``reorder_window``), so a
    moved but unchanged entry is reported as reordered rather than altered.
    """

    reorder_window: int = 64
    max_findings: int = 50
    findings: list[Finding] = field(default_factory=list)
    states: dict[BalanceKey, BalanceState] = field(default_factory=dict)
    holds: dict[str, Hold] = field(default_factory=dict)
    resolved: set[str] = field(default_factory=set)
    entries: int = 0
    _expect_seq: int = 1
    _prev_hash: str = GENESIS_HASH

    def _find(self, code: str, message: str, seq: int | None) -> None:
        if len(self.findings) < self.max_findings:
            self.findings.append(Finding(code, message, seq))

    def feed(self, entry: Entry) -> None:
        self.entries += 1
        if entry.seq != self._expect_seq:
            if entry.seq > self._expect_seq:
                missing = (f"entry {self._expect_seq}" if entry.seq == self._expect_seq + 1
                           else f"entries {self._expect_seq}-{entry.seq - 1}")
                self._find("deleted", f"{missing} missing: deleted from the journal", entry.seq)
            else:
                self._find("reordered", f"entry {entry.seq} appears out of order", entry.seq)
        content = entry_content(entry.kind, entry.source, entry.memo, entry.postings,
                                entry.hold)
        recomputed = chain_hash(entry.prev_hash, entry.seq, entry.key,
                                format_timestamp(entry.timestamp), content)
        if recomputed == entry.hash and entry.digest != entry_digest(content):
            self._find("altered",
                       f"entry {entry.seq} ({entry.key}): its idempotency digest was altered "
                       "(a request retried under its key is compared with it: another "
                       "request would be taken for this one, this one refused)", entry.seq)
        if recomputed != entry.hash:
            origin = self._original_position(entry)
            if origin is not None:
                self._find("reordered",
                           f"entry at position {entry.seq} was moved there from position "
                           f"{origin}: the journal was reordered", entry.seq)
            else:
                self._find("altered",
                           f"entry {entry.seq} ({entry.key}) was altered: its content no longer "
                           "matches its hash", entry.seq)
        elif entry.prev_hash != self._prev_hash:
            self._find("broken_link",
                       f"entry {entry.seq} does not follow entry {entry.seq - 1}: entries were "
                       "deleted, inserted or reordered before it", entry.seq)
        self._prev_hash = entry.hash
        self._expect_seq = entry.seq + 1
        self._replay(entry)

    def _original_position(self, entry: Entry) -> int | None:
        """The position whose hash this unchanged entry matches, if it was only moved."""
        for distance in range(1, self.reorder_window + 1):
            for candidate in (entry.seq - distance, entry.seq + distance):
                if candidate > 0 and entry_hash(entry._replace(seq=candidate)) == entry.hash:
                    return candidate
        return None

    def _replay(self, entry: Entry) -> None:
        hold = entry.hold
        if entry.kind == "hold" and hold is not None:
            self.holds[hold.id] = hold
        elif hold is not None:
            if hold.id in self.resolved:
                self._find("double_resolution",
                           f"entry {entry.seq} resolves hold {hold.id} a second time", entry.seq)
            self.resolved.add(hold.id)
        before = {k: self.states.get(k, BalanceState()) for k in entry_deltas(entry)}
        after = apply_entry(self.states, entry)
        for f in find_overdrafts(before, after):
            self._find("negative_balance", f"entry {entry.seq}: {f.message}", entry.seq)
        self.states.update(after)

    @property
    def end(self) -> tuple[int, str]:
        """The sequence number and hash of the last entry fed (0 and the genesis hash: none)."""
        return self._expect_seq - 1, self._prev_hash

    def finish(
        self,
        head: tuple[int, str] | None,
        stored_states: Iterable[tuple[BalanceKey, BalanceState]] | None,
        stored_pending: Iterable[str],
    ) -> list[Finding]:
        """Compare the replayed journal with the stored head, balances and pending holds
        (None: not compared, the head or balances could not be read)."""
        last_seq = self._expect_seq - 1
        if head is not None and (head[0], head[1]) != (last_seq, self._prev_hash):
            self._find("head_mismatch",
                       f"the ledger head records entry {head[0]} (hash {head[1][:12]}…) but the "
                       f"journal ends at entry {last_seq}: entries after it were deleted, or the "
                       "head was edited", head[0])
        seen: set[BalanceKey] = set()
        for key, stored in stored_states or ():
            seen.add(key)
            replayed = self.states.get(key, BalanceState())
            if replayed != stored:
                self._find("balance_mismatch",
                           f"stored balance of {key[0]} {key[1]} is {stored.balance} "
                           f"(pending {stored.pending_debit}/{stored.pending_credit}) but the "
                           f"journal gives {replayed.balance} "
                           f"(pending {replayed.pending_debit}/{replayed.pending_credit})", None)
        for key, replayed in self.states.items() if stored_states is not None else ():
            if key not in seen and replayed != BalanceState():
                self._find("balance_missing",
                           f"no stored balance for {key[0]} {key[1]}; the journal gives "
                           f"{replayed.balance}", None)
        open_holds = set(self.holds) - self.resolved
        stored_open = set(stored_pending)
        for hold_id in sorted(open_holds ^ stored_open):
            state = "pending" if hold_id in stored_open else "resolved"
            self._find("hold_mismatch",
                       f"hold {hold_id} is stored as {state} but the journal disagrees", None)
        return self.findings
