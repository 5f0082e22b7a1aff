"""A co-signed hot Safe end to end on anvil, through kinko's command line and the real
``kinko cosign serve`` process: the Safe is created with ``wallets create-safe`` (the
operations key and the co-signer's key in SoftHSM2, the relayer's in a file), a withdrawal
is requested, sent (the services ask the co-signer over HTTP) and confirmed, and the fee is
booked to the relayer. The thief who holds the operations key gets nothing: one signature
is refused before anything is sent, and the co-signer refuses a transaction kinko never
approved, into kinko's alerts. Without the co-signer's address set, sending says which
setting is missing and nothing moves; with the co-signer down, sending fails closed. The
cold wallet is a Safe of the approvers' Ethereum keys: a refill from it is signed by one
owner with a key file and by another with a signature made elsewhere, then executed and
settled."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cosignworld import TOKEN_ENV, CosignProcess
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from eth_account import Account
from eth_account.messages import encode_defunct

from kinko.chains import safe as S
from kinko.chains.evm import EvmChain
from kinko.chains.hsm import HsmToken
from kinko.chains.keystore import create_keystore
from kinko.cosign.client import HttpCosigner
from kinko.domain.approvals import public_key_hex, sign_proposal
from kinko.domain.money import AssetRegistry, format_units
from kinko.domain.safe import SafeTx
from kinko.errors import ApprovalError, CosignRefused
from kinko.ports import SystemClock
from kinko.services.custody import Custody
from kinko.services.ledger import Ledger
from kinko.store import open_store

pytestmark = pytest.mark.slow
E = 10**18
TOKEN = "c" * 24 + os.urandom(12).hex()


def _cosign(config: Path, *args: str, env: dict[str, str]) -> str:
    done = subprocess.run([sys.executable, "-m", "kinko", "cosign", *args, "--config",
                           str(config)], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **env}, cwd=config.parent)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_a_cosigned_safe_pays_a_withdrawal_through_the_cosign_process(  # type: ignore[no-untyped-def]
        node_cli, anvil, hsm, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    token_name, pin = next(iter(hsm.pins.items()))  # the session's token
    cli, chain = node_cli, EvmChain.connect(anvil.url)
    suffix = Account.create().address[2:10].lower()
    ops_label, cosign_label = f"ops-{suffix}", f"cosigner-{suffix}"
    with HsmToken.open(hsm.module, token_name, pin) as token:
        ops = token.generate_key(ops_label).address
    monkeypatch.setenv("KINKO_HSM_MODULE", hsm.module)
    monkeypatch.setenv("KINKO_HSM_TOKEN", token_name)
    monkeypatch.setenv("KINKO_HSM_PIN", pin)
    monkeypatch.setenv("KINKO_KEYS", f"eth-hot=hsm:{ops_label},relayer=file")
    # the co-signer: its own key in the HSM, its own settings and database
    hsm_settings = {"hsm_module": hsm.module, "hsm_token": token_name, "hsm_key": cosign_label}
    env = {"KINKO_COSIGN_HSM_PIN": pin, TOKEN_ENV: TOKEN}
    bare = tmp_path / "cosign-keygen.toml"
    bare.write_text("".join(f'{k} = "{v}"\n' for k, v in hsm_settings.items()))
    _cosign(bare, "keygen", env=env)
    cosigner = _cosign(bare, "address", env=env).strip()

    code, out, err = cli("wallets", "keygen", "relayer", "--asset", "ETH")
    assert code == 0, err
    relayer = out.split(" at ")[1].split(";")[0]
    chain.fund(relayer, E)
    recovery, dest = Account.create().address, Account.create().address
    password = "owner key password"
    alice_eth = create_keystore(tmp_path / "alice-eth.json", password)
    bob_eth, carol_eth = Account.create(), Account.create()
    code, out, err = cli("wallets", "create-safe", "eth-hot", "--asset", "ETH", "--tier", "hot",
                         "--owner", ops, "--owner", cosigner, "--owner", recovery,
                         "--threshold", "2", "--operator", ops, "--cosigner",
                         cosigner, "--deploy-contracts")
    assert code == 0, err
    safe = out.strip().split(" at ")[1]
    code, out, err = cli("wallets", "create-safe", "eth-cold", "--asset", "ETH", "--tier",
                         "cold", "--owner", alice_eth, "--owner", bob_eth.address, "--owner",
                         carol_eth.address, "--threshold", "2")  # the approvers' keys
    assert code == 0, err
    cold = out.strip().split(" at ")[1]
    chain.fund(cold, 2 * E)
    gas = chain.balances([relayer])[relayer]  # what is left after creating both Safes
    chain.fund(safe, 10 * E)
    eth = AssetRegistry.default()["ETH"]
    code, _, err = cli("ledger", "post", "--key", "open", "--source", "opening",
                       "--debit", "wallet:eth-hot 10 ETH", "--debit", "wallet:eth-cold 2 ETH",
                       "--debit", f"wallet:relayer {format_units(gas, eth)} ETH",
                       "--credit", "customer:C1 12 ETH",
                       "--credit", f"own {format_units(gas, eth)} ETH")
    assert code == 0, err

    policy = tmp_path / "policy.toml"
    approvers = {n: Ed25519PrivateKey.generate() for n in ("alice", "bob", "carol")}
    policy.write_text("version = 1\nquorum = 2\n" + "".join(
        f'[[approvers]]\nname = "{n}"\npublic_key = "{public_key_hex(k)}"\n'
        for n, k in approvers.items()), encoding="utf-8")
    code, _, err = cli("policy", "load", str(policy), "--by", "ops")
    assert code == 0, err

    # without the co-signer's address, sending names the missing setting; nothing moves
    code, out, err = cli("withdrawals", "request", "W1", "--customer", "C1", "--asset", "ETH",
                         "--amount", "1", "--to", dest)
    assert code == 0 and "allowed" in out, out + err
    code, _, err = cli("withdrawals", "send", "W1")
    assert code != 0 and "cosigner_url" in err and "Traceback" not in err
    assert chain.balances([dest])[dest] == 0

    config = tmp_path / "cosign.toml"
    config.write_text("".join(f'{k} = "{v}"\n' for k, v in {
        **hsm_settings, "signer": "hsm", "listen": "127.0.0.1:0",
        "database_url": f"sqlite:///{tmp_path / 'cosign.db'}",
        "kinko_database_url": f"sqlite:///{tmp_path / 'k.db'}",
        "evm_rpc_url": anvil.url}.items()) + f"""
