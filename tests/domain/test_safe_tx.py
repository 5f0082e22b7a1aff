"""SafeTx hashing, kinko's rules for what it signs, and signature handling, without a chain:
the type hashes are the contract's, DELEGATECALL and gas refunds are refused before anything
is signed, signatures are packed in owner order, a hardware wallet's eth_sign signature is
accepted as the Safe reads it (v + 4), and forged, altered, replayed and cross-chain
signatures are refused."""

from __future__ import annotations

import doctest
from dataclasses import replace

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct

import kinko.domain.safe
from kinko.chains.keystore import throwaway_signer
from kinko.chains.safe import sign_safe_tx
from kinko.domain.safe import (
    DELEGATECALL,
    DOMAIN_TYPEHASH,
    SAFE_MSG_TYPEHASH,
    SAFE_TX_TYPEHASH,
    ZERO_ADDRESS,
    SafeTx,
    accept_signature,
    check_owners,
    check_signatures,
    pack_signatures,
    recover_owner,
)
from kinko.errors import ApprovalError, SafeTxRefused

SAFE = "0x" + "5a" * 20
TOKEN = "0x" + "70" * 20
N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def _tx(**changes: object) -> SafeTx:
    tx = SafeTx(safe=SAFE, chain_id=31337, to=Account.create().address, value=10**18,
                data=b"", nonce=3)
    return replace(tx, **changes)


def test_type_hashes_are_the_ones_in_the_safe_contracts() -> None:
    # the constants Safe.sol and CompatibilityFallbackHandler.sol 1.4.1 hard-code
    assert DOMAIN_TYPEHASH.hex() == \
        "47e79534a245952e8b16893a336b85a3d9ea9fa8c573f3d803afb92a79469218"
    assert SAFE_TX_TYPEHASH.hex() == \
        "bb8310d486368db6bd6f849402fdd73ad53d316b5a4b2644ad6efe0f941286d8"
    assert SAFE_MSG_TYPEHASH.hex() == \
        "60b3cbf8b4a223d68d641b3b6ddf9a298e7f33710cf3d3a9d1146b5a6150fbca"


def test_module_examples_hold() -> None:
    assert doctest.testmod(kinko.domain.safe).failed == 0


def test_every_field_chain_and_safe_change_the_hash() -> None:
    base = _tx()
    variants = [_tx(to=Account.create().address), _tx(value=1), _tx(data=b"\x01"),
                _tx(operation=DELEGATECALL), _tx(safe_tx_gas=1), _tx(base_gas=1),
                _tx(gas_price=1), _tx(gas_token=TOKEN), _tx(refund_receiver=TOKEN),
                _tx(nonce=4), _tx(chain_id=1), _tx(safe="0x" + "5b" * 20)]
    hashes = {v.hash for v in variants}
    assert base.hash not in hashes and len(hashes) == len(variants)
    assert base.differences(variants[0]) == ["to"]
    assert base.differences(base) == []


@pytest.mark.parametrize(("changes", "field"), [
    ({"operation": DELEGATECALL}, "operation"), ({"gas_price": 1}, "gas_price"),
    ({"gas_token": TOKEN}, "gas_token"), ({"refund_receiver": TOKEN}, "refund_receiver"),
    ({"safe_tx_gas": 50_000}, "safe_tx_gas"), ({"base_gas": 1}, "base_gas"),
    ({"to": SAFE}, "to"),
])
def test_kinko_refuses_to_sign_delegatecall_refunds_and_self_calls(
        changes: dict[str, object], field: str) -> None:
    tx = _tx(**changes)
    with pytest.raises(SafeTxRefused) as refused:
        tx.check()
    assert refused.value.details["field"] == field

    class Spy:
        address = Account.create().address
        calls = 0

        def sign_digest(self, digest: bytes) -> bytes:
            self.calls += 1
            return b"\0" * 65

    spy = Spy()
    with pytest.raises(SafeTxRefused):
        sign_safe_tx(spy, tx)
    assert spy.calls == 0  # refused before anything was signed


def test_bad_fields_are_refused_with_their_name() -> None:
    with pytest.raises(SafeTxRefused, match="to 'nope' is not an Ethereum address"):
        _tx(to="nope")
    with pytest.raises(SafeTxRefused, match="value must be an integer"):
        _tx(value=-1)
    with pytest.raises(SafeTxRefused, match="nonce must be an integer"):
        _tx(nonce=True)
    with pytest.raises(SafeTxRefused, match="operation must be 0"):
        _tx(operation=2)
    with pytest.raises(SafeTxRefused, match="data must be bytes"):
        _tx(data="0x")


