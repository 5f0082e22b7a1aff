"""Co-signed withdrawals end to end against the keystore-file path, in the same run.

Run as its own process (``python benchmarks/cosigned.py [--quick]``, one JSON line out): it
starts anvil and a SoftHSM2 token directory, then builds two exchanges on the same node,
each with kinko's own SQLite database, the same customers and the same screening policy:

- **co-signed** (kinko's intended set-up): the hot wallet is a 2-of-3 Safe 1.4.1 whose
  owners are the operations key and the policy co-signer's key (both generated in the
  SoftHSM2 token) and an offline recovery key; ``execTransaction`` is sent by a relayer key
  that owns nothing;
- **keystore file** (the baseline): the hot wallet is one key decrypted from a keystore
  file, which signs a plain transfer.

One withdrawal is ``Withdrawals.request`` (screening, the hold, the decision: one unit of
work) then ``Withdrawals.send``: for the Safe, the SafeTx built at the Safe's nonce (read
from the node), signed by the operations key in the HSM, co-signed by the policy co-signer
(``CosignService`` in this process: its checks against kinko's database, the Safe read
from the node, its decision synced to its own SQLite database, its signature in the HSM),
the gas estimated, the relayer's transaction signed and broadcast; for the baseline, the
transfer signed with the file key and broadcast. anvil mines every transaction as it
arrives. The two paths run one after the other, one thread each; the machine's other load
is not controlled (its load average is recorded).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

LABEL, PIN = "kinko-e2e-bench", "bench-pin-2468"
PASSWORD = "benchmark hot key password"
ETH = 10**18


def _stats(times: list[float], seconds: float) -> dict[str, float]:
    ordered = sorted(times)
    return {"count": len(times), "seconds": seconds, "per_s": len(times) / seconds,
            "p50_ms": statistics.median(ordered) * 1000,
            "p99_ms": ordered[max(0, int(len(ordered) * 0.99) - 1)] * 1000}


def _policy(folder: Path) -> Path:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from kinko.domain.approvals import public_key_hex

    approvers = "".join(f'[[approvers]]\nname = "{n}"\npublic_key = '
                        f'"{public_key_hex(Ed25519PrivateKey.generate())}"\n\n'
                        for n in ("alice", "bob", "carol"))
    path = folder / "policy.toml"
    path.write_text(f"""version = 1
quorum = 2
{approvers}
[[screening.rules]]
kind = "max_amount"
asset = "ETH"
amount = "10"
action = "review"
reason = "large withdrawal"

[[screening.rules]]
kind = "window"
asset = "ETH"
scope = "customer"
duration = "24h"
max_count = 100000
action = "review"
reason = "many withdrawals"
""", encoding="utf-8")
    return path


def _exchange(folder: Path, name: str, wallet: Any, spender_for: Any, chain: Any,
              customers: int, each: int) -> Any:
    """kinko's database for one exchange: its hot wallet, customers holding ``each`` wei."""
    from kinko.domain.ledger import Posting
    from kinko.domain.money import AssetRegistry
    from kinko.ports import SystemClock
    from kinko.services.custody import Custody
    from kinko.services.ledger import Ledger
    from kinko.services.withdrawals import Withdrawals
    from kinko.store import open_store, upgrade

    sub = folder / name
    sub.mkdir()
    store = open_store(f"sqlite:///{sub / 'kinko.db'}")
    upgrade(store)
    ledger = Ledger(store, SystemClock(), AssetRegistry.default())
    ledger.sync_assets()
    wallet(ledger)
    ledger.post("opening", [Posting("wallet:eth-hot", "ETH", customers * each),
                            *(Posting(f"customer:C{i}", "ETH", -each)
                              for i in range(customers))], source="opening")
    custody = Custody(ledger, chain=chain, spender_for=spender_for, confirmations=1)
    custody.load_policy(_policy(sub), "carol")
    return Withdrawals(custody)


def _timed(withdrawals: Any, prefix: str, count: int, customers: int, to: str
           ) -> dict[str, float]:
    times = []
    started = time.perf_counter()
    for i in range(count):
        t = time.perf_counter()
        wid = f"{prefix}-{i}"
        view = withdrawals.request(wid, f"C{i % customers}", "ETH", 10**15 + i, to)
        assert view.state == "allowed", view.state
        sent = withdrawals.send(wid)
        assert sent.state == "sent", sent.state
        times.append(time.perf_counter() - t)
    return _stats(times, time.perf_counter() - started)


