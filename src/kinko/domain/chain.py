"""What kinko sees of a blockchain: blocks, transfers of coins and tokens, and addresses.

A :class:`Block` carries its number, hash, parent hash, time and the transfers in it
(:class:`Transfer`: tx hash, position, sender, receiver, value and nonce, values in the minor
unit of what moved). A transfer of the chain's native coin has ``token`` None; a transfer of
a token (an ERC-20 contract's ``Transfer`` event) names the contract in ``token`` and the
event's position in its block in ``log_index``, so one transaction can carry several
transfers, ordered by (``tx_index``, ``log_index``) with the native one first. A transfer
still waiting in a node's mempool has ``block`` and ``tx_index`` -1 (and ``log_index`` -1 if
it moves a token). Adapters in :mod:`kinko.chains` produce these records; everything above
them (deposits, reconciliation, sweeps, the watch) reasons only about them::

    >>> Transfer("0xab", 7, 0, "0xA", "0xB", 2_500_000, 3, token="0xC", log_index=1).token
    '0xC'

Adapters give addresses (``sender``, ``to``, ``token``) in their chain's canonical form
(:func:`kinko.domain.addresses.canonical_address`), so they compare equal to the wallets,
deposit addresses and lists kinko stores in that form.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Block", "Transfer"]


@dataclass(frozen=True)
class Transfer:
    tx_hash: str
    block: int
    tx_index: int
    sender: str
    to: str | None
    value: int
    nonce: int
    token: str | None = None  # the token contract; None for the native coin
    log_index: int | None = None  # the token event's position in the block; None if native


@dataclass(frozen=True)
class Block:
    number: int
    hash: str
    parent_hash: str
    timestamp: int
    transfers: tuple[Transfer, ...] = ()
