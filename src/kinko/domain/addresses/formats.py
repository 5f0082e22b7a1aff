"""Address formats: each one small object that turns any valid spelling of an address into
its one canonical string, or says what is wrong.

A format's :meth:`AddressFormat.parse` takes text already stripped of surrounding
whitespace and checked to be printable ASCII (:mod:`kinko.domain.addresses.registry` does
that once for all formats) and returns the canonical string, or raises
:class:`~kinko.domain.addresses.codecs.Malformed` with the reason (in English, and as a
catalog message: its ``says``). Case is significant in base58 (every character counts, so
the canonical form is the text itself, checksum checked) and not in hex, bech32, CashAddr
or NEM's base32 (the canonical form is one case)::

    >>> EvmHex("evm", "an Ethereum address").parse("0x52908400098527886E0F7030069857D2E4169EE7")
    '0x52908400098527886e0f7030069857d2e4169ee7'
    >>> Nem("nem", "a NEM address", 0x68).parse("ndd2ct-6lqliy-q56kix-i3entm-6ek3d4-4p5jfx-j4r4")
    'NDD2CT6LQLIYQ56KIXI3ENTM6EK3D44P5JFXJ4R4'
    >>> Nem("nem", "a NEM address", 0x68).parse("NDD2CT6LQLIYQ56KIXI3ENTM6EK3D44P5JFXJ4R5")
    Traceback (most recent call last):
    ...
    kinko.domain.addresses.codecs.Malformed: bad checksum (a character is wrong or missing)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from kinko.domain.addresses.codecs import (
    BECH32,
    BECH32M,
    BITCOIN_ALPHABET,
    Malformed,
    b32_decode,
    b58check_decode,
    b58check_encode,
    bad_checksum,
    bech32_decode,
    cashaddr_decode,
    cashaddr_encode,
    convert_bits,
    keccak256,
    monero_b58_decode,
    monero_b58_encode,
)
from kinko.domain.messages import Message, msg

__all__ = ["AddressFormat", "Base58Check", "CashAddr", "EvmHex", "Monero", "Nem", "Segwit"]


@dataclass(frozen=True)
class AddressFormat:
    """One way of writing addresses. ``name`` is how the registry refers to it; ``what``
    completes "… is not ___" in error messages, and ``what_id`` is the catalog id of the
    same words (``error.address.format.<name>``), read in each language."""

    name: str
    what: str
    what_id: str = field(default="", kw_only=True)

    def says_what(self) -> Message:
        """``what`` as a catalog message (a format registered without ``what_id``: its
        name)."""
        if self.what_id:
            return msg(self.what_id)
        return msg("error.address.format.other", name=self.name)

    def looks_like(self, text: str) -> bool:
        """Whether ``text`` is plausibly meant in this format (picks the error to report
        when no format of a chain accepts an address)."""
        raise NotImplementedError

    def parse(self, text: str) -> str:
        """The canonical form, or :class:`Malformed` saying what is wrong."""
        raise NotImplementedError

    def display(self, canonical: str) -> str:
        """How people read it (the canonical form unless the format has a nicer one)."""
        return canonical

    def equivalents(self, canonical: str) -> tuple[str, ...]:
        """Other formats' canonical strings for the same address (a legacy Bitcoin Cash
        address and its CashAddr form); deny lists match on any of them."""
        return ()


_HEX = re.compile(r"0[xX][0-9a-fA-F]{40}")


def eip55(lower_hex: str) -> str:
    """The EIP-55 mixed-case spelling of ``0x`` + 40 lower-case hex digits."""
    digits = lower_hex[2:]
    mask = keccak256(digits.encode("ascii")).hex()[:40]
    return "0x" + "".join(c.upper() if c.isalpha() and int(m, 16) >= 8 else c
                          for c, m in zip(digits, mask, strict=True))


@dataclass(frozen=True)
class EvmHex(AddressFormat):
    """Ethereum and every EVM chain: ``0x`` and 40 hex digits. All lower or all upper case
    carries no checksum; mixed case must be the EIP-55 checksum. Canonical: lower case."""

    def looks_like(self, text: str) -> bool:
        return text[:2] in ("0x", "0X")

    def parse(self, text: str) -> str:
        if not _HEX.fullmatch(text):
            if self.looks_like(text):
                raise Malformed(f"0x and 40 hex digits expected ({len(text) - 2} characters "
                                "after 0x)",
                                says=msg("error.address.evm_digits_after", count=len(text) - 2))
            raise Malformed("0x and 40 hex digits expected", says=msg("error.address.evm_hex"))
        lower = "0x" + text[2:].lower()
        digits = text[2:]
        if digits != digits.lower() and digits != digits.upper() and eip55(lower) != "0x" + digits:
            raise Malformed("bad EIP-55 checksum: the case of its letters is not the "
                            "address's checksum (a character or its case is wrong); check "
                            "it with its owner", says=msg("error.address.eip55"))
        return lower

    def display(self, canonical: str) -> str:
        return eip55(canonical)


@dataclass(frozen=True)
class Base58Check(AddressFormat):
    """A version prefix and a ``size``-byte hash, base58 with a double-SHA-256 checksum
    (Bitcoin P2PKH/P2SH and its forks, Litecoin, Dash, Zcash transparent, Tron, XRP with
    its own alphabet). Case matters; canonical: exactly as written."""

    versions: tuple[bytes, ...] = ()
    size: int = 20
    alphabet: str = BITCOIN_ALPHABET
    starts: str = ""  # the first characters its addresses can have (for error messages)

    def looks_like(self, text: str) -> bool:
        return bool(self.starts) and text[:1] in self.starts and 25 <= len(text) <= 36

    def parse(self, text: str) -> str:
        payload = self.payload(text)
        return b58check_encode(payload, self.alphabet)  # the one spelling of these bytes

    def payload(self, text: str) -> bytes:
        if not 25 <= len(text) <= 40:
            raise Malformed(f"{len(text)} characters (base58check addresses have 25 to 36)",
                            says=msg("error.address.b58check_length", length=len(text)))
        payload = b58check_decode(text, self.alphabet)
        version = next((v for v in self.versions if payload.startswith(v)), None)
        if version is None or len(payload) != len(version) + self.size:
            starts = ", ".join(self.starts)
            raise Malformed("a version or length this network does not use" +
                            (f" (its addresses start with {starts})" if starts else ""),
                            says=msg("error.address.version_starts", starts=starts)
                            if starts else msg("error.address.version"))
        return payload


@dataclass(frozen=True)
class Segwit(AddressFormat):
    """SegWit addresses: Bech32 for witness version 0, Bech32m for 1 to 16 (BIP-173/350),
    with this network's human-readable part. One case only; canonical: lower case."""

    hrp: str = "bc"

    def looks_like(self, text: str) -> bool:
        return text.lower().startswith(self.hrp + "1")

    def parse(self, text: str) -> str:
        hrp, data, constant = bech32_decode(text)
        if hrp != self.hrp:
            raise Malformed(f"human-readable part {hrp!r}, not {self.hrp!r}",
                            says=msg("error.address.hrp", hrp=hrp[:90], expected=self.hrp))
        if not data or data[0] > 16:
            raise Malformed("no witness version 0-16",
                            says=msg("error.address.witness_version"))
        program = convert_bits(data[1:], 5, 8, False)
        if not 2 <= len(program) <= 40 or (data[0] == 0 and len(program) not in (20, 32)):
            raise Malformed(f"a witness program of {len(program)} bytes",
                            says=msg("error.address.witness_program", size=len(program)))
        if constant != (BECH32 if data[0] == 0 else BECH32M):
            raise Malformed("the checksum variant does not match the witness version "
                            "(Bech32 for version 0, Bech32m above)",
                            says=msg("error.address.checksum_variant"))
        return text.lower()


