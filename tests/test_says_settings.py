"""Settings errors (kinko.toml, KINKO_* environment, --flags, the co-signer's cosign.toml)
and the command line's shared refusals say their specifics in Japanese too: the setting,
where its value came from, the value (cut short) and what is wrong with it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kinko.cli.runtime import Runtime, emit, parse_time
from kinko.domain.custody import Wallet
from kinko.errors import BadInput, ConfigError, KinkoError
from kinko.i18n import Localizer
from kinko.settings import Settings, load_cosign_settings, load_settings

JA, EN = Localizer("ja"), Localizer("en")


def _refused(**given: Any) -> KinkoError:
    with pytest.raises(ConfigError) as caught:
        load_settings(config_path=given.pop("config_path", None), **given)
    return caught.value


def _japanese(error: KinkoError) -> str:
    text = JA.text(error.said())
    assert error.said().id != f"error.{error.code}", "only the class's sentence: " + text
    return text


def test_a_bad_environment_value_names_the_setting_the_variable_and_the_value() -> None:
    error = _refused(env={"KINKO_LOG_LEVEL": "LOUD"})
    assert error.message == ("KINKO_LOG_LEVEL: log_level = 'LOUD': expected one of DEBUG, "
                             "INFO, WARNING, ERROR")
    assert EN.text(error.said()) == error.message
    assert _japanese(error) == ("設定：log_level = 'LOUD'（指定元：KINKO_LOG_LEVEL）："
                                "DEBUG, INFO, WARNING, ERROR のいずれかにしてください")


def test_a_number_python_cannot_read_is_said_as_the_number_expected() -> None:
    error = _refused(env={"KINKO_DATABASE_POOL": "many"})
    # the English words stay Python's own; the catalog says what was expected
    assert error.message.endswith("invalid literal for int() with base 10: 'many'")
    assert EN.text(error.said()) == ("KINKO_DATABASE_POOL: database_pool = 'many': "
                                     "expected a positive whole number")
    ja = _japanese(error)
    assert "database_pool" in ja and "'many'" in ja and "KINKO_DATABASE_POOL" in ja
    assert "正の整数" in ja and "invalid literal" not in ja


def test_a_flag_and_a_file_are_named_as_where_the_value_came_from(tmp_path: Path) -> None:
    ja = _japanese(_refused(flags={"import_batch_size": "-3"}))
    assert "import_batch_size = '-3'" in ja and "--import-batch-size" in ja and "正の整数" in ja
    toml = tmp_path / "kinko.toml"
    toml.write_text('chains = "ethereum"\n', encoding="utf-8")
    error = _refused(config_path=toml)
    assert error.message == f"{toml}: chains = 'ethereum': 'ethereum' should be NAME=ADAPTER:URL"
    assert EN.text(error.said()) == error.message
    ja = _japanese(error)
    assert str(toml) in ja and "chains" in ja and "NAME=ADAPTER:URL の形" in ja


def test_a_nested_address_refusal_is_said_in_japanese_inside_the_setting() -> None:
    error = _refused(env={"KINKO_CHAINS": "nem=nis1:http://node:7890#NOTANADDRESS"})
    ja = _japanese(error)
    assert "KINKO_CHAINS" in ja and "チェーン nem" in ja and "'NOTANADDRESS'" in ja
    assert "NEM" in ja and "is not" not in ja and "characters" not in ja
    ja = _japanese(_refused(env={"KINKO_ASSETS": "USDT:ethereum:6:0x12"}))
    assert "token：アドレス 0x12" in ja and "expected" not in ja


@pytest.mark.parametrize("env, words", [
    ({"KINKO_TRUSTED_PROXIES": "proxy.example"},
     "'proxy.example' は IP アドレスでもネットワークでもありません"),
    ({"KINKO_LANG": "fr"}, "en か ja にしてください"),
    ({"KINKO_ASSETS": "USDT:ethereum:six"}, "decimals は整数にしてください（'six' は使えません）"),
    ({"KINKO_ASSETS": "USDT-ethereum"}, "'USDT-ethereum' は SYMBOL:CHAIN:DECIMALS[:TOKEN] の形"),
    ({"KINKO_KEYS": "hot=cloud:x"}, "hot=cloud:x：NAME=hsm[:KEY LABEL] か NAME=file[:PATH]"),
    ({"KINKO_EXCHANGE": "ceo=Satoshi"}, "[exchange] に ceo はありません"),
    ({"KINKO_CHAINS": "a=evm:http://x,a=evm:http://y"}, "同じ名前のチェーンが二度"),
])
def test_each_reason_is_said_in_japanese(env: dict[str, str], words: str) -> None:
    error = _refused(env=env)
    ja = _japanese(error)
    assert words in ja, ja
    assert next(iter(env)) in ja
    assert EN.text(error.said()) == error.message


def test_a_time_setting_past_ten_years_is_refused_where_it_is_read(tmp_path: Path) -> None:
    """``--policy-time-lock-hours 99999999999999999999`` stopped every command that opened
    the custody service with "kinko failed unexpectedly" (an OverflowError of timedelta);
    a watch silence, a watch interval or a read deadline as large overflowed where the
    dashboard, `kinko check`, the watch or the server computed with it; the co-signer's
    request time-out ends in PostgreSQL's statement_timeout, a 32-bit integer."""
    error = _refused(flags={"policy_time_lock_hours": "99999999999999999999"})
    assert EN.text(error.said()) == error.message == (
        "--policy-time-lock-hours: policy_time_lock_hours = '99999999999999999999': expected "
        "a positive whole number, at most 87,600")
    assert "87,600 以下の正の整数" in _japanese(error)
    for name, most in (("WATCH_SILENCE_SECONDS", 315_360_000),
                       ("REQUEST_READ_SECONDS", 315_360_000),
                       ("WATCH_INTERVAL_MS", 315_360_000_000)):
        error = _refused(env={f"KINKO_{name}": str(most + 1)})
        assert error.message.endswith(f"at most {most:,}"), error.message
        assert load_settings(config_path=None, env={f"KINKO_{name}": str(most)})
    cosign = tmp_path / "cosign.toml"
    cosign.write_text("", encoding="utf-8")
    for name, value in (("POLICY_TIME_LOCK_HOURS", "87601"),
                        ("REQUEST_TIMEOUT_MS", str(2**31))):
        with pytest.raises(ConfigError) as caught:
            load_cosign_settings(cosign, env={f"KINKO_COSIGN_{name}": value})
        assert "at most" in caught.value.message and "以下の正の整数" in _japanese(caught.value)


