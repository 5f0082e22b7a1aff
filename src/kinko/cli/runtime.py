"""What every command shares: settings, the opened ledger, output and amounts.

Commands stay thin: parse flags, call one service, render. This module turns the settings
into a :class:`~kinko.services.ledger.Ledger` on first use and gives the helpers for
``--format`` output and for amounts written as ``1.5 XEM``.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from kinko.domain.custody import Wallet
from kinko.domain.messages import msg
from kinko.domain.money import AssetRegistry, format_units, parse_money
from kinko.errors import BadInput, ConfigError
from kinko.i18n import ENGLISH, LANGS, Localizer
from kinko.ports import Chain, Cosigner, Multisigs, Prices, Spender, SystemClock
from kinko.prices import prices_from_csv, prices_from_text
from kinko.render.tables import FORMATS, render_rows
from kinko.settings import Settings, language

if TYPE_CHECKING:  # the database (SQLAlchemy) and the services load when a command uses them
    from kinko.services.custody import Custody
    from kinko.services.ledger import Ledger
    from kinko.store import SqlStore

__all__ = ["Runtime", "cli_actor", "emit", "format_option", "heading", "parse_time", "runtime",
           "speaking", "speech", "spoken", "word"]

_SPOKEN: list[Localizer] = []  # the language of the command that runs (tables, errors)


def speaking(say: Localizer | None) -> None:
    """Note the language the running command speaks (None: none yet, its settings are not
    read); :func:`kinko.cli.main` says the command's errors in it."""
    _SPOKEN[:] = [say] if say is not None else []


def spoken() -> Localizer | None:
    """The language the running command speaks, once its settings are read."""
    return _SPOKEN[0] if _SPOKEN else None


def speech() -> Localizer:
    """The language the running command speaks (English before its settings are read), for
    helpers that are given no :class:`Runtime`."""
    return _SPOKEN[0] if _SPOKEN else ENGLISH


