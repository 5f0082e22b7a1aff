"""A co-signed exchange for the co-signer's tests and benchmark: real Safes, real kinko data.

Two 2-of-3 Safes on a chain (one holding ETH, one holding the demo's XEM token), each owned
by the operations key (kinko's, which also pays the gas), the co-signer's key and an offline
recovery key; kinko's database with those Safes registered as the hot wallets, cold wallets,
customers, a policy with three Ed25519 approvers (quorum 2; withdrawals over 10 ETH or
100,000 XEM are held for review; the emergency sweep pre-authorised), and the helpers a test
needs to request withdrawals, approve them, propose sweeps, and execute what was co-signed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from dbtemplate import migrated_sqlite
from eth_account import Account

from kinko.chains import safe as S
from kinko.chains.erc20 import deploy_token, fund_token
from kinko.chains.evm import EvmChain
from kinko.chains.keystore import KeystoreSigner, throwaway_signer
from kinko.domain.approvals import public_key_hex, sign_proposal
from kinko.domain.custody import Wallet
from kinko.domain.ledger import Posting
from kinko.domain.messages import verbatim
from kinko.domain.money import Asset, AssetRegistry
from kinko.domain.safe import SafeTx
from kinko.ports import CoSignature, FixedClock
from kinko.services.custody import Custody, ProposalView
from kinko.services.ledger import Ledger
from kinko.services.withdrawals import Withdrawals, WithdrawalView
from kinko.store import SqlStore, open_store, upgrade

ETH, XEM = 10**18, 10**6
# the gas the operations key gives a Safe transaction, enough for any these tests send (a
# transfer of ETH or of the token takes under 100,000): no estimate first, which on the
# in-process chain re-runs the Safe's code some twenty times over in Python. A transaction
# that fails still fails on chain, and its receipt says so.
EXECUTE_GAS = 400_000
KEYS = {n: Ed25519PrivateKey.generate() for n in ("alice", "bob", "carol")}
TOKEN = "a" * 64


def fresh() -> str:
    return str(Account.create().address)


@dataclass
class Exchange:
    chain: EvmChain
    store_url: str
    store: SqlStore
    clock: FixedClock
    withdrawals: Withdrawals
    ops: KeystoreSigner
    recovery: KeystoreSigner
    cosigner: str
    eth_safe: str
    xem_safe: str
    token: str
    eth_cold: str
    xem_cold: str
    chain_id: int
    executed: list[str] = field(default_factory=list)

    @property
    def custody(self) -> Custody:
        return self.withdrawals.custody

    @property
    def ledger(self) -> Ledger:
        return self.withdrawals.ledger

    def nonce(self, safe: str) -> int:
        return S.read_safe(self.chain, safe).nonce

    def eth_tx(self, to: str, value: int, nonce: int | None = None, **kw: Any) -> SafeTx:
        n = self.nonce(self.eth_safe) if nonce is None else nonce
        return SafeTx(safe=kw.pop("safe", self.eth_safe), chain_id=kw.pop("chain_id",
                                                                          self.chain_id),
                      to=to, value=value, data=kw.pop("data", b""), nonce=n, **kw)

    def xem_tx(self, to: str, amount: int, nonce: int | None = None) -> SafeTx:
        return S.token_transfer(self.chain, self.xem_safe, self.token, to, amount, nonce)

    def request(self, wid: str, asset: str, amount: int, to: str,
                customer: str = "C1") -> WithdrawalView:
        return self.withdrawals.request(wid, customer, asset, amount, to)

    def approve(self, wid: str, *names: str) -> WithdrawalView:
        view = self.withdrawals.get(wid)
        for name in names:
            found = self.custody.proposal(f"withdrawal-{wid}")
            assert found is not None
            view = self.withdrawals.approve(wid, name, sign_proposal(found.proposal,
                                                                      KEYS[name]))
        return view

    def sweep(self, asset: str, amount: int, *, approve: bool = True,
              emergency: str | None = None, to: str | None = None) -> ProposalView:
        hot, cold = (self.eth_safe, self.eth_cold) if asset == "ETH" else \
            (self.xem_safe, self.xem_cold)
        payload: dict[str, object] = {
            "asset": asset, "amount": str(amount), "from_wallet": f"{asset.lower()}-hot",
            "to_wallet": f"{asset.lower()}-cold", "from_address": hot,
            "to_address": to or cold}
        if emergency is not None:
            payload["emergency"] = emergency
        view = self.custody.propose("sweep", payload, "carol", f"sweep {asset}")
        if emergency is not None:
            policy = self.custody.policy()
            assert policy is not None
            return self.custody.preauthorise(view.proposal.id,
                                             f"v{policy.version} emergency_sweep=auto")
        if approve:
            for name in ("alice", "bob"):
                view = self.custody.approve(view.proposal.id, name,
                                            sign_proposal(view.proposal, KEYS[name]))
        return view

    def incident(self, state: str = "open", wallet: str = "eth-hot") -> str:
        asset = "ETH" if wallet.startswith("eth") else "XEM"
        with self.store.watch() as tables:
            incident = tables.put_incident({"state": state, "title": verbatim("theft drill"),
                                            "asset": asset, "wallet": wallet,
                                            "opened": self.clock.now(), "closed": None})
        return incident

    def execute(self, tx: SafeTx, cosigned: CoSignature) -> bool:
        """The operations key adds its own signature and sends: whether it succeeded."""
        signatures = {self.ops.address: S.sign_safe_tx(self.ops, tx),
                      cosigned.signer: cosigned.signature}
        receipt = self.chain.wait_for(S.execute(self.chain, self.ops, tx, signatures,
                                                gas=EXECUTE_GAS),
                                      "a co-signed Safe transaction")
        ok = int(receipt["status"]) == 1
        if ok:
            self.executed.append(cosigned.request)
        return ok

    def close(self) -> None:
        self.store.close()


def policy_text(eth_cold: str, *, version: int = 1) -> str:
    approvers = "".join(f'[[approvers]]\nname = "{n}"\npublic_key = "{public_key_hex(k)}"\n'
                        for n, k in KEYS.items())
    return f"""version = {version}
