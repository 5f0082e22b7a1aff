"""Owners of a cold Safe sign an approved refill on its proposal page: the page shows the
Safe transaction and its hash; a signature pasted from elsewhere (a hardware wallet's
eth_sign of the hash) is checked against the Safe's owners and recorded with an audit
record; a stranger's or a malformed one is refused with a 4xx saying why; an auditor cannot
add one. The in-process chain runs the real Safe 1.4.1 contracts."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from dbtemplate import migrated_store
from eth_account import Account
from eth_account.messages import encode_defunct
from fastapi.testclient import TestClient

from kinko.api import create_app
from kinko.chains import safe as S
from kinko.chains.evm import EvmChain, EvmKey
from kinko.chains.keystore import throwaway_signer
from kinko.chains.registry import spender_for
from kinko.chains.wallets import SafeAccounts
from kinko.domain.approvals import public_key_hex, sign_proposal
from kinko.domain.custody import Wallet
from kinko.domain.ledger import Posting
from kinko.domain.money import AssetRegistry
from kinko.ports import FixedClock
from kinko.services.access import Access
from kinko.services.custody import Custody
from kinko.services.ledger import Ledger
from kinko.services.wallets import create_multisig

E = 10**18


class Keys:
    def __init__(self, relayer: EvmKey) -> None:
        self._relayer = relayer

    def key(self, name: str) -> EvmKey:
        raise KeyError(name)  # kinko holds no key of the cold Safe

    def relayer(self) -> EvmKey:
        return self._relayer


@dataclass
class Rig:
    app: object
    custody: Custody
    access: Access
    owners: list[object]  # eth_account accounts: the approvers' owner keys
    proposal: str
    tokens: dict[str, str]

    def client(self, name: str) -> TestClient:
        client = TestClient(self.app, raise_server_exceptions=False,  # type: ignore[arg-type]
                            follow_redirects=False)
        assert client.post("/login", data={"api_key": self.tokens[name], "next": "/",
                                           "zone": "Asia/Tokyo"}).status_code == 303
        return client


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    folder = tmp_path_factory.mktemp("web-safe")
    chain = EvmChain.in_process()
    relayer = throwaway_signer()
    chain.fund(relayer.address, E)
    store = migrated_store(folder / "k.db")
    clock = FixedClock()
    ledger = Ledger(store, clock, AssetRegistry.default())
    owners = [Account.create() for _ in range(3)]
    safes = SafeAccounts(chain, S.deploy_safe_contracts(chain), relayer)
    cold = create_multisig(ledger, safes, "eth-cold", "ETH", "cold",
                           [o.address for o in owners], 2)
    hot = Account.create().address
    ledger.add_wallet(Wallet("eth-hot", "ETH", "hot", (hot,)))
    chain.fund(cold.addresses[0], 5 * E)
    ledger.post("open", [Posting("wallet:eth-cold", "ETH", 5 * E),
                         Posting("customer:C1", "ETH", -5 * E)], source="opening")
    approvers = {n: Ed25519PrivateKey.generate() for n in ("alice", "bob")}
    (folder / "p.toml").write_text("version = 1\nquorum = 2\n" + "".join(
        f'[[approvers]]\nname = "{n}"\npublic_key = "{public_key_hex(k)}"\n'
        for n, k in approvers.items()))
    keys = Keys(relayer)

    def custody() -> Custody:
        return Custody(ledger, chain=chain,
                       spender_for=lambda w: spender_for(chain, "evm", w, keys))

    c = custody()
    c.load_policy(folder / "p.toml", "ops")
    view = c.propose("refill", {"asset": "ETH", "amount": str(E), "from_wallet": "eth-cold",
                                "to_wallet": "eth-hot", "from_address": cold.addresses[0],
                                "to_address": hot}, "ops", "refill")
    for name, key in approvers.items():
        c.approve(view.proposal.id, name, sign_proposal(view.proposal, key))
    access = Access(store, clock)
    tokens = {n: access.create_key(n, role)[1]
              for n, role in (("alice", "approver"), ("audit", "auditor"))}
    app = create_app(custody, lambda: access, dashboard=folder / "data", clock=clock)
    yield Rig(app, c, access, owners, view.proposal.id, tokens)
    store.close()


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found
    return found.group(1)


def test_owners_sign_an_approved_refill_on_its_page(rig: Rig) -> None:
    alice, url = rig.client("alice"), f"/proposals/{rig.proposal}"
    page = html.unescape(alice.get(url).text)
    digest = rig.custody.owners_transaction(rig.proposal)["digest"]
    assert digest in page and "0 of 2 owners' signatures" in page
    post = f"{url}/owner-signature"
    stranger = Account.create()
    pasted = stranger.unsafe_sign_hash(bytes.fromhex(digest[2:])).signature.hex()
    r = alice.post(post, data={"csrf": _csrf(page), "owner": stranger.address,
                               "signature": pasted})
    assert r.status_code in (400, 409, 422) and "not an owner" in r.text
    r = alice.post(post, data={"csrf": _csrf(page), "owner": rig.owners[0].address,  # type: ignore[attr-defined]
                               "signature": "0x1234"})
    assert r.status_code == 400 and "130 hexadecimal characters" in r.text
    audit = rig.client("audit")
    r = audit.post(post, data={"csrf": _csrf(audit.get(url).text),
                               "owner": rig.owners[0].address,  # type: ignore[attr-defined]
                               "signature": pasted})
    assert r.status_code == 403
    # a hardware wallet signs the hash's 32 bytes as a message
    owner = rig.owners[1]
    signed = owner.sign_message(encode_defunct(primitive=bytes.fromhex(digest[2:])))  # type: ignore[attr-defined]
    r = alice.post(post, data={"csrf": _csrf(page), "owner": owner.address,  # type: ignore[attr-defined]
                               "signature": "0x" + bytes(signed.signature).hex()})
    assert r.status_code == 303, r.text
    page = html.unescape(alice.get(url).text)
    assert "1 of 2 owners' signatures" in page
    assert f'data-owner="{owner.address.lower()}"' in page  # type: ignore[attr-defined]
    assert any(e["action"] == "proposal.owner_signature" and e["actor"] == "alice"
               for e in rig.access.audit_log())
    assert "オーナー署名 1 / 2" in alice.get(f"{url}?lang=ja").text
