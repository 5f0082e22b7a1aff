"""Settings are declared once; the README and `kinko --help` are generated from the registry."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from decimal import Decimal
from pathlib import Path

import pytest
from csvquotes import OPEN_QUOTE_JA, open_quote

from kinko.cli import main
from kinko.domain.fsa import Submitter
from kinko.errors import ConfigError
from kinko.settings import (
    COSIGN_REGISTRY,
    REGISTRY,
    CosignSetting,
    CosignSettings,
    Settings,
    load_cosign_settings,
    load_settings,
    registry_of,
    setting,
    settings_markdown,
)

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_settings_table_matches_the_registry() -> None:
    text = README.read_text(encoding="utf-8")
    start = text.index("<!-- settings:start -->") + len("<!-- settings:start -->")
    end = text.index("<!-- settings:end -->")
    assert text[start:end].strip() == settings_markdown().strip(), (
        "README settings table is stale: paste kinko.settings.settings_markdown() output")


def test_a_setting_is_declared_once_as_a_field_and_the_registry_is_read_from_it(
        tmp_path: Path) -> None:
    @dataclass(frozen=True)
    class Example:
        retries: int = setting(3, "How often.", int, "N")
        name: str = setting("x", "Who.", str.strip)
        sources: dict[str, str] = field(default_factory=dict)  # not a setting

    (retries, name) = registry_of(Example, CosignSetting)
    assert (retries.name, retries.default, retries.help, retries.metavar) == (
        "retries", 3, "How often.", "N")
    assert (name.metavar, name.parser("  y "), name.env) == ("TEXT", "y", "KINKO_COSIGN_NAME")
    # kinko's and the co-signer's settings: every field but what the loader adds is one,
    # with the field's default, and loading with nothing set gives the defaults
    for settings, registry, extra in [(Settings, REGISTRY, {"sources"}),
                                      (CosignSettings, COSIGN_REGISTRY,
                                       {"tables", "path", "sources"})]:
        declared = {f.name: f for f in fields(settings)}
        assert [s.name for s in registry] == [n for n in declared if n not in extra]
        assert all(s.default == declared[s.name].default for s in registry)
    assert load_settings(config_path=None, env={}) == Settings()
    (tmp_path / "cosign.toml").write_text("")
    loaded = load_cosign_settings(tmp_path / "cosign.toml", env={})
    assert loaded == CosignSettings(tables={}, path=str(tmp_path / "cosign.toml"))


def test_help_lists_every_setting(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for s in REGISTRY:
        assert s.flag in out and s.env in out


def test_help_shows_each_default_as_the_readme_table_does(
        capsys: pytest.CaptureFixture[str]) -> None:
    # the [exchange] table's default was shown as Python wrote it:
    # "default Submitter(name='', registration='', ...)", where the README says (none)
    assert main(["--lang", "en", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    rows = {line.split("|")[1].strip(" `"): line.split("|")[4].strip(" `")
            for line in settings_markdown().splitlines()[2:]}
    for s in REGISTRY:
        readme = rows[s.name]
        shown = "none" if readme == "(none)" else readme
        assert f"[env {s.env}; default {shown}]".replace("default ]", "default]") in \
            out.replace("default ]", "default]"), s.name
    assert "Submitter(" not in out


def test_precedence_default_file_env_flag(tmp_path: Path) -> None:
    cfg = tmp_path / "kinko.toml"
    cfg.write_text('import_batch_size = 7\nlog_level = "INFO"\n[assets.USDT]\nchain = "ethereum"\n'
                   "decimals = 6\n")
    s = load_settings(config_path=cfg, env={})
    assert (s.import_batch_size, s.log_level, s.sources["import_batch_size"]) == (7, "INFO", str(cfg))
    assert s.registry["USDT"].decimals == 6
    s = load_settings(config_path=cfg, env={"KINKO_IMPORT_BATCH_SIZE": "8"})
    assert s.import_batch_size == 8
    s = load_settings(config_path=cfg, env={"KINKO_IMPORT_BATCH_SIZE": "8"},
                      flags={"import_batch_size": "9"})
    assert s.import_batch_size == 9 and s.sources["import_batch_size"] == "--import-batch-size"
    assert load_settings(config_path=None, env={}).database_url == "sqlite:///kinko.db"


def test_chains_and_keys_are_named_with_their_kind(tmp_path: Path) -> None:
    cfg = tmp_path / "kinko.toml"
    cfg.write_text('[chains.ethereum]\nadapter = "evm"\nurl = "http://127.0.0.1:8545"\n'
                   '[chains.sepolia]\nadapter = "EVM"\nurl = "http://127.0.0.1:8546"\n')
    s = load_settings(config_path=cfg, env={})
    assert s.chains == (("ethereum", "evm", "http://127.0.0.1:8545", ()),
                        ("sepolia", "evm", "http://127.0.0.1:8546", ()))
    s = load_settings(config_path=None, env={
        "KINKO_CHAINS": "ethereum=evm:http://node:8545",
        "KINKO_KEYS": "eth-hot=hsm:ops-key,relayer=file,eth-warm=file:/keys/w.json"})
    assert s.chains == (("ethereum", "evm", "http://node:8545", ()),)
    assert s.keys == (("eth-hot", "hsm", "ops-key"), ("relayer", "file", ""),
                      ("eth-warm", "file", "/keys/w.json"))
    for name, value, message in [("KINKO_CHAINS", "ethereum", "NAME=ADAPTER:URL"),
                                 ("KINKO_CHAINS", "a=evm:x,a=evm:y", "named twice"),
                                 ("KINKO_KEYS", "eth-hot=cloud", "hsm")]:
        with pytest.raises(ConfigError, match=message):
            load_settings(config_path=None, env={name: value})


@pytest.mark.parametrize("body, message", [
    ("import_batch_size = 0\n", "positive whole number"),
    ("databse_url = 'x'\n", "unknown setting"),
    ("[assets.usdt]\nchain='e'\ndecimals=6\n", "upper-case"),
    ("import_batch_size = \n", "not valid TOML"),
    # digits of other scripts and separators, as no number kinko reads takes them
    ("confirmations = '１２'\n", "invalid literal"),
    ("confirmations = '1_000'\n", "invalid literal"),
    # a misspelt chain was recorded in the ledger for good; a symbol named twice, the last won
    ("[assets.USDX]\nchain='etherem'\ndecimals=6\n", "chain 'etherem' has no address format"),
    ("assets = 'DOGE:ethereum:8,DOGE:ethereum:9'\n", "asset DOGE is named twice"),
])
def test_bad_config_names_file_and_setting(tmp_path: Path, body: str, message: str) -> None:
    cfg = tmp_path / "kinko.toml"
    cfg.write_text(body)
    with pytest.raises(ConfigError, match=message):
        load_settings(config_path=cfg, env={})


def test_unreachable_database_exits_3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    code = main(["--database-url", "postgresql://kinko:secret@127.0.0.1:1/none", "balances"])
    err = capsys.readouterr().err
    assert code == 3 and "unavailable" in err and "secret" not in err
    code = main(["--database-url", f"sqlite:///{tmp_path}/fresh.db", "balances"])
    assert code == 3 and "run `kinko init`" in capsys.readouterr().err


def test_readme_rules_table_matches_the_registry() -> None:
    from kinko.domain.screening import rules_markdown

    text = README.read_text(encoding="utf-8")
    start = text.index("<!-- rules:start -->") + len("<!-- rules:start -->")
    end = text.index("<!-- rules:end -->")
    assert text[start:end].strip() == rules_markdown().strip()


def test_the_exchange_section_names_who_submits_the_fsa_report(tmp_path: Path) -> None:
    cfg = tmp_path / "kinko.toml"
    cfg.write_text('[exchange]\nname = "株式会社テスト取引所"\nregistration = "関東財務局長 '
                   '第00099号"\nrepresentative = "代表取締役 山田 花子"\naddressee = "kanto"\n',
                   encoding="utf-8")
    s = load_settings(config_path=cfg, env={})
    assert s.exchange == Submitter(name="株式会社テスト取引所",
                                   registration="関東財務局長 第00099号",
                                   representative="代表取締役 山田 花子", addressee="kanto")
    s = load_settings(config_path=None, env={"KINKO_EXCHANGE": "name=B社;address=東京都"})
    assert (s.exchange.name, s.exchange.address, s.exchange.addressee) == (
        "B社", "東京都", "fsa")
    cfg.write_text('[exchange]\nname = "x"\nceo = "y"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"\[exchange\] has no ceo"):
        load_settings(config_path=cfg, env={})


def test_the_database_pool_setting_is_the_pool_a_command_opens(tmp_path: Path) -> None:
    from dbtemplate import migrated_sqlite

    from kinko.cli.runtime import Runtime

    migrated_sqlite(tmp_path / "k.db")
    settings = load_settings(env={"KINKO_DATABASE_URL": f"sqlite:///{tmp_path / 'k.db'}",
                                  "KINKO_DATABASE_POOL": "3"}, config_path=None)
    assert settings.database_pool == 3
    store = Runtime(settings).store()
    try:
        assert store.engine.pool.size() == 3  # type: ignore[attr-defined]
    finally:
        store.close()
    with pytest.raises(ConfigError):
        load_settings(env={"KINKO_DATABASE_POOL": "0"}, config_path=None)


def test_a_prices_file_with_a_value_split_by_an_unquoted_comma_is_refused(
        tmp_path: Path) -> None:
    """``XEM,88,549`` (a thousands separator without quotes) was read as 88 yen per XEM,
    the 549 past the header ignored; a column named twice was the last one."""
    from kinko.errors import InputFileError
    from kinko.prices import prices_from_csv

    path = tmp_path / "prices.csv"
    path.write_text("asset,jpy\nETH,512345\nXEM,88,549\n", encoding="utf-8")
    with pytest.raises(InputFileError, match=r"prices.csv:3: more fields than the header"):
        prices_from_csv(path)
    path.write_text("asset,jpy,jpy\nXEM,88,90\n", encoding="utf-8")
    with pytest.raises(InputFileError, match=r"prices.csv:1: a column appears twice"):
        prices_from_csv(path)
    path.write_text("asset,jpy\nXEM,88.5,\n", encoding="utf-8")  # a trailing comma says nothing
    assert prices_from_csv(path).price("XEM") == Decimal("88.5")


def test_a_price_with_an_exponent_is_refused_naming_its_line_and_column(
        tmp_path: Path) -> None:
    """``1e3`` and ``1E-2`` were read as 1000 and 0.01 yen: a price is written in plain
    decimal digits; so is a separator (``1_000``) or another script's digits."""
    from kinko.errors import InputFileError
    from kinko.prices import prices_from_csv, prices_from_text

    path = tmp_path / "prices.csv"
    for bad, said in (("1e3", "is written with an exponent"),
                      ("1E-2", "is written with an exponent"),
                      ("1_000", "is not written in plain decimal digits"),
                      ("\uff18\uff18", "is not written in plain decimal digits")):
        path.write_text(f"asset,jpy\nETH,512345\nXEM,{bad}\n", encoding="utf-8")
        with pytest.raises(InputFileError, match=rf"prices.csv:3: jpy '{bad}' {said}"):
            prices_from_csv(path)
    with pytest.raises(ConfigError, match=r"^prices: ETH: price '1e3' is written with an "):
        prices_from_text("ETH=1e3")
    path.write_text("asset,jpy\nETH, +0512345.50 \nXEM,.5\nBTC,7.\n", encoding="utf-8")
    prices = prices_from_csv(path)  # plain digits as before: spaces, a sign, no digit before
    assert [prices.price(a) for a in ("ETH", "XEM", "BTC")] == [
        Decimal("512345.50"), Decimal("0.5"), Decimal(7)]


