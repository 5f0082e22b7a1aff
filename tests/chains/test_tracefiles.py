"""Reading transfers into the trace arrays (kinko.chains.tracefiles): every format on small
hand-written files in its real layout, the real MFTracer ground truth (rows counted, cents
checked by hand), UTXO inputs resolved to the outputs they spend, wei beyond 2⁶³ exact, every
bad input refused naming file and line, the reachable reduction giving the same trace as the
whole chain under every policy, and the synthetic chain reproducible and heavy-tailed."""

from __future__ import annotations

import doctest
import json
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]
import pytest
from csvquotes import OPEN_QUOTE_JA, open_quote

from kinko.chains import tracefiles
from kinko.chains.tracefiles import (
    load_account,
    load_utxo,
    mftracer_labels,
    reduce_reachable,
    reduce_seeds,
    synth_account,
    write_parquet,
    write_synth_parquet,
)
from kinko.domain.trace.account import trace_account
from kinko.domain.trace.model import ACCOUNT_POLICIES, AccountSeeds, AccountTransfers
from kinko.errors import InputFileError

DATA = Path(__file__).resolve().parents[1] / "data"
MFTRACER = DATA / "mftracer"

A = "0x" + "a" * 40
B = "0x" + "b" * 40
C = "0x" + "c" * 40
BIG_A = "0x" + "A" * 40


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


def problems_of(path: Path, fmt: str, **kw: object) -> list[str]:
    with pytest.raises(InputFileError) as caught:
        load_account(path, fmt, **kw)  # type: ignore[arg-type]
    return caught.value.problems


def test_module_example() -> None:
    result = doctest.testmod(tracefiles)
    assert result.attempted > 0 and result.failed == 0


# --- the generic CSV and Parquet -------------------------------------------------------------

GENERIC = (
    "tx_hash,block,tx_index,log_index,from,to,value,fee,timestamp\n"
    f"0xT1,10,0,0,{BIG_A},{B},100,5,2024-01-01\n"
    f"0xt2,10,1,0,{B},NC4C6PSUW5CLTDT5SXAGJDQJGZNESKFK5MCN77OG,40,1,\n"
    f"0xt2,10,1,3,{B},{C},30,0,\n"
    f"0xt3,11,0,0,{C},{A},7,2,\n"
)


def test_csv_reads_transfers_in_order(tmp_path: Path) -> None:
    t = load_account(write(tmp_path, "t.csv", GENERIC), "csv")
    assert len(t) == 4
    names = list(t.addresses)
    # Ethereum hex lower-cased (so BIG_A is A), other addresses kept exactly
    assert sorted(names) == sorted([A, B, C, "NC4C6PSUW5CLTDT5SXAGJDQJGZNESKFK5MCN77OG"])
    assert [names[i] for i in t.src] == [A, B, B, C]
    assert [names[i] for i in t.dst] == [B, "NC4C6PSUW5CLTDT5SXAGJDQJGZNESKFK5MCN77OG", C, A]
    assert t.value.dtype == np.int64 and list(t.value) == [100, 40, 30, 7]
    assert list(t.fee) == [5, 1, 0, 2]
    assert list(t.block) == [10, 10, 10, 11]
    assert list(t.tx_index) == [0, 1, 1, 0]
    assert list(t.log_index) == [0, 0, 3, 0]
    assert list(t.tx_hash) == ["0xT1", "0xt2", "0xt2", "0xt3"]  # not hex: kept exactly
    for array in (t.src, t.dst, t.block, t.tx_index, t.log_index):
        assert array.dtype == np.int64


def test_optional_columns_are_zero_and_hex_hashes_lower_cased(tmp_path: Path) -> None:
    h = "0x" + "AB" * 32
    path = write(tmp_path, "t.csv", f"tx_hash,block,tx_index,from,to,value\n{h},1,0,x,y,5\n")
    t = load_account(path, "csv")
    assert list(t.log_index) == [0] and list(t.fee) == [0]
    assert list(t.tx_hash) == [h.lower()]


def test_with_hashes_false_leaves_them_empty(tmp_path: Path) -> None:
    t = load_account(write(tmp_path, "t.csv", GENERIC), "csv", with_hashes=False)
    assert list(t.tx_hash) == ["", "", "", ""]
    assert list(t.value) == [100, 40, 30, 7]


def test_wei_beyond_int64_is_exact(tmp_path: Path) -> None:
    huge = 2**64 + 1
    uint256 = 2**256 - 1  # spam tokens do send this
    path = write(tmp_path, "t.csv", "tx_hash,block,tx_index,from,to,value,fee\n"
                 f"a,1,0,x,y,{huge},21000000000000\n"
                 f"b,1,1,y,z,{uint256},0\n"
                 "c,2,0,z,x,0007,3\n")
    t = load_account(path, "csv")
    assert t.value.dtype == object and t.fee.dtype == object
    assert list(t.value) == [huge, uint256, 7]
    assert all(type(v) is int for v in t.value)
    assert list(t.fee) == [21000000000000, 0, 3]


def test_amounts_whose_sum_overflows_are_python_ints(tmp_path: Path) -> None:
    # each fits int64, their sum (a balance could reach it) does not
    v = 2**62 + 1
    path = write(tmp_path, "t.csv", f"tx_hash,block,tx_index,from,to,value\na,1,0,x,y,{v}\n"
                                    f"b,1,1,x,y,{v}\n")
    t = load_account(path, "csv")
    assert t.value.dtype == object and list(t.value) == [v, v]
    small = write(tmp_path, "s.csv", f"tx_hash,block,tx_index,from,to,value\na,1,0,x,y,{v}\n")
    assert load_account(small, "csv").value.dtype == np.int64


def test_one_asset_of_several(tmp_path: Path) -> None:
    path = write(tmp_path, "t.csv", "tx_hash,block,tx_index,from,to,value,asset\n"
                 "a,1,0,x,y,5,XEM\nb,1,1,x,z,6,BTC\nc,2,0,y,z,7,XEM\n")
    with pytest.raises(InputFileError, match="several assets"):
        load_account(path, "csv")
    t = load_account(path, "csv", asset="XEM")
    assert list(t.value) == [5, 7]
    assert list(t.tx_hash) == ["a", "c"]
    with pytest.raises(InputFileError, match="no transfers of ETH"):
        load_account(path, "csv", asset="ETH")


def test_header_names_ignore_case_and_spaces(tmp_path: Path) -> None:
    path = write(tmp_path, "t.csv", "TX_HASH, Block ,tx_index,From,To,Value\na,1,0,x,y,5\n")
    assert list(load_account(path, "csv").value) == [5]


def test_empty_file_of_transfers_is_empty(tmp_path: Path) -> None:
    t = load_account(write(tmp_path, "t.csv", "tx_hash,block,tx_index,from,to,value\n"), "csv")
    assert len(t) == 0 and len(t.addresses) == 0


def generic_table(value: pa.Array | None = None) -> pa.Table:
    return pa.table({
        "tx_hash": ["0xa", "0xb", "0xc"], "block": pa.array([1, 1, 2], pa.int64()),
        "tx_index": pa.array([0, 1, 0], pa.int32()), "log_index": pa.array([0, 0, 0], pa.int64()),
        "from": [A, B, BIG_A], "to": [B, C, C],
        "value": value if value is not None else pa.array([5, 6, 7], pa.int64()),
        "fee": pa.array([1, 0, 2], pa.int64()),
    })


