"""The custody flow through the command line against a real anvil node: breach → proposal →
two approvals with approver keys → sweep → settle → clean check and the Japanese report."""

from __future__ import annotations

from pathlib import Path

import pytest
from eth_account import Account

from kinko.chains.evm import EvmChain
from kinko.cli import main

E = 10**18


@pytest.fixture
def cli(node_cli, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("KINKO_PRICES", "ETH=500000")
    return node_cli


def test_custody_flow(cli, anvil, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    chain = EvmChain.connect(anvil.url)
    code, out, err = cli("wallets", "keygen", "eth-hot", "--asset", "ETH")
    assert code == 0, err
    hot = out.split(" at ")[1].split(";")[0]
    cold = str(Account.create().address)
    assert cli("wallets", "add", "eth-cold", "--asset", "ETH", "--tier", "cold",
               "--address", cold)[0] == 0
    code, _, err = cli("wallets", "add", "bad", "--asset", "ETH", "--tier", "cold",
                       "--address", cold[:-1] + ("a" if cold[-1] != "a" else "b"))
    assert code == 2 and ("checksum" in err or "not an Ethereum address" in err)
    chain.fund(hot, 40 * E)
    chain.fund(cold, 60 * E)
    assert cli("ledger", "post", "--key", "open", "--source", "opening",
               "--debit", "wallet:eth-hot 40 ETH", "--debit", "wallet:eth-cold 60 ETH",
               "--credit", "customer:C1 90 ETH", "--credit", "own 10 ETH")[0] == 0
    keys = {}
    for name in ("alice", "bob", "carol"):
        code, out, _ = cli("approvers", "keygen", "--out", f"{name}.key")
        keys[name] = out.strip()
    approvers = "".join(f'[[approvers]]\nname = "{n}"\npublic_key = "{k}"\n' for n, k in keys.items())
    Path("policy.toml").write_text(f"version = 1\nquorum = 2\n{approvers}\n[assets.ETH]\n"
                                   'max_hot_ratio = "0.05"\ntarget_hot_ratio = "0.03"\n')
    code, out, _ = cli("policy", "load", "--by", "carol")
    assert code == 0 and "version 1 is active" in out
    code, out, _ = cli("check")
    assert code == 1 and "hot_ratio_breach" in out
    code, out, _ = cli("proposals", "create", "--by", "carol", "--format", "csv")
    assert code == 0
    amount = out.splitlines()[1].split(",")[3]  # in whole ETH, not in wei
    assert amount.replace(".", "").isdigit() and len(amount) < 12, amount
    proposal_id = out.splitlines()[1].split(",")[0]
    code, _, err = cli("proposals", "approve", proposal_id, "--approver", "carol",
                       "--key", "carol.key")
    assert code == 2 and "cannot approve" in err
    code, canonical, _ = cli("proposals", "show", proposal_id, "--canonical")
    Path("p.json").write_text(canonical)
    code, signature, _ = cli("approvers", "sign", "--canonical", "p.json", "--key", "bob.key")
    assert code == 0
    assert cli("proposals", "approve", proposal_id, "--approver", "alice", "--key",
               "alice.key")[0] == 0
    code, forged, _ = cli("approvers", "sign", "--canonical", "p.json", "--key", "carol.key")
    code, _, err = cli("proposals", "approve", proposal_id, "--approver", "bob",
                       "--signature", forged.strip())
    assert code == 2 and "does not verify" in err
    code, out, _ = cli("proposals", "approve", proposal_id, "--approver", "bob",
                       "--signature", signature.strip())
    assert code == 0 and "approved" in out
    code, out, err = cli("proposals", "execute", proposal_id)
    assert code == 0, err
    chain.mine(2)
    code, out, _ = cli("proposals", "settle", proposal_id)
    assert "booked as ledger entry" in out
    code, out, err = cli("check")
    assert code == 0, out + err
    code, out, _ = cli("report", "custody", "--lang", "ja", "--format", "html", "--out", "r.html")
    html = Path("r.html").read_text()
    assert "コールドウォレット" in html and "履行保証暗号資産" in html and "法令上の基準及び管理方針の上限をすべて満たしている" in html
    code, out, _ = cli("report", "custody", "--lang", "en", "--format", "json")
    assert '"breach": false' in out
    assert cli("ledger", "verify")[0] == 0


def test_no_node_is_exit_3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                           capsys: pytest.CaptureFixture[str]) -> None:
    import anvilnode

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KINKO_DATABASE_URL", f"sqlite:///{tmp_path / 'k.db'}")
    monkeypatch.setenv("KINKO_EVM_RPC_URL", f"http://127.0.0.1:{anvilnode.free_port()}")
    monkeypatch.setenv("KINKO_RPC_ATTEMPTS", "1")
    assert main(["init"]) == 0
    assert main(["wallets", "add", "eth-cold", "--asset", "ETH", "--tier", "cold", "--address",
                 str(Account.create().address)]) == 0
    capsys.readouterr()
    assert main(["reconcile"]) == 3
    err = capsys.readouterr().err
    assert "did not answer" in err and "Traceback" not in err


def test_deposits_from_the_command_line(cli, anvil) -> None:  # type: ignore[no-untyped-def]
    chain = EvmChain.connect(anvil.url)
    assert cli("wallets", "add", "eth-hot", "--asset", "ETH", "--tier", "hot", "--address",
               str(Account.create().address))[0] == 0
    address = str(Account.create().address)
    code, out, err = cli("deposits", "address", "C7", "--asset", "ETH", "--address", address,
                         "--wallet", "eth-hot")
    assert code == 0, err
    code, _, err = cli("deposits", "address", "C7", "--asset", "ETH", "--address", "0x1234",
                       "--wallet", "eth-hot")
    assert code == 2 and "not an Ethereum address" in err
    start = chain.head() + 1
    chain.fund(address, 3 * E)
    chain.mine(1)
    code, out, _ = cli("deposits", "scan", "--from-block", str(start))
    assert code == 0 and "1 deposit(s) credited" in out
    code, out, _ = cli("balances", "--customer", "C7", "--format", "csv")
    assert "customer:C7,ETH,3,0,3" in out
    code, out, _ = cli("deposits", "scan")
    assert "0 deposit(s) credited" in out


@pytest.mark.slow
def test_safe_wallets_from_the_command_line(cli, anvil, hsm, monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
                                            tmp_path: Path) -> None:
    """A co-signed hot Safe created with `wallets create-safe` (its operations key in
    SoftHSM2, the relayer's in a keystore file), registered again with `wallets add --safe`
    only if the chain agrees, listed with how it signs, and what `kinko check` says of keys
    in files and single-key hot wallets."""
    from kinko.chains.hsm import HsmToken

    token_name, pin = next(iter(hsm.pins.items()))  # the session's token
    label = f"cli-ops-{Account.create().address[2:10]}"
    with HsmToken.open(hsm.module, token_name, pin) as token:
        ops = token.generate_key(label).address
    monkeypatch.setenv("KINKO_HSM_MODULE", hsm.module)
    monkeypatch.setenv("KINKO_HSM_TOKEN", token_name)
    monkeypatch.setenv("KINKO_HSM_PIN", pin)
    monkeypatch.setenv("KINKO_KEYS", f"eth-hot=hsm:{label},relayer=file")
    code, out, err = cli("wallets", "keygen", "relayer", "--asset", "ETH")
    assert code == 0, err
    relayer = out.split(" at ")[1].split(";")[0]
    EvmChain.connect(anvil.url).fund(relayer, E)
    cosigner, recovery = Account.create().address, Account.create().address
    owners = ["--owner", ops, "--owner", cosigner, "--owner", recovery]
    code, _, err = cli("wallets", "create-safe", "usdc-hot", "--asset", "USDC", "--tier", "hot",
                       *owners, "--threshold", "2")
    assert code == 2 and "USDC" in err
    code, out, err = cli("wallets", "create-safe", "eth-hot", "--asset", "ETH", "--tier", "hot",
                         *owners, "--threshold", "2", "--operator", ops, "--cosigner", cosigner,
                         "--deploy-contracts")
    assert code == 0, err
    safe = out.strip().split(" at ")[1]
    code, _, err = cli("wallets", "add", "eth-warm", "--asset", "ETH", "--tier", "warm",
                       "--safe", safe, *owners, "--threshold", "3")
    assert code == 2 and "threshold 2, not 3" in err
    code, out, _ = cli("wallets", "list", "--format", "csv")
    assert "eth-warm" not in out and "Safe 2 of 3, co-signed" in out
    code, out, _ = cli("check")
    lines = out.splitlines()
    assert any("key_in_file" in line and "relayer" in line for line in lines)
    assert any("single_key_hot" in line and "relayer" in line for line in lines)
    assert not any("eth-hot" in line and ("key_in_file" in line or "single_key" in line)
                   for line in lines)