def test_a_prices_file_row_for_an_asset_the_exchange_does_not_know_is_refused(
        tmp_path: Path) -> None:
    """A row for an asset kinko does not know (a typo, another exchange's file) was taken
    and never used: the reports valued nothing with it, and said nothing of it."""
    from kinko.cli.runtime import Runtime
    from kinko.errors import InputFileError
    from kinko.prices import prices_from_csv

    path = tmp_path / "prices.csv"
    path.write_text("asset,jpy\nETH,512345\nDOGE,20\nXEM,88\n", encoding="utf-8")
    runtime = Runtime(load_settings(env={"KINKO_PRICES_FILE": str(path)}, config_path=None))
    with pytest.raises(InputFileError, match=r"prices.csv:3: asset 'DOGE' is not one this "
                                             r"exchange knows \(known: BTC, ETH, "):
        runtime.prices()
    assert prices_from_csv(path).price("DOGE") == 20  # a caller that knows no assets
    path.write_text("asset,jpy\nETH,512345\n,5\n", encoding="utf-8")
    with pytest.raises(InputFileError, match=r"prices.csv:3: asset '' is not one"):
        runtime.prices()
    path.write_text("asset,jpy\nETH,512345\nxem,88\n", encoding="utf-8")
    prices = runtime.prices()
    assert prices is not None and prices.price("XEM") == Decimal(88)


