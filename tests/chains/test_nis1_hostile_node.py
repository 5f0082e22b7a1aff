"""A NIS1 node kinko does not trust, played by a local HTTP server that answers whatever
the test chooses (bytes, pace, size): every answer is a named failure of the adapter
(:class:`~kinko.chains.evm.Transient`, retried and then ``ChainUnavailable``), within its
time-outs, never a crash or a hang."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from hostilenode import Node, endless
from nis1double import PRIVATE, Nis1Double

from kinko.chains.evm import Transient
from kinko.chains.nem import NemKey, transfer
from kinko.chains.nis1 import NisChain
from kinko.errors import BadInput, ChainRejected

CHAIN = "nem-testnet"


@pytest.fixture
def node() -> Iterator[Node]:
    served = Node()
    yield served
    served.close()


def test_an_answer_nested_deeper_than_kinko_reads_is_named(node: Node) -> None:
    node.body = b"[" * 1_000 + b"]" * 1_000
    with pytest.raises(Transient, match=r"the chain height.*nested more than 64 levels"):
        NisChain(node.url, name=CHAIN).head()


def test_a_deeply_nested_answer_does_not_kill_the_process(node: Node) -> None:
    """100,000 brackets: with py-evm loaded (its recursion limit 100,000), the JSON parser
    overflowed the C stack and the process died of a segmentation fault."""
    node.body = b"[" * 100_000 + b"]" * 100_000
    code = ("import sys\nfrom kinko.chains.nis1 import NisChain\nfrom kinko.chains.evm import "
            f"Transient\ntry:\n    NisChain({node.url!r}, name={CHAIN!r}).head()\n"
            "except Transient as exc:\n    print(exc)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr[-500:]
    assert "nested more than 64 levels" in done.stdout


def test_an_answer_larger_than_kinko_reads_is_refused_without_reading_it_all(
        node: Node) -> None:
    sent: list[int] = []
    node.body = endless(b'{"height": 1, ', sent)
    with pytest.raises(Transient, match=r"the chain height with more than 16 MiB"):
        NisChain(node.url, name=CHAIN).head()
    time.sleep(0.2)
    assert sum(sent) < 48 * 2**20


def test_a_node_that_trickles_its_answer_is_given_up_within_the_time_out(node: Node) -> None:
    """Each byte comes before the read time-out, so no single read times out: the whole
    answer has its own deadline."""
    def trickle(out: Any) -> None:
        for byte in b'{"height": 5}' + b" " * 100:
            out.write(bytes([byte]))
            out.flush()
            time.sleep(0.05)

    node.body = trickle
    started = time.monotonic()
    with pytest.raises(Transient, match=r"did not answer the chain height within 0\.75 s"):
        NisChain(node.url, name=CHAIN, timeout=0.25).head()
    assert time.monotonic() - started < 3


def test_a_node_that_trickles_its_headers_is_given_up_within_the_time_out(
        node: Node) -> None:
    """The status line and headers too: each byte before the read time-out, 20 s in all;
    the answer's head has the same deadline as its body."""
    node.head_pace = 0.05
    node.body = b'{"height": 5}'
    started = time.monotonic()
    with pytest.raises(Transient, match="did not answer the chain height"):
        NisChain(node.url, name=CHAIN, timeout=0.25).head()
    assert time.monotonic() - started < 3


def test_an_answer_naming_a_key_twice_is_not_read_as_one_of_them(node: Node) -> None:
    node.body = b'{"height": 5, "height": 7}'
    with pytest.raises(Transient, match=r"the chain height.*'height' is given twice"):
        NisChain(node.url, name=CHAIN).head()


def test_a_fraction_or_a_huge_number_is_not_a_balance(node: Node) -> None:
    account = NemKey(PRIVATE[0], CHAIN).address
    chain = NisChain(node.url, name=CHAIN)
    for text in ("1e3", "1000.0", "9" * 5_000):
        node.body = b'{"account": {"balance": ' + text.encode() + b"}}"
        with pytest.raises(Transient, match=f"the balance of {account}"):
            chain.balances([account])
    node.body = json.dumps({"account": {"balance": 5}}).encode()
    assert chain.balances([account]) == {account: 5}