def test_signatures_are_packed_in_owner_order() -> None:
    tx = _tx()
    signers = [throwaway_signer() for _ in range(3)]
    sigs = {s.address: sign_safe_tx(s, tx) for s in signers}
    packed = pack_signatures(sigs)
    chunks = [packed[i:i + 65] for i in range(0, len(packed), 65)]
    owners = [recover_owner(tx.hash, chunk) for chunk in chunks]
    assert owners == sorted(owners, key=lambda a: int(a, 16)) and len(owners) == 3


def test_hardware_wallet_eth_sign_signature_is_accepted_with_v_plus_4() -> None:
    tx = _tx()
    owner = Account.create()
    # what a hardware wallet's personal_sign of the 32-byte hash gives (v 27/28)
    signed = owner.sign_message(encode_defunct(primitive=tx.hash))
    accepted = accept_signature(tx.hash, bytes(signed.signature), owner.address)
    assert accepted[64] in (31, 32) and accepted[:64] == bytes(signed.signature)[:64]
    assert recover_owner(tx.hash, accepted) == owner.address
    # a signature of the hash itself keeps v 27/28; v 0/1 is read as 27/28
    direct = bytes(owner.unsafe_sign_hash(tx.hash).signature)
    assert accept_signature(tx.hash, direct, owner.address) == direct
    zero_based = direct[:64] + bytes([direct[64] - 27])
    assert accept_signature(tx.hash, zero_based, owner.address) == direct
    with pytest.raises(ApprovalError, match="the signature is not 0x"):
        accept_signature(tx.hash, direct, Account.create().address)
    with pytest.raises(ApprovalError, match="65 bytes"):
        accept_signature(tx.hash, direct[:64], owner.address)


def test_contract_and_approved_hash_signatures_and_high_s_are_refused() -> None:
    tx = _tx()
    owner = Account.create()
    direct = bytes(owner.unsafe_sign_hash(tx.hash).signature)
    for v in (0, 1, 2, 29, 33):
        with pytest.raises(ApprovalError, match="ECDSA signatures only"):
            recover_owner(tx.hash, direct[:64] + bytes([v]))
    r, s = direct[:32], int.from_bytes(direct[32:64], "big")
    flipped = r + (N - s).to_bytes(32, "big") + bytes([55 - direct[64]])  # same key, high s
    with pytest.raises(ApprovalError, match="lower half"):
        recover_owner(tx.hash, flipped)


def test_check_signatures_refuses_forged_altered_replayed_and_cross_chain() -> None:
    tx = _tx()
    owners = [throwaway_signer() for _ in range(3)]
    addresses = [o.address for o in owners]
    good = {o.address: sign_safe_tx(o, tx) for o in owners[:2]}
    check_signatures(tx, good, addresses, 2)  # the real thing passes
    with pytest.raises(ApprovalError, match="needs 2 owners' signatures, 1 given"):
        check_signatures(tx, dict(list(good.items())[:1]), addresses, 2)
    thief = throwaway_signer()
    forged = {**good, addresses[1]: sign_safe_tx(thief, tx)}  # claims to be owner 1
    with pytest.raises(ApprovalError, match="is not theirs"):
        check_signatures(tx, forged, addresses, 2)
    with pytest.raises(ApprovalError, match="is not an owner"):
        check_signatures(tx, {**good, thief.address: sign_safe_tx(thief, tx)}, addresses, 2)
    for altered in (replace(tx, to=Account.create().address), replace(tx, value=tx.value + 1),
                    replace(tx, data=b"\x00"), replace(tx, operation=DELEGATECALL),
                    replace(tx, gas_token=TOKEN), replace(tx, refund_receiver=TOKEN),
                    replace(tx, nonce=tx.nonce + 1), replace(tx, chain_id=1)):
        with pytest.raises(ApprovalError, match="is not theirs"):
            check_signatures(altered, good, addresses, 2)


def test_new_safe_owners_and_threshold_are_checked() -> None:
    a, b = Account.create().address, Account.create().address
    assert check_owners([a.lower(), b], 2) == [a, b]
    with pytest.raises(SafeTxRefused, match="named twice"):
        check_owners([a, a.lower()], 1)
    with pytest.raises(SafeTxRefused, match="reserved"):
        check_owners([a, ZERO_ADDRESS], 1)
    with pytest.raises(SafeTxRefused, match="reserved"):
        check_owners([a, "0x" + "00" * 19 + "01"], 1)
    for threshold in (0, 3, True):
        with pytest.raises(SafeTxRefused, match="threshold"):
            check_owners([a, b], threshold)  # type: ignore[arg-type]
