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
    code, out, err = run("withdrawals", "send", "W1")
    assert code == 0 and "sent" in out, out + err
    node.mine()
    code, out, err = run("withdrawals", "confirm", "W1")
    assert code == 0 and "confirmed" in out, out + err
    assert node.balances[CUSTOMER.address] == 12_500_000
    code, out, err = run("check")
    assert "single_key_hot" in out + err and "key_in_file" in out + err
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
