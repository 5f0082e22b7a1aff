"""The encodings address formats are built from: base58 (with any alphabet, and Monero's
blockwise variant), Bech32/Bech32m (BIP-173/350), CashAddr's checksum, base32 (RFC 4648),
and the hashes their checksums use (double SHA-256, Keccak-256).

Decoders return the bytes or raise :class:`Malformed` with a short reason in plain words
("bad checksum", "'0' is not a base58 character") and the same reason as a catalog message
(its ``says``); the formats turn that reason into an error naming the address. Encoders
exist so that tests and conversions (a legacy Bitcoin Cash address to its CashAddr form)
produce the one canonical spelling::

    >>> b58check_decode("1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2", BITCOIN_ALPHABET)[:1]
    b'\\x00'
    >>> bech32_decode("BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4")[0]
    'bc'
"""

from __future__ import annotations

import hashlib

from Crypto.Hash import keccak

from kinko.domain.messages import Message, msg

__all__ = [
    "BECH32",
    "BECH32M",
    "BITCOIN_ALPHABET",
    "XRP_ALPHABET",
    "Malformed",
    "b32_decode",
    "b32_encode",
    "b58_decode",
    "b58_encode",
    "b58check_decode",
    "b58check_encode",
    "bad_char",
    "bad_checksum",
    "bech32_decode",
    "bech32_encode",
    "cashaddr_decode",
    "cashaddr_encode",
    "convert_bits",
    "keccak256",
    "monero_b58_decode",
    "monero_b58_encode",
    "sha256d",
    "shown_char",
]

BITCOIN_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
XRP_ALPHABET = "rpshnaf39wBUDNEGHJKLM4PQRST7VWXYZ2bcdeCg65jkm8oFqi1tuvAxyz"
_BECH32_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_BECH32_VALUES = {c: i for i, c in enumerate(_BECH32_CHARSET)}
_BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_BASE32_VALUES = {c: i for i, c in enumerate(_BASE32)}
BECH32, BECH32M = 1, 0x2BC830A3  # the constant a valid checksum leaves (BIP-173, BIP-350)


class Malformed(ValueError):
    """The text is not a valid encoding; the message says what is wrong, in English, and
    ``says`` the same as a catalog message (the reason inside an
    :class:`~kinko.errors.InvalidAddress`'s message, read in each language)."""

    def __init__(self, reason: str, *, says: Message) -> None:
        super().__init__(reason)
        self.says = says


def shown_char(ch: str) -> str:
    """A character for a message: itself when it can be seen, else its escape (``\\u200b``),
    as ``repr`` shows it without the quotes."""
    return ch if ch.isprintable() and not ch.isspace() else repr(ch)[1:-1]


def bad_char(ch: str, encoding: str) -> Malformed:
    """"'0' is not a base58 character"."""
    return Malformed(f"{ch!r} is not a {encoding} character",
                     says=msg("error.address.bad_char", char=shown_char(ch), encoding=encoding))


def bad_checksum() -> Malformed:
    return Malformed("bad checksum (a character is wrong or missing)",
                     says=msg("error.address.bad_checksum"))


