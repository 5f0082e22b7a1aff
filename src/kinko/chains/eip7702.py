"""EIP-7702 (set-code transactions, Prague): reading the authorizations a chain shows, and
signing the one kinko sends, which clears a delegation.

A type-4 transaction carries an authorization list; each item is signed by an account's
key (the *authority*) over ``keccak(0x05 ‖ rlp([chain_id, address, nonce]))`` and, when the
transaction is processed, sets that account's code to ``0xef0100 ‖ address`` (a
*delegation*: calls to the account run ``address``'s code in its name) and bumps its nonce.
The authority is not written in the transaction: it is recovered from the signature
(:func:`authority`). Anyone may broadcast the transaction, so a thief holding a hot key
needs no transaction *from* the hot address to drain it: he delegates it to his contract
and calls it.

An authorization to the zero address clears a delegation (:func:`clearing_authorization`):
kinko signs one with the hot key when it sweeps a delegated address. When the authority is
also the transaction's sender, the sender's nonce is bumped before the list is processed,
so the authorization names the transaction's nonce plus one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import rlp
from eth_keys.datatypes import Signature
from eth_keys.exceptions import BadSignature
from eth_utils.crypto import keccak

from kinko.domain.addresses import canonical_address
from kinko.domain.chain import AUTHORIZATION_GAS, ZERO_ADDRESS

__all__ = ["AUTHORIZATION_GAS", "MAGIC", "ZERO_ADDRESS", "authority", "authorization_hash",
           "clearing_tx"]

MAGIC = b"\x05"
_SECP256K1_HALF_N = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0


def _int(value: Any) -> int:
    return value if isinstance(value, int) else int(str(value), 16)


def authorization_hash(chain_id: int, address: str, nonce: int) -> bytes:
    """The digest an authority signs (EIP-7702)."""
    raw = bytes.fromhex(address[2:] if address[:2].lower() == "0x" else address)
    return keccak(MAGIC + rlp.encode([chain_id, raw, nonce]))


def authority(item: dict[str, Any]) -> str | None:
    """The account an authorization (as a node shows it: ``chainId``, ``address``,
    ``nonce``, ``yParity``, ``r``, ``s``) speaks for, in canonical form; None when its
    signature is invalid (the chain skips such an item)."""
    try:
        chain_id, nonce = _int(item["chainId"]), _int(item["nonce"])
        y, r, s = _int(item.get("yParity", item.get("v", 0))), _int(item["r"]), _int(item["s"])
        if y not in (0, 1) or not 0 < s <= _SECP256K1_HALF_N:
            return None
        digest = authorization_hash(chain_id, str(item["address"]), nonce)
        public = Signature(vrs=(y, r, s)).recover_public_key_from_msg_hash(digest)
    except (KeyError, ValueError, TypeError, BadSignature):
        return None
    return canonical_address(public.to_checksum_address(), "ethereum")


def clearing_tx(tx: dict[str, Any], sign: Callable[[bytes], tuple[int, int, int]]
                ) -> dict[str, Any]:
    """``tx`` (web3 field names, legacy ``gasPrice``, from the authority's own address) as
    a type-4 transaction that first clears the sender's delegation: its authorization to the
    zero address is signed by ``sign`` (digest → y parity, r, s) for the transaction's nonce
    plus one (the sender's nonce is bumped before the list is processed); both fees are the
    legacy gas price, and the gas grows by the authorization's."""
    chain_id, nonce = int(tx["chainId"]), int(tx["nonce"])
    y, r, s = sign(authorization_hash(chain_id, ZERO_ADDRESS, nonce + 1))
    out = {k: v for k, v in tx.items() if k != "gasPrice"}
    out.update(type=4, gas=int(tx["gas"]) + AUTHORIZATION_GAS, maxFeePerGas=tx["gasPrice"],
               maxPriorityFeePerGas=tx["gasPrice"], accessList=[],
               authorizationList=[{"chainId": chain_id, "address": ZERO_ADDRESS,
                                   "nonce": nonce + 1, "yParity": y, "r": r, "s": s}])
    return out
