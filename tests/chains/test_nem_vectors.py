"""NEM's published test vectors (the symbol/symbol repository's ``tests/vectors/nem``, in
``tests/data/nem``): every key, every vendored address and every transaction, through
kinko's NEM module and its address registry, and the registry and the SDK agreeing on what
is a valid address."""

from __future__ import annotations

import json
from binascii import hexlify, unhexlify
from pathlib import Path

import pytest
from symbolchain import nc
from symbolchain.nem.Network import Network

from kinko.chains.nem import NemKey, address_of
from kinko.domain.addresses import canonical_address, same_address
from kinko.errors import InvalidAddress

DATA = Path(__file__).resolve().parents[1] / "data" / "nem"
KEYS = json.loads((DATA / "crypto" / "1.test-keys.json").read_text())
ADDRESSES = json.loads((DATA / "crypto" / "1.test-address.first-2000.json").read_text())
TRANSACTIONS = json.loads((DATA / "models" / "transactions.json").read_text())


def test_the_vendored_files_are_whole_where_they_say() -> None:
    assert len(KEYS) == 10_000
    assert len(ADDRESSES) == 2_000
    assert len(TRANSACTIONS) == 54


def test_every_key_vector_gives_its_public_key_and_the_key_never_shows() -> None:
    for vector in KEYS:
        key = NemKey(vector["privateKey"], "nem")
        assert key.public_key == vector["publicKey"]
        assert vector["privateKey"] not in repr(key)
    lower = NemKey(KEYS[0]["privateKey"].lower(), "nem")
    assert lower.public_key == KEYS[0]["publicKey"]


def _dashed(address: str) -> str:
    return "-".join(address[i:i + 6] for i in range(0, 40, 6))


def test_every_address_vector_from_its_public_key_and_in_every_spelling() -> None:
    for vector in ADDRESSES:
        main, test = vector["address_Public"], vector["address_PublicTest"]
        assert address_of(vector["publicKey"], "nem") == main
        assert address_of(vector["publicKey"], "nem-testnet") == test
        for spelling in (main.lower(), _dashed(main), _dashed(main).lower(), f"  {main}\n"):
            assert canonical_address(spelling, "nem") == main
        assert same_address(_dashed(test).lower(), test, "nem-testnet")


def test_an_address_of_another_network_is_refused_naming_its_network_byte() -> None:
    for vector in ADDRESSES[:200]:
        with pytest.raises(InvalidAddress, match=r"network byte 0x98, not 0x68"):
            canonical_address(vector["address_PublicTest"], "nem")
        with pytest.raises(InvalidAddress, match=r"network byte 0x60, not 0x68"):
            canonical_address(vector["address_Mijin"], "nem")


def test_the_registry_and_the_sdk_agree_on_every_corrupted_address() -> None:
    """One rule: what the registry accepts is what NEM's SDK calls valid on that network, for
    every vector and for every one-letter change of its checksum."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    for i, vector in enumerate(ADDRESSES[:300]):
        good = vector["address_Public"]
        position = 30 + i % 10  # the checksum's characters and the hash's last ones
        for letter in alphabet[i % 4::4]:
            changed = good[:position] + letter + good[position + 1:]
            sdk = Network.MAINNET.is_valid_address_string(changed)
            try:
                canonical_address(changed, "nem")
                ours = True
            except InvalidAddress as exc:
                ours = False
                assert changed in str(exc) and "checksum" in str(exc)
            assert ours == sdk == (changed == good)


def _hex(value: bytes) -> str:
    return hexlify(bytes(value)).decode().upper()


@pytest.mark.parametrize("vector", TRANSACTIONS, ids=[v["test_name"] for v in TRANSACTIONS])
def test_every_transaction_vector_round_trips_with_its_fields(vector: dict) -> None:  # type: ignore[type-arg]
    payload = unhexlify(vector["payload"])
    tx = nc.TransactionFactory.deserialize(payload)
    assert _hex(tx.serialize()) == vector["payload"]
    descriptor = vector["descriptor"]
    assert type(tx).__name__ == vector["schema_name"]
    assert str(tx.signer_public_key) == descriptor["signer_public_key"]
    assert str(tx.signature) == descriptor["signature"]
    assert tx.fee.value == descriptor["fee"]
    assert tx.timestamp.value == descriptor["timestamp"]
    if "recipient_address" in descriptor:
        assert tx.recipient_address.bytes.decode() == descriptor["recipient_address"]
        assert tx.amount.value == descriptor["amount"]
    if "inner_transaction" in descriptor:
        inner = descriptor["inner_transaction"]
        assert str(tx.inner_transaction.signer_public_key) == inner["signer_public_key"]
        assert len(tx.cosignatures) == len(descriptor.get("cosignatures", []))
