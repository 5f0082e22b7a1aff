"""Real exports read as they come, through the commands: an ethereum-etl token_transfers.csv
holding many tokens traced one token at a time, a 0-byte export, TagPacks whose addresses
carry several tags (an exchange stays a stop), and public address lists as deny lists."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from clirun import cli_runner

DATA = Path(__file__).resolve().parents[1] / "data"
TOKEN_HEADER = "token_address,from_address,to_address,value,transaction_hash,log_index,block_number"
USDT = "0xdac17f958d2ee523a2206206994597c13d831ec7"
USDC = "0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48"
THIEF, HOP, OTHER = ("0x" + c * 40 for c in "abc")
BINANCE_POOL = "0xc365c3315cf926351ccaf13fa7d19c8c4058c8e1"  # exchange and miner packs


@pytest.fixture
def kinko(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
          capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    return cli_runner(monkeypatch, capsys, tmp_path, f"sqlite:///{tmp_path / 'k.db'}",
                      init=False)


def h(n: int) -> str:
    return "0x" + f"{n:064x}"


def rows(path: Path) -> dict[str, dict[str, str]]:
    """A trace's addresses table by address: the CSV, or the Parquet beside it (what
    ``kinko trace run`` writes by default), every value as text."""
    if not path.exists() and path.with_suffix(".parquet").exists():
        import pyarrow.parquet as pq

        found = [{k: "" if v is None else str(v) for k, v in r.items()}
                 for r in pq.read_table(path.with_suffix(".parquet")).to_pylist()]
        return {r["address"]: r for r in found}
    with path.open(encoding="utf-8", newline="") as fh:
        return {r["address"]: r for r in csv.DictReader(fh)}


def tokens_file(tmp_path: Path) -> Path:
    path = tmp_path / "token_transfers.csv"
    path.write_text("\n".join([
        TOKEN_HEADER,
        f"{USDT},{OTHER},{THIEF},500,{h(1)},0,100",
        f"{USDC},{OTHER},{THIEF},700,{h(2)},1,100",
        f"{USDT},{THIEF},{HOP},200,{h(3)},0,101",
        f"{USDC},{THIEF},{BINANCE_POOL},300,{h(3)},1,101",
    ]) + "\n")
    return path


def test_a_token_transfers_file_of_many_tokens_is_traced_one_token_at_a_time(
        kinko, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tokens_file(tmp_path)
    code, _, err = kinko("trace", "run", "--transfers", str(path), "--format", "ethereum-etl",
                         "--policy", "haircut", "--seed-tx", h(1), "--out", "none")
    assert code == 2 and "several assets" in err and "--asset" in err
    code, _, err = kinko("trace", "run", "--transfers", str(path), "--format", "ethereum-etl",
                         "--asset", USDT.upper().replace("0X", "0x"), "--policy", "haircut",
                         "--seed-tx", h(1), "--out", "usdt")
    assert code == 0, err
    assert rows(tmp_path / "usdt" / "addresses.csv")[HOP]["taint_received"] == "200"
    # a configured symbol names its contract; --token is the same option
    code, _, err = kinko("--assets", f"USDC:ethereum:6:{USDC}", "trace", "run", "--transfers",
                         str(path), "--format", "ethereum-etl", "--token", "USDC",
                         "--policy", "poison", "--seed-tx", h(2), "--out", "usdc")
    assert code == 0, err
    found = rows(tmp_path / "usdc" / "addresses.csv")
    assert found[BINANCE_POOL]["taint_received"] == "300" and HOP not in found


def test_a_zero_byte_export_is_an_empty_input(kinko, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    empty = tmp_path / "token_transfers.csv"
    empty.write_bytes(b"")
    code, _, err = kinko("trace", "run", "--transfers", str(empty), "--format", "ethereum-etl",
                         "--policy", "haircut", "--seed-address", THIEF, "--out", "t")
    assert code == 2 and "does not appear in the transfers read" in err, err
    assert "empty" not in err


def test_an_exchange_tagged_twice_stays_a_stop(kinko, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Binance Pool is an exchange in Etherscan's exchange TagPack and a miner in its miner
    TagPack: imported in either order, it keeps both tags and absorbs taint as an exchange."""
    packs = [DATA / "tagpacks" / f"etherscan-wordcloud-{k}.yaml" for k in ("exchange", "miner")]
    path = tokens_file(tmp_path)
    for n, order in enumerate((packs, packs[::-1])):
        assert kinko("--database-url", f"sqlite:///{tmp_path / f'{n}.db'}", "init")[0] == 0
        for pack in order:
            code, out, err = kinko("--database-url", f"sqlite:///{tmp_path / f'{n}.db'}",
                                   "tags", "import", str(pack))
            assert code == 0, err
        code, out, _ = kinko("--database-url", f"sqlite:///{tmp_path / f'{n}.db'}", "tags",
                             "list", "--category", "exchange", "--format", "csv")
        assert BINANCE_POOL in out
        code, out, err = kinko("--database-url", f"sqlite:///{tmp_path / f'{n}.db'}", "trace",
                               "run", "--transfers", str(path), "--format", "ethereum-etl",
                               "--asset", USDC, "--policy", "haircut", "--seed-tx", h(2),
                               "--out", f"t{n}")
        assert code == 0, err
        found = rows(tmp_path / f"t{n}" / "addresses.csv")[BINANCE_POOL]
        assert found["stop"] == "yes" and found["category"] == "exchange", found
        exposure = (tmp_path / f"t{n}" / "exposure.csv").read_text()
        assert "binance,exchange,300,1" in exposure


