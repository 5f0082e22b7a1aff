"""The ledger the API tests start from: a new SQLite store at the newest schema whose ETH hot
wallet (at the address given) holds customer C1's 100 ETH."""

from __future__ import annotations

from pathlib import Path

from dbtemplate import migrated_store

from kinko.domain.custody import Wallet
from kinko.domain.ledger import Posting
from kinko.domain.money import AssetRegistry
from kinko.ports import Clock
from kinko.services.ledger import Ledger
from kinko.store import SqlStore

E = 10**18  # wei in an ether


def funded_ledger(path: Path, clock: Clock, hot: str) -> tuple[SqlStore, Ledger]:
    """The store at ``path`` and its ledger: wallet ``eth-hot`` at ``hot``, 100 ETH of C1's."""
    store = migrated_store(path)
    ledger = Ledger(store, clock, AssetRegistry.default())
    ledger.add_wallet(Wallet("eth-hot", "ETH", "hot", (hot,)))
    ledger.post("open", [Posting("wallet:eth-hot", "ETH", 100 * E),
                         Posting("customer:C1", "ETH", -100 * E)], source="opening")
    return store, ledger
