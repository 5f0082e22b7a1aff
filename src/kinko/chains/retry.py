"""Retries with exponential backoff, as a wrapper around any ``Chain``.

Adapters raise :class:`~kinko.chains.evm.Transient` for failures worth another try; this
wrapper retries them (``attempts`` times, waiting ``base_delay`` × 2ⁿ, at most ``max_delay``)
and then raises :class:`~kinko.errors.ChainUnavailable` naming the node and what was asked:
the CLI exits 3 with that message, never a traceback. Refusals (``ChainRejected``) are not
retried: asking again would get the same answer.

The watch's and the emergency sweep's optional reads (:data:`OPTIONAL_READS`: the mempool
with its authorizations, account state, receipts in bulk, a transaction, allowances, a
Safe's events and its pending executions) are
retried the same way when the wrapped chain has them, and absent when it does not.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from kinko.chains.evm import Transient
from kinko.domain.chain import Block, Transfer
from kinko.domain.messages import msg
from kinko.errors import ChainUnavailable
from kinko.ports import Chain, Receipt

__all__ = ["OPTIONAL_READS", "Retrying"]

# reads some adapters offer beyond the Chain port (EvmChain does); idempotent, so retried
OPTIONAL_READS = frozenset({"mempool", "states", "block_and_states", "receipts", "transaction",
                            "allowances", "safe_events", "pending_executions", "multisig",
                            "mosaic", "public_key"})

T = TypeVar("T")
log = logging.getLogger(__name__)


@dataclass
class Retrying:
    """A ``Chain`` (and, around an :class:`~kinko.chains.evm.EvmChain`, every read and
    write the EVM wallet kinds use) with each request retried."""

    inner: Chain
    attempts: int = 5
    base_delay: float = 0.2
    max_delay: float = 5.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)

    @property
    def name(self) -> str:
        return self.inner.name

    def _retry(self, fn: Callable[[], T]) -> T:
        delay = self.base_delay
        for attempt in range(1, self.attempts + 1):
            try:
                return fn()
            except Transient as exc:
                if attempt == self.attempts:
                    raise ChainUnavailable(
                        f"{exc} (gave up after {self.attempts} attempts)", reason=str(exc),
                        says=msg("error.chain_gave_up", chain=self.inner.name,
                                 attempts=self.attempts)) from None
                log.warning("%s; retrying in %.1f s (attempt %d of %d)", exc, delay, attempt,
                            self.attempts)
                self.sleep(delay)
                delay = min(delay * 2, self.max_delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def caip2(self) -> str:
        return self._retry(self.inner.caip2)

    def head(self) -> int:
        return self._retry(self.inner.head)

    def block(self, number: int) -> Block:
        return self._retry(lambda: self.inner.block(number))

    def pending(self) -> tuple[Transfer, ...]:
        return self._retry(self.inner.pending)

    def balances(self, addresses: Sequence[str], block: int | None = None,
                 token: str | None = None) -> dict[str, int]:
        return self._retry(lambda: self.inner.balances(addresses, block, token))

    @property
    def label(self) -> str:
        return str(getattr(self.inner, "label", self.inner.name))

    @property
    def _node(self) -> Any:  # the EVM adapter's own methods (kinko.chains.evm.EvmNode)
        return self.inner

    def nonce(self, address: str) -> int:
        return int(self._retry(lambda: self._node.nonce(address)))

    def fee_params(self) -> tuple[int, int]:
        chain_id, gas_price = self._retry(self._node.fee_params)
        return int(chain_id), int(gas_price)

    def call(self, to: str, data: bytes, block: int | None = None,
             sender: str | None = None) -> bytes:
        return bytes(self._retry(lambda: self._node.call(to, data, block, sender)))

    def calls(self, calls: Sequence[tuple[str, bytes]], block: int | None = None,
              what: str = "calls") -> list[bytes]:
        return [bytes(a) for a in self._retry(lambda: self._node.calls(calls, block, what))]

    def estimate_gas(self, sender: str, to: str, data: bytes, value: int = 0) -> int:
        return int(self._retry(lambda: self._node.estimate_gas(sender, to, data, value)))

    def code(self, address: str, block: int | None = None) -> bytes:
        return bytes(self._retry(lambda: self._node.code(address, block)))

    def logs(self, addresses: Sequence[str], from_block: int, to_block: int,
             topics: Sequence[str] | None = None) -> list[dict[str, Any]]:
        return list(self._retry(lambda: self._node.logs(addresses, from_block, to_block,
                                                        topics)))

    def wait_for(self, tx_hash: str, what: str, timeout: float = 30.0) -> dict[str, Any]:
        return dict(self._retry(lambda: self._node.wait_for(tx_hash, what, timeout)))

    def tx_hash(self, raw: bytes) -> str:
        return self.inner.tx_hash(raw)  # computed here, nothing to retry

    def send_raw(self, raw: bytes) -> str:
        return self._retry(lambda: self.inner.send_raw(raw))

    def receipt(self, tx_hash: str) -> Receipt | None:
        return self._retry(lambda: self.inner.receipt(tx_hash))

    def __getattr__(self, name: str) -> Any:
        """An optional read of the wrapped chain (:data:`OPTIONAL_READS`), retried."""
        if name not in OPTIONAL_READS:
            raise AttributeError(name)
        read = getattr(self.inner, name)  # AttributeError: the wrapped chain lacks it

        def retried(*args: Any, **kwargs: Any) -> Any:
            return self._retry(lambda: read(*args, **kwargs))

        return retried
