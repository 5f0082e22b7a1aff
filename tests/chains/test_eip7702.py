"""EIP-7702 authorizations: the authority is recovered from the signature, and kinko's own
clearing transaction is a valid type-4 transaction signed by the same key."""

from __future__ import annotations

from eth_account import Account
from eth_account.typed_transactions import TypedTransaction
from hexbytes import HexBytes

from kinko.chains.eip7702 import authority
from kinko.chains.keystore import KeystoreSigner
from kinko.domain.chain import ZERO_ADDRESS


def test_the_authority_is_recovered_and_a_forged_item_is_skipped() -> None:
    key = Account.create()
    signed = Account.sign_authorization({"chainId": 31337, "address": "0x" + "66" * 20,
                                         "nonce": 4}, key.key)
    item = {"chainId": hex(31337), "address": "0x" + "66" * 20, "nonce": "0x4",
            "yParity": hex(signed.y_parity), "r": hex(signed.r), "s": hex(signed.s)}
    assert authority(item) == key.address.lower()
    assert authority({**item, "nonce": "0x5"}) != key.address.lower()  # another message
    assert authority({**item, "yParity": "0x2"}) is None
    assert authority({**item, "s": hex(2**256 - 1)}) is None  # high s: invalid
    assert authority({"chainId": "0x1"}) is None


def test_kinko_clears_a_delegation_in_the_sweep_itself() -> None:
    key = Account.create()
    raw = KeystoreSigner(key).sign_transfer(to="0x" + "cc" * 20, value=5, nonce=7,
                                            gas_price=10**9, chain_id=31337,
                                            clear_delegation=True)
    assert raw[0] == 4  # a set-code transaction
    tx = TypedTransaction.from_bytes(HexBytes(raw)).as_dict()
    (auth,) = tx["authorizationList"]
    assert int(auth["nonce"]) == 8  # the sender's nonce is bumped before the list is read
    assert tx["gas"] == 21_000 + 25_000 and tx["value"] == 5
    item = {"chainId": auth["chainId"], "address": ZERO_ADDRESS, "nonce": auth["nonce"],
            "yParity": auth["yParity"], "r": auth["r"], "s": auth["s"]}
    assert authority(item) == key.address.lower()
