"""Keys in an HSM, against a real PKCS#11 token (SoftHSM2 from Debian, in a token directory
of the tests' own): the key is generated in the token and cannot be read out of it, its
signatures recover to the address derived from the token's public key (1,000 of them), the
transactions it signs are mined on the in-process chain and on anvil, and everything wrong
(PIN, token, module, label, a key that could leave the token, a key on another curve) is
refused with a message that never contains the PIN."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pkcs11
import pytest
import rlp
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.typed_transactions import TypedTransaction
from eth_keys.datatypes import Signature
from eth_utils.crypto import keccak
from hexbytes import HexBytes
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
from pkcs11.util.ec import encode_named_curve_parameters
from softhsm import HSM_PIN, HSM_SPARE, HSM_TOKEN, SoftHsm

from kinko.chains.eip7702 import authority
from kinko.chains.evm import EvmChain
from kinko.chains.hsm import SECP256K1, HsmSigner, HsmToken
from kinko.domain.chain import ZERO_ADDRESS
from kinko.errors import ConfigError, KinkoError

N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
ETH = 10**18


@pytest.fixture(scope="module")
def token(hsm: SoftHsm) -> Iterator[HsmToken]:
    with HsmToken.open(hsm.module, HSM_TOKEN, HSM_PIN) as opened:
        yield opened


@pytest.fixture(scope="module")
def signer(token: HsmToken) -> HsmSigner:
    return token.generate_key("test-hsm-hot")


def _raw_key(token: HsmToken, label: str) -> Any:
    session: Any = token._session
    return session.get_key(object_class=ObjectClass.PRIVATE_KEY, label=label)


def test_key_is_generated_inside_and_cannot_be_extracted(token: HsmToken,
                                                         signer: HsmSigner) -> None:
    key = _raw_key(token, signer.label)
    assert key[Attribute.SENSITIVE] is True and key[Attribute.EXTRACTABLE] is False
    assert key[Attribute.NEVER_EXTRACTABLE] is True and key[Attribute.LOCAL] is True
    assert key[Attribute.TOKEN] is True and key[Attribute.PRIVATE] is True
    assert signer.generated_in_token
    with pytest.raises(pkcs11.AttributeSensitive):  # the private value: refused by the token
        key[Attribute.VALUE]
    with pytest.raises(pkcs11.PKCS11Error):  # cannot be made extractable afterwards
        key[Attribute.EXTRACTABLE] = True
    with pytest.raises(pkcs11.PKCS11Error):  # nor copied into an extractable key
        key.copy({Attribute.EXTRACTABLE: True, Attribute.LABEL: "copy"})
    with pytest.raises(pkcs11.PKCS11Error):  # nor made non-sensitive
        key[Attribute.SENSITIVE] = False


def test_address_is_the_token_public_key_hash(token: HsmToken, signer: HsmSigner) -> None:
    session: Any = token._session
    pub = session.get_key(object_class=ObjectClass.PUBLIC_KEY, label=signer.label)
    assert bytes(pub[Attribute.EC_PARAMS]) == SECP256K1 == bytes.fromhex("06052b8104000a")
    point = bytes(pub[Attribute.EC_POINT])
    assert point[:3] == bytes.fromhex("044104")  # DER OCTET STRING of 0x04 ‖ X ‖ Y
    expected = "0x" + keccak(point[3:])[12:].hex()  # X ‖ Y
    assert signer.address.lower() == expected
    # reopening the key gives the same address
    assert token.signer(signer.label).address == signer.address


def test_thousand_signatures_recover_to_the_address_with_low_s(signer: HsmSigner) -> None:
    for i in range(1_000):
        digest = keccak(i.to_bytes(4, "big"))
        sig = signer.sign_digest(digest)
        assert len(sig) == 65 and sig[64] in (27, 28)
        r, s = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:64], "big")
        assert 0 < r < N and 0 < s <= N // 2
        public = Signature(vrs=(sig[64] - 27, r, s)).recover_public_key_from_msg_hash(digest)
        assert public.to_checksum_address() == signer.address


def test_high_s_from_the_token_is_normalised(signer: HsmSigner,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """ECDSA gives s in the upper half about half the time; with many signatures at least
    one must have been flipped, and every one recovers (so v was chosen accordingly)."""
    token: Any = signer._HsmSigner__token  # type: ignore[attr-defined]
    flipped = 0
    original = token._sign

    def spy(key: Any, digest: bytes) -> bytes:
        nonlocal flipped
        raw: bytes = original(key, digest)
        flipped += int.from_bytes(raw[32:], "big") > N // 2
        return raw

    monkeypatch.setattr(token, "_sign", spy)
    for i in range(64):
        digest = keccak(b"s" + bytes([i]))
        sig = signer.sign_digest(digest)
        assert Account._recover_hash(digest, signature=sig) == signer.address
    assert flipped > 0


def test_wrong_recovery_is_never_returned(signer: HsmSigner,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A token answering with a signature of another key (or garbage) gives an error,
    never a signature that recovers to someone else."""
    other = Account.create()
    token: Any = signer._HsmSigner__token  # type: ignore[attr-defined]

    def foreign(key: Any, digest: bytes) -> bytes:
        return bytes(other.unsafe_sign_hash(digest).signature[:64])

    monkeypatch.setattr(token, "_sign", foreign)
    with pytest.raises(KinkoError, match="does not recover"):
        signer.sign_digest(keccak(b"x"))


