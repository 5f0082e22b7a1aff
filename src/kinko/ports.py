"""Ports: the small interfaces services depend on, implemented at the edge.

``Clock`` gives the time (``SystemClock`` in production, ``FixedClock`` in tests).
``Store`` opens transactions: ``writer()`` an exclusive one that appends to the journal
(every append is serialised, because each entry carries the previous entry's hash), and
``reader()`` a consistent read. The SQL implementation lives in :mod:`kinko.store`; SQLite
in memory is its fast double and the contract suite runs on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from kinko.domain.approvals import Approval, Proposal
from kinko.domain.chain import Block
from kinko.domain.custody import Wallet
from kinko.domain.ledger import BalanceKey, BalanceState, Entry, Hold
from kinko.domain.money import Asset

__all__ = [
    "BalanceRow",
    "Chain",
    "Clock",
    "CustodyTables",
    "DepositTables",
    "FixedClock",
    "LedgerReader",
    "LedgerWriter",
    "Prices",
    "Receipt",
    "Signer",
    "Store",
    "SystemClock",
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
        self, account: str | None = None, kind: str | None = None, asset: str | None = None
    ) -> Iterator[BalanceRow]: ...
    def balances_as_of(
        self, *, seq: int | None = None, at: datetime | None = None,
        account: str | None = None, kind: str | None = None, asset: str | None = None,
    ) -> Iterator[BalanceRow]: ...
    def sum_balances(self, kind: str) -> dict[str, tuple[BalanceState, int]]: ...
    def pending_holds(self) -> list[Hold]: ...
    def hold_state(self, hold_id: str) -> tuple[Hold, str] | None: ...
    def entry_by_key(self, key: str) -> Entry | None: ...
    def wallets(self) -> list[Wallet]: ...
    def assets(self) -> list[Asset]: ...
    def last_seq_at(self, at: datetime) -> int: ...
    def known_keys(self, keys: Collection[str]) -> set[str]: ...
    def entries_by_key(self, keys: Collection[str]) -> dict[str, Entry]: ...
    def states(self, keys: Collection[BalanceKey]) -> dict[BalanceKey, BalanceState]: ...


class LedgerWriter(LedgerReader, Protocol):
    def due_holds(self, now: datetime) -> list[Hold]: ...
    def append(
        self, entries: Sequence[Entry], states: Mapping[BalanceKey, BalanceState]
    ) -> None: ...
    def put_wallet(self, wallet: Wallet) -> None: ...
    def put_assets(self, assets: Sequence[Asset]) -> None: ...


@dataclass(frozen=True)
class Receipt:
    tx_hash: str
    block: int
    ok: bool
    fee: int  # gas used × effective gas price, in the chain's minor unit


class Chain(Protocol):
    """A blockchain node: read blocks and balances, send signed transactions."""

    @property
    def name(self) -> str: ...

    def head(self) -> int: ...
    def block(self, number: int) -> Block: ...
    def balances(self, addresses: Sequence[str], block: int | None = None) -> dict[str, int]: ...
    def nonce(self, address: str) -> int: ...
    def fee_params(self) -> tuple[int, int]: ...  # (chain id, gas price)
    def send_raw(self, raw: bytes) -> str: ...
    def receipt(self, tx_hash: str) -> Receipt | None: ...


class Signer(Protocol):
    """Signs transfers from the hot wallet; holds the key, never reveals it."""

    address: str

    def sign_transfer(self, *, to: str, value: int, nonce: int, gas_price: int,
                      chain_id: int, gas: int = 21_000) -> bytes: ...


class CustodyTables(Protocol):
    """Policy versions, proposals and approvals (inside a store transaction)."""

    def active_policy(self, at: datetime | None = None) -> tuple[int, dict[str, Any]] | None: ...
    def put_policy(self, version: int, digest: str, body: dict[str, Any], at: datetime,
                   via: str) -> None: ...
    def put_proposal(self, proposal: Proposal, detail: str) -> None: ...
    def proposal(self, proposal_id: str) -> tuple[Proposal, str, str | None, str] | None: ...
    def proposals(self, state: str | None = None
                  ) -> list[tuple[Proposal, str, str | None, str]]: ...
    def set_state(self, proposal_id: str, old: str, new: str,
                  tx_hash: str | None = None) -> None: ...
    def add_approval(self, proposal_id: str, approval: Approval) -> None: ...
    def approvals(self, proposal_id: str) -> list[Approval]: ...


class DepositTables(Protocol):
    """Deposit addresses, scanned block hashes and credited deposits."""

    def put_address(self, address: str, chain: str, customer: str, asset: str,
                    wallet: str) -> None: ...
    def addresses(self, chain: str) -> dict[str, tuple[str, str, str]]: ...
    def block_hash(self, chain: str, number: int) -> str | None: ...
    def last_block(self, chain: str) -> int | None: ...
    def put_block(self, chain: str, number: int, block_hash: str) -> None: ...
    def forget_blocks_after(self, chain: str, number: int) -> None: ...
    def put_deposits(self, rows: list[dict[str, Any]]) -> set[str]: ...
    def credited_after(self, chain: str, number: int) -> list[dict[str, Any]]: ...
    def mark_reverted(self, deposit_id: str) -> None: ...
    def deposits(self, chain: str | None = None) -> list[dict[str, Any]]: ...


class Prices(Protocol):
    """Reference prices in JPY per whole unit (a price feed is outside kinko)."""

    def price(self, asset: str) -> Decimal | None: ...


class Store(Protocol):
    def writer(self) -> AbstractContextManager[LedgerWriter]: ...
    def reader(self) -> AbstractContextManager[LedgerReader]: ...
    def custody(self, *, write: bool = True
                ) -> AbstractContextManager[tuple[LedgerWriter, CustodyTables]]: ...
    def deposits(self, *, write: bool = True) -> AbstractContextManager[DepositTables]: ...
    def close(self) -> None: ...