quorum = 2
{approvers}
[assets.ETH]
cold_wallet = "eth-cold"
emergency_address = "{eth_cold}"

[assets.XEM]
cold_wallet = "xem-cold"

[watch]
emergency_sweep = "auto"

[[screening.rules]]
kind = "max_amount"
asset = "ETH"
amount = "10"
action = "review"
reason = "large withdrawal"

[[screening.rules]]
kind = "max_amount"
asset = "XEM"
amount = "100000"
action = "review"
reason = "large withdrawal"
"""


def build(chain: EvmChain, folder: Path, cosigner: str, *, store_url: str | None = None,
          deployment: S.SafeDeployment | None = None) -> Exchange:
    """The co-signed exchange on ``chain``, kinko's database at ``store_url`` (default a
    SQLite file in ``folder``), the co-signer's key at address ``cosigner``."""
    deployment = deployment or S.deploy_safe_contracts(chain)
    ops, recovery = throwaway_signer(), throwaway_signer()
    chain.fund(ops.address, 50 * ETH)
    owners = [ops.address, cosigner, recovery.address]
    salt = int.from_bytes(bytes.fromhex(ops.address[2:10]), "big")
    eth_safe = S.create_safe(chain, ops, deployment, owners, 2, salt_nonce=salt).address
    xem_safe = S.create_safe(chain, ops, deployment, owners, 2, salt_nonce=salt + 1).address
    token = deploy_token(chain, name="XEM", symbol="XEM", decimals=6, supply=10**9 * XEM)
    chain.fund(eth_safe, 200 * ETH)  # on chain more than the ledger books: tests spend it
    fund_token(chain, token, xem_safe, 5_000_000 * XEM)
    chain_id = chain.fee_params()[0]
    url = store_url or migrated_sqlite(folder / "kinko.db")
    store = open_store(url)
    if store_url is not None:  # the caller's database (the copy is at the newest already)
        upgrade(store)
    clock = FixedClock(datetime.now(UTC))
    assets = AssetRegistry.default([Asset("XEM", "ethereum", 6, token)])
    ledger = Ledger(store, clock, assets)
    ledger.sync_assets()
    eth_cold, xem_cold = fresh(), fresh()
    for wallet in (Wallet("eth-hot", "ETH", "hot", (eth_safe,)),
                   Wallet("xem-hot", "XEM", "hot", (xem_safe,)),
                   Wallet("eth-cold", "ETH", "cold", (eth_cold,)),
                   Wallet("xem-cold", "XEM", "cold", (xem_cold,))):
        ledger.add_wallet(wallet)
    ledger.post("open-eth", [Posting("wallet:eth-hot", "ETH", 40 * ETH),
                             Posting("customer:C1", "ETH", -20 * ETH),
                             Posting("customer:C2", "ETH", -20 * ETH)], source="opening")
    ledger.post("open-xem", [Posting("wallet:xem-hot", "XEM", 5_000_000 * XEM),
                             Posting("customer:C1", "XEM", -2_500_000 * XEM),
                             Posting("customer:C2", "XEM", -2_500_000 * XEM)],
                source="opening")
    (folder / "policy.toml").write_text(policy_text(eth_cold), encoding="utf-8")
    custody = Custody(ledger, chain=chain, confirmations=1)
    custody.load_policy(folder / "policy.toml", "ops")
    return Exchange(chain, url, store, clock, Withdrawals(custody), ops, recovery, cosigner,
                    eth_safe, xem_safe, token, eth_cold, xem_cold, chain_id)


