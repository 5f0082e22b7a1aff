"""The store's, the prices', the artifacts' and the API's errors say their specifics in Japanese
too: the database (never its password), the hold, the withdrawal, the policy version, the
address and its customer, the file and its line, the price, the key. Each is raised through the
real code path with bad input, and its Japanese text is checked to name what the English
words name."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from saying import said
from sqlalchemy import text

from kinko.api.v1.deps import acting_for
from kinko.api.v1.ledger import balance_cursor
from kinko.api.v1.policy import policy as policy_route
from kinko.cli.reserves import _verify_okx
from kinko.domain.custody import Wallet
from kinko.domain.messages import msg
from kinko.domain.money import AssetRegistry
from kinko.errors import (
    BadInput,
    ConfigError,
    EnvironmentProblem,
    Forbidden,
    IdempotencyConflict,
    InputFileError,
    InvalidAccount,
    KinkoError,
    NotFound,
    StoreUnavailable,
    Throttled,
)
from kinko.i18n import Localizer
from kinko.ports import FixedClock
from kinko.prices import parse_price, prices_from_csv, prices_from_text
from kinko.render.fsa import write_fsa
from kinko.render.trace import _trace_rows
from kinko.services.access import ApiKey
from kinko.services.artifact_files import file_in, lookup_proof
from kinko.services.artifacts import Artifacts
from kinko.services.deposits import Deposits
from kinko.services.ledger import Ledger
from kinko.services.throttle import Rule, Throttle
from kinko.services.wallets import register_multisig
from kinko.store import open_store, upgrade
from kinko.store.cosign_view import SqlKinkoView
from kinko.store.migrate import check_current
from kinko.store.sql import SqlStore

JA, EN = Localizer("ja"), Localizer("en")
HOT = "0x" + "a" * 40
OKX_EXAMPLE = Path(__file__).resolve().parents[1] / "data" / "por" / "okx_merkle_proof_file.json"




def english(exc: KinkoError) -> str:
    """The English words without Python's repr quotes (the catalog may drop them)."""
    return exc.message.replace("'", "")


def japanese(ja: str) -> None:
    """A Japanese sentence, not the English one."""
    assert any("\u3040" <= c <= "\u30ff" for c in ja), ja


@pytest.fixture
def store() -> Iterator[SqlStore]:
    opened = open_store("sqlite://")
    upgrade(opened)
    yield opened
    opened.close()


@pytest.fixture
def ledger(store: SqlStore) -> Ledger:
    ledger = Ledger(store, FixedClock(), AssetRegistry.default())
    ledger.sync_assets()
    ledger.add_wallet(Wallet("eth-hot", "ETH", "hot", (HOT,)))
    return ledger


# ---------------------------------------------------------------------------- the store

def test_an_invalid_database_url_never_shows_its_password() -> None:
    with pytest.raises(StoreUnavailable) as caught:
        open_store("postgresql://kinko:hunter2secret@db:hunter2secret/kinko")
    ja, en = said(caught.value)
    japanese(ja)
    assert "URL" in ja and "hunter2" not in ja and "hunter2" not in en
    assert en == caught.value.message == ("the database URL is not valid (expected "
                                          "sqlite:///PATH or postgresql://USER@HOST/NAME)")
    assert "hunter2" not in str(caught.value) and "hunter2" not in repr(caught.value.details)


def test_an_unsupported_database_is_named_without_its_password() -> None:
    with pytest.raises(StoreUnavailable) as caught:
        open_store("mysql://kinko:hunter2secret@db/kinko")
    ja, en = said(caught.value)
    japanese(ja)
    assert "mysql" in ja and "db/kinko" in ja and "hunter2" not in ja + en
    assert en == english(caught.value)


def test_an_uninitialised_database_names_it(tmp_path: Path) -> None:
    bare = open_store(f"sqlite:///{tmp_path / 'k.db'}")
    try:
        with pytest.raises(StoreUnavailable) as caught:
            check_current(bare)
        ja, en = said(caught.value)
        japanese(ja)
        assert "k.db" in ja and "kinko init" in ja
        assert en == english(caught.value)
    finally:
        bare.close()