def test_digest_must_be_32_bytes(signer: HsmSigner) -> None:
    for bad in (b"", b"\x01" * 31, b"\x01" * 33):
        with pytest.raises(ConfigError, match="32-byte"):
            signer.sign_digest(bad)


def test_message_signature_is_eip191(signer: HsmSigner) -> None:
    text = "kinko proof of control 2018-01-26"
    sig = signer.sign_message(text)
    assert Account.recover_message(encode_defunct(text=text), signature=sig) == signer.address


@pytest.mark.slow
def test_transactions_signed_in_the_hsm_are_mined(chain: EvmChain, signer: HsmSigner) -> None:
    chain.fund(signer.address, ETH)
    chain_id, gas_price = chain.fee_params()
    to = Account.create().address
    raw = signer.sign_transfer(to=to, value=10**15, nonce=chain.nonce(signer.address),
                               gas_price=gas_price, chain_id=chain_id)
    assert Account.recover_transaction(raw) == signer.address
    receipt = _mined(chain, chain.send_raw(raw))
    assert receipt.ok
    # an EIP-1559 (type 2) transaction, signed in the same token
    latest: Any = chain.w3.eth.get_block("latest")
    base = int(latest.get("baseFeePerGas") or gas_price)
    raw = signer.sign_transaction({"type": 2, "to": to, "value": 2 * 10**15, "gas": 21_000,
                                   "maxFeePerGas": 2 * base + 10**9,
                                   "maxPriorityFeePerGas": 10**9, "chainId": chain_id,
                                   "nonce": chain.nonce(signer.address)})
    assert raw[0] == 2 and Account.recover_transaction(raw) == signer.address
    assert _mined(chain, chain.send_raw(raw)).ok
    assert chain.balances([to])[to] == 3 * 10**15


def _mined(chain: EvmChain, tx_hash: str) -> Any:
    chain.wait_for(tx_hash, "an HSM-signed transaction")
    receipt = chain.receipt(tx_hash)
    assert receipt is not None
    return receipt


def test_legacy_transaction_carries_the_chain_id(signer: HsmSigner) -> None:
    raw = signer.sign_transfer(to=Account.create().address, value=1, nonce=7,
                               gas_price=10**9, chain_id=1)
    v = rlp.decode(raw)[6]
    assert int.from_bytes(v, "big") in (37, 38)  # EIP-155: recovery id + 35 + 2 × 1
    with pytest.raises(ConfigError, match="chainId"):
        signer.sign_transaction({"to": Account.create().address, "value": 1, "nonce": 0,
                                 "gas": 21_000, "gasPrice": 1})


def test_a_sweep_clearing_a_delegation_is_signed_in_the_hsm(signer: HsmSigner) -> None:
    """The emergency sweep of a delegated address: a type-4 transaction whose authorization
    (to the zero address) and envelope are both signed by the key in the token."""
    raw = signer.sign_transfer(to=Account.create().address, value=1, nonce=7,
                               gas_price=10**9, chain_id=1, clear_delegation=True)
    assert raw[0] == 4
    tx = TypedTransaction.from_bytes(HexBytes(raw)).as_dict()
    (auth,) = tx["authorizationList"]
    item = {"chainId": auth["chainId"], "address": ZERO_ADDRESS, "nonce": auth["nonce"],
            "yParity": auth["yParity"], "r": auth["r"], "s": auth["s"]}
    assert int(auth["nonce"]) == 8 and authority(item) == signer.address.lower()
    assert Account.recover_transaction(raw).lower() == signer.address.lower()


def test_a_canonical_destination_is_signed_for(signer: HsmSigner) -> None:
    """kinko keeps addresses in lower case; the signer pays exactly that address."""
    to = Account.create().address
    raw = signer.sign_transfer(to=to.lower(), value=1, nonce=7, gas_price=10**9, chain_id=1)
    assert rlp.decode(raw)[3] == bytes.fromhex(to[2:])