def run(quick: bool) -> dict[str, Any]:
    import anvilnode
    import softhsm

    node = softhsm.start({LABEL: PIN})
    anvil = anvilnode.start()
    folder = Path(tempfile.mkdtemp(prefix="kinko-cosigned-bench-"))
    try:
        from eth_account import Account

        from kinko.chains.evm import EvmChain
        from kinko.chains.hsm import HsmToken
        from kinko.chains.keystore import KeystoreSigner, create_keystore, throwaway_signer
        from kinko.chains.safe import deploy_safe_contracts
        from kinko.chains.safe_reader import ChainSafes
        from kinko.chains.wallets import (
            CosignerOwner,
            KeyOwner,
            KeyWallet,
            SafeAccounts,
            SafeWallet,
        )
        from kinko.cli.cosign import cosign_policy
        from kinko.domain.custody import Wallet
        from kinko.ports import SystemClock
        from kinko.services.cosign import CosignService
        from kinko.services.wallets import create_multisig
        from kinko.settings import load_cosign_settings
        from kinko.store.cosign_sql import open_cosign_log
        from kinko.store.cosign_view import SqlKinkoView

        n = 100 if quick else 500
        customers, each = 50, 10 * ETH
        load_before = os.getloadavg()[0]
        chain = EvmChain.connect(anvil.url)
        deployment = deploy_safe_contracts(chain)
        token = HsmToken.open(node.module, LABEL, PIN)
        ops, co_key = token.generate_key("operations"), token.generate_key("cosigner")
        relayer = throwaway_signer()
        chain.fund(relayer.address, 100 * ETH)
        recovery = str(Account.create().address)
        to = str(Account.create().address)

        holder: dict[str, Any] = {}

        def safe_wallet(ledger: Any) -> None:
            w = create_multisig(ledger, SafeAccounts(chain, deployment, relayer), "eth-hot",
                                "ETH", "hot", [ops.address, co_key.address, recovery], 2,
                                operator=ops.address, cosigner=co_key.address)
            holder["wallet"] = w
            chain.fund(w.addresses[0], customers * each)

        # the Safe's Spender is made once the Safe and its co-signer exist
        cosigned = _exchange(folder, "cosigned", safe_wallet, lambda _w: holder["spender"],
                             chain, customers, each)
        safe = holder["wallet"].addresses[0]
        config = folder / "cosign.toml"
        config.write_text(f"""database_url = "sqlite:///{folder / 'cosign.db'}"
kinko_database_url = "sqlite:///{folder / 'cosigned' / 'kinko.db'}"
evm_rpc_url = "{anvil.url}"
signer = "hsm"
hsm_module = "{node.module}"
hsm_token = "{LABEL}"
hsm_key = "cosigner"
log_level = "WARNING"

[[safes]]
address = "{safe}"
asset = "ETH"
limit = "1000000 ETH"
window = "24h"
""", encoding="utf-8")
        settings = load_cosign_settings(config, env={})
        service = CosignService(policy=cosign_policy(settings),
                                kinko=SqlKinkoView(settings.kinko_database_url),
                                chain=ChainSafes(chain), log=open_cosign_log(
                                    settings.database_url), signer=co_key,
                                clock=SystemClock(), sinks=())
        holder["spender"] = SafeWallet(chain, safe, holder["wallet"].multisig, relayer,
                                       [KeyOwner(ops), CosignerOwner(service, co_key.address)])

        address = create_keystore(folder / "eth-hot.json", PASSWORD)
        key = KeystoreSigner.open(folder / "eth-hot.json", PASSWORD)
        chain.fund(address, customers * each + 10 * ETH)

        def key_wallet(ledger: Any) -> None:
            ledger.add_wallet(Wallet("eth-hot", "ETH", "hot", (address,)))

        file_wallet = KeyWallet(chain, key)
        plain = _exchange(folder, "keystore", key_wallet, lambda _w: file_wallet, chain,
                          customers, each)
        _timed(plain, "warm-file", 3, customers, to)  # first calls: caches, connections
        _timed(cosigned, "warm-safe", 3, customers, to)
        out: dict[str, Any] = {"count": n}
        out["keystore"] = _timed(plain, "file", n, customers, to)
        out["cosigned"] = _timed(cosigned, "safe", n, customers, to)
        out["gas_price_wei"] = chain.fee_params()[1]
        out["load"] = [load_before, os.getloadavg()[0]]
        token.close()
        return out
    finally:
        anvil.stop()
        node.stop()
        shutil.rmtree(folder, ignore_errors=True)
        os.environ.pop("SOFTHSM2_CONF", None)


def markdown(f: dict[str, Any]) -> list[str]:
    base, safe = f["keystore"], f["cosigned"]
    rows = [("keystore file (baseline): screen → sign with the file key → broadcast", base),
            ("co-signed Safe 2-of-3: screen → co-sign (checks, Safe read, decision synced, "
             "HSM signature) → operations key signs in the HSM → relayer signs → broadcast",
             safe)]
    lines = [
        "Two exchanges on one anvil node, each with kinko's SQLite database, 50 customers and "
        "the same screening policy; every withdrawal is `allowed` and broadcast (anvil mines "
        "it as it arrives). The co-signer runs in the same process (`CosignService`: its "
        "checks read kinko's database and the Safe from the node, and it syncs its decision "
        "to its own database before it answers; over its HTTP socket it adds the latency in "
        "the co-signer's section). One thread per path, one path after the other. The "
        f"machine's load average (1 minute) was {f['load'][0]:.1f} when the run began and "
        f"{f['load'][1]:.1f} when it ended, on 2 cores shared with other work.",
        "",
        "| path | withdrawals | seconds | per second | p50 ms | p99 ms | vs keystore file |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for label, r in rows:
        lines.append(f"| {label} | {r['count']:,} | {r['seconds']:.2f} | {r['per_s']:,.1f} | "
                     f"{r['p50_ms']:.1f} | {r['p99_ms']:.1f} | "
                     f"{r['per_s'] / base['per_s']:.2f} |")
    lines += [
        "",
        f"A co-signed withdrawal costs {safe['p50_ms'] / base['p50_ms']:.1f}× the keystore "
        f"path at the median ({safe['per_s']:,.1f} against {base['per_s']:,.1f} a second): "
        "what the co-signed path does more (not profiled one by one): the Safe read from the "
        "node twice (by kinko and by the co-signer), the gas estimated, three signatures "
        "instead of one (two in the HSM), and the co-signer's decision synced to disk "
        "before it answers.",
    ]
    return lines


if __name__ == "__main__":
    print(json.dumps(run("--quick" in sys.argv[1:])))
