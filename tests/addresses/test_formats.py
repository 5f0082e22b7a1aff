"""Each address format against published vectors (EIP-55, BIP-173/350, the CashAddr spec,
NEM's test vectors, well-known Monero and XRP accounts), its canonical form, and the
refusals: bad checksums, wrong networks, whitespace inside, look-alike characters."""

from __future__ import annotations

import pytest
from Crypto.Hash import RIPEMD160
from eth_utils import to_checksum_address

from kinko.domain.addresses import (
    CHAINS,
    CURRENCIES,
    FORMATS,
    address_key,
    canonical_address,
    currency_address,
    display_address,
    equivalent_keys,
    same_address,
)
from kinko.domain.addresses.codecs import b32_decode, keccak256
from kinko.errors import InvalidAddress

EIP55 = ["0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
         "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB", "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
         "0x52908400098527886E0F7030069857D2E4169EE7", "0xde709f2102306220921060314715629080e2fb77"]


@pytest.mark.parametrize("address", EIP55)
def test_evm_canonical_is_lower_case_and_display_is_eip55(address: str) -> None:
    canonical = canonical_address(address, "ethereum")
    assert canonical == address.lower()
    assert canonical_address(address.upper().replace("0X", "0x"), "ethereum") == canonical
    assert display_address(canonical, "ethereum") == to_checksum_address(canonical)
    assert canonical_address(to_checksum_address(canonical), "polygon") == canonical


def test_a_wrong_capital_in_an_eip55_address_is_refused() -> None:
    typo = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD"  # last letter's case flipped
    with pytest.raises(InvalidAddress, match="not an Ethereum address: bad EIP-55 checksum"
                       ) as caught:
        canonical_address(typo, "ethereum")
    assert typo in caught.value.message and caught.value.details["chain"] == "ethereum"
    with pytest.raises(InvalidAddress, match=r"0x and 40 hex digits expected \(4 characters"):
        canonical_address("0x1234", "ethereum")
    with pytest.raises(InvalidAddress, match="0x and 40 hex digits"):
        canonical_address("0xZZZ", "ethereum")


SEGWIT = [("BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4", "bitcoin"),  # BIP-173 P2WPKH
          ("bc1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qccfmv3", "bitcoin"),  # P2WSH
          ("bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0", "bitcoin"),  # taproot
          ("bc1zw508d6qejxtdg4y5r3zarvaryvaxxpcs", "bitcoin")]  # BIP-350, witness version 2


@pytest.mark.parametrize(("address", "chain"), SEGWIT)
def test_segwit_canonical_is_lower_case(address: str, chain: str) -> None:
    assert canonical_address(address, chain) == address.lower()
    assert canonical_address(address.upper(), chain) == address.lower()


@pytest.mark.parametrize(("address", "why"), [
    ("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5", "bad checksum"),
    ("bc1QW508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", "mixed upper and lower case"),
    # version 0 with a Bech32m checksum (BIP-350's invalid vector)
    ("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kemeawh", "checksum variant"),
    ("tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx", "bc1"),  # testnet, not this chain
    ("bc1qw508d6qejxtdg4y5r3zarvarybc1qw508d6qe", "bad checksum"),
])
def test_bad_segwit_addresses_are_refused(address: str, why: str) -> None:
    with pytest.raises(InvalidAddress, match=why):
        canonical_address(address, "bitcoin")


CASHADDR = [("1BpEi6DfDAUFd7GtittLSdBeYJvcoaVggu",
             "bitcoincash:qpm2qsznhks23z7629mms6s4cwef74vcwvy22gdx6a"),
            ("1KXrWXciRDZUpQwQmuM1DbwsKDLYAYsVLR",
             "bitcoincash:qr95sy3j9xwd2ap32xkykttr4cvcu7as4y0qverfuy"),
            ("3CWFddi6m4ndiGyKqzYvsFYagqDLPVMTzC",
             "bitcoincash:ppm2qsznhks23z7629mms6s4cwef74vcwvn0h829pq")]


@pytest.mark.parametrize(("legacy", "cashaddr"), CASHADDR)
def test_bitcoin_cash_has_one_canonical_form_for_both_spellings(legacy: str,
                                                                cashaddr: str) -> None:
    """The CashAddr specification's examples: legacy and CashAddr are one address."""
    for spelling in (legacy, cashaddr, cashaddr.upper(), cashaddr.split(":")[1],
                     cashaddr.split(":")[1].upper()):
        assert canonical_address(spelling, "bitcoincash") == cashaddr
    assert set(equivalent_keys(cashaddr)) == {cashaddr, legacy}
    assert set(equivalent_keys(legacy)) == {cashaddr, legacy}
    assert address_key(legacy) == legacy  # with no chain named: a base58 address as written
    with pytest.raises(InvalidAddress, match="mixed upper and lower case"):
        canonical_address("bitcoincash:" + cashaddr.split(":")[1].upper(), "bitcoincash")
    with pytest.raises(InvalidAddress, match="bad checksum"):
        canonical_address(cashaddr[:-1] + ("q" if cashaddr[-1] != "q" else "p"), "bitcoincash")


