"""The API's errors in the language a request prefers: ``Accept-Language`` chooses Japanese
or English (English when it names neither, or cannot be read); the body's ``message_id``
is the catalog id of what the message says, the same in both; the code and the details do
not change with the language."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from apiledger import served_api
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from kinko.domain.approvals import public_key_hex
from kinko.i18n import Localizer, accepted_language, catalog_ids

DEST = "0x52908400098527886E0F7030069857D2E4169EE7"
HOT = "0xABaBaBaBABabABabAbAbABAbABabababaBaBABaB"
JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")
JA = {"Accept-Language": "ja-JP,ja;q=0.9,en;q=0.8"}


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[TestClient, str]]:
    key = public_key_hex(Ed25519PrivateKey.generate())
    client, tokens, _, store = served_api(
        tmp_path, HOT, f'version = 1\nquorum = 1\n[[approvers]]\nname = "alice"\n'
        f'public_key = "{key}"\n', (("ops", "operator"),))
    yield client, tokens["ops"]
    store.close()


def _withdraw(client: TestClient, token: str | None, amount: str, **headers: str) -> Any:
    sent = {"Idempotency-Key": "k1", **headers}
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    return client.post("/v1/withdrawals", headers=sent, json={
        "customer": "C1", "asset": "ETH", "amount": amount, "destination": DEST})


def test_a_refusal_speaks_japanese_to_a_request_that_prefers_it(api: Any) -> None:
    client, token = api
    too_fine = "1." + "0" * 18 + "1"  # ETH has 18 decimals
    en = _withdraw(client, token, too_fine)
    ja = _withdraw(client, token, too_fine, **JA)
    assert en.status_code == ja.status_code == 400
    assert en.headers["content-language"] == "en" and ja.headers["content-language"] == "ja"
    assert "Accept-Language" in en.headers["vary"] and "Accept-Language" in ja.headers["vary"]
    english, japanese = en.json()["error"], ja.json()["error"]
    assert english["message_id"] == japanese["message_id"] == "error.amount.decimals"
    assert too_fine in english["message"] and not JAPANESE.search(english["message"])
    assert japanese["message"] == (f"{too_fine} ETH は小数点以下 19 桁です。ETH の小数点以下は "
                                   "18 桁までです")
    assert (english["code"], english["details"]) == (japanese["code"], japanese["details"])
    assert english["message_id"] in catalog_ids("ja")


def test_refusals_before_the_route_speak_it_too(api: Any) -> None:
    """A field the request lacks, a missing key, a path that does not exist."""
    client, token = api
    r = client.post("/v1/withdrawals", headers={"Authorization": f"Bearer {token}", **JA},
                    json={"customer": "C1", "asset": "ETH", "amount": "1", "destination": DEST})
    error = r.json()["error"]
    assert r.status_code == 400 and error["message_id"] == "error.api_field"
    # what is wrong said in Japanese too (the validator's English stays in the details)
    assert error["message"] == "リクエストの項目 header.idempotency-key：値がありません"
    assert error["details"]["problems"] == [{"where": "header.idempotency-key",
                                             "problem": "Field required"}]
    for body, said in (({"customer": "C" * 300}, "body.customer：128 文字以内にしてください"),
                       ({"customer": 7}, "body.customer：文字列にしてください"),
                       ({"customer": "C1", "asset": "ETH", "amount": "1", "destination": DEST,
                         "colour": "red"}, "body.colour：この要求にない項目です")):
        r = client.post("/v1/withdrawals", json=body, headers={
            "Authorization": f"Bearer {token}", "Idempotency-Key": "k-said", **JA})
        message = r.json()["error"]["message"]
        assert r.status_code == 400 and message == f"リクエストの項目 {said}", message
    r = _withdraw(client, None, "1", **JA)
    assert r.status_code == 401 and JAPANESE.search(r.json()["error"]["message"])
    assert r.json()["error"]["message_id"] in catalog_ids("ja")
    r = client.get("/v1/nothing-here", headers=JA)
    assert r.status_code == 404 and r.json()["error"] == {
        "code": "not_found", "details": {}, "message_id": "error.http_status",
        "message": Localizer("ja")("error.http_status", status="404")}
    assert client.get("/v1/nothing-here").json()["error"]["message"] == "Not Found"


@pytest.mark.parametrize("header", [
    "x" * 8000, "ja;q=2", "ja;q=abc", "ja;q=0", "*;q=0", ",,,,", ";;;", "ja-" + "a" * 60,
    "en;q=0.5, ja;q=0.5", "ja" + " " * 4000 + "!", "ja;q=0.5," * 500 + "en",
], ids=["long", "q-over-1", "q-not-a-number", "ja-refused", "none-accepted", "commas",
        "semicolons", "long-subtag", "tie", "spaces", "many-ranges"])
def test_a_hostile_or_unusual_accept_language_never_fails_the_answer(api: Any,
                                                                     header: str) -> None:
    client, token = api
    r = _withdraw(client, token, "-1", **{"Accept-Language": header})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_amount"
    assert r.headers["content-language"] == accepted_language(header)


@pytest.mark.parametrize(("header", "lang"), [
    (None, "en"), ("", "en"), ("ja", "ja"), ("JA-jp", "ja"), ("ja-JP,ja;q=0.9,en;q=0.8", "ja"),
    ("en-US,en;q=0.9,ja;q=0.8", "en"), ("fr", "en"), ("fr, *;q=0.5", "en"), ("*", "en"),
    ("ja;q=0", "en"), ("en;q=0, *", "ja"), ("*;q=0, ja", "ja"), ("ja;q=0.5, en;q=0.5", "ja"),
    ("en;q=0.5, ja;q=0.5", "en"), ("ja ; q = 0.7 , en;q=0.6", "ja"), ("ja;q=0.001, en;q=0", "ja"),
    ("ja;q=1.0001", "en"), ("ja;q=abc", "en"), ("ja;q=0.5;x=1", "en"), (",,,,ja", "ja"),
])
def test_the_language_a_header_prefers(header: str | None, lang: str) -> None:
    assert accepted_language(header) == lang


def test_a_fiat_withdrawal_is_refused_as_fiat(api: Any) -> None:
    """JPY was refused as a destination no address format of chain 'fiat' reads."""
    client, token = api
    for headers, said in (({}, "JPY is a fiat currency: it is not withdrawn on a chain, so "
                               "kinko screens no withdrawal of it"),
                          (JA, "JPY は法定通貨です。チェーン上で出金するものではないため、kinko は"
                               "出金を審査しません")):
        r = client.post("/v1/withdrawals", json={
            "customer": "C1", "asset": "JPY", "amount": "1000", "destination": DEST},
            headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "k-jpy",
                     **headers})
        assert r.status_code == 400 and r.json()["error"]["message"] == said, r.json()