def sha256d(data: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


def keccak256(data: bytes) -> bytes:
    """Keccak-256 as Ethereum and Monero use it (the original padding, not SHA3-256)."""
    return keccak.new(data=data, digest_bits=256).digest()


# ---------------------------------------------------------------------------- base58

def b58_decode(text: str, alphabet: str = BITCOIN_ALPHABET) -> bytes:
    number = 0
    for ch in text:
        digit = alphabet.find(ch)
        if digit < 0:
            raise bad_char(ch, "base58")
        number = number * 58 + digit
    body = number.to_bytes((number.bit_length() + 7) // 8, "big")
    zeros = len(text) - len(text.lstrip(alphabet[0]))  # each leading zero digit: a zero byte
    return b"\0" * zeros + body


def b58_encode(data: bytes, alphabet: str = BITCOIN_ALPHABET) -> str:
    number = int.from_bytes(data, "big")
    out = []
    while number:
        number, digit = divmod(number, 58)
        out.append(alphabet[digit])
    zeros = len(data) - len(data.lstrip(b"\0"))
    return alphabet[0] * zeros + "".join(reversed(out))


def b58check_decode(text: str, alphabet: str = BITCOIN_ALPHABET) -> bytes:
    """The payload (version bytes and data) of a base58check string, its checksum checked."""
    raw = b58_decode(text, alphabet)
    if len(raw) < 5:
        raise Malformed("too short for base58check",
                        says=msg("error.address.too_short", encoding="base58check"))
    payload, check = raw[:-4], raw[-4:]
    if sha256d(payload)[:4] != check:
        raise bad_checksum()
    return payload


def b58check_encode(payload: bytes, alphabet: str = BITCOIN_ALPHABET) -> str:
    return b58_encode(payload + sha256d(payload)[:4], alphabet)


# Monero: 8-byte blocks, each 11 characters; a last, shorter block of n bytes takes
# _BLOCK_CHARS[n] characters (so no block can carry a value its length cannot hold).
_BLOCK_CHARS = (0, 2, 3, 5, 6, 7, 9, 10, 11)


def monero_b58_decode(text: str) -> bytes:
    full, rest = divmod(len(text), 11)
    if rest not in _BLOCK_CHARS:
        raise Malformed(f"{len(text)} characters is not a length Monero's base58 produces",
                        says=msg("error.address.monero_b58_length", length=len(text)))
    out = bytearray()
    for i in range(full + (1 if rest else 0)):
        chunk = text[i * 11: i * 11 + 11]
        size = 8 if len(chunk) == 11 else _BLOCK_CHARS.index(len(chunk))
        number = 0
        for ch in chunk:
            digit = BITCOIN_ALPHABET.find(ch)
            if digit < 0:
                raise bad_char(ch, "base58")
            number = number * 58 + digit
        if number >> (8 * size):
            raise Malformed("a block overflows its length",
                            says=msg("error.address.block_overflow"))
        out += number.to_bytes(size, "big")
    return bytes(out)


def monero_b58_encode(data: bytes) -> str:
    out = []
    for i in range(0, len(data), 8):
        block = data[i: i + 8]
        number, chars = int.from_bytes(block, "big"), _BLOCK_CHARS[len(block)]
        digits = []
        for _ in range(chars):
            number, digit = divmod(number, 58)
            digits.append(BITCOIN_ALPHABET[digit])
        out.append("".join(reversed(digits)))
    return "".join(out)


# ---------------------------------------------------------------------------- bech32

def _polymod(values: list[int]) -> int:
    generator = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
    check = 1
    for value in values:
        top = check >> 25
        check = (check & 0x1FFFFFF) << 5 ^ value
        for i in range(5):
            check ^= generator[i] if (top >> i) & 1 else 0
    return check


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def bech32_decode(text: str) -> tuple[str, list[int], int]:
    """(human-readable part, data values without the checksum, checksum constant); the
    constant says which variant the checksum is (:data:`BECH32` or :data:`BECH32M`)."""
    if any(ord(c) < 33 or ord(c) > 126 for c in text):
        raise Malformed("a character outside printable ASCII",
                        says=msg("error.address.not_printable"))
    if text.lower() != text and text.upper() != text:
        raise Malformed("mixed upper and lower case (bech32 is one case only)",
                        says=msg("error.address.mixed_case", encoding="bech32"))
    if len(text) > 90:
        raise Malformed("longer than 90 characters",
                        says=msg("error.address.longer_than", most=90))
    lowered = text.lower()
    sep = lowered.rfind("1")
    if sep < 1 or sep + 7 > len(lowered):
        raise Malformed("no human-readable part, separator '1' and 6-character checksum",
                        says=msg("error.address.bech32_parts"))
    hrp, rest = lowered[:sep], lowered[sep + 1:]
    bad = next((c for c in rest if c not in _BECH32_VALUES), None)
    if bad is not None:
        raise bad_char(bad, "bech32")
    data = [_BECH32_VALUES[c] for c in rest]
    constant = _polymod(_hrp_expand(hrp) + data)
    if constant not in (BECH32, BECH32M):
        raise bad_checksum()
    return hrp, data[:-6], constant


def bech32_encode(hrp: str, data: list[int], constant: int) -> str:
    values = _hrp_expand(hrp) + data
    mod = _polymod([*values, 0, 0, 0, 0, 0, 0]) ^ constant
    check = [(mod >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(_BECH32_CHARSET[d] for d in data + check)


def convert_bits(data: bytes | list[int], frm: int, to: int, pad: bool) -> list[int]:
    """Regroup ``frm``-bit values into ``to``-bit values (BIP-173's convertbits)."""
    acc = bits = 0
    out: list[int] = []
    top = (1 << to) - 1
    for value in data:
        if value < 0 or value >> frm:
            raise Malformed("a value out of range", says=msg("error.address.out_of_range"))
        acc = (acc << frm) | value
        bits += frm
        while bits >= to:
            bits -= to
            out.append((acc >> bits) & top)
    if pad:
        if bits:
            out.append((acc << (to - bits)) & top)
    elif bits >= frm or (acc << (to - bits)) & top:
        raise Malformed("bad padding", says=msg("error.address.bad_padding"))
    return out


# ---------------------------------------------------------------------------- cashaddr

def _cash_polymod(values: list[int]) -> int:
    generator = (0x98F2BC8E61, 0x79B76D99E2, 0xF33E5FB3C4, 0xAE2EABE2A8, 0x1E4F43E470)
    check = 1
    for value in values:
        top = check >> 35
        check = ((check & 0x07FFFFFFFF) << 5) ^ value
        for i in range(5):
            check ^= generator[i] if (top >> i) & 1 else 0
    return check ^ 1


def cashaddr_decode(prefix: str, payload: str) -> bytes:
    """The version byte and hash of a CashAddr payload (no prefix, one case), checksum
    checked against ``prefix``."""
    if payload.lower() != payload and payload.upper() != payload:
        raise Malformed("mixed upper and lower case (CashAddr is one case only)",
                        says=msg("error.address.mixed_case", encoding="CashAddr"))
    lowered = payload.lower()
    bad = next((c for c in lowered if c not in _BECH32_VALUES), None)
    if bad is not None:
        raise bad_char(bad, "CashAddr")
    if len(lowered) < 9:
        raise Malformed("too short for CashAddr",
                        says=msg("error.address.too_short", encoding="CashAddr"))
    data = [_BECH32_VALUES[c] for c in lowered]
    if _cash_polymod([ord(c) & 31 for c in prefix] + [0] + data):
        raise bad_checksum()
    return bytes(convert_bits(data[:-8], 5, 8, False))


def cashaddr_encode(prefix: str, payload: bytes) -> str:
    data = convert_bits(payload, 8, 5, True)
    mod = _cash_polymod([ord(c) & 31 for c in prefix] + [0] + data + [0] * 8)
    check = [(mod >> 5 * (7 - i)) & 31 for i in range(8)]
    return prefix + ":" + "".join(_BECH32_CHARSET[d] for d in data + check)


# ---------------------------------------------------------------------------- base32

def b32_decode(text: str) -> bytes:
    """RFC 4648 base32 without padding, upper-case alphabet (the caller folds the case)."""
    if len(text) * 5 % 8:
        raise Malformed(f"{len(text)} characters is not a whole number of bytes in base32",
                        says=msg("error.address.b32_length", length=len(text)))
    number = 0
    for ch in text:
        value = _BASE32_VALUES.get(ch)
        if value is None:
            raise bad_char(ch, "base32")
        number = number << 5 | value
    return number.to_bytes(len(text) * 5 // 8, "big")


def b32_encode(data: bytes) -> str:
    if len(data) * 8 % 5:
        raise ValueError("base32 without padding needs a multiple of 5 bytes")
    number, chars = int.from_bytes(data, "big"), len(data) * 8 // 5
    return "".join(_BASE32[(number >> 5 * (chars - 1 - i)) & 31] for i in range(chars))
