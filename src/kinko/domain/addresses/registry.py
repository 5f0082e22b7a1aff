"""The address-format registry: every format kinko knows, registered once, and the chains
and list currencies that use each.

**A new chain format plugs in here, and only here**: write its :class:`AddressFormat`
(in :mod:`kinko.domain.addresses.formats` when it needs a new encoding), add it to
:data:`FORMATS` (its ``what`` also as a catalog message: ``what_id=N_("error.address.
format.<name>")``, its English and Japanese text in the catalogs), name it under its chain
in :data:`CHAINS` and under the tickers lists use for it in :data:`CURRENCIES`. Everything
that stores or compares an address (deny and allow lists, tags, deposit addresses, wallets,
withdrawals, the watch, trace seeds and stops) asks this module for the canonical form, so
nothing else changes.

The canonical form is the one spelling kinko stores and compares::

    >>> canonical_address("0x52908400098527886E0F7030069857D2E4169EE7", "ethereum")
    '0x52908400098527886e0f7030069857d2e4169ee7'
    >>> same_address("BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4",
    ...              "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", "bitcoin")
    True

Before any format sees it, an address is stripped of surrounding whitespace (spaces, tabs,
line ends); whitespace or any character that is not printable ASCII inside it (a
look-alike letter, a zero-width space) is refused, as is text longer than
:data:`MAX_LENGTH`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Sequence
from functools import lru_cache

from kinko.domain.addresses.codecs import XRP_ALPHABET, Malformed, shown_char
from kinko.domain.addresses.formats import (
    AddressFormat,
    Base58Check,
    CashAddr,
    EvmHex,
    Monero,
    Nem,
    Segwit,
)
from kinko.domain.messages import N_, Message, msg
from kinko.domain.nem import mosaic_id
from kinko.errors import BadInput, InvalidAddress

__all__ = [
    "CHAINS",
    "CURRENCIES",
    "FORMATS",
    "MAX_LENGTH",
    "TOKENS",
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

MAX_LENGTH = 128  # the longest address kinko stores (a Monero integrated one has 106)
_PRINTABLE = re.compile(r"[!-~]+")  # printable ASCII, no space

_BITCOIN = Base58Check("bitcoin", "a Bitcoin base58 address (1… or 3…)",
                       (b"\x00", b"\x05"), starts="13",
                       what_id=N_("error.address.format.bitcoin"))

FORMATS: dict[str, AddressFormat] = {f.name: f for f in (
    EvmHex("evm", "an Ethereum address", what_id=N_("error.address.format.evm")),
    _BITCOIN,
    Segwit("bitcoin-segwit", "a Bitcoin SegWit address (bc1…)", hrp="bc",
           what_id=N_("error.address.format.bitcoin_segwit")),
    Base58Check("litecoin", "a Litecoin base58 address (L…, M… or 3…)",
                (b"\x30", b"\x32", b"\x05"), starts="LM3",
                what_id=N_("error.address.format.litecoin")),
    Segwit("litecoin-segwit", "a Litecoin SegWit address (ltc1…)", hrp="ltc",
           what_id=N_("error.address.format.litecoin_segwit")),
    Base58Check("bitcoingold", "a Bitcoin Gold base58 address (G… or A…)",
                (b"\x26", b"\x17"), starts="GA",
                what_id=N_("error.address.format.bitcoingold")),
    Segwit("bitcoingold-segwit", "a Bitcoin Gold SegWit address (btg1…)", hrp="btg",
           what_id=N_("error.address.format.bitcoingold_segwit")),
    Base58Check("dash", "a Dash address (X… or 7…)", (b"\x4c", b"\x10"), starts="X7",
                what_id=N_("error.address.format.dash")),
    Base58Check("dogecoin", "a Dogecoin address (D…, 9… or A…)", (b"\x1e", b"\x16"),
                starts="D9A", what_id=N_("error.address.format.dogecoin")),
    Base58Check("verge", "a Verge address (D… or E…)", (b"\x1e", b"\x21"), starts="DE",
                what_id=N_("error.address.format.verge")),
    Base58Check("zcash-transparent", "a Zcash transparent address (t1… or t3…)",
                (b"\x1c\xb8", b"\x1c\xbd"), starts="t",
                what_id=N_("error.address.format.zcash_transparent")),
    Base58Check("tron", "a Tron address (T…)", (b"\x41",), starts="T",
                what_id=N_("error.address.format.tron")),
    Base58Check("xrp", "an XRP Ledger classic address (r…)", (b"\x00",),
                alphabet=XRP_ALPHABET, starts="r", what_id=N_("error.address.format.xrp")),
    Monero("monero", "a Monero address (4… or 8…)",
           what_id=N_("error.address.format.monero")),
    Nem("nem", "a NEM mainnet address (N…, 40 base-32 letters)", network=0x68,
        what_id=N_("error.address.format.nem")),
    Nem("nem-testnet", "a NEM testnet address (T…, 40 base-32 letters)", network=0x98,
        what_id=N_("error.address.format.nem_testnet")),
    # after every base58 format: a bare legacy address is read as what it is first
    CashAddr("bitcoincash", "a Bitcoin Cash address (bitcoincash:q… or legacy 1…/3…)",
             prefix="bitcoincash", legacy=_BITCOIN,
             what_id=N_("error.address.format.bitcoincash")),
)}

_EVM = ("evm",)
CHAINS: dict[str, tuple[str, ...]] = {
    "ethereum": _EVM, "ethereum-classic": _EVM, "polygon": _EVM, "bsc": _EVM,
    "arbitrum": _EVM, "optimism": _EVM, "base": _EVM, "avalanche": _EVM,
    "bitcoin": ("bitcoin", "bitcoin-segwit"),
    "bitcoincash": ("bitcoincash",),
    "bitcoinsv": ("bitcoin",),
    "bitcoingold": ("bitcoingold", "bitcoingold-segwit"),
    "litecoin": ("litecoin", "litecoin-segwit"),
    "dash": ("dash",), "dogecoin": ("dogecoin",), "verge": ("verge",),
    "zcash": ("zcash-transparent",), "tron": ("tron",), "xrpl": ("xrp",),
    "monero": ("monero",), "nem": ("nem",), "nem-testnet": ("nem-testnet",),
}
"""Chain name (an asset's ``chain``) → the formats its addresses may be written in, the
first one preferred."""

CURRENCIES: dict[str, tuple[str, ...]] = {
    "BTC": CHAINS["bitcoin"], "ETH": _EVM, "ETC": _EVM, "BNB": _EVM, "MATIC": _EVM,
    "POL": _EVM, "DAI": _EVM,
    "USDT": ("evm", "tron", "bitcoin"),  # ERC-20, TRC-20 and Omni on Bitcoin
    "USDC": ("evm", "tron"),
    "BCH": CHAINS["bitcoincash"], "BSV": CHAINS["bitcoinsv"], "BTG": CHAINS["bitcoingold"],
    "LTC": CHAINS["litecoin"], "DASH": ("dash",), "DOGE": ("dogecoin",), "XVG": ("verge",),
    "ZEC": ("zcash-transparent",), "TRX": ("tron",), "XRP": ("xrp",), "XMR": ("monero",),
    "XEM": ("nem",),
}
"""TagPack ``currency`` (a ticker) → the formats listed addresses of it may be in."""

TOKENS: dict[str, Callable[[str], str]] = {"nem": mosaic_id, "nem-testnet": mosaic_id}
"""Chain name → how its tokens are named, where a token is not a contract address (NEM's
mosaics: ``namespace:name``); every other chain names a token by its contract's address."""


def chain_formats(chain: str) -> tuple[AddressFormat, ...]:
    names = CHAINS.get(chain)
    if names is None:
        known = ", ".join(sorted(CHAINS))
        raise InvalidAddress(f"chain {chain!r} has no address format in kinko (known: "
                             f"{known})", chain=chain,
                             says=msg("error.address.unknown_chain", chain=str(chain)[:80],
                                      known=known))
    return tuple(FORMATS[n] for n in names)


def currency_formats(currency: str) -> tuple[AddressFormat, ...]:
    """The formats of a list currency; () for a ticker kinko has no format for."""
    return tuple(FORMATS[n] for n in CURRENCIES.get(currency.strip().upper(), ()))


# text given as an address that is a run of hexadecimal digits as long as a private key
# (an Ethereum or NEM key pasted, or a key file loaded as a list): never quoted back
_KEYLIKE = re.compile(r"(?:0[xX])?[0-9a-fA-F]{64,66}")


def _shown(address: object) -> str:
    """The address for a message: stripped, quoted (what cannot be printed escaped), cut;
    one as long as a private key (:data:`_KEYLIKE`) said by its length only."""
    text = str(address).strip()
    if _KEYLIKE.fullmatch(text):
        return f"<{len(text)} hexadecimal characters, not shown>"
    return repr(text if len(text) <= 60 else text[:60] + "…")


def _bare(address: object) -> Message | str:
    """:func:`_shown` without its quotes, for a catalog message ('' for no address)."""
    text = str(address).strip()
    if _KEYLIKE.fullmatch(text):
        return msg("error.address.keylike", count=len(text))
    return _shown(address)[1:-1] or "''"


def _clean(address: object) -> str:
    """Surrounding whitespace stripped; refused when empty, too long or not printable."""
    if not isinstance(address, str):
        raise Malformed("an address must be text", says=msg("error.address.not_text"))
    text = address.strip()
    if not text:
        raise Malformed("empty", says=msg("error.address.empty"))
    if len(text) > MAX_LENGTH:
        raise Malformed(f"{len(text)} characters; no address format has more than "
                        f"{MAX_LENGTH}", says=msg("error.address.too_long", length=len(text),
                                                   most=MAX_LENGTH))
    if _PRINTABLE.fullmatch(text):
        return text
    bad = next((c for c in text if not "!" <= c <= "~"), None)
    if bad is not None:
        raise Malformed(f"it contains {bad!r} (U+{ord(bad):04X}): addresses are printable "
                        "ASCII without spaces", says=msg("error.address.contains",
                                                         char=shown_char(bad),
                                                         code=f"{ord(bad):04X}"))
    return text


@lru_cache(maxsize=1 << 16)
def _parse(name: str, text: str) -> str:
    return FORMATS[name].parse(text)


def _first(text: str, formats: Sequence[AddressFormat], *, any_format: bool = False) -> str:
    """The canonical form under the first format that accepts ``text``, or the reason of
    the format it most looks like (``any_format``: ``formats`` are every format kinko
    knows, and text like none of them is "no address")."""
    reasons: list[tuple[AddressFormat, Malformed]] = []
    for f in formats:
        try:
            return _parse(f.name, text)
        except Malformed as exc:
            reasons.append((f, exc))
    likely = [(f, r) for f, r in reasons if f.looks_like(text)]
    if len(likely) == 1 or len(formats) == 1:
        f, reason = (likely or reasons)[0]
        raise Malformed(f"not {f.what}: {reason}", says=msg(
            "error.address.not_format", what=f.says_what(), reason=reason.says))
    if any_format and not likely:
        raise Malformed("not an address in any format kinko knows",
                        says=msg("error.address.no_format"))
    named = [f for f, _ in likely or reasons]
    raise Malformed("not " + " nor ".join(f.what for f in named),
                    says=msg("error.address.not_formats", what=_nor(named)))


def _nor(formats: Sequence[AddressFormat]) -> Message:
    """"A nor B nor C" (「A、B、C」) as a message."""
    said = formats[-1].says_what()
    for f in reversed(formats[:-1]):
        said = msg("error.address.nor", a=f.says_what(), b=said)
    return said


def canonical_address(address: str, chain: str) -> str:
    """The canonical form of an address on ``chain``, or :class:`InvalidAddress` naming the
    address and what is wrong with it."""
    if isinstance(address, str):  # the watch asks this for every transfer of every block
        try:
            return _canonical(address, chain)
        except (Malformed, InvalidAddress):
            pass
    formats = chain_formats(chain)
    try:
        return _first(_clean(address), formats)
    except Malformed as exc:
        raise InvalidAddress(f"address {_shown(address)} is {_reason(exc)}",
                             address=str(address)[:MAX_LENGTH], chain=chain,
                             says=msg("error.address.invalid", address=_bare(address),
                                      reason=_says_reason(exc))) from None


@lru_cache(maxsize=1 << 16)
def _canonical(address: str, chain: str) -> str:
    return _first(_clean(address), chain_formats(chain))


def _reason(exc: Malformed) -> str:
    text = str(exc)
    return text if text.startswith("not ") else f"not valid: {text}"


def _says_reason(exc: Malformed) -> Message:
    """:func:`_reason` as a catalog message."""
    if str(exc).startswith("not "):
        return exc.says
    return msg("error.address.not_valid", reason=exc.says)


def currency_address(address: str, currency: str, chain: str | None = None) -> str:
    """The canonical form of a listed address of ``currency`` (a TagPack ticker), also
    accepted in the formats of ``chain`` (the chain of the exchange's asset of that
    symbol, when there is one). With no currency, or a ticker kinko has no format for, the
    address is read by its shape: the first registered format that accepts it.
    :class:`InvalidAddress` when no format accepts it."""
    named = currency_formats(currency) + (chain_formats(chain) if chain in CHAINS else ())
    try:
        if named:
            return _first(_clean(address), tuple(dict.fromkeys(named)))
        return _first(_clean(address), tuple(FORMATS.values()), any_format=True)
    except Malformed as exc:
        ticker = currency.strip().upper()
        listed = f" ({ticker})" if ticker else ""
        says = (msg("error.address.invalid_listed", address=_bare(address),
                    currency=ticker[:40], reason=_says_reason(exc)) if ticker
                else msg("error.address.invalid_unlisted", address=_bare(address),
                         reason=_says_reason(exc)))
        raise InvalidAddress(f"{_shown(address)}{listed} is {_reason(exc)}",
                             address=str(address)[:MAX_LENGTH], currency=currency,
                             says=says) from None


def address_key(address: str) -> str:
    """The lookup key of an address whose chain is not known (a trace file's account, a
    stored key written before canonical forms): its canonical form under the first format
    that accepts it, else the text itself, stripped. Never raises."""
    try:
        text = _clean(address)
    except Malformed:
        return str(address).strip()
    for f in FORMATS.values():
        try:
            return _parse(f.name, text)
        except Malformed:
            continue
    return text


def same_address(a: str | None, b: str | None, chain: str) -> bool:
    """Whether two spellings name the same address of ``chain`` (canonical forms equal);
    text that is no address of the chain equals only the same text."""
    if a is None or b is None:
        return False
    return chain_key(a, chain) == chain_key(b, chain)


def same_token(a: str | None, b: str | None, chain: str) -> bool:
    """Whether two token contracts (NEM: mosaics) are the same (None, the chain's own coin,
    equals only None)."""
    if chain in TOKENS:
        return (a is None and b is None) or (a is not None and b is not None
                                             and _token_key(a, chain) == _token_key(b, chain))
    return (a is None and b is None) or same_address(a, b, chain)


def canonical_token(token: str, chain: str) -> str:
    """The canonical name of a token of ``chain``: a contract address in its canonical form,
    or, where tokens are named (:data:`TOKENS`: a NEM mosaic), its canonical name;
    :class:`~kinko.errors.BadInput` naming it when it is neither."""
    parse = TOKENS.get(chain)
    return parse(token) if parse is not None else canonical_address(token, chain)


def _token_key(token: str, chain: str) -> str:
    try:
        return canonical_token(token, chain)
    except BadInput:
        return "\0" + str(token).strip()


def chain_key(address: str, chain: str) -> str:
    """What to compare an address of ``chain`` by: its canonical form; text that is no
    address of the chain (a record written before its format was checked) stays as
    written, marked so that it never equals a canonical form."""
    try:
        return canonical_address(address, chain)
    except InvalidAddress:
        return "\0" + str(address).strip()


def chain_keys(addresses: Iterable[str | None], chain: str) -> frozenset[str]:
    """:func:`chain_key` of every address given (None and empty ones left out)."""
    return frozenset(chain_key(a, chain) for a in addresses if a)


def display_address(address: str, chain: str) -> str:
    """How people read an address of ``chain`` (Ethereum: EIP-55 mixed case), or
    :class:`InvalidAddress` as :func:`canonical_address`."""
    canonical = canonical_address(address, chain)
    for f in chain_formats(chain):
        try:
            return f.display(_parse(f.name, canonical))
        except Malformed:
            continue
    return canonical  # pragma: no cover (a canonical form parses under its format)


_LINKED = tuple(f for f in FORMATS.values()
                if type(f).equivalents is not AddressFormat.equivalents)


def equivalent_keys(key: str) -> tuple[str, ...]:
    """``key`` and the other canonical strings of the same address (a legacy Bitcoin Cash
    address and its CashAddr), for deny lists that may hold either."""
    out = [key]
    for f in _LINKED:
        if not f.looks_like(key):
            continue
        try:
            canonical = _parse(f.name, key)
        except Malformed:
            continue
        out += [canonical, *f.equivalents(canonical)]
    return tuple(dict.fromkeys(out))


def fold(text: str) -> str:
    """A cheap, lossy key: two spellings of one address (case, NEM's dashes, a CashAddr
    prefix) fold to the same string; different addresses rarely do, so a match of folds
    is confirmed with :func:`address_key`."""
    folded = text.strip().replace("-", "").lower()
    return folded.partition(":")[2] if ":" in folded else folded


def locate_addresses(data: Iterable[object], wanted: Collection[str]) -> dict[str, list[int]]:
    """Where the ``wanted`` addresses (any spelling) occur in ``data`` (a file's account
    column, millions long): ``address_key`` of each wanted address found → its positions.
    The data are scanned once with :func:`fold`; only fold matches are parsed."""
    keys = {address_key(w) for w in wanted}
    folds = {fold(k) for k in keys}
    found: dict[str, list[int]] = {}
    if not keys:
        return found
    for i, item in enumerate(data):
        text = str(item)
        if fold(text) in folds:
            key = address_key(text)
            if key in keys:
                found.setdefault(key, []).append(i)
    return found
