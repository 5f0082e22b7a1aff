"""The co-signer reading kinko's PostgreSQL database as a role with exactly the documented
rights (``kinko cosign grants``): co-signing works with them, the role cannot change
kinko's data, a missing grant or a database that went away is refused (fail closed) and
alerted, and an alert kinko's database cannot take waits in the co-signer's outbox."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pgserver
import psycopg
import pytest
from cosignworld import ETH, TOKEN_ENV, CosignProcess, Exchange, build, cosign_config, fresh
from sqlalchemy import create_engine, text

from kinko.chains.evm import EvmChain
from kinko.chains.keystore import create_keystore
from kinko.cosign.client import HttpCosigner
from kinko.errors import CosignRefused
from kinko.store.cosign_view import read_only_url

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.xdist_group("cosign-pg")]
TOKEN = "p" * 24 + os.urandom(16).hex()
PASSWORD = "co-signer key file password"


@dataclass
class Rig:
    server: pgserver.PgServer
    database: str
    ex: Exchange
    process: CosignProcess
    folder: Path
    address: str

    def admin(self, sql: str) -> None:
        with psycopg.connect(f"host=127.0.0.1 port={self.server.port} user=kinko "
                             f"dbname={self.database}", autocommit=True) as conn:
            conn.execute(sql)

    @property
    def role_url(self) -> str:
        return f"postgresql+psycopg://kinko_cosign@127.0.0.1:{self.server.port}/{self.database}"

    def client(self) -> HttpCosigner:
        return HttpCosigner(self.process.url, TOKEN, expected_signer=self.address)


@pytest.fixture(scope="module")
def rig(anvil, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:  # type: ignore[no-untyped-def]
    folder = tmp_path_factory.mktemp("cosign-pg")
    server = pgserver.start(memory=True)
    database = server.create_database()
    address = create_keystore(folder / "cosign-key.json", PASSWORD)
    ex = build(EvmChain.connect(anvil.url), folder, address, store_url=server.url(database))
    grants = subprocess.run([sys.executable, "-m", "kinko", "cosign", "grants", "--role",
                             "kinko_cosign"], capture_output=True, text=True, check=True)
    rig_ = Rig(server, database, ex, CosignProcess(folder / "cosign.toml", {}), folder,
               address)
    rig_.admin("CREATE ROLE kinko_cosign LOGIN")
    for statement in grants.stdout.strip().splitlines():
        rig_.admin(statement)
    ex.store_url = rig_.role_url  # what the co-signer is configured with
    config = cosign_config(ex, folder, rpc_url=anvil.url, request_timeout_ms=3000)
    rig_.process = CosignProcess(config, {TOKEN_ENV: TOKEN,
                                          "KINKO_COSIGN_KEY_PASSWORD": PASSWORD}).start()
    yield rig_
    rig_.process.stop()
    ex.close()
    server.stop()


def test_the_documented_grants_are_enough_and_read_only(rig: Rig) -> None:
    ex = rig.ex
    to = fresh()
    ex.request("G-1", "ETH", 1 * ETH, to)
    tx = ex.eth_tx(to, 1 * ETH)
    assert ex.execute(tx, rig.client().cosign("withdrawal", "G-1", tx))
    engine = create_engine(read_only_url(rig.role_url))
    with engine.connect() as conn:
        for sql in ("UPDATE withdrawals SET state = 'allowed'",
                    "INSERT INTO breaker_events (scope, event, at_us, by, reason) "
                    "VALUES ('ETH', 'reset', 0, 'x', 'x')"):
            with pytest.raises(Exception, match="read-only transaction"):
                conn.execute(text(sql))
            conn.rollback()
    engine.dispose()
    plain = create_engine(rig.role_url)
    with plain.connect() as conn:  # without the read-only session: the role's rights refuse
        with pytest.raises(Exception, match="permission denied"):
            conn.execute(text("UPDATE withdrawals SET state = 'allowed'"))
        conn.rollback()
        with pytest.raises(Exception, match="permission denied"):
            conn.execute(text("SELECT * FROM api_keys"))
    plain.dispose()


def _alerts(rig: Rig, count: int, timeout: float = 30.0) -> int:
    deadline = time.monotonic() + timeout
    while True:
        with rig.ex.store.watch(write=False) as tables:
            found = [a for a in tables.alerts() if a["kind"] == "cosign_refused"]
        if len(found) >= count or time.monotonic() > deadline:
            return len(found)
        time.sleep(0.1)


def test_a_missing_grant_or_a_database_gone_is_refused(rig: Rig) -> None:
    ex = rig.ex
    to = fresh()
    ex.request("G-2", "ETH", 1 * ETH, to)
    tx = ex.eth_tx(to, 1 * ETH)
    rig.admin("REVOKE SELECT ON holds FROM kinko_cosign")
    with pytest.raises(CosignRefused) as caught:
        rig.client().cosign("withdrawal", "G-2", tx)
    assert caught.value.reason == "kinko_unreachable"
    assert "permission denied" in caught.value.message
    assert _alerts(rig, 1) == 1  # INSERT on alerts is still granted: the operators know
    rig.admin("GRANT SELECT ON holds TO kinko_cosign")
    signed = rig.client().cosign("withdrawal", "G-2", tx)
    rig.server.stop()  # kinko's database goes away
    with pytest.raises(CosignRefused) as gone:
        rig.client().cosign("withdrawal", "G-2", tx)  # even a repeat is checked again
    assert gone.value.reason == "kinko_unreachable"
    assert ex.execute(tx, signed)  # what was signed before stays valid on chain
    engine = create_engine(f"sqlite:///{rig.folder / 'cosign.db'}")
    deadline = time.monotonic() + 30
    while True:
        with engine.connect() as conn:
            waiting = conn.execute(text(
                "SELECT attempts, last_error FROM cosign_outbox WHERE sink = 'kinko' "
                "AND state = 'queued'")).fetchall()
        if (waiting and waiting[0][0] >= 1) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    engine.dispose()
    assert waiting and waiting[0][0] >= 1 and "did not take the alert" in waiting[0][1]
