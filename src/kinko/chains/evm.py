"""The ``Chain`` port for Ethereum, on web3.py.

Two ways to reach a chain, one adapter:

- :meth:`EvmChain.in_process`: an Ethereum chain inside this process (eth-tester on py-evm),
  the embedded default that needs no server; it lives as long as the process;
- :meth:`EvmChain.connect`: any Ethereum JSON-RPC endpoint (``KINKO_EVM_RPC_URL``), such as
  a geth or anvil node. Balance look-ups of many addresses go in batched JSON-RPC requests.

A block's transfers are its transactions (native coin, one record each, as sent, even if the
transaction failed) and the ERC-20 ``Transfer`` events its successful transactions emitted
(:mod:`kinko.chains.erc20`; ``token`` is the contract, ``log_index`` the event's position),
ordered by transaction, the native record before the transaction's events. Over JSON-RPC a
block and its logs are read in one batched request, and every log must name the block's hash:
a log of another block means the chain reorganised between the two reads (retried).
:meth:`EvmChain.pending` reads the node's mempool where it offers one (anvil and geth's
``txpool_content``); token transfers in it are decoded from their call data.

Library errors are translated here: connection failures, timeouts (``timeout`` seconds for
each read, ``deadline``, three times that by default, for a whole answer), HTTP 429/5xx,
an answer larger than 16 MiB or that :func:`~kinko.safeload.loads_json` refuses (not JSON,
nested too deep, a key twice; :mod:`kinko.chains.http_answer`, as the NIS1 adapter reads)
and the node's own rate-limit answers become :class:`Transient` (retried by
:class:`kinko.chains.retry.Retrying`), a refused transaction becomes
:class:`~kinko.errors.ChainRejected`. A node's JSON numbers with a fraction or an exponent
are read as Decimal, never float. Nothing here retries or sleeps.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from functools import lru_cache, partial
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

import requests
import urllib3
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from eth_utils.exceptions import ValidationError as EthValidationError
from web3 import EthereumTesterProvider, HTTPProvider, Web3
from web3._utils.caching.caching_utils import generate_cache_key
from web3._utils.http_session_manager import HTTPSessionManager
from web3.exceptions import (
    ProviderConnectionError,
    TransactionNotFound,
    Web3Exception,
    Web3RPCError,
)

from kinko.chains.eip7702 import authority
from kinko.chains.erc20 import (
    APPROVAL_TOPIC,
    TRANSFER_TOPIC,
    allowance_call,
    balance_of_call,
    decode_approve,
    decode_transfer,
)
from kinko.chains.http_answer import UnreadAnswer, parse_answer, read_answer, timely_session
from kinko.chains.named import node_says
from kinko.chains.safe_logs import (
    EVENT_TOPICS,
    EXEC_SELECTOR,
    NONCE_CALL,
    decode_executions,
    decode_log,
)
from kinko.domain.addresses import canonical_address
from kinko.domain.chain import AccountState, Allowance, Authorization, Block, Transfer
from kinko.domain.messages import Message, msg
from kinko.domain.safe import PendingExecution, SafeEvent
from kinko.errors import ChainRejected
from kinko.ports import Chain, Receipt
from kinko.shown import url_shown

__all__ = ["EvmChain", "EvmKey", "EvmNode", "Transient", "node_says"]

T = TypeVar("T")
_BATCH = 200
_RATE_LIMIT_HINTS = ("rate limit", "too many requests", "limit exceeded", "-32005")
_UNSUPPORTED_HINTS = ("not implemented", "not supported", "not found", "does not exist",
                      "not available", "unknown rpc", "unsupported")


class Transient(Exception):
    """A failure worth retrying (node unreachable, slow, overloaded or rate limiting)."""


class _BoundedSessions(HTTPSessionManager):
    """web3's HTTP sessions, each answer read within 16 MiB and ``deadline`` seconds
    (:func:`~kinko.chains.http_answer.read_answer`) where web3 reads it whole, however
    large and however slowly it comes."""

    def __init__(self, deadline: float) -> None:
        super().__init__()
        self.deadline = deadline

    def cache_and_return_session(self, endpoint_uri: Any, session: Any = None,
                                 request_timeout: float | None = None) -> Any:
        """web3's session for the endpoint (one per thread), made by
        :func:`~kinko.chains.http_answer.timely_session`: an answer's head within the
        deadline too."""
        if session is None:
            key = generate_cache_key(f"{threading.get_ident()}:{endpoint_uri}")
            if self.session_cache.get_cache_entry(key) is None:
                session = timely_session(self.deadline)
        return super().cache_and_return_session(endpoint_uri, session, request_timeout)

    def make_post_request(self, endpoint_uri: Any, data: bytes | dict[str, Any],
                          **kwargs: Any) -> bytes:
        until = time.monotonic() + self.deadline
        with self.get_response_from_post_request(endpoint_uri, data=data,
                                                 **{**kwargs, "stream": True}) as answer:
            answer.raise_for_status()
            return read_answer(answer, until, self.deadline)


class _BoundedHTTPProvider(HTTPProvider):
    """web3's JSON-RPC over HTTP, a single request or a batch, with each answer read by
    :class:`_BoundedSessions` and parsed by :func:`~kinko.chains.http_answer.parse_answer`
    (:func:`~kinko.safeload.loads_json`: bounded depth, no key twice, fractions as
    Decimal) where web3 parses with :func:`json.loads` (no bound on depth: 100,000 nested
    brackets overflow the C stack once py_ecc has raised the recursion limit, and the
    process dies)."""

    def __init__(self, url: str, *, timeout: float, deadline: float) -> None:
        super().__init__(url, request_kwargs={"timeout": timeout},
                         exception_retry_configuration=None)
        self._request_session_manager = _BoundedSessions(deadline)

    @staticmethod
    def decode_rpc_response(raw_response: bytes) -> Any:
        return parse_answer(raw_response)  # an HTTP error was raised before (_call's)


@lru_cache(maxsize=1 << 16)
def _address(address: str) -> str:
    """An address the node gave, in kinko's canonical form (cached: every address of every
    block is a hot path)."""
    return canonical_address(address, "ethereum")


def _brief(value: object) -> str:
    """What a node said, cut to 200 characters for a message (an answer can be 16 MiB)."""
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= 200 else text[:197] + "..."


def _hex(value: Any) -> str:
    return value.hex() if isinstance(value, bytes | bytearray) else str(value)


def _0x(value: Any) -> str:
    text = _hex(value)
    return text if text.startswith("0x") else "0x" + text


def _int(value: Any) -> int:
    """A JSON-RPC quantity (0x-hex text) or an integer web3 already formatted."""
    return value if isinstance(value, int) else int(value, 16)


_P = ParamSpec("_P")
# what reading an answer of the wrong shape raises: a field missing, a list for a text ...
_SHAPE_ERRORS = (KeyError, TypeError, ValueError, AttributeError, IndexError)


def _shaped(what: str, says: Callable[..., Message], alone: Message
            ) -> Callable[[Callable[Concatenate[Any, _P], T]], Callable[Concatenate[Any, _P], T]]:
    """A reading method of :class:`EvmChain` that parses what the node answered: a field
    missing or of the wrong kind there is the answer refused
    (:class:`~kinko.errors.ChainRejected` naming the node and ``what`` was asked,
    formatted with the method's arguments; ``says`` of those arguments is the same as a
    catalog message, ``alone`` the words alone), never a ``KeyError`` out of kinko."""
    def wrap(method: Callable[Concatenate[Any, _P], T]) -> Callable[Concatenate[Any, _P], T]:
        def read(self: Any, /, *args: _P.args, **kwargs: _P.kwargs) -> T:
            try:
                return method(self, *args, **kwargs)
            except _SHAPE_ERRORS as exc:
                try:
                    asked, said = what.format(*args), says(*args)
                except (IndexError, KeyError):  # called with keywords: the words alone
                    asked, said = what.partition(" {")[0], alone
                raise ChainRejected(f"{self.label} answered {asked} in a shape that is not "
                                    f"Ethereum's: {_brief(repr(exc))}",
                                    says=msg("error.evm.shape", node=self.label_says,
                                             asked=said, problem=_brief(repr(exc)))) from None
        read.__name__, read.__qualname__ = method.__name__, method.__qualname__
        read.__doc__ = method.__doc__
        return read
    return wrap


def _order(transfer: Transfer) -> tuple[int, int]:
    """By transaction, the native record (no log index) before the transaction's events."""
    return transfer.tx_index, -1 if transfer.log_index is None else transfer.log_index


