"""Signing benchmarks: keys in an HSM against the keystore file, and what a Safe costs in gas.

Run as its own process (``python benchmarks/signing.py [--quick]``, one JSON line out): the
SoftHSM2 token directory it creates is read by the PKCS#11 library once per process.

- **Signatures per second.** The same 32-byte digests signed by a secp256k1 key generated
  in a SoftHSM2 token (``HsmSigner.sign_digest``: PKCS#11 ``CKM_ECDSA`` in the token, then
  low-s and the recovery id found in Python) and, as the baseline of the same run, by a key
  decrypted from a keystore file (``KeystoreSigner.sign_digest``, eth-account with
  libsecp256k1). Also whole transactions (``sign_transfer``: build, hash, sign, RLP), each
  signature checked to recover to the signer's address after the timing. Latency p50/p99
  from the per-signature times; the machine's other load is not controlled.
- **Gas on anvil.** A 2-of-3 Safe's ``execTransaction`` moving ETH and XEM (the demo's
  ERC-20), against the same transfer sent from a plain account (the baseline); SafeL2 (the
  singleton kinko uses, with its extra ``SafeMultiSigTransaction`` event) against the plain
  Safe singleton of the same release; creating the Safe. Every recipient is a fresh address
  (the same first-use storage cost for every row). Gas is deterministic: one run each.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

TOKEN_LABEL, PIN = "kinko-bench", "bench-pin-1234"


def _rates(sign: Any, digests: list[bytes]) -> dict[str, float]:
    times = []
    started = time.perf_counter()
    for digest in digests:
        t = time.perf_counter()
        sign(digest)
        times.append(time.perf_counter() - t)
    seconds = time.perf_counter() - started
    times.sort()
    return {"count": len(digests), "seconds": seconds, "per_s": len(digests) / seconds,
            "p50_ms": statistics.median(times) * 1000,
            "p99_ms": times[int(len(times) * 0.99) - 1] * 1000}


def bench_signatures(n: int) -> dict[str, Any]:
    import softhsm
    from eth_account import Account
    from eth_utils.crypto import keccak

    from kinko.chains.hsm import HsmToken
    from kinko.chains.keystore import KeystoreSigner, create_keystore

    node = softhsm.start({TOKEN_LABEL: PIN})
    try:
        with HsmToken.open(node.module, TOKEN_LABEL, PIN) as token:
            hsm = token.generate_key("bench-hot")
            path = node.root / "hot.json"
            create_keystore(path, "benchmark password")
            keystore = KeystoreSigner.open(path, "benchmark password")
            digests = [keccak(i.to_bytes(8, "big")) for i in range(n)]
            out: dict[str, Any] = {}
            for name, signer in (("hsm", hsm), ("keystore", keystore)):
                signer.sign_digest(digests[0])  # warm up (first use, caches)
                signatures: list[bytes] = []
                out[f"{name}_digest"] = _rates(lambda d, s=signer, o=signatures:
                                               o.append(s.sign_digest(d)), digests)
                assert all(Account._recover_hash(d, signature=sig) == signer.address
                           for d, sig in zip(digests, signatures, strict=True))
                to = Account.create().address
                raws: list[bytes] = []
                out[f"{name}_tx"] = _rates(
                    lambda d, s=signer, o=raws, to=to: o.append(s.sign_transfer(
                        to=to, value=int.from_bytes(d[:4], "big"), nonce=len(o),
                        gas_price=10**9, chain_id=1)), digests[: n // 2])
                assert all(Account.recover_transaction(raw) == signer.address for raw in raws)
    finally:
        node.stop()
    return out


def bench_gas() -> dict[str, Any]:
    import anvilnode
    from eth_account import Account

    from kinko.chains import safe as S
    from kinko.chains.erc20 import TOKEN_GAS, deploy_token, fund_token, transfer_call
    from kinko.chains.evm import EvmChain
    from kinko.chains.keystore import throwaway_signer

    node = anvilnode.start()
    try:
        chain = EvmChain.connect(node.url)
        deployment = S.deploy_safe_contracts(chain)
        ops, plain = throwaway_signer(), throwaway_signer()
        owners = [throwaway_signer() for _ in range(3)]
        for account in (ops, plain):
            chain.fund(account.address, 10**19)
        token = deploy_token(chain, name="XEM", symbol="XEM", decimals=6, supply=10**15)
        fund_token(chain, token, plain.address, 10**12)

        def gas_of(tx_hash: str) -> int:
            return int(chain.wait_for(tx_hash, "benchmark")["gasUsed"])

        def send_plain(to: str, value: int, data: bytes, gas: int) -> int:
            chain_id, price = chain.fee_params()
            raw = plain.sign_transfer(to=to, value=value, data=data, gas=gas, gas_price=price,
                                      chain_id=chain_id, nonce=chain.nonce(plain.address))
            return gas_of(chain.send_raw(raw))

        out: dict[str, Any] = {
            "plain_eth": send_plain(Account.create().address, 10**15, b"", 21_000),
            "plain_token": send_plain(token, 0, transfer_call(Account.create().address, 10**6),
                                      TOKEN_GAS),
        }
        addresses = [o.address for o in owners]
        start = chain.head()
        info = S.create_safe(chain, ops, deployment, addresses, 2)
        out["create_safe"] = sum(gas_of(t.tx_hash) for n in range(start + 1, chain.head() + 1)
                                 for t in chain.block(n).transfers if t.token is None)
        singletons = {"SafeL2": info.address, "Safe": _plain_safe(chain, ops, addresses)}
        for name, safe in singletons.items():
            chain.fund(safe, 10**18)
            fund_token(chain, token, safe, 10**12)
            for kind in ("eth", "token"):
                to = Account.create().address
                tx = (S.eth_transfer(chain, safe, to, 10**15) if kind == "eth"
                      else S.token_transfer(chain, safe, token, to, 10**6))
                signatures = {o.address: S.sign_safe_tx(o, tx) for o in owners[:2]}
                out[f"{name}_{kind}"] = gas_of(S.execute(chain, ops, tx, signatures))
    finally:
        node.stop()
    return out


def _plain_safe(chain: Any, ops: Any, owners: list[str]) -> str:
    """A proxy of the plain Safe singleton (not SafeL2) of the same release, from the npm
    package (development only): deployed at its canonical address through the singleton
    factory anvil has by then."""
    from eth_utils.address import to_checksum_address
    from eth_utils.crypto import keccak

    from kinko.chains import safe as S

    root = HERE.parent / "node_modules" / "@safe-global" / "safe-contracts"
    artifact = json.loads((root / "build" / "artifacts" / "contracts" / "Safe.sol" /
                           "Safe.json").read_text(encoding="utf-8"))
    init = bytes.fromhex(artifact["bytecode"][2:])
    factory = bytes.fromhex(S.SINGLETON_FACTORY[2:])
    singleton = to_checksum_address(keccak(b"\xff" + factory + bytes(32) + keccak(init))[12:])
    if not chain.code(singleton):
        chain.dev_transact({"to": S.SINGLETON_FACTORY, "data": "0x" + bytes(32).hex()
                            + init.hex()}, "deploying the plain Safe singleton")
    deployment = S.SafeDeployment(singleton=singleton, proxy_factory=S.CANONICAL.proxy_factory,
                                  fallback_handler=S.CANONICAL.fallback_handler)
    address = S.predict_safe_address(chain, deployment, owners, 2, salt_nonce=1)
    data = S.encode_call("createProxyWithNonce(address,bytes,uint256)", singleton,
                         S.setup_data(owners, 2, deployment.fallback_handler), 1)
    chain.dev_transact({"to": deployment.proxy_factory, "data": "0x" + data.hex()},
                       "creating a plain Safe")
    return address


def run(quick: bool) -> dict[str, Any]:
    return {"signatures": bench_signatures(500 if quick else 2_000), "gas": bench_gas()}


def markdown(f: dict[str, Any]) -> list[str]:
    s, g = f["signatures"], f["gas"]
    hsm, key = s["hsm_digest"], s["keystore_digest"]
    lines = [
        "Signing: the same digests signed by a secp256k1 key generated in a SoftHSM2 token "
        "(PKCS#11 `CKM_ECDSA`; low-s and the recovery id in Python) and by a key decrypted "
        "from a keystore file (the baseline); one thread. Every signature is checked to "
        "recover to its address after the timing.",
        "",
        "| figure | count | seconds | per second | p50 ms | p99 ms | vs keystore file |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for label, name in (("32-byte digest (a safeTxHash)", "digest"),
                        ("legacy transaction (build, hash, sign, RLP)", "tx")):
        for who, title in (("keystore", "keystore file"), ("hsm", "HSM (SoftHSM2)")):
            r, base = s[f"{who}_{name}"], s[f"keystore_{name}"]
            lines.append(f"| {label}, {title} | {r['count']:,} | {r['seconds']:.2f} | "
                         f"{r['per_s']:,.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | "
                         f"{r['per_s'] / base['per_s']:.2f} |")
    lines += [
        "",
        f"The HSM path signs {hsm['per_s']:,.0f} digests a second, "
        f"{hsm['per_s'] / key['per_s']:.2f}× the keystore file's {key['per_s']:,.0f}: far "
        "more than an exchange's withdrawals need (a withdrawal takes one signature per key). "
        "SoftHSM2 is software; a hardware HSM's rate is its own and is what to measure "
        "before production.",
        "",
        "Gas on anvil (fresh recipients everywhere; gas used, not the limit):",
        "",
        "| transfer | plain account (baseline) | Safe 2-of-3, SafeL2 (kinko) | vs baseline "
        "| Safe 2-of-3, plain Safe singleton | SafeL2 − Safe |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for kind, title in (("eth", "0.001 ETH"), ("token", "1 XEM (ERC-20)")):
        base, l2, l1 = g[f"plain_{kind}"], g[f"SafeL2_{kind}"], g[f"Safe_{kind}"]
        lines.append(f"| {title} | {base:,} | {l2:,} | {l2 / base:.2f}× | {l1:,} | "
                     f"{l2 - l1:+,} |")
    lines += [
        "",
        f"Creating a 2-of-3 Safe (proxy and setup, SafeL2): {g['create_safe']:,} gas, once "
        "per wallet. The SafeL2 surcharge buys the full SafeTx of every execution in the "
        "logs, which the watch reads without a tracing node.",
    ]
    return lines


if __name__ == "__main__":
    print(json.dumps(run("--quick" in sys.argv[1:])))