@dataclass(frozen=True)
class CashAddr(AddressFormat):
    """Bitcoin Cash: ``prefix:payload`` (the prefix may be left out), one case, a 40-bit
    checksum over prefix and payload; the legacy base58 form of the same hash is accepted
    too. Canonical: the prefixed CashAddr in lower case."""

    prefix: str = "bitcoincash"
    legacy: Base58Check | None = None
    _kinds: tuple[int, int] = field(default=(0, 1), repr=False)  # P2PKH, P2SH type bits

    def looks_like(self, text: str) -> bool:
        lowered = text.lower()
        return (lowered.startswith((self.prefix + ":", "q", "p")) and len(lowered) >= 42) or bool(
            self.legacy and self.legacy.looks_like(text))

    def parse(self, text: str) -> str:
        if self.legacy is not None and ":" not in text and text[:1] in self.legacy.starts \
                and len(text) <= 36:
            return self._from_legacy(self.legacy.payload(text))
        prefix, _, payload = text.rpartition(":")
        if prefix and prefix.lower() != self.prefix:
            raise Malformed(f"prefix {prefix!r}, not {self.prefix!r}",
                            says=msg("error.address.prefix", prefix=prefix[:80],
                                     expected=self.prefix))
        if prefix and (text.lower() != text and text.upper() != text):
            raise Malformed("mixed upper and lower case (CashAddr is one case only)",
                            says=msg("error.address.mixed_case", encoding="CashAddr"))
        raw = cashaddr_decode(self.prefix, payload)
        version = raw[0] if raw else 0xFF
        if len(raw) != 21 or version & 0x87 or (version >> 3) not in self._kinds:
            raise Malformed("not a 20-byte key or script hash",
                            says=msg("error.address.cashaddr_hash"))
        return f"{self.prefix}:{payload.lower()}"

    def _from_legacy(self, payload: bytes) -> str:
        assert self.legacy is not None
        kind = self.legacy.versions.index(payload[:1])  # P2PKH first, then P2SH
        return cashaddr_encode(self.prefix, bytes([self._kinds[kind] << 3]) + payload[1:])

    def equivalents(self, canonical: str) -> tuple[str, ...]:
        if self.legacy is None:
            return ()
        if canonical.startswith(self.prefix + ":"):
            raw = cashaddr_decode(self.prefix, canonical.partition(":")[2])
            kind = self._kinds.index(raw[0] >> 3)
            return (b58check_encode(self.legacy.versions[kind] + raw[1:]),)
        return (self._from_legacy(self.legacy.payload(canonical)),)


