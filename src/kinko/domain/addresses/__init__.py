"""Addresses: one canonical form per chain format, so that an address is the same address
however it is spelled.

Today's formats and their canonical forms:

- EVM hex (ethereum and the EVM chains; ETH, USDT, ...): ``0x`` + 40 lower-case hex
  digits; written in mixed case, the case must be the EIP-55 checksum;
- base58check (bitcoin 1…/3…, LTC, BSV, BTG, DASH, DOGE, XVG, ZEC t-addresses, TRX) and
  XRP (its own alphabet): exactly as written, checksum checked;
- Monero (XMR): exactly as written, its Keccak-256 checksum checked;
- Bech32/Bech32m SegWit (bc1…, ltc1…, btg1…): lower case;
- CashAddr (bitcoincash, BCH; the legacy 1…/3… form accepted): ``bitcoincash:`` + lower case;
- NEM (nem, XEM): upper case without dashes (accepted with dashes or in lower case).

**Where a new chain format plugs in**: :mod:`kinko.domain.addresses.registry` (its
``FORMATS``, ``CHAINS`` and ``CURRENCIES`` tables) — the one place; see its docstring.
"""

from kinko.domain.addresses.formats import AddressFormat
from kinko.domain.addresses.registry import (
    CHAINS,
    CURRENCIES,
    FORMATS,
    TOKENS,
    address_key,
    canonical_address,
    canonical_token,
    chain_formats,
    chain_key,
    chain_keys,
    currency_address,
    currency_formats,
    display_address,
    equivalent_keys,
    fold,
    locate_addresses,
    same_address,
    same_token,
)

__all__ = [
    "CHAINS",
    "CURRENCIES",
    "FORMATS",
    "TOKENS",
    "AddressFormat",
    "address_key",
    "canonical_address",
    "canonical_token",
    "chain_formats",
    "chain_key",
    "chain_keys",
    "currency_address",
    "currency_formats",
    "display_address",
    "equivalent_keys",
    "fold",
    "locate_addresses",
    "same_address",
    "same_token",
]
