"""An unknown id in a URL is quoted short in the 404 that names it: whole up to 80
characters, else its first 77 and "...", in English and in Japanese alike (as the
dashboard's error pages quote it); the request-line limit bounds what a caller can send,
not what kinko says back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from apiledger import served_api
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from kinko.domain.approvals import public_key_hex
from kinko.domain.messages import ID_SHOWN, id_shown

HOT = "0xABaBaBaBABabABabAbAbABAbABabababaBaBABaB"
LONG = "W" + "x" * 8191  # 8 KB of id
SHOWN = LONG[:ID_SHOWN - 3] + "..."


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    key = public_key_hex(Ed25519PrivateKey.generate())
    client, tokens, _, store = served_api(
        tmp_path, HOT, f'version = 1\nquorum = 1\n[[approvers]]\nname = "alice"\n'
        f'public_key = "{key}"\n', (("alice", "admin"),))
    yield client, {"Authorization": f"Bearer {tokens['alice']}"}
    store.close()


def test_the_shortened_id() -> None:
    assert id_shown("W-1") == "W-1"
    assert id_shown("W" * ID_SHOWN) == "W" * ID_SHOWN
    assert id_shown(LONG) == SHOWN and len(SHOWN) == ID_SHOWN


@pytest.mark.parametrize(("method", "path", "body", "said"), [
    ("GET", "/v1/withdrawals/{}", None, ("withdrawal", "出金")),
    ("POST", "/v1/withdrawals/{}/reject", {"reason": "no"}, ("withdrawal", "出金")),
    ("POST", "/v1/withdrawals/{}/approve", {"approver": "alice", "signature": "00"},
     ("withdrawal", "出金")),
    ("POST", "/v1/proposals/{}/approve", {"approver": "alice", "signature": "00"},
     ("proposal", "提案")),
])
def test_an_unknown_long_id_is_a_404_quoting_it_short(
        api: tuple[TestClient, dict[str, str]], method: str, path: str,
        body: dict[str, str] | None, said: tuple[str, str]) -> None:
    client, auth = api
    path = path.format(LONG)
    en = client.request(method, path, headers=auth, json=body)
    ja = client.request(method, path, headers={**auth, "Accept-Language": "ja"}, json=body)
    assert en.status_code == ja.status_code == 404
    assert en.json()["error"]["message"] == f"unknown {said[0]} {SHOWN!r}"
    assert ja.json()["error"]["message"] == f"{said[1]} {SHOWN} はありません"
    assert len(en.content) < 1000 and len(ja.content) < 1000


ACCOUNT = id_shown(f"customer:{LONG}")  # the account a customer id in a URL names


@pytest.mark.parametrize(("method", "path", "body", "english", "japanese"), [
    ("GET", "/v1/customers/{}/tier", None,
     f"account {ACCOUNT!r}: the name must be 1-128 letters, digits or . _ @ + : - and start "
     "with a letter or digit", f"勘定 {ACCOUNT}：名前は"),
    ("PUT", "/v1/customers/{}/tier", {"tier": "standard"},
     f"account {ACCOUNT!r}: the name must be 1-128 letters, digits or . _ @ + : - and start "
     "with a letter or digit", f"勘定 {ACCOUNT}：名前は"),
    ("POST", "/v1/breaker/{}/reset", None, f"the {SHOWN} breaker is not tripped",
     f"{SHOWN} のサーキットブレーカーは作動していません"),
])
def test_a_long_value_refused_in_a_url_is_a_400_quoting_it_short(
        api: tuple[TestClient, dict[str, str]], method: str, path: str,
        body: dict[str, str] | None, english: str, japanese: str) -> None:
    """A customer id or a breaker scope that is not one: refused (4xx), saying which, in
    at most 80 characters of it, in the message and its details alike."""
    client, auth = api
    path = path.format(LONG)
    en = client.request(method, path, headers=auth, json=body)
    ja = client.request(method, path, headers={**auth, "Accept-Language": "ja"}, json=body)
    assert en.status_code == ja.status_code == 400
    assert en.json()["error"]["message"] == english
    assert ja.json()["error"]["message"].startswith(japanese)
    assert len(en.content) < 1000 and len(ja.content) < 1000