@dataclass(frozen=True)
class Monero(AddressFormat):
    """Monero: a network byte, keys (and a payment id for an integrated address) and a
    Keccak-256 checksum, in Monero's blockwise base58. Case matters; canonical: as written.

    ``kinds`` maps each network byte to the length in bytes of its addresses."""

    kinds: tuple[tuple[int, int], ...] = ((18, 69), (42, 69), (19, 77))

    def looks_like(self, text: str) -> bool:
        return text[:1] in "48" and len(text) >= 90

    def parse(self, text: str) -> str:
        if len(text) not in (95, 106):
            raise Malformed(f"{len(text)} characters (Monero addresses have 95, integrated "
                            "ones 106)", says=msg("error.address.monero_length",
                                                  length=len(text)))
        raw = monero_b58_decode(text)
        if raw[0] not in dict(self.kinds) or len(raw) != dict(self.kinds)[raw[0]]:
            raise Malformed(f"network byte {raw[0]} is not one this network uses",
                            says=msg("error.address.monero_network", byte=str(raw[0])))
        if keccak256(raw[:-4])[:4] != raw[-4:]:
            raise bad_checksum()
        return monero_b58_encode(raw)


_NEM_TEXT = re.compile(r"[A-Za-z2-7]+(?:-[A-Za-z2-7]+)*")


@dataclass(frozen=True)
class Nem(AddressFormat):
    """NEM (NIS1): base32 of a network byte, a 20-byte key hash and a checksum (the first 4
    bytes of Keccak-256 of the first 21 bytes). Accepted in either case and with dashes
    between groups; canonical: upper case, no dashes. Whether an address is valid on its
    network is the NEM SDK's verdict (``symbol-sdk-python``, the same code that derives
    addresses from keys, :mod:`kinko.chains.nem`): kinko keeps no second checksum of its
    own, and only says which part is wrong."""

    network: int = 0x68  # 'N' mainnet; 0x98 'T' testnet, 0x60 'M' mijin

    def looks_like(self, text: str) -> bool:
        compact = text.replace("-", "")
        return len(compact) == 40 and bool(_NEM_TEXT.fullmatch(text))

    def parse(self, text: str) -> str:
        if not _NEM_TEXT.fullmatch(text):
            raise Malformed("base32 letters (A-Z, 2-7) expected, dashes only between groups",
                            says=msg("error.address.nem_letters"))
        compact = text.replace("-", "").upper()
        if len(compact) != 40:
            raise Malformed(f"{len(compact)} characters without dashes (NEM addresses have 40)",
                            says=msg("error.address.nem_length", length=len(compact)))
        raw = b32_decode(compact)
        if raw[0] != self.network:
            raise Malformed(f"network byte 0x{raw[0]:02x}, not 0x{self.network:02x} (its "
                            f"addresses start with {_first(self)})",
                            says=msg("error.address.nem_network", byte=f"0x{raw[0]:02x}",
                                     expected=f"0x{self.network:02x}", first=_first(self)))
        if not _nem_network(self.network).is_valid_address_string(compact):
            raise bad_checksum()
        return compact


@cache
def _nem_network(byte: int) -> Any:
    """The NEM SDK's network of ``byte`` (imported on first use: only NEM addresses need
    it)."""
    from symbolchain.nem.Network import Network

    known = next((n for n in Network.NETWORKS if n.identifier == byte), None)
    return known or Network(f"nem-0x{byte:02x}", byte, Network.MAINNET.datetime_converter.epoch)


def _first(nem: Nem) -> str:
    return "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"[nem.network >> 3]
