"""The command line's own refusals (ledger, custody, wallets, customers, refunds,
withdrawals, the FSA report, the demo) say their specifics in Japanese too: the flag, the
file, the value, the proposal, the hold; in English they keep their words."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from clirun import CliRun, cli_runner

from kinko.errors import BadInput, ConfigError
from kinko.i18n import Localizer

JA, EN = Localizer("ja"), Localizer("en")
ETH_OWNER = "0x" + "11" * 20


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> CliRun:
    monkeypatch.delenv("KINKO_EVM_RPC_URL", raising=False)
    run = cli_runner(monkeypatch, capsys, tmp_path, f"sqlite:///{tmp_path / 'k.db'}")
    assert run("wallets", "add", "xem-hot", "--asset", "XEM", "--tier", "hot")[0] == 0
    return run


def said(cli: CliRun, *args: str, code: int = 2) -> tuple[str, str]:
    """The one line of a refusal in Japanese and in English (without ``エラー：``/``error: ``)."""
    got, out, ja = cli("--lang", "ja", *args)
    assert got == code and out == "", (out, ja)
    assert ja.startswith("エラー：") and ja.count("\n") == 1, ja  # its own sentence, whole
    got, _, en = cli("--lang", "en", *args)
    assert got == code and en.startswith("error: ") and en.count("\n") == 1, en
    return ja.removeprefix("エラー：").rstrip("\n"), en.removeprefix("error: ").rstrip("\n")


# ------------------------------------------------------------------------------- ledger

def test_a_sequence_number_beyond_what_a_database_keeps_is_a_usage_error(cli: CliRun) -> None:
    """Sequence numbers and page sizes are bounded where they are read: a number past a
    signed 64-bit integer stopped the command with an overflow where it was bound to the
    statement, and a negative --limit listed every entry (SQLite reads it as no limit)."""
    for args, bound in ((("balances", "--as-of-entry", "9" * 20), "less than or equal to "
                         "9223372036854775807"),
                        (("ledger", "entries", "--after", "9" * 20), "less than or equal to "
                         "9223372036854775807"),
                        (("balances", "--as-of-entry", "-5"), "greater than or equal to 0"),
                        (("ledger", "entries", "--limit", "-5"), "greater than or equal to 1")):
        code, out, err = cli("--lang", "ja", *args)
        assert code == 2 and out == "", (args, out)
        assert f"エラー：オプション '{args[-2]}' の値が正しくありません\n" in err, err
        assert f"  詳細（原文）：Input should be {bound}" in err, err
        assert "Traceback" not in err and "unexpectedly" not in err
    code, _, err = cli("ledger", "entries", "--after", str(2**63 - 1))  # the last there is
    assert code == 0, err


def test_a_table_shows_square_brackets_as_written(cli: CliRun) -> None:
    """A key (or memo, note, reason code) with square brackets is shown as written: the
    table's renderer read them as its markup, dropping "[bold]" and stopping the command
    with "kinko failed unexpectedly" on "[/]"."""
    key = "k[/]1 [bold]x"
    code, _, err = cli("ledger", "post", "--key", key, "--source", "s",
                       "--debit", "clearing:opening 1 XEM", "--credit", "customer:C1 1 XEM")
    assert code == 0, err
    code, out, err = cli("ledger", "entries")
    assert code == 0 and "unexpectedly" not in err, err
    assert out.count(key) == 2  # both legs


def test_ledger_post_says_the_flag_and_the_leg(cli: CliRun) -> None:
    ja, en = said(cli, "ledger", "post", "--key", "k", "--source", "s",
                  "--debit", "wallet:xem-hot 1", "--credit", "customer:C1 1 XEM")
    assert ja == ("--debit 'wallet:xem-hot 1'：ACCOUNT AMOUNT ASSET の形で書いてください"
                  "（例：--debit \"customer:C1 1.5 XEM\"）")
    assert en == ("--debit 'wallet:xem-hot 1': write ACCOUNT AMOUNT ASSET, e.g. "
                  "'--debit \"customer:C1 1.5 XEM\"'")
    ja, en = said(cli, "ledger", "post", "--debit", "wallet:xem-hot 1 XEM",
                  "--credit", "customer:C1 1 XEM")
    assert ja == "仕訳には --key（冪等キー）と --source が必要です"
    assert en == "an entry needs --key (idempotency key) and --source"


@pytest.mark.parametrize("body, ja_end", [
    ([], "：key、source、postings を持つ JSON オブジェクトが必要です"),
    ({"key": 1}, "：key は文字列にしてください"),
    ({"postings": {}}, "：postings は明細のリストにしてください"),
    ({"postings": [{"account": "customer:C1"}]},
     "：postings[0]：account、asset、amount が必要です（ほかのキーは書けません）"),
    ({"postings": [{"account": "wallet:xem-hot", "asset": "XEM", "amount": "1"},
                   {"account": 7, "asset": "XEM", "amount": "-1"}]},
     "：postings[1]：account と asset は文字列にしてください"),
    ({"postings": [{"account": "wallet:xem-hot", "asset": "XEM", "amount": 1.5}]},
     "：postings[0].amount：金額は \"1.5\" のような 10 進数の文字列で書いてください"
     "（借方は正、貸方は負）。浮動小数点数は受け付けません"),
    ({"postings": [{"account": "wallet:xem-hot", "asset": "XEM", "amount": "1.0000001"}]},
     "：postings[0]：1.0000001 XEM は小数点以下 7 桁です。XEM の小数点以下は 6 桁までです"),
])
def test_an_entry_file_is_refused_naming_the_file_and_the_posting(
        cli: CliRun, tmp_path: Path, body: object, ja_end: str) -> None:
    path = tmp_path / "entry.json"
    path.write_text(json.dumps(body), encoding="utf-8")
    ja, en = said(cli, "ledger", "post", "--key", "k", "--source", "s", "--json", str(path))
    assert ja == f"{path}{ja_end}", ja
    assert en.startswith(f"{path}: ") and "：" not in en, en


def test_a_posting_in_an_asset_kinko_does_not_know_is_said_with_the_assets_words(
        cli: CliRun, tmp_path: Path) -> None:
    path = tmp_path / "e.json"
    path.write_text(json.dumps({"postings": [
        {"account": "wallet:xem-hot", "asset": "DOGE", "amount": "1"}]}), encoding="utf-8")
    ja, en = said(cli, "ledger", "post", "--key", "k", "--source", "s", "--json", str(path))
    assert ja.startswith(f"{path}：postings[0]：") and "DOGE" in ja, ja
    assert en.startswith(f"{path}: postings[0]: ") and "DOGE" in en, en


def test_export_balances_and_holds_name_the_value_refused(cli: CliRun) -> None:
    ja, en = said(cli, "ledger", "export", "--format", "csv")
    assert (ja, en) == ("--format は beancount にしてください（'csv' は使えません）",
                        "--format must be beancount, not 'csv'")
    ja, en = said(cli, "balances", "--kind", "vault")
    assert ja.startswith("--kind は customer, ") and ja.endswith("（'vault' は使えません）"), ja
    assert en.startswith("--kind must be one of customer, ") and en.endswith("not 'vault'")
    ja, en = said(cli, "balances", "--after", "customer:C1")
    assert ja == ("--after はページの末尾に表示された ACCOUNT/ASSET の形（customer:C0001/XEM）で"
                  "指定してください（'customer:C1' は使えません）")
    assert en == ("--after must be ACCOUNT/ASSET as a page printed it (customer:C0001/XEM), "
                  "not 'customer:C1'")
    assert cli("ledger", "post", "--key", "d1", "--source", "tx:1", "--debit",
               "wallet:xem-hot 5 XEM", "--credit", "customer:C1 5 XEM")[0] == 0
    assert cli("holds", "open", "--key", "h1", "--id", "W-7", "--debit", "customer:C1",
               "--credit", "wallet:xem-hot", "--amount", "1 XEM", "--source", "r")[0] == 0
    ja, en = said(cli, "holds", "post", "--key", "p1", "--id", "W-7", "--amount", "1 ETH",
                  "--source", "r")
    assert (ja, en) == ("保留 W-7 の資産は XEM で、ETH ではありません",
                        "hold W-7 is in XEM, not ETH")


def test_the_catalog_says_what_the_english_words_say() -> None:
    from kinko.cli.ledger import _cursor, _entry_json, _leg

    for refused in (lambda: _cursor("nope"), lambda: _leg(None, "a b", 1, "--credit"),
                    lambda: _entry_json(None, b'{"postings": [{"account": 1, "asset": "XEM", '
                                              b'"amount": "1"}]}', "stdin")):
        with pytest.raises(BadInput) as caught:
            refused()
        assert EN.text(caught.value.said()) == caught.value.message
    assert JA.text(caught.value.said()) == (
        "stdin：postings[0]：account と asset は文字列にしてください")


# ------------------------------------------------------------------------------ custody

def test_policy_and_proposals_name_what_is_missing(cli: CliRun) -> None:
    ja, en = said(cli, "policy", "show")
    assert ja == "管理方針が読み込まれていません。`kinko policy load FILE --by NAME` を実行してください"
    assert en == "no custody policy is loaded: run `kinko policy load FILE --by NAME`"
    ja, en = said(cli, "proposals", "show", "P-NOPE")
    assert (ja, en) == ("提案 P-NOPE はありません", "unknown proposal 'P-NOPE'")
    ja, en = said(cli, "policy", "veto", "3", "--approver", "alice")
    assert ja == ("--key（ここで署名）と --signature（別の場所で署名したもの）のどちらか一方を"
                  "指定してください")
    assert en == "give either --key (sign here) or --signature (signed elsewhere)"
    ja, en = said(cli, "approvers", "sign-veto", "3", "--key", "k.pem")
    assert (ja, en) == ("読み取れる管理方針 第3版は読み込まれていません",
                        "no readable policy version 3 is loaded")


def test_approver_keys_name_their_file(cli: CliRun, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KINKO_APPROVER_KEY_PASSWORD", raising=False)
    taken = tmp_path / "taken.pem"
    taken.write_text("x", encoding="utf-8")
    ja, _ = said(cli, "approvers", "keygen", "--out", str(taken), code=2)
    assert ja == f"{taken} はすでに存在します。鍵は上書きしません"
    ja, en = said(cli, "approvers", "keygen", "--out", str(tmp_path / "new.pem"))
    assert ja == ("KINKO_APPROVER_KEY_PASSWORD が設定されていません。鍵ファイルのパスワード"
                  "（12 文字以上）を export してください")
    assert en == ("KINKO_APPROVER_KEY_PASSWORD is not set: export the key file's password "
                  "(at least 12 characters)")
    monkeypatch.setenv("KINKO_APPROVER_KEY_PASSWORD", "ten chars!")  # set, and too short
    ja, en = said(cli, "approvers", "keygen", "--out", str(tmp_path / "new.pem"))
    assert ja == ("KINKO_APPROVER_KEY_PASSWORD が短すぎます。鍵ファイルのパスワードは 12 文字以上に"
                  "してください")
    assert en == ("KINKO_APPROVER_KEY_PASSWORD is too short: a key file's password must have at "
                  "least 12 characters")
    assert not (tmp_path / "new.pem").exists()

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    from kinko.cli.custody import _load_key

    monkeypatch.setenv("KINKO_APPROVER_KEY_PASSWORD", "correct horse battery")
    with pytest.raises(ConfigError) as caught:
        _load_key(taken)
    assert JA.text(caught.value.said()) == (
        f"{taken}：パスワードが誤っているか、承認者の鍵ではありません")
    assert EN.text(caught.value.said()) == caught.value.message
    other = tmp_path / "x25519.pem"
    other.write_bytes(X25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"correct horse battery")))
    with pytest.raises(ConfigError) as caught:
        _load_key(other)
    assert JA.text(caught.value.said()) == f"{other}：Ed25519 の鍵ではありません"
    assert EN.text(caught.value.said()) == caught.value.message


def test_a_canonical_proposal_file_is_refused_naming_it(cli: CliRun, tmp_path: Path) -> None:
    listed = tmp_path / "list.json"
    listed.write_text("[1]", encoding="utf-8")
    ja, en = said(cli, "approvers", "sign", "--key", "k.pem", "--canonical", str(listed))
    assert ja == f"{listed}：正規化した提案（JSON オブジェクト）ではありません"
    assert en == f"{listed}: not a canonical proposal (a JSON object)"
    empty = tmp_path / "empty.json"
    empty.write_text("{}", encoding="utf-8")
    ja, en = said(cli, "approvers", "sign", "--key", "k.pem", "--canonical", str(empty))
    assert ja.startswith(f"{empty}：正規化した提案ではありません（") and ja.endswith("）"), ja
    assert en.startswith(f"{empty}: not a canonical proposal ("), en


def test_owner_signatures_name_the_flag_and_the_key_file(
        cli: CliRun, monkeypatch: pytest.MonkeyPatch) -> None:
    ja, en = said(cli, "proposals", "safe-sign", "P-1", "--owner", ETH_OWNER,
                  "--signature", "0xzz")
    assert (ja, en) == ("--signature：16 進数ではありません", "--signature: not hex")
    monkeypatch.delenv("KINKO_OWNER_KEY_PASSWORD", raising=False)
    ja, en = said(cli, "proposals", "safe-sign", "P-1", "--owner", ETH_OWNER,
                  "--key", "owner.json")
    assert ja == "オーナーの鍵ファイル owner.json を開くには KINKO_OWNER_KEY_PASSWORD を設定してください"
    assert en == "set KINKO_OWNER_KEY_PASSWORD to open your owner key file owner.json"


def test_reports_and_deposits_say_what_they_need(cli: CliRun, tmp_path: Path) -> None:
    ja, en = said(cli, "report", "custody", "--format", "xml")
    assert ja == "--format は table, csv, json, html のいずれかにしてください（'xml' は使えません）"
    assert en == "--format must be table, csv, json or html, not 'xml'"
    ja, en = said(cli, "report", "custody", "--at", "12")
    assert ja == "--at BLOCK にはチェーンのノードが必要です。KINKO_EVM_RPC_URL を設定してください"
    assert en == "--at BLOCK needs a chain node: set KINKO_EVM_RPC_URL"
    ja, en = said(cli, "deposits", "scan")
    assert ja == "チェーンのノードが設定されていません（KINKO_EVM_RPC_URL を設定してください）"
    assert en == "no chain node is configured: set KINKO_EVM_RPC_URL"
    ja, en = said(cli, "report", "fsa", "--format", "docx", "--out", str(tmp_path / "f"))
    assert ja == "--format は html, pdf, md のいずれかにしてください（'docx' は使えません）"
    assert en == "--format must be html, pdf or md, not 'docx'"


# ---------------------------------------------- wallets, customers, refunds, withdrawals

def test_wallets_customers_refunds_withdrawals_and_the_demo(cli: CliRun,
                                                            tmp_path: Path) -> None:
    ja, en = said(cli, "wallets", "add", "w", "--asset", "ETH", "--tier", "hot",
                  "--owner", ETH_OWNER)
    assert ja == ("--owner、--threshold、--operator、--cosigner は Safe を指定するためのもの"
                  "です。その Safe のアドレスを --safe で指定してください")
    assert en.startswith("--owner, --threshold, --operator and --cosigner describe a Safe")
    ja, en = said(cli, "wallets", "add", "w", "--asset", "ETH", "--tier", "hot",
                  "--safe", ETH_OWNER, "--address", ETH_OWNER)
    assert ja.startswith("Safe は --safe ADDRESS、") and "--address は使いません" in ja, ja
    assert en == ("a Safe is registered with --safe ADDRESS, its --owner(s) and --threshold "
                  "(not --address)")
    ja, en = said(cli, "customers", "tier", "C1", "gold")
    assert (ja, en) == ("顧客区分を設定する人を指定してください（--by）",
                        "say who records the tier: --by NAME")
    out = str(tmp_path / "plan")
    ja, en = said(cli, "refunds", "plan", "I-1", "--asset", "XEM", "--price", "1",
                  "--from", "2018-01-26T00:00:00+09:00", "--out", out)
    assert (ja, en) == ("--from と --to は --vwap と組み合わせて指定してください",
                        "--from and --to go with --vwap")
    ja, en = said(cli, "refunds", "plan", "I-1", "--asset", "XEM", "--vwap", "t.csv",
                  "--from", "2018-01-26T00:00:00+09:00", "--out", out)
    assert (ja, en) == ("--vwap には期間の指定（--from T1 --to T2）が必要です",
                        "--vwap needs its window: --from T1 --to T2")
    ja, en = said(cli, "withdrawals", "request", "W-1", "--customer", "C1", "--asset", "XEM",
                  "--amount", "1", "--to", "x", "--tier", "gold")
    assert ja.startswith("出金依頼で顧客区分は指定できません。") and (
        "`kinko customers tier CUSTOMER TIER --by NAME`" in ja), ja
    assert en.startswith("a withdrawal request cannot name a tier: ")
    ja, en = said(cli, "demo", "--customers", "0", "--dir", str(tmp_path / "demo"))
    assert (ja, en) == ("--customers は 1 以上にしてください", "--customers must be at least 1")
