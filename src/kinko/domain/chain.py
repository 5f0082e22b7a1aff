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

Ethereum addresses are checked for their EIP-55 mixed-case checksum: an address typed with a
wrong capital letter is refused rather than silently sent to::

    >>> check_address("0x52908400098527886E0F7030069857D2E4169EE7", "ethereum")
    '0x52908400098527886E0F7030069857D2E4169EE7'
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from eth_utils.address import is_checksum_address, to_checksum_address
from eth_utils.crypto import keccak

from kinko.errors import InvalidAccount

__all__ = ["Block", "Transfer", "check_address", "same_address", "signed_tx_hash"]

_HEX_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_NEM_ADDRESS = re.compile(r"^N[A-Z2-7]{39}$")


@dataclass(frozen=True)
class Transfer:
    tx_hash: str
    block: int
    tx_index: int
    sender: str
    to: str | None
    value: int
    nonce: int
    token: str | None = None  # the token contract (EIP-55); None for the native coin
    log_index: int | None = None  # the token event's position in the block; None if native


@dataclass(frozen=True)
class Block:
    number: int
    hash: str
    parent_hash: str
    timestamp: int
    transfers: tuple[Transfer, ...] = ()


def check_address(address: str, chain: str) -> str:
    """The address in canonical form, or :class:`InvalidAccount` naming what is wrong."""
    text = address.strip()
    if chain == "ethereum":
        if not _HEX_ADDRESS.match(text):
            raise InvalidAccount(
                f"address {address!r} is not an Ethereum address (0x and 40 hex digits)",
                address=address, chain=chain)
        if text[2:].islower() or text[2:].isupper():
            return to_checksum_address(text)  # no checksum given: nothing to check
        if not is_checksum_address(text):
            raise InvalidAccount(
                f"address {address} has a bad EIP-55 checksum (did you mean "
                f"{to_checksum_address(text)}?)", address=address, chain=chain)
        return text
    if chain == "nem":
        compact = text.replace("-", "").upper()
        if not _NEM_ADDRESS.match(compact):
            raise InvalidAccount(
                f"address {address!r} is not a NEM mainnet address (N and 39 base-32 letters)",
                address=address, chain=chain)
        return compact
    if chain == "bitcoin":
        if not re.match(r"^(bc1[02-9ac-hj-np-z]{11,71}|[13][1-9A-HJ-NP-Za-km-z]{25,34})$", text):
            raise InvalidAccount(f"address {address!r} is not a Bitcoin address",
                                 address=address, chain=chain)
        return text
    raise InvalidAccount(f"chain {chain!r} has no addresses kinko can check", chain=chain)


def signed_tx_hash(raw: bytes) -> str:
    """The hash an Ethereum node will give a signed transaction (Keccak-256 of its bytes):
    known before broadcasting, so a crash between sending and recording loses nothing."""
    return "0x" + keccak(raw).hex()


def same_address(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and a.lower() == b.lower()