[[safes]]
address = "{safe}"
asset = "ETH"
limit = "5 ETH"
window = "24h"

[cold]
ETH = ["{cold}"]
""")
    process = CosignProcess(config, env).start()
    try:
        monkeypatch.setenv("KINKO_COSIGNER_URL", process.url)
        monkeypatch.setenv(TOKEN_ENV, TOKEN)
        code, out, err = cli("withdrawals", "send", "W1")
        assert code == 0, err
        chain.mine(3)
        code, out, err = cli("withdrawals", "confirm", "W1")
        assert code == 0 and "confirmed" in out, out + err
        assert chain.balances([dest])[dest] == E
        code, out, _ = cli("check")
        assert "wallet_short" not in out and "wallet_over" not in out, out

        # the thief holds the operations key: one signature moves nothing, and the
        # co-signer refuses what kinko never approved, into kinko's alerts
        thief = Account.create().address
        tx = SafeTx(safe=safe, chain_id=chain.fee_params()[0], to=thief, value=5 * E,
                    data=b"", nonce=S.read_safe(chain, safe).nonce)
        with HsmToken.open(hsm.module, token_name, pin) as token, \
                pytest.raises(ApprovalError, match="needs 2 owners' signatures"):
            stolen = token.signer(ops_label)
            S.execute(chain, stolen, tx, {stolen.address: S.sign_safe_tx(stolen, tx)})
        with pytest.raises(CosignRefused) as refused:
            HttpCosigner(process.url, TOKEN).cosign("withdrawal", "W1", tx)
        assert refused.value.reason in ("request_state", "already_signed")
        assert chain.balances([thief])[thief] == 0
        store = open_store(f"sqlite:///{tmp_path / 'k.db'}")
        try:
            deadline = time.monotonic() + 30
            while True:
                with store.watch(write=False) as tables:
                    alerts = [a for a in tables.alerts() if a["kind"] == "cosign_refused"]
                if alerts or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
        finally:
            store.close()
        assert alerts, "the refusal reaches kinko's alerts from the co-signer itself"
    finally:
        process.stop()

    # the co-signer down: sending fails closed, naming it; nothing moves
    other = Account.create().address
    code, out, err = cli("withdrawals", "request", "W2", "--customer", "C1", "--asset", "ETH",
                         "--amount", "1", "--to", other)
    assert code == 0 and "allowed" in out, out + err
    code, _, err = cli("withdrawals", "send", "W2")
    assert code != 0 and "co-signer" in err and "Traceback" not in err, err
    assert chain.balances([other])[other] == 0

    # a refill from the cold Safe: the approvers' quorum, then two owners' signatures
    store = open_store(f"sqlite:///{tmp_path / 'k.db'}")
    try:
        custody = Custody(Ledger(store, SystemClock(), AssetRegistry.default()))
        view = custody.propose("refill", {
            "asset": "ETH", "amount": str(E), "from_wallet": "eth-cold", "to_wallet": "eth-hot",
            "from_address": cold, "to_address": safe}, "carol", "refill from cold")
        for name in ("alice", "bob"):
            custody.approve(view.proposal.id, name, sign_proposal(view.proposal,
                                                                  approvers[name]))
    finally:
        store.close()
    pid = view.proposal.id
    code, out, err = cli("proposals", "safe-tx", pid)
    assert code == 0, err
    what = json.loads(out)
    assert what["to"].lower() == safe.lower() and what["value"] == str(E)
    monkeypatch.setenv("KINKO_OWNER_KEY_PASSWORD", password)
    code, out, err = cli("proposals", "safe-sign", pid, "--owner", alice_eth,
                         "--key", str(tmp_path / "alice-eth.json"))
    assert code == 0 and "1 owner signature" in out, out + err
    code, _, err = cli("proposals", "execute", pid)
    assert code != 0 and "needs 2 owners' signatures" in err
    pasted = bob_eth.sign_message(encode_defunct(primitive=bytes.fromhex(what["digest"][2:])))
    code, out, err = cli("proposals", "safe-sign", pid, "--owner", bob_eth.address,
                         "--signature", "0x" + bytes(pasted.signature).hex())
    assert code == 0 and "2 owner signature" in out, out + err
    before = chain.balances([safe])[safe]
    code, out, err = cli("proposals", "execute", pid)
    assert code == 0, err
    chain.mine(3)
    code, out, err = cli("proposals", "settle", pid)
    assert code == 0, err
    assert chain.balances([safe])[safe] - before == E
