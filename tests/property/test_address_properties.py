"""Properties of the address-format registry, over every registered format:

- any valid spelling of a listed address (case variants, EIP-55 against lower and upper
  case, NEM with or without dashes, CashAddr with or without its prefix or as its legacy
  base58 form, surrounding whitespace) is caught by screening, whatever spelling the list
  used;
- any corrupted checksum (one character changed; for EIP-55 the case of one letter) is
  refused, as a destination and in a list (with the list's file:line, nothing loaded).

Addresses are generated from random payloads with each format's own encoding, so every
format's whole space is exercised, not a few samples.
"""

from __future__ import annotations

import string
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from kinko.domain.addresses import CHAINS, CURRENCIES, FORMATS, canonical_address
from kinko.domain.addresses.codecs import (
    BECH32,
    BECH32M,
    BITCOIN_ALPHABET,
    b32_encode,
    b58check_encode,
    bech32_encode,
    cashaddr_encode,
    convert_bits,
    keccak256,
    monero_b58_encode,
)
from kinko.domain.addresses.formats import (
    AddressFormat,
    Base58Check,
    CashAddr,
    EvmHex,
    Monero,
    Nem,
    Segwit,
    eip55,
)
from kinko.domain.labels import deny_index, parse_csv_labels, parse_tagpack
from kinko.domain.money import AssetRegistry
from kinko.domain.screening import Context, Request, parse_rules, screen
from kinko.errors import InputFileError, InvalidAddress

CHAIN_OF = {name: next(c for c, names in CHAINS.items() if name in names) for name in FORMATS}
CURRENCY_OF = {name: next((c for c, names in CURRENCIES.items() if name in names), "")
               for name in FORMATS}
DENY = parse_rules([{"kind": "deny_list", "action": "block"}], AssetRegistry.default(), "p")
AT = datetime(2018, 1, 26, tzinfo=UTC)
BECH32_CHARS = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
BASE32 = string.ascii_uppercase + "234567"
SPACE = st.text(" \t\r\n", max_size=3)


@st.composite
def addresses(draw: st.DrawFn) -> tuple[AddressFormat, str]:
    """A valid address of a registered format (canonical form), from a random payload."""
    f = draw(st.sampled_from(list(FORMATS.values())))
    if isinstance(f, EvmHex):
        return f, "0x" + draw(st.binary(min_size=20, max_size=20)).hex()
    if isinstance(f, CashAddr):
        kind = draw(st.sampled_from([0, 1]))
        return f, cashaddr_encode(f.prefix, bytes([kind << 3]) + draw(
            st.binary(min_size=20, max_size=20)))
    if isinstance(f, Base58Check):
        version = draw(st.sampled_from(f.versions))
        body = draw(st.binary(min_size=f.size, max_size=f.size))
        return f, b58check_encode(version + body, f.alphabet)
    if isinstance(f, Segwit):
        version = draw(st.integers(0, 16))
        size = draw(st.sampled_from([20, 32]) if version == 0 else st.integers(2, 40))
        program = draw(st.binary(min_size=size, max_size=size))
        return f, bech32_encode(f.hrp, [version, *convert_bits(program, 8, 5, True)],
                                BECH32 if version == 0 else BECH32M)
    if isinstance(f, Monero):
        network, size = draw(st.sampled_from(list(f.kinds)))
        raw = bytes([network]) + draw(st.binary(min_size=size - 5, max_size=size - 5))
        return f, monero_b58_encode(raw + keccak256(raw)[:4])
    assert isinstance(f, Nem), f
    raw = bytes([f.network]) + draw(st.binary(min_size=20, max_size=20))
    return f, b32_encode(raw + keccak256(raw)[:4])


@st.composite
def spellings(draw: st.DrawFn, f: AddressFormat, canonical: str) -> str:
    """Another valid way of writing ``canonical`` in format ``f``."""
    if isinstance(f, EvmHex):
        text = draw(st.sampled_from([canonical, "0x" + canonical[2:].upper(), eip55(canonical),
                                     "0X" + canonical[2:]]))
    elif isinstance(f, CashAddr):
        options = [canonical, canonical.upper(), canonical.split(":")[1],
                   canonical.split(":")[1].upper(), *f.equivalents(canonical)]
        text = draw(st.sampled_from(options))
    elif isinstance(f, Segwit):
        text = draw(st.sampled_from([canonical, canonical.upper()]))
    elif isinstance(f, Nem):
        cased = "".join(c.lower() if draw(st.booleans()) else c for c in canonical)
        cuts = sorted(draw(st.sets(st.integers(1, 39), max_size=8)))
        if draw(st.booleans()):
            cuts = list(range(6, 40, 6))  # the usual NAAAAA-BBBBBB-... groups
        text = "-".join(cased[a:b] for a, b in zip([0, *cuts], [*cuts, 40], strict=True))
    else:  # base58 in any alphabet, Monero: case is part of the address
        text = canonical
    return draw(SPACE) + text + draw(SPACE)


