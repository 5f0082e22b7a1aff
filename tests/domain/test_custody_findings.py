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
