"""The HSM, the keystore, the co-signer and its client say what went wrong, and where, in
the reader's language too: each error's ``says`` names the token, file, URL, record or
field its English message names (and never a PIN, password or token). No SoftHSM token and
no co-signer process here: the errors are raised through the pure functions, the client
with a fake transport and an in-memory log."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from eth_keys.datatypes import PrivateKey
from saying import said

from kinko.chains.hsm import HsmSigner, HsmToken, _public_point
from kinko.chains.keystore import KeystoreSigner, create_keystore
from kinko.cosign.client import HttpCosigner
from kinko.cosign.server import create_cosign_app
from kinko.domain.cosign import (
    Movement,
    SafeLimit,
    SafeState,
    check_nonce,
    check_safe_state,
    parse_request,
    refuse,
    safe_tx_json,
)
from kinko.domain.custody import Wallet
from kinko.domain.messages import msg
from kinko.domain.money import Asset
from kinko.domain.safe import SafeTx
from kinko.errors import (
    ApprovalError,
    ConfigError,
    CosignerUnavailable,
    CosignRefused,
    KinkoError,
    SignerUnavailable,
)
from kinko.i18n import Localizer
from kinko.ports import FixedClock
from kinko.services.cosign import WebhookSink, _within_limit
from kinko.store.cosign_sql import open_cosign_log

JA, EN = Localizer("ja"), Localizer("en")
TX = SafeTx(safe="0x" + "11" * 20, chain_id=1, to="0x" + "22" * 20, value=5, data=b"", nonce=3)
URL = "http://127.0.0.1:9"
SECRET = "s3cr3t-pin-0000"




def japanese(text: str) -> bool:
    return any("\u3040" <= ch <= "\u30ff" or "\u4e00" <= ch <= "\u9fff" for ch in text)


# ---------------------------------------------------------------------- the HSM


def test_hsm_settings_name_what_is_missing_and_never_the_pin(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        HsmToken.open("", "kinko", SECRET)
    ja, en = said(caught.value)
    assert "hsm_module" in ja and "libsofthsm2.so" in ja and japanese(ja)
    assert en == caught.value.message

    missing = str(tmp_path / "libnothing.so")
    with pytest.raises(ConfigError) as caught:
        HsmToken.open(missing, "kinko", SECRET)
    ja, en = said(caught.value)
    assert missing in ja and "ファイルがありません" in ja and en == caught.value.message

    with pytest.raises(ConfigError) as caught:
        HsmToken.open(missing, "vault-7", None)
    ja, en = said(caught.value)
    assert "vault-7" in ja and "KINKO_HSM_PIN" in ja and "PIN" in ja
    assert en == caught.value.message.replace("'vault-7'", "vault-7")


def test_a_public_key_that_is_not_a_point_says_so() -> None:
    with pytest.raises(ConfigError) as caught:
        _public_point(b"\x02" + b"\x01" * 32)
    ja, en = said(caught.value)
    assert "secp256k1" in ja and "非圧縮" in ja and en == caught.value.message


class _Token:
    """A stand-in for an HsmToken: gives what ``raw`` says as the token's signature."""

    label = "vault-7"

    def __init__(self, raw: bytes) -> None:
        self.raw = raw

    def _sign(self, _key: Any, _digest: bytes) -> bytes:
        return self.raw


def _signer(raw: bytes) -> HsmSigner:
    public = PrivateKey(b"\x01" * 32).public_key.to_bytes()  # a test key, not a secret
    return HsmSigner(_Token(raw), object(), public, label="eth-hot",  # type: ignore[arg-type]
                     generated_in_token=True)


def test_a_token_signature_that_is_wrong_names_the_token_key_and_address() -> None:
    with pytest.raises(ConfigError) as caught:
        _signer(b"\x01" * 64).sign_digest(b"short")
    ja, _ = said(caught.value)
    assert "32 バイト" in ja

    with pytest.raises(SignerUnavailable) as short:
        _signer(b"\x01" * 63).sign_digest(b"\x00" * 32)
    ja, en = said(short.value)
    assert "vault-7" in ja and "63 バイト" in ja
    assert en == short.value.message.replace("'vault-7'", "vault-7")

    signer = _signer(b"\x00" * 64)  # r = s = 0 recovers to nothing
    with pytest.raises(SignerUnavailable) as lost:
        signer.sign_digest(b"\x07" * 32)
    ja, en = said(lost.value)
    assert "eth-hot" in ja and signer.address in ja and "何も署名していません" in ja
    assert en == lost.value.message.replace("'eth-hot'", "eth-hot")

    with pytest.raises(ConfigError) as caught:
        signer.sign_transaction({"to": TX.to, "value": 1, "nonce": 0, "gas": 21_000,
                                 "gasPrice": 1})
    ja, en = said(caught.value)
    assert "chainId" in ja and en == caught.value.message


# ---------------------------------------------------------------------- the keystore


