"""ERC-20 tokens at the chain layer: the event kinko reads and the two calls it decodes.

An ERC-20 token is not a coin of the chain but a contract that keeps a balance per address.
Moving tokens is a call to that contract, ``transfer(to, amount)`` (or
``transferFrom(from, to, amount)`` by someone the owner approved); the transaction itself
carries no value (its ``to`` is the contract). What happened is told by the event the
contract emits, ``Transfer(from indexed, to indexed, value)``: a log whose first topic is
:data:`TRANSFER_TOPIC`, whose next two topics are the sender and receiver (left-padded to 32
bytes) and whose data is the amount, in the token's minor unit (10⁻⁶ XEM for a 6-decimal token).
Only a transaction that succeeds leaves logs, so a reverted transfer (more than the balance)
leaves no ``Transfer`` event; a transaction still waiting in the mempool has no logs at all,
so its call data is decoded instead (:func:`decode_call`).

    >>> data = transfer_call("0x52908400098527886E0F7030069857D2E4169EE7", 2_500_000)
    >>> data[:4].hex()
    'a9059cbb'
    >>> decode_call(data)  # addresses come back in kinko's canonical form
    ('transfer', '0x52908400098527886e0f7030069857d2e4169ee7', 2500000)

kinko signs a token transfer like a native one, with ``to`` the token contract, ``value`` 0,
``data`` :func:`transfer_call` and gas :data:`TOKEN_GAS`. :func:`deploy_token` and
:func:`fund_token` are for development nodes (tests and the demo): they act from the node's
first unlocked account with the contract in ``kinko_token.json``, compiled from
``contracts/KinkoToken.sol`` by ``scripts/compile_token.mjs``.
"""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from typing import Any, Protocol

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_abi.exceptions import DecodingError
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from kinko.chains.named import node_says
from kinko.domain.addresses import canonical_address
from kinko.domain.messages import Message, msg
from kinko.errors import ChainRejected, InvalidAmount

__all__ = [
    "APPROVAL_TOPIC",
    "TOKEN_GAS",
    "TRANSFER_TOPIC",
    "DevNode",
    "allowance_call",
    "approve_call",
    "balance_of_call",
    "decode_approve",
    "decode_call",
    "decode_transfer",
    "deploy_token",
    "fund_token",
    "token_artifact",
    "transfer_call",
]


class DevNode(Protocol):
    """What deploying and funding a token needs of a development node (EvmChain has it)."""

    @property
    def label(self) -> str: ...

    def dev_transact(self, tx: dict[str, Any], what: str, asked: Message | None = None
                     ) -> tuple[str, dict[str, Any]]: ...


TRANSFER_TOPIC = "0x" + keccak(text="Transfer(address,address,uint256)").hex()
APPROVAL_TOPIC = "0x" + keccak(text="Approval(address,address,uint256)").hex()

TOKEN_GAS = 100_000
"""Gas given to a token transfer: one costs ~35-52k gas; the rest is margin (unused gas is
not charged)."""

_TRANSFER = keccak(text="transfer(address,uint256)")[:4]
_TRANSFER_FROM = keccak(text="transferFrom(address,address,uint256)")[:4]
_BALANCE_OF = keccak(text="balanceOf(address)")[:4]
_APPROVE = keccak(text="approve(address,uint256)")[:4]
_ALLOWANCE = keccak(text="allowance(address,address)")[:4]
_UINT256_LIMIT = 1 << 256


def _bytes(data: bytes | str) -> bytes | None:
    if isinstance(data, bytes | bytearray):
        return bytes(data)
    text = data[2:] if data[:2] in ("0x", "0X") else data
    try:
        return bytes.fromhex(text)
    except ValueError:
        return None


def _uint256(amount: int, what: str, said: Message) -> int:
    """``amount``, a uint256; ``said``: ``what`` as a catalog message."""
    if isinstance(amount, bool) or not isinstance(amount, int) \
            or not 0 <= amount < _UINT256_LIMIT:
        raise InvalidAmount(f"{what} must be an integer between 0 and 2**256-1, not {amount!r}",
                            says=msg("error.safe.not_uint256", field=said,
                                     value=repr(amount)[:80]))
    return amount


def transfer_call(to: str, amount: int) -> bytes:
    """The call data of ``transfer(to, amount)``; the address is checked (its EIP-55
    checksum when mixed case: :class:`~kinko.errors.InvalidAddress`)."""
    return _TRANSFER + abi_encode(["address", "uint256"],
                                  [_address(to), _uint256(amount, "a token amount",
                                                              msg("error.erc20.field.amount"))])


def balance_of_call(owner: str) -> bytes:
    """The call data of ``balanceOf(owner)`` (read with ``eth_call``)."""
    return _BALANCE_OF + abi_encode(["address"], [_address(owner)])