@pytest.mark.parametrize("body, opened", [
    ('asset,jpy\nETH,"500', 2),  # the file's last line, without its line end
    ('asset,jpy\nETH,"500\n', 2),
    ('asset,jpy\nBTC,1\nETH,"500\nXEM,88\nJPY,1\n', 3),  # the rows after it read into it
    ('asset,jpy\n"E""TH",1\nXEM,"88\n', 3),  # a quote written twice closes nothing
    ('"asset,jpy\nETH,1\n', 1),
])
def test_a_prices_file_with_a_quote_left_open_is_refused_on_the_line_it_opens(
        tmp_path: Path, body: str, opened: int) -> None:
    """``ETH,"500`` at the end of the file was read as 500 yen, without a word, and such a
    quote earlier read every row after it into one price: an unterminated quoted field,
    named on the line where its quote opens."""
    from kinko.errors import InputFileError
    from kinko.i18n import Localizer
    from kinko.prices import prices_from_csv

    path = tmp_path / "prices.csv"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(InputFileError) as caught:
        prices_from_csv(path)
    assert caught.value.message == open_quote(f"{path}:{opened}")
    assert caught.value.says is not None
    assert Localizer("ja").text(caught.value.says).startswith(
        f"{path}:{opened}{OPEN_QUOTE_JA}")