def test_a_schema_behind_names_both_revisions(store: SqlStore) -> None:
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0003'"))
    with pytest.raises(StoreUnavailable) as caught:
        check_current(store)
    ja, en = said(caught.value)
    japanese(ja)
    assert "0003" in ja and "kinko init" in ja
    assert en == english(caught.value)


def test_a_policy_version_loaded_twice_names_it(store: SqlStore) -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    with store.custody() as (_ledger, custody):
        custody.put_policy(7, "d" * 64, {"version": 7}, at, "ops")
    with pytest.raises(ConfigError) as caught, store.custody() as (_ledger, custody):
        custody.put_policy(7, "d" * 64, {"version": 7}, at, "ops")
    ja, en = said(caught.value)
    japanese(ja)
    assert "第7版" in ja
    assert en == english(caught.value)


def test_a_deposit_address_of_another_customer_names_both(ledger: Ledger,
                                                          store: SqlStore) -> None:
    with store.deposits() as tables:
        tables.put_address(HOT, "ethereum", "C1", "ETH", "eth-hot")
    with pytest.raises(ConfigError) as caught, store.deposits() as tables:
        tables.put_address(HOT, "ethereum", "C2", "ETH", "eth-hot")
    ja, en = said(caught.value)
    japanese(ja)
    assert HOT in ja and "C1" in ja and "ETH" in ja
    assert en == english(caught.value)


def test_a_withdrawal_recorded_twice_names_it(ledger: Ledger, store: SqlStore) -> None:
    row: Any = {"id": "W-dup-1", "customer": "C1", "asset": "ETH", "amount": 10**18,
                "destination": "0x" + "1" * 40, "wallet": "eth-hot",
                "requested_at": datetime(2026, 1, 1, tzinfo=UTC), "requester": "t",
                "state": "allowed", "decision": "{}", "tx_hash": None}
    with store.screening() as tables:
        tables.put_withdrawal(row)
    with pytest.raises(IdempotencyConflict) as caught, store.screening() as tables:
        tables.put_withdrawal(row)
    ja, en = said(caught.value)
    japanese(ja)
    assert "W-dup-1" in ja
    assert en == english(caught.value)


def test_the_cosigner_view_names_kinkos_schema_revision(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'k.db'}"
    made = open_store(url)
    upgrade(made)
    with made.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0002'"))
    made.close()
    view = SqlKinkoView(url)
    try:
        with pytest.raises(StoreUnavailable) as caught:
            view.facts(cast(Any, SimpleNamespace()))
    finally:
        view.close()
    ja, en = said(caught.value)
    japanese(ja)
    assert "0002" in ja and "k.db" in ja
    assert en == caught.value.message


# ---------------------------------------------------------------------------- the services

def test_an_artifact_file_outside_its_folder_is_named(tmp_path: Path) -> None:
    with pytest.raises(NotFound) as caught:
        file_in(tmp_path, "../kinko.db")
    ja, en = said(caught.value)
    japanese(ja)
    assert "../kinko.db" in ja
    assert en == english(caught.value)


def test_a_proof_lookup_needs_a_customer(tmp_path: Path) -> None:
    with pytest.raises(BadInput) as caught:
        lookup_proof(tmp_path, "  ")
    ja, en = said(caught.value)
    assert "顧客 ID" in ja
    assert en == english(caught.value)


def test_a_proof_shard_line_not_utf8_names_its_line(tmp_path: Path) -> None:
    (tmp_path / "proofs").mkdir()
    shard = tmp_path / "proofs" / "proofs-0.jsonl"
    shard.write_bytes(b'{"customer":{"id":"C0"}}\n{"x":"\xff"}\n')
    with pytest.raises(InputFileError) as caught:
        lookup_proof(tmp_path, "C1")
    ja, en = said(caught.value)
    japanese(ja)
    assert f"{shard}:2" in ja and "UTF-8" in ja
    assert "proofs-0.jsonl:2" in en


