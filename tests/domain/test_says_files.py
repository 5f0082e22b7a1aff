"""An error about one of the exchange's files (a TagPack or deny list, a trace transfer file,
an OKX or kinko proof-of-reserves file) says the file, the line or row and the field in
Japanese too, with what the file holds cut to a bounded length."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from saying import said

from kinko.chains.tracefiles import load_account, mftracer_labels
from kinko.chains.tracefiles.nem import write_standard_csv
from kinko.domain.custody import Wallet
from kinko.domain.labels import (
    parse_address_list,
    parse_csv_labels,
    parse_json_addresses,
    parse_tagpack,
)
from kinko.domain.okx import okx_proof_files, verify_okx_file
from kinko.domain.reserves import customer_count, snapshot_time
from kinko.errors import BadInput, InputFileError, InvalidAmount
from kinko.i18n import Localizer
from kinko.services import reserves_chain
from kinko.services.labels import read_labels

JA, EN = Localizer("ja"), Localizer("en")
HEAD = "tx_hash,block,tx_index,log_index,from,to,value,fee\n"
ETH = "0x52908400098527886E0F7030069857D2E4169EE7"




# --- address lists and TagPacks --------------------------------------------------------------

def test_a_list_with_a_bad_address_says_its_file_line_and_address() -> None:
    with pytest.raises(InputFileError) as caught:
        parse_csv_labels("address,label\n" + ETH + ",ok\n0xZZZ,scam\n", "deny.csv")
    ja, en = said(caught.value)
    assert ja.startswith("deny.csv：通貨の有効なアドレスではないエントリーが 1 件あります")
    assert "deny.csv:3：" in ja and "0xZZZ" in ja
    assert en.startswith("deny.csv: entries that are not a valid address of their currency: 1") and "deny.csv:3: " in en


def test_a_tagpack_tag_without_an_address_is_named_by_line_and_index() -> None:
    text = ("title: t\ncreator: c\ndescription: d\nlastmod: 2024-01-01\ntags:\n"
            f"  - address: {ETH}\n    label: ok\n  - label: nothing\n")
    with pytest.raises(InputFileError) as caught:
        parse_tagpack(text, "pack.yaml")
    ja, en = said(caught.value)
    assert "pack.yaml：アドレスがないか読み取れないタグが 1 件あります" in ja
    assert "pack.yaml:8：tags[1]：アドレスがありません" in ja
    assert en.endswith("(first: pack.yaml:8: tags[1]: no address)")
    text = "tags:\n  - address: " + ETH + "\n    label: {a: 1}\n"
    with pytest.raises(InputFileError) as caught:
        parse_tagpack(text, "pack.yaml")
    assert "label はテキストにしてください（マッピング は使えません）" in said(caught.value)[0]


def test_a_list_line_of_two_words_and_a_json_entry_are_cut_and_named() -> None:
    with pytest.raises(InputFileError) as caught:
        parse_address_list(f"{ETH}\n{ETH} {'x' * 5000}\n", "list.txt")
    ja, _en = said(caught.value)
    assert "list.txt:2：アドレス 1 つではありません" in ja and len(ja) < 400
    with pytest.raises(InputFileError) as caught:
        parse_json_addresses(json.dumps([ETH, {"address": ETH, "label": ["x"]}]), "ofac.json")
    ja, en = said(caught.value)
    assert "ofac.json：アドレスではないエントリーが 1 件あります" in ja
    assert "[1]：label はテキストにしてください" in ja and "[1]: label must be text" in en
    with pytest.raises(InputFileError) as caught:
        parse_json_addresses('{"a": 1}', "ofac.json")
    assert said(caught.value)[0] == "ofac.json：アドレスの JSON 配列にしてください"
    with pytest.raises(BadInput) as refused:
        parse_csv_labels("address\n" + ETH + "\n", "l.csv", invalid="ignore")
    assert "ignore" in said(refused.value)[0]


def test_an_include_out_of_the_folder_is_refused_in_japanese(tmp_path: Path) -> None:
    pack = tmp_path / "pack.yaml"
    pack.write_text("header: !include ../secret.yaml\ntags:\n  - address: " + ETH + "\n",
                    encoding="utf-8")
    with pytest.raises(InputFileError) as caught:
        read_labels(pack)
    ja, _en = said(caught.value)
    assert str(pack) in ja and "!include ../secret.yaml" in ja and "相対パス" in ja


# --- trace transfer files ----------------------------------------------------------------------

def test_a_transfer_file_names_the_line_and_the_field_of_its_first_problem(
        tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text(HEAD + "a,1,0,0,x,y,5,0\nb,1,1,0,x,y,-3,0\nc,2,0,0,x,y,,0\n",
                    encoding="utf-8")
    with pytest.raises(InputFileError) as caught:
        load_account(path, "csv")
    ja, en = said(caught.value)
    assert ja == f"{path}：問題が 2 件あります。何も読み込んでいません（最初：3 行目：value が負の値です：-3）"
    assert en == f"{path}: 2 problem(s); nothing was loaded (first: line 3: value is negative: -3)"
    assert caught.value.message == f"{path}: 2 problem(s); nothing was loaded"
    path.write_text(HEAD + "a,1,0,0,x,y," + "9" * 5000 + ",0\n", encoding="utf-8")
    with pytest.raises(InputFileError) as caught:
        load_account(path, "csv")
    ja, _en = said(caught.value)
    assert "2 行目：value が大きすぎます" in ja and "5,000 桁" in ja and len(ja) < 400


def test_a_parquet_row_and_a_missing_column_are_said(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"tx_hash": ["a", "b"], "block": [1, 1], "tx_index": [0, 1],
                             "from": ["x", "x"], "to": ["y", "y"],
                             "value": pa.array([5, -6], pa.int64())}), path)
    with pytest.raises(InputFileError) as caught:
        load_account(path, "parquet")
    assert said(caught.value)[0].endswith("（最初：2 行目：value が負の値です：-6）")
    path = tmp_path / "m.csv"
    path.write_text("tx_hash,block\na,1\n", encoding="utf-8")
    with pytest.raises(InputFileError) as caught:
        load_account(path, "csv")
    ja, _en = said(caught.value)
    assert ja.startswith(f"{path}:1：列 tx_index, from, to, value がありません")
    assert "（あった列：tx_hash, block）" in ja


def test_asset_choices_labels_and_nem_listings_are_said(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text(HEAD.strip() + ",asset\na,1,0,0,x,y,5,0,XEM\nb,1,1,0,x,y,5,0,BTC\n",
                    encoding="utf-8")
    with pytest.raises(InputFileError) as caught:
        load_account(path, "csv")
    assert said(caught.value)[0] == (f"{path}：複数の資産の送金があります（BTC, XEM）。"
                                     "--asset（または --token）で 1 つ選んでください")
    with pytest.raises(InputFileError) as caught:
        load_account(path, "csv", asset="ETH")
    assert "ETH の送金がありません（あった資産：BTC, XEM）" in said(caught.value)[0]
    a, b = "0x" + "a" * 40, "0x" + "b" * 40
    labels = tmp_path / "mf.csv"
    labels.write_text("Txhash,BlockHeight,TimeStamp,From,From_label,To,To_label,ValueInUSD\n"
                      f"t,7,0xbb,{a},X,{b},,1\nt,8,0xaa,{b},,{a},Y,1\n", encoding="utf-8")
    with pytest.raises(InputFileError) as caught:
        mftracer_labels(labels)
    assert said(caught.value)[0].endswith(f"（最初：3 行目：{a} のラベルが Y ですが、2 行目 では X です）")
    folder = tmp_path / "nem"
    folder.mkdir()
    with pytest.raises(InputFileError) as caught:
        write_standard_csv(folder, None, tmp_path / "out.csv")
    assert said(caught.value)[0] == f"{folder}：フォルダーに NIS1 の一覧（.json）がありません"
    (folder / "a.json").write_text('{"data": [{"meta": {}}]}', encoding="utf-8")
    with pytest.raises(InputFileError) as caught:
        write_standard_csv(folder, None, tmp_path / "out.csv")
    ja, _en = said(caught.value)
    assert ja.startswith(f"{folder / 'a.json'}：data[0]：メタ情報付きの NIS1 の取引ではありません")


# --- proof-of-reserves files -------------------------------------------------------------------

def test_an_okx_proof_names_its_field_and_value() -> None:
    doc = {"self": {"nonce": "n", "hash": "X" * 5000, "type": 1,
                    "balances": {"BTC": "1", "ETH": "0", "USDT": "0"}},
           "path": [{}, {}]}
    with pytest.raises(InputFileError) as caught:
        verify_okx_file(json.dumps(doc), "proof.json")
    ja, en = said(caught.value)
    assert ja.startswith("proof.json：self.hash が小文字の 16 進数 64 桁の文字列ではありません：XXX")
    assert len(ja) < 200 and en.startswith("proof.json: self.hash is not a hex string")
    doc["self"] = {"nonce": "n", "hash": "a" * 64, "type": 1,
                   "balances": {"BTC": "1", "ETH": "0", "USDT": "0", "DOGE": "1"}}
    with pytest.raises(InputFileError) as caught:
        verify_okx_file(json.dumps(doc), "proof.json")
    assert "self.balances に OKX v1 がハッシュに含めない資産があります：DOGE" in said(
        caught.value)[0]
    with pytest.raises(InputFileError) as caught:
        verify_okx_file('{"self": {}}', "proof.json")
    assert said(caught.value)[0] == "proof.json：ファイル に path がありません"
    with pytest.raises(InvalidAmount) as bad:
        okx_proof_files([("u-1", {"BTC": "0.123456789"})], b"secret")
    assert said(bad.value)[0] == "顧客 u-1：BTC の残高 0.123456789 の小数が 8 桁を超えています"


def test_a_snapshot_refusal_and_a_signatures_file_say_their_specifics(tmp_path: Path) -> None:
    from datetime import datetime
    with pytest.raises(BadInput) as caught:
        snapshot_time(datetime(2026, 1, 2, 3, 4, 5))  # no time zone, on purpose
    assert said(caught.value)[0] == ("スナップショットの時刻 2026-01-02T03:04:05 に"
                                     "タイムゾーンがありません")
    with pytest.raises(BadInput) as caught:
        customer_count(0, 10, 4)
    assert "（0 は使えません）" in said(caught.value)[0]
    cold = Wallet("eth-cold", "ETH", "cold", (ETH,))
    owners = {("ethereum", reserves_chain.chain_key(ETH, "ethereum")): cold}
    file = tmp_path / "offline.json"
    with pytest.raises(InputFileError) as refused:
        reserves_chain._entries(file, [{"address": ETH, "signature": "zz"},
                                       {"address": "0xZZ" + "9" * 3000, "signature": "00"}],
                                owners)
    ja, en = said(refused.value)
    assert ja.startswith(f"{file}：取り込めない署名が 2 件あります。何も取り込んでいません")
    assert f"（最初：signatures[0]（'{ETH}'）：署名が 16 進数ではありません）" in ja
    assert en.endswith(f"(first: signatures[0] ('{ETH}'): the signature is not hex)")
    with pytest.raises(InputFileError) as refused:
        reserves_chain._entries(file, [{"address": "0xZZ" + "9" * 3000, "signature": "00"}],
                                owners)
    ja, _en = said(refused.value)
    assert "signatures[0]：" in ja and "0xZZ" in ja and len(ja) < 600
    assert "not an address" not in ja
    with pytest.raises(BadInput) as caught:
        reserves_chain._owner_pieces("00" * 64, b"\0" * 32, set())
    assert said(caught.value)[0] == "64 バイトです。所有者の署名は 1 つ 65 バイトです"
