"""Keys in an HSM: a ``Signer`` whose secp256k1 key never leaves a PKCS#11 token.

The key pair is generated inside the token (:meth:`HsmToken.generate_key`): the private key
is a token object, private, *sensitive* and *not extractable*, usable to sign and for nothing
else, so neither kinko nor anyone logged in to the token can read it out. kinko sends the
token a 32-byte digest and gets back ECDSA ``(r, s)`` (mechanism ``CKM_ECDSA``: the token
signs the digest as given, it hashes nothing). Ethereum needs two more things the token does
not give: ``s`` in the lower half of the curve order (EIP-2; replaced by ``n - s`` when it is
not) and the recovery id, found by recovering the public key from the signature both ways
and keeping the one that gives the token's own public key. The Ethereum address is the
keccak-256 of that public key (``CKA_EC_POINT`` of the public key object, read from the
token). A signature that recovers to no key of the token is an error, never returned.

Which token is a matter of settings: the PKCS#11 module (``hsm_module``, the vendor's
library; SoftHSM2's ``/usr/lib/softhsm/libsofthsm2.so`` for tests and the demo), the token
label (``hsm_token``) and the user PIN from the environment (``KINKO_HSM_PIN``), never from a
file, never logged: it appears in no message, ``repr`` or error. A key is found by its label
(``CKA_LABEL``), the wallet's name::

    token = HsmToken.open("/usr/lib/softhsm/libsofthsm2.so", "kinko", os.environ[PIN_ENV])
    signer = token.generate_key("eth-hot")      # once; afterwards token.signer("eth-hot")
    raw = signer.sign_transfer(to=cold, value=10**18, nonce=0, gas_price=10**9, chain_id=1)

:class:`HsmSigner` signs what :class:`~kinko.chains.keystore.KeystoreSigner` signs: legacy
transfers and the type-4 transaction that clears a delegation (``sign_transfer``, as
:class:`~kinko.chains.evm.EvmKey`), any legacy or EIP-1559 transaction
(``sign_transaction``), EIP-191 messages (``sign_message``, proof of reserves) and raw 32-byte
digests such as a Safe's safeTxHash (``sign_digest``). A PKCS#11 session is not safe for
concurrent use: one token's operations are serialised by a lock.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pkcs11
from asn1crypto.core import OctetString
from eth_account._utils.legacy_transactions import (
    Transaction,
    encode_transaction,
    serializable_unsigned_transaction_from_dict,
)
from eth_account.messages import defunct_hash_message
from eth_account.typed_transactions.typed_transaction import TypedTransaction
from eth_keys.datatypes import PublicKey, Signature
from eth_keys.exceptions import BadSignature
from eth_utils.address import to_checksum_address
from eth_utils.exceptions import ValidationError as KeyValidationError
from pkcs11 import Attribute, KeyType, Mechanism, MechanismFlag, ObjectClass
from pkcs11.exceptions import PKCS11Error
from pkcs11.util.ec import encode_named_curve_parameters

from kinko.chains.eip7702 import clearing_tx
from kinko.domain.messages import msg
from kinko.errors import ConfigError, SignerUnavailable

__all__ = ["PIN_ENV", "SECP256K1", "HsmSigner", "HsmToken"]

PIN_ENV = "KINKO_HSM_PIN"
SECP256K1 = encode_named_curve_parameters("secp256k1")  # DER of OID 1.3.132.0.10
_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_CHAIN_ID_OFFSET = 35


def _public_point(ec_point: bytes) -> bytes:
    """The 64 bytes ``X ‖ Y`` of an uncompressed point, from ``CKA_EC_POINT`` (DER OCTET
    STRING as PKCS#11 specifies, or the raw point some tokens give)."""
    raw = ec_point
    if not (len(raw) == 65 and raw[0] == 4):
        try:
            raw = bytes(OctetString.load(ec_point).native)
        except (ValueError, TypeError):
            raw = b""
    if len(raw) != 65 or raw[0] != 4:
        raise ConfigError("the token's public key is not an uncompressed secp256k1 point",
                          says=msg("error.hsm.public_point"))
    return raw[1:]


def _log_in(module: str, token: str, pin: str) -> Any:
    try:
        lib = pkcs11.lib(module)
    except (PKCS11Error, RuntimeError, OSError) as exc:
        raise ConfigError(f"PKCS#11 module {module} cannot be loaded: "
                          f"{type(exc).__name__}", setting="hsm_module",
                          says=msg("error.hsm.module_unloadable", module=module[:200],
                                   error=type(exc).__name__)) from None
    try:
        found = lib.get_token(token_label=token)
    except pkcs11.NoSuchToken:
        raise ConfigError(f"no HSM token labelled {token!r} behind {module}",
                          setting="hsm_token",
                          says=msg("error.hsm.no_such_token", token=token[:80],
                                   module=module[:200])) from None
    except pkcs11.MultipleTokensReturned:
        raise ConfigError(f"several HSM tokens are labelled {token!r} behind {module}",
                          setting="hsm_token",
                          says=msg("error.hsm.tokens_twice", token=token[:80],
                                   module=module[:200])) from None
    except PKCS11Error as exc:
        raise SignerUnavailable(f"PKCS#11 module {module} does not answer: "
                                f"{type(exc).__name__}",
                                says=msg("error.hsm.module_silent", module=module[:200],
                                         error=type(exc).__name__)) from None
    try:
        return found.open(rw=True, user_pin=pin)
    except (pkcs11.PinIncorrect, pkcs11.PinLenRange):
        raise ConfigError(f"wrong PIN for HSM token {token!r} (from {PIN_ENV})",
                          says=msg("error.hsm.wrong_pin", token=token[:80],
                                   env=PIN_ENV)) from None
    except pkcs11.PinLocked:
        raise ConfigError(f"the PIN of HSM token {token!r} is locked",
                          says=msg("error.hsm.pin_locked", token=token[:80])) from None
    except PKCS11Error as exc:
        raise SignerUnavailable(f"cannot log in to HSM token {token!r}: "
                                f"{type(exc).__name__}",
                                says=msg("error.hsm.login_failed", token=token[:80],
                                         error=type(exc).__name__)) from None


@dataclass
class _Login:
    """One logged-in session per token and process: PKCS#11 logs in an application, not a
    session, so a second login to the same token fails; later opens share this one (after
    their PIN is compared with the first's)."""

    session: Any
    pin_digest: bytes
    lock: threading.Lock = field(default_factory=threading.Lock)
    users: int = 0


_LOGINS: dict[tuple[str, str], _Login] = {}
_LOGINS_LOCK = threading.Lock()
_SALT = secrets.token_bytes(16)


def _digest(pin: str) -> bytes:
    return hashlib.sha256(_SALT + pin.encode()).digest()


class HsmToken:
    """A logged-in session on one PKCS#11 token; see the module docstring."""

    def __init__(self, login: _Login, key: tuple[str, str]) -> None:
        self._login = login
        self._session = login.session
        self._lock = login.lock
        self._key = key
        self.label = key[1]
        self._closed = False

    @classmethod
    def open(cls, module: str, token: str, pin: str | None) -> HsmToken:
        """Log in to token ``token`` through the PKCS#11 library ``module`` with the user
        PIN; :class:`~kinko.errors.ConfigError` naming what is wrong (never the PIN)."""
        if not module:
            raise ConfigError("no PKCS#11 module is set: set hsm_module to the HSM vendor's "
                              "library (SoftHSM2: /usr/lib/softhsm/libsofthsm2.so)",
                              setting="hsm_module", says=msg("error.hsm.no_module"))
        if not token:
            raise ConfigError("no HSM token is set: set hsm_token to the token's label",
                              setting="hsm_token", says=msg("error.hsm.no_token"))
        if not pin:
            raise ConfigError(f"the PIN of HSM token {token!r} is not set: export {PIN_ENV}",
                              says=msg("error.hsm.pin_unset", token=token[:80], env=PIN_ENV))
        if not Path(module).is_file():
            raise ConfigError(f"PKCS#11 module {module}: no such file", setting="hsm_module",
                              says=msg("error.hsm.module_missing", module=module[:200]))
        key = (str(Path(module).resolve()), token)
        with _LOGINS_LOCK:
            login = _LOGINS.get(key)
            if login is not None:
                if not hmac.compare_digest(login.pin_digest, _digest(pin)):
                    raise ConfigError(f"wrong PIN for HSM token {token!r} (from {PIN_ENV})",
                                      says=msg("error.hsm.wrong_pin", token=token[:80],
                                               env=PIN_ENV))
            else:
                login = _Login(_log_in(module, token, pin), _digest(pin))
                _LOGINS[key] = login
            login.users += 1
        return cls(login, key)

    def __repr__(self) -> str:
        return f"HsmToken(label={self.label!r})"

    def close(self) -> None:
        """Done with the token; the session is closed (and the login ends) when the last
        user in this process closes."""
        with _LOGINS_LOCK:
            if self._closed:
                return
            self._closed = True
            self._login.users -= 1
            if self._login.users == 0:
                _LOGINS.pop(self._key, None)
                with self._lock:
                    self._session.close()

    def __enter__(self) -> HsmToken:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ keys

    def _find(self, object_class: ObjectClass, label: str) -> list[Any]:
        return list(self._session.get_objects({Attribute.CLASS: object_class,
                                               Attribute.KEY_TYPE: KeyType.EC,
                                               Attribute.LABEL: label}))

    def labels(self) -> list[str]:
        """The labels of the EC private keys in the token."""
        with self._lock:
            found = self._session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY,
                                               Attribute.KEY_TYPE: KeyType.EC})
            return sorted(str(key[Attribute.LABEL]) for key in found)

    def generate_key(self, label: str) -> HsmSigner:
        """A new secp256k1 key pair generated in the token under ``label``: the private key
        sensitive, not extractable, for signing only. Refused if ``label`` is taken."""
        if not label or not label.strip():
            raise ConfigError("an HSM key needs a label (the wallet's name)",
                              says=msg("error.hsm.label_needed"))
        with self._lock:
            if self._find(ObjectClass.PRIVATE_KEY, label) or \
                    self._find(ObjectClass.PUBLIC_KEY, label):
                raise ConfigError(f"HSM token {self.label!r} already has a key labelled "
                                  f"{label!r}; refusing to replace a key",
                                  says=msg("error.hsm.label_taken", token=self.label[:80],
                                           label=label[:80]))
            try:
                params = self._session.create_domain_parameters(
                    KeyType.EC, {Attribute.EC_PARAMS: SECP256K1}, local=True)
                params.generate_keypair(
                    store=True, label=label, id=label.encode(),
                    capabilities=MechanismFlag.SIGN | MechanismFlag.VERIFY,
                    mechanism=Mechanism.EC_KEY_PAIR_GEN,
                    public_template={Attribute.TOKEN: True, Attribute.VERIFY: True},
                    private_template={
                        Attribute.TOKEN: True, Attribute.PRIVATE: True,
                        Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False,
                        Attribute.SIGN: True, Attribute.DECRYPT: False,
                        Attribute.UNWRAP: False, Attribute.DERIVE: False,
                    })
            except PKCS11Error as exc:
                raise SignerUnavailable(f"HSM token {self.label!r} could not generate a "
                                        f"secp256k1 key: {type(exc).__name__}",
                                        says=msg("error.hsm.keygen_failed",
                                                 token=self.label[:80],
                                                 error=type(exc).__name__)) from None
        return self.signer(label)

    def remove_new_key(self, signer: HsmSigner) -> None:
        """Remove the key pair :meth:`generate_key` just made (``signer``'s), for a caller
        that could not put it to use (its wallet not registered): a key nothing signs with
        is not left in the token. Refused for a key not generated in the token."""
        if not signer.generated_in_token:
            raise ConfigError(f"HSM key {signer.label!r} was not generated in the token; "
                              "kinko does not remove it",
                              says=msg("error.hsm.not_removed", label=signer.label[:80]))
        with self._lock:
            for object_class in (ObjectClass.PRIVATE_KEY, ObjectClass.PUBLIC_KEY):
                for found in self._find(object_class, signer.label):
                    found.destroy()

    def signer(self, label: str) -> HsmSigner:
        """The signer of the key labelled ``label``; refused if it is missing, not
        secp256k1, or could leave the token (extractable or not sensitive)."""
        with self._lock:
            private = self._find(ObjectClass.PRIVATE_KEY, label)
            public = self._find(ObjectClass.PUBLIC_KEY, label)
            if len(private) != 1 or len(public) != 1:
                what = "no" if not private or not public else "more than one"
                raise ConfigError(f"HSM token {self.label!r} has {what} secp256k1 key pair "
                                  f"labelled {label!r}",
                                  says=msg("error.hsm.no_key_pair", token=self.label[:80],
                                           label=label[:80]) if what == "no"
                                  else msg("error.hsm.key_pairs_twice",
                                           token=self.label[:80], label=label[:80]))
            key, pub = private[0], public[0]
            if bytes(pub[Attribute.EC_PARAMS]) != SECP256K1:
                raise ConfigError(f"HSM key {label!r} is not a secp256k1 key",
                                  says=msg("error.hsm.not_secp256k1", label=label[:80]))
            if not key[Attribute.SENSITIVE] or key[Attribute.EXTRACTABLE]:
                raise ConfigError(f"HSM key {label!r} can be read out of the token (sensitive "
                                  "off or extractable on); kinko does not sign with it",
                                  says=msg("error.hsm.extractable", label=label[:80]))
            point = _public_point(bytes(pub[Attribute.EC_POINT]))
            generated = bool(key[Attribute.LOCAL]) and bool(key[Attribute.NEVER_EXTRACTABLE])
        return HsmSigner(self, key, point, label=label, generated_in_token=generated)

    def _sign(self, key: Any, digest: bytes) -> bytes:
        with self._lock:
            try:
                return bytes(key.sign(digest, mechanism=Mechanism.ECDSA))
            except PKCS11Error as exc:
                raise SignerUnavailable(f"HSM token {self.label!r} did not sign: "
                                        f"{type(exc).__name__}",
                                        says=msg("error.hsm.did_not_sign",
                                                 token=self.label[:80],
                                                 error=type(exc).__name__)) from None


