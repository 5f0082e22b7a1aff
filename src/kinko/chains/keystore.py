"""The hot wallet's ``Signer``: a key in an encrypted JSON keystore file (Web3 Secret Storage).

The key is decrypted once, in memory, with a password taken from the environment
(``KINKO_HOT_KEY_PASSWORD``); it is never written to the database, logs or error messages,
and the signer's ``repr`` shows only its address. Cold and warm wallets have no signer in
kinko at all: they are watch-only.

    signer = KeystoreSigner.open(Path("hot.json"), os.environ["KINKO_HOT_KEY_PASSWORD"])
    raw = signer.sign_transfer(to=cold, value=10**18, nonce=0, gas_price=10**9, chain_id=1)

A token transfer is a call to the token contract, signed the same way::

    raw = signer.sign_transfer(to=token, value=0, data=transfer_call(cold, 5_000_000),
                               gas=TOKEN_GAS, nonce=1, gas_price=10**9, chain_id=1)
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_utils.address import to_checksum_address

from kinko.chains.eip7702 import clearing_tx
from kinko.chains.passwords import check_password
from kinko.domain.messages import msg
from kinko.errors import BadInput, ConfigError
from kinko.safeload import loads_json, read_bounded

__all__ = ["PASSWORD_ENV", "KeystoreSigner", "create_keystore", "throwaway_signer"]

PASSWORD_ENV = "KINKO_HOT_KEY_PASSWORD"
KEYSTORE_MAX_BYTES = 64 * 1024  # a Web3 Secret Storage file is well under 1 KiB
KEYSTORE_MAX_DEPTH = 8
# what a keystore's key derivation may cost before kinko runs it (the file says how much
# memory and time the password's hashing takes: a hostile or damaged file must not make
# kinko spend gigabytes or hours). geth and eth-account write scrypt n = 2**18, r = 8,
# p = 1 (256 MiB) or, lighter, n = 4096, p = 6; PBKDF2 with 262,144 or 1,000,000 rounds.
SCRYPT_MAX_MEMORY = 2**29  # bytes: 128 * n * r, here n * r <= 2**22 (512 MiB)
SCRYPT_MAX_WORK = 2**24  # n * r * p
PBKDF2_MAX_ROUNDS = 10_000_000


class KeystoreSigner:
    """Signs transfers (native, or token calls) with the decrypted key; see the module
    docstring."""

    def __init__(self, account: Any) -> None:
        self.__account = account  # name-mangled: not in vars() dumps by accident
        self.address: str = account.address

    @classmethod
    def open(cls, path: Path, password: str | None) -> KeystoreSigner:
        if not password:
            raise ConfigError(f"the password for keystore {path} is not set: export {PASSWORD_ENV}",
                              says=msg("error.keystore.password_unset", path=str(path)[:200],
                                       env=PASSWORD_ENV))
        try:  # bounded: a keystore is a few hundred bytes of flat JSON
            data = loads_json(read_bounded(path, KEYSTORE_MAX_BYTES), f"keystore {path}",
                              max_bytes=KEYSTORE_MAX_BYTES, max_depth=KEYSTORE_MAX_DEPTH)
        except BadInput as exc:  # the message names the file and place, never its content
            raise ConfigError(f"not a JSON keystore file: {exc.message}",
                              says=msg("error.keystore.not_json_because",
                                       problem=exc.said())) from None
        if not isinstance(data, dict):
            raise ConfigError(f"keystore {path}: not a JSON keystore file",
                              says=msg("error.keystore.not_json", path=str(path)[:200])) from None
        _check_cost(data, str(path))
        try:
            key = Account.decrypt(data, password)
        except (ValueError, KeyError, TypeError):  # a field missing or of the wrong kind
            raise ConfigError(f"keystore {path}: wrong password or damaged file",
                              says=msg("error.keystore.wrong_password",
                                       path=str(path)[:200])) from None
        return cls(Account.from_key(key))

    def __repr__(self) -> str:
        return f"KeystoreSigner(address={self.address!r})"

    def sign_message(self, text: str) -> str:
        """An EIP-191 ``personal_sign`` signature of ``text`` (0x-hex, 65 bytes): how a hot
        wallet proves control of its address for proof of reserves."""
        return _sign_message(self.__account, text)

    def sign_digest(self, digest: bytes) -> bytes:
        """``r ‖ s ‖ v`` (65 bytes, ``v`` 27/28) over a 32-byte digest, such as a Safe's
        safeTxHash; the same form :class:`~kinko.chains.hsm.HsmSigner` gives."""
        if not isinstance(digest, bytes) or len(digest) != 32:
            raise ConfigError("a key signs 32-byte digests only",
                              says=msg("error.keystore.digest_only"))
        return bytes(self.__account.unsafe_sign_hash(digest).signature)

    def sign_transfer(self, *, to: str, value: int, nonce: int, gas_price: int, chain_id: int,
                      gas: int = 21_000, data: bytes = b"",
                      clear_delegation: bool = False) -> bytes:
        """A signed transfer; with ``clear_delegation`` a type-4 transaction that first
        clears an EIP-7702 delegation of this address (:func:`kinko.chains.eip7702.clearing_tx`)."""
        # eth-account takes the EIP-55 spelling; kinko hands it canonical (lower-case) hex
        tx: dict[str, Any] = {"to": to_checksum_address(to), "value": value, "nonce": nonce,
                              "gas": gas, "gasPrice": gas_price, "chainId": chain_id}
        if data:
            tx["data"] = "0x" + data.hex()
        if clear_delegation:
            tx = clearing_tx(tx, self._sign_vrs)
        return bytes(self.__account.sign_transaction(tx).raw_transaction)

    def _sign_vrs(self, digest: bytes) -> tuple[int, int, int]:
        signed = self.__account.unsafe_sign_hash(digest)
        return int(signed.v) - 27, int(signed.r), int(signed.s)


def _whole(params: dict[str, Any], name: str, path: str) -> int:
    value = params.get(name)
    if type(value) is not int or value < 1:
        raise ConfigError(f"keystore {path}: crypto.kdfparams.{name} is not a positive whole "
                          "number", says=msg("error.keystore.kdf_not_whole",
                                             path=path[:200], name=name))
    return value


def _check_cost(data: dict[str, Any], path: str) -> None:
    """Refuse, before any hashing, a keystore whose key derivation would cost more than
    kinko spends on one (``SCRYPT_MAX_*``, ``PBKDF2_MAX_ROUNDS``), or that is not one of
    the two Web3 Secret Storage names (scrypt, PBKDF2 with HMAC-SHA256) for a 32-byte key;
    ``path`` names the file in the refusal."""
    where, shown = f"keystore {path}", path[:200]
    crypto = data.get("crypto", data.get("Crypto"))
    if not isinstance(crypto, dict) or not isinstance(crypto.get("kdfparams"), dict):
        raise ConfigError(f"{where}: not a JSON keystore file (no crypto.kdfparams)",
                          says=msg("error.keystore.no_kdfparams", path=shown))
    kdf, params = crypto.get("kdf"), crypto["kdfparams"]
    if _whole(params, "dklen", path) != 32:
        raise ConfigError(f"{where}: crypto.kdfparams.dklen is not 32",
                          says=msg("error.keystore.dklen", path=shown))
    if kdf == "scrypt":
        n, r, p = (_whole(params, name, path) for name in ("n", "r", "p"))
        if n < 2 or n & (n - 1):
            raise ConfigError(f"{where}: crypto.kdfparams.n is not a power of two",
                              says=msg("error.keystore.scrypt_n", path=shown))
        if 128 * n * r > SCRYPT_MAX_MEMORY or n * r * p > SCRYPT_MAX_WORK:
            raise ConfigError(
                f"{where}: its scrypt parameters (n={n}, r={r}, p={p}) would take more "
                f"memory or time than kinko spends on a key (at most {SCRYPT_MAX_MEMORY // 2**20} "
                f"MiB, n*r*p at most {SCRYPT_MAX_WORK:,}); geth and eth-account write n=262144, "
                "r=8, p=1", says=msg("error.keystore.scrypt_cost", path=shown, n=str(n), r=str(r),
                                     p=str(p), memory=SCRYPT_MAX_MEMORY // 2**20,
                                     work=SCRYPT_MAX_WORK))
    elif kdf == "pbkdf2":
        if params.get("prf") != "hmac-sha256":
            raise ConfigError(f"{where}: crypto.kdfparams.prf is not hmac-sha256",
                              says=msg("error.keystore.prf", path=shown))
        rounds = _whole(params, "c", path)
        if rounds > PBKDF2_MAX_ROUNDS:
            raise ConfigError(f"{where}: its PBKDF2 takes {rounds:,} rounds, more than kinko "
                              f"spends on a key ({PBKDF2_MAX_ROUNDS:,})",
                              says=msg("error.keystore.pbkdf2_cost", path=shown,
                                       rounds=rounds, most=PBKDF2_MAX_ROUNDS))
    else:
        raise ConfigError(f"{where}: crypto.kdf is neither scrypt nor pbkdf2",
                          says=msg("error.keystore.kdf", path=shown))


def _sign_message(account: Any, text: str) -> str:
    from eth_account.messages import encode_defunct

    return "0x" + bytes(account.sign_message(encode_defunct(text=text)).signature).hex()


def throwaway_signer() -> KeystoreSigner:
    """A fresh key that lives only in memory: for tests, benchmarks and the demo's thief
    and laundering addresses; never for an exchange's wallets (nothing keeps the key)."""
    return KeystoreSigner(Account.create())


def create_keystore(path: Path, password: str | None, *, env: str = PASSWORD_ENV,
                    accept: Callable[[str], object] | None = None) -> str:
    """Create a new key, write it encrypted to ``path`` (mode 0600); return its address.
    ``env`` names the variable the password came from (in a refusal); ``accept``, given
    the new key's address, may refuse it (by raising) before anything is written."""
    password = check_password(password, env)
    if path.exists():
        raise ConfigError(f"keystore {path} already exists; refusing to overwrite a key",
                          says=msg("error.keystore.exists", path=str(path)[:200]))
    account = Account.create()
    if accept is not None:
        accept(str(account.address))
    data = Account.encrypt(account.key, password)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh)
    return str(account.address)
