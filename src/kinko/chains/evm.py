"""The ``Chain`` port for Ethereum, on web3.py.

Two ways to reach a chain, one adapter:

- :meth:`EvmChain.in_process`: an Ethereum chain inside this process (eth-tester on py-evm),
  the embedded default that needs no server; it lives as long as the process;
- :meth:`EvmChain.connect`: any Ethereum JSON-RPC endpoint (``KINKO_EVM_RPC_URL``), such as
  a geth or anvil node. Balance look-ups of many addresses go in batched JSON-RPC requests.

Library errors are translated here: connection failures, timeouts, HTTP 429/5xx and the
node's own rate-limit answers become :class:`Transient` (retried by
:class:`kinko.chains.retry.Retrying`), a refused transaction becomes
:class:`~kinko.errors.ChainRejected`. Nothing here retries or sleeps.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any, TypeVar

import requests
from eth_utils.address import to_checksum_address
from eth_utils.exceptions import ValidationError as EthValidationError
from web3 import EthereumTesterProvider, HTTPProvider, Web3
from web3.exceptions import (
    ProviderConnectionError,
    TransactionNotFound,
    Web3Exception,
    Web3RPCError,
)

from kinko.domain.chain import Block, Transfer
from kinko.errors import ChainRejected
from kinko.ports import Receipt

__all__ = ["EvmChain", "Transient"]

T = TypeVar("T")
_BATCH = 200
_RATE_LIMIT_HINTS = ("rate limit", "too many requests", "limit exceeded", "-32005")


class Transient(Exception):
    """A failure worth retrying (node unreachable, slow, overloaded or rate limiting)."""


@lru_cache(maxsize=1 << 16)
def _checksum(address: str) -> str:
    """EIP-55 form (cached: hashing every address of every block is a hot path)."""
    return str(to_checksum_address(address))


def _hex(value: Any) -> str:
    return value.hex() if isinstance(value, bytes | bytearray) else str(value)


def _0x(value: Any) -> str:
    text = _hex(value)
    return text if text.startswith("0x") else "0x" + text


class EvmChain:
    """Ethereum through web3.py; see the module docstring."""

    def __init__(self, w3: Web3, *, label: str, batch: bool, name: str = "ethereum") -> None:
        self.w3 = w3
        self._eth: Any = w3.eth  # web3's precise types add nothing at this boundary
        self.label = label
        self.name = name
        self._batch = batch

    @classmethod
    def in_process(cls) -> EvmChain:
        from eth_tester import EthereumTester, PyEVMBackend

        tester = EthereumTester(PyEVMBackend())
        return cls(Web3(EthereumTesterProvider(tester)), label="in-process chain", batch=False)

    @classmethod
    def connect(cls, url: str, *, timeout: float = 10.0) -> EvmChain:
        provider = HTTPProvider(url, request_kwargs={"timeout": timeout},
                                exception_retry_configuration=None)
        return cls(Web3(provider), label=f"node at {url}", batch=True)

    # ------------------------------------------------------------------ errors

    def _call(self, fn: Callable[[], T], what: str) -> T:
        try:
            return fn()
        except (requests.ConnectionError, requests.Timeout, ProviderConnectionError,
                ConnectionError, TimeoutError) as exc:
            raise Transient(f"{self.label} did not answer {what}: {type(exc).__name__}") from None
        except requests.HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else 0
            if status == 429 or status >= 500:
                raise Transient(f"{self.label} answered HTTP {status} to {what}") from None
            raise ChainRejected(f"{self.label} refused {what}: HTTP {status}") from None
        except Web3RPCError as exc:
            message = str(exc)
            if any(hint in message.lower() for hint in _RATE_LIMIT_HINTS):
                raise Transient(f"{self.label} is rate limiting {what}") from None
            raise ChainRejected(f"{self.label} refused {what}: {message}") from None
        except (ValueError, Web3Exception, EthValidationError) as exc:
            raise ChainRejected(f"{self.label} refused {what}: {exc}") from None

    # ------------------------------------------------------------------ reading

    def head(self) -> int:
        return int(self._call(lambda: self._eth.block_number, "the head block number"))

    def block(self, number: int) -> Block:
        if self._batch:  # a JSON-RPC node: read the raw answer, skip web3's formatters
            return self._raw_block(number)
        raw = self._call(lambda: self._eth.get_block(number, full_transactions=True),
                         f"block {number}")
        transfers = tuple(
            Transfer(
                tx_hash=_0x(tx["hash"]), block=number,
                tx_index=int(tx.get("transactionIndex", position)),  # eth-tester omits it
                sender=to_checksum_address(tx["from"]),
                to=to_checksum_address(tx["to"]) if tx.get("to") else None,
                value=int(tx["value"]), nonce=int(tx["nonce"]),
            )
            for position, tx in enumerate(raw["transactions"])
        )
        return Block(number=int(raw["number"]), hash=_0x(raw["hash"]),
                     parent_hash=_0x(raw["parentHash"]), timestamp=int(raw["timestamp"]),
                     transfers=transfers)

    def _raw_block(self, number: int) -> Block:
        provider: Any = self.w3.provider
        answer = self._call(
            lambda: provider.make_request("eth_getBlockByNumber", [hex(number), True]),
            f"block {number}")
        if "error" in answer:
            message = str(answer["error"].get("message", answer["error"]))
            if any(hint in message.lower() for hint in _RATE_LIMIT_HINTS):
                raise Transient(f"{self.label} is rate limiting block {number}")
            raise ChainRejected(f"{self.label} refused block {number}: {message}")
        raw = answer.get("result")
        if raw is None:
            raise ChainRejected(f"{self.label} has no block {number}")
        transfers = tuple(
            Transfer(
                tx_hash=tx["hash"], block=number, tx_index=int(tx["transactionIndex"], 16),
                sender=_checksum(tx["from"]), to=_checksum(tx["to"]) if tx.get("to") else None,
                value=int(tx["value"], 16), nonce=int(tx["nonce"], 16),
            )
            for tx in raw["transactions"]
        )
        return Block(number=int(raw["number"], 16), hash=raw["hash"],
                     parent_hash=raw["parentHash"], timestamp=int(raw["timestamp"], 16),
                     transfers=transfers)

    def balances(self, addresses: Sequence[str], block: int | None = None) -> dict[str, int]:
        """Native balances at ``block`` (default latest), batched over JSON-RPC."""
        at: Any = "latest" if block is None else block
        out: dict[str, int] = {}
        items = [to_checksum_address(a) for a in addresses]
        if not self._batch:
            for a in items:
                def one(a: str = a) -> Any:
                    return self._eth.get_balance(a, at)

                out[a] = int(self._call(one, f"the balance of {a}"))
            return out
        for i in range(0, len(items), _BATCH):
            chunk = items[i : i + _BATCH]

            def fetch(chunk: Sequence[str] = chunk) -> list[Any]:
                with self.w3.batch_requests() as batch:
                    for a in chunk:
                        batch.add(self._eth.get_balance(a, at))
                    return list(batch.execute())

            values = self._call(fetch, f"{len(chunk)} balances")
            out.update(zip(chunk, (int(v) for v in values), strict=True))
        return out

    def nonce(self, address: str) -> int:
        a = to_checksum_address(address)
        return int(self._call(lambda: self._eth.get_transaction_count(a, "pending"),
                              f"the nonce of {a}"))

    def fee_params(self) -> tuple[int, int]:
        chain_id = int(self._call(lambda: self._eth.chain_id, "the chain id"))
        gas_price = int(self._call(lambda: self._eth.gas_price, "the gas price"))
        return chain_id, gas_price

    def receipt(self, tx_hash: str) -> Receipt | None:
        def fetch() -> Any:
            try:
                return self._eth.get_transaction_receipt(tx_hash)
            except TransactionNotFound:
                return None

        raw = self._call(fetch, f"the receipt of {tx_hash}")
        if raw is None or raw.get("blockNumber") is None:
            return None
        fee = int(raw["gasUsed"]) * int(raw.get("effectiveGasPrice") or 0)
        return Receipt(tx_hash=_0x(raw["transactionHash"]), block=int(raw["blockNumber"]),
                       ok=int(raw["status"]) == 1, fee=fee)

    # ------------------------------------------------------------------ writing

    def send_raw(self, raw: bytes) -> str:
        return _0x(self._call(lambda: self._eth.send_raw_transaction(raw),
                              "a signed transaction"))

    # ------------------------------------------------------------------ development nodes

    def fund(self, address: str, value: int) -> str:
        """Send ``value`` from the node's first unlocked account and wait until it is mined
        (test and demo nodes only: a busy node mines a moment after accepting)."""
        sender = self._eth.accounts[0]
        tx_hash = _0x(self._call(lambda: self._eth.send_transaction(
            {"from": sender, "to": to_checksum_address(address), "value": value}), "funding"))
        deadline = time.monotonic() + 30
        while self.receipt(tx_hash) is None:
            if time.monotonic() > deadline:
                raise Transient(f"{self.label} did not mine funding transaction {tx_hash}")
            time.sleep(0.02)
        return tx_hash

    def snapshot(self) -> object:
        """Remember the chain's state (test and demo nodes only); an opaque id."""
        provider: Any = self.w3.provider
        return self._call(lambda: provider.make_request("evm_snapshot", []),
                          "evm_snapshot")["result"]

    def revert(self, snapshot: object) -> None:
        """Go back to a snapshot, dropping every block since: a reorganisation."""
        provider: Any = self.w3.provider
        self._call(lambda: provider.make_request("evm_revert", [snapshot]), "evm_revert")

    def mine(self, blocks: int = 1) -> None:
        """Mine empty blocks (test and demo nodes only)."""
        provider: Any = self.w3.provider
        for _ in range(blocks):
            self._call(lambda: provider.make_request("evm_mine", []), "evm_mine")