def _token_transfers(logs: Sequence[Any], number: int, nonces: dict[str, int]) -> list[Transfer]:
    """ERC-20 ``Transfer`` records from a block's logs (raw JSON-RPC or web3-formatted).

    ``nonces`` maps the block's transaction hashes (lower-case 0x-hex) to their nonces. Logs
    that only look alike are skipped: ERC-721's ``Transfer`` has a fourth topic (the token
    id) and its data is empty."""
    out: list[Transfer] = []
    for log in logs:
        topics = log["topics"]
        if len(topics) != 3 or _0x(topics[0]).lower() != TRANSFER_TOPIC:
            continue
        data = _0x(log["data"])
        if len(data) != 66:  # 0x and one 32-byte word: the amount
            continue
        tx_hash = _0x(log["transactionHash"]).lower()
        if tx_hash not in nonces:
            raise Transient(f"a log of block {number} names transaction {tx_hash}, "
                            "which is not in the block")
        out.append(Transfer(
            tx_hash=tx_hash, block=number, tx_index=_int(log["transactionIndex"]),
            sender=_address("0x" + _0x(topics[1])[-40:]),
            to=_address("0x" + _0x(topics[2])[-40:]),
            value=int(data, 16), nonce=nonces[tx_hash],
            token=_address(_0x(log["address"])), log_index=_int(log["logIndex"]),
        ))
    return out


class EvmKey(Protocol):
    """A secp256k1 key as the EVM adapter uses it (the ``Signer`` port, plus signing a
    legacy transaction): :class:`~kinko.chains.keystore.KeystoreSigner` (a file) and
    :class:`~kinko.chains.hsm.HsmSigner` (an HSM)."""

    address: str

    def sign_digest(self, digest: bytes) -> bytes: ...
    def sign_message(self, text: str) -> str: ...
    def sign_transfer(self, *, to: str, value: int, nonce: int, gas_price: int,
                      chain_id: int, gas: int = 21_000, data: bytes = b"",
                      clear_delegation: bool = False) -> bytes: ...  # EIP-7702 type 4


class EvmNode(Chain, Protocol):
    """What the EVM wallet kinds (:mod:`kinko.chains.wallets`) and the Safe functions
    (:mod:`kinko.chains.safe`) need of a node beyond the ``Chain`` port: an
    :class:`EvmChain`, or one wrapped in :class:`~kinko.chains.retry.Retrying`."""

    @property
    def label(self) -> str: ...

    def nonce(self, address: str) -> int: ...
    def fee_params(self) -> tuple[int, int]: ...  # (chain id, gas price)
    def call(self, to: str, data: bytes, block: int | None = None,
             sender: str | None = None) -> bytes: ...
    def calls(self, calls: Sequence[tuple[str, bytes]], block: int | None = None,
              what: str = "calls") -> list[bytes]: ...
    def estimate_gas(self, sender: str, to: str, data: bytes, value: int = 0) -> int: ...
    def code(self, address: str, block: int | None = None) -> bytes: ...
    def logs(self, addresses: Sequence[str], from_block: int, to_block: int,
             topics: Sequence[str] | None = None) -> list[dict[str, Any]]: ...
    def wait_for(self, tx_hash: str, what: str, timeout: float = 30.0) -> dict[str, Any]: ...
def _allowances(logs: Sequence[Any]) -> list[Allowance]:
    """ERC-20 ``Approval`` records from a block's logs (raw JSON-RPC or web3-formatted)."""
    out: list[Allowance] = []
    for log in logs:
        topics = log["topics"]
        data = _0x(log["data"])
        if len(topics) != 3 or _0x(topics[0]).lower() != APPROVAL_TOPIC or len(data) != 66:
            continue
        out.append(Allowance(
            tx_hash=_0x(log["transactionHash"]).lower(), token=_address(_0x(log["address"])),
            owner=_address("0x" + _0x(topics[1])[-40:]),
            spender=_address("0x" + _0x(topics[2])[-40:]), value=int(data, 16),
            log_index=_int(log["logIndex"])))
    return out


