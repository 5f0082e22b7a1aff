#!/usr/bin/env python3
"""Copy the compiled Safe{Wallet} 1.4.1 contracts kinko deploys out of the pinned npm package.

Reads ``node_modules/@safe-global/safe-contracts`` (installed by ``npm ci`` at the version
pinned in package-lock.json) and writes, unchanged:

- ``src/kinko/chains/safe_contracts.json``: for SafeL2, SafeProxyFactory and
  CompatibilityFallbackHandler, the ABI, the creation bytecode and the keccak-256 of the
  runtime bytecode (what ``eth_getCode`` returns at a deployed contract);
- ``src/kinko/chains/safe_contracts.COPYING.LESSER``: the package's licence (LGPL-3.0).

The JSON ships in the Python package so kinko deploys and checks the contracts without node.
With ``--check`` nothing is written and the exit status is 1 if the committed files differ
from the package (a test runs that, so the two cannot drift apart)::

    .venv/bin/python scripts/vendor_safe.py           # write
    .venv/bin/python scripts/vendor_safe.py --check   # compare only
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from eth_utils.crypto import keccak

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "node_modules" / "@safe-global" / "safe-contracts"
OUT = ROOT / "src" / "kinko" / "chains"
CONTRACTS = {
    "SafeL2": "contracts/SafeL2.sol",
    "SafeProxyFactory": "contracts/proxies/SafeProxyFactory.sol",
    "CompatibilityFallbackHandler": "contracts/handler/CompatibilityFallbackHandler.sol",
}


def build() -> dict[str, str]:
    meta = json.loads((PACKAGE / "package.json").read_text(encoding="utf-8"))
    contracts = {}
    for name, source in CONTRACTS.items():
        path = PACKAGE / "build" / "artifacts" / source / f"{name}.json"
        artifact = json.loads(path.read_text(encoding="utf-8"))
        runtime = bytes.fromhex(artifact["deployedBytecode"][2:])
        contracts[name] = {"source": source, "abi": artifact["abi"],
                           "bytecode": artifact["bytecode"],
                           "codeHash": "0x" + keccak(runtime).hex()}
    body = {"package": meta["name"], "version": meta["version"],
            "license": "LGPL-3.0-only", "contracts": contracts}
    return {"safe_contracts.json": json.dumps(body, indent=1, sort_keys=True) + "\n",
            "safe_contracts.COPYING.LESSER": (PACKAGE / "LICENSE").read_text(encoding="utf-8")}


def main() -> int:
    if not PACKAGE.exists():
        print(f"{PACKAGE.relative_to(ROOT)} is missing: run `npm ci`", file=sys.stderr)
        return 2
    files = build()
    if "--check" in sys.argv[1:]:
        stale = [name for name, text in files.items()
                 if not (OUT / name).exists()
                 or (OUT / name).read_text(encoding="utf-8") != text]
        for name in stale:
            print(f"src/kinko/chains/{name} differs from the npm package", file=sys.stderr)
        return 1 if stale else 0
    for name, text in files.items():
        (OUT / name).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
