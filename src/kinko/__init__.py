"""kinko (金庫): custody-risk control for crypto-asset exchanges.

The curated public API for using kinko as a library; the command line (``kinko``) is a
thin shell over the same calls::

    from kinko import AssetRegistry, Ledger, Posting, SystemClock, open_store, upgrade

    store = open_store("sqlite:///kinko.db")
    upgrade(store)
    ledger = Ledger(store, SystemClock(), AssetRegistry.default())
    ledger.post("dep-1", [Posting("bank:trust", "JPY", 30000),
                          Posting("customer:C1", "JPY", -30000)], source="bank:stmt-42")
    assert ledger.verify().ok
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kinko.domain.custody import Wallet
    from kinko.domain.ledger import BalanceState, Entry, Finding, Hold, Posting
    from kinko.domain.money import (
        Asset,
        AssetRegistry,
        Money,
        format_units,
        parse_money,
        parse_units,
    )
    from kinko.errors import (
        BadInput,
        ConfigError,
        EnvironmentProblem,
        HoldError,
        IdempotencyConflict,
        InputFileError,
        InvalidAccount,
        InvalidAmount,
        InvalidEntry,
        KinkoError,
        Overdraft,
        StoreUnavailable,
        UnknownAsset,
    )
    from kinko.ports import FixedClock, SystemClock
    from kinko.services.custody import Custody, custody_positions, custody_report
    from kinko.services.customers import ImportReport, import_customers
    from kinko.services.deposits import Deposits
    from kinko.services.ledger import Appended, Draft, Ledger, VerifyReport
    from kinko.services.withdrawals import Withdrawals
    from kinko.settings import Settings, load_settings
    from kinko.store import SqlStore, open_store, upgrade

# each public name and the module it comes from: imported on first use, so that
# ``import kinko.domain.ledger`` loads the domain only (no SQLAlchemy, no web3)
_WHERE: dict[str, str] = {
    "Appended": "kinko.services.ledger",
    "Asset": "kinko.domain.money",
    "AssetRegistry": "kinko.domain.money",
    "BadInput": "kinko.errors",
    "BalanceState": "kinko.domain.ledger",
    "ConfigError": "kinko.errors",
    "Custody": "kinko.services.custody",
    "Deposits": "kinko.services.deposits",
    "Draft": "kinko.services.ledger",
    "Entry": "kinko.domain.ledger",
    "EnvironmentProblem": "kinko.errors",
    "Finding": "kinko.domain.ledger",
    "FixedClock": "kinko.ports",
    "Hold": "kinko.domain.ledger",
    "HoldError": "kinko.errors",
    "IdempotencyConflict": "kinko.errors",
    "ImportReport": "kinko.services.customers",
    "InputFileError": "kinko.errors",
    "InvalidAccount": "kinko.errors",
    "InvalidAmount": "kinko.errors",
    "InvalidEntry": "kinko.errors",
    "KinkoError": "kinko.errors",
    "Ledger": "kinko.services.ledger",
    "Money": "kinko.domain.money",
    "Overdraft": "kinko.errors",
    "Posting": "kinko.domain.ledger",
    "Settings": "kinko.settings",
    "SqlStore": "kinko.store",
    "StoreUnavailable": "kinko.errors",
    "SystemClock": "kinko.ports",
    "UnknownAsset": "kinko.errors",
    "VerifyReport": "kinko.services.ledger",
    "Wallet": "kinko.domain.custody",
    "Withdrawals": "kinko.services.withdrawals",
    "custody_positions": "kinko.services.custody",
    "custody_report": "kinko.services.custody",
    "format_units": "kinko.domain.money",
    "import_customers": "kinko.services.customers",
    "load_settings": "kinko.settings",
    "open_store": "kinko.store",
    "parse_money": "kinko.domain.money",
    "parse_units": "kinko.domain.money",
    "upgrade": "kinko.store",
}

__version__ = "0.1.0"

__all__ = [
    "Appended",
    "Asset",
    "AssetRegistry",
    "BadInput",
    "BalanceState",
    "ConfigError",
    "Custody",
    "Deposits",
    "Draft",
    "Entry",
    "EnvironmentProblem",
    "Finding",
    "FixedClock",
    "Hold",
    "HoldError",
    "IdempotencyConflict",
    "ImportReport",
    "InputFileError",
    "InvalidAccount",
    "InvalidAmount",
    "InvalidEntry",
    "KinkoError",
    "Ledger",
    "Money",
    "Overdraft",
    "Posting",
    "Settings",
    "SqlStore",
    "StoreUnavailable",
    "SystemClock",
    "UnknownAsset",
    "VerifyReport",
    "Wallet",
    "Withdrawals",
    "custody_positions",
    "custody_report",
    "format_units",
    "import_customers",
    "load_settings",
    "open_store",
    "parse_money",
    "parse_units",
    "upgrade",
]


def __getattr__(name: str) -> Any:
    """A public name, imported from its module the first time it is asked for."""
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'kinko' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
