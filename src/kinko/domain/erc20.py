"""ERC-20 call data kinko signs: ``transfer(address,uint256)``, the one call a token
withdrawal or sweep needs, and ``approve(address,uint256)`` with 0, which an emergency
revokes an allowance with. Pure ABI encoding (4-byte selector, two 32-byte words)::

    >>> transfer_data("0x" + "11" * 20, 5).hex()[:8]
    'a9059cbb'
"""

from __future__ import annotations

__all__ = ["APPROVE_SELECTOR", "TOKEN_GAS", "TRANSFER_SELECTOR", "approve_data", "transfer_data"]

TRANSFER_SELECTOR = bytes.fromhex("a9059cbb")  # keccak("transfer(address,uint256)")[:4]
APPROVE_SELECTOR = bytes.fromhex("095ea7b3")  # keccak("approve(address,uint256)")[:4]
TOKEN_GAS = 100_000  # a transfer costs ~35-52k gas; the rest is margin, unused gas is refunded


def transfer_data(to: str, amount: int) -> bytes:
    """Call data moving ``amount`` minor units of the token to ``to``."""
    address = bytes.fromhex(to[2:] if to.lower().startswith("0x") else to)
    if len(address) != 20:
        raise ValueError(f"{to!r} is not a 20-byte address")
    if not 0 <= amount < 2**256:
        raise ValueError(f"amount {amount} does not fit a uint256")
    return TRANSFER_SELECTOR + address.rjust(32, b"\0") + amount.to_bytes(32, "big")


def approve_data(spender: str, amount: int) -> bytes:
    """Call data setting ``spender``'s allowance to ``amount`` (0 revokes it)."""
    return APPROVE_SELECTOR + transfer_data(spender, amount)[4:]