def test_a_public_key_of_another_account_is_not_the_accounts(node: Node) -> None:
    """The multisig wallet builds its inner transfer with the key the node gives for the
    account: a key of another account (one the operations key also cosigns for) would
    have drawn the withdrawal from that account."""
    account, other = NemKey(PRIVATE[4], CHAIN), NemKey(PRIVATE[1], CHAIN)
    chain = NisChain(node.url, name=CHAIN)
    node.body = json.dumps({"account": {"publicKey": other.public_key.lower()}}).encode()
    with pytest.raises(Transient, match=f"the public key of {account.address}.*is the key of "
                                        f"{other.address}"):
        chain.public_key(account.address)
    node.body = json.dumps({"account": {"publicKey": account.public_key.lower()}}).encode()
    assert chain.public_key(account.address) == account.public_key


def _mined_transfer(double: Nis1Double, payer: NemKey) -> tuple[NisChain, int]:
    """A node (the double) that mined a transfer of 5 micro-XEM from ``payer``: the chain
    asking it, and the height of the transfer's block."""
    double.fund(payer.address, 10**6)
    chain = NisChain(double.url, name=CHAIN)
    signed = payer.sign(transfer(CHAIN, signer_public_key=payer.public_key,
                                 recipient=NemKey(PRIVATE[1], CHAIN).address, amount=5,
                                 timestamp=1))
    chain.send_raw(json.dumps(signed.announce()).encode())
    return chain, double.mine()


def test_more_xem_than_there_is_is_not_read_as_a_deposit_or_a_balance(node: Node) -> None:
    """NIS1's numbers are 64-bit and XEM's supply is 8,999,999,999 XEM: a transfer or a
    balance beyond either was read as it came, and a deposit of 2**70 micro-XEM credited."""
    payer = NemKey(PRIVATE[0], CHAIN)
    double = Nis1Double(CHAIN)
    try:
        chain, height = _mined_transfer(double, payer)
        tx = double.views[height - 1]["txes"][0]["tx"]
        for amount, says in ((2**70, "beyond NIS1's 64-bit numbers"),
                             (9 * 10**15, "more XEM than there is")):
            tx["amount"] = amount
            with pytest.raises(Transient, match=rf"data\[0\]\.txes\[0\]\.tx\.amount.*{says}"):
                chain.block(height)
        tx["amount"] = 8_999_999_999 * 10**6
        assert chain.block(height).transfers[0].value == 8_999_999_999 * 10**6
    finally:
        double.close()
    account = payer.address
    node.body = json.dumps({"account": {"balance": 2**64}}).encode()
    with pytest.raises(Transient, match=r"account\.balance is beyond NIS1's 64-bit"):
        NisChain(node.url, name=CHAIN).balances([account])


def test_a_block_listing_one_transaction_twice_is_not_two_deposits() -> None:
    """NIS1 includes a transaction once: a block that lists it twice was read as two
    transfers, and a deposit in it was credited twice."""
    payer = NemKey(PRIVATE[0], CHAIN)
    double = Nis1Double(CHAIN)
    try:
        chain, height = _mined_transfer(double, payer)
        (once,) = chain.block(height).transfers
        txes = double.views[height - 1]["txes"]
        txes.append(json.loads(json.dumps(txes[0])))
        with pytest.raises(Transient, match=rf"data\[0\]\.txes\[1\]: transaction "
                                            rf"{once.tx_hash.lower()} is listed twice "
                                            r"\(also data\[0\]\.txes\[0\]\)"):
            chain.block(height)
    finally:
        double.close()


def _definition(supply: str, divisibility: Any) -> bytes:
    return json.dumps({"data": [{"meta": {"id": 1}, "mosaic": {
        "id": {"namespaceId": "kinko", "name": "tag"}, "levy": {},
        "properties": [{"name": "divisibility", "value": divisibility},
                       {"name": "initialSupply", "value": supply}]}}]}).encode()


