"""``kinko wallets keygen``: a hot wallet's new key, made in the form its chain's signer reads
(an encrypted keystore on Ethereum, a NEM key file on NEM), and written only when the wallet
is registered: whatever refuses is asked first, and a registration that fails removes it."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from clirun import CliRun, cli_runner

from kinko.chains.keys import KeyRing
from kinko.chains.softhsm import SoftHsm
from kinko.errors import StoreUnavailable

PASSWORD = "correct horse battery"


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> CliRun:
    monkeypatch.delenv("KINKO_EVM_RPC_URL", raising=False)
    monkeypatch.delenv("KINKO_HOT_KEY_PASSWORD", raising=False)
    return cli_runner(monkeypatch, capsys, tmp_path, f"sqlite:///{tmp_path / 'k.db'}")


def _keys(folder: Path) -> list[str]:
    keys = folder / "keys"
    return sorted(p.name for p in keys.iterdir()) if keys.exists() else []


def test_a_nem_hot_wallet_gets_a_nem_key_file(cli: CliRun, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """It made an Ethereum keystore, then refused its address as not a NEM one (exit 2),
    and left the key file behind, one more each try."""
    monkeypatch.setenv("KINKO_HOT_KEY_PASSWORD", PASSWORD)
    code, out, err = cli("wallets", "keygen", "xem-hot", "--asset", "XEM")
    assert code == 0, err
    assert _keys(tmp_path) == ["xem-hot.nem"]
    path = tmp_path / "keys" / "xem-hot.nem"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = KeyRing(tmp_path / "keys", {}).nem_key("xem-hot", "nem")  # as the NEM signer reads it
    assert f"at {key.address}; NEM key file keys/xem-hot.nem" in out
    assert path.read_text() not in out + err  # the private key is shown nowhere
    code, out, _ = cli("wallets", "list", "--format", "csv")
    assert f"xem-hot,XEM,hot,one key,{key.address}" in out
    code, _, err = cli("wallets", "keygen", "xem-hot", "--asset", "XEM")  # not twice
    assert code == 2 and "wallet xem-hot is registered already" in err
    assert _keys(tmp_path) == ["xem-hot.nem"]


def test_a_refused_keygen_writes_no_key(cli: CliRun, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KINKO_HOT_KEY_PASSWORD", PASSWORD)
    code, _, err = cli("wallets", "keygen", "btc-hot", "--asset", "BTC")
    assert code == 2 and "BTC is on bitcoin: register its wallet by address" in err, err
    assert cli("wallets", "add", "eth-hot", "--asset", "ETH", "--tier", "hot", "--address",
               "0x" + "11" * 20)[0] == 0
    code, _, err = cli("wallets", "keygen", "eth-hot", "--asset", "ETH")  # by address already
    assert code == 2 and "wallet eth-hot is registered already" in err, err
    monkeypatch.setenv("KINKO_KEYS", "xem-hot=hsm:xem")
    code, _, err = cli("wallets", "keygen", "xem-hot", "--asset", "XEM")
    assert code == 2 and "no PKCS#11 token offers" in err, err
    assert _keys(tmp_path) == []
    code, out, _ = cli("wallets", "list", "--format", "csv")
    assert "btc-hot" not in out and "xem-hot" not in out


@pytest.mark.parametrize("asset", ["ETH", "XEM"])
def test_a_key_whose_wallet_is_not_registered_is_removed(
        cli: CliRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, asset: str) -> None:
    from kinko.services.ledger import Ledger

    monkeypatch.setenv("KINKO_HOT_KEY_PASSWORD", PASSWORD)

    def unavailable(self: Ledger, wallet: object, **kw: object) -> None:
        raise StoreUnavailable("the database is unavailable")

    monkeypatch.setattr(Ledger, "add_wallet", unavailable)
    code, _, err = cli("wallets", "keygen", "hot", "--asset", asset)
    assert code == 3, err
    assert _keys(tmp_path) == []


@pytest.mark.parametrize("password, said", [
    (None, "KINKO_HOT_KEY_PASSWORD is not set: export the key file's password (at least 12 "
           "characters)"),
    ("eleven char", "KINKO_HOT_KEY_PASSWORD is too short: a key file's password must have at "
                    "least 12 characters")])
def test_the_password_refusal_names_its_variable(cli: CliRun, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 password: str | None, said: str) -> None:
    """It said "a keystore password must have at least 12 characters", naming no variable,
    whether the variable was unset or short."""
    if password is not None:
        monkeypatch.setenv("KINKO_HOT_KEY_PASSWORD", password)
    code, out, err = cli("wallets", "keygen", "eth-hot", "--asset", "ETH")
    assert (code, out, err) == (2, "", f"error: {said}\n")
    assert _keys(tmp_path) == []


def test_a_key_where_the_keys_setting_says(cli: CliRun, tmp_path: Path, hsm: SoftHsm,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """With an HSM configured, `wallets keygen` wrote an encrypted keystore file all the
    same (an online key in a file, where the wallet's signer then looked in the token and
    found nothing); a key named to a file of its own went to ``hot_keystore_dir``. The key
    is now made where the ``keys`` setting says: generated in the token, or in the file
    named."""
    from kinko.chains.hsm import HsmToken

    token_name, pin = next(iter(hsm.pins.items()))
    monkeypatch.setenv("KINKO_HOT_KEY_PASSWORD", PASSWORD)
    monkeypatch.setenv("KINKO_HSM_MODULE", hsm.module)
    monkeypatch.setenv("KINKO_HSM_TOKEN", token_name)
    monkeypatch.setenv("KINKO_HSM_PIN", pin)
    label = f"keygen-{tmp_path.name[-24:]}"
    monkeypatch.setenv("KINKO_KEYS", f"eth-hot2=hsm:{label},relayer=file:{tmp_path}/r/k.json")
    code, out, err = cli("wallets", "keygen", "eth-hot2", "--asset", "ETH")
    assert code == 0, err
    with HsmToken.open(hsm.module, token_name, pin) as token:
        made = token.signer(label)
        assert made.generated_in_token
        address = made.address.lower()
    assert f"at {made.address}; its key generated inside HSM token {token_name}" in out
    assert _keys(tmp_path) == []  # no key file
    code, out, _ = cli("wallets", "list", "--format", "csv")
    assert f"eth-hot2,ETH,hot,one key,{address}" in out
    code, out, err = cli("wallets", "keygen", "relayer", "--asset", "ETH")
    assert code == 0, err
    assert (tmp_path / "r" / "k.json").is_file() and _keys(tmp_path) == []
    ring = KeyRing(tmp_path / "keys", {"relayer": ("file", f"{tmp_path}/r/k.json")},
                   env={"KINKO_HOT_KEY_PASSWORD": PASSWORD})
    assert f"at {ring.key('relayer').address}; keystore {tmp_path}/r/k.json" in out


def test_an_hsm_key_whose_wallet_is_not_registered_is_removed(
        cli: CliRun, tmp_path: Path, hsm: SoftHsm, monkeypatch: pytest.MonkeyPatch) -> None:
    from kinko.chains.hsm import HsmToken
    from kinko.services.ledger import Ledger

    token_name, pin = next(iter(hsm.pins.items()))
    monkeypatch.setenv("KINKO_HSM_MODULE", hsm.module)
    monkeypatch.setenv("KINKO_HSM_TOKEN", token_name)
    monkeypatch.setenv("KINKO_HSM_PIN", pin)
    label = f"lost-{tmp_path.name[-24:]}"
    monkeypatch.setenv("KINKO_KEYS", f"eth-hot=hsm:{label}")

    def unavailable(self: Ledger, wallet: object, **kw: object) -> None:
        raise StoreUnavailable("the database is unavailable")

    monkeypatch.setattr(Ledger, "add_wallet", unavailable)
    code, _, err = cli("wallets", "keygen", "eth-hot", "--asset", "ETH")
    assert code == 3, err
    with HsmToken.open(hsm.module, token_name, pin) as token:
        assert label not in token.labels()


def test_a_registered_wallet_is_in_the_audit_log(cli: CliRun, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Registering a wallet (an address kinko then pays to and from, and counts in the
    reserves) left no audit record: who registered which addresses, and which they
    replaced, is now recorded in the registration's own unit."""
    import json

    monkeypatch.setenv("KINKO_HOT_KEY_PASSWORD", PASSWORD)
    cold = "0x" + "12" * 20
    assert cli("wallets", "add", "eth-cold", "--asset", "ETH", "--tier", "cold",
               "--address", cold, "--by", "hanako")[0] == 0
    assert cli("wallets", "add", "eth-cold", "--asset", "ETH", "--tier", "cold",
               "--address", "0x" + "34" * 20, "--by", "taro")[0] == 0
    code, out, err = cli("wallets", "keygen", "eth-hot", "--asset", "ETH")
    assert code == 0, err
    hot = out.split(" at ")[1].split(";")[0].lower()
    refused = cli("wallets", "add", "x", "--asset", "ETH", "--tier", "cold", "--address",
                  cold[:-1], "--by", "hanako")
    assert refused[0] == 2
    code, out, _ = cli("audit", "list", "--action", "wallet.", "--format", "json")
    records = [(r["actor"], r["action"], r["target"], json.loads(r["detail"])
                if isinstance(r["detail"], str) else r["detail"]) for r in json.loads(out)]
    assert [(a, act, t) for a, act, t, _ in records] == [
        ("cli:hanako", "wallet.add", "eth-cold"), ("cli:taro", "wallet.add", "eth-cold"),
        ("cli", "wallet.add", "eth-hot")]
    first, second, third = (d for *_, d in records)
    assert first == {"asset": "ETH", "tier": "cold", "kind": "key", "addresses": [cold],
                     "replaces": None}
    assert second["addresses"] == ["0x" + "34" * 20] and second["replaces"] == [cold]
    assert third["addresses"] == [hot] and third["tier"] == "hot"
    assert cli("audit", "verify")[0] == 0
