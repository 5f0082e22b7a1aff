"""A transfer from a NEM multisig account (2 of 3), built and signed with the SDK through
kinko.chains.nem_multisig: its terms for a cosignatory to check, the initiator's and the
cosignatories' signatures, a cosignature checked before it counts; on the NIS1 double, one
signature of two moves nothing and the second makes the transfer."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from nis1double import Nis1Double

from kinko.chains import nem
from kinko.chains.evm import Transient
from kinko.chains.nem_multisig import (
    MultisigTransfer,
    check_cosignature,
    cosign,
    initiate,
    prepare,
    terms,
)
from kinko.chains.nis1 import NisChain
from kinko.errors import ApprovalError, BadInput

CHAIN = "nem-testnet"
ACCOUNT, OPS, COSIGNER, RECOVERY, OUTSIDER, CUSTOMER = (
    nem.NemKey(c * 64, CHAIN) for c in "123456")
XEM = 1_000_000
TAG = "kinko.tags:stolen"


def hot_transfer(amount: int = 250 * XEM) -> MultisigTransfer:
    return prepare(CHAIN, account_public_key=ACCOUNT.public_key,
                   initiator_public_key=OPS.public_key, to=CUSTOMER.address.lower(),
                   amount=amount, timestamp=10_000, deadline=10_000 + 3600)


@pytest.fixture
def node() -> Iterator[Nis1Double]:
    double = Nis1Double(CHAIN)
    double.fund(ACCOUNT.address, 1_000 * XEM)
    double.multisig[ACCOUNT.address] = 2
    yield double
    double.close()


def test_terms_name_what_the_cosignatories_sign() -> None:
    tx = hot_transfer()
    assert terms(tx) == {"chain": CHAIN, "account": ACCOUNT.address, "to": CUSTOMER.address,
                         "xem": 250 * XEM, "mosaics": {}, "inner_hash": tx.inner_hash,
                         "deadline": 13_600, "fee": 50_000 + 150_000}
    tagged = prepare(CHAIN, account_public_key=ACCOUNT.public_key,
                     initiator_public_key=OPS.public_key, to=CUSTOMER.address,
                     mosaics=[(TAG, 3), ("nem:xem", 5 * XEM)], timestamp=1, deadline=100,
                     mosaic_info={TAG: (1_000, 0)})
    assert (terms(tagged)["xem"], terms(tagged)["mosaics"]) == (5 * XEM, {TAG: 3})
    with pytest.raises(BadInput, match="does not sign for itself"):
        prepare(CHAIN, account_public_key=ACCOUNT.public_key,
                initiator_public_key=ACCOUNT.public_key, to=CUSTOMER.address, amount=1,
                timestamp=1, deadline=2)


def test_signatures_are_checked_before_they_count() -> None:
    tx = hot_transfer()
    with pytest.raises(ApprovalError, match="not the initiator"):
        initiate(tx, COSIGNER)
    with pytest.raises(ApprovalError, match="would not count"):
        cosign(tx, OPS)
    cosigners = [OPS.address, COSIGNER.address, RECOVERY.address]
    assert check_cosignature(tx, cosign(tx, COSIGNER), cosigners) == COSIGNER.address
    other = hot_transfer(251 * XEM)  # an altered amount is another transfer
    with pytest.raises(ApprovalError, match="not this transfer"):
        check_cosignature(tx, cosign(other, COSIGNER), cosigners)
    with pytest.raises(ApprovalError, match="is not a cosignatory"):
        check_cosignature(tx, cosign(tx, OUTSIDER), cosigners)
    good = cosign(tx, RECOVERY)
    forged = nem.Signed(good.data, good.signature[:-2] + ("00" if good.signature[-2:] != "00"
                                                          else "11"), good.hash, CHAIN)
    with pytest.raises(ApprovalError, match="does not verify"):
        check_cosignature(tx, forged, cosigners)
    with pytest.raises(ApprovalError, match="not a cosignature"):
        check_cosignature(tx, initiate(tx, OPS), cosigners)


def test_one_signature_of_two_moves_nothing_and_the_second_makes_the_transfer(
        node: Nis1Double) -> None:
    chain = NisChain(node.url, name=CHAIN, accounts=[ACCOUNT.address])
    tx = hot_transfer()

    def send(signed: nem.Signed) -> str:
        return chain.send_raw(json.dumps(signed.announce()).encode())

    started = send(initiate(tx, OPS))  # the thief holds the operations key: this is all
    node.mine()
    node.mine()
    assert chain.receipt(started) is None
    assert chain.balances([CUSTOMER.address]) == {CUSTOMER.address: 0}
    send(cosign(tx, COSIGNER))
    height = node.mine()
    (moved,) = chain.block(height).transfers
    assert (moved.sender, moved.to, moved.value) == (ACCOUNT.address, CUSTOMER.address,
                                                     250 * XEM)
    assert chain.balances([CUSTOMER.address]) == {CUSTOMER.address: 250 * XEM}


def test_the_chain_says_how_a_multisig_account_is_set_up(node: Nis1Double) -> None:
    chain = NisChain(node.url, name=CHAIN)
    assert chain.multisig(CUSTOMER.address) == (0, ())
    node.cosignatories[ACCOUNT.address] = [OPS.public_key, COSIGNER.public_key,
                                           RECOVERY.public_key]
    assert chain.multisig(ACCOUNT.address.lower()) == \
        (2, tuple(sorted((OPS.address, COSIGNER.address, RECOVERY.address))))
    node.multisig[ACCOUNT.address] = 4  # more than it has: not NIS1's shape
    with pytest.raises(Transient, match="3 cosignatories counted, 3 listed, minimum 4"):
        chain.multisig(ACCOUNT.address)
