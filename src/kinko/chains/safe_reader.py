"""The co-signer's read of the chain: the chain id, and a Safe as it stands now.

:class:`ChainSafes` is the ``SafeReader`` port on an :class:`~kinko.chains.evm.EvmChain`:
``chain_id`` once from the node (and compared with the co-signer's setting, when it pins
one), ``safe_state`` read afresh for every request (nonce, owners, threshold, modules,
guard, version, and whether the singleton's code is the audited SafeL2 kinko ships; that
code hash is checked once per singleton address). A node that does not answer is
:class:`~kinko.errors.ChainUnavailable` after ``attempts`` tries; an address that is no
Safe is :class:`~kinko.errors.ChainRejected`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

from eth_utils.crypto import keccak

from kinko.chains.evm import EvmChain, Transient, node_says
from kinko.chains.safe import read_safe, safe_artifacts
from kinko.domain.cosign import SafeState
from kinko.domain.messages import msg
from kinko.errors import ChainUnavailable, ConfigError

__all__ = ["ChainSafes"]

T = TypeVar("T")


class ChainSafes:
    """See the module docstring."""

    def __init__(self, chain: EvmChain, *, expected_chain_id: int = 0,
                 attempts: int = 2, delay: float = 0.1) -> None:
        self.chain = chain
        self.expected = expected_chain_id
        self.attempts = max(1, attempts)
        self.delay = delay
        self._chain_id: int | None = None
        self._singletons: dict[str, bool] = {}
        self._lock = threading.Lock()

    def _retry(self, fn: Callable[[], T]) -> T:
        for attempt in range(1, self.attempts + 1):
            try:
                return fn()
            except Transient as exc:
                if attempt == self.attempts:
                    raise ChainUnavailable(f"{exc} (gave up after {self.attempts} attempts)",
                                           reason=str(exc),
                                           says=msg("error.chain_gave_up",
                                                    chain=str(self.chain.name)[:80],
                                                    attempts=self.attempts)) from None
                time.sleep(self.delay * attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def chain_id(self) -> int:
        if self._chain_id is None:
            found = self._retry(lambda: self.chain.fee_params()[0])
            if self.expected and found != self.expected:
                raise ConfigError(f"{self.chain.label} is chain {found}; the co-signer's "
                                  f"settings pin chain_id {self.expected}",
                                  setting="chain_id",
                                  says=msg("error.safe.reader_chain", node=node_says(self.chain),
                                           chain=str(found), expected=str(self.expected)))
            self._chain_id = found
        return self._chain_id

    def safe_state(self, address: str) -> SafeState:
        info = self._retry(lambda: read_safe(self.chain, address))
        with self._lock:
            known = self._singletons.get(info.singleton)
        if known is None:
            code = self._retry(lambda: self.chain.code(info.singleton))
            expected = safe_artifacts()["contracts"]["SafeL2"]["codeHash"]
            known = bool(code) and "0x" + keccak(code).hex() == expected
            with self._lock:
                self._singletons[info.singleton] = known
        return SafeState(address=info.address, version=info.version, nonce=info.nonce,
                         owners=info.owners, threshold=info.threshold, modules=info.modules,
                         guard=info.guard, singleton_ok=known)
