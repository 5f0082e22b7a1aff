"""How the online wallets sign, as findings read in either language."""

from __future__ import annotations

from kinko.domain.custody import Wallet, signing_findings
from kinko.i18n import Localizer


def test_a_key_in_a_file_names_the_wallets_tier_in_the_readers_language() -> None:
    # the tier was the recorded word: "eth-hot：hot ウォレットが鍵ファイル…" in Japanese
    wallets = [Wallet("eth-hot", "ETH", "hot"), Wallet("eth-warm", "ETH", "warm")]
    found = {f.wallet: f.message for f in signing_findings(
        wallets, {"eth-hot": "file", "eth-warm": "file"}) if f.code == "key_in_file"}
    ja, en = Localizer("ja"), Localizer("en")
    assert ja.text(found["eth-hot"]).startswith("eth-hot：ホットウォレットが鍵ファイル")
    assert ja.text(found["eth-warm"]).startswith("eth-warm：ウォームウォレットが鍵ファイル")
    assert "hot" not in ja.text(found["eth-hot"]).removeprefix("eth-hot")
    assert en.text(found["eth-hot"]).startswith(
        "eth-hot: hot wallet signs with a key in a keystore file")


def test_a_nem_wallet_is_advised_what_nem_allows() -> None:
    """A NEM key in an HSM is refused and a NEM multisig account is registered (``wallets
    add --safe``), not created: the advice for an Ethereum wallet (an HSM, ``wallets
    create-safe``) could not be followed on NEM."""
    wallets = [Wallet("xem-hot", "XEM", "hot"), Wallet("eth-hot", "ETH", "hot")]
    found = {(f.wallet, f.code): Localizer("en").text(f.message) for f in signing_findings(
        wallets, {"xem-hot": "file", "eth-hot": "file"}, {"XEM"})}
    nem_file, nem_single = found["xem-hot", "key_in_file"], found["xem-hot", "single_key_hot"]
    assert "HSM (settings" not in nem_file and "no HSM can hold" in nem_file
    assert "create-safe" not in nem_single and "kinko wallets add --safe" in nem_single
    assert "keep it in an HSM" in found["eth-hot", "key_in_file"]
    assert "kinko wallets create-safe" in found["eth-hot", "single_key_hot"]
    ja = Localizer("ja").text(signing_findings(wallets[:1], {}, {"XEM"})[0].message)
    assert "kinko wallets add --safe" in ja and "create-safe" not in ja


def test_no_key_in_kinko_is_not_a_key_in_a_file() -> None:
    found = signing_findings([Wallet("eth-hot", "ETH", "hot")], {"eth-hot": "absent"})
    assert [f.code for f in found] == ["single_key_hot"]
