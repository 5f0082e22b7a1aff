"""``kinko serve`` behind a reverse proxy (setting ``trusted_proxies``): a request from a
trusted proxy is counted and audited under the client address its X-Forwarded-For names;
from anyone else, under the connection's own address (a client cannot name itself another);
a value that is not an address or a network is refused as a setting."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import loopback
import pytest
from pidapp import kinko_serving

from kinko.ports import SystemClock
from kinko.services.access import Access
from kinko.store import open_store


def _refused_client(folder: Path, env: dict[str, str]) -> str:
    """The client address the audit log records for a wrong key sent through ``kinko
    serve`` from 127.0.0.1 with ``X-Forwarded-For: 203.0.113.7``."""
    with kinko_serving(folder, env) as port:
        r = loopback.get(f"http://127.0.0.1:{port}/v1/breaker", headers={
            "Authorization": "Bearer wrong", "X-Forwarded-For": "203.0.113.7"})
        assert r.status_code == 401
    store = open_store(f"sqlite:///{folder}/k.db")
    try:
        (record,) = Access(store, SystemClock()).audit_log(action="api.refused")
    finally:
        store.close()
    return str(json.loads(record["detail"])["client"])


@pytest.mark.slow
@pytest.mark.parametrize(("trusted", "client"), [
    (None, "203.0.113.7"),  # the default trusts a proxy on this host
    ("10.0.0.0/8, ::1", "127.0.0.1"),  # not this connection's address: not believed
    ("127.0.0.0/8", "203.0.113.7"),
    ("", "127.0.0.1"),  # none
], ids=["default", "other-network", "this-network", "none"])
def test_the_client_address_is_the_proxys_word_only_from_a_trusted_proxy(
        tmp_path: Path, trusted: str | None, client: str) -> None:
    env = {} if trusted is None else {"KINKO_TRUSTED_PROXIES": trusted}
    assert _refused_client(tmp_path, env) == client


def test_a_trusted_proxy_that_is_no_address_is_refused_as_a_setting(tmp_path: Path) -> None:
    env = {**os.environ, "KINKO_DATABASE_URL": f"sqlite:///{tmp_path}/k.db",
           "KINKO_TRUSTED_PROXIES": "10.0.0.1,proxy.example"}
    done = subprocess.run([sys.executable, "-m", "kinko", "serve", "--port", "0"], env=env,
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "trusted_proxies" in done.stderr and "'proxy.example' is not an IP address" \
        in done.stderr, done.stderr
