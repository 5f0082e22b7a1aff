"""``kinko`` against a NIS1 node chosen in the ``chains`` setting (the recorded-shape double):
a NEM hot account is registered, a deposit credited, a withdrawal sent from a key file and
confirmed, the books reconcile with the chain, ``kinko check`` names the single key in a
file, and ``kinko watch --once`` alarms on a transfer nobody approved."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from clirun import CliRun, cli_runner
from nis1double import PRIVATE, Nis1Double

from kinko.chains import nem
from kinko.chains.nis1 import NisChain

CHAIN = "nem"
HOT, DEPOSIT, PAYER, CUSTOMER, THIEF = (nem.NemKey(k, CHAIN) for k in PRIVATE)
XEM = 1_000_000


@pytest.fixture
def node() -> Iterator[Nis1Double]:
    n = Nis1Double(CHAIN)
    n.fund(HOT.address, 1_000 * XEM)
    n.fund(PAYER.address, 1_000 * XEM)
    yield n
    n.close()


@pytest.fixture
def run(node: Nis1Double, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> CliRun:
    (tmp_path / "hot.nem").write_text(PRIVATE[0] + "\n")
    (tmp_path / "policy.toml").write_text(
        "version = 1\nquorum = 1\n[[approvers]]\nname = \"a\"\npublic_key = \""
        + "11" * 32 + "\"\n[assets.XEM]\nmax_hot_ratio = \"1\"\n")
    return cli_runner(monkeypatch, capsys, tmp_path, f"sqlite:///{tmp_path / 'k.db'}",
                      KINKO_CHAINS=f"{CHAIN}=nis1:{node.url}",
                      KINKO_KEYS=f"xem-hot=file:{tmp_path / 'hot.nem'}",
                      KINKO_CONFIRMATIONS="1", KINKO_RPC_ATTEMPTS="1")


def test_kinko_runs_on_the_nis1_node_of_its_settings(run: CliRun, node: Nis1Double) -> None:
    assert run("policy", "load", "policy.toml", "--by", "ops")[0] == 0
    code, out, err = run("wallets", "add", "xem-hot", "--asset", "XEM", "--tier", "hot",
                         "--address", HOT.address.lower())
    assert code == 0, err
    assert run("deposits", "address", "C1", "--asset", "XEM", "--address", DEPOSIT.address,
               "--wallet", "xem-hot")[0] == 0
    pay = PAYER.sign(nem.transfer(CHAIN, signer_public_key=PAYER.public_key,
                                  recipient=DEPOSIT.address, amount=40 * XEM, timestamp=100))
    node.announce(pay.announce())
    node.mine()
    code, out, err = run("deposits", "scan", "--from-block", "1")
    assert code == 0 and "1 deposit(s) credited" in out, out + err
    node.fund(DEPOSIT.address, -40 * XEM)  # the exchange sweeps its deposit addresses
    node.fund(HOT.address, 40 * XEM)
    node.mine()
    code, out, err = run("withdrawals", "request", "W1", "--customer", "C1", "--asset", "XEM",
                         "--amount", "12.5", "--to", CUSTOMER.address)
    assert code == 0 and "allowed" in out, out + err
    code, out, err = run("withdrawals", "cost", "W1")
    assert code == 0 and "network fee at most 0.05 XEM, paid by " + HOT.address in out, \
        out + err
    code, out, err = run("withdrawals", "send", "W1")
    assert code == 0 and "sent" in out, out + err
    node.mine()
    code, out, err = run("withdrawals", "confirm", "W1")
    assert code == 0 and "confirmed" in out, out + err
    assert node.balances[CUSTOMER.address] == 12_500_000
    code, out, err = run("check")
    assert "single_key_hot" in out + err and "key_in_file" in out + err
    # proof of reserves, read at a block of the NIS1 node; the key proves control
    code, out, err = run("reserves", "snapshot", "--out", "snap", "--min-height", "2")
    assert code == 0, out + err
    code, out, err = run("reserves", "sign", "snap")
    assert code == 0 and "signed and verified" in out, out + err
    code, out, err = run("reserves", "report", "snap")
    assert code == 0, out + err
    row = next(line for line in out.splitlines() if HOT.address in line)
    assert "1,027.45" in row.replace(" ", "") or "1027.45" in row, row
    assert "signed and verified" in row, row
    # a transfer the exchange did not make, with the hot account's own key
    theft = HOT.sign(nem.transfer(CHAIN, signer_public_key=HOT.public_key,
                                  recipient=THIEF.address, amount=900 * XEM, timestamp=200))
    node.announce(theft.announce())
    code, out, err = run("watch", "--once")
    assert theft.hash.lower() in out + err and "theft" in (out + err).lower(), out + err
    node.mine()
    code, out, err = run("reconcile")
    assert "xem-hot" in out + err


def test_a_hot_account_in_the_chains_setting_is_checked(run: CliRun) -> None:
    code, _, err = run("--chains", f"{CHAIN}=nis1:http://127.0.0.1:1#NOTANADDRESS", "check")
    assert code == 2 and "account 'NOTANADDRESS'" in err


def test_a_co_signed_nem_multisig_account_sends_through_the_cosigner(
        node: Nis1Double, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The hot account is 2-of-3 (operations key, the co-signer, a recovery key): `kinko
    wallets add --safe` registers it once the chain agrees; `kinko withdrawals send` has
    the operations key initiate and the co-signer, over its socket, cosign."""
    from datetime import UTC, datetime, timedelta

    from cosignhttp import serve_cosigner

    from kinko.chains.keystore import throwaway_signer
    from kinko.domain.cosign import CosignPolicy, SafeLimit
    from kinko.ports import SystemClock
    from kinko.services.cosign import CosignService
    from kinko.store.cosign_sql import open_cosign_log
    from kinko.store.cosign_view import SqlKinkoView

    account, ops, cosigner, recovery = HOT, DEPOSIT, THIEF, PAYER  # four keys, new roles
    now = nem.network_time(CHAIN, datetime.now(UTC))
    node.announce(account.sign(nem.modification(
        CHAIN, account_public_key=account.public_key, timestamp=now,
        add=[k.public_key for k in (ops, cosigner, recovery)], min_change=2)).announce())
    node.mine()
    (tmp_path / "ops.nem").write_text(PRIVATE[1] + "\n")
    url = f"sqlite:///{tmp_path / 'k.db'}"
    run = cli_runner(monkeypatch, capsys, tmp_path, url,
                     KINKO_CHAINS=f"{CHAIN}=nis1:{node.url}",
                     KINKO_KEYS=f"xem-hot=file:{tmp_path / 'ops.nem'}",
                     KINKO_CONFIRMATIONS="1", KINKO_RPC_ATTEMPTS="1")
    (tmp_path / "policy.toml").write_text(
        "version = 1\nquorum = 1\n[[approvers]]\nname = \"a\"\npublic_key = \""
        + "11" * 32 + "\"\n[assets.XEM]\nmax_hot_ratio = \"1\"\n")
    assert run("policy", "load", "policy.toml", "--by", "ops")[0] == 0
    wrong = ["wallets", "add", "xem-hot", "--asset", "XEM", "--tier", "hot", "--safe",
             account.address, "--owner", ops.address, "--owner", cosigner.address,
             "--owner", CUSTOMER.address, "--threshold", "2"]
    code, out, err = run(*wrong)
    assert code != 0 and "registered cosignatories not on chain" in err, out + err
    code, out, err = run("wallets", "add", "xem-hot", "--asset", "XEM", "--tier", "hot",
                         "--safe", account.address, "--owner", ops.address, "--owner",
                         cosigner.address, "--owner", recovery.address, "--threshold", "2",
                         "--operator", ops.address, "--cosigner", cosigner.address)
    assert code == 0 and "multisig" in out, out + err
    assert run("deposits", "address", "C1", "--asset", "XEM", "--address",
               CUSTOMER.address, "--wallet", "xem-hot")[0] == 0
    node.announce(PAYER.sign(nem.transfer(CHAIN, signer_public_key=PAYER.public_key,
                                          recipient=CUSTOMER.address, amount=20 * XEM,
                                          timestamp=now)).announce())
    node.mine()
    assert "1 deposit(s) credited" in run("deposits", "scan", "--from-block", "1")[1]
    node.fund(CUSTOMER.address, -20 * XEM)  # swept into the hot account
    node.fund(account.address, 20 * XEM)
    node.mine()
    log = open_cosign_log(f"sqlite:///{tmp_path / 'cosign.db'}")
    limit = SafeLimit(account.address.lower(), "XEM", 100 * XEM, timedelta(days=1))
    service = CosignService(policy=CosignPolicy(CHAIN, {account.address.lower(): {"XEM": limit}}),
                            kinko=SqlKinkoView(url), chain=None, log=log,
                            signer=throwaway_signer(), clock=SystemClock(), nem_key=cosigner,
                            nem_chain=NisChain(node.url, name=CHAIN))
    before = node.balances[recovery.address]
    code, out, err = run("withdrawals", "request", "W1", "--customer", "C1", "--asset", "XEM",
                         "--amount", "7", "--to", recovery.address)
    assert code == 0 and "allowed" in out, out + err
    code, out, err = run("withdrawals", "send", "W1")
    assert code != 0 and "cosigner_url" in err, out + err  # no co-signer configured yet
    cosign_url, stop = serve_cosigner(service, "k" * 40)
    try:
        monkeypatch.setenv("KINKO_COSIGNER_URL", cosign_url)
        monkeypatch.setenv("KINKO_COSIGN_TOKEN", "k" * 40)
        code, out, err = run("withdrawals", "send", "W1")
        assert code == 0 and "sent" in out, out + err
    finally:
        stop()
    node.mine()
    code, out, err = run("withdrawals", "confirm", "W1")
    assert code == 0 and "confirmed" in out, out + err
    assert node.balances[recovery.address] - before == 7 * XEM
    code, out, err = run("check")
    assert "single_key_hot" not in out + err and "hot_without_cosigner" not in out + err