def _keystore(tmp_path: Path, crypto: dict[str, Any]) -> Path:
    path = tmp_path / "hot.json"
    path.write_text(json.dumps({"crypto": crypto, "version": 3}), encoding="utf-8")
    return path


def test_keystore_errors_name_the_file_and_the_field(tmp_path: Path) -> None:
    path = tmp_path / "hot.json"
    with pytest.raises(ConfigError) as caught:
        KeystoreSigner.open(path, None)
    ja, en = said(caught.value)
    assert str(path) in ja and "KINKO_HOT_KEY_PASSWORD" in ja and en == caught.value.message

    path.write_text("not json at all", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        KeystoreSigner.open(path, SECRET)
    ja, _ = said(caught.value)
    assert "JSON" in ja and japanese(ja) and "not json at all" not in ja

    path = _keystore(tmp_path, {"kdf": "scrypt", "kdfparams": {"dklen": 32, "n": 3, "r": 8,
                                                               "p": 1}})
    with pytest.raises(ConfigError) as caught:
        KeystoreSigner.open(path, SECRET)
    ja, en = said(caught.value)
    assert str(path) in ja and "crypto.kdfparams.n" in ja and "2 のべき乗" in ja
    assert en == caught.value.message

    path = _keystore(tmp_path, {"kdf": "pbkdf2", "kdfparams": {
        "dklen": 32, "prf": "hmac-sha256", "c": 123_456_789}})
    with pytest.raises(ConfigError) as caught:
        KeystoreSigner.open(path, SECRET)
    ja, en = said(caught.value)
    assert "123,456,789" in ja and "10,000,000" in ja and en == caught.value.message

    path = _keystore(tmp_path, {"kdf": "scrypt", "kdfparams": {"dklen": 32, "n": 1024,
                                                               "r": -1, "p": 1}})
    with pytest.raises(ConfigError) as caught:
        KeystoreSigner.open(path, SECRET)
    ja, en = said(caught.value)
    assert "crypto.kdfparams.r" in ja and "正の整数" in ja and en == caught.value.message


def test_a_new_keystore_is_refused_with_its_reason(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        create_keystore(tmp_path / "k.json", "short")
    ja, en = said(caught.value)
    assert "12 文字以上" in ja and "short" not in ja and en == caught.value.message
    taken = tmp_path / "taken.json"
    taken.write_text("{}", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        create_keystore(taken, SECRET + "-long-enough")
    ja, en = said(caught.value)
    assert str(taken) in ja and "上書き" in ja and en == caught.value.message


# ---------------------------------------------------------------------- the client


def _client(answer: tuple[int, Any]) -> HttpCosigner:
    client = HttpCosigner(URL, "k" * 40)
    client._exchange = lambda *_args: answer  # type: ignore[method-assign]
    return client


def test_client_settings_name_the_url_and_never_the_token() -> None:
    with pytest.raises(ConfigError) as caught:
        HttpCosigner(URL, "")
    ja, en = said(caught.value)
    assert "KINKO_COSIGN_TOKEN" in ja and en == caught.value.message
    with pytest.raises(ConfigError) as caught:
        HttpCosigner("https://cosigner.example:8765", "k" * 40)
    ja, _ = said(caught.value)
    assert "https://cosigner.example:8765" in ja and "TLS" in ja and "k" * 40 not in ja


def test_a_refusal_says_its_reason_and_record_in_japanese() -> None:
    client = _client((403, {"error": {"code": "cosign_refused", "message": "over its limit",
                                      "details": {"reason": "over_limit", "record": 42}}}))
    with pytest.raises(CosignRefused) as caught:
        client.cosign("withdrawal", "W-1", TX)
    assert caught.value.message == "over its limit"
    ja, en = said(caught.value)
    assert URL in ja and "over_limit" in ja and "42" in ja and "上限" in ja
    assert "over its limit" not in ja and "refused to sign" in en


def test_a_co_signer_answering_nonsense_is_named_with_its_status() -> None:
    with pytest.raises(CosignerUnavailable) as caught:
        _client((500, {"error": {"message": "disk full"}})).cosign("withdrawal", "W-1", TX)
    ja, en = said(caught.value)
    assert URL in ja and "HTTP 500" in ja and "disk full" in ja
    assert en == caught.value.message

    with pytest.raises(CosignerUnavailable) as caught:
        _client((200, {"decision": "signed"})).cosign("withdrawal", "W-1", TX)
    ja, en = said(caught.value)
    assert URL in ja and "署名" in ja and en == caught.value.message

    with pytest.raises(CosignerUnavailable) as caught:
        _client((503, {})).info()
    ja, en = said(caught.value)
    assert "/v1/info" in ja and "503" in ja and en == caught.value.message

    with pytest.raises(ApprovalError) as unread:
        _client((200, {})).cosign_nem("withdrawal", "W-9", "nem", "zz")
    ja, _ = said(unread.value)
    assert "W-9" in ja and japanese(ja)


# ---------------------------------------------------------------------- the co-signer


def test_a_request_the_co_signer_cannot_take_names_the_field_and_the_value() -> None:
    claimed = "0x" + "00" * 32
    body = {"kind": "withdrawal", "id": "W-1", "safe_tx": safe_tx_json(TX),
            "safe_tx_hash": claimed}
    with pytest.raises(CosignRefused) as caught:
        parse_request(body)
    ja, en = said(caught.value)
    assert claimed in ja and "0x" + TX.hash.hex() in ja and japanese(ja)
    assert en == caught.value.message

    with pytest.raises(CosignRefused) as caught:
        parse_request({**body, "safe_tx": {**safe_tx_json(TX), "nonce": "-1", "x": 1}})
    ja, en = said(caught.value)
    assert en == "safe_tx: unknown x" and "x" in ja and "不明" in ja

    with pytest.raises(CosignRefused) as caught:
        parse_request({**body, "safe_tx": {**safe_tx_json(TX), "nonce": "-1"}})
    ja, en = said(caught.value)
    assert "safe_tx.nonce" in ja and "'-1'" in ja and en == caught.value.message

    with pytest.raises(CosignRefused) as caught:
        parse_request({**body, "kind": "theft"})
    ja, en = said(caught.value)
    assert "'theft'" in ja and "withdrawal" in ja and "kind" in ja


SAFE = SafeState(address=TX.safe, version="1.4.1", nonce=7, owners=("0x" + "33" * 20,),
                 threshold=1, modules=(), guard="0x" + "00" * 20, singleton_ok=True)


def test_a_nonce_refusal_names_the_safe_and_both_nonces() -> None:
    with pytest.raises(CosignRefused) as caught:
        check_nonce(TX, SAFE, 5)
    ja, en = said(caught.value)
    assert TX.safe in ja and "nonce 3" in ja and "7" in ja and "リプレイ" in ja
    assert en == caught.value.message


def test_a_refusal_without_its_own_words_says_its_reason_in_japanese() -> None:
    caught = refuse("breaker_tripped", "tripped")
    ja, _ = said(caught)
    assert "[breaker_tripped]" in ja and japanese(ja)


def test_the_co_signers_own_settings_say_what_is_wrong() -> None:
    with pytest.raises(KinkoError) as caught:
        create_cosign_app(None, "short")  # type: ignore[arg-type]
    ja, en = said(caught.value)
    assert "32 文字以上" in ja and "short" not in ja and en == caught.value.message

    clock = FixedClock(datetime(2026, 1, 1, tzinfo=UTC))
    with pytest.raises(ConfigError) as caught:
        WebhookSink("ftp://alerts.example/hook", SECRET, clock)
    ja, en = said(caught.value)
    assert "'ftp://alerts.example'" in ja and en == caught.value.message  # never its path
    with pytest.raises(ConfigError) as caught:
        WebhookSink("https://alerts.example/hook", "", clock)
    ja, en = said(caught.value)
    assert "KINKO_COSIGN_WEBHOOK_SECRET" in ja and en == caught.value.message

    with pytest.raises(ConfigError) as caught:
        open_cosign_log("mysql://db.example/cosign")
    ja, en = said(caught.value)
    assert "mysql" in ja and "sqlite:///" in ja and en == caught.value.message.replace("'", "")


class _Used:
    """The co-signer's log as ``_within_limit`` reads it: what was co-signed already."""

    def __init__(self, used: int) -> None:
        self._used = used

    def used(self, _holder: str, _asset: str, _since: datetime) -> int:
        return self._used


def test_a_limit_refusal_says_the_amounts_the_safe_and_the_window() -> None:
    eth = Asset("ETH", "ethereum", 18)
    hot = Wallet("eth-hot", "ETH", "hot", (TX.safe,))
    move = Movement("withdrawal", eth, 3 * 10**18, hot, TX.to, "screened allow (policy v1)")
    limit = SafeLimit(TX.safe, "ETH", 5 * 10**18, timedelta(hours=24))
    with pytest.raises(CosignRefused) as caught:
        _within_limit(_Used(4 * 10**18), move, "W-7", TX.safe,  # type: ignore[arg-type]
                      f"Safe {TX.safe}", limit, datetime(2026, 1, 1, tzinfo=UTC),
                      msg("error.cosign.holder.safe", address=TX.safe))
    ja, _ = said(caught.value)
    assert "W-7" in ja and TX.safe in ja and "1d" in ja and "上限" in ja
    assert "3 ETH" in ja and "5 ETH" in ja and "4 ETH" in ja
    assert caught.value.reason == "over_limit"


def test_a_safe_not_to_rely_on_names_each_problem_in_japanese() -> None:
    with pytest.raises(CosignRefused) as caught:
        check_safe_state(SAFE, "0x" + "44" * 20)
    ja, en = said(caught.value)
    assert TX.safe in ja and "0x" + "44" * 20 in ja and "オーナーではありません" in ja
    assert "しきい値 1" in ja and "one key" not in ja
    assert en == caught.value.message