def test_a_value_from_anywhere_is_cut_short_in_the_message() -> None:
    error = _refused(env={"KINKO_LOG_LEVEL": "X" * 100_000})
    assert len(_japanese(error)) < 400


def test_unknown_settings_are_named_with_the_file(tmp_path: Path) -> None:
    toml = tmp_path / "kinko.toml"
    toml.write_text("databse_url = 'x'\n", encoding="utf-8")
    ja = _japanese(_refused(config_path=toml))
    assert ja.startswith(f"{toml}：不明な設定 databse_url があります") and "database_url" in ja
    error = _refused(flags={"colour": "red"})
    assert EN.text(error.said()) == error.message == "unknown setting 'colour'"
    assert _japanese(error) == "設定 'colour' はありません"


def test_the_cosigners_settings_say_their_specifics(tmp_path: Path) -> None:
    missing = tmp_path / "cosign.toml"
    with pytest.raises(ConfigError) as caught:
        load_cosign_settings(missing, env={})
    assert f"共同署名者の設定ファイル {missing} がありません" in _japanese(caught.value)
    missing.write_text("lisen = '127.0.0.1:1'\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_cosign_settings(missing, env={})
    assert "不明な設定 lisen" in _japanese(caught.value)
    missing.write_text("", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_cosign_settings(missing, env={"KINKO_COSIGN_LISTEN": "unix:sock"})
    ja = _japanese(caught.value)
    assert "listen = 'unix:sock'" in ja and "KINKO_COSIGN_LISTEN" in ja and "unix:/ABSOLUTE/PATH" in ja
    with pytest.raises(ConfigError) as caught:
        load_cosign_settings(missing, env={"KINKO_COSIGN_ALERTS_TO_KINKO": "perhaps"})
    assert "'perhaps'" in _japanese(caught.value) and "true か false" in _japanese(caught.value)
    with pytest.raises(ConfigError) as caught:
        load_cosign_settings(missing, env={}, flags={"chian": "x"})
    assert _japanese(caught.value) == "共同署名者の設定 'chian' はありません"


def test_the_command_lines_shared_refusals_say_their_specifics() -> None:
    run = Runtime(Settings())
    with pytest.raises(BadInput) as caught:
        run.lang_for("fr")
    assert _japanese(caught.value) == "--lang は ja か en にしてください（'fr' は使えません）"
    assert EN.text(caught.value.said()) == caught.value.message
    with pytest.raises(BadInput) as caught:
        emit(["a"], [], "xml")
    assert "--format" in _japanese(caught.value) and "'xml'" in _japanese(caught.value)
    assert EN.text(caught.value.said()) == caught.value.message
    with pytest.raises(BadInput) as caught:
        parse_time("yesterday")
    assert _japanese(caught.value).startswith("'yesterday' は日時ではありません")
    assert EN.text(caught.value.said()) == caught.value.message
    with pytest.raises(BadInput) as caught:
        parse_time("2018-01-26T00:02:00")
    assert _japanese(caught.value) == ("日時 '2018-01-26T00:02:00' にタイムゾーンを付けてください"
                                       "（+09:00 や Z など）")
    # kinko keeps times in UTC: a time that is year 0 or 10000 there is refused as such
    for edge in ("0001-01-01T00:00:00+09:00", "9999-12-31T23:59:59-05:00"):
        with pytest.raises(BadInput) as caught:
            parse_time(edge)
        assert _japanese(caught.value) == f"日時 '{edge}' は UTC で 1 年から 9999 年の範囲外です"
        assert caught.value.message == f"time '{edge}' is outside the years 1 to 9999 in UTC"
    assert parse_time("0001-01-01T09:00:00+09:00").year == 1  # the first hour there is
    for far in ("99999999999d", "9" * 5000 + "m", "²d"):  # beyond a date, or no digits
        with pytest.raises(BadInput) as caught:
            parse_time(far)
        assert "は日時ではありません" in _japanese(caught.value)
        assert len(caught.value.message) < 300


def test_no_node_for_a_wallet_or_an_asset_names_them_and_the_chain() -> None:
    run = Runtime(Settings())
    with pytest.raises(ConfigError) as caught:
        run.spender_for(Wallet("eth-hot", "ETH", "hot"))
    assert _japanese(caught.value).startswith("ウォレット eth-hot のチェーン ethereum には")
    assert EN.text(caught.value.said()) == caught.value.message
    with pytest.raises(ConfigError) as caught:
        run.multisigs("ETH")
    assert _japanese(caught.value).startswith("ETH のチェーン ethereum にはノードが設定されて")
    assert EN.text(caught.value.said()) == caught.value.message
