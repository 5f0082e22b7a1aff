"""Withdrawals, deny lists and the breaker through the command line, on anvil."""

from __future__ import annotations

from pathlib import Path

import pytest
from eth_account import Account

from kinko.chains.evm import EvmChain

DATA = Path(__file__).resolve().parents[1] / "data"
E = 10**18


@pytest.fixture
def cli(node_cli, anvil, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("KINKO_CONFIRMATIONS", "1")
    run = node_cli
    _code, out, _ = run("wallets", "keygen", "eth-hot", "--asset", "ETH")
    hot = out.split(" at ")[1].split(";")[0]
    EvmChain.connect(anvil.url).fund(hot, 10 * E)
    run("ledger", "post", "--key", "open", "--source", "opening",
        "--debit", "wallet:eth-hot 10 ETH", "--credit", "customer:C1 10 ETH")
    keys = {}
    for name in ("alice", "bob"):
        keys[name] = run("approvers", "keygen", "--out", f"{name}.key")[1].strip()
    approvers = "".join(f'[[approvers]]\nname = "{n}"\npublic_key = "{k}"\n' for n, k in keys.items())
    Path("policy.toml").write_text(
        f"version = 1\nquorum = 2\n{approvers}\n[[screening.rules]]\nkind = \"deny_list\"\n"
        "action = \"block\"\n\n[[screening.rules]]\nkind = \"max_amount\"\nasset = \"ETH\"\n"
        "amount = \"5\"\naction = \"review\"\nreason = \"large\"\n")
    assert run("policy", "load", "--by", "ops")[0] == 0
    return run


def test_withdrawals_cli(cli, anvil) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = cli("denylist", "load", str(DATA / "tagpacks" / "usdt_blacklist.yaml"))
    assert code == 0 and "labels read" in out
    dest = str(Account.create().address)
    code, out, err = cli("withdrawals", "request", "W1", "--customer", "C1", "--asset", "ETH",
                         "--amount", "1.5", "--to", dest)
    assert code == 0 and "allowed" in out, err
    assert cli("withdrawals", "send", "W1")[0] == 0
    EvmChain.connect(anvil.url).mine(1)
    assert "confirmed" in cli("withdrawals", "confirm", "W1")[1]
    code, out, _ = cli("withdrawals", "request", "W2", "--customer", "C1", "--asset", "ETH",
                       "--amount", "6", "--to", dest)
    assert "review" in out and "large" in out
    assert "1/2" in cli("withdrawals", "approve", "W2", "--approver", "alice", "--key",
                        "alice.key")[1]
    assert "approved" in cli("withdrawals", "approve", "W2", "--approver", "bob", "--key",
                             "bob.key")[1]
    code, _, err = cli("withdrawals", "request", "W3", "--customer", "C1", "--asset", "ETH",
                       "--amount", "0.0000000000000000001", "--to", dest)
    assert code == 2 and "decimal places" in err
    code, _, err = cli("withdrawals", "request", "W3", "--customer", "C1", "--asset", "ETH",
                       "--amount", "1", "--to", "0x1234")
    assert code == 2 and "not an Ethereum address" in err
    code, out, _ = cli("breaker", "trip", "ETH", "--by", "ops", "--reason", "drill")
    code, out, _ = cli("withdrawals", "request", "W4", "--customer", "C1", "--asset", "ETH",
                       "--amount", "0.1", "--to", dest)
    assert "review" in out and "breaker" in out
    code, out, _ = cli("breaker", "reset", "ETH", "--by", "ops")
    proposal = out.split(" as ")[1].split(";")[0]
    cli("breaker", "approve", proposal, "--approver", "alice", "--key", "alice.key")
    assert "breaker reset" in cli("breaker", "approve", proposal, "--approver", "bob",
                                  "--key", "bob.key")[1]
    code, out, _ = cli("breaker", "status")
    assert "tripped: none" in out and "drill" in out
    code, out, _ = cli("withdrawals", "show", "W2", "--format", "csv")
    assert "W2,C1,6,ETH" in out and ",approved," in out
    code, out, _ = cli("withdrawals", "explain", "W2")
    assert "policy version 1" in out and "large" in out
    code, out, _ = cli("withdrawals", "rules")
    assert "outflow_rate" in out and "cooling_off" in out


def test_the_tier_is_the_customers_from_the_command_line(cli) -> None:  # type: ignore[no-untyped-def]
    dest = str(Account.create().address)
    code, _, err = cli("withdrawals", "request", "W5", "--customer", "C1", "--asset", "ETH",
                       "--amount", "1", "--to", dest, "--tier", "vip")
    assert code == 2 and "cannot name a tier" in err and "kinko customers tier" in err
    assert cli("withdrawals", "list")[1].count("W5") == 0  # nothing was recorded
    code, out, _ = cli("customers", "tier", "C1")
    assert code == 0 and "C1: standard (none recorded)" in out and "tiers: standard" in out
    code, _, err = cli("customers", "tier", "C1", "vip", "--by", "alice")
    assert code == 2 and "not one of the policy's tiers: standard" in err
    code, out, err = cli("customers", "tier", "C1", "standard", "--by", "alice")
    assert code == 0 and "C1: standard" in out, err
    assert "by alice" in cli("customers", "tier", "C1")[1]
    code, _, err = cli("withdrawals", "request", "bad/id", "--customer", "C1", "--asset", "ETH",
                       "--amount", "1", "--to", dest)
    assert code == 2 and "is not accepted" in err