def test_a_hacked_exchange_in_one_tagpack_keeps_its_exchange_tag(kinko, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The real hacks TagPack lists Bter.com's address as the exchange, then as the hack."""
    code, _, err = kinko("trace", "run", "--transfers", str(bter_file(tmp_path)), "--policy",
                         "poison", "--seed-tx", "0x01", "--tags",
                         str(DATA / "tagpacks" / "hacks.yaml"), "--out", "t")
    assert code == 0, err
    found = rows(tmp_path / "t" / "addresses.csv")["1Ni8z1MbaF4ri8GGE67BWtLu66YnXj2BuW"]
    assert found["stop"] == "yes" and found["label"] == "Bter.com"


def bter_file(tmp_path: Path) -> Path:
    path = tmp_path / "bter.csv"
    path.write_text("tx_hash,block,tx_index,log_index,from,to,value,fee\n"
                    "0x01,1,0,0,thief,x,30,0\n0x02,2,0,0,x,1Ni8z1MbaF4ri8GGE67BWtLu66YnXj2BuW,30,0\n")
    return path


@pytest.mark.parametrize("name", ["sanctioned_addresses_ETH.txt", "sanctioned_addresses_ETH.json"])
def test_public_ofac_lists_load_as_deny_lists(kinko, name: str) -> None:  # type: ignore[no-untyped-def]
    assert kinko("init")[0] == 0
    code, out, err = kinko("denylist", "load", str(DATA / "ofac" / name))
    assert code == 0, err
    read = int(out.split(" labels read")[0].split()[-1])
    assert read > 140, out


def test_loading_a_list_is_in_the_audit_log(kinko, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A deny list decides which withdrawals are blocked, tags which addresses are
    exchanges: loading either left no audit record of who loaded what."""
    import json

    assert kinko("init")[0] == 0
    code, _, err = kinko("denylist", "load", str(DATA / "ofac" / "sanctioned_addresses_ETH.txt"),
                         "--by", "hanako")
    assert code == 0, err
    listed = tmp_path / "tags.csv"
    listed.write_text(f"address,label,category\n{THIEF},Thief,hacker\n{HOP},Hop,exchange\n")
    assert kinko("tags", "import", str(listed))[0] == 0
    code, out, _ = kinko("audit", "list", "--action", "labels.", "--format", "json")
    records = json.loads(out)
    assert [(r["actor"], r["action"], r["target"]) for r in records] == [
        ("cli:hanako", "labels.load", "sanctioned_addresses_ETH.txt"),
        ("cli", "labels.load", "tags.csv")]
    deny, tags = (json.loads(r["detail"]) if isinstance(r["detail"], str) else r["detail"]
                  for r in records)
    assert deny["kind"] == "deny" and deny["read"] == deny["new"] > 140
    assert tags == {"kind": "tags", "read": 2, "new": 2, "kept_as_written": 0}
    assert kinko("audit", "verify")[0] == 0
