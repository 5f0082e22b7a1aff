"""The ledger the API tests start from: a new SQLite store at the newest schema whose ETH hot
wallet (at the address given) holds customer C1's 100 ETH; and the API served on it."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from dbtemplate import migrated_store
from fastapi.testclient import TestClient

from kinko.api import create_app
from kinko.chains.evm import EvmChain
from kinko.domain.custody import Wallet
from kinko.domain.ledger import Posting
from kinko.domain.money import AssetRegistry
from kinko.ports import Clock, FixedClock
from kinko.services.access import Access
from kinko.services.custody import Custody
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


def served_api(folder: Path, hot: str, policy: str, keys: Iterable[tuple[str, str]]
               ) -> tuple[TestClient, dict[str, str], Access, SqlStore]:
    """The API on :func:`funded_ledger` in ``folder`` at a fixed time, under the custody
    policy ``policy`` (a policy file's text), with an API key per (name, role) of ``keys``:
    its test client (a server error is an answer, not raised), each key's token by name,
    the keys' service and the store (to close)."""
    clock = FixedClock()
    store, ledger = funded_ledger(folder / "k.db", clock, hot)
    (folder / "p.toml").write_text(policy)
    chain = EvmChain.in_process()
    Custody(ledger, chain=chain).load_policy(folder / "p.toml", "ops")
    access = Access(store, clock)
    tokens = {name: access.create_key(name, role)[1] for name, role in keys}
    app = create_app(lambda: Custody(ledger, chain=chain), lambda: access, clock=clock)
    return TestClient(app, raise_server_exceptions=False), tokens, access, store