def test_repr_and_errors_never_show_the_pin(hsm: SoftHsm, token: HsmToken,
                                           signer: HsmSigner) -> None:
    assert HSM_PIN not in repr(signer) and HSM_PIN not in repr(token)
    assert signer.address in repr(signer)
    with pytest.raises(ConfigError) as wrong:
        HsmToken.open(hsm.module, HSM_TOKEN, "not-the-pin-123")
    assert "wrong PIN" in wrong.value.message and "not-the-pin-123" not in str(wrong.value)
    with pytest.raises(ConfigError, match="KINKO_HSM_PIN"):
        HsmToken.open(hsm.module, HSM_TOKEN, None)
    with pytest.raises(ConfigError, match="no HSM token labelled 'nope'"):
        HsmToken.open(hsm.module, "nope", HSM_PIN)
    with pytest.raises(ConfigError, match="no such file"):
        HsmToken.open("/nonexistent/libpkcs11.so", HSM_TOKEN, HSM_PIN)
    with pytest.raises(ConfigError, match="hsm_module"):
        HsmToken.open("", HSM_TOKEN, HSM_PIN)
    assert HSM_PIN not in str(wrong.value.to_dict())


def test_wrong_pin_is_refused_by_the_token_itself(hsm: SoftHsm) -> None:
    """Nobody is logged in to the spare token: the token checks the PIN (C_Login)."""
    with pytest.raises(ConfigError, match="wrong PIN") as wrong:
        HsmToken.open(hsm.module, HSM_SPARE, "not-the-pin-123")
    assert "not-the-pin-123" not in str(wrong.value.to_dict())
    first = HsmToken.open(hsm.module, HSM_SPARE, HSM_PIN)
    second = HsmToken.open(hsm.module, HSM_SPARE, HSM_PIN)  # shares the login
    first.close()
    assert second.labels() == []  # still usable after the other user closed
    second.close()
    again = HsmToken.open(hsm.module, HSM_SPARE, HSM_PIN)  # logs in afresh
    again.close()


def test_labels_are_not_replaced_or_guessed(token: HsmToken, signer: HsmSigner) -> None:
    with pytest.raises(ConfigError, match="refusing to replace"):
        token.generate_key(signer.label)
    with pytest.raises(ConfigError, match="has no secp256k1 key pair labelled 'missing'"):
        token.signer("missing")
    assert signer.label in token.labels()


def test_key_that_could_leave_the_token_is_refused(token: HsmToken) -> None:
    """An imported key with extractable on (a key someone could read out): kinko refuses to
    sign with it rather than pretend it is protected."""
    session: Any = token._session
    account = Account.create()
    public = account._key_obj.public_key.to_bytes()
    der_point = bytes([0x04, 0x41, 0x04]) + public
    common = {Attribute.TOKEN: True, Attribute.KEY_TYPE: KeyType.EC,
              Attribute.LABEL: "imported", Attribute.EC_PARAMS: SECP256K1}
    session.create_object({**common, Attribute.CLASS: ObjectClass.PUBLIC_KEY,
                           Attribute.EC_POINT: der_point, Attribute.VERIFY: True})
    session.create_object({**common, Attribute.CLASS: ObjectClass.PRIVATE_KEY,
                           Attribute.VALUE: account.key, Attribute.PRIVATE: True,
                           Attribute.SENSITIVE: False, Attribute.EXTRACTABLE: True,
                           Attribute.SIGN: True})
    with pytest.raises(ConfigError, match="can be read out of the token"):
        token.signer("imported")


def test_key_on_another_curve_is_refused(token: HsmToken) -> None:
    session: Any = token._session
    params = session.create_domain_parameters(
        KeyType.EC, {Attribute.EC_PARAMS: encode_named_curve_parameters("secp256r1")},
        local=True)
    params.generate_keypair(store=True, label="p256", mechanism=Mechanism.EC_KEY_PAIR_GEN,
                            private_template={Attribute.SENSITIVE: True,
                                              Attribute.EXTRACTABLE: False})
    with pytest.raises(ConfigError, match="not a secp256k1 key"):
        token.signer("p256")


def test_tests_never_use_the_system_token_directory(hsm: SoftHsm) -> None:
    assert os.environ["SOFTHSM2_CONF"].startswith(str(hsm.root))
    assert (hsm.root / "tokens").is_dir() and any((hsm.root / "tokens").iterdir())


def test_a_new_token_directory_is_refused_once_the_module_is_loaded(
        token: HsmToken, tmp_path: Path) -> None:
    """SoftHSM2 reads its token directory when the process first loads it: a directory
    made later would not be seen, so making one is refused, and nothing is written."""
    from kinko.chains import softhsm

    with pytest.raises(ConfigError, match="loaded in this process already"):
        softhsm.start(tmp_path / "late", {"late-token": "pin-1234"})
    assert not (tmp_path / "late").exists()
    assert os.environ["SOFTHSM2_CONF"] != str(tmp_path / "late" / "softhsm2.conf")
