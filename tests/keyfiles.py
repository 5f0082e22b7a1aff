"""Keystore files for tests whose subject is not the key file: a standard Web3 Secret Storage
file (what ``KeystoreSigner.open`` reads), encrypted with a light scrypt.

``create_keystore`` (tested in ``tests/chains/test_keystore.py`` and
``test_chain_contract.py``) encrypts with eth-account's default scrypt (n = 2¹⁸): about a
second to write and another to open, which a test that only needs a funded key paid twice in
its setup. ``new_keystore`` writes the same format with n = 2¹⁰ (the file names its own
parameters, so ``KeystoreSigner.open`` reads it unchanged).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from eth_account import Account

__all__ = ["LIGHT_SCRYPT_N", "new_keystore"]

LIGHT_SCRYPT_N = 2**10


def new_keystore(path: Path, password: str) -> str:
    """A new key written encrypted to ``path`` (mode 0600, never over a file); its address."""
    account = Account.create()
    data = Account.encrypt(account.key, password, kdf="scrypt", iterations=LIGHT_SCRYPT_N)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh)
    return str(account.address)
