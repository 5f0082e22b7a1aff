"""The command line speaks one language, chosen once (``lang``: ``--lang``, ``KINKO_LANG``,
kinko.toml, else the locale): its errors in Japanese still say what and where."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from clirun import CliRun, cli_runner

from kinko.settings import language, load_settings


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> CliRun:
    run = cli_runner(monkeypatch, capsys, tmp_path, f"sqlite:///{tmp_path / 'k.db'}")
    assert run("wallets", "add", "xem-hot", "--asset", "XEM", "--tier", "hot")[0] == 0
    return run


def test_the_locale_decides_when_nothing_else_does() -> None:
    assert language("", {"LANG": "ja_JP.UTF-8"}) == "ja"
    assert language("", {"LANG": "C.UTF-8"}) == "en"
    assert language("", {}) == "en"
    # LC_ALL comes first, then LC_MESSAGES, then LANG, as gettext reads them
    assert language("", {"LC_ALL": "C", "LANG": "ja_JP.UTF-8"}) == "en"
    assert language("", {"LC_MESSAGES": "ja_JP.UTF-8", "LANG": "en_US.UTF-8"}) == "ja"
    assert language("en", {"LANG": "ja_JP.UTF-8"}) == "en"  # the setting wins
    assert load_settings(config_path=None, env={"KINKO_LANG": " JA "}).lang == "ja"


@pytest.mark.parametrize("args, env, where", [
    (["--lang", "fr"], {}, "--lang: lang = 'fr'"),
    (["--lang=english"], {}, "--lang: lang = 'english'"),
    ([], {"KINKO_LANG": "jp"}, "KINKO_LANG: lang = 'jp'"),
])
def test_a_language_kinko_does_not_speak_is_refused_naming_where(
        cli: CliRun, monkeypatch: pytest.MonkeyPatch, args: list[str], env: dict[str, str],
        where: str) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    code, out, err = cli(*args, "balances")
    assert code == 2 and out == "", (out, err)
    assert err == f"error: {where}: expected en or ja (empty: the terminal's locale)\n"


def test_kinko_toml_a_japanese_locale_and_the_flag_choose_the_language(
        cli: CliRun, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    bad = ("ledger", "post", "--key", "k", "--source", "s", "--debit",
           "wallet:xem-hot 1.0000001 XEM", "--credit", "customer:C1 1 XEM")
    japanese = "エラー：1.0000001 XEM は小数点以下 7 桁です"
    assert cli(*bad)[2].startswith("error: 1.0000001 XEM has 7 decimal places")
    monkeypatch.setenv("LANG", "ja_JP.UTF-8")
    assert cli(*bad)[2].startswith(japanese)
    assert cli("--lang", "en", *bad)[2].startswith("error: ")
    monkeypatch.setenv("LANG", "C.UTF-8")
    (tmp_path / "kinko.toml").write_text('lang = "ja"\n', encoding="utf-8")
    assert cli(*bad)[2].startswith(japanese)
    monkeypatch.setenv("KINKO_LANG", "en")  # the environment over the file
    assert cli(*bad)[2].startswith("error: ")
    # a setting that cannot be read is still said in the language asked for
    code, _, err = cli("--lang", "ja", "--log-level", "LOUD", "balances")
    assert code == 2 and err.startswith("エラー：設定"), err
    assert "設定：log_level" in err and "'LOUD'" in err, err


def test_a_japanese_error_keeps_the_value_the_field_and_the_words(cli: CliRun) -> None:
    # an error with its own catalog sentence says its specifics in Japanese, on one line
    code, out, err = cli("--lang", "ja", "ledger", "post", "--key", "k", "--source", "s",
                         "--debit", "wallet:xem-hot 1.0000001 XEM",
                         "--credit", "customer:C1 1 XEM")
    assert code == 2 and out == ""
    assert err == "エラー：1.0000001 XEM は小数点以下 7 桁です。XEM の小数点以下は 6 桁までです\n"
    code, _, err = cli("--lang", "ja", "wallets", "add", "w", "--asset", "ETH", "--tier",
                       "hot", "--address", "0x12")
    assert code == 2 and err.startswith("エラー：アドレス 0x12：Ethereum のアドレスではありません"), err
    # one with its class's sentence only: the setting and the value named, then its words
    from kinko.cli import error_lines
    from kinko.errors import ConfigError
    from kinko.i18n import Localizer

    bare = ConfigError("log_level = 'LOUD': expected one of DEBUG, INFO", setting="log_level",
                       value="LOUD")
    assert error_lines(bare, Localizer("ja")) == [
        "エラー：設定（kinko.toml またはポリシーファイル）に誤りがあります",
        "  設定：log_level、値：LOUD",
        "  詳細（原文）：log_level = 'LOUD': expected one of DEBUG, INFO"]


def test_an_error_with_its_own_sentence_is_said_whole_in_japanese(cli: CliRun) -> None:
    code, _, err = cli("--lang", "ja", "withdrawals", "reject", "W-NOPE", "--by", "alice",
                       "--reason", "test")
    assert code == 2 and err == "エラー：出金 W-NOPE はありません\n", err
    code, _, err = cli("withdrawals", "reject", "W-NOPE", "--by", "alice", "--reason", "x")
    assert code == 2 and err == "error: unknown withdrawal 'W-NOPE'\n", err


def test_an_input_file_error_names_every_file_and_line_in_japanese(
        cli: CliRun, tmp_path: Path) -> None:
    csv = tmp_path / "c.csv"
    csv.write_text("customer_id,asset,balance\nC1,XEM,1\nC2,XEM,abc\nC3,DOGE,1\n",
                   encoding="utf-8")
    code, out, err = cli("--lang", "ja", "customers", "import", str(csv))
    assert code == 2, (out, err)
    lines = err.splitlines()
    assert lines[0].startswith("エラー：") and lines[0].endswith(
        "c.csv：問題が 2 件あります。何も取り込んでいません"), err
    assert any(line.startswith("  ") and "c.csv:3：abc は通常の 10 進数ではありません" in line
               for line in lines), err
    assert any(line.startswith("  ") and "c.csv:4：資産 DOGE はありません" in line
               for line in lines), err
    assert "unknown asset" not in err  # each problem in Japanese, not only the first line


def test_what_the_system_refuses_and_a_defect_are_said_in_japanese(
        cli: CliRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "no-such-dir" / "j.bean"
    code, _, err = cli("--lang", "ja", "ledger", "export", "--out", str(target))
    assert code == 3 and err.startswith("エラー：ファイルまたはフォルダーがありません："), err
    assert "no-such-dir" in err and len(err.splitlines()) == 1
    import kinko.cli.assets

    def broken(*_args: object, **_kw: object) -> None:
        raise ValueError("hunter2")

    monkeypatch.setattr(kinko.cli.assets, "emit", broken)
    code, _, err = cli("--lang", "ja", "assets", "list")
    assert code == 70 and err.startswith("エラー：kinko が予期せず停止しました（ValueError、"
                                         "kinko/"), err
    assert "--log-level DEBUG" in err and "hunter2" not in err and len(err.splitlines()) == 1


def test_json_keeps_its_english_keys_whatever_the_language(cli: CliRun) -> None:
    code, en, _ = cli("wallets", "list", "--format", "json")
    assert code == 0
    code, ja, _ = cli("--lang", "ja", "wallets", "list", "--format", "json")
    assert code == 0 and json.loads(ja) == json.loads(en)
    assert set(json.loads(ja)[0]) == {"name", "asset", "tier", "signed by", "addresses"}


def test_commands_tell_their_operator_in_japanese(cli: CliRun) -> None:
    code, out, _ = cli("--lang", "ja", "apikeys", "create", "--name", "alice", "--role",
                       "admin")
    assert code == 0 and out.startswith("alice（管理者）の鍵 "), out
    key_id = out.split("の鍵 ")[1].split(" ")[0]
    code, out, _ = cli("--lang", "ja", "apikeys", "revoke", key_id, "--by", "bob")
    assert code == 0 and out == f"鍵 {key_id} を失効させた\n"
    code, out, _ = cli("--lang", "ja", "apikeys", "list")
    assert code == 0 and "役割" in out and "管理者" in out and "はい" in out, out
    code, out, _ = cli("apikeys", "list", "--format", "csv")
    assert out.splitlines()[0] == "id,name,role,revoked" and out.splitlines()[1].endswith(
        ",alice,admin,yes")
    code, out, _ = cli("--lang", "ja", "ledger", "post", "--key", "d1", "--source", "tx:1",
                       "--debit", "wallet:xem-hot 2 XEM", "--credit", "customer:C1 2 XEM")
    assert code == 0 and "勘定" in out and "数量" in out and "再送" not in out, out
    assert "振替" in out and "transfer" not in out, out  # the entry's kind, as its state
    code, out, _ = cli("--lang", "ja", "holds", "open", "--key", "h1", "--id", "W-1",
                       "--debit", "customer:C1", "--credit", "wallet:xem-hot", "--amount",
                       "1 XEM", "--source", "req:W-1")
    assert code == 0 and "保留" in out and "hold" not in out, out
    code, out, _ = cli("--lang", "ja", "holds", "void", "--key", "v1", "--id", "W-1",
                       "--source", "req:W-1")
    assert code == 0 and "保留の取消" in out and "void" not in out, out
    code, out, _ = cli("holds", "void", "--key", "v1", "--id", "W-1", "--source", "req:W-1",
                       "--format", "json")
    assert json.loads(out)[0]["kind"] == "void"  # programs read the English word
    code, out, _ = cli("--lang", "ja", "ledger", "post", "--key", "d1", "--source", "tx:1",
                       "--debit", "wallet:xem-hot 2 XEM", "--credit", "customer:C1 2 XEM")
    assert code == 0 and "再送：このキーは使用済みのため、何も書き込んでいない" in out, out
    code, out, _ = cli("--lang", "ja", "ledger", "verify")
    assert code == 0 and out.startswith("帳簿は正常：仕訳 3 件、残高 2 件。先頭 3:"), out
    code, out, _ = cli("--lang", "ja", "balances", "--customer", "C1")
    header = out.splitlines()[1]
    assert all(w in header for w in ("勘定", "資産", "残高", "保留中", "利用可能")), out
    assert "balance" not in out
    code, out, _ = cli("--lang", "ja", "wallets", "list")
    assert "ホットウォレット" in out and "単一鍵" in out and "hot" not in out.replace(
        "xem-hot", ""), out


def test_every_table_heading_the_commands_use_is_in_both_catalogs() -> None:
    """A heading's id is made at run time (cli.col.<heading>), so no extraction finds it:
    this reads the headings every ``emit([...], ...)`` of the command line names."""
    import ast

    import kinko.cli
    from kinko.cli.runtime import heading
    from kinko.i18n import Localizer

    folder = Path(kinko.cli.__file__).parent
    names = set()
    for path in folder.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id == "emit" and node.args
                    and isinstance(node.args[0], ast.List)):
                names |= {e.value for e in node.args[0].elts if isinstance(e, ast.Constant)}
    assert {"account", "imported total", "signed by"} <= names
    en, ja = Localizer("en"), Localizer("ja")
    for name in sorted(names - {""}):  # strict: a missing id raises
        assert heading(ja, name)
        assert heading(en, name) == name, name  # English tables read as before
    assert heading(ja, "imported total") == "取込合計" and heading(ja, "ETH") == "ETH"


def test_breakers_incidents_and_withdrawals_speak_japanese(cli: CliRun) -> None:
    code, out, _ = cli("--lang", "ja", "breaker", "trip", "XEM", "--by", "alice", "--reason",
                       "鍵の漏えいの疑い")
    assert code == 0 and out == "サーキットブレーカー（XEM）を作動した\n", out
    code, out, _ = cli("--lang", "ja", "breaker", "status")
    assert out.startswith("作動中のサーキットブレーカー：XEM\n") and "鍵の漏えいの疑い" in out
    assert "範囲" in out and "事象" in out, out
    code, out, _ = cli("--lang", "ja", "breaker", "status", "--format", "json")
    log = json.loads(out.split("\n", 1)[1])  # after the line of tripped breakers
    assert log[0]["event"] == "trip" and set(log[0]) == {"scope", "event", "at", "by", "reason"}
    code, out, _ = cli("--lang", "ja", "withdrawals", "expire")
    assert code == 0 and out == "期限切れ：なし\n"
    code, out, _ = cli("--lang", "ja", "incidents", "open", "ホットウォレットの鍵の漏えい",
                       "--by", "alice", "--asset", "XEM")
    assert code == 0 and out.startswith("インシデント ") and out.endswith(" を記録した\n")
    incident = out.split()[1]
    code, out, _ = cli("--lang", "ja", "incidents", "move", incident, "contained", "--by",
                       "alice", "--reason", "封じ込め")
    assert code == 0 and out == f"{incident}：封じ込め済み\n", out
    code, out, _ = cli("--lang", "ja", "incidents", "list")
    assert "状態" in out and "件名" in out and "contained" not in out, out
    code, out, _ = cli("incidents", "list", "--format", "csv")
    assert out.splitlines()[0] == "id,state,opened,asset,wallet,title" and ",contained," in out


def test_a_trace_and_tags_speak_japanese(cli: CliRun, tmp_path: Path) -> None:
    code, out, err = cli("--lang", "ja", "trace", "synth", "--transfers", "1200",
                         "--addresses", "50", "--out", str(tmp_path / "s.parquet"))
    assert code == 0, err
    assert out == f"50 件のアドレス間の送金 1,200 件を {tmp_path / 's.parquet'} に出力した\n"
    tags = tmp_path / "tags.csv"
    tags.write_text("address,label,category\n0x098B716B8Aaf21512996dC57EB0615e2383E2f96,"
                    "Ronin Bridge Exploiter,hacker\n", encoding="utf-8")
    code, out, err = cli("--lang", "ja", "tags", "import", str(tags))
    assert code == 0 and out == f"{tags}：タグ 1 件を読込、新しいアドレス 1 件\n", (out, err)


def _built() -> object:
    import importlib

    from typer.main import get_command

    from kinko.cli import MODULES

    for name in MODULES:
        importlib.import_module(f"kinko.cli.{name}")
    from kinko.cli.app import app

    return get_command(app)


def test_every_help_is_translated_from_the_english_the_code_has_now() -> None:
    """Every command's and option's help has a help.* id in both catalogs, the English one
    as the code writes it: a help added, changed or renamed in the code fails here until
    its translation is written or looked at again."""
    from kinko.cli.helptext import help_ids
    from kinko.i18n import Localizer, catalog_ids

    ids = help_ids(_built())
    translated = {k for k in catalog_ids("en") if k.startswith("help.")}
    assert not sorted(set(ids) - translated), "add these to both catalogs"
    assert not sorted(translated - set(ids)), "no such command or option any more"
    assert translated <= set(catalog_ids("ja"))
    en = Localizer("en")
    for message_id, (owner, attribute) in ids.items():
        assert en(message_id) == getattr(owner, attribute), (
            f"{message_id}: the English help changed: write it in both catalogs")
    # a help is printed as written: reStructuredText's ``code`` showed its four backticks
    ja = Localizer("ja")
    assert not [i for i in ids if "``" in en(i) or "``" in ja(i)]


def test_every_visible_command_and_option_has_a_help() -> None:
    """``kinko <command> --help`` says what each command and option is for: none that the
    help shows is listed by its name alone (a hidden one is not shown)."""
    missing: list[str] = []

    def walk(command: object, path: tuple[str, ...]) -> None:
        for param in getattr(command, "params", ()):
            if (param.param_type_name == "option" and not param.hidden
                    and not (param.help or "").strip()):
                missing.append(" ".join((*path, param.opts[0])))
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            if sub.hidden:
                continue
            if not (sub.help or "").strip():
                missing.append(" ".join((*path, name)))
            walk(sub, (*path, name))

    walk(_built(), ("kinko",))
    assert not missing, "write a help for these:\n" + "\n".join(missing)


def _has(out: str, *texts: str) -> bool:
    """Whether a help holds each of ``texts``, its lines' breaks and spaces aside (a line
    of Japanese may break between any two of its characters)."""
    flat = "".join(out.split())
    return all("".join(text.split()) in flat for text in texts)


def test_help_is_in_the_language_asked_for(
        cli: CliRun, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    code, out, _ = cli("--help")
    assert code == 0 and "custody-risk control for crypto-asset exchanges." in out
    assert "Reject a withdrawal; its funds are released." not in out
    code, out, _ = cli("--lang", "ja", "--help")
    assert code == 0 and "暗号資産交換業者のためのカストディ・リスク管理" in out, out
    assert _has(out, "出金：審査、承認、送信、確定。", "終了ステータス：0 正常")
    assert "custody-risk control" not in out
    monkeypatch.setenv("KINKO_LANG", "ja")
    code, out, _ = cli("withdrawals", "--help")
    assert "\n  reject   出金を却下する。\n" in out, out  # a list shows the first sentence
    assert "\n  approve  審査待ちの出金を承認する（m-of-n。依頼者本人は承認できない）。\n" in out
    monkeypatch.delenv("KINKO_LANG")
    (tmp_path / "kinko.toml").write_text('lang = "ja"\n', encoding="utf-8")
    code, out, _ = cli("withdrawals", "reject", "--help")
    assert code == 0 and "出金を却下する。資金は解放される。" in out, out
    code, out, _ = cli("--lang", "en", "withdrawals", "reject", "--help")
    assert "Reject a withdrawal; its funds are released." in out


def test_the_version_is_said_before_any_setting_is_read(cli: CliRun, tmp_path: Path) -> None:
    from kinko import __version__

    (tmp_path / "kinko.toml").write_text("lang = [\n", encoding="utf-8")  # not TOML
    code, out, err = cli("--version")
    assert (code, out, err) == (0, f"kinko {__version__}\n", "")
    code, out, _ = cli("--lang", "ja", "--help")
    assert _has(out, "--version", "kinko のバージョンを表示して終了する。")


def test_error_lines_keep_an_input_files_lines_in_every_language() -> None:
    from kinko.cli import error_lines
    from kinko.domain.messages import msg
    from kinko.errors import InputFileError, NotFound
    from kinko.i18n import Localizer

    ja, en = Localizer("ja"), Localizer("en")
    bad = InputFileError("t.csv: 2 problems", ["t.csv:2: 'x' is not a number",
                                               "t.csv:5: duplicate customer C1"],
                         says=msg("error.input_file_error"), file="t.csv")
    assert error_lines(bad, ja) == ["エラー：入力ファイルに誤りがあります", "  ファイル：t.csv",
                                    "  t.csv:2: 'x' is not a number",
                                    "  t.csv:5: duplicate customer C1"]
    assert error_lines(bad, en) == ["error: t.csv: 2 problems",
                                    "  t.csv:2: 'x' is not a number",
                                    "  t.csv:5: duplicate customer C1"]
    gone = NotFound("unknown alert 'A-9'", says=msg("error.unknown_alert", id="A-9"))
    assert error_lines(gone, ja) == ["エラー：アラート A-9 はありません"]
    assert error_lines(gone, en) == ["error: unknown alert 'A-9'"]


def test_clicks_own_words_are_said_in_japanese_too(cli: CliRun) -> None:
    """The usage errors Click raises (an unknown option, a missing one, a value its type
    refuses, an extra argument) and the help's usage line, headings and ``--help``: in
    Japanese from the catalog, naming the option, Click's English kept only as a value's
    reason on a line of its own; in English as Click writes them."""
    code, _, err = cli("--lang", "ja", "serve", "--nope")
    assert code == 2 and err.splitlines() == [
        "使い方: kinko serve [OPTIONS]", "ヘルプは 'kinko serve --help' で表示します。", "",
        "エラー：そのようなオプションはありません：--nope"], err
    code, _, err = cli("--lang", "ja", "apikeys", "create")
    assert code == 2 and "エラー：オプション '--name' の指定が必要です。" in err, err
    code, _, err = cli("--lang", "ja", "serve", "--port", "99999")
    assert code == 2 and "エラー：オプション '--port' の値が正しくありません\n" in err, err
    assert "  詳細（原文）：Input should be less than or equal to 65535" in err
    code, _, err = cli("--lang", "ja", "balances", "extra")
    assert code == 2 and "エラー：コマンドラインの指定が正しくありません" in err, err
    assert "Usage" not in err and "Error" not in err and "Traceback" not in err
    code, out, _ = cli("--lang", "ja", "apikeys", "create", "--help")
    assert code == 0 and out.startswith("使い方: kinko apikeys create [OPTIONS]"), out
    assert "\nオプション:\n" in out and "このヘルプを表示して終了する。" in out
    assert "Usage" not in out and "Options" not in out and "Show this message" not in out
    code, out, _ = cli("--lang", "ja", "--help")
    assert "\nコマンド:\n" in out and "\nオプション:\n" in out, out
    code, _, err = cli("serve", "--nope")
    assert code == 2 and err.splitlines() == [
        "Usage: kinko serve [OPTIONS]", "Try 'kinko serve --help' for help.", "",
        "Error: No such option: --nope"], err
    code, out, _ = cli("apikeys", "create", "--help")
    assert out.startswith("Usage: kinko apikeys create [OPTIONS]") and "\nOptions:\n" in out


def test_clicks_bracketed_notes_are_said_in_japanese_too(cli: CliRun) -> None:
    """The note Click puts after a parameter's help (its default, range, whether it is
    required) has Japanese words in Japanese, values and ranges as Click writes them; in
    English it reads as Click writes it."""
    code, out, _ = cli("--lang", "ja", "serve", "--help")
    assert code == 0 and _has(out, "[既定値: 8000; 0<=x<=65535]"), out
    assert _has(out, "[既定値: 127.0.0.1]", "[既定値: dashboard]")
    assert _has(out, "[既定値: 1; 1<=x<=64]") and "default" not in out
    code, out, _ = cli("--lang", "ja", "withdrawals", "reject", "--help")
    assert _has(out, "監査ログに残る）。 [必須]") and "required" not in out, out
    code, out, _ = cli("serve", "--help")
    flat = " ".join(out.split())
    assert "[default: 8000; 0<=x<=65535]" in flat and "[default: 127.0.0.1]" in flat, out
    code, out, _ = cli("withdrawals", "reject", "--help")
    assert "[required]" in out and "必須" not in out


def test_a_bracketed_note_is_read_as_click_writes_it() -> None:
    """Only Click's own note is rewritten: each of its parts, a default that holds "; " or
    brackets whole, and not a text's own brackets."""
    from kinko.cli.usage import localized_note
    from kinko.i18n import Localizer

    ja, en = Localizer("ja"), Localizer("en")
    assert localized_note("Where.  [env var: KINKO_X; default: a; b; x>=1; required]",
                          ja) == "Where.  [環境変数: KINKO_X; 既定値: a; b; x>=1; 必須]"
    assert localized_note("[default: [1, 2]]", ja) == "[既定値: [1, 2]]"
    assert localized_note("[0<=x<=9; required]", ja) == "[0<=x<=9; 必須]"
    assert localized_note("Pick [a] or [b].  [required]", ja) == "Pick [a] or [b].  [必須]"
    for own in ("Pick [a] or [b]", "Speaks. [環境変数 KINKO_LANG]", "See  [notes]",
                "[env KINKO_LOG_LEVEL; default WARNING]", "[0<=x<=9]"):
        assert localized_note(own, ja) == own
    text = "Where.  [env var: KINKO_X; default: a; x>=1; required]"
    assert localized_note(text, en) == text