class HsmSigner:
    """Signs with one key of an :class:`HsmToken`; see the module docstring. ``address``
    is derived from the public key read from the token; ``generated_in_token`` tells
    whether the token says the key was made there and has never been extractable."""

    def __init__(self, token: HsmToken, key: Any, public: bytes, *, label: str,
                 generated_in_token: bool) -> None:
        self.__token = token
        self.__key = key
        self._public = PublicKey(public)
        self.address: str = str(self._public.to_checksum_address())
        self.label = label
        self.generated_in_token = generated_in_token

    def __repr__(self) -> str:
        return f"HsmSigner(address={self.address!r}, token={self.__token.label!r}, " \
               f"label={self.label!r})"

    def sign_digest(self, digest: bytes) -> bytes:
        """``r ‖ s ‖ v`` (65 bytes, ``v`` 27/28, ``s`` low) over the 32-byte ``digest``."""
        recovery, r, s = self._sign_vrs(digest)
        return r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([27 + recovery])

    def _sign_vrs(self, digest: bytes) -> tuple[int, int, int]:
        if not isinstance(digest, bytes) or len(digest) != 32:
            raise ConfigError("an HSM signs 32-byte digests only",
                              says=msg("error.hsm.digest_only"))
        raw = self.__token._sign(self.__key, digest)
        if len(raw) != 64:
            raise SignerUnavailable(f"HSM token {self.__token.label!r} returned a "
                                    f"{len(raw)}-byte signature, not r ‖ s (64 bytes)",
                                    says=msg("error.hsm.signature_length",
                                             token=self.__token.label[:80], length=len(raw)))
        r, s = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
        if s > _N // 2:
            s = _N - s  # EIP-2: only the lower half is valid in a transaction
        for recovery in (0, 1):
            try:
                found = Signature(vrs=(recovery, r, s)) \
                    .recover_public_key_from_msg_hash(digest)
            except (BadSignature, KeyValidationError):
                continue
            if found == self._public:
                return recovery, r, s
        raise SignerUnavailable(f"the signature of HSM key {self.label!r} does not recover "
                                f"to its address {self.address}; nothing was signed",
                                says=msg("error.hsm.not_recovered", label=self.label[:80],
                                         address=self.address))

    def sign_transaction(self, tx: dict[str, Any]) -> bytes:
        """The raw signed transaction of ``tx`` (web3 field names: legacy with ``gasPrice``
        or EIP-1559 with ``maxFeePerGas``/``maxPriorityFeePerGas``; ``chainId`` required,
        for replay protection)."""
        if not tx.get("chainId"):
            raise ConfigError("kinko signs transactions for one chain only: chainId missing",
                              says=msg("error.signer.chain_id_missing"))
        unsigned = serializable_unsigned_transaction_from_dict(dict(tx))
        recovery, r, s = self._sign_vrs(bytes(unsigned.hash()))
        if isinstance(unsigned, TypedTransaction):
            v = recovery
        elif isinstance(unsigned, Transaction):  # legacy, with the chain id in v (EIP-155)
            v = recovery + _CHAIN_ID_OFFSET + 2 * int(unsigned.v)
        else:  # pragma: no cover - chainId is required above
            raise ConfigError("kinko signs transactions for one chain only",
                              says=msg("error.signer.one_chain"))
        return bytes(encode_transaction(unsigned, vrs=(v, r, s)))

    def sign_transfer(self, *, to: str, value: int, nonce: int, gas_price: int,
                      chain_id: int, gas: int = 21_000, data: bytes = b"",
                      clear_delegation: bool = False) -> bytes:
        # eth-account takes the EIP-55 spelling; kinko hands it canonical (lower-case) hex
        tx: dict[str, Any] = {"to": to_checksum_address(to), "value": value, "nonce": nonce,
                              "gas": gas, "gasPrice": gas_price, "chainId": chain_id}
        if data:
            tx["data"] = "0x" + data.hex()
        if clear_delegation:  # the authorization is signed in the HSM too
            tx = clearing_tx(tx, self._sign_vrs)
        return self.sign_transaction(tx)

    def sign_message(self, text: str) -> str:
        """An EIP-191 ``personal_sign`` signature of ``text`` (0x-hex, 65 bytes)."""
        digest = bytes(defunct_hash_message(text=text))
        return "0x" + self.sign_digest(digest).hex()


if TYPE_CHECKING:  # HsmSigner is a Signer: mypy checks it fits the port
    from kinko.ports import Signer

    def _fits_the_port(signer: HsmSigner) -> Signer:
        return signer
