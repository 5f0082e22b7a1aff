"""A dashboard on a small exchange: SQLite, the in-process chain, a 2-of-2 policy with
screening rules, API keys of every role, and browsers-as-clients signed in with them.

``site.client(name)`` is a TestClient with a live session cookie for that key's holder;
``site.csrf(client)`` reads the session's CSRF token from any page.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from dbtemplate import migrated_store
from fastapi.testclient import TestClient

from kinko.api import create_app
from kinko.chains.evm import EvmChain
from kinko.domain.approvals import public_key_hex
from kinko.domain.custody import Wallet
from kinko.domain.ledger import Posting
from kinko.domain.money import AssetRegistry
from kinko.ports import FixedClock
from kinko.services.access import Access
from kinko.services.custody import Custody
from kinko.services.ledger import Ledger

E = 10**18
DEST = "0x52908400098527886E0F7030069857D2E4169EE7"
HOT = "0xABaBaBaBABabABabAbAbABAbABabababaBaBABaB"  # the hot wallet's address
ROLES = {"ops": "operator", "alice": "approver", "bob": "approver", "audit": "auditor",
         "root": "admin"}


@dataclass
class Site:
    app: object
    ledger: Ledger
    chain: EvmChain
    access: Access
    clock: FixedClock
    data_dir: Path
    tokens: dict[str, str]
    approver_keys: dict[str, Ed25519PrivateKey]
    clients: list[TestClient] = field(default_factory=list)

    def anonymous(self) -> TestClient:
        client = TestClient(self.app, raise_server_exceptions=False,  # type: ignore[arg-type]
                            follow_redirects=False)
        self.clients.append(client)
        return client

    def client(self, name: str) -> TestClient:
        client = self.anonymous()
        r = client.post("/login", data={"api_key": self.tokens[name], "next": "/",
                                        "zone": "Asia/Tokyo"})
        assert r.status_code == 303, r.text
        return client

    @staticmethod
    def csrf(client: TestClient, page: str = "/") -> str:
        found = re.search(r'name="csrf" value="([^"]+)"', client.get(page).text)
        assert found, "no CSRF token on the page"
        return found.group(1)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    store = migrated_store(tmp_path / "k.db")
    clock = FixedClock()
    ledger = Ledger(store, clock, AssetRegistry.default())
    ledger.add_wallet(Wallet("eth-hot", "ETH", "hot", (HOT,)))
    ledger.add_wallet(Wallet("eth-cold", "ETH", "cold", ()))
    ledger.post("open", [Posting("wallet:eth-hot", "ETH", 4 * E),
                         Posting("wallet:eth-cold", "ETH", 96 * E),
                         Posting("customer:C1", "ETH", -60 * E),
                         Posting("customer:C2", "ETH", -40 * E)], source="opening")
    keys = {n: Ed25519PrivateKey.generate() for n in ("alice", "bob")}
    approvers = "".join(f'[[approvers]]\nname = "{n}"\npublic_key = "{public_key_hex(k)}"\n'
                        for n, k in keys.items())
    (tmp_path / "p.toml").write_text(
        f"version = 1\nquorum = 2\n{approvers}\n[assets.ETH]\nmax_hot_ratio = \"0.05\"\n"
        '[[screening.rules]]\nkind = "max_amount"\nasset = "ETH"\namount = "10"\n'
        'action = "review"\nreason = "large"\n')
    chain = EvmChain.in_process()
    Custody(ledger, chain=chain).load_policy(tmp_path / "p.toml", "ops")
    access = Access(store, clock)
    tokens = {name: access.create_key(name, role)[1] for name, role in ROLES.items()}
    data = tmp_path / "data"
    app = create_app(lambda: Custody(ledger, chain=chain), lambda: access,
                     dashboard=data, clock=clock)
    site = Site(app, ledger, chain, access, clock, data, tokens, keys)
    yield site
    for client in site.clients:
        client.close()
    store.close()
