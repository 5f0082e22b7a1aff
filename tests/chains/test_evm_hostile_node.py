"""An Ethereum JSON-RPC node kinko does not trust, played by a local HTTP server that
answers whatever the test chooses (bytes, pace, size): every answer, to a single request
(web3's own calls) or to a batch (a block with its logs, balances), is a named failure of
the adapter (:class:`~kinko.chains.evm.Transient`, retried and then ``ChainUnavailable``),
within its time-outs, never a crash or a hang."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hostilenode import Node, endless

from kinko.chains.evm import EvmChain, Transient
from kinko.chains.retry import Retrying
from kinko.errors import ChainRejected, ChainUnavailable

ADDRESSES = ["0x" + "11" * 20, "0x" + "22" * 20]


def envelope(result: bytes, id_: int = 1) -> bytes:
    """A JSON-RPC answer whose result is ``result`` (JSON text, as the node sends it)."""
    return b'{"jsonrpc": "2.0", "id": %d, "result": %s}' % (id_, result)


def batch(*results: bytes) -> bytes:
    return b"[" + b", ".join(envelope(r, n) for n, r in enumerate(results)) + b"]"


# each read, with what the adapter says it asked: a single request (web3's eth_blockNumber),
# a batched block and its logs (the watch), a batch through web3's batch_requests
READS: list[tuple[str, Callable[[EvmChain], Any]]] = [
    ("the head block number", lambda chain: chain.head()),
    ("block 5", lambda chain: chain.block(5)),
    ("2 balances", lambda chain: chain.balances(ADDRESSES)),
]


@pytest.fixture
def node() -> Iterator[Node]:
    served = Node()
    yield served
    served.close()


@pytest.mark.parametrize(("what", "read"), READS, ids=[w for w, _ in READS])
def test_an_answer_nested_deeper_than_kinko_reads_is_named(
        node: Node, what: str, read: Callable[[EvmChain], Any]) -> None:
    node.body = envelope(b"[" * 1_000 + b"]" * 1_000)
    with pytest.raises(Transient, match=rf"node at {node.url} answered {what} with something "
                                        r"that is not JSON kinko reads.*nested more than 64"):
        read(EvmChain.connect(node.url))


def test_a_deeply_nested_answer_does_not_kill_the_process(node: Node) -> None:
    """100,000 brackets: py_ecc (imported with web3) raises the recursion limit to 100,000,
    and web3's JSON parser then overflowed the C stack: the process died of a
    segmentation fault, the watch with it."""
    node.body = envelope(b"[" * 100_000 + b"]" * 100_000)
    code = ("import sys\nimport py_ecc\nassert sys.getrecursionlimit() >= 100_000\n"
            "from kinko.chains.evm import EvmChain, Transient\n"
            f"chain = EvmChain.connect({node.url!r})\n"
            "for read in (chain.head, lambda: chain.block(5)):\n"
            "    try:\n        read()\n    except Transient as exc:\n        print(exc)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr[-500:]
    assert done.stdout.count("nested more than 64 levels") == 2, done.stdout


@pytest.mark.parametrize(("what", "read"), READS, ids=[w for w, _ in READS])
def test_an_answer_larger_than_kinko_reads_is_refused_without_reading_it_all(
        node: Node, what: str, read: Callable[[EvmChain], Any]) -> None:
    sent: list[int] = []
    node.body = endless(b'{"jsonrpc": "2.0", "id": 1, "result": "0x1", ', sent)
    with pytest.raises(Transient, match=rf"node at {node.url} answered {what} with more "
                                        r"than 16 MiB, the most kinko reads"):
        read(EvmChain.connect(node.url))
    time.sleep(0.2)
    assert sum(sent) < 48 * 2**20


@pytest.mark.parametrize(("what", "read"), READS, ids=[w for w, _ in READS])
def test_a_node_that_trickles_its_answer_is_given_up_within_the_time_out(
        node: Node, what: str, read: Callable[[EvmChain], Any]) -> None:
    """Each byte comes before the read time-out, so no single read times out: the whole
    answer has its own deadline (three times the time-out)."""
    def trickle(out: Any) -> None:
        for byte in envelope(b'"0x5"') + b" " * 100:
            out.write(bytes([byte]))
            out.flush()
            time.sleep(0.05)

    node.body = trickle
    started = time.monotonic()
    with pytest.raises(Transient, match=rf"node at {node.url} did not answer {what} "
                                        r"within 0\.75 s"):
        read(EvmChain.connect(node.url, timeout=0.25))
    assert time.monotonic() - started < 3


@pytest.mark.parametrize(("what", "read"), READS, ids=[w for w, _ in READS])
def test_a_node_that_trickles_its_headers_is_given_up_within_the_time_out(
        node: Node, what: str, read: Callable[[EvmChain], Any]) -> None:
    """The status line and headers too: each byte before the read time-out, 20 s in all;
    the answer's head has the same deadline as its body."""
    node.head_pace = 0.05
    node.body = envelope(b'"0x5"')
    started = time.monotonic()
    with pytest.raises(Transient, match=rf"node at {node.url} did not answer {what}"):
        read(EvmChain.connect(node.url, timeout=0.25))
    assert time.monotonic() - started < 3


