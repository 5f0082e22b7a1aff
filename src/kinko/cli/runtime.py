"""What every command shares: settings, the opened ledger, output and amounts.

Commands stay thin: parse flags, call one service, render. This module turns the settings
into a :class:`~kinko.services.ledger.Ledger` on first use and gives the helpers for
``--format`` output and for amounts written as ``1.5 XEM``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import typer

from kinko.domain.custody import Wallet
from kinko.domain.money import AssetRegistry, format_units, parse_money
from kinko.errors import BadInput
from kinko.ports import Chain, Cosigner, Prices, Signer, SystemClock
from kinko.prices import prices_from_csv, prices_from_text
from kinko.render.tables import FORMATS, render_rows
from kinko.services.custody import Custody
from kinko.services.ledger import Ledger
from kinko.settings import Settings
from kinko.store import SqlStore, check_current, open_store

__all__ = ["Runtime", "format_option", "parse_time", "runtime"]


@dataclass
class Runtime:
    settings: Settings
    config: str | None = None  # the settings file the command was given (--config)
    flags: dict[str, Any] = field(default_factory=dict)  # the settings flags it was given
    _store: SqlStore | None = field(default=None, repr=False)
    _ledger: Ledger | None = field(default=None, repr=False)
    _chain: Chain | None = field(default=None, repr=False)

    def chain(self) -> Chain | None:
        """The configured node (retried with backoff), or None when there is none."""
        if self._chain is None and self.settings.evm_rpc_url:
            from kinko.chains.evm import EvmChain  # web3: only for commands that use a node
            from kinko.chains.retry import Retrying

            self._chain = Retrying(EvmChain.connect(self.settings.evm_rpc_url),
                                   attempts=self.settings.rpc_attempts)
        return self._chain

    def signer_for(self, wallet: Wallet) -> Signer:
        path = Path(self.settings.hot_keystore_dir) / f"{wallet.name}.json"
        from kinko.chains.keystore import PASSWORD_ENV, KeystoreSigner  # eth-account

        return KeystoreSigner.open(path, os.environ.get(PASSWORD_ENV))

    def cosigner(self) -> Cosigner | None:
        """The policy co-signer at ``cosigner_url`` (its token from KINKO_COSIGN_TOKEN), or
        None when none is configured."""
        if not self.settings.cosigner_url:
            return None
        from kinko.cosign.client import HttpCosigner

        return HttpCosigner(self.settings.cosigner_url, os.environ.get("KINKO_COSIGN_TOKEN", ""))

    def prices(self) -> Prices | None:
        if self.settings.prices_file:
            return prices_from_csv(Path(self.settings.prices_file))
        if self.settings.prices:
            return prices_from_text(self.settings.prices)
        return None

    def custody(self) -> Custody:
        return Custody(self.ledger(), chain=self.chain(), signer_for=self.signer_for,
                       prices=self.prices(), confirmations=self.settings.confirmations,
                       time_lock=timedelta(hours=self.settings.policy_time_lock_hours))

    @property
    def assets(self) -> AssetRegistry:
        """Configured assets, plus those recorded in the database once it is open."""
        return self._ledger.assets if self._ledger is not None else self.settings.registry

    def store(self) -> SqlStore:
        if self._store is None:
            self._store = open_store(self.settings.database_url,
                                     sqlite_synchronous=self.settings.sqlite_synchronous)
        return self._store

    def ledger(self, *, check: bool = True) -> Ledger:
        if self._ledger is None:
            store = self.store()
            if check:
                check_current(store)
            self._ledger = Ledger(store, SystemClock(), self.assets)
            if check:
                self._ledger.sync_assets()
        return self._ledger

    def close(self) -> None:
        if self._store is not None:
            self._store.close()

    def money(self, text: str) -> tuple[str, int]:
        m = parse_money(text, self.assets)
        return m.asset, m.units

    def show(self, symbol: str, units: int) -> str:
        return format_units(units, self.assets[symbol])


def runtime(ctx: typer.Context) -> Runtime:
    obj = ctx.find_root().obj
    assert isinstance(obj, Runtime)
    return obj


def format_option() -> Any:
    return typer.Option("table", "--format", "-f", help="Output format: table, json or csv.")


def emit(columns: list[str], rows: Sequence[Sequence[object]], fmt: str, *,
         title: str | None = None, right: tuple[str, ...] = ()) -> None:
    if fmt not in FORMATS:
        raise BadInput(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    sys.stdout.write(render_rows(columns, rows, fmt, title=title, right=right))


_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_time(text: str, *, now: datetime | None = None) -> datetime:
    """ISO 8601 time (zone required, ``Z`` allowed) or a duration from now: ``30m``, ``2h``."""
    raw = text.strip()
    if raw and raw[-1] in _UNITS and raw[:-1].isdigit():
        return (now or datetime.now(UTC)) + timedelta(**{_UNITS[raw[-1]]: int(raw[:-1])})
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise BadInput(f"{text!r} is not a time: use ISO 8601 with a zone "
                       "(2018-01-26T00:02:00+09:00) or a duration like 30m, 2h, 7d") from None
    if value.tzinfo is None:
        raise BadInput(f"time {text!r} needs a zone, e.g. +09:00 or Z")
    return value