def _authorizations(tx: dict[str, Any]) -> list[Authorization]:
    """The EIP-7702 authorizations a type-4 transaction (as a node shows it) carries, with
    their authorities recovered; items with an invalid signature are left out (the chain
    skips them too)."""
    out: list[Authorization] = []
    for item in tx.get("authorizationList") or ():
        signer = authority(item)
        if signer is not None:
            out.append(Authorization(
                tx_hash=_0x(tx["hash"]).lower(), sender=_address(str(tx["from"])),
                authority=signer, delegate=_address(str(item["address"])),
                nonce=_int(item["nonce"]), chain_id=_int(item["chainId"])))
    return out


class EvmChain:
    """Ethereum through web3.py; see the module docstring."""

    def __init__(self, w3: Web3, *, label: str, batch: bool, name: str = "ethereum",
                 label_says: Message | None = None) -> None:
        self.w3 = w3
        self._eth: Any = w3.eth  # web3's precise types add nothing at this boundary
        self.label = label
        # the label as a catalog message, for the errors' ``says``
        self.label_says = label_says or msg("error.evm.node.named", name=name[:80])
        self.name = name
        self._batch = batch
        # refusals a library raises outside web3's own exception tree (eth-tester's, set by
        # in_process, so a JSON-RPC process need not import eth-tester)
        self._refusals: tuple[type[Exception], ...] = ()

    @classmethod
    def in_process(cls) -> EvmChain:
        from eth.exceptions import PyEVMError
        from eth_tester import EthereumTester, PyEVMBackend
        from eth_tester.exceptions import TransactionFailed
        from rlp.exceptions import RLPException

        tester = EthereumTester(PyEVMBackend())
        chain = cls(Web3(EthereumTesterProvider(tester)), label="in-process chain", batch=False,
                    label_says=msg("error.evm.node.in_process"))
        # e.g. a call that reverts while gas is estimated; bytes that decode to no transaction
        # (a node over JSON-RPC answers those with an error, which web3 raises)
        chain._refusals = (TransactionFailed, RLPException, PyEVMError)
        return chain

    @classmethod
    def connect(cls, url: str, *, timeout: float = 10.0, name: str = "ethereum",
                deadline: float | None = None) -> EvmChain:
        """The node at ``url``: ``timeout`` seconds for each connection and each read,
        ``deadline`` (three times ``timeout`` by default) for a whole answer."""
        provider = _BoundedHTTPProvider(url, timeout=timeout,
                                        deadline=3 * timeout if deadline is None else deadline)
        shown = url_shown(url)  # never a provider's key in its path or query
        return cls(Web3(provider), label=f"node at {shown}", batch=True, name=name,
                   label_says=msg("error.evm.node.at", url=shown))

    # ------------------------------------------------------------------ errors

    def _call(self, fn: Callable[[], T], what: str, asked: Message) -> T:
        """``fn()``, a library's failure translated (see the module docstring); ``asked`` is
        ``what`` as a catalog message."""
        try:
            return fn()
        except UnreadAnswer as exc:
            raise Transient(exc.says(self.label, what)) from None
        except (requests.ConnectionError, requests.Timeout, ProviderConnectionError,
                ConnectionError, TimeoutError, urllib3.exceptions.HTTPError) as exc:
            raise Transient(f"{self.label} did not answer {what}: {type(exc).__name__}") from None
        except requests.HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else 0
            if status == 429 or status >= 500:
                raise Transient(f"{self.label} answered HTTP {status} to {what}") from None
            raise ChainRejected(f"{self.label} refused {what}: HTTP {status}",
                                says=msg("error.evm.refused_http", node=self.label_says,
                                         asked=asked, status=str(status))) from None
        except Web3RPCError as exc:
            message = str(exc)
            if any(hint in message.lower() for hint in _RATE_LIMIT_HINTS):
                raise Transient(f"{self.label} is rate limiting {what}") from None
            raise ChainRejected(f"{self.label} refused {what}: {_brief(message)}",
                                says=self._refused(asked, message)) from None
        except (ValueError, Web3Exception, EthValidationError) as exc:
            raise ChainRejected(f"{self.label} refused {what}: {_brief(str(exc))}",
                                says=self._refused(asked, str(exc))) from None
        except self._refusals as exc:
            raise ChainRejected(f"{self.label} refused {what}: {_brief(str(exc))}",
                                says=self._refused(asked, str(exc))) from None

    def _refused(self, asked: Message, reason: str) -> Message:
        """"The node refused what was asked: its words" as a catalog message (the node's
        own words as it said them, cut to 200 characters)."""
        return msg("error.evm.refused", node=self.label_says, asked=asked,
                   reason=_brief(reason))

    # ------------------------------------------------------------------ reading

    def head(self) -> int:
        return int(self._call(lambda: self._eth.block_number, "the head block number",
                              msg("error.evm.asked.head")))

    @_shaped("block {0}", lambda *a: msg("error.evm.asked.block", block=str(a[0])),
             msg("error.evm.asked.block_words"))
    def block(self, number: int) -> Block:
        if self._batch:  # a JSON-RPC node: read the raw answer, skip web3's formatters
            return self._raw_block(number)
        raw = self._call(lambda: self._eth.get_block(number, full_transactions=True),
                         f"block {number}", msg("error.evm.asked.block", block=str(number)))
        transfers = [
            Transfer(
                tx_hash=_0x(tx["hash"]), block=number,
                tx_index=int(tx.get("transactionIndex", position)),  # eth-tester omits it
                sender=_address(str(tx["from"])),
                to=_address(str(tx["to"])) if tx.get("to") else None,
                value=int(tx["value"]), nonce=int(tx["nonce"]),
            )
            for position, tx in enumerate(raw["transactions"])
        ]
        if transfers:  # a block without transactions has no logs
            every = self._call(lambda: self._eth.get_logs({"fromBlock": number,
                                                           "toBlock": number}),
                               f"the logs of block {number}",
                               msg("error.evm.asked.block_logs", block=str(number)))
            # eth-tester numbers logs within each transaction, a node within the block: all
            # the block's logs (not only transfers) are read to number them as a node does
            ordered = sorted(every, key=lambda log: (int(log["transactionIndex"]),
                                                     int(log["logIndex"])))
            logs = [{**log, "logIndex": position} for position, log in enumerate(ordered)]
            nonces = {t.tx_hash.lower(): t.nonce for t in transfers}
            tokens = _token_transfers(logs, number, nonces)
            if tokens:
                transfers = sorted(transfers + tokens, key=_order)
            allowances = _allowances(logs)
        else:
            allowances = []
        return Block(number=int(raw["number"]), hash=_0x(raw["hash"]),
                     parent_hash=_0x(raw["parentHash"]), timestamp=int(raw["timestamp"]),
                     transfers=tuple(transfers), allowances=tuple(allowances))

    def _rpc_result(self, answer: Any, what: str, asked: Message) -> Any:
        """The result of one JSON-RPC answer, or the error translated (``asked``: ``what``
        as a catalog message)."""
        if not isinstance(answer, dict):
            raise ChainRejected(f"{self.label} gave no JSON-RPC answer to {what}",
                                says=msg("error.evm.no_answer", node=self.label_says,
                                         asked=asked))
        if "error" in answer:
            error = answer["error"]
            message = str(error.get("message", error) if isinstance(error, dict) else error)
            if any(hint in message.lower() for hint in _RATE_LIMIT_HINTS):
                raise Transient(f"{self.label} is rate limiting {what}")
            raise ChainRejected(f"{self.label} refused {what}: {_brief(message)}",
                                says=self._refused(asked, message))
        return answer.get("result")

    @_shaped("block {0}", lambda *a: msg("error.evm.asked.block", block=str(a[0])),
             msg("error.evm.asked.block_words"))
    def block_and_states(self, number: int, addresses: Sequence[str], tokens: Sequence[str]
                         ) -> tuple[Block, dict[str, AccountState]]:
        """Block ``number`` and what ``addresses`` hold after it (:meth:`states`): over
        JSON-RPC in one batched request (one round trip per block for the watch)."""
        if not self._batch or len(addresses) * (3 + len(tokens)) > _BATCH:
            return self.block(number), self.states(addresses, tokens, number)
        calls = self._state_calls(addresses, tokens, hex(number))
        block, answers = self._raw_block_with(number, calls)
        what = f"the state of {len(addresses)} address(es) at block {number}"
        asked = msg("error.evm.asked.states", count=len(addresses), block=str(number))
        return block, self._parse_states(addresses, tokens, number,
                                         [self._rpc_result(a, what, asked) for a in answers])

    def _raw_block(self, number: int) -> Block:
        return self._raw_block_with(number, [])[0]

    def _raw_block_with(self, number: int, extra: list[tuple[str, list[Any]]]
                        ) -> tuple[Block, list[Any]]:
        """A block and its logs, and the raw answers to ``extra`` calls in the same batch."""
        provider: Any = self.w3.provider
        tag = hex(number)
        asked = msg("error.evm.asked.block", block=str(number))
        answers = self._call(lambda: provider.make_batch_request([
            ("eth_getBlockByNumber", [tag, True]),
            ("eth_getLogs", [{"fromBlock": tag, "toBlock": tag,
                              "topics": [[TRANSFER_TOPIC, APPROVAL_TOPIC]]}]),
            *extra,
        ]), f"block {number}", asked)
        if not isinstance(answers, list) or len(answers) != 2 + len(extra):
            self._rpc_result(answers, f"block {number}", asked)  # one error for the batch
            raise ChainRejected(f"{self.label} answered block {number} with {_brief(answers)}",
                                says=msg("error.evm.answered_with", node=self.label_says,
                                         asked=asked, answer=_brief(answers)))
        raw = self._rpc_result(answers[0], f"block {number}", asked)
        if raw is None:
            raise ChainRejected(f"{self.label} has no block {number}",
                                says=msg("error.evm.no_block", node=self.label_says,
                                         block=str(number)))
        logs = self._rpc_result(answers[1], f"the logs of block {number}",
                                msg("error.evm.asked.block_logs", block=str(number)))
        transfers = [
            Transfer(
                tx_hash=tx["hash"], block=number, tx_index=int(tx["transactionIndex"], 16),
                sender=_address(tx["from"]), to=_address(tx["to"]) if tx.get("to") else None,
                value=int(tx["value"], 16), nonce=int(tx["nonce"], 16),
            )
            for tx in raw["transactions"]
        ]
        if logs:
            block_hash = raw["hash"].lower()
            if any(str(log.get("blockHash", "")).lower() != block_hash for log in logs):
                raise Transient(f"{self.label} reorganised block {number} while it was read")
            nonces = {t.tx_hash.lower(): t.nonce for t in transfers}
            transfers = sorted(transfers + _token_transfers(logs, number, nonces), key=_order)
        authorizations = [a for tx in raw["transactions"] if tx.get("authorizationList")
                          for a in _authorizations(tx)]
        return Block(number=int(raw["number"], 16), hash=raw["hash"],
                     parent_hash=raw["parentHash"], timestamp=int(raw["timestamp"], 16),
                     transfers=tuple(transfers), authorizations=tuple(authorizations),
                     allowances=tuple(_allowances(logs or ()))), answers[2:]

    def pending(self) -> tuple[Transfer, ...]:
        """Transactions waiting in the node's mempool (pending and queued), as transfers with
        ``block`` and ``tx_index`` -1; a token transfer also as a token record with
        ``log_index`` -1. ``()`` if the node does not show its mempool (eth-tester)."""
        return self.mempool().transfers

    @_shaped("the pending transactions", lambda *a: msg("error.evm.asked.pending"),
             msg("error.evm.asked.pending"))
    def mempool(self) -> Block:
        """The node's mempool as a block numbered -1: its transfers (see :meth:`pending`),
        the EIP-7702 authorizations of its type-4 transactions and the allowances its
        ``approve`` calls would grant; empty if the node does not show its mempool."""
        empty = Block(-1, "", "", 0)
        provider: Any = self.w3.provider
        answer = self._call(lambda: provider.make_request("txpool_content", []),
                            "the pending transactions", msg("error.evm.asked.pending"))
        error = answer.get("error") if isinstance(answer, dict) else None
        if error is not None:
            code = error.get("code") if isinstance(error, dict) else None
            message = str(error.get("message", error) if isinstance(error, dict) else error)
            if code == -32601 or any(h in message.lower() for h in _UNSUPPORTED_HINTS):
                return empty
        content = self._rpc_result(answer, "the pending transactions",
                                   msg("error.evm.asked.pending")) or {}
        txs = [tx for section in ("pending", "queued")
               for by_nonce in (content.get(section) or {}).values()
               for tx in by_nonce.values()]
        txs.sort(key=lambda tx: (str(tx["from"]).lower(), _int(tx["nonce"])))
        out: list[Transfer] = []
        authorizations: list[Authorization] = []
        allowances: list[Allowance] = []
        for tx in txs:
            sender = _address(tx["from"])
            to = _address(tx["to"]) if tx.get("to") else None
            native = Transfer(tx_hash=_0x(tx["hash"]), block=-1, tx_index=-1, sender=sender,
                              to=to, value=_int(tx["value"]), nonce=_int(tx["nonce"]))
            out.append(native)
            if tx.get("authorizationList"):
                authorizations += _authorizations(tx)
            call = tx.get("input", tx.get("data"))
            moved = decode_transfer(call, sender) if to is not None and call else None
            if moved is not None:
                out.append(Transfer(
                    tx_hash=native.tx_hash, block=-1, tx_index=-1, sender=moved[0],
                    to=moved[1], value=moved[2], nonce=native.nonce, token=to, log_index=-1))
            granted = decode_approve(call) if to is not None and call else None
            if granted is not None and to is not None:
                allowances.append(Allowance(native.tx_hash.lower(), to, sender, granted[0],
                                            granted[1]))
        return Block(-1, "", "", 0, tuple(out), tuple(authorizations), tuple(allowances))

    @_shaped("the pending transactions", lambda *a: msg("error.evm.asked.pending"),
             msg("error.evm.asked.pending"))
    def pending_calls(self, to: Sequence[str]) -> list[dict[str, Any]]:
        """The transactions to the contracts ``to`` waiting in the node's mempool, each as
        ``{"tx_hash", "sender", "to", "nonce", "data" (bytes)}``; none when the node does not
        show its mempool."""
        wanted = {_address(a) for a in to}
        provider: Any = self.w3.provider
        answer = self._call(lambda: provider.make_request("txpool_content", []),
                            "the pending transactions", msg("error.evm.asked.pending"))
        if isinstance(answer, dict) and answer.get("error") is not None:
            return []  # no mempool shown: the blocks say it
        content = self._rpc_result(answer, "the pending transactions",
                                   msg("error.evm.asked.pending")) or {}
        out: list[dict[str, Any]] = []
        for section in ("pending", "queued"):
            for by_nonce in (content.get(section) or {}).values():
                for tx in by_nonce.values():
                    if not tx.get("to") or _address(tx["to"]) not in wanted:
                        continue
                    call = tx.get("input", tx.get("data")) or "0x"
                    out.append({"tx_hash": _0x(tx["hash"]), "sender": _address(tx["from"]),
                                "to": _address(tx["to"]), "nonce": _int(tx["nonce"]),
                                "data": bytes.fromhex(_0x(call)[2:])})
        return out

    def pending_executions(self, safes: Sequence[str]) -> list[PendingExecution]:
        """The ``execTransaction`` calls to ``safes`` waiting in the mempool, each with the
        SafeTx hashes it may execute (:func:`kinko.chains.safe_logs.decode_executions`,
        the Safes' nonces read now); none when the node shows no mempool."""
        calls = [c for c in self.pending_calls(safes) if c["data"][:4] == EXEC_SELECTOR]
        if not calls:
            return []
        nonces = {safe: int.from_bytes(self.call(safe, NONCE_CALL)[:32], "big")
                  for safe in sorted({str(c["to"]).lower() for c in calls})}
        return decode_executions(calls, self.fee_params()[0], nonces)

    @_shaped("transaction {0}", lambda *a: msg("error.evm.asked.transaction", tx=str(a[0])[:100]),
             msg("error.evm.asked.transaction_words"))
    def transaction(self, tx_hash: str) -> dict[str, Any] | None:
        """What the node knows of a transaction: ``{"sender", "nonce", "gas_price" (the
        most it pays per gas), "block" (None while pending)}``; None if it does not know it
        (never seen, or dropped from its mempool)."""
        def fetch() -> Any:
            try:
                return self._eth.get_transaction(tx_hash)
            except TransactionNotFound:
                return None

        raw = self._call(fetch, f"transaction {tx_hash}",
                         msg("error.evm.asked.transaction", tx=str(tx_hash)[:100]))
        if raw is None:
            return None
        price = raw.get("maxFeePerGas") or raw.get("gasPrice") or 0
        return {"sender": _address(str(raw["from"])), "nonce": int(raw["nonce"]),
                "gas_price": int(price), "block": raw.get("blockNumber")}

    @_shaped("receipts", lambda *a: msg("error.evm.asked.receipts"),
             msg("error.evm.asked.receipts"))
    def receipts(self, tx_hashes: Sequence[str]) -> dict[str, Receipt]:
        """The receipts of mined transactions among ``tx_hashes`` (lower-case hash →
        receipt), batched over JSON-RPC; a transaction not mined is left out."""
        hashes = list(dict.fromkeys(h.lower() for h in tx_hashes))
        if not self._batch:
            found = ((h, self.receipt(h)) for h in hashes)
            return {h: r for h, r in found if r is not None}
        provider: Any = self.w3.provider
        out: dict[str, Receipt] = {}
        for i in range(0, len(hashes), _BATCH):
            chunk = hashes[i : i + _BATCH]
            what = f"{len(chunk)} receipts"
            asked = msg("error.evm.asked.receipts_count", count=len(chunk))
            answers = self._call(lambda chunk=chunk: provider.make_batch_request(  # type: ignore[misc]
                [("eth_getTransactionReceipt", [h]) for h in chunk]), what, asked)
            if not isinstance(answers, list) or len(answers) != len(chunk):
                self._rpc_result(answers, what, asked)
                raise ChainRejected(f"{self.label} answered {what} with {_brief(answers)}",
                                    says=msg("error.evm.answered_with", node=self.label_says,
                                             asked=asked, answer=_brief(answers)))
            for h, answer in zip(chunk, answers, strict=True):
                raw = self._rpc_result(answer, what, asked)
                if raw and raw.get("blockNumber") is not None:
                    out[h] = Receipt(tx_hash=h, block=_int(raw["blockNumber"]),
                                     ok=_int(raw["status"]) == 1,
                                     fee=_int(raw["gasUsed"])
                                     * _int(raw.get("effectiveGasPrice") or "0x0"))
        return out

    @_shaped("the approvals granted by {0}",
             lambda *a: msg("error.evm.asked.approvals", owner=str(a[0])[:100]),
             msg("error.evm.asked.approvals_words"))
    def allowances(self, owner: str, tokens: Sequence[str], from_block: int = 0
                   ) -> list[tuple[str, str, int]]:
        """The allowances ``owner`` has open on ``tokens``: (token, spender, amount) for
        every spender an ``Approval`` event since ``from_block`` names whose allowance is not
        zero now (``allowance(owner, spender)``)."""
        if not tokens:
            return []
        owner_topic = "0x" + canonical_address(owner, "ethereum")[2:].rjust(64, "0")
        query: dict[str, Any] = {"fromBlock": from_block, "toBlock": "latest",
                                 "address": [to_checksum_address(t) for t in tokens],
                                 "topics": [APPROVAL_TOPIC, owner_topic]}
        raw = self._call(lambda: self._eth.get_logs(query),
                         f"the approvals granted by {owner}",
                         msg("error.evm.asked.approvals", owner=owner[:100]))
        pairs = list(dict.fromkeys(
            (_address(_0x(log["address"])), _address("0x" + _0x(log["topics"][2])[-40:]))
            for log in raw if len(log["topics"]) == 3))
        if not pairs:
            return []
        words = self.calls([(token, allowance_call(owner, spender)) for token, spender in pairs],
                           what=f"the allowances granted by {owner}",
                           asked=msg("error.evm.asked.allowances", owner=owner[:100]))
        return [(token, spender, int.from_bytes(word[-32:], "big"))
                for (token, spender), word in zip(pairs, words, strict=True)
                if len(word) >= 32 and int.from_bytes(word[-32:], "big") > 0]

    @_shaped("the state of addresses at block {2}",
             lambda *a: msg("error.evm.asked.addresses", block=str(a[2])),
             msg("error.evm.asked.addresses_words"))
    def states(self, addresses: Sequence[str], tokens: Sequence[str], block: int
               ) -> dict[str, AccountState]:
        """What each address holds at ``block``: native balance, nonce, code and the
        balance of each token contract in ``tokens`` (keyed by the addresses as given); over
        JSON-RPC all in batched requests, three calls per address and one per token."""
        given = list(addresses)
        per = 3 + len(tokens)
        if not self._batch:
            out: dict[str, AccountState] = {}
            for a in given:
                c = to_checksum_address(a)
                held = tuple((t, self.balances([a], block, token=t)[a]) for t in tokens)
                out[a] = AccountState(
                    native=int(self._call(lambda c=c: self._eth.get_balance(c, block),  # type: ignore[misc]
                                          f"the balance of {c}",
                                          msg("error.evm.asked.balance", address=c))),
                    nonce=int(self._call(lambda c=c: self._eth.get_transaction_count(c, block),  # type: ignore[misc]
                                         f"the nonce of {c}",
                                         msg("error.evm.asked.nonce", address=c))),
                    code=self.code(a, block), tokens=held)
            return out
        provider: Any = self.w3.provider
        calls = self._state_calls(given, tokens, hex(block))
        step = max(per, (_BATCH // per) * per)
        answers: list[Any] = []
        for i in range(0, len(calls), step):
            chunk = calls[i : i + step]
            what = f"the state of {len(chunk) // per} address(es) at block {block}"
            asked = msg("error.evm.asked.states", count=len(chunk) // per, block=str(block))
            got = self._call(lambda chunk=chunk: provider.make_batch_request(chunk), what, asked)  # type: ignore[misc]
            if not isinstance(got, list) or len(got) != len(chunk):
                self._rpc_result(got, what, asked)
                raise ChainRejected(f"{self.label} answered {what} with {_brief(got)}",
                                    says=msg("error.evm.answered_with", node=self.label_says,
                                             asked=asked, answer=_brief(got)))
            answers += [self._rpc_result(a, what, asked) for a in got]
        return self._parse_states(given, tokens, block, answers)

    @staticmethod
    def _state_calls(addresses: Sequence[str], tokens: Sequence[str], tag: str
                     ) -> list[tuple[str, list[Any]]]:
        calls: list[tuple[str, list[Any]]] = []
        for a in addresses:
            c = to_checksum_address(a)
            calls += [("eth_getBalance", [c, tag]), ("eth_getTransactionCount", [c, tag]),
                      ("eth_getCode", [c, tag])]
            calls += [("eth_call", [{"to": to_checksum_address(t),
                                     "data": "0x" + balance_of_call(a).hex()}, tag])
                      for t in tokens]
        return calls

    def _parse_states(self, addresses: Sequence[str], tokens: Sequence[str], block: int,
                      answers: list[Any]) -> dict[str, AccountState]:
        per = 3 + len(tokens)
        result: dict[str, AccountState] = {}
        for n, a in enumerate(addresses):
            row = answers[n * per : (n + 1) * per]
            balances: list[tuple[str, int]] = []
            for t, word in zip(tokens, row[3:], strict=True):
                data = bytes.fromhex(_hex(word).removeprefix("0x"))
                if len(data) != 32:
                    raise ChainRejected(f"{self.label} answered balanceOf({a}) of {t} at block "
                                        f"{block} with {len(data)} bytes: no ERC-20 contract "
                                        "there",
                                        says=msg("error.evm.not_erc20", node=self.label_says,
                                                 address=str(a)[:100], token=str(t)[:100],
                                                 block=str(block), size=len(data)))
                balances.append((t, int.from_bytes(data, "big")))
            result[a] = AccountState(native=_int(row[0]), nonce=_int(row[1]),
                                     code=bytes.fromhex(_hex(row[2]).removeprefix("0x")),
                                     tokens=tuple(balances))
        return result

    def balances(self, addresses: Sequence[str], block: int | None = None,
                 token: str | None = None) -> dict[str, int]:
        """Balances at ``block`` (default latest), batched over JSON-RPC: of the native coin,
        or with ``token`` of that ERC-20 contract (its ``balanceOf``); keyed by the
        addresses as given."""
        at: Any = "latest" if block is None else block
        out: dict[str, int] = {}
        given = list(addresses)
        items = [to_checksum_address(a) for a in given]  # web3 takes the EIP-55 spelling
        contract = None if token is None else to_checksum_address(token)

        def ask(a: str) -> Any:  # a web3 call, or its batch placeholder inside a batch
            if contract is None:
                return self._eth.get_balance(a, at)
            return self._eth.call({"to": contract, "data": balance_of_call(a)}, at)

        def value(a: str, answer: Any) -> int:
            if contract is None:
                return int(answer)
            if len(answer) != 32:  # "0x": no contract there (at that block)
                said = msg("error.evm.not_erc20_latest", node=self.label_says, address=a,
                           token=str(contract), size=len(answer)) if block is None else \
                    msg("error.evm.not_erc20_at", node=self.label_says, address=a,
                        token=str(contract), block=str(block), size=len(answer))
                raise ChainRejected(
                    f"{self.label} answered balanceOf({a}) of {contract} at {at} with "
                    f"{len(answer)} bytes: no ERC-20 contract there", says=said)
            return int.from_bytes(answer, "big")

        if not self._batch:
            for key, a in zip(given, items, strict=True):
                out[key] = value(a, self._call(partial(ask, a), f"the balance of {a}",
                                               msg("error.evm.asked.balance", address=a)))
            return out
        for i in range(0, len(items), _BATCH):
            chunk = items[i : i + _BATCH]

            def fetch(chunk: Sequence[str] = chunk) -> list[Any]:
                with self.w3.batch_requests() as batch:
                    for a in chunk:
                        batch.add(ask(a))
                    return list(batch.execute())

            answers = self._call(fetch, f"{len(chunk)} balances",
                                 msg("error.evm.asked.balances", count=len(chunk)))
            out.update((key, value(a, v)) for key, a, v in
                       zip(given[i : i + _BATCH], chunk, answers, strict=True))
        return out

    def nonce(self, address: str) -> int:
        a = to_checksum_address(address)
        return int(self._call(lambda: self._eth.get_transaction_count(a, "pending"),
                              f"the nonce of {a}", msg("error.evm.asked.nonce", address=a)))

    def caip2(self) -> str:
        """``eip155:<chain id>`` (CAIP-2), the chain id as the node says it."""
        chain_id = self._call(lambda: self._eth.chain_id, "the chain id",
                              msg("error.evm.asked.chain_id"))
        return f"eip155:{int(chain_id)}"

    def fee_params(self) -> tuple[int, int]:
        chain_id = int(self._call(lambda: self._eth.chain_id, "the chain id",
                                  msg("error.evm.asked.chain_id")))
        gas_price = int(self._call(lambda: self._eth.gas_price, "the gas price",
                                   msg("error.evm.asked.gas_price")))
        return chain_id, gas_price

    @_shaped("the receipt of {0}",
             lambda *a: msg("error.evm.asked.receipt", tx=str(a[0])[:100]),
             msg("error.evm.asked.receipt_words"))
    def receipt(self, tx_hash: str) -> Receipt | None:
        def fetch() -> Any:
            try:
                return self._eth.get_transaction_receipt(tx_hash)
            except TransactionNotFound:
                return None

        raw = self._call(fetch, f"the receipt of {tx_hash}",
                         msg("error.evm.asked.receipt", tx=str(tx_hash)[:100]))
        if raw is None or raw.get("blockNumber") is None:
            return None
        fee = int(raw["gasUsed"]) * int(raw.get("effectiveGasPrice") or 0)
        payer = _address(str(raw["from"])) if raw.get("from") else None
        return Receipt(tx_hash=_0x(raw["transactionHash"]), block=int(raw["blockNumber"]),
                       ok=int(raw["status"]) == 1, fee=fee, payer=payer)

    # ------------------------------------------------------------------ writing

    def tx_hash(self, raw: bytes) -> str:
        """The hash a node will give a signed transaction (Keccak-256 of its bytes): known
        before broadcasting, so a crash between sending and recording loses nothing."""
        return "0x" + keccak(raw).hex()

    def send_raw(self, raw: bytes) -> str:
        asked = msg("error.evm.asked.send")
        if not raw:  # what a node refuses before decoding anything
            raise ChainRejected(f"{self.label} refused a signed transaction: it is empty",
                                says=msg("error.evm.send_empty", node=self.label_says))
        return _0x(self._call(lambda: self._eth.send_raw_transaction(raw),
                              "a signed transaction", asked))

    def wait_for(self, tx_hash: str, what: str, timeout: float = 30.0) -> dict[str, Any]:
        """Wait until ``tx_hash`` is mined; its raw receipt (logs included), successful or
        not. :class:`Transient` if it is not mined within ``timeout`` seconds."""
        def fetch() -> Any:
            try:
                return self._eth.get_transaction_receipt(tx_hash)
            except TransactionNotFound:
                return None

        deadline = time.monotonic() + timeout
        asked = msg("error.evm.asked.receipt", tx=str(tx_hash)[:100])
        while (receipt := self._call(fetch, f"the receipt of {tx_hash}", asked)) is None \
                or receipt.get("blockNumber") is None:
            if time.monotonic() > deadline:
                raise Transient(f"{self.label} did not mine {what} transaction {tx_hash}")
            time.sleep(0.02)
        return dict(receipt)

    # ------------------------------------------------------------------ contracts

    def call(self, to: str, data: bytes, block: int | None = None,
             sender: str | None = None) -> bytes:
        """``eth_call``: what calling ``to`` with ``data`` returns at ``block`` (default
        latest), nothing sent. A revert is :class:`~kinko.errors.ChainRejected`."""
        tx: dict[str, Any] = {"to": to_checksum_address(to), "data": "0x" + data.hex()}
        if sender is not None:
            tx["from"] = to_checksum_address(sender)
        at: Any = "latest" if block is None else block
        return bytes(self._call(lambda: self._eth.call(tx, at), f"a call to {tx['to']}",
                                msg("error.evm.asked.call", to=tx["to"])))

    def calls(self, calls: Sequence[tuple[str, bytes]], block: int | None = None,
              what: str = "calls", asked: Message | None = None) -> list[bytes]:
        """``eth_call`` of each (``to``, ``data``) at ``block`` (default latest), answered as
        :meth:`call` answers: over a node in one batched JSON-RPC request (one round trip),
        one by one in process. A revert of any is :class:`~kinko.errors.ChainRejected`.
        ``asked`` is ``what`` as a catalog message (without it, "calls", or for another
        ``what`` only "a request": pass it where ``what`` is given)."""
        if asked is None:
            asked = msg("error.evm.asked.calls") if what == "calls" else \
                msg("error.evm.asked.unnamed")
        if not self._batch:
            return [self.call(to, data, block) for to, data in calls]
        provider: Any = self.w3.provider
        tag = "latest" if block is None else hex(block)
        requests_ = [("eth_call", [{"to": to_checksum_address(to), "data": "0x" + data.hex()},
                                   tag]) for to, data in calls]
        answers = self._call(lambda: provider.make_batch_request(requests_), what, asked)
        if not isinstance(answers, list) or len(answers) != len(calls):  # one error for all
            self._rpc_result(answers, what, asked)
            raise ChainRejected(f"{self.label} answered {what} with {_brief(answers)}",
                                says=msg("error.evm.answered_with", node=self.label_says,
                                         asked=asked, answer=_brief(answers)))
        return [bytes.fromhex(_hex(self._rpc_result(a, what, asked)).removeprefix("0x"))
                for a in answers]

    def estimate_gas(self, sender: str, to: str, data: bytes, value: int = 0) -> int:
        """The gas ``sender`` needs to call ``to``; :class:`~kinko.errors.ChainRejected`
        if the call would revert."""
        tx = {"from": to_checksum_address(sender), "to": to_checksum_address(to),
              "data": "0x" + data.hex(), "value": value}
        return int(self._call(lambda: self._eth.estimate_gas(tx),
                              f"a gas estimate for a call to {tx['to']}",
                              msg("error.evm.asked.estimate", to=str(tx["to"]))))

    def code(self, address: str, block: int | None = None) -> bytes:
        """The runtime code at ``address`` (empty for an account without code)."""
        a = to_checksum_address(address)
        at: Any = "latest" if block is None else block
        return bytes(self._call(lambda: self._eth.get_code(a, at), f"the code at {a}",
                                msg("error.evm.asked.code", address=a)))

    def logs(self, addresses: Sequence[str], from_block: int, to_block: int,
             topics: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """The logs the contracts at ``addresses`` emitted in blocks ``from_block`` to
        ``to_block``, optionally only those whose first topic is in ``topics``, ordered by
        block, transaction and position, each as ``{"address", "topics" (bytes),
        "data" (bytes), "block", "tx_hash", "tx_index", "log_index"}``. (``log_index``
        counts within the block on a node, within the transaction on eth-tester.)"""
        query: dict[str, Any] = {"fromBlock": from_block, "toBlock": to_block,
                                 "address": [to_checksum_address(a) for a in addresses]}
        if topics is not None:
            query["topics"] = [list(topics)]
        raw = self._call(lambda: self._eth.get_logs(query),
                         f"the logs of blocks {from_block}-{to_block}",
                         msg("error.evm.asked.logs", first=str(from_block), last=str(to_block)))
        out = [{"address": _address(_0x(log["address"])),
                "topics": [bytes.fromhex(_0x(t)[2:]) for t in log["topics"]],
                "data": bytes.fromhex(_0x(log["data"])[2:]),
                "block": int(log["blockNumber"]), "tx_hash": _0x(log["transactionHash"]),
                "tx_index": int(log["transactionIndex"]), "log_index": int(log["logIndex"])}
               for log in raw]
        out.sort(key=lambda log: (log["block"], log["tx_index"], log["log_index"]))
        return out

    def safe_events(self, safes: Sequence[str], from_block: int, to_block: int
                    ) -> list[SafeEvent]:
        """The Safe{Wallet} events ``safes`` emitted in blocks ``from_block`` to
        ``to_block``, in chain order (:func:`kinko.chains.safe_logs.decode_log`): how the
        watch sees a Safe's executions and changes of control."""
        if not safes:
            return []
        logs = self.logs(safes, from_block, to_block, topics=list(EVENT_TOPICS))
        return [event for log in logs if (event := decode_log(log)) is not None]

    # ------------------------------------------------------------------ development nodes

    def fund(self, address: str, value: int) -> str:
        """Send ``value`` from the node's first unlocked account and wait until it is mined
        (test and demo nodes only: a busy node mines a moment after accepting)."""
        tx_hash, _ = self.dev_transact({"to": to_checksum_address(address), "value": value},
                                       "funding", msg("error.evm.asked.funding"))
        return tx_hash

    def dev_transact(self, tx: dict[str, Any], what: str, asked: Message | None = None
                     ) -> tuple[str, dict[str, Any]]:
        """Send ``tx`` from the node's first unlocked account, wait until it is mined and
        return its hash and raw receipt; :class:`ChainRejected` if it failed (test and demo
        nodes only). ``asked`` is ``what`` as a catalog message (without it, only "a
        request")."""
        if asked is None:
            asked = msg("error.evm.asked.unnamed")
        sender = self._eth.accounts[0]
        tx_hash = _0x(self._call(lambda: self._eth.send_transaction({"from": sender, **tx}),
                                 what, asked))
        receipt = self.wait_for(tx_hash, what)
        if int(receipt["status"]) != 1:
            raise ChainRejected(f"{self.label} mined {what} transaction {tx_hash}, which failed",
                                says=msg("error.evm.tx_failed", node=self.label_says,
                                         asked=asked, tx=tx_hash))
        return tx_hash, receipt

    def snapshot(self) -> object:
        """Remember the chain's state (test and demo nodes only); an opaque id."""
        provider: Any = self.w3.provider
        return self._call(lambda: provider.make_request("evm_snapshot", []),
                          "evm_snapshot", msg("error.evm.asked.method", method="evm_snapshot")
                          )["result"]

    def revert(self, snapshot: object) -> None:
        """Go back to a snapshot, dropping every block since: a reorganisation."""
        provider: Any = self.w3.provider
        self._call(lambda: provider.make_request("evm_revert", [snapshot]), "evm_revert",
                   msg("error.evm.asked.method", method="evm_revert"))

    def mine(self, blocks: int = 1) -> None:
        """Mine empty blocks (test and demo nodes only)."""
        provider: Any = self.w3.provider
        for _ in range(blocks):
            self._call(lambda: provider.make_request("evm_mine", []), "evm_mine",
                       msg("error.evm.asked.method", method="evm_mine"))
