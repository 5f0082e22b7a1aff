"""The development keystore signer reads its file as hostile input: bounded, and errors that
name the file but never show its content (a keystore is key material, even encrypted)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eth_account import Account

from kinko.chains.keystore import KeystoreSigner, create_keystore
from kinko.errors import ConfigError

PASSWORD = "correct horse battery"


def test_a_keystore_opens_and_signs_as_its_address(tmp_path: Path) -> None:
    path = tmp_path / "k.json"
    address = create_keystore(path, PASSWORD)  # eth-account's default scrypt: a second each
    assert "ciphertext" in path.read_text() and (path.stat().st_mode & 0o777) == 0o600
    signer = KeystoreSigner.open(path, PASSWORD)
    assert signer.address == address and address in repr(signer)
    with pytest.raises(ConfigError, match="wrong password"):
        KeystoreSigner.open(tmp_path / "k.json", "wrong")


@pytest.mark.parametrize(("content", "expected"), [
    ("[" * 1000, "nested more than 8 levels deep"),
    ('{"crypto": "' + "a" * 70_000 + '"}', "larger than 65,536 bytes"),
    ("not json at all", "not valid JSON"),
    ("[1, 2, 3]", "not a JSON keystore file"),
    ('{"crypto": {"ciphertext": "00"}, "version": 3}', "not a JSON keystore file"),
], ids=["deep", "huge", "not-json", "not-a-keystore", "damaged"])  # short ids: see conftest
def test_a_hostile_keystore_file_is_one_clear_error(tmp_path: Path, content: str,
                                                    expected: str) -> None:
    path = tmp_path / "k.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        KeystoreSigner.open(path, PASSWORD)
    message = caught.value.message
    assert expected in message and str(path) in message
    assert "aaaa" not in message and "ciphertext" not in message


def _costly(tmp_path: Path, kdf: str, **params: object) -> Path:
    path = tmp_path / f"{kdf}.json"
    data = Account.encrypt(Account.create().key, PASSWORD, kdf=kdf)
    data["crypto"]["kdfparams"].update(params)
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


@pytest.mark.parametrize(("kdf", "params", "expected"), [
    ("scrypt", {"n": 2**24}, "its scrypt parameters (n=16777216, r=8, p=1) would take more"),
    ("scrypt", {"n": 2**18, "p": 2**20}, "would take more memory or time"),
    ("scrypt", {"n": 3}, "crypto.kdfparams.n is not a power of two"),
    ("scrypt", {"r": "8"}, "crypto.kdfparams.r is not a positive whole number"),
    ("scrypt", {"dklen": 64}, "crypto.kdfparams.dklen is not 32"),
    ("pbkdf2", {"c": 2**31 - 1}, "its PBKDF2 takes 2,147,483,647 rounds"),
    ("pbkdf2", {"c": 2**40}, "its PBKDF2 takes"),
    ("pbkdf2", {"prf": "hmac-md5"}, "crypto.kdfparams.prf is not hmac-sha256"),
], ids=["scrypt-n", "scrypt-p", "scrypt-n3", "scrypt-r-text", "dklen", "pbkdf2-c",
        "pbkdf2-c40", "prf"])
def test_a_keystore_whose_key_derivation_costs_too_much_is_refused_before_hashing(
        tmp_path: Path, kdf: str, params: dict[str, object], expected: str) -> None:
    """The file says how much memory and time hashing its password takes: n = 2**24 made
    kinko spend 2 GiB for longer than anyone waited, 2**31 PBKDF2 rounds hours; it is
    refused at once, naming the field, and no key material is shown."""
    path = _costly(tmp_path, kdf, **params)
    with pytest.raises(ConfigError) as caught:
        KeystoreSigner.open(path, PASSWORD)
    assert expected in caught.value.message and str(path) in caught.value.message
    assert "ciphertext" not in caught.value.message


def test_the_keystores_geth_and_eth_account_write_open(tmp_path: Path) -> None:
    for kdf, rounds in (("scrypt", None), ("scrypt", 4096), ("pbkdf2", None),
                        ("pbkdf2", 262_144)):
        account = Account.create()
        path = tmp_path / f"{kdf}-{rounds}.json"
        path.write_text(json.dumps(Account.encrypt(account.key, PASSWORD, kdf=kdf,
                                                   iterations=rounds)), encoding="utf-8")
        assert KeystoreSigner.open(path, PASSWORD).address == account.address