@dataclass
class Runtime:
    settings: Settings
    config: str | None = None  # the settings file the command was given (--config)
    flags: dict[str, Any] = field(default_factory=dict)  # the settings flags it was given
    _store: SqlStore | None = field(default=None, repr=False)
    _ledger: Ledger | None = field(default=None, repr=False)
    _chains: dict[str, tuple[str, Chain]] | None = field(default=None, repr=False)
    _keys: Any = field(default=None, repr=False)
    _cosigner: Cosigner | None = field(default=None, repr=False)

    @property
    def lang(self) -> str:
        """The language the command line speaks: the ``lang`` setting, else the locale's."""
        return language(self.settings.lang)

    @property
    def say(self) -> Localizer:
        """What the command tells its operator, in :attr:`lang` (``say("cli.…", ...)``)."""
        return Localizer(self.lang)

    def cells(self, fmt: str) -> Localizer:
        """The language of the values in a listing's cells: :attr:`say` in a table, which a
        person reads, English in JSON and CSV, which programs read."""
        return self.say if fmt == "table" else ENGLISH

    def lang_for(self, given: str | None, *, document: bool = False) -> str:
        """The language a command's own ``--lang`` chose: ``given``, else for what it prints
        :attr:`lang`, and for a document it writes (a report, a page, a flow graph) the
        ``lang`` setting when set, else Japanese: such documents go to the FSA and into the
        exchange's own records."""
        lang = given or ((self.settings.lang or "ja") if document else self.lang)
        if lang not in LANGS:
            raise BadInput(f"--lang must be ja or en, not {lang!r}",
                           says=msg("error.cli.lang", lang=repr(lang)[:80]))
        return lang

    def chains(self) -> dict[str, tuple[str, Chain]]:
        """Every configured chain by name: (adapter kind, its ``Chain``, retried with
        backoff), built from the ``chains`` setting (and ``evm_rpc_url``, which is
        ``ethereum=evm:URL``) through the adapter registry."""
        if self._chains is None:
            named = self._named()
            if not named:  # no chain configured: nothing of web3 is loaded (a second of start-up)
                self._chains = {}
                return self._chains
            from kinko.chains.registry import connect  # web3: only for commands that use it

            self._chains = {name: (adapter, connect(name, adapter, url,
                                                    attempts=self.settings.rpc_attempts,
                                                    accounts=self._accounts(name, adapter,
                                                                            accounts)))
                            for name, adapter, url, accounts in named}
        return self._chains

    def _named(self) -> list[tuple[str, str, str, tuple[str, ...]]]:
        named = list(self.settings.chains)
        if self.settings.evm_rpc_url and "ethereum" not in {n[0] for n in named}:
            named.insert(0, ("ethereum", "evm", self.settings.evm_rpc_url, ()))
        return named

    def _accounts(self, chain: str, adapter: str, extra: tuple[str, ...]) -> tuple[str, ...]:
        """The accounts a node that lists unconfirmed transactions per account (NIS1) is
        asked about: every registered wallet's on ``chain`` and the setting's own."""
        if adapter != "nis1":
            return extra
        chains = {symbol: self.assets[symbol].chain for symbol in self.assets}
        wallets = [a for w in self.ledger().wallets() if chains.get(w.asset) == chain
                   for a in w.addresses]
        return tuple(dict.fromkeys([*wallets, *extra]))

    def adapter(self, chain: str) -> str | None:
        """The adapter kind configured for ``chain`` (without connecting), or None."""
        return next((adapter for name, adapter, _, _ in self._named() if name == chain), None)

    def chain(self) -> Chain | None:
        """The chain the custody use cases run on (the first configured), or None."""
        chains = self.chains()
        return next(iter(chains.values()))[1] if chains else None

    def contract_check(self) -> Any:
        """How the first chain checks a multisig wallet's proof of control (see
        :func:`kinko.chains.registry.contract_check`), or None."""
        from kinko.chains.registry import contract_check

        chains = self.chains()
        if not chains:
            return None
        adapter, chain = next(iter(chains.values()))
        return contract_check(chain, adapter)

    def keys(self) -> Any:
        """The signing keys, by name (:class:`~kinko.chains.keys.KeyRing`)."""
        if self._keys is None:
            from kinko.chains.keys import KeyRing

            s = self.settings
            self._keys = KeyRing(Path(s.hot_keystore_dir),
                                 {name: (store, ref) for name, store, ref in s.keys},
                                 hsm_module=s.hsm_module, hsm_token=s.hsm_token,
                                 relayer_name=s.relayer_key, env=dict(os.environ))
        return self._keys

    def spender_for(self, wallet: Wallet) -> Spender:
        """The wallet's :class:`~kinko.ports.Spender`, by its chain's adapter and its kind,
        with its keys from the ``keys`` setting."""
        from kinko.chains.registry import spender_for

        chain_name = self.assets[wallet.asset].chain
        found = self.chains().get(chain_name)
        if found is None:
            raise ConfigError(f"wallet {wallet.name} is on {chain_name}: no node is configured "
                              "for it (set chains or KINKO_EVM_RPC_URL)",
                              says=msg("error.cli.no_node_wallet", wallet=wallet.name[:80],
                                       chain=chain_name[:80]))
        adapter, chain = found
        cosigned = wallet.multisig is not None and wallet.multisig.cosigner is not None
        return spender_for(chain, adapter, wallet, self.keys(),
                           self.cosigner() if cosigned else None)

    def multisigs(self, asset: str, *, deploy: bool = False) -> Multisigs:
        """The multisig accounts of ``asset``'s chain; the relayer key pays for creating
        one (``deploy``: a development node, whose Safe contracts kinko deploys if missing)."""
        from kinko.chains.registry import multisigs_for

        chain_name = self.assets[asset].chain
        found = self.chains().get(chain_name)
        if found is None:
            raise ConfigError(f"{asset} is on {chain_name}: no node is configured for it (set "
                              "chains or KINKO_EVM_RPC_URL)",
                              says=msg("error.cli.no_node_asset", asset=asset[:80],
                                       chain=chain_name[:80]))
        adapter, chain = found
        return multisigs_for(chain, adapter, self.keys().relayer, deploy=deploy)

    def key_location(self, wallet: Wallet) -> str | None:
        """Where the key kinko signs with for ``wallet`` lives: "hsm" or "file"; "absent"
        when that file is not there (a wallet registered by its address); None for a
        wallet kinko holds no key of (a key wallet that is not hot, a multisig without an
        operations key)."""
        if wallet.kind == "key" and wallet.tier != "hot":
            return None
        if wallet.multisig is not None and wallet.multisig.operator is None:
            return None
        from kinko.domain.nem_tx import is_nem

        chain = self.assets[wallet.asset].chain
        if is_nem(chain) or self.adapter(chain) == "nis1":  # NEM keys: files only
            store, ref = self.keys().nem_where(wallet.name)
        else:
            store, ref = self.keys().where(wallet.name)
        if store == "file" and not Path(ref).exists():
            return "absent"  # registered by its address: kinko holds no key of it
        return str(store)

    def cosigner(self) -> Cosigner | None:
        """The policy co-signer at ``cosigner_url`` (its token from KINKO_COSIGN_TOKEN), or
        None when none is configured; the co-signed wallets' ``Spender`` asks it."""
        if not self.settings.cosigner_url:
            return None
        if self._cosigner is None:
            from kinko.cosign.client import HttpCosigner

            self._cosigner = HttpCosigner(self.settings.cosigner_url,
                                          os.environ.get("KINKO_COSIGN_TOKEN", ""))
        return self._cosigner

    def prices(self) -> Prices | None:
        if self.settings.prices_file:
            return prices_from_csv(Path(self.settings.prices_file), self.assets)
        if self.settings.prices:
            return prices_from_text(self.settings.prices, self.assets)
        return None

    def custody(self) -> Custody:
        from kinko.services.custody import Custody

        return Custody(self.ledger(), chain=self.chain(), spender_for=self.spender_for,
                       prices=self.prices(), confirmations=self.settings.confirmations,
                       key_location=self.key_location,
                       time_lock=timedelta(hours=self.settings.policy_time_lock_hours))

    @property
    def assets(self) -> AssetRegistry:
        """Configured assets, plus those recorded in the database once it is open."""
        return self._ledger.assets if self._ledger is not None else self.settings.registry

    def store(self) -> SqlStore:
        if self._store is None:
            from kinko.store import open_store

            self._store = open_store(self.settings.database_url,
                                     sqlite_synchronous=self.settings.sqlite_synchronous,
                                     pool=self.settings.database_pool)
        return self._store

    def ledger(self, *, check: bool = True) -> Ledger:
        if self._ledger is None:
            from kinko.services.ledger import Ledger
            from kinko.store import check_current, require_existing

            if check and self._store is None:  # not creating an empty SQLite file
                require_existing(self.settings.database_url)
            store = self.store()
            if check:
                check_current(store)
            self._ledger = Ledger(store, SystemClock(), self.assets)
            if check:
                self._ledger.sync_assets()
        return self._ledger

    def close(self) -> None:
        if self._keys is not None:
            self._keys.close()
        if self._store is not None:
            self._store.close()

    def money(self, text: str) -> tuple[str, int]:
        m = parse_money(text, self.assets)
        return m.asset, m.units

    def show(self, symbol: str, units: int) -> str:
        return format_units(units, self.assets[symbol])


