"""HTTP benchmark: withdrawal requests per second and p50/p99 latency through
``kinko serve`` (uvicorn, one process), driven by wrk, a real load generator, on this
machine. The baseline of the same run is a light authenticated read (``GET /v1/breaker``).
Client and server share the 2 cores.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

LUA_POST = """
counter = 0
request = function()
  counter = counter + 1
  local id = string.format("H-%d-%d-%d", os.time(), math.random(1, 1000000000), counter)
  local customer = "C" .. math.random(0, 99)
  local body = '{"customer": "' .. customer .. '", "asset": "ETH", "amount": "0.01", ' ..
               '"destination": "0x5290840009852788' .. '6E0F7030069857D2E4169EE7"}'
  return wrk.format("POST", "/v1/withdrawals", {
    ["Authorization"] = "Bearer TOKEN",
    ["Idempotency-Key"] = id,
    ["Content-Type"] = "application/json"}, body)
end
"""
LUA_GET = """
request = function()
  return wrk.format("GET", "/v1/breaker", {["Authorization"] = "Bearer TOKEN"})
end
"""


def _setup(folder: Path) -> tuple[str, str]:
    from kinko.chains.evm import EvmChain
    from kinko.domain.custody import Wallet
    from kinko.domain.ledger import Posting
    from kinko.domain.money import AssetRegistry
    from kinko.ports import SystemClock
    from kinko.services.access import Access
    from kinko.services.custody import Custody
    from kinko.services.ledger import Ledger
    from kinko.store import open_store, upgrade

    sys.path.insert(0, str(HERE))
    import screening

    url = f"sqlite:///{folder}/http.db"
    store = open_store(url, sqlite_synchronous="NORMAL")
    upgrade(store)
    ledger = Ledger(store, SystemClock(), AssetRegistry.default())
    ledger.sync_assets()
    ledger.add_wallet(Wallet("eth-hot", "ETH", "hot",
                             ("0xABaBaBaBABabABabAbAbABAbABabababaBaBABaB",)))
    e = 10**18
    ledger.post("open", [Posting("wallet:eth-hot", "ETH", 10**7 * e),
                         *(Posting(f"customer:C{i}", "ETH", -(10**5) * e) for i in range(100))],
                source="opening")
    (folder / "p.toml").write_text(screening._policy_toml(), encoding="utf-8")
    Custody(ledger, chain=EvmChain.in_process()).load_policy(folder / "p.toml", "ops")
    token = Access(store, SystemClock()).create_key("bench", "operator")[1]
    store.close()
    return url, token


def _wrk(url: str, script: str, seconds: int) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(script)
    out = subprocess.run(["wrk", "-t1", "-c16", f"-d{seconds}s", "--latency", "-s", fh.name,
                          url], capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]

    def ms(label: str) -> float:
        match = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        assert match, out
        value, unit = float(match.group(1)), match.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"per_s": rate, "p50_ms": ms("50"), "p99_ms": ms("99"),
            "non_2xx": float(errors.group(1)) if errors else 0.0}


def bench_http(seconds: int) -> dict[str, float]:
    import anvilnode

    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (make bench installs it)")
    folder = Path(tempfile.mkdtemp())
    db_url, token = _setup(folder)
    port = anvilnode.free_port()
    env = {**os.environ, "KINKO_DATABASE_URL": db_url, "KINKO_SQLITE_SYNCHRONOUS": "NORMAL"}
    server = subprocess.Popen([sys.executable, "-m", "kinko", "serve", "--port", str(port)],
                              env=env, cwd=folder, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        import httpx

        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/openapi.json", timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        base = _wrk(f"http://127.0.0.1:{port}", LUA_GET.replace("TOKEN", token), seconds)
        post = _wrk(f"http://127.0.0.1:{port}", LUA_POST.replace("TOKEN", token), seconds)
    finally:
        server.terminate()
        server.wait(timeout=30)
    return {"count": post["per_s"] * seconds, "seconds": float(seconds), **post,
            "baseline_per_s": base["per_s"], "baseline_p99_ms": base["p99_ms"]}