def cosign_config(ex: Exchange, folder: Path, *, rpc_url: str, signer: str = "keystore",
                  eth_limit: str = "25 ETH", extra: str = "", **settings: Any) -> Path:
    """The co-signer's settings file for ``ex``."""
    values: dict[str, Any] = {
        "database_url": f"sqlite:///{folder / 'cosign.db'}", "kinko_database_url": ex.store_url,
        "evm_rpc_url": rpc_url, "signer": signer, "keystore": str(folder / "cosign-key.json"),
        "listen": "127.0.0.1:0", **settings}
    lines = [f'{k} = "{v}"' if isinstance(v, str) else f"{k} = {str(v).lower()}"
             for k, v in values.items()]
    lines += [f"""
[[safes]]
address = "{ex.eth_safe}"
asset = "ETH"
limit = "{eth_limit}"
window = "24h"

[[safes]]
address = "{ex.xem_safe}"
asset = "XEM"
token = "{ex.token}"
limit = "3000000 XEM"
window = "24h"

[cold]
ETH = ["{ex.eth_cold}"]
XEM = ["{ex.xem_cold}"]
""", extra]
    path = folder / "cosign.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


# ---------------------------------------------------------------------- the process


TOKEN_ENV = "KINKO_COSIGN_TOKEN"


@dataclass
class CosignProcess:
    """``kinko cosign serve`` as a real process; ``url`` once it listens."""

    config: Path
    env: dict[str, str]
    process: Any = None
    url: str = ""
    out: Path | None = None

    def start(self, timeout: float = 60.0, **extra_env: str) -> CosignProcess:
        import os
        import subprocess
        import sys
        import time

        self.out = self.config.parent / f"cosign-{int(time.time() * 1000)}.out"
        with self.out.open("wb") as sink:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "kinko", "cosign", "serve", "--config",
                 str(self.config)], stdout=sink, stderr=subprocess.STDOUT,
                env={**os.environ, **self.env, **extra_env}, cwd=self.config.parent)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.out.read_text(encoding="utf-8", errors="replace")
            for line in text.splitlines():
                if line.startswith("kinko cosign listening on "):
                    self.url = line.split()[4]
                    return self
            if self.process.poll() is not None:
                raise RuntimeError(f"kinko cosign serve exited {self.process.returncode}:\n"
                                   f"{text}")
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("kinko cosign serve did not start listening")

    def output(self) -> str:
        return self.out.read_text(encoding="utf-8", errors="replace") if self.out else ""

    def wait(self, timeout: float = 30.0) -> int:
        return int(self.process.wait(timeout=timeout))

    def stop(self) -> None:
        import subprocess

        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