def test_a_mosaic_of_more_units_than_nis1_allows_is_not_defined(node: Node) -> None:
    """NIS1 caps a mosaic at 9,000,000,000,000,000 of its smallest units: a definition
    beyond it was taken, and a transfer's fee then failed in the SDK with a bare
    ValueError (a traceback, the supply's digits in its message)."""
    chain = NisChain(node.url, name=CHAIN)
    for supply, places in (("9" * 30, "0"), ("9" * 4_000, "6"), ("9000000001", "6")):
        node.body = _definition(supply, places)
        with pytest.raises(Transient, match=r"data\[0\]\.mosaic\.properties: .* more than "
                                            r"9,000,000,000,000,000 units"):
            chain.mosaic("kinko:tag")
    node.body = _definition("9000000000", "6")
    assert chain.mosaic("kinko:tag").supply == 9_000_000_000


def test_a_mosaic_property_that_is_not_a_whole_number_is_not_rounded(node: Node) -> None:
    """A divisibility sent as the number 6.5 was read as 6 (and "٦" as 6): a mosaic's
    amounts would then be shown and compared in the wrong unit."""
    chain = NisChain(node.url, name=CHAIN)
    for supply, places in (("1000", "6.5"), ("1000", 6.5), ("1000", "\u0666"),
                           ("1000", " 6"), ("1e3", "0"), ("-5", "0"), ("1000", "7")):
        node.body = _definition(supply, places)
        with pytest.raises(Transient, match="lacks initialSupply or divisibility"):
            chain.mosaic("kinko:tag")
    node.body = _definition("1000", "3")
    assert chain.mosaic("kinko:tag").divisibility == 3


def test_a_network_id_beyond_one_byte_is_no_network(node: Node) -> None:
    """The network id was masked to its last byte: 4294967192 (-104 as 32 bits unsigned)
    or 408 read as the testnet."""
    chain = NisChain(node.url, name=CHAIN)
    for value in (-104, 152):  # NIS1 says -104; one byte unsigned is the same network
        node.body = json.dumps({"metaData": {"networkId": value}}).encode()
        assert chain.caip2() == "nem:testnet"
    for value in (4294967192, 408, -360):
        node.body = json.dumps({"metaData": {"networkId": value}}).encode()
        with pytest.raises(Transient, match=f"networkId is not a network's byte \\({value}\\)"):
            chain.caip2()


def test_a_route_the_node_does_not_serve_is_not_read_as_nothing_there(node: Node) -> None:
    """A 404 for a path the node does not serve (a URL with a wrong prefix, a proxy in
    front of it) said "no such transaction" and "no such mosaic": a withdrawal sent would
    never be seen mined. Only NIS1's own word that it does not have the thing is."""
    chain = NisChain(node.url, name=CHAIN, timeout=2)
    node.status = 404
    node.body = b'{"error": "Not Found", "status": 404, "message": "No message available"}'
    with pytest.raises(ChainRejected, match=r"refused transaction .*: HTTP 404"):
        chain.receipt("ab" * 32)
    node.body = b"<html><body>404 Not Found</body></html>"
    with pytest.raises(Transient, match=r"not JSON kinko reads.*HTTP 404"):
        chain.receipt("ab" * 32)
    node.body = b'{"error": "Not Found", "status": 404, "message": "namespace acme unknown"}'
    with pytest.raises(BadInput, match="unknown mosaic"):
        chain.mosaic_definition("acme:coin")
    node.status = 400
    node.body = (b'{"error": "Bad Request", "status": 400, "message": "Neither transaction '
                 b'id was given nor hash was found"}')
    assert chain.receipt("ab" * 32) is None


def test_a_multisig_account_listing_a_cosignatory_twice_is_not_read(node: Node) -> None:
    """A node listing one cosignatory twice (counted twice, so a minimum of two looks met
    by one key) was read as the set of them: the account's set-up is refused instead."""
    account, cosigner = NemKey(PRIVATE[0], CHAIN).address, NemKey(PRIVATE[1], CHAIN).address
    node.body = json.dumps({
        "account": {"address": account, "multisigInfo": {"cosignatoriesCount": 2,
                                                          "minCosignatories": 2}},
        "meta": {"cosignatories": [{"address": cosigner}, {"address": cosigner}]}}).encode()
    with pytest.raises(Transient, match=r"lists .* more than once"):
        NisChain(node.url, name=CHAIN).multisig(account)
