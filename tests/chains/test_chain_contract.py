"""The Chain port's contract, on the in-process chain and on a real anvil node."""

from __future__ import annotations

from pathlib import Path

import pytest
from eth_account import Account
from keyfiles import new_keystore

from kinko.chains.evm import EvmChain
from kinko.chains.keystore import KeystoreSigner, create_keystore
from kinko.errors import ChainRejected, ConfigError

ETH = 10**18
PASSWORD = "correct horse battery"


def fresh_address() -> str:
    return str(Account.create().address)


def test_funding_shows_in_blocks_and_balances(chain: EvmChain) -> None:
    a, b = fresh_address(), fresh_address()
    before = chain.head()
    tx = chain.fund(a, 3 * ETH)
    chain.fund(b, 5)
    head = chain.head()
    assert head >= before + 1
    found = [t for n in range(before + 1, head + 1) for t in chain.block(n).transfers
             if t.tx_hash == tx]
    # the port gives addresses in their canonical form (lower-case hex)
    assert len(found) == 1 and found[0].to == a.lower() and found[0].value == 3 * ETH
    assert chain.balances([a, b]) == {a: 3 * ETH, b: 5}
    assert chain.balances([a], block=before) == {a: 0}  # balances at an earlier block


def test_blocks_link_by_parent_hash(chain: EvmChain) -> None:
    chain.mine(2)
    head = chain.head()
    assert chain.block(head).parent_hash == chain.block(head - 1).hash


def test_keystore_signer_sends_and_receipt_has_fee(chain: EvmChain, tmp_path: Path) -> None:
    path = tmp_path / "hot.json"
    address = new_keystore(path, PASSWORD)  # create_keystore's own file: test_keystore.py
    signer = KeystoreSigner.open(path, PASSWORD)
    assert signer.address == address
    chain.fund(address, ETH)
    to = fresh_address()
    chain_id, gas_price = chain.fee_params()
    raw = signer.sign_transfer(to=to, value=ETH // 4, nonce=chain.nonce(address),
                               gas_price=gas_price, chain_id=chain_id)
    tx_hash = chain.send_raw(raw)
    chain.mine(1)
    receipt = chain.receipt(tx_hash)
    assert receipt is not None and receipt.ok and receipt.fee == 21_000 * gas_price
    assert chain.balances([to])[to] == ETH // 4
    assert chain.balances([address])[address] == ETH - ETH // 4 - receipt.fee
    # a replayed nonce is refused by the node, not retried
    with pytest.raises(ChainRejected):
        chain.send_raw(signer.sign_transfer(to=to, value=1, nonce=0, gas_price=gas_price,
                                            chain_id=chain_id))


@pytest.mark.parametrize("raw", [b"", b"\x00\x01", b"\x02\x00", b"\xf8\xff\x00",
                                 b"\xc0", b"\x7f" * 40])
def test_bytes_that_are_no_transaction_are_refused_by_the_node(chain: EvmChain,
                                                               raw: bytes) -> None:
    """A node refuses bytes that decode to no signed transaction (an empty body, an unknown
    type, RLP cut short or of the wrong shape): the in-process chain as a node does."""
    head = chain.head()
    with pytest.raises(ChainRejected) as caught:
        chain.send_raw(raw)
    assert "refused a signed transaction" in caught.value.message
    assert caught.value.says is not None
    assert chain.head() == head


def test_unknown_receipt_is_none(chain: EvmChain) -> None:
    assert chain.receipt("0x" + "ab" * 32) is None


def test_keystore_refusals(tmp_path: Path) -> None:
    path = tmp_path / "k.json"
    with pytest.raises(ConfigError, match="at least 12"):
        create_keystore(path, "short")
    new_keystore(path, PASSWORD)
    with pytest.raises(ConfigError, match="refusing to overwrite"):
        create_keystore(path, PASSWORD)
    with pytest.raises(ConfigError, match="wrong password") as err:
        KeystoreSigner.open(path, "not the password")
    assert "not the password" not in str(err.value)
    with pytest.raises(ConfigError, match="KINKO_HOT_KEY_PASSWORD"):
        KeystoreSigner.open(path, None)
