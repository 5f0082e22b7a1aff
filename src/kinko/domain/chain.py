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

A block (or the mempool, read as a block numbered -1) also carries what moves value without a
transfer record: :class:`Authorization` (an EIP-7702 authorization in a type-4 transaction:
``authority`` lets ``delegate``'s code run as its account, so anyone may then move what it
holds by calling it) and :class:`Allowance` (an ERC-20 ``Approval``: ``owner`` lets ``spender``
move ``value`` of its tokens with ``transferFrom``). :class:`AccountState` is what one address
holds at one block: native balance, token balances, nonce and code (a delegated account's
code is the designator ``0xef0100`` followed by the delegate's address).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["AUTHORIZATION_GAS", "DELEGATION_PREFIX", "ZERO_ADDRESS", "AccountState",
           "Allowance", "Authorization", "Block", "Transfer", "delegate_of"]

DELEGATION_PREFIX = bytes.fromhex("ef0100")  # EIP-7702: the code of a delegated account
ZERO_ADDRESS = "0x" + "00" * 20  # an authorization to it clears a delegation
AUTHORIZATION_GAS = 25_000  # the intrinsic gas of one authorization (PER_EMPTY_ACCOUNT_COST)


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
    levy: bool = False  # a levy the chain moved with the transaction (a NEM mosaic's)


@dataclass(frozen=True)
class Authorization:
    """An EIP-7702 authorization carried by type-4 transaction ``tx_hash`` (sent by
    ``sender``): ``authority`` (recovered from its signature) delegates to ``delegate`` (the
    zero address clears a delegation) if its nonce is then ``nonce``."""

    tx_hash: str
    sender: str
    authority: str
    delegate: str
    nonce: int
    chain_id: int


@dataclass(frozen=True)
class Allowance:
    """An ERC-20 ``Approval`` (mined: the event, ``log_index`` its position; pending: the
    ``approve`` call, ``log_index`` -1)."""

    tx_hash: str
    token: str
    owner: str
    spender: str
    value: int
    log_index: int = -1


@dataclass(frozen=True)
class AccountState:
    """What one address holds at one block: ``tokens`` maps token contracts to balances."""

    native: int
    nonce: int
    code: bytes = b""
    tokens: tuple[tuple[str, int], ...] = ()

    def token(self, contract: str) -> int:
        return next((v for t, v in self.tokens if t == contract), 0)


def delegate_of(code: bytes) -> str | None:
    """The delegate of an EIP-7702 delegated account's code (``0xef0100`` + 20 bytes), in
    canonical (lower-case) form; None for any other code."""
    if len(code) == 23 and code[:3] == DELEGATION_PREFIX:
        return "0x" + code[3:].hex()
    return None


@dataclass(frozen=True)
class Block:
    number: int
    hash: str
    parent_hash: str
    timestamp: int
    transfers: tuple[Transfer, ...] = ()
    authorizations: tuple[Authorization, ...] = ()
    allowances: tuple[Allowance, ...] = ()