def test_nem_addresses_against_the_nem_test_vectors() -> None:
    """NEM's published key vector: the address is the network byte, RIPEMD-160 of
    Keccak-256 of the public key, and a Keccak checksum; any case, dashes allowed."""
    public = bytes.fromhex("c5f54ba980fcbb657dbaaa42700539b207873e134d2375efeab5f1ab52f87844")
    address = "NDD2CT6LQLIYQ56KIXI3ENTM6EK3D44P5JFXJ4R4"
    assert b32_decode(address)[1:21] == RIPEMD160.new(keccak256(public)).digest()
    for spelling in (address, address.lower(), "NDD2CT-6LQLIY-Q56KIX-I3ENTM-6EK3D4-4P5JFX-J4R4",
                     "ndd2ct-6lqliy-q56kix-i3entm-6ek3d4-4p5jfx-j4r4", f"  {address}\n"):
        assert canonical_address(spelling, "nem") == address
    with pytest.raises(InvalidAddress, match="bad checksum"):
        canonical_address(address[:-1] + "5", "nem")
    with pytest.raises(InvalidAddress, match="network byte"):
        canonical_address(address, "nem-testnet")
    with pytest.raises(InvalidAddress, match="dashes only between groups"):
        canonical_address("-" + address, "nem")


def test_base58_addresses_are_exact_and_checked() -> None:
    monero = ("44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt"
              "7f2wfn3RVGQBEP3A")  # the Monero General Fund's published donation address
    assert canonical_address(monero, "monero") == monero
    with pytest.raises(InvalidAddress, match=r"bad checksum|overflows"):
        canonical_address(monero[:-1] + "B", "monero")
    assert canonical_address("rHb9CJAWyB4rj91VRWn96DkukG4bwdtyTh", "xrpl")  # XRP genesis
    bitcoin = "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2"
    assert canonical_address(f"\t{bitcoin} ", "bitcoin") == bitcoin
    with pytest.raises(InvalidAddress, match="bad checksum"):
        canonical_address(bitcoin.lower(), "bitcoin")  # case matters in base58
    with pytest.raises(InvalidAddress, match="not a Litecoin base58 address"):
        canonical_address(bitcoin, "litecoin")
    with pytest.raises(InvalidAddress, match="a version or length this network does not use"):
        canonical_address("DFFJhnQNZf8rf67tYnesPu7MuGUpYtzv7Z", "dash")  # Verge's, in OFAC's
    assert canonical_address("DFFJhnQNZf8rf67tYnesPu7MuGUpYtzv7Z", "verge")
    assert not same_address(bitcoin, bitcoin.swapcase(), "bitcoin")


@pytest.mark.parametrize(("text", "why"), [
    ("0x5290 8400098527886E0F7030069857D2E4169EE7", "printable ASCII without spaces"),
    ("0x52908400098527886E0F7030069857D2E4169EE7\u200b", "U\\+200B"),
    ("0x5290840009852788б0F7030069857D2E4169EE7", "U\\+0431"),  # a Cyrillic look-alike
    ("", "empty"), ("   ", "empty"), ("0x" + "a" * 400, "no address format has more than"),
])
def test_hostile_text_is_refused_naming_what(text: str, why: str) -> None:
    with pytest.raises(InvalidAddress, match=why):
        canonical_address(text, "ethereum")


def test_unknown_chains_and_currencies() -> None:
    with pytest.raises(InvalidAddress, match="chain 'solana' has no address format"):
        canonical_address("0x52908400098527886E0F7030069857D2E4169EE7", "solana")
    with pytest.raises(InvalidAddress, match="chain 'fiat'"):
        canonical_address("JP123", "fiat")
    # a ticker kinko has no format for: read by its shape, any format
    assert currency_address("0X52908400098527886E0F7030069857D2E4169EE7", "SHIB") == \
        "0x52908400098527886e0f7030069857d2e4169ee7"
    with pytest.raises(InvalidAddress, match="not an address in any format kinko knows"):
        currency_address("So11111111111111111111111111111111111111112", "SOL")
    # a currency that is the exchange's own asset also takes that asset's chain's formats
    with pytest.raises(InvalidAddress, match=r"\(XEM\) is not a NEM mainnet address"):
        currency_address("0x52908400098527886E0F7030069857D2E4169EE7", "XEM")
    assert currency_address("0x52908400098527886E0F7030069857D2E4169EE7", "XEM", "ethereum")


def test_the_registry_is_consistent() -> None:
    for chain, names in CHAINS.items():
        assert names and all(n in FORMATS for n in names), chain
    for currency, names in CURRENCIES.items():
        assert currency == currency.upper() and all(n in FORMATS for n in names), currency
    assert all(f.name == name and f.what for name, f in FORMATS.items())
