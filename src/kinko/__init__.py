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

from kinko.domain.custody import Wallet
from kinko.domain.ledger import BalanceState, Entry, Finding, Hold, Posting
from kinko.domain.money import Asset, AssetRegistry, Money, format_units, parse_money, parse_units
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