def approve_call(spender: str, amount: int) -> bytes:
    """The call data of ``approve(spender, amount)`` (amount 0 revokes an allowance)."""
    return _APPROVE + abi_encode(["address", "uint256"], [_address(spender),
                                                         _uint256(amount, "an allowance",
                                                                  msg("error.erc20.field.allowance"))])


def allowance_call(owner: str, spender: str) -> bytes:
    """The call data of ``allowance(owner, spender)`` (read with ``eth_call``)."""
    return _ALLOWANCE + abi_encode(["address", "address"], [_address(owner), _address(spender)])


def decode_approve(data: bytes | str) -> tuple[str, int] | None:
    """``(spender, amount)`` of ``approve`` call data, else None."""
    raw = _bytes(data)
    if raw is None or raw[:4] != _APPROVE:
        return None
    try:
        spender, amount = abi_decode(["address", "uint256"], raw[4:])
    except DecodingError:
        return None
    return _address(spender), int(amount)


def _address(text: str) -> str:
    """An EVM address in canonical form (every EVM chain writes them alike)."""
    return canonical_address(text, "ethereum")


def _decode(data: bytes | str) -> tuple[str, str | None, str, int] | None:
    """(method, owner argument or None, to, amount) of a transfer/transferFrom call."""
    raw = _bytes(data)
    if raw is None or len(raw) < 4:
        return None
    # strict decoding refuses what the contract's own ABI decoder would revert on (short
    # data, non-zero padding of an address); extra trailing bytes are ignored by both
    try:
        if raw[:4] == _TRANSFER:
            to, amount = abi_decode(["address", "uint256"], raw[4:])
            return "transfer", None, _address(to), int(amount)
        if raw[:4] == _TRANSFER_FROM:
            owner, to, amount = abi_decode(["address", "address", "uint256"], raw[4:])
            return "transferFrom", _address(owner), _address(to), int(amount)
    except DecodingError:
        return None
    return None


def decode_call(data: bytes | str) -> tuple[str, str | None, int] | None:
    """``("transfer", to, amount)`` or ``("transferFrom", to, amount)`` for call data of
    those two token methods (bytes or 0x-hex), else None. The owner a ``transferFrom``
    spends from is given by :func:`decode_transfer`."""
    found = _decode(data)
    return None if found is None else (found[0], found[2], found[3])


def decode_transfer(data: bytes | str, caller: str) -> tuple[str, str, int] | None:
    """``(sender, to, amount)`` of the tokens a call would move, if it is a token transfer:
    the sender is ``caller`` (the transaction's sender) for ``transfer`` and the owner
    argument for ``transferFrom``."""
    found = _decode(data)
    if found is None:
        return None
    _, owner, to, amount = found
    return (owner if owner is not None else _address(caller)), to, amount


@cache
def token_artifact() -> dict[str, Any]:
    """The compiled KinkoToken: ``{"contract", "solc_version", "abi", "bytecode"}``."""
    text = files("kinko.chains").joinpath("kinko_token.json").read_text(encoding="utf-8")
    artifact: dict[str, Any] = json.loads(text)
    return artifact


def deploy_token(chain: DevNode, *, name: str, symbol: str, decimals: int, supply: int) -> str:
    """Deploy a KinkoToken from the node's first unlocked account, which receives the whole
    ``supply`` (minor units); wait until mined; return the contract's EIP-55 address (as
    web3 takes it; kinko keeps it canonical once it is an asset's token). Development nodes
    only."""
    if isinstance(decimals, bool) or not isinstance(decimals, int) or not 0 <= decimals < 256:
        raise InvalidAmount(f"a token's decimals must be an integer from 0 to 255, not "
                            f"{decimals!r}",
                            says=msg("error.erc20.decimals", value=repr(decimals)[:80]))
    artifact = token_artifact()
    args = abi_encode(["string", "string", "uint8", "uint256"],
                      [name, symbol, decimals, _uint256(supply, "a token supply",
                                                                   msg("error.erc20.field.supply"))])
    code = artifact["bytecode"] + args.hex()
    _, receipt = chain.dev_transact({"data": code}, f"deploying token {symbol}",
                                    asked=msg("error.erc20.asked.deploy", symbol=symbol[:80]))
    address = receipt.get("contractAddress")
    if not address:

        raise ChainRejected(f"{chain.label} created no contract deploying token {symbol}",
                            says=msg("error.erc20.no_contract", node=node_says(chain),
                                     symbol=symbol[:80]))
    return str(to_checksum_address(address))


def fund_token(chain: DevNode, token: str, to: str, amount: int) -> str:
    """Transfer ``amount`` of ``token`` from the node's first unlocked account to ``to``;
    wait until mined; return the transaction hash. Development nodes only."""
    tx_hash, _ = chain.dev_transact(
        {"to": to_checksum_address(token), "data": "0x" + transfer_call(to, amount).hex()},
        f"funding {to} with token {token}",
        asked=msg("error.erc20.asked.fund", to=str(to)[:80], token=str(token)[:80]))
    return tx_hash