def test_no_help_of_the_whole_app_keeps_clicks_english_notes_in_japanese() -> None:
    from kinko.cli.helptext import translate
    from kinko.i18n import Localizer

    built = _built()
    translate(built, Localizer("ja"))
    english: list[str] = []

    def walk(command: Any, name: str, parent: Any) -> None:
        ctx = command.context_class(command, info_name=name, parent=parent)
        flat = " ".join(command.get_help(ctx).split())
        if any(word in flat for word in ("[default: ", "[env var: ", "required]")):
            english.append(ctx.command_path)
        for sub_name, sub in sorted(getattr(command, "commands", {}).items()):
            walk(sub, sub_name, ctx)

    walk(built, "kinko", None)
    assert not english, english


def test_japanese_help_is_wrapped_to_the_terminals_columns(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Every command's Japanese help, at 80 columns: no line is wider (a line may end in
    closing punctuation that hangs past Click's 78, as Japanese typesetting hangs it, and
    an option or URL wider than its column is Click's), and no help is cut or lost."""
    from kinko.cli.helptext import translate
    from kinko.cli.widewrap import columns
    from kinko.i18n import Localizer

    monkeypatch.setenv("COLUMNS", "80")
    built = _built()
    translate(built, Localizer("ja"))
    wide: list[str] = []
    helps = 0

    def walk(command: Any, name: str, parent: Any) -> None:
        nonlocal helps
        ctx = command.context_class(command, info_name=name, parent=parent)
        text = command.get_help(ctx)
        helps += 1
        wide.extend(f"{ctx.command_path}: {line}" for line in text.splitlines()
                    if columns(line) > 80 and " " in line.strip())
        for sub_name, sub in sorted(getattr(command, "commands", {}).items()):
            walk(sub, sub_name, ctx)

    walk(built, "kinko", None)
    assert helps > 50 and not wide, wide


def test_wide_text_breaks_between_characters_and_keeps_punctuation_and_words() -> None:
    from kinko.cli.widewrap import columns, prewrapped, wrap

    text = "待ち受けるアドレス：IPv4 または IPv6 のアドレス、またはホスト名。0.0.0.0 なら"
    lines = wrap(text, 20)
    assert "".join(lines).replace(" ", "") == text.replace(" ", "")  # nothing lost
    assert all(columns(line) <= 22 for line in lines), lines  # 2: hanging punctuation
    assert not any(line[0] in "、。：" for line in lines), lines
    assert "IPv4" in "".join(lines) and "0.0.0.0" in "\n".join(lines)  # kept whole
    assert wrap("（注）説明", 4) == ["（注", "）説", "明"] or wrap("（注）説明", 4)[0] != "（"
    assert all(not line.endswith("（") for line in wrap("あいう（えお）かき", 6))
    assert wrap("https://example.com/a/very/long/path", 12)[0] == "https://exam"
    english = "Address to listen on: an IPv4 or IPv6 address, or a host name."
    assert prewrapped(english, 20) == english  # left to Click
    assert prewrapped("一行目の説明\nの続き", 40) == "\b\n一行目の説明の続き"


def test_a_command_that_needs_a_node_names_both_ways_to_give_one(cli: CliRun) -> None:
    # the README runs the watch and the reserves report on a NIS1 node named in the chains
    # setting; without any node they said to set KINKO_EVM_RPC_URL only
    for args in (("watch", "--once"), ("reserves", "report", ".")):
        code, _, err = cli(*args)
        assert code == 2 and "KINKO_EVM_RPC_URL" in err and "KINKO_CHAINS" in err, err


def test_booking_the_losses_of_an_incident_without_thefts_says_so(cli: CliRun) -> None:
    # it printed nothing at all: the operator could not tell whether anything was booked
    assert cli("incidents", "open", "drill", "--by", "ciso")[0] == 0
    incident = json.loads(cli("incidents", "list", "--format", "json")[1])[0]["id"]
    code, out, _ = cli("incidents", "loss", incident, "--by", "controller")
    assert code == 0 and out == (f"{incident}: no theft to book (none of its alerts is a "
                                 "final theft)\n"), out
    code, out, _ = cli("--lang", "ja", "incidents", "loss", incident, "--by", "controller")
    assert code == 0 and out == f"{incident}：記帳する不正送金はない（確定した不正送金のアラートがない）\n"


def test_an_input_files_problems_are_listed_in_the_readers_language_when_given() -> None:
    from kinko.cli import error_lines
    from kinko.domain.messages import msg
    from kinko.errors import InputFileError
    from kinko.i18n import Localizer

    english = ["c.csv:3: unknown asset 'DOGE'", "c.csv:4: unknown asset 'XYZ'"]
    said = [msg("error.file.not_text", where="c.csv:3", encoding="UTF-8", byte=7),
            msg("error.file.not_text", where="c.csv:4", encoding="UTF-8", byte=9)]
    exc = InputFileError("c.csv: 2 problems", english, says=msg("error.none"),
                         problems_said=said)
    assert error_lines(exc, Localizer("ja"))[1:] == [
        "  c.csv:3 は UTF-8 のテキストではありません（7 バイト目）",
        "  c.csv:4 は UTF-8 のテキストではありません（9 バイト目）"]
    assert error_lines(exc, Localizer("en"))[1:] == [f"  {p}" for p in english]
    bare = InputFileError("c.csv: 2 problems", english, says=msg("error.none"))
    assert error_lines(bare, Localizer("ja"))[1:] == [f"  {p}" for p in english]