def test_a_prices_file_quoted_wrongly_is_refused_and_quoted_rightly_read(
        tmp_path: Path) -> None:
    from kinko.errors import InputFileError
    from kinko.prices import prices_from_csv

    path = tmp_path / "prices.csv"
    path.write_text('asset,jpy\nETH,"1\n' + ("9" * 1000 + "\n") * 200, encoding="utf-8")
    with pytest.raises(InputFileError, match=r"prices.csv:2: unterminated quoted field: the "
                                             r"double quote that opens it here is not closed "
                                             r"within the 131,072 characters"):
        prices_from_csv(path)
    path.write_text('asset,jpy\nETH,"5"00\n', encoding="utf-8")  # was read as 500
    with pytest.raises(InputFileError, match=r"prices.csv:2: not readable as CSV \(',' "):
        prices_from_csv(path)
    path.write_text('asset,jpy\n\n"ETH","512,345"\n"XEM",88\n', encoding="utf-8")
    with pytest.raises(InputFileError, match=r"prices.csv:3: '512,345' is not a price"):
        prices_from_csv(path)  # the row's own line, past a blank one
    path.write_text('asset,jpy\n\n"ETH","512345"\n"XEM",88\n', encoding="utf-8")
    prices = prices_from_csv(path)
    assert (prices.price("ETH"), prices.price("XEM")) == (Decimal(512345), Decimal(88))


def test_a_prices_file_with_two_rows_for_one_asset_is_refused_naming_both(
        tmp_path: Path) -> None:
    """A second row for an asset (``eth`` below ``ETH``) silently replaced the first
    price: which of the two the exchange meant would be a guess."""
    from kinko.errors import InputFileError
    from kinko.i18n import Localizer
    from kinko.prices import prices_from_csv

    path = tmp_path / "prices.csv"
    path.write_text("asset,jpy\nETH,512345\nXEM,88\n\n eth ,1\n", encoding="utf-8")
    for read in (lambda: prices_from_csv(path), lambda: prices_from_csv(path, {"ETH", "XEM"})):
        with pytest.raises(InputFileError) as caught:
            read()
        assert caught.value.message == (f"{path}:5: a second price for asset 'ETH' (first on "
                                        "line 2)")
        assert caught.value.says is not None
        assert Localizer("ja").text(caught.value.says) == (
            f"{path}:5：資産 ETH の価格が重複しています（最初は 2 行目）")


def test_the_prices_setting_with_an_asset_the_exchange_does_not_know_is_refused() -> None:
    """``prices = "ETH=512345,DOGE=20"`` was taken and the DOGE price never used, without a
    word (only the prices file was checked against the assets kinko knows)."""
    from kinko.cli.runtime import Runtime
    from kinko.i18n import Localizer

    runtime = Runtime(load_settings(env={"KINKO_PRICES": "ETH=512345, doge =20"},
                                    config_path=None))
    with pytest.raises(ConfigError, match=r"^prices: asset 'DOGE' is not one this exchange "
                                          r"knows \(known: BTC, ETH, ") as caught:
        runtime.prices()
    assert caught.value.says is not None
    assert Localizer("ja").text(caught.value.says).startswith(
        "prices：資産 DOGE はこの取引所に登録されていません（登録済み：BTC, ETH, ")
    runtime = Runtime(load_settings(env={"KINKO_PRICES": "eth=512345,XEM=88"},
                                    config_path=None))
    prices = runtime.prices()
    assert prices is not None and prices.price("ETH") == Decimal(512345)


def test_the_prices_setting_pricing_an_asset_twice_is_refused_naming_it() -> None:
    """``prices = "ETH=512345,XEM=88,eth=1"`` kept the last price (ETH at 1 yen) without a
    word: which of the two the exchange meant would be a guess."""
    from kinko.cli.runtime import Runtime
    from kinko.i18n import Localizer

    for text, first, second in (("ETH=512345,XEM=88, eth = 1", "ETH=512345", "eth = 1"),
                                ("XEM=88,XEM=88", "XEM=88", "XEM=88")):
        runtime = Runtime(load_settings(env={"KINKO_PRICES": text}, config_path=None))
        with pytest.raises(ConfigError) as caught:
            runtime.prices()
        asset = first.split("=")[0]
        assert caught.value.message == (f"prices: asset {asset!r} has two prices ({first} "
                                        f"and {second}); give one")
        assert caught.value.says is not None
        assert Localizer("ja").text(caught.value.says) == (
            f"prices：資産 {asset} に価格が 2 つあります（{first} と {second}）。1 つにしてください")