def test_a_node_that_stops_mid_answer_is_named_within_the_time_out(node: Node) -> None:
    def stall(out: Any) -> None:
        out.write(b'{"jsonrpc": "2.0", ')
        out.flush()
        time.sleep(2)

    node.body = stall
    chain = EvmChain.connect(node.url, timeout=0.3)
    for what, read in READS:
        started = time.monotonic()
        with pytest.raises(Transient, match=rf"node at {node.url} did not answer {what}"):
            read(chain)
        assert time.monotonic() - started < 1.5


def test_an_answer_naming_a_key_twice_is_not_read_as_one_of_them(node: Node) -> None:
    chain = EvmChain.connect(node.url)
    node.body = b'{"jsonrpc": "2.0", "id": 1, "result": "0x5", "result": "0x7"}'
    with pytest.raises(Transient, match=r"the head block number with .*'result' is given "
                                        r"twice"):
        chain.head()
    block = {"number": "0x5", "hash": "0x" + "ab" * 32, "parentHash": "0x" + "cd" * 32,
             "timestamp": "0x1", "transactions": []}
    node.body = batch(json.dumps(block).encode()[:-1] + b', "number": "0x6"}', b"[]")
    with pytest.raises(Transient, match=r"block 5 with .*'number' is given twice"):
        chain.block(5)
    node.body = batch(json.dumps(block).encode(), b"[]")
    assert chain.block(5).number == 5  # the same answer, each key once: read


def test_a_number_in_an_answer_is_never_a_float(node: Node) -> None:
    """A balance the node sends as a JSON number (not JSON-RPC's hex text) was parsed as a
    float: 10**30 wei came out as 1000000000000000019884624838656."""
    chain = EvmChain.connect(node.url)
    node.body = batch(b"1e30")
    assert chain.balances(ADDRESSES[:1]) == {ADDRESSES[0]: 10**30}


def test_a_hostile_answer_is_retried_then_the_chain_is_unavailable(node: Node) -> None:
    node.body = envelope(b"[" * 1_000 + b"]" * 1_000)
    chain = Retrying(EvmChain.connect(node.url), attempts=3, sleep=lambda _: None)
    with pytest.raises(ChainUnavailable, match=r"answered block 5 with .*nested more than 64 "
                                               r"levels.*gave up after 3 attempts"):
        chain.block(5)
    assert node.asked == 3


def test_an_answer_of_the_wrong_shape_is_named_in_a_few_words_not_echoed_whole(
        node: Node) -> None:
    """An answer that is JSON but not what was asked (one answer to a batch, an error's
    message of a megabyte) was copied whole into the refusal, and so into the log."""
    chain = EvmChain.connect(node.url)
    reads = [lambda: chain.block(5), lambda: chain.balances(ADDRESSES), chain.head,
             lambda: chain.calls([(ADDRESSES[0], b"")])]
    for body in (envelope(b'"' + b"x" * 2**20 + b'"'),
                 b'{"jsonrpc": "2.0", "id": 1, "error": {"code": -32000, "message": "'
                 + b"y" * 2**20 + b'"}}'):
        node.body = body
        for read in reads:
            with pytest.raises(ChainRejected, match=rf"node at {node.url} ") as caught:
                read()
            assert len(str(caught.value)) < 500, str(caught.value)[:300]


@pytest.mark.parametrize("block", [
    b'{"number": "0x5", "hash": "0xab", "parentHash": "0xcd"}',  # no transactions
    b'{"number": "0x5", "hash": "0xab", "parentHash": "0xcd", "timestamp": "0x1", '
    b'"transactions": [{"hash": "0x01"}]}',  # a transaction without its fields
    b'{"number": 5, "hash": "0xab", "parentHash": "0xcd", "timestamp": "0x1", '
    b'"transactions": []}',  # a number where a quantity's text goes
    b'{"number": "0x5", "hash": ["0xab"], "parentHash": "0xcd", "timestamp": "0x1", '
    b'"transactions": [], "logs": 1}',
], ids=["no transactions", "a transaction without fields", "a bare number", "a list hash"])
def test_a_block_missing_a_field_or_of_the_wrong_kind_is_refused_by_name(
        node: Node, block: bytes) -> None:
    """What the node answered is read field by field: one missing or of another kind is the
    node's answer refused, naming the node and the block, never a KeyError out of kinko
    (the watch would stop)."""
    logs = b'[{"blockHash": "0xab", "address": "0x' + b"11" * 20 + b'", "topics": 5}]'
    node.body = batch(block, logs)
    with pytest.raises(ChainRejected, match=rf"node at {node.url} answered block 5 in a "
                                            "shape that is not Ethereum's"):
        EvmChain.connect(node.url).block(5)


def test_a_mempool_or_receipts_of_the_wrong_shape_are_refused_by_name(node: Node) -> None:
    chain = EvmChain.connect(node.url)
    node.body = envelope(b'{"pending": {"0x11": {"0": {"hash": "0x01"}}}}')
    with pytest.raises(ChainRejected, match="answered the pending transactions in a shape"):
        chain.mempool()
    node.body = batch(b'{"blockNumber": "0x5"}')
    with pytest.raises(ChainRejected, match="answered receipts in a shape"):
        chain.receipts(["0x" + "ab" * 32])
