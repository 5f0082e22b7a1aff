"""Schemathesis generates requests from kinko's own OpenAPI spec (valid and invalid bodies,
headers, paths) and sends them with a real operator key: no request may produce a 500."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

import pytest
import schemathesis
from dbtemplate import migrated_store
from hypothesis import HealthCheck, settings

from kinko.api import create_app
from kinko.chains.evm import EvmChain
from kinko.domain.custody import Wallet
from kinko.domain.ledger import Posting
from kinko.domain.money import AssetRegistry
from kinko.ports import FixedClock
from kinko.services.access import Access
from kinko.services.custody import Custody
from kinko.services.ledger import Ledger


def _app():  # type: ignore[no-untyped-def]
    folder = Path(tempfile.mkdtemp(prefix="kinko-fuzz-"))
    atexit.register(shutil.rmtree, folder, True)  # with the module's store, at exit
    store = migrated_store(folder / "k.db")
    clock = FixedClock()
    ledger = Ledger(store, clock, AssetRegistry.default())
    ledger.add_wallet(Wallet("eth-hot", "ETH", "hot",
                             ("0x52908400098527886E0F7030069857D2E4169EE7",)))
    ledger.post("open", [Posting("wallet:eth-hot", "ETH", 10**20),
                         Posting("customer:C1", "ETH", -(10**20))], source="opening")
    (folder / "p.toml").write_text(
        'version = 1\nquorum = 1\n[[approvers]]\nname = "alice"\npublic_key = "'
        + "ab" * 32 + '"\n[[screening.rules]]\nkind = "max_amount"\nasset = "ETH"\n'
        'amount = "10"\naction = "review"\n')
    chain = EvmChain.in_process()
    Custody(ledger, chain=chain).load_policy(folder / "p.toml", "ops")
    access = Access(store, clock)
    token = access.create_key("ops", "admin")[1]
    return create_app(lambda: Custody(ledger, chain=chain), lambda: access), token


APP, TOKEN = _app()
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
def test_no_request_produces_a_server_error(case) -> None:  # type: ignore[no-untyped-def]
    response = case.call(headers={"Authorization": f"Bearer {TOKEN}",
                                  **(case.headers or {})})
    assert response.status_code < 500, (case.method, case.path, response.text)
    if response.status_code >= 400:
        assert set(response.json()["error"]) == {"code", "message", "message_id", "details"}