def test_a_proof_shard_is_read_once_and_its_lines_found_by_their_customer(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each look-up read the whole shard again (hundreds of megabytes, any signed-in
    reader, every request): its index is read once, then the line is read alone; lines
    whose keys collide are told apart by their text; a shard written again is read again."""
    from kinko.services import artifact_files

    (tmp_path / "proofs").mkdir()
    shard = tmp_path / "proofs" / "proofs-0000.jsonl"
    shard.write_text("".join(f'{{"customer":{{"id":"C{i}"}},"n":{i}}}\n' for i in range(50)))
    index = artifact_files._ShardIndex.of(shard)
    assert artifact_files._proof_text(tmp_path, "C37") == '{"customer":{"id":"C37"},"n":37}'
    assert artifact_files._proof_text(tmp_path, "C50") is None
    reads: list[Path] = []
    read = artifact_files._ShardIndex._read
    monkeypatch.setattr(artifact_files._ShardIndex, "_read",
                        classmethod(lambda cls, p: reads.append(p) or read(p)))
    assert artifact_files._proof_text(tmp_path, "C3") == '{"customer":{"id":"C3"},"n":3}'
    assert reads == [] and artifact_files._ShardIndex.of(shard) is index
    monkeypatch.setattr(artifact_files, "_key", lambda _customer: 7)  # every key alike
    shard.write_text('{"customer":{"id":"A"},"n":1}\n{"customer":{"id":"B"},"n":2}\n')
    assert artifact_files._proof_text(tmp_path, "B") == '{"customer":{"id":"B"},"n":2}'
    assert reads == [shard]


def test_an_unknown_artifact_kind_is_named(store: SqlStore, tmp_path: Path) -> None:
    with pytest.raises(BadInput) as caught:
        Artifacts(store, FixedClock()).start("bogus-kind", msg("error.store.url_invalid"),
                                              tmp_path, by="t")
    ja, en = said(caught.value)
    japanese(ja)
    assert "bogus-kind" in ja and "trace" in ja
    assert en == english(caught.value)


def test_a_deposit_address_on_another_chain_or_wallet_is_named(ledger: Ledger) -> None:
    other = Deposits(ledger, cast(Any, SimpleNamespace(name="nem")), confirmations=1)
    with pytest.raises(ConfigError) as caught:
        other.add_address("C1", "ETH", HOT, "eth-hot")
    ja, en = said(caught.value)
    japanese(ja)
    assert "ETH" in ja and "ethereum" in ja and "nem" in ja
    assert en == english(caught.value)

    same = Deposits(ledger, cast(Any, SimpleNamespace(name="ethereum")), confirmations=1)
    with pytest.raises(InvalidAccount) as unknown:
        same.add_address("C1", "ETH", "0x" + "c" * 40, "no-such-wallet")
    ja, en = said(unknown.value)
    japanese(ja)
    assert "no-such-wallet" in ja and "ETH" in ja
    assert en == english(unknown.value)


def test_a_throttled_client_is_told_how_long_to_wait() -> None:
    throttle = Throttle(FixedClock(), per_client=Rule(1, timedelta(minutes=1)))
    throttle.fail("10.0.0.1")
    with pytest.raises(Throttled) as caught:
        throttle.check("10.0.0.1")
    ja, en = said(caught.value)
    japanese(ja)
    assert f"{caught.value.retry_after} 秒" in ja
    assert en == english(caught.value)


def test_a_multisig_wallet_registered_twice_is_named(ledger: Ledger) -> None:
    accounts = cast(Any, SimpleNamespace(contracts=lambda: ()))
    with pytest.raises(InvalidAccount) as caught:
        register_multisig(ledger, accounts, "eth-hot", "ETH", "hot", "0x" + "d" * 40,
                          ["0x" + "1" * 40, "0x" + "2" * 40], 2)
    ja, en = said(caught.value)
    japanese(ja)
    assert "eth-hot" in ja
    assert en == english(caught.value)


# ---------------------------------------------------------------------------- prices

def test_prices_name_the_value_and_where() -> None:
    with pytest.raises(ConfigError) as caught:
        prices_from_text("ETH=lots")
    ja, en = said(caught.value)
    japanese(ja)
    assert "prices: ETH" in ja and "lots" in ja
    assert en == english(caught.value)

    with pytest.raises(ConfigError) as caught:
        parse_price("-5", "prices: XEM")
    ja, en = said(caught.value)
    assert "XEM" in ja and "-5" in ja and "0 以上" in ja
    assert en == english(caught.value)

    with pytest.raises(ConfigError) as caught:
        prices_from_text("ETH512")
    ja, en = said(caught.value)
    assert "ETH512" in ja and "ASSET=JPY" in ja
    assert en == english(caught.value)


def test_a_prices_file_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "prices.csv"
    path.write_text("asset,jpy\nETH,500000\nXEM,abc\n", encoding="utf-8")
    with pytest.raises(InputFileError) as caught:
        prices_from_csv(path)
    ja, en = said(caught.value)
    japanese(ja)
    assert f"{path}:3" in ja and "abc" in ja
    assert en == english(caught.value)

    path.write_text("symbol,yen\nETH,1\n", encoding="utf-8")
    with pytest.raises(InputFileError) as caught:
        prices_from_csv(path)
    ja, en = said(caught.value)
    assert f"{path}:1" in ja and "asset,jpy" in ja
    assert en == english(caught.value)

    path.write_text("asset,jpy\nETH,1,000\n", encoding="utf-8")
    with pytest.raises(InputFileError) as caught:
        prices_from_csv(path)
    ja, en = said(caught.value)
    assert f"{path}:2" in ja and "二重引用符" in ja
    assert en == english(caught.value)

    with pytest.raises(InputFileError) as caught:
        prices_from_csv(tmp_path / "missing.csv")
    ja, en = said(caught.value)
    assert "missing.csv" in ja and "ありません" in ja


# ---------------------------------------------------------------------------- renderers

def test_the_fsa_report_names_a_bad_format_or_language(tmp_path: Path) -> None:
    with pytest.raises(BadInput) as caught:
        write_fsa(cast(Any, None), tmp_path, fmt="docx")
    ja, en = said(caught.value)
    japanese(ja)
    assert "docx" in ja and "pdf" in ja
    with pytest.raises(BadInput) as caught:
        write_fsa(cast(Any, None), tmp_path, lang="fr")
    ja, en = said(caught.value)
    assert "fr" in ja
    assert en == english(caught.value)



def test_a_price_with_an_exponent_or_an_unknown_asset_is_said_in_japanese(
        tmp_path: Path) -> None:
    path = tmp_path / "prices.csv"
    path.write_text("asset,jpy\nETH,5E+5\n", encoding="utf-8")
    with pytest.raises(InputFileError) as caught:
        prices_from_csv(path)
    ja, en = said(caught.value)
    assert f"{path}:2" in ja and "jpy" in ja and "5E+5" in ja and "指数表記" in ja
    assert en == english(caught.value)
    path.write_text("asset,jpy\nETH,1\nDOGE,5\n", encoding="utf-8")
    with pytest.raises(InputFileError) as caught:
        prices_from_csv(path, AssetRegistry.default())
    ja, en = said(caught.value)
    assert f"{path}:3" in ja and "DOGE" in ja and "登録されていません" in ja
    assert en == english(caught.value)

def test_a_prices_file_not_in_utf8_is_refused_naming_it(tmp_path: Path) -> None:
    """``--prices-file`` saved as UTF-16 (or with a stray byte) ended every command that
    values positions (`kinko check`, the reports) in "kinko failed unexpectedly" (a
    UnicodeDecodeError); every other CSV kinko reads refuses it by name."""
    path = tmp_path / "prices.csv"
    path.write_text("asset,jpy\nETH,500000\n", encoding="utf-16")
    with pytest.raises(InputFileError) as caught:
        prices_from_csv(path)
    ja, en = said(caught.value)
    assert en == english(caught.value) == f"{path}: not UTF-8 text (invalid start byte)"
    assert str(path) in ja and "UTF-8 のテキストではありません" in ja


def test_a_trace_folder_without_its_files_is_named(tmp_path: Path) -> None:
    with pytest.raises(InputFileError) as caught:
        _trace_rows(tmp_path)
    ja, en = said(caught.value)
    japanese(ja)
    assert str(tmp_path) in ja and "summary.json" in ja and "ありません" in ja
    assert en.startswith(f"{tmp_path}: not a trace folder (") and "summary.json" in en


# ---------------------------------------------------------------------------- the API

def test_a_bad_balances_cursor_is_named() -> None:
    with pytest.raises(BadInput) as caught:
        balance_cursor("%%%not-base64")
    ja, en = said(caught.value)
    japanese(ja)
    assert "%%%not-base64" in ja
    assert en == english(caught.value)


def test_a_key_acting_for_another_approver_is_named() -> None:
    who = ApiKey("k1", "carol", "approver")
    with pytest.raises(Forbidden) as caught:
        acting_for(who, "alice", "veto")
    ja, en = said(caught.value)
    japanese(ja)
    assert "carol" in ja and "alice" in ja and "拒否権" in ja
    assert en == english(caught.value)
    with pytest.raises(Forbidden) as caught:
        acting_for(who, "alice", "approve")
    ja, en = said(caught.value)
    assert "承認" in ja
    assert en == english(caught.value)


def test_no_policy_loaded_is_said() -> None:
    api = cast(Any, SimpleNamespace(custody=lambda: SimpleNamespace(policy=lambda: None)))
    with pytest.raises(NotFound) as caught:
        policy_route(cast(Any, None), api)
    ja, en = said(caught.value)
    assert "管理方針" in ja
    assert en == english(caught.value)


def test_a_content_length_that_is_no_number_is_named() -> None:
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.testclient import TestClient

    from kinko.api.limits import BodyLimits

    refused: list[KinkoError] = []

    def refuse(_request: Any, exc: KinkoError) -> JSONResponse:
        refused.append(exc)
        return JSONResponse({"message": exc.message}, status_code=400)

    app = BodyLimits(Starlette(), refuse=refuse)
    with TestClient(app) as client:
        client.post("/", content=b"{}", headers={"Content-Length": "12abc"})
    (exc,) = refused
    ja, en = said(exc)
    japanese(ja)
    assert "12abc" in ja and "Content-Length" in ja
    assert en == english(exc)


# ---------------------------------------------------------------------------- the CLI

def test_an_okx_proof_that_fails_names_the_file(tmp_path: Path) -> None:
    doc = json.loads(OKX_EXAMPLE.read_text())
    altered = copy.deepcopy(doc)
    altered["self"]["balances"]["BTC"] = "2.000069"
    proof = tmp_path / "okx-proof.json"
    proof.write_text(json.dumps(altered), encoding="utf-8")
    with pytest.raises(BadInput) as caught:
        _verify_okx(proof, "0x" + "a" * 64)
    ja, en = said(caught.value)
    japanese(ja)
    assert "okx-proof.json" in ja and "OKX v1" in ja
    assert caught.value.message in en


def test_the_environment_problem_of_pdf_output_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from kinko.render.fsa import pdf_bytes

    monkeypatch.setitem(sys.modules, "weasyprint", None)  # the import raises ImportError
    with pytest.raises(EnvironmentProblem) as caught:
        pdf_bytes("<p>x</p>")
    ja, en = said(caught.value)
    japanese(ja)
    assert "WeasyPrint" in ja and "--format html" in ja
    assert en == english(caught.value)
