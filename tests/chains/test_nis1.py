"""The NIS1 adapter against the recorded-shape double (``tests/nis1double.py``): heads,
blocks with XEM, mosaics and multisig inner transfers, balances, the unconfirmed pool,
announcing, receipts; retries and time-outs; a multisig transfer with too few cosignatures
is never included; answers that are not NIS1's shape are named."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from nis1double import PRIVATE, Nis1Double

from kinko.chains import nem
from kinko.chains.evm import Transient
from kinko.chains.nis1 import NisChain, connect
from kinko.chains.retry import Retrying
from kinko.errors import BadInput, ChainRejected, ChainUnavailable, ConfigError

CHAIN = "nem-testnet"
HOT, CUSTOMER, COSIGNER_A, COSIGNER_B, MULTI = (nem.NemKey(k, CHAIN) for k in PRIVATE)
TAG = "kinko.tags:stolen"
XEM = 1_000_000


@pytest.fixture
def node() -> Iterator[Nis1Double]:
    double = Nis1Double(CHAIN)
    double.definitions[TAG] = (1_000, 0)
    double.fund(HOT.address, 1_000 * XEM)
    double.fund(MULTI.address, 500 * XEM)
    double.give_mosaic(HOT.address, TAG, 10)
    yield double
    double.close()


def announce(chain: NisChain, signed: nem.Signed) -> str:
    return chain.send_raw(json.dumps(signed.announce()).encode())


def test_blocks_carry_xem_mosaic_and_multisig_transfers(node: Nis1Double) -> None:
    chain = NisChain(node.url, name=CHAIN, accounts=[HOT.address])
    xem = HOT.sign(nem.transfer(CHAIN, signer_public_key=HOT.public_key,
                                recipient=CUSTOMER.address, amount=25 * XEM, timestamp=5000))
    mixed = HOT.sign(nem.transfer(CHAIN, signer_public_key=HOT.public_key,
                                  recipient=CUSTOMER.address.lower(),
                                  mosaics=[(TAG, 1), ("nem:xem", 3 * XEM)], timestamp=5001,
                                  mosaic_info={TAG: (1_000, 0)}))
    inner = nem.transfer(CHAIN, signer_public_key=MULTI.public_key, recipient=CUSTOMER.address,
                         amount=7 * XEM, timestamp=5002, fee=0)
    node.multisig[MULTI.address] = 1
    wrapped = COSIGNER_A.sign(nem.multisig(CHAIN, inner,
                                           cosignatory_public_key=COSIGNER_A.public_key,
                                           timestamp=5002))
    assert [announce(chain, s) for s in (xem, mixed, wrapped)] == \
        [s.hash.lower() for s in (xem, mixed, wrapped)]
    pending = chain.pending()
    assert {t.tx_hash for t in pending} == {xem.hash.lower(), mixed.hash.lower()}
    assert all(t.block == -1 for t in pending)
    height = node.mine()
    assert chain.head() == height
    block = chain.block(height)
    assert block.parent_hash == chain.block(height - 1).hash
    # NIS1 counts seconds from 2015-03-29 00:06:25 UTC; kinko's blocks carry Unix time
    assert block.timestamp == 1_427_587_585 + node.views[height - 1]["block"]["timeStamp"]
    got = [(t.tx_hash, t.tx_index, t.sender, t.to, t.value, t.token, t.log_index)
           for t in block.transfers]
    assert got == [
        (xem.hash.lower(), 0, HOT.address, CUSTOMER.address, 25 * XEM, None, None),
        (mixed.hash.lower(), 1, HOT.address, CUSTOMER.address, 3 * XEM, None, None),
        (mixed.hash.lower(), 1, HOT.address, CUSTOMER.address, 1, TAG, 0),
        (wrapped.hash.lower(), 2, MULTI.address, CUSTOMER.address, 7 * XEM, None, None),
    ]
    assert chain.pending() == ()
    receipt = chain.receipt(wrapped.hash)
    assert receipt is not None and receipt.block == height
    assert receipt.fee == 150_000  # the wrapper's fee; the inner one was 0 here
    assert chain.receipt("ab" * 32) is None


def test_balances_of_xem_and_mosaics_now_and_at_a_height(node: Nis1Double) -> None:
    chain = NisChain(node.url, name=CHAIN)
    at = node.mine()
    node.fund(HOT.address, 5 * XEM)
    spelled = "-".join(HOT.address[i:i + 6] for i in range(0, 40, 6)).lower()
    assert chain.balances([HOT.address, spelled]) == {HOT.address: 1_005 * XEM,
                                                       spelled: 1_005 * XEM}
    assert chain.balances([HOT.address], block=at) == {HOT.address: 1_000 * XEM}
    assert chain.balances([HOT.address, CUSTOMER.address], token=TAG.upper()) == \
        {HOT.address: 10, CUSTOMER.address: 0}
    assert chain.balances([HOT.address], block=at, token=TAG) == {HOT.address: 10}  # the head
    node.mine()
    with pytest.raises(BadInput, match="mosaic balances at the chain's head only"):
        chain.balances([HOT.address], block=at, token=TAG)
    assert chain.mosaic_definition(TAG) == (1_000, 0)
    with pytest.raises(BadInput, match=r"unknown mosaic 'kinko\.tags:nothing'"):
        chain.mosaic_definition("kinko.tags:nothing")
    with pytest.raises(BadInput, match="unknown mosaic 'elsewhere:tag'"):
        chain.mosaic_definition("elsewhere:tag")


def test_a_multisig_transfer_with_one_cosignature_of_two_is_not_sent(node: Nis1Double) -> None:
    chain = NisChain(node.url, name=CHAIN, accounts=[MULTI.address])
    node.multisig[MULTI.address] = 2
    inner = nem.transfer(CHAIN, signer_public_key=MULTI.public_key,
                         recipient=CUSTOMER.address, amount=100 * XEM, timestamp=6000)
    wrapped = COSIGNER_A.sign(nem.multisig(CHAIN, inner,
                                           cosignatory_public_key=COSIGNER_A.public_key,
                                           timestamp=6000))
    announce(chain, wrapped)
    assert [t.value for t in chain.pending()] == [100 * XEM]  # waits, seen by the watch
    height = node.mine()
    assert chain.block(height).transfers == ()
    assert chain.receipt(wrapped.hash) is None
    assert chain.balances([CUSTOMER.address])[CUSTOMER.address] == 0
    # a cosignature for another transaction does not count
    other = nem.transfer(CHAIN, signer_public_key=MULTI.public_key,
                         recipient=COSIGNER_B.address, amount=100 * XEM, timestamp=6000)
    wrong = COSIGNER_B.sign(nem.cosignature(
        CHAIN, cosignatory_public_key=COSIGNER_B.public_key,
        inner_transaction_hash=nem.inner_hash(CHAIN, other), multisig_address=MULTI.address,
        timestamp=6001))
    with pytest.raises(ChainRejected, match="FAILURE_MULTISIG_NO_MATCHING_MULTISIG"):
        announce(chain, wrong)
    cosign = COSIGNER_B.sign(nem.cosignature(
        CHAIN, cosignatory_public_key=COSIGNER_B.public_key,
        inner_transaction_hash=nem.inner_hash(CHAIN, inner), multisig_address=MULTI.address,
        timestamp=6001))
    announce(chain, cosign)
    height = node.mine()
    (moved,) = chain.block(height).transfers
    assert (moved.sender, moved.to, moved.value) == (MULTI.address, CUSTOMER.address,
                                                     100 * XEM)
    assert moved.tx_hash == wrapped.hash.lower()
    receipt = chain.receipt(wrapped.hash)
    assert receipt is not None and receipt.fee == 150_000 + 50_000 + 150_000


def test_a_bad_signature_is_refused_and_not_retried(node: Nis1Double) -> None:
    chain = Retrying(NisChain(node.url, name=CHAIN), attempts=3, sleep=lambda _s: None)
    signed = HOT.sign(nem.transfer(CHAIN, signer_public_key=HOT.public_key,
                                   recipient=CUSTOMER.address, amount=XEM, timestamp=1))
    forged = nem.Signed(signed.data, signed.signature[:-4] + "0000", signed.hash, CHAIN)
    assert not nem.verify(forged)
    with pytest.raises(ChainRejected, match="FAILURE_SIGNATURE_NOT_VERIFIABLE"):
        chain.send_raw(json.dumps(forged.announce()).encode())
    assert node.requests.count("POST /transaction/announce") == 1
    with pytest.raises(BadInput, match="JSON"):
        chain.send_raw(b"\x01\x02")


def test_outages_are_retried_then_named(node: Nis1Double) -> None:
    naps: list[float] = []
    chain = Retrying(NisChain(node.url, name=CHAIN), attempts=3, sleep=naps.append)
    node.faults = 2
    assert chain.head() == 1
    assert len(naps) == 2
    node.faults = 5
    with pytest.raises(ChainUnavailable, match=r"NIS1 node http://127\.0\.0\.1:\d+ answered "
                                               r"HTTP 503 to the chain height.*3 attempts"):
        chain.head()
    node.faults = 0
    node.delay = 0.3
    slow = Retrying(NisChain(node.url, name=CHAIN, timeout=0.05), attempts=2,
                    sleep=lambda _s: None)
    with pytest.raises(ChainUnavailable, match="did not answer the chain height: "
                                               "ReadTimeout"):
        slow.head()
    node.delay = 0
    dead = NisChain("http://127.0.0.1:9", name=CHAIN, timeout=1)
    with pytest.raises(Transient, match="did not answer"):
        dead.head()


def test_an_answer_that_is_not_nis1s_shape_is_named(node: Nis1Double) -> None:
    chain = NisChain(node.url, name=CHAIN)
    signed = HOT.sign(nem.transfer(CHAIN, signer_public_key=HOT.public_key,
                                   recipient=CUSTOMER.address, amount=XEM, timestamp=1))
    announce(chain, signed)
    height = node.mine()
    node.views[height - 1]["txes"][0]["tx"]["recipient"] = "TALICELCD3XPH4FFI5STGGNSNSWPOTG5E4DS2TOX"
    with pytest.raises(Transient, match=r"data\[0\]\.txes\[0\]\.tx: .*TALICELCD3XPH4FFI5STGGNSNS"
                                        r"WPOTG5E4DS2TOX.*checksum"):
        chain.block(height)
    node.views[height - 1]["txes"][0]["tx"]["amount"] = "1"
    node.views[height - 1]["txes"][0]["tx"]["recipient"] = CUSTOMER.address
    with pytest.raises(Transient, match=r"amount is not a whole number"):
        chain.block(height)


def test_the_node_says_its_network_and_another_one_is_refused(node: Nis1Double) -> None:
    chain = connect(CHAIN, node.url, attempts=2)
    assert chain.head() == 1 and chain.inner.caip2() == "nem:testnet"
    with pytest.raises(ConfigError, match=r"NEM network 0x98 \(testnet\), not of nem"):
        NisChain(node.url, name="nem").caip2()


def test_the_adapter_refuses_a_chain_that_is_not_nem() -> None:
    with pytest.raises(BadInput, match="not a NEM network"):
        NisChain("http://127.0.0.1:1", name="ethereum")
    with pytest.raises(ChainRejected, match="no nonce"):
        NisChain("http://127.0.0.1:1", name=CHAIN).nonce(HOT.address)


def test_a_transaction_moving_no_xem_is_a_record_of_nothing_named_by_its_hash(
        node: Nis1Double) -> None:
    """A multisig modification (a cosignatory removed, the minimum lowered) and a transfer of
    mosaics only: each is one XEM record of 0 from the account, pending under the hash it
    has in its block."""
    chain = NisChain(node.url, name=CHAIN, accounts=[MULTI.address, HOT.address])
    node.multisig[MULTI.address] = 1
    change = nem.modification(CHAIN, account_public_key=MULTI.public_key, timestamp=7000,
                              remove=[COSIGNER_B.public_key], add=[CUSTOMER.public_key],
                              min_change=-1)
    wrapped = COSIGNER_A.sign(nem.multisig(CHAIN, change,
                                           cosignatory_public_key=COSIGNER_A.public_key,
                                           timestamp=7000))
    tags = HOT.sign(nem.transfer(CHAIN, signer_public_key=HOT.public_key,
                                 recipient=CUSTOMER.address, mosaics=[(TAG, 2)],
                                 timestamp=7001, mosaic_info={TAG: (1_000, 0)}))
    announce(chain, wrapped)
    announce(chain, tags)
    pending = sorted(chain.pending(), key=lambda t: (t.tx_hash, t.log_index or 0))
    expected = sorted([
        (wrapped.hash.lower(), MULTI.address, None, 0, None),
        (tags.hash.lower(), HOT.address, CUSTOMER.address, 0, None),
        (tags.hash.lower(), HOT.address, CUSTOMER.address, 2, TAG)],
        key=lambda x: (x[0], x[4] or ""))
    assert sorted((t.tx_hash, t.sender, t.to, t.value, t.token) for t in pending) == \
        sorted(expected, key=lambda x: (x[0], x[4] or ""))
    height = node.mine()
    assert {(t.tx_hash, t.value, t.token) for t in chain.block(height).transfers} == \
        {(wrapped.hash.lower(), 0, None), (tags.hash.lower(), 0, None),
         (tags.hash.lower(), 2, TAG)}


def test_a_nem_node_is_named_in_the_chains_setting_through_the_adapter_registry(
        node: Nis1Double, tmp_path: Path) -> None:
    """``chains = nem-testnet=nis1:URL#ACCOUNT`` reaches the NIS1 adapter (retried), which
    watches the named hot account's unconfirmed transactions; a NEM key wallet signs with
    its key file, named in ``keys``; an account that is not the chain's is refused."""
    from kinko.chains import registry
    from kinko.chains.keys import KeyRing
    from kinko.chains.nem_wallets import NemKeyWallet
    from kinko.domain.custody import Wallet
    from kinko.settings import load_settings

    dashed = "-".join(HOT.address[i:i + 6] for i in range(0, 40, 6)).lower()
    settings = load_settings(config_path=None, env={
        "KINKO_CHAINS": f"{CHAIN}=nis1:{node.url}#{dashed}"})
    (name, adapter, url, accounts), = settings.chains
    assert accounts == (HOT.address,)
    chain = registry.connect(name, adapter, url, attempts=2, accounts=accounts)
    assert isinstance(chain, Retrying) and chain.name == CHAIN
    height = node.mine()
    assert chain.head() == height
    assert chain.balances([HOT.address])[HOT.address] == 1_000 * XEM
    (tmp_path / "xem-hot.nem").write_text(PRIVATE[0] + "\n")
    spender = registry.spender_for(chain, adapter, Wallet("xem-hot", "XEM", "hot",
                                                          (HOT.address,)), KeyRing(tmp_path, {}))
    assert isinstance(spender, NemKeyWallet) and spender.address == HOT.address
    other = KeyRing(tmp_path, {"xem-cold": ("file", str(tmp_path / "xem-hot.nem"))})
    with pytest.raises(ConfigError, match="not an address of wallet xem-cold"):
        registry.spender_for(chain, adapter, Wallet("xem-cold", "XEM", "cold",
                                                    (CUSTOMER.address,)), other)
    with pytest.raises(ConfigError, match="Keccak-512"):
        KeyRing(tmp_path, {"xem-hot": ("hsm", "ops")}).nem_key("xem-hot", CHAIN)
    with pytest.raises(ConfigError, match=r"account 'TXYZ'"):
        load_settings(config_path=None, env={"KINKO_CHAINS": f"{CHAIN}=nis1:{node.url}#TXYZ"})