@st.composite
def listed_and_asked(draw: st.DrawFn) -> tuple[AddressFormat, str, str, str]:
    f, canonical = draw(addresses())
    return f, canonical, draw(spellings(f, canonical)), draw(spellings(f, canonical))


def deny_list(listed: str, f: AddressFormat, as_tagpack: bool,
              with_currency: bool) -> dict[str, object]:
    """The deny index of a one-address TagPack or CSV list, naming the address's currency
    or not (then kinko reads the address by its shape)."""
    currency = CURRENCY_OF[f.name] if with_currency else ""
    if as_tagpack:
        text = ("title: t\ncreator: c\nlabel: thief\n"
                + (f"currency: {currency}\n" if currency else "")
                + f"tags:\n- address: '{listed.strip()}'\n")
        labels = parse_tagpack(text, "list.yaml").labels
    else:
        labels = parse_csv_labels(f"address,label,currency\n{listed.strip()},thief,{currency}\n",
                                  "list.csv").labels
    return deny_index({lbl.address: lbl for lbl in labels})


@pytest.mark.slow
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(listed_and_asked(), st.booleans(), st.booleans())
@example(  # a list without currencies holds the legacy form; the customer types the CashAddr
    (FORMATS["bitcoincash"], "bitcoincash:qpm2qsznhks23z7629mms6s4cwef74vcwvy22gdx6a",
     "1BpEi6DfDAUFd7GtittLSdBeYJvcoaVggu", "qpm2qsznhks23z7629mms6s4cwef74vcwvy22gdx6a"),
    False, False)
def test_any_spelling_of_a_listed_address_is_caught(case: tuple[AddressFormat, str, str, str],
                                                    as_tagpack: bool,
                                                    with_currency: bool) -> None:
    f, canonical, listed, asked = case
    chain = CHAIN_OF[f.name]
    destination = canonical_address(asked, chain)
    assert destination == canonical_address(listed, chain) == canonical_address(canonical, chain)
    deny = deny_list(listed, f, as_tagpack, with_currency)
    decision = screen(Request("W", "C1", "ETH", 1, destination, AT), DENY,
                      Context(deny=deny), 1)  # type: ignore[arg-type]
    assert decision.outcome == "block", (listed, asked, sorted(deny))


def corrupt(draw: st.DrawFn, f: AddressFormat, canonical: str) -> str:
    """One character changed, within the format's alphabet (EIP-55: one letter's case)."""
    if isinstance(f, EvmHex):
        text = eip55(canonical)
        letters = [i for i, c in enumerate(text) if i > 1 and c.isalpha()]
        assume(len(letters) >= 2)  # with one letter, no spelling is mixed case
        i = draw(st.sampled_from(letters))
        return text[:i] + text[i].swapcase() + text[i + 1:]
    if isinstance(f, CashAddr | Segwit):
        start = canonical.rindex(":" if isinstance(f, CashAddr) else "1") + 1
        alphabet = BECH32_CHARS
    elif isinstance(f, Nem):
        start, alphabet = 0, BASE32
    else:
        start = 0
        alphabet = f.alphabet if isinstance(f, Base58Check) else BITCOIN_ALPHABET
    i = draw(st.integers(start, len(canonical) - 1))
    new = draw(st.sampled_from([c for c in alphabet if c != canonical[i]]))
    return canonical[:i] + new + canonical[i + 1:]


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(st.data())
def test_a_corrupted_checksum_is_refused_everywhere(data: st.DataObject) -> None:
    f, canonical = data.draw(addresses())
    bad = corrupt(data.draw, f, canonical)
    with pytest.raises(InvalidAddress) as caught:
        canonical_address(bad, CHAIN_OF[f.name])
    assert bad[:20] in caught.value.message
    currency = CURRENCY_OF[f.name]
    with pytest.raises(InputFileError) as listed:
        parse_csv_labels(f"address,label,currency\n{canonical},ok,{currency}\n"
                         f"{bad},thief,{currency}\n", "list.csv")
    assert listed.value.problems[0].startswith("list.csv:3: ")