def test_parquet_with_native_integers(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    pq.write_table(generic_table(), path)
    t = load_account(path, "parquet")
    assert list(t.value) == [5, 6, 7] and t.value.dtype == np.int64
    assert list(t.fee) == [1, 0, 2]
    assert [t.addresses[i] for i in t.src] == [A, B, A]
    assert list(t.tx_index) == [0, 1, 0]


def test_parquet_with_decimal_and_text_wei(tmp_path: Path) -> None:
    wei = [10**30, 2**63, 1]
    for name, column in (("dec", pa.array(wei, pa.decimal128(38, 0))),
                         ("txt", pa.array([str(w) for w in wei]))):
        path = tmp_path / f"{name}.parquet"
        pq.write_table(generic_table(column), path)
        t = load_account(path, "parquet")
        assert t.value.dtype == object and list(t.value) == wei, name


def test_parquet_refuses_floats_and_bad_rows(tmp_path: Path) -> None:
    path = tmp_path / "f.parquet"
    pq.write_table(generic_table(pa.array([5.0, 6.0, 7.0])), path)
    with pytest.raises(InputFileError, match=r"column value has type DOUBLE"):
        load_account(path, "parquet")
    # wei beyond 38 digits: DuckDB reads such a decimal only as a DOUBLE; named as written
    path = tmp_path / "w.parquet"
    pq.write_table(generic_table(pa.array([5, 6, 7], pa.decimal256(60, 0))), path)
    with pytest.raises(InputFileError, match=r"column value has type decimal256\(60, 0\); "
                                             r"expected whole numbers"):
        load_account(path, "parquet")
    path = tmp_path / "n.parquet"
    pq.write_table(generic_table(pa.array([5, -6, None], pa.int64())), path)
    assert problems_of(path, "parquet") == [f"{path}: row 2: value is negative: -6",
                                            f"{path}: row 3: value is empty"]
    path = tmp_path / "u.parquet"
    pq.write_table(generic_table().take([1, 0, 2]), path)
    found = problems_of(path, "parquet")
    assert len(found) == 1 and found[0].startswith(f"{path}: row 2: out of order")
    assert "on row 1" in found[0]


def test_parquet_senders_and_receivers_are_checked(tmp_path: Path) -> None:
    """A Parquet file's empty, blank or missing sender or receiver is named by its row, first
    when the file is out of order too; an address written with a space before it is no
    problem (it is trimmed)."""
    def table(senders: list[str | None], receivers: list[str | None]) -> pa.Table:
        return generic_table().set_column(4, "from", pa.array(senders, pa.string())).set_column(
            5, "to", pa.array(receivers, pa.string()))

    path = tmp_path / "e.parquet"
    pq.write_table(table([A, "", None], [B, "   ", C]), path)
    assert problems_of(path, "parquet") == [f"{path}: row 2: from is empty; to is empty",
                                            f"{path}: row 3: from is empty"]
    pq.write_table(table([A, B, ""], [B, C, C]).take([1, 0, 2]), path)  # out of order too
    assert problems_of(path, "parquet") == [f"{path}: row 3: from is empty"]
    pq.write_table(table([" " + A, B, BIG_A], [B, C, C]), path)
    assert list(load_account(path, "parquet").addresses) == [A, B, C]


def test_parquet_addresses_that_are_not_text_are_named_by_row(tmp_path: Path) -> None:
    """A sender or receiver column of bytes that are not UTF-8 (a hostile or broken file) is
    refused with its row, not a traceback from the reader."""
    path = tmp_path / "b.parquet"
    senders = pa.array([A.encode(), b"\xff\xfe", B.encode()], pa.binary())
    pq.write_table(generic_table().set_column(4, "from", senders), path)
    assert problems_of(path, "parquet") == [f"{path}: row 2: from is not UTF-8 text"]
    with pytest.raises(InputFileError):
        tracefiles.load_account_lazy(path, "parquet")


# --- ethereum-etl ----------------------------------------------------------------------------

ETL_HEADER = ("hash,nonce,block_hash,block_number,transaction_index,from_address,to_address,"
              "value,gas,gas_price,input,block_timestamp,max_fee_per_gas,"
              "max_priority_fee_per_gas,transaction_type")
RECEIPT_COLUMNS = (",receipt_cumulative_gas_used,receipt_gas_used,receipt_contract_address,"
                   "receipt_root,receipt_status,receipt_effective_gas_price")


def h(n: int) -> str:
    return "0x" + f"{n:064x}"


def etl_row(tx: int, block: int, index: int, frm: str, to: str, value: int,
            receipt: str = "") -> str:
    return (f"{h(tx)},7,{h(999)},{block},{index},{frm},{to},{value},21000,30000000000,0x,"
            f"1700000000,,,0{receipt}")


def test_ethereum_etl_enriched_transactions(tmp_path: Path) -> None:
    wei = 5 * 10**18
    path = write(tmp_path, "transactions.csv", "\n".join([
        ETL_HEADER + RECEIPT_COLUMNS,
        # written out of order, as parallel export batches are
        etl_row(3, 101, 0, B, C, 10**18, f",42000,21000,,,0,{25 * 10**9}"),  # failed: fee only
        etl_row(1, 100, 0, BIG_A, B, wei, f",21000,21000,,,1,{20 * 10**9}"),
        etl_row(2, 100, 1, B, "", 0, f",63000,50000,{C},,1,"),  # creation; no effective price
    ]) + "\n")
    t = load_account(path, "ethereum-etl")
    assert [t.tx_hash[i] for i in range(3)] == [h(1), h(2), h(3)]
    assert list(t.block) == [100, 100, 101] and list(t.tx_index) == [0, 1, 0]
    assert [t.addresses[i] for i in t.src] == [A, B, B]
    assert [t.addresses[i] for i in t.dst] == [B, C, C]
    assert list(t.value) == [wei, 0, 0]
    assert list(t.fee) == [21000 * 20 * 10**9, 50000 * 30 * 10**9, 21000 * 25 * 10**9]


def test_ethereum_etl_folder_with_receipts(tmp_path: Path) -> None:
    write(tmp_path, "transactions.csv", "\n".join([
        ETL_HEADER, etl_row(1, 100, 0, A, B, 1000), etl_row(2, 100, 1, B, "", 0)]) + "\n")
    write(tmp_path, "receipts.csv", "\n".join([
        "transaction_hash,transaction_index,block_hash,block_number,cumulative_gas_used,"
        "gas_used,contract_address,root,status,effective_gas_price",
        f"{h(2)},1,{h(999)},100,42000,21000,{C},,1,7",
        f"{h(1)},0,{h(999)},100,21000,21000,,,0,5",
    ]) + "\n")
    t = load_account(tmp_path, "ethereum-etl")
    assert list(t.value) == [0, 0]  # the first failed
    assert list(t.fee) == [21000 * 5, 21000 * 7]
    assert [t.addresses[i] for i in t.dst] == [B, C]
    # the transactions file alone: no fee is known, a creation pays a placeholder
    alone = load_account(tmp_path / "transactions.csv", "ethereum-etl")
    assert list(alone.value) == [1000, 0] and list(alone.fee) == [0, 0]
    assert alone.addresses[alone.dst[1]] == f"contract-creation:{h(2)}"


TOKEN_HEADER = "token_address,from_address,to_address,value,transaction_hash,log_index,block_number"
TOKEN = "0x" + "7" * 40
OTHER = "0x" + "8" * 40


def test_ethereum_etl_token_transfers(tmp_path: Path) -> None:
    path = write(tmp_path, "token_transfers.csv", "\n".join([
        TOKEN_HEADER,
        f"{TOKEN},{B},{C},{2**70},{h(2)},9,100",
        f"{TOKEN.upper().replace('0X', '0x')},{A},{B},{2**70},{h(1)},4,100",
        f"{OTHER},{A},{C},1,{h(1)},5,100",
        f"{TOKEN},{C},{A},3,{h(3)},0,101",
    ]) + "\n")
    with pytest.raises(InputFileError, match="several assets"):
        load_account(path, "ethereum-etl")
    t = load_account(path, "ethereum-etl", asset=TOKEN.upper().replace("0X", "0x"))
    assert list(t.log_index) == [4, 9, 0] and list(t.block) == [100, 100, 101]
    assert list(t.tx_index) == [0, 1, 0]  # no transactions.csv: the rank in the block
    assert list(t.value) == [2**70, 2**70, 3] and list(t.fee) == [0, 0, 0]
    assert [t.tx_hash[i] for i in range(3)] == [h(1), h(2), h(3)]
    # in the export folder, transaction_index comes from transactions.csv
    write(tmp_path, "transactions.csv", "\n".join([
        ETL_HEADER, etl_row(1, 100, 3, A, TOKEN, 0), etl_row(2, 100, 8, B, TOKEN, 0),
        etl_row(3, 101, 0, C, TOKEN, 0), etl_row(4, 101, 1, C, OTHER, 0)]) + "\n")
    folder = load_account(tmp_path, "ethereum-etl", asset=TOKEN)
    assert list(folder.tx_index) == [3, 8, 0]
    assert list(folder.value) == [2**70, 2**70, 3]


def test_ethereum_etl_refuses_a_token_transfer_of_an_unknown_transaction(tmp_path: Path) -> None:
    write(tmp_path, "token_transfers.csv", "\n".join([
        TOKEN_HEADER, f"{TOKEN},{A},{B},5,{h(1)},0,100", f"{TOKEN},{A},{B},5,{h(2)},1,100"]) + "\n")
    write(tmp_path, "transactions.csv", ETL_HEADER + "\n" + etl_row(1, 100, 0, A, TOKEN, 0) + "\n")
    found = problems_of(tmp_path, "ethereum-etl", asset=TOKEN)
    assert found == [f"{tmp_path / 'token_transfers.csv'}:3: transaction {h(2)} is not in "
                     f"{tmp_path / 'transactions.csv'}"]


def test_ethereum_etl_duplicates_name_both_lines(tmp_path: Path) -> None:
    path = write(tmp_path, "token_transfers.csv", "\n".join([
        TOKEN_HEADER, f"{TOKEN},{A},{B},5,{h(1)},4,100", f"{TOKEN},{B},{C},5,{h(2)},5,100",
        f"{TOKEN},{A},{B},5,{h(1)},4,100"]) + "\n")
    assert problems_of(path, "ethereum-etl") == [
        f"{path}:4: duplicate: block 100, tx_index 0, log_index 4 again (first on line 2)"]
    path = write(tmp_path, "transactions.csv", "\n".join([
        ETL_HEADER, etl_row(1, 100, 0, A, B, 1), etl_row(2, 100, 1, A, B, 1),
        etl_row(1, 100, 0, A, B, 1)]) + "\n")
    assert problems_of(path, "ethereum-etl") == [
        f"{path}:4: duplicate: block 100, tx_index 0, log_index 0 again (first on line 2)"]


def test_ethereum_etl_files_beside_name_a_transaction_once(tmp_path: Path) -> None:
    """A receipts.csv, or a transactions.csv beside token transfers, naming a transaction
    twice is refused on its line: the second receipt was joined too (the transfer counted
    twice, blamed on transactions.csv), and a second transaction index ended as a defect."""
    write(tmp_path, "transactions.csv", "\n".join([
        ETL_HEADER, etl_row(1, 100, 0, A, B, 1000), etl_row(2, 100, 1, B, C, 5)]) + "\n")
    receipts = write(tmp_path, "receipts.csv", "\n".join([
        "transaction_hash,gas_used,status,effective_gas_price",
        f"{h(1)},21000,1,5", f"{h(2)},21000,1,5", f"{h(1).upper().replace('0X', '0x')},99,0,7",
    ]) + "\n")
    assert problems_of(tmp_path, "ethereum-etl") == [
        f"{receipts}:4: transaction {h(1)} again (first on line 2)"]
    receipts.unlink()
    write(tmp_path, "token_transfers.csv", "\n".join([
        TOKEN_HEADER, f"{TOKEN},{A},{B},5,{h(1)},0,100"]) + "\n")
    txs = write(tmp_path, "transactions.csv", "\n".join([
        ETL_HEADER, etl_row(1, 100, 0, A, TOKEN, 0), etl_row(1, 100, 3, A, TOKEN, 0)]) + "\n")
    assert problems_of(tmp_path, "ethereum-etl", asset=TOKEN) == [
        f"{txs}:3: transaction {h(1)} again (first on line 2)"]


# --- MFTracer ground truth -------------------------------------------------------------------

def test_mftracer_54m_real_file() -> None:
    path = MFTRACER / "54m" / "transfers.csv"
    t = load_account(path, "mftracer")
    assert len(t) == 292 and t.value.dtype == np.int64
    names = list(t.addresses)

    def cents(tx: str, frm: str, to: str) -> int:
        (i,) = [k for k in range(len(t)) if t.tx_hash[k] == tx and names[t.src[k]] == frm
                and names[t.dst[k]] == to]
        return int(t.value[i])

    # line 4: 13483975.158898184 USD; line 2: 34755.1308111996; line 5: 2200000.0
    assert cents("0x5d0813cf16dfedcd9b1acfc0c7e4faad2607b47e293ec8c65725fcead2f5213f",
                 "0x5d4b2a02c59197eb2cae95a6df9fe27af60459d4",
                 "0x8cc568f3565a7ed44b3b0af8765a7ef67b8bc2dc") == 13483975_16
    assert cents("0x9da15599fdc03724f8110feef80a1b51dd4f62288073a45073e75ad44c91cde2",
                 "0x23aaf393ae14aa9d7605f9c512720dceba4fb179",
                 "0x45300136662dd4e58fc0df61e6290dffd992b785") == 34755_13
    assert cents("0x69271cadac0567ea431ffe13e95ff043ccc61e013fa89dd822fabc1f7b652976",
                 "0x5d4b2a02c59197eb2cae95a6df9fe27af60459d4",
                 "0xc2cc41c4f0f9aa38cb1fa71c39da2121adfa5909") == 2200000_00
    # processing order: by block, then by transaction hash within the block
    keys = list(zip(t.block, [str(x) for x in t.tx_hash], strict=True))
    assert keys == sorted(keys)
    assert list(t.tx_index) == [sum(1 for b, x in set(keys) if b == blk and x < tx)
                                for blk, tx in keys]
    labels = mftracer_labels(path)
    assert len(labels) == 29
    assert labels["0x23aaf393ae14aa9d7605f9c512720dceba4fb179"] == "KuCoin_Deposit_0x23aa"


def test_mftracer_lifi_real_file() -> None:
    path = MFTRACER / "LIFI" / "transfers.csv"
    t = load_account(path, "mftracer")
    assert len(t) == 135
    assert int(t.value.sum()) > 0
    names = list(t.addresses)
    # 347.55300000000005 USD (lines 2 and 92, one transaction) → 34755 cents; the file lists
    # the hop out of 0x5a7e... (line 2) before the hop into it (line 92): the trace order is
    # the other way round
    tx = "0xc344c4604e8def8250d9c8b71b6d844f03322ad6ea58a1e32683e7228782d8f7"
    rows = [k for k in range(len(t)) if t.tx_hash[k] == tx]
    assert [(names[t.src[k]], names[t.dst[k]], int(t.value[k]), int(t.log_index[k]))
            for k in rows] == [
        ("0x86015516b4e1be36ecb4e78f0159fa6301000d7c",
         "0x5a7ec7cc9be7a9f9966d37934a9488d9d7d4a072", 34755, 0),
        ("0x5a7ec7cc9be7a9f9966d37934a9488d9d7d4a072",
         "0xf5e10380213880111522dd0efd3dbb45b9f62bcc", 34755, 1)]
    assert len(mftracer_labels(path)) == 24


MF_HEADER = "Timestamp,Block,Tx_hash,From,From_label,To,To_label,Value_in_USD\n"


def test_mftracer_cents_round_half_up_digit_by_digit(tmp_path: Path) -> None:
    values = ["0.005", "0.0049999999999999999", "12", ".5", "1.", "36773858.04179999",
              "4.305973138200001", "99999999999.995"]
    path = write(tmp_path, "transfers.csv", MF_HEADER + "".join(
        f"2024-01-01 00:00:00,{100 + i},0x{i:02x},{A},,{B},,{v}\n" for i, v in enumerate(values)))
    t = load_account(path, "mftracer")
    assert list(t.value) == [1, 0, 1200, 50, 100, 3677385804, 431, 10**13]
    assert t.value.dtype == np.int64
    huge = write(tmp_path, "huge.csv", MF_HEADER + f"t,1,0xa,{A},,{B},,99999999999999999999.995\n")
    assert list(load_account(huge, "mftracer").value) == [10**22]


def test_mftracer_order_and_refusals(tmp_path: Path) -> None:
    path = write(tmp_path, "transfers.csv", MF_HEADER
                 + f"t,7,0xbb,{A},Exchange X,{B},,1\n"
                 + f"t,7,0xaa,{B},,{C},Bridge,2\n"
                 + f"t,6,0xcc,{C},Bridge,{A},Exchange X,3\n")
    t = load_account(path, "mftracer")
    assert list(t.tx_hash) == ["0xcc", "0xaa", "0xbb"] and list(t.tx_index) == [0, 0, 1]
    assert list(t.value) == [300, 200, 100]
    assert mftracer_labels(path) == {A: "Exchange X", C: "Bridge"}
    dup = write(tmp_path, "dup.csv", MF_HEADER + f"t,7,0xbb,{A},,{B},,1\n"
                + f"t,7,0xaa,{A},,{B},,1\n" + f"t,7,0xbb,{A},,{B},,1.0\n" + f"t,8,0xaa,{B},,{C},,1\n")
    assert problems_of(dup, "mftracer") == [
        f"{dup}:4: duplicate of line 2",
        f"{dup}:5: transaction in block 8, but in block 7 on line 3"]
    labels = write(tmp_path, "labels.csv", MF_HEADER + f"t,7,0xbb,{A},X,{B},,1\n"
                   + f"t,8,0xaa,{B},,{A},Y,1\n")
    with pytest.raises(InputFileError) as caught:
        mftracer_labels(labels)
    assert caught.value.problems == [f"{labels}:3: {A} is labelled 'Y', but 'X' on line 2"]


# --- bad input: file and line ------------------------------------------------------------------

HEAD = "tx_hash,block,tx_index,log_index,from,to,value,fee\n"


@pytest.mark.parametrize(("rows", "expected"), [
    ("a,1,0,0,x,y,1.5,0\n", ["2: value is not a whole number: 1.5"]),
    ("a,1,0,0,x,y,1e18,0\n", ["2: value is not a whole number: 1e18"]),
    ("a,1,0,0,x,y,-3,0\n", ["2: value is negative: -3"]),
    ("a,1,0,0,x,y,5,-1\n", ["2: fee is negative: -1"]),
    ("a,1,0,0,x,y,,0\n", ["2: value is empty"]),
    ("a,1,0,0, ,y,5,0\n", ["2: from is empty"]),
    (",1,0,0,x,y,5,0\n", ["2: tx_hash is empty"]),
    ("a,one,0,0,x,y,5,0\n", ["2: block is not a whole number: one"]),
    ("a,99999999999999999999,0,0,x,y,5,0\n", ["2: block is too large: 99999999999999999999"]),
    ("a,1,0,0,x,y,5,0\nb,1,0,0,x,y,5,0\n",
     ["3: duplicate: block 1, tx_index 0, log_index 0 again (first on line 2)"]),
    ("a,2,0,0,x,y,5,0\nb,1,0,0,x,y,5,0\n",
     ["3: out of order: block 1, tx_index 0, log_index 0 comes after block 2, tx_index 0, "
      "log_index 0 on line 2; sort the file by (block, tx_index, log_index)"]),
    ("a,1,0,0,x,y,5,0\nb,1,0,1,x,y,5,0\n",
     ["3: block 1, tx_index 0 holds two transactions, b and a (on line 2)"]),
    ("a,1,0,0,x,y,5,0\nb,1,1,0,x,y,5,0\na,1,2,0,x,y,5,0\n",
     ["4: transaction a is at block 1, tx_index 2, but at block 1, tx_index 0 on line 2"]),
    ("a,1,0,0,x,y,5,0,extra\n", ["2: expected 8 fields, found 9"]),
    ("a,1,0,0,x,y\n", ["2: expected 8 fields, found 6"]),
])
def test_bad_rows_name_file_and_line(tmp_path: Path, rows: str, expected: list[str]) -> None:
    path = write(tmp_path, "t.csv", HEAD + rows)
    assert problems_of(path, "csv") == [f"{path}:{e}" for e in expected]


def test_amounts_beyond_any_uint256_are_refused_on_their_line(tmp_path: Path) -> None:
    """Amounts are read exactly up to a uint256's 78 digits; more (5,000 digits ended as a
    defect) is named on its line, in CSV and in a Parquet text column alike."""
    path = write(tmp_path, "t.csv", HEAD + "a,1,0,0,x,y," + "9" * 79 + ",0\n"
                 + "b,1,1,0,x,y,5," + "1" * 5000 + "\n" + "c,1,2,0,x,y,00" + "9" * 78 + ",0\n")
    assert problems_of(path, "csv") == [
        f"{path}:2: value is too large: " + "9" * 79 + "... (79 digits; at most 78)",
        f"{path}:3: fee is too large: " + "1" * 80 + "... (5000 digits; at most 78)"]
    fine = write(tmp_path, "f.csv", HEAD + "c,1,2,0,x,y,00" + "9" * 78 + ",0\n")
    assert load_account(fine, "csv").value[0] == int("9" * 78)
    parquet = tmp_path / "t.parquet"
    pq.write_table(pa.table({"tx_hash": ["a"], "block": [1], "tx_index": [0], "from": ["x"],
                             "to": ["y"], "value": ["7" * 4400]}), parquet)
    assert problems_of(parquet, "parquet") == [
        f"{parquet}: row 1: value is too large: " + "7" * 80 + "... (4400 digits; at most 78)"]


def test_a_column_named_twice_is_refused(tmp_path: Path) -> None:
    """Which of two ``value`` columns holds the amount would be a guess (the first was
    taken): a CSV header or a Parquet schema naming a column the format reads twice, in any
    case, is refused; an unread column named twice is not the format's business."""
    path = write(tmp_path, "t.csv", "tx_hash,block,tx_index,from,to,value,Value\na,1,0,x,y,5,7\n")
    assert problems_of(path, "csv") == [f"{path}:1: column value appears twice (columns 6 and 7)"]
    parquet = tmp_path / "t.parquet"
    pq.write_table(pa.table({"tx_hash": ["a"], "block": [1], "tx_index": [0], "from": ["x"],
                             "to": ["y"], "value": [5], "VALUE": [7]}), parquet)
    assert problems_of(parquet, "parquet") == [
        f"{parquet}: column value appears twice (columns 6 and 7)"]
    etl = write(tmp_path, "token_transfers.csv", "token_address,from_address,to_address,value,"
                "transaction_hash,log_index,block_number,from_address\n")
    assert problems_of(etl, "ethereum-etl") == [
        f"{etl}:1: column from_address appears twice (columns 2 and 8)"]
    unread = write(tmp_path, "u.csv", "tx_hash,block,tx_index,from,to,value,memo,memo\n"
                   "a,1,0,x,y,5,p,q\n")
    assert load_account(unread, "csv").value.tolist() == [5]


@pytest.mark.parametrize("column", ["tx_hash", "value", "from"])
@pytest.mark.parametrize("lazy", [False, True])
def test_a_parquet_file_whose_data_is_corrupt_is_refused(tmp_path: Path, column: str,
                                                         lazy: bool) -> None:
    """A Parquet file whose footer reads but whose pages do not decompress (a copy cut or
    damaged on the way) is refused naming the file; it ended kinko trace run as a defect."""
    path = tmp_path / "t.parquet"
    n = 1000
    pq.write_table(pa.table({"tx_hash": [f"0x{i:064x}" for i in range(n)],
                             "block": list(range(n)), "tx_index": [0] * n,
                             "from": [f"a{i}" for i in range(n)], "to": ["b"] * n,
                             "value": list(range(n))}), path, compression="snappy")
    chunk = pq.ParquetFile(path).metadata.row_group(0).column(
        ["tx_hash", "block", "tx_index", "from", "to", "value"].index(column))
    data = bytearray(path.read_bytes())
    start = chunk.dictionary_page_offset if chunk.has_dictionary_page else chunk.data_page_offset
    end = start + chunk.total_compressed_size
    data[end - 64:end] = b"\xff" * 64  # the last page's compressed data
    path.write_bytes(bytes(data))
    with pytest.raises(InputFileError, match=rf"^{path}: cannot read: ") as caught:
        if lazy:
            tracefiles.load_account_lazy(path, "parquet")
        else:
            load_account(path, "parquet")
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("n", [0, 1, 2, 300, 5_000, 200_000])
def test_compiled_uniqueness_checks_agree_with_the_plain_ones(n: int) -> None:
    from kinko.chains.tracefiles._keys import neighbours, repeated_keys

    rng = np.random.default_rng(n)
    block = np.sort(rng.integers(0, max(1, n // 3), n)).astype(np.int64)
    tx_index = rng.integers(0, 3, n).astype(np.int64)
    order = np.lexsort((tx_index, block))
    block, tx_index = block[order], tx_index[order]
    log_index = rng.integers(0, 4, n).astype(np.int64)
    tx_key = rng.integers(0, 2**63, n, dtype=np.int64).astype(np.uint64) * np.uint64(2)
    same_tx = (block[1:] == block[:-1]) & (tx_index[1:] == tx_index[:-1])
    starts = np.flatnonzero(np.r_[True, ~same_tx]) if n else np.zeros(0, np.int64)
    if len(starts) > 10:  # repeats: some keys twice, one three times, among the transactions
        tx_key[starts[rng.integers(0, len(starts), 40)]] = tx_key[starts[:40]]
        tx_key[starts[-3:]] = tx_key[starts[5]]
    for most in (0, 1, 20, 10**6):
        same, clash, count = neighbours(block, tx_index, log_index, tx_key, most)
        assert same.tolist() == np.flatnonzero(
            same_tx & (log_index[1:] == log_index[:-1]))[:most].tolist()
        assert clash.tolist() == np.flatnonzero(
            same_tx & (tx_key[1:] != tx_key[:-1]))[:most].tolist()
        assert count == len(starts)
        keys = np.sort(tx_key[starts])
        assert repeated_keys(block, tx_index, tx_key, count, most).tolist() == \
            keys[1:][keys[1:] == keys[:-1]][:most].tolist()


def test_misplaced_transaction_found_without_loading_hashes(tmp_path: Path) -> None:
    path = write(tmp_path, "t.csv", HEAD + "a,1,0,0,x,y,5,0\nb,1,1,0,x,y,5,0\na,1,2,0,x,y,5,0\n"
                 "c,2,0,0,x,y,5,0\nd,2,0,1,x,y,5,0\n")
    expected = [
        f"{path}:4: transaction a is at block 1, tx_index 2, but at block 1, tx_index 0 on line 2",
        f"{path}:6: block 2, tx_index 0 holds two transactions, d and c (on line 5)"]
    assert sorted(problems_of(path, "csv", with_hashes=False)) == sorted(expected)
    assert sorted(problems_of(path, "csv")) == sorted(expected)


def test_addresses_sharing_a_hash_are_joined_on_their_text(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "t.csv", GENERIC)
    fast = load_account(path, "csv")
    asked: list[int] = []
    monkeypatch.setattr(tracefiles._std, "_distinct",
                        lambda keys: asked.append(len(keys)) is None and False)
    slow = load_account(path, "csv")
    assert asked, "the join on the text was not taken"
    assert list(slow.addresses) == list(fast.addresses)
    assert list(slow.src) == list(fast.src) and list(slow.dst) == list(fast.dst)


def test_line_numbers_count_blank_lines_and_quoted_line_breaks(tmp_path: Path) -> None:
    path = write(tmp_path, "t.csv", HEAD + "a,1,0,0,x,y,5,0\n\n\"b\nb\",1,1,0,x,y,5,0\n"
                 "c,1,2,0,x,y,5.5,0\nd,1,3,0,x,y,x,0\n")
    assert problems_of(path, "csv") == [f"{path}:6: value is not a whole number: 5.5",
                                        f"{path}:7: value is not a whole number: x"]


def test_a_quote_left_open_is_named_on_the_line_it_opens(tmp_path: Path) -> None:
    """A quote left open in the header (read by the csv module) made the header run on
    into the rows: "missing column(s) tx_hash, ... (found: tx_hash,block,...\na,1,...)". It
    is an unterminated quoted field on line 1; in the rows, DuckDB names the line where the
    quote opens, at the file's end and before other rows."""
    from kinko.i18n import Localizer

    path = write(tmp_path, "h.csv", '"' + HEAD + "a,1,0,0,x,y,5,0\n")
    with pytest.raises(InputFileError) as caught:
        load_account(path, "csv")
    assert caught.value.problems == [open_quote(f"{path}:1")]
    assert caught.value.says is not None
    assert Localizer("ja").text(caught.value.says).startswith(
        f"{path}:1{OPEN_QUOTE_JA}")
    unclosed = "unquoted value: Value with unterminated quote found."
    path = write(tmp_path, "t.csv", HEAD + 'a,1,0,0,x,y,5,0\nb,1,1,0,x,y,"5')
    assert problems_of(path, "csv") == [f"{path}:3: {unclosed}"]
    path = write(tmp_path, "t.csv", HEAD + 'a,1,0,0,x,"y,5,0\nb,1,1,0,x,y,5,0\n'
                 "c,1,2,0,x,y,5,0\n")
    assert problems_of(path, "csv") == [f"{path}:2: {unclosed}"]


def test_every_problem_is_listed_once(tmp_path: Path) -> None:
    path = write(tmp_path, "t.csv", HEAD + "".join(f"t{i},1,{i},0,x,y,-{i + 1},0\n"
                                                  for i in range(30)))
    found = problems_of(path, "csv")
    assert len(found) == tracefiles.MAX_PROBLEMS
    assert found[0] == f"{path}:2: value is negative: -1"


def test_bad_files(tmp_path: Path) -> None:
    missing = write(tmp_path, "m.csv", "tx_hash,block,from,to,value\na,1,x,y,5\n")
    assert problems_of(missing, "csv") == [
        f"{missing}:1: missing column(s) tx_index (found: tx_hash, block, from, to, value)"]
    blank = write(tmp_path, "e.csv", "\n")  # not 0 bytes (an empty export), and no header
    assert problems_of(blank, "csv") == [f"{blank}:1: the file is empty; expected a header line"]
    assert problems_of(tmp_path / "none.csv", "csv") == [f"{tmp_path / 'none.csv'}: no such file"]
    os.mkfifo(tmp_path / "pipe.csv")  # there, but read twice: no pipe (it said "no such file")
    assert problems_of(tmp_path / "pipe.csv", "csv") == [
        f"{tmp_path / 'pipe.csv'}: cannot read: not a regular file"]
    with pytest.raises(InputFileError, match="unknown format 'xls'"):
        load_account(missing, "xls")
    with pytest.raises(InputFileError, match="cannot read as Parquet"):
        load_account(write(tmp_path, "p.parquet", "not parquet"), "parquet")
    latin = tmp_path / "l.csv"
    latin.write_bytes("tx_hash,block,tx_index,from,to,valüe\n".encode("latin-1"))
    with pytest.raises(InputFileError, match=r"l.csv:1: not UTF-8"):
        load_account(latin, "csv")
    usd = write(tmp_path, "u.csv", MF_HEADER + f"t,1,0xa,{A},,{B},,12.3.4\n"
                + f"t,1,0xb,{A},,{B},,$5\n")
    assert problems_of(usd, "mftracer") == [
        f"{usd}:2: Value_in_USD is not a decimal number: 12.3.4",
        f"{usd}:3: Value_in_USD is not a decimal number: $5"]


# --- UTXO JSON lines ---------------------------------------------------------------------------

def tx(txid: str, block: int, inputs: list[tuple[str, int, int, str]],
       outputs: list[tuple[int, str]], fee: int) -> str:
    return json.dumps({
        "txid": txid, "block": block,
        "inputs": [{"txid": t, "vout": v, "value": val, "address": a} for t, v, val, a in inputs],
        "outputs": [{"value": v, "address": a} for v, a in outputs], "fee": fee})


def test_utxo_inputs_resolve_to_the_outputs_they_spend(tmp_path: Path) -> None:
    path = write(tmp_path, "u.jsonl", "\n".join([
        tx("c1", 1, [], [(50, "miner"), (25, "alice")], 0),
        "",
        tx("t2", 2, [("c1", 1, 25, "alice"), ("outside", 3, 10, "bob")],
           [(30, "carol"), (4, "alice")], 1),
        tx("t3", 2, [("t2", 0, 30, "carol"), ("c1", 0, 50, "miner")], [(79, "dave")], 1),
    ]) + "\n")
    u = load_utxo(path)
    assert len(u) == 3 and list(u.txid) == ["c1", "t2", "t3"] and list(u.block) == [1, 2, 2]
    assert list(u.in_start) == [0, 0, 2, 4] and list(u.out_start) == [0, 2, 4, 5]
    assert list(u.in_output) == [1, -1, 2, 0]
    assert list(u.in_value) == [25, 10, 30, 50] and u.in_value.dtype == np.int64
    assert list(u.out_value) == [50, 25, 30, 4, 79] and list(u.fee) == [0, 1, 1]
    names = list(u.addresses)
    assert [names[i] for i in u.in_address] == ["alice", "bob", "carol", "miner"]
    assert [names[i] for i in u.out_address] == ["miner", "alice", "carol", "alice", "dave"]


def test_utxo_values_beyond_int64(tmp_path: Path) -> None:
    big = 2**64
    path = write(tmp_path, "u.jsonl", tx("a", 1, [], [(big, "x")], 0) + "\n"
                 + tx("b", 2, [("a", 0, big, "x")], [(big - 5, "y")], 5) + "\n")
    u = load_utxo(path)
    assert u.out_value.dtype == object and list(u.out_value) == [big, big - 5]
    assert list(u.in_value) == [big] and list(u.fee) == [0, 5]


def test_utxo_bad_lines_name_file_and_line(tmp_path: Path) -> None:
    lines = [
        tx("a", 5, [], [(50, "x"), (20, "y")], 0),                      # 1 fine
        tx("b", 5, [("a", 0, 49, "x")], [(49, "z")], 0),                # 2 wrong value
        tx("c", 5, [("a", 2, 5, "x")], [(5, "z")], 0),                  # 3 no such output
        tx("d", 5, [("a", 1, 20, "q")], [(20, "z")], 0),                # 4 wrong address
        tx("e", 5, [("a", 1, 20, "y")], [(20, "z")], 0),                # 5 fine
        tx("f", 5, [("a", 1, 20, "y")], [(20, "z")], 0),                # 6 double spend
        tx("g", 5, [("later", 0, 1, "x")], [(1, "z")], 0),              # 7 spends line 12
        tx("a", 6, [], [(1, "x")], 0),                                  # 8 txid again
        tx("h", 4, [], [(1, "x")], 0),                                  # 9 block order
        '{"txid": "i", "block": 6, "inputs": [], "outputs": [{"value": 1.5, "address": "x"}], '
        '"fee": 0}',                                                    # 10 float
        "{not json",                                                    # 11
        tx("later", 7, [], [(1, "x")], 0),                              # 12 fine
        tx("j", 7, [("e", 0, 20, "z")], [(15, "z")], 1),                # 13 sums differ
        '{"txid": "k", "block": 7, "inputs": []}',                      # 14 missing keys
        tx("m", 7, [], [(-1, "x")], 0),                                 # 15 negative
    ]
    path = write(tmp_path, "u.jsonl", "\n".join(lines) + "\n")
    with pytest.raises(InputFileError) as caught:
        load_utxo(path)
    p = str(path)
    assert caught.value.problems == [
        f"{p}:2: input 0: value 49, but output 0 of a holds 50",
        f"{p}:3: input 0: transaction a has only 2 output(s)",
        f"{p}:4: input 0: address q, but output 1 of a pays another address",
        f"{p}:6: input 0: output 1 of a already spent (line 5)",
        f"{p}:8: transaction a again (first on line 1)",
        f"{p}:9: block 4 comes after block 5 (line 7); transactions must be in block order",
        f"{p}:10: output 0: value is not a whole number: 1.5",
        f"{p}:11: not JSON: Expecting property name enclosed in double quotes (column 2)",
        f"{p}:13: inputs add up to 20, outputs and fee to 16",
        f"{p}:14: missing key(s) outputs, fee",
        f"{p}:15: output 0: value is negative: -1",
        f"{p}:7: input 0: spends an output of transaction later, which comes later, on line 12",
    ]


# --- the reachable part ------------------------------------------------------------------------

def transfers(edges: list[tuple[int, int, int, int]], n_addr: int) -> AccountTransfers:
    """(src, dst, value, fee) in order, one transfer per block."""
    m = len(edges)
    col = np.array(edges, dtype=np.int64).reshape(m, 4)
    return AccountTransfers(
        src=col[:, 0].copy(), dst=col[:, 1].copy(), value=col[:, 2].copy(),
        fee=col[:, 3].copy(), block=np.arange(m, dtype=np.int64),
        tx_index=np.zeros(m, np.int64), log_index=np.zeros(m, np.int64),
        tx_hash=np.array([f"t{i}" for i in range(m)], dtype=object),
        addresses=np.array([f"a{i}" for i in range(n_addr)], dtype=object))


def test_reduction_respects_time() -> None:
    t = transfers([
        (1, 2, 5, 0),  # 0: 1 -> 2 before 1 is tainted: kept (1's balance), 2 not reached
        (0, 1, 9, 0),  # 1: the seed: 1 tainted from here on
        (2, 3, 4, 0),  # 2: 2 -> 3, untainted: dropped
        (1, 4, 3, 0),  # 3: reaches 4
        (4, 5, 1, 0),  # 4: reaches 5
        (5, 6, 1, 0),  # 5: reaches 6
        (3, 6, 2, 0),  # 6: 3 clean into a reachable address: kept (6's balance)
        (7, 8, 1, 0),  # 7: elsewhere: dropped
    ], 9)
    reduced, kept = reduce_reachable(t, [1], [])
    assert list(kept) == [0, 1, 3, 4, 5, 6]
    assert list(reduced.src) == [1, 0, 1, 4, 5, 3] and list(reduced.value) == [5, 9, 3, 1, 1, 2]
    assert reduced.addresses is t.addresses
    # two seeds at different times: each address spreads only from its own time on
    t2 = transfers([(9, 1, 5, 0), (2, 3, 1, 0), (4, 2, 5, 0), (1, 5, 1, 0), (3, 6, 1, 0)], 10)
    assert list(reduce_reachable(t2, [0, 2], [])[1]) == [0, 1, 2, 3]
    # when hardly anything can be dropped, the chain itself comes back, and no positions (no
    # chain-sized 0..n-1 to build, nor the seeds to gather through it)
    everything, kept = reduce_reachable(t2, [0, 2, 4], [])
    assert everything is t2 and kept is None
    same = AccountSeeds(np.array([True, False, True, False, True]), ((9, 5, None),))
    assert reduce_seeds(same, None) is same
    # a seed address from position 5 on: only what 5 does from then on spreads
    reduced, kept = reduce_reachable(t, np.zeros(8, dtype=bool), [(5, 5, None)])
    assert list(kept) == [4, 5, 6]
    # its position is kept even where the transfer there does not touch it
    reduced, kept = reduce_reachable(t, [], [(8, 2, 10)])
    assert list(kept) == [2, 7]
    # a stop spreads nothing: 4 absorbs what 1 sends it, so 5 and 6 are not reached, and what
    # 4 sends is dropped (its own balance is read by nothing)
    stops = np.zeros(9, dtype=np.bool_)
    stops[4] = True
    assert list(reduce_reachable(t, [1], [], stops)[1]) == [0, 1, 3]
    seeds = reduce_seeds(AccountSeeds(np.zeros(8, dtype=bool), ((8, 2, 10), (0, 8, None))), kept)
    assert seeds.addresses == ((8, 0, 10), (0, 2, None)) and list(seeds.transfers) == [False] * 2


def random_chain(rng: np.random.Generator, m: int, n_addr: int) -> AccountTransfers:
    src = rng.integers(0, n_addr, m)
    dst = rng.integers(0, n_addr, m)
    value = rng.integers(0, 100, m)
    fee = rng.integers(0, 3, m) * (rng.random(m) < 0.5)
    return transfers([(int(a), int(b), int(v), int(f))
                      for a, b, v, f in zip(src, dst, value, fee, strict=True)], n_addr)


def reduced_cases() -> Iterator[tuple[AccountTransfers, npt.NDArray[np.bool_],
                                     tuple[tuple[int, int, int | None], ...],
                                     npt.NDArray[np.bool_], int | None]]:
    """Forty random chains with their seed transfers, seed addresses, stops and hop horizon
    (the same forty on each call)."""
    rng = np.random.default_rng(7)
    for _ in range(40):
        m, n_addr = int(rng.integers(5, 60)), int(rng.integers(3, 25))
        t = random_chain(rng, m, n_addr)
        seed_tx = rng.random(m) < 0.05
        seed_addr = tuple((int(rng.integers(0, n_addr)), int(rng.integers(0, m + 1)),
                           None if rng.random() < 0.5 else int(rng.integers(0, 50)))
                          for _ in range(int(rng.integers(0, 3))))
        stops = rng.random(n_addr) < 0.15
        max_hops = None if rng.random() < 0.5 else int(rng.integers(1, 4))
        yield t, seed_tx, seed_addr, stops, max_hops


@pytest.mark.slow
def test_the_sql_rounds_reach_what_the_pass_reaches() -> None:
    # once for the cases the policies' test below traces (the times depend on no policy)
    for t, seed_tx, seed_addr, stops, _hops in reduced_cases():
        times = tracefiles.reach.reachable_times(t, seed_tx, seed_addr, stops)
        assert list(times) == list(tracefiles.reach.reachable_times_sql(t, seed_tx, seed_addr,
                                                                         stops))


@pytest.mark.slow
@pytest.mark.parametrize("policy", ACCOUNT_POLICIES)
def test_tracing_the_reduced_chain_gives_the_same_results(policy: str) -> None:
    checked = 0
    for t, seed_tx, seed_addr, stops, max_hops in reduced_cases():
        m = len(t)
        seeds = AccountSeeds(seed_tx, seed_addr)
        full = trace_account(t, seeds, policy, stops=stops, max_hops=max_hops)  # type: ignore[arg-type]
        reduced, kept = reduce_reachable(t, seed_tx, seed_addr, stops)
        part = trace_account(reduced, reduce_seeds(seeds, kept), policy,  # type: ignore[arg-type]
                             stops=stops, max_hops=max_hops)
        for name in ("received", "sent", "held", "absorbed", "hops"):
            assert list(getattr(part, name)) == list(getattr(full, name)), name
        if kept is None:  # the whole chain, in its own positions
            kept = np.arange(m, dtype=np.int64)
        back = np.r_[kept, m]
        assert list(np.where(part.first_tainted >= 0, back[part.first_tainted], -1)) == list(
            full.first_tainted)
        flow = np.zeros(m, dtype=np.int64)
        flow[kept] = part.flow
        assert list(flow) == list(full.flow)
        assert (part.burned, part.seeded) == (full.burned, full.seeded)
        checked += len(kept) < m
    assert checked > 5  # the reduction did drop transfers in many of the cases


# --- the synthetic chain -----------------------------------------------------------------------

def test_synth_is_reproducible_sorted_and_heavy_tailed(tmp_path: Path) -> None:
    a = synth_account(20_000, 2_000, seed=3)
    assert a.equals(synth_account(20_000, 2_000, seed=3))
    assert not a.equals(synth_account(20_000, 2_000, seed=4))
    assert a.num_rows == 20_000
    assert a.column_names == ["tx_hash", "block", "tx_index", "log_index", "from", "to",
                              "value", "fee"]
    block, txi, logi = (a[c].to_numpy() for c in ("block", "tx_index", "log_index"))
    key = block * 10**12 + txi * 10**6 + logi
    assert bool(np.all(np.diff(key) > 0))
    hashes = np.array(a["tx_hash"].to_pylist())
    new_tx = hashes[1:] != hashes[:-1]
    assert bool(np.all(logi[1:][new_tx] == 0)) and bool(np.all(np.diff(logi)[~new_tx] == 1))
    assert len(set(hashes)) == int(new_tx.sum()) + 1  # a hash per transaction
    assert 1.1 < a.num_rows / len(set(hashes)) < 1.3
    senders = np.array(a["from"].to_pylist())
    _, counts = np.unique(senders, return_counts=True)
    top = np.sort(counts)[::-1]
    assert top[: len(top) // 100].sum() > 0.25 * a.num_rows  # 1% of senders: a quarter
    assert bool(np.all(senders != np.array(a["to"].to_pylist())))
    value = a["value"].to_numpy()
    assert value.min() >= 1 and np.median(value) < 10 * 10**6 < value.max()
    path = tmp_path / "s.parquet"
    write_parquet(a, path)
    loaded = load_account(path, "parquet")
    assert len(loaded) == 20_000 and loaded.value.dtype == np.int64
    assert list(loaded.value) == list(value)
    assert [loaded.addresses[i] for i in loaded.src[:50]] == list(senders[:50])
    streamed = tmp_path / "streamed.parquet"
    assert write_synth_parquet(streamed, 20_000, 2_000, seed=3) == 20_000
    assert pq.read_table(streamed).equals(pq.read_table(path))


def test_a_synthetic_chain_stopped_half_way_leaves_no_part_of_a_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """It was written in place: a run stopped after its first row group left a Parquet file
    without its footer under the name asked for."""
    from kinko.chains.tracefiles import synth

    real, seen = synth._plain_batch, []

    def second_fails(batch: pa.RecordBatch) -> pa.RecordBatch:
        seen.append(batch)
        if len(seen) == 2:
            raise KeyboardInterrupt
        return real(batch)

    batches = synth._synth_batches
    monkeypatch.setattr(synth, "_synth_batches",
                        lambda n, a, seed: batches(n, a, seed, chunk=100))
    monkeypatch.setattr(synth, "_plain_batch", second_fails)
    path = tmp_path / "s.parquet"
    with pytest.raises(KeyboardInterrupt):
        write_synth_parquet(path, 1_000, 50, seed=1)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError):
        write_synth_parquet(path, 10, 2**31, seed=1)
    assert list(tmp_path.iterdir()) == []


def test_synth_across_batches_keeps_numbering() -> None:
    small = pa.Table.from_batches(list(tracefiles._synth_batches(5_000, 50, 9, chunk=7)))
    block, txi, logi = (small[c].to_numpy() for c in ("block", "tx_index", "log_index"))
    hashes = np.array(small["tx_hash"].to_pylist())
    new_tx, new_block = hashes[1:] != hashes[:-1], np.diff(block) > 0
    assert bool(np.all(np.diff(block) >= 0))
    assert bool(np.all(logi[1:][new_tx] == 0)) and bool(np.all(np.diff(logi)[~new_tx] == 1))
    assert bool(np.all(txi[1:][new_block] == 0))
    assert bool(np.all(np.diff(txi)[new_tx & ~new_block] == 1))
    assert bool(np.all(np.diff(txi)[~new_tx] == 0))


# --- the hashes kept out of memory (load_account_lazy, TxHashStore) -------------------------

def same_hashes(path: Path, fmt: str, **kw: object) -> None:
    """load_account_lazy gives load_account's transfers, its hashes in the store."""
    full = load_account(path, fmt, **kw)  # type: ignore[arg-type]
    lazy, store = tracefiles.load_account_lazy(path, fmt, **kw)  # type: ignore[arg-type]
    try:
        assert lazy.tx_hash.shape == (0,) and len(store) == len(full) == len(lazy)
        for name in ("src", "dst", "value", "fee", "block", "tx_index", "log_index",
                     "addresses"):
            assert list(getattr(lazy, name)) == list(getattr(full, name)), name
        assert store.at(np.arange(len(full))) == [str(x) for x in full.tx_hash]
        assert store.at([]) == []
        reversed_ = np.arange(len(full))[::-1]
        assert store.at(reversed_) == [str(full.tx_hash[i]) for i in reversed_]
        expected: dict[str, list[int]] = {}
        for i, x in enumerate(full.tx_hash):
            expected.setdefault(str(x).lower(), []).append(i)
        assert store.positions(set(expected) | {"not-there"}) == expected
        assert store.positions(set()) == {}
        kept = np.arange(0, len(full), 2)
        sub = store.take(kept)
        assert sub.at(np.arange(len(kept))) == [str(full.tx_hash[i]) for i in kept]
        assert sub.positions(set(expected)) == {
            k: [j for j, i in enumerate(kept) if i in v] for k, v in expected.items()
            if any(i in v for i in kept)}
    finally:
        store.close()
    if store.owned:  # a temporary copy, removed
        assert not store.path.exists()
    else:  # the input file itself (a sorted Parquet file): read in place, never removed
        assert store.path == path and path.exists()


def test_lazy_hashes_generic_csv_and_parquet(tmp_path: Path) -> None:
    same_hashes(write(tmp_path, "t.csv", GENERIC), "csv")
    pq.write_table(generic_table(), tmp_path / "t.parquet")
    same_hashes(tmp_path / "t.parquet", "parquet")
    path = write(tmp_path, "a.csv", "tx_hash,block,tx_index,from,to,value,asset\n"
                 "a,1,0,x,y,5,USDT\nb,1,1,x,y,5,DAI\nc,2,0,y,z,5,USDT\n")
    same_hashes(path, "csv", asset="USDT")


def test_lazy_hashes_of_formats_sorted_by_the_loader(tmp_path: Path) -> None:
    """ethereum-etl and MFTracer rows are reordered: the store maps positions to file rows."""
    path = write(tmp_path, "transactions.csv", "\n".join([
        ETL_HEADER + RECEIPT_COLUMNS,
        etl_row(3, 101, 0, B, C, 10**18, f",42000,21000,,,0,{25 * 10**9}"),
        etl_row(1, 100, 0, BIG_A, B, 5, f",21000,21000,,,1,{20 * 10**9}"),
        etl_row(2, 100, 1, B, "", 0, f",63000,50000,{C},,1,"),
    ]) + "\n")
    same_hashes(path, "ethereum-etl")
    mf = write(tmp_path, "transfers.csv", MF_HEADER + f"t,7,0xbb,{A},Exchange X,{B},,1\n"
               + f"t,7,0xAA,{B},,{C},Bridge,2\n" + f"t,6,0xcc,{C},Bridge,{A},Exchange X,3\n")
    same_hashes(mf, "mftracer")
    _, store = tracefiles.load_account_lazy(mf, "mftracer")
    assert store.order is not None and store.positions({"0xaa"}) == {"0xaa": [1]}


def test_lazy_hashes_across_row_groups(tmp_path: Path) -> None:
    """A store over a Parquet file of several row groups finds and fetches across them; a
    sorted generic file keeps no per-row array at all, and its hashes are read in place."""
    path = tmp_path / "s.parquet"
    table = synth_account(2500, 50, 5)
    pq.write_table(table.cast(pa.schema([pa.field(f.name, pa.string())
                                         if pa.types.is_dictionary(f.type) else f
                                         for f in table.schema])), path, row_group_size=1000)
    lazy, store = tracefiles.load_account_lazy(path, "parquet")
    assert store.order is None and lazy.tx_hash.shape == (0,) and store.path == path
    assert pq.ParquetFile(str(store.path)).metadata.num_row_groups == 3
    full = load_account(path, "parquet")
    picks = np.array([2499, 0, 1000, 999, 1500, 2000])
    assert store.at(picks) == [str(full.tx_hash[i]) for i in picks]
    wanted = {str(full.tx_hash[i]) for i in picks}
    assert store.positions(wanted) == {
        k: [i for i in range(len(full)) if full.tx_hash[i] == k] for k in wanted}


def test_seeds_named_in_advance_are_found_while_loading(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The hashes a trace will look for are found on the loader's own pass over the file, as
    the store finds them (hashes trimmed, lower-cased, hex or not, with other characters,
    across row groups and batches), and the store then reads nothing; a hash not looked for
    is still read from the file."""
    h, odd = "0x" + "ab" * 32, "t\u00e9x\u2003"  # not ASCII, a trailing em space
    hashes = [h, f" {h.upper().replace('0X', '0x')} ", "0xcd", "0xABc", "zz", "ZZ", odd,
              "0xef", "0xEF", "0X98765AB", "\t0x98765ab ", "0x98765ff"]
    blocks, logs = [1, 1, *range(2, 12)], [0, 1] + [0] * 10
    senders, receivers = [A, B, C] * 4, [B, C, A] * 4
    table = pa.table({"tx_hash": hashes, "block": pa.array(blocks, pa.int64()),
                      "tx_index": pa.array([0] * 12, pa.int64()),
                      "log_index": pa.array(logs, pa.int64()),
                      "from": senders, "to": receivers, "value": pa.array([5] * 12, pa.int64())})
    path = tmp_path / "s.parquet"
    pq.write_table(table, path, row_group_size=4)
    csv_path = write(tmp_path, "s.csv", "tx_hash,block,tx_index,log_index,from,to,value\n"
                     + "".join(f'"{x}",{b},0,{g},{f},{t},5\n' for x, b, g, f, t in zip(
                         hashes, blocks, logs, senders, receivers, strict=True)))
    # 0x98765ab by its digits (a run of 5), the others by their lower-cased text
    wanted = {h, "zz", "t\u00e9x", "0xef", "0xabc", "0x98765ab", "not-there"}
    monkeypatch.setattr(tracefiles._std, "SYNTH_CHUNK", 2)  # several batches
    for file, fmt in ((path, "parquet"), (csv_path, "csv")):
        _, reference = tracefiles.load_account_lazy(file, fmt)
        expected = reference.positions(wanted)
        assert {k: v for k, v in expected.items() if k != "t\u00e9x"} == {
            h: [0, 1], "zz": [4, 5], "0xef": [7, 8], "0xabc": [3], "0x98765ab": [9, 10]}, (
            fmt, expected)
        _, store = tracefiles.load_account_lazy(file, fmt, find=wanted)
        with monkeypatch.context() as m:
            m.setattr(store, "_read", lambda *a: pytest.fail("the store read its file"))
            assert store.positions(wanted) == expected
            assert store.positions({"zz", "0x98765ab"}) == {"zz": [4, 5], "0x98765ab": [9, 10]}
            assert store.positions({"not-there"}) == {}
        assert store.positions({"0xcd"}) == {"0xcd": [2]}  # not looked for: read
        reference.close()
        store.close()
        with monkeypatch.context() as m:  # too many candidates to confirm: the store reads
            m.setattr(tracefiles._std, "_MOST_CANDIDATES", 1)
            _, store = tracefiles.load_account_lazy(file, fmt, find=wanted)
            assert store.positions(wanted) == expected
            store.close()


def test_addresses_numbered_from_many_row_groups_as_from_text(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A sorted Parquet file's addresses, numbered from its row groups' dictionaries a few
    groups at a time (or all at once), get the ids the SQL numbering gives the same rows as
    text; with rows of another asset left out, only the addresses used are numbered."""
    table = synth_account(3000, 400, 11).cast(pa.schema([
        pa.field(f.name, pa.string()) if pa.types.is_dictionary(f.type) else f
        for f in synth_account(1, 2, 11).schema]))
    import pyarrow.csv as pacsv  # type: ignore[import-untyped, unused-ignore]

    table = table.set_column(4, "from", upper_some(table["from"]))
    several = table.append_column("asset", pa.array(["X", "Y", "X"] * 1000))
    for name, data, kw in (("one", table, {}), ("two", several, {"asset": "X"})):
        pq.write_table(data, tmp_path / f"{name}.parquet", row_group_size=500)
        pacsv.write_csv(data, tmp_path / f"{name}.csv")
        text = load_account(tmp_path / f"{name}.csv", "csv", with_hashes=False,
                            **kw)  # type: ignore[arg-type]
        for unify in (1, tracefiles._std._UNIFY):
            monkeypatch.setattr(tracefiles._std, "_UNIFY", unify)
            got = load_account(tmp_path / f"{name}.parquet", "parquet", with_hashes=False,
                               **kw)  # type: ignore[arg-type]
            assert list(got.addresses) == list(text.addresses), (name, unify)
            assert np.array_equal(got.src, text.src) and np.array_equal(got.dst, text.dst)


def upper_some(column: pa.ChunkedArray) -> pa.Array:
    """Every third address written in upper case (one address, two spellings)."""
    values = column.to_pylist()
    return pa.array([v.upper().replace("0X", "0x") if i % 3 == 0 else v
                     for i, v in enumerate(values)])


@pytest.mark.parametrize("fmt", ["csv", "parquet", "ethereum-etl", "mftracer"])
def test_a_zero_byte_export_is_an_empty_input(tmp_path: Path, fmt: str) -> None:
    """Exporters (ethereum-etl among them) write a 0-byte file for a range without rows:
    no transfers, not an error, whichever asset is asked for."""
    path = write(tmp_path, f"empty.{fmt}", "")
    for asset in (None, TOKEN):
        if fmt == "mftracer" and asset:
            continue
        t = load_account(path, fmt, asset=asset)
        assert len(t) == 0 and t.addresses.shape == (0,) and t.value.dtype == np.int64
    folder = tmp_path / "export"
    folder.mkdir()
    write(folder, "token_transfers.csv", "")
    write(folder, "transactions.csv", ETL_HEADER + "\n" + etl_row(1, 100, 0, A, B, 5) + "\n")
    write(folder, "receipts.csv", "")  # receipts not exported for this range: fee unknown, 0
    assert list(load_account(folder, "ethereum-etl").value) == [5]
    assert len(load_account(folder, "ethereum-etl", asset=TOKEN)) == 0


def test_synthetic_utxo_chain_is_valid_and_reproducible() -> None:
    from kinko.chains.tracefiles import synth_utxo
    from kinko.domain.trace.model import UtxoSeeds
    from kinko.domain.trace.utxo import trace_utxo

    txs = synth_utxo(3000, 200, 5)
    again = synth_utxo(3000, 200, 5)
    assert np.array_equal(txs.out_value, again.out_value)
    assert np.array_equal(txs.in_output, again.in_output)
    seeds = UtxoSeeds(np.arange(len(txs)) < 40, np.zeros(len(txs.out_value), dtype=np.bool_))
    for policy in ("haircut", "fifo", "tiho"):  # the input checks pass; taint is conserved
        r = trace_utxo(txs, seeds, policy)
        assert r.seeded == int(r.held.sum()) + r.burned + int(r.absorbed.sum()) > 0


def test_a_short_record_before_a_blank_line_is_named_not_a_traceback(tmp_path: Path) -> None:
    path = write(tmp_path, "f.csv", "tx_hash,block,tx_index,log_index,from,to,value\n"
                 "0x1,1,0,0,a,b,5\n0x2,2,0,0,a,b\n\n0x3,3,0,0,a,b,5,9\n")
    assert problems_of(path, "csv") == [f"{path}:3: expected 7 fields, found 6",
                                        f"{path}:5: expected 7 fields, found 8"]


def test_row_numbers_are_held_only_when_they_are_not_the_positions() -> None:
    """The row pass's columns leave out the row numbers while they run 0, 1, 2, ... (a file
    read whole and in order), and hold all of them from the first that does not."""
    from kinko.chains.tracefiles._std import _Columns

    kinds = {"_row": np.int64, "v": np.int64}
    whole = _Columns(kinds, 4, counting="_row")
    for start in (0, 3):
        whole.append({"_row": np.arange(start, start + 3), "v": np.arange(3) + 10 * start})
    assert set(whole.arrays()) == {"v"} and list(whole.arrays()["v"]) == [0, 1, 2, 30, 31, 32]
    gap = _Columns(kinds, 4, counting="_row")
    gap.append({"_row": np.arange(3), "v": np.zeros(3, np.int64)})
    gap.append({"_row": np.array([4, 5]), "v": np.ones(2, np.int64)})  # row 3 left out
    gap.append({"_row": np.array([6]), "v": np.ones(1, np.int64)})
    assert list(gap.arrays()["_row"]) == [0, 1, 2, 4, 5, 6]


def test_an_asset_value_of_a_200_kb_cell_is_named_cut_short(tmp_path: Path) -> None:
    """A file of several assets is refused naming them: one written as 200,000 characters
    was named whole, the whole error a 200 KB line on the operator's terminal."""
    path = tmp_path / "t.csv"
    path.write_text("tx_hash,block,tx_index,from,to,value,asset\n"
                    f"0x1,1,0,a,b,5,{'x' * 200_000}\n0x2,2,0,a,b,5,y\n", encoding="utf-8")
    with pytest.raises(InputFileError) as caught:
        load_account(path, "csv")
    assert len(str(caught.value)) < 300 and f"{'x' * 79}…, y" in str(caught.value)
    with pytest.raises(InputFileError) as caught:
        load_account(path, "csv", asset="z" * 5000)
    assert len(str(caught.value)) < 400 and "no transfers of " + "z" * 79 + "…" in \
        str(caught.value)
