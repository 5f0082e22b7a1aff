"""The development keystore signer reads its file as hostile input: bounded, and errors that
name the file but never show its content (a keystore is key material, even encrypted)."""

from __future__ import annotations

from pathlib import Path

import pytest

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
    ('{"crypto": {"ciphertext": "00"}, "version": 3}', "wrong password or damaged file"),
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
