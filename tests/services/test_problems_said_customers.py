"""An input file's problems said in Japanese too: the customers' CSV and the deny lists
(address lists, CSV, JSON, TagPacks) give ``problems_said`` beside ``problems``, one catalog
message per problem, naming the file, the line and what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest
from clirun import CliRun, cli_runner

from kinko.domain.labels import (
    parse_address_list,
    parse_csv_labels,
    parse_json_addresses,
    parse_tagpack,
)
from kinko.domain.money import AssetRegistry
from kinko.errors import InputFileError
from kinko.i18n import Localizer
from kinko.services.customers import parse_customer_rows

JA, EN = Localizer("ja"), Localizer("en")
ETH = "0x52908400098527886E0F7030069857D2E4169EE7"


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> CliRun:
    return cli_runner(monkeypatch, capsys, tmp_path, f"sqlite:///{tmp_path / 'k.db'}")


def _said(exc: InputFileError) -> list[str]:
    """The Japanese text of each problem, after checking there is one per English one."""
    assert exc.problems_said is not None
    assert len(exc.problems_said) == len(exc.problems)
    texts = [JA.text(p) for p in exc.problems_said]
    assert all(not text.isascii() for text in texts), texts  # Japanese, not English
    return texts


def _customers(body: str, tiers: dict[str, str] | None = None,
               allowed: tuple[str, ...] = ("standard",)) -> InputFileError:
    with pytest.raises(InputFileError) as caught:
        parse_customer_rows(body.splitlines(True), "c.csv", AssetRegistry.default(), tiers,
                            allowed)
    return caught.value


def test_each_bad_row_of_the_customers_csv_is_said_in_japanese() -> None:
    exc = _customers("customer_id,asset,balance\nC1,XEM,1\nC2,XEM,abc\nC3,DOGE,1\n"
                     "C4,XEM\nC1,XEM,2\nC5,XEM,1,000\n")
    ja = _said(exc)
    assert len(ja) == 5
    assert ja[0].startswith("c.csv:3：") and "abc" in ja[0] and "10 進数ではありません" in ja[0]
    assert ja[1].startswith("c.csv:4：") and "DOGE" in ja[1]
    assert ja[2] == "c.csv:5：balance がありません"
    assert ja[3] == "c.csv:6：顧客 C1 の資産 XEM が重複しています（最初は 2 行目）"
    assert ja[4].startswith("c.csv:7：ヘッダーの列は 3 個ですが、この行には 4 個の値があります")
    # the English catalog says what the English problems say
    en = [EN.text(p) for p in exc.problems_said or []]
    assert en[2:] == exc.problems[2:]
    assert en[1] == exc.problems[1].replace("'DOGE'", "DOGE")  # the catalog drops the quotes


def test_a_tier_not_allowed_or_given_twice_differently_is_said_in_japanese() -> None:
    exc = _customers("customer_id,asset,balance,tier\nC1,XEM,1,vip\nC1,JPY,2,standard\n"
                     "C2,XEM,1,gold\n", tiers={}, allowed=("standard", "vip"))
    ja = _said(exc)
    assert ja == ["c.csv:3：顧客 C1 の顧客区分がここでは standard、2 行目では vip です",
                  "c.csv:4：顧客区分 gold はポリシーの顧客区分（standard, vip）にありません"]


def test_the_cli_prints_the_customers_problems_in_japanese(cli: CliRun, tmp_path: Path) -> None:
    csv = tmp_path / "c.csv"
    csv.write_text("customer_id,asset,balance\nC1,XEM,1\nC2,XEM,abc\nC3,DOGE,1\n",
                   encoding="utf-8")
    code, out, err = cli("--lang", "ja", "customers", "import", str(csv))
    assert code == 2, (out, err)
    lines = err.splitlines()
    assert lines[0].endswith("c.csv：問題が 2 件あります。何も取り込んでいません"), err
    assert lines[1].startswith("  ") and "c.csv:3：abc は通常の 10 進数ではありません" in lines[1]
    assert "c.csv:4：" in lines[2] and "DOGE" in lines[2] and "unknown" not in lines[2], err
    code, _, err = cli("customers", "import", str(csv))  # English: the English words
    assert code == 2 and err.splitlines()[2].startswith(f"  {csv}:4: unknown asset 'DOGE'"), err


def test_rows_imported_before_are_said_in_japanese(cli: CliRun, tmp_path: Path) -> None:
    first = tmp_path / "a.csv"
    first.write_text("customer_id,asset,balance\nC1,XEM,1\nC2,XEM,2\n", encoding="utf-8")
    assert cli("customers", "import", str(first))[0] == 0
    again = tmp_path / "b.csv"
    again.write_text("customer_id,asset,balance\nC2,XEM,2\nC1,XEM,1\nC3,XEM,1\n",
                     encoding="utf-8")
    code, out, err = cli("--lang", "ja", "customers", "import", str(again))
    assert code == 2, (out, err)
    lines = err.splitlines()
    assert lines[0].endswith("b.csv：2 行はすでに取り込まれています。何も取り込んでいません"), err
    assert lines[1:] == [f"  {again}:2：顧客 C2 の XEM 残高はすでに台帳にあります",
                         f"  {again}:3：顧客 C1 の XEM 残高はすでに台帳にあります"], err


def test_each_bad_entry_of_a_deny_list_is_said_in_japanese() -> None:
    with pytest.raises(InputFileError) as caught:
        parse_address_list(f"a b\n# c\n{ETH}\nx,y\n", "l.txt")
    assert _said(caught.value) == ["l.txt:1：アドレス 1 つではありません：a b",
                                   "l.txt:4：アドレス 1 つではありません：x,y"]

    with pytest.raises(InputFileError) as caught:
        parse_csv_labels(f"address,currency\n0xabc,ETH\n{ETH},ETH\nzz,ETH\n", "l.csv")
    ja = _said(caught.value)
    assert ja[0].startswith("l.csv:2：0xabc") and "Ethereum のアドレスではありません" in ja[0]
    assert ja[1].startswith("l.csv:4：zz") and "Ethereum のアドレスではありません" in ja[1]

    with pytest.raises(InputFileError) as caught:
        parse_json_addresses(f'[1, "{ETH}", {{"address": "{ETH}", "label": [1]}}]', "l.json")
    assert _said(caught.value) == ["l.json：[0]：アドレスではありません：1",
                                   "l.json：[2]：label はテキストにしてください：[1]"]
    assert [EN.text(p) for p in caught.value.problems_said or []] == caught.value.problems


def test_each_bad_tag_of_a_tagpack_is_said_in_japanese() -> None:
    with pytest.raises(InputFileError) as caught:
        parse_tagpack(f"tags:\n  - label: x\n  - address: a\n    tx_hash: b\n"
                      f"  - address: {ETH}\n    label: {{a: 1}}\n", "t.yaml")
    assert _said(caught.value) == [
        "t.yaml:2：tags[0]：アドレスがありません",
        "t.yaml:3：tags[1]：address と tx_hash の両方があります（タグが指すのはどちらか一方です）",
        "t.yaml:5：tags[2]：label はテキストにしてください（マッピング は使えません）"]
    with pytest.raises(InputFileError) as caught:  # addresses not of their currency
        parse_tagpack("tags:\n  - address: 0xabc\n    currency: ETH\n"
                      "  - address: zz\n    currency: ETH\n", "t.yaml")
    ja = _said(caught.value)
    assert ja[0].startswith("t.yaml:2：0xabc") and ja[1].startswith("t.yaml:4：zz"), ja


def test_the_cli_prints_a_deny_lists_problems_in_japanese(cli: CliRun, tmp_path: Path) -> None:
    listed = tmp_path / "l.txt"
    listed.write_text(f"a b\n{ETH}\nx,y\n", encoding="utf-8")
    code, out, err = cli("--lang", "ja", "denylist", "load", str(listed))
    assert code == 2, (out, err)
    assert err.splitlines()[1:] == [f"  {listed}:1：アドレス 1 つではありません：a b",
                                    f"  {listed}:3：アドレス 1 つではありません：x,y"], err
