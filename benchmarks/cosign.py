"""The policy co-signer: the latency it adds to a withdrawal and co-signatures per second.

Run as its own process (``python benchmarks/cosign.py [--quick]``, one JSON line out): it
starts anvil, a SoftHSM2 token directory, kinko's SQLite database with a co-signed exchange
(2-of-3 Safes: operations key, co-signer, recovery key; ``tests/cosignworld.py``) and as many
``allowed`` withdrawals as it asks about, then times, for the same kind of SafeTx:

- **baseline**: the co-signer's key alone signing the SafeTx hash in this process (a key
  file, ``KeystoreSigner.sign_digest``): what a second signature costs without any check;
- **co-signer in process**: ``CosignService.answer`` (no HTTP): its checks against kinko's
  database (read-only), the Safe read from anvil, the decision synced to its own SQLite
  database, the signature;
- **co-signer over HTTP**: ``kinko cosign serve`` as a real process on a free port, asked by
  kinko's client (``HttpCosigner``: the same checks, plus the wire and the client's own
  verification), with the key in a file and with the key in the HSM (SoftHSM2); one client
  thread, and two threads for the rate under concurrent callers.

Every SafeTx pays a withdrawal of its own at the Safe's next nonces (none is executed: the
nonce window is set to cover them all), so every answer is a new signature, not a repeat.
Latencies are per request; "added" is the co-sign call's latency less the baseline's at the
same percentile. The machine's other load is not controlled.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

TARGET_P99_MS = 50.0
TOKEN = "bench-" + "x" * 40
PASSWORD = "benchmark co-signer password"
HSM_LABEL, HSM_PIN = "kinko-cosign-bench", "bench-pin-5678"


def _stats(times: list[float], seconds: float) -> dict[str, float]:
    ordered = sorted(times)
    return {"count": len(times), "seconds": seconds, "per_s": len(times) / seconds,
            "p50_ms": statistics.median(ordered) * 1000,
            "p99_ms": ordered[max(0, int(len(ordered) * 0.99) - 1)] * 1000}


def _timed(calls: list[Any]) -> dict[str, float]:
    times = []
    started = time.perf_counter()
    for call in calls:
        t = time.perf_counter()
        call()
        times.append(time.perf_counter() - t)
    return _stats(times, time.perf_counter() - started)


def _threads(calls: list[Any], threads: int) -> dict[str, float]:
    times: list[float] = []
    lock = threading.Lock()
    chunks = [calls[i::threads] for i in range(threads)]

    def work(chunk: list[Any]) -> None:
        for call in chunk:
            t = time.perf_counter()
            call()
            with lock:
                times.append(time.perf_counter() - t)

    started = time.perf_counter()
    pool = [threading.Thread(target=work, args=(c,)) for c in chunks]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return _stats(times, time.perf_counter() - started)


def run(quick: bool) -> dict[str, Any]:
    import anvilnode
    import softhsm
    from cosignworld import TOKEN_ENV, CosignProcess, build, cosign_config, fresh

    node = softhsm.start({HSM_LABEL: HSM_PIN})
    anvil = anvilnode.start()
    folder = Path(tempfile.mkdtemp(prefix="kinko-cosign-bench-"))
    try:
        from kinko.chains.evm import EvmChain
        from kinko.chains.hsm import HsmToken
        from kinko.chains.keystore import KeystoreSigner, create_keystore
        from kinko.chains.safe_reader import ChainSafes
        from kinko.cosign.client import HttpCosigner
        from kinko.domain.cosign import CosignRequest, parse_cosign_policy
        from kinko.ports import SystemClock
        from kinko.services.cosign import CosignService
        from kinko.settings import load_cosign_settings
        from kinko.store.cosign_sql import open_cosign_log
        from kinko.store.cosign_view import SqlKinkoView

        n = 100 if quick else 500
        load_before = os.getloadavg()[0]
        address = create_keystore(folder / "cosign-key.json", PASSWORD)
        key = KeystoreSigner.open(folder / "cosign-key.json", PASSWORD)
        with HsmToken.open(node.module, HSM_LABEL, HSM_PIN) as token:
            hsm_address = token.generate_key("cosigner").address
        chain = EvmChain.connect(anvil.url)
        worlds: dict[str, Any] = {}
        for name, owner in (("file", address), ("hsm", hsm_address)):
            sub = folder / name
            sub.mkdir()
            ex = build(chain, sub, owner)
            extra = {"signer": "hsm", "hsm_module": node.module, "hsm_token": HSM_LABEL,
                     "hsm_key": "cosigner"} if name == "hsm" else {}
            config = cosign_config(ex, sub, rpc_url=anvil.url, eth_limit="1000000 ETH",
                                   nonce_window=4 * n + 10, log_level="WARNING",
                                   **{"keystore": str(folder / "cosign-key.json"), **extra})
            worlds[name] = (ex, config)
        to = fresh()
        nonces = {name: ex.nonce(ex.eth_safe) for name, (ex, _c) in worlds.items()}

        def batch(name: str, prefix: str, count: int) -> list[CosignRequest]:
            """``count`` new allowed withdrawals and their SafeTxs at the next nonces."""
            ex = worlds[name][0]
            out = []
            for i in range(count):
                rid = f"{prefix}-{i}"
                ex.request(rid, "ETH", 1_000 + i, to)
                out.append(CosignRequest("withdrawal", rid,
                                         ex.eth_tx(to, 1_000 + i, nonce=nonces[name])))
                nonces[name] += 1
            return out

        out: dict[str, Any] = {"count": n}
        ex, config = worlds["file"]
        inproc = batch("file", "inproc", n)
        out["baseline"] = _timed([lambda r=r: key.sign_digest(r.tx.hash) for r in inproc])
        settings = load_cosign_settings(config, env={})
        policy = parse_cosign_policy(settings.tables, settings.registry, settings.path,
                                     nonce_window=settings.nonce_window)
        service = CosignService(policy=policy, kinko=SqlKinkoView(ex.store_url),
                                chain=ChainSafes(chain), log=open_cosign_log(
                                    settings.database_url), signer=key, clock=SystemClock(),
                                sinks=())
        out["in_process"] = _timed([lambda r=r: service.answer(r, "bench") for r in inproc])
        env = {TOKEN_ENV: TOKEN, "KINKO_COSIGN_KEY_PASSWORD": PASSWORD,
               "KINKO_COSIGN_HSM_PIN": HSM_PIN}
        for name in ("file", "hsm"):
            ex, config = worlds[name]
            process = CosignProcess(config, env).start()
            try:
                client = HttpCosigner(process.url, TOKEN,
                                      expected_signer=address if name == "file"
                                      else hsm_address)
                serial = batch(name, f"http-{name}", n)
                client.cosign(serial[0].kind, serial[0].id, serial[0].tx)  # connect, warm up
                out[f"http_{name}"] = _timed([lambda r=r, c=client: c.cosign(r.kind, r.id,
                                                                               r.tx)
                                              for r in serial[1:]])
                parallel = batch(name, f"par-{name}", n)
                out[f"http_{name}_2threads"] = _threads(
                    [lambda r=r, c=client: c.cosign(r.kind, r.id, r.tx) for r in parallel], 2)
            finally:
                process.stop()
        for _name, (ex, _config) in worlds.items():
            ex.close()
        out["load"] = [load_before, os.getloadavg()[0]]
        return out
    finally:
        anvil.stop()
        node.stop()
        shutil.rmtree(folder, ignore_errors=True)
        os.environ.pop("SOFTHSM2_CONF", None)


def markdown(f: dict[str, Any]) -> list[str]:
    base = f["baseline"]
    rows = [
        ("baseline: the co-signer's key alone signs the SafeTx hash (key file, in process)",
         base),
        ("co-signer in process: checks, Safe read, decision synced, signature (key file)",
         f["in_process"]),
        ("co-signer over HTTP (`kinko cosign serve`), key file, one caller", f["http_file"]),
        ("co-signer over HTTP, key in the HSM (SoftHSM2), one caller", f["http_hsm"]),
        ("co-signer over HTTP, key file, two callers at once", f["http_file_2threads"]),
        ("co-signer over HTTP, HSM, two callers at once", f["http_hsm_2threads"]),
    ]
    lines = [
        "Every request is a new withdrawal (`allowed`, its hold open) of a 2-of-3 Safe on "
        "anvil; kinko's database is SQLite, the co-signer's own SQLite database syncs every "
        "decision (`synchronous=FULL`) before it answers; it reads the Safe (owners, "
        "threshold, modules, guard, nonce) from anvil for every request. The baseline is the "
        "same key signing the same hashes with no check at all. The machine's load average "
        f"(1 minute) was {f['load'][0]:.1f} when the run began and {f['load'][1]:.1f} when it "
        "ended, on 2 cores shared with other work: the p99 column is mostly that.",
        "",
        "| figure | requests | seconds | per second | p50 ms | p99 ms | added p99 ms |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for label, r in rows:
        added = r["p99_ms"] - base["p99_ms"] if r is not base else 0.0
        lines.append(f"| {label} | {r['count']:,} | {r['seconds']:.2f} | {r['per_s']:,.0f} | "
                     f"{r['p50_ms']:.2f} | {r['p99_ms']:.2f} | "
                     f"{'-' if r is base else f'{added:.2f}'} |")
    worst = max(f["http_file"]["p99_ms"], f["http_hsm"]["p99_ms"]) - base["p99_ms"]
    lines += [
        "",
        f"Target: the co-signer adds at most {TARGET_P99_MS:.0f} ms at p99 — "
        f"{'met' if worst <= TARGET_P99_MS else 'MISSED'} ({worst:.1f} ms over HTTP, the "
        f"worse of the key file and the HSM). It co-signs "
        f"{f['http_hsm']['per_s']:,.0f} withdrawals a second with its key in the HSM "
        f"({f['http_file']['per_s']:,.0f} with a key file), one decision at a time by "
        "design (each is serialised, synced and chained); the baseline signs "
        f"{base['per_s']:,.0f} a second.",
    ]
    return lines


if __name__ == "__main__":
    print(json.dumps(run("--quick" in sys.argv[1:])))