def cli_actor(by: str | None) -> str:
    """The audit log's actor of a change made from the command line: ``cli:NAME`` for the
    ``--by NAME`` given, ``cli`` without one."""
    return f"cli:{by.strip()}" if by and by.strip() else "cli"


def runtime(ctx: typer.Context) -> Runtime:
    obj = ctx.find_root().obj
    assert isinstance(obj, Runtime)
    return obj


def format_option() -> Any:
    return typer.Option("table", "--format", "-f", help="Output format: table, json or csv.")


def emit(columns: list[str], rows: Sequence[Sequence[object]], fmt: str, *,
         title: str | None = None, right: tuple[str, ...] = ()) -> None:
    """Rows under ``columns`` in ``fmt``. A table is for a person: its headings (and the
    catalog messages in its cells) are in the command line's language (:func:`heading`).
    JSON and CSV are for programs: their keys and headers stay the English ``columns``,
    whatever the language."""
    if fmt not in FORMATS:
        raise BadInput(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}",
                       says=msg("error.cli.format", formats=", ".join(FORMATS),
                                format=repr(fmt)[:80]))
    say = speech()
    if fmt == "table":
        shown = [heading(say, c) for c in columns]
        right = tuple(h for h, c in zip(shown, columns, strict=True) if c in right)
        columns = shown
    sys.stdout.write(render_rows(columns, rows, fmt, title=title, right=right,
                                 width=terminal_width(), say=say))


def word(say: Localizer, prefix: str, value: str | None) -> str:
    """A recorded value (a state, a tier, a kind) as the command line says it: in English
    as recorded (``review``, which scripts and logs search for), in another language the
    catalog's word (``prefix.value``: 審査待ち)."""
    if say.lang == "en":
        return "" if value is None else str(value)
    return say.word(prefix, value)


def heading(say: Localizer, column: str) -> str:
    """A table's column heading in ``say``'s language: ``cli.col.<column>`` (lower case, a
    run of other characters as ``_``); an asset's symbol (``ETH``) or nothing as it is."""
    if not column or column.isupper():
        return column
    return say("cli.col." + re.sub(r"[^a-z0-9]+", "_", column.lower()).strip("_"))


def terminal_width() -> int | None:
    """The width of the terminal the output goes to (``COLUMNS`` if set), or None when it
    goes to a pipe or a file (then tables keep their lines whole)."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) >= 40:
        return int(columns)
    if not sys.stdout.isatty():
        return None
    return shutil.get_terminal_size().columns


_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
# the largest sequence number an option may name: a signed 64-bit integer, as the databases
# keep it (a larger one would overflow where it is bound to a statement)
SEQ_MAX = 2**63 - 1


def parse_time(text: str, *, now: datetime | None = None) -> datetime:
    """ISO 8601 time (zone required, ``Z`` allowed) or a duration from now: ``30m``, ``2h``."""
    raw = text.strip()
    if raw and raw[-1] in _UNITS and raw[:-1].isdigit():
        try:
            return (now or datetime.now(UTC)) + timedelta(**{_UNITS[raw[-1]]: int(raw[:-1])})
        except (OverflowError, ValueError):  # beyond a date's range, or no digits int() reads
            pass  # refused below, as no time
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise BadInput(f"{repr(text)[:80]} is not a time: use ISO 8601 with a zone "
                       "(2018-01-26T00:02:00+09:00) or a duration like 30m, 2h, 7d",
                       says=msg("error.cli.time", text=repr(text)[:80])) from None
    if value.tzinfo is None:
        raise BadInput(f"time {repr(text)[:80]} needs a zone, e.g. +09:00 or Z",
                       says=msg("error.cli.time_zone", text=repr(text)[:80]))
    try:
        value.astimezone(UTC)
    except OverflowError:  # kinko keeps times in UTC: year 0 or 10000 there
        raise BadInput(f"time {repr(text)[:80]} is outside the years 1 to 9999 in UTC",
                       says=msg("error.cli.time_range", text=repr(text)[:80])) from None
    return value
