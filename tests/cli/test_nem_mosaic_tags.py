"""``kinko trace export DIR --format nem-mosaic-tags``: one signed transfer of one unit of the
tag mosaic to every tainted account, verified with the NEM SDK, with a manifest; nothing
announced. Announced afterwards (on the NIS1 double), the tags mark the accounts and kinko's
deposit screening freezes what they send. Bad input is named; the key never shows."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from clirun import CliRun, cli_runner
from nemstory import CHAIN, MOSAIC, PRIVATE, THIEF, A, B, write_listings
from nis1double import Nis1Double

from kinko.chains import nem
from kinko.chains.nis1 import NisChain

SIGNER = nem.NemKey("2" * 64, CHAIN)  # the account that holds the tag mosaic


@pytest.fixture
def traced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
           capsys: pytest.CaptureFixture[str]) -> Iterator[tuple[CliRun, Path, Nis1Double]]:
    kinko = cli_runner(monkeypatch, capsys, tmp_path, f"sqlite:///{tmp_path / 'k.db'}",
                       init=False)
    hashes = write_listings(tmp_path / "listings")
    code, _, err = kinko("trace", "run", "--transfers", "listings", "--format", "nem",
                         "--policy", "poison", "--seed-tx", hashes["theft"], "--tables", "csv",
                         "--out", "t")
    assert code == 0, err
    (tmp_path / "signer.key").write_text("2" * 64 + "\n")
    node = Nis1Double(CHAIN)
    node.definitions[MOSAIC] = (1_000_000, 0)
    node.give_mosaic(SIGNER.address, MOSAIC, 100)
    node.fund(SIGNER.address, 100 * 1_000_000)
    yield kinko, tmp_path, node
    node.close()


def test_the_export_signs_one_tag_per_tainted_account(
        traced: tuple[CliRun, Path, Nis1Double]) -> None:
    kinko, folder, node = traced
    code, out, err = kinko("trace", "export", "t", "--format", "nem-mosaic-tags", "--mosaic",
                           MOSAIC.upper(), "--signer", "signer.key", "--node", node.url)
    assert code == 0, err
    assert "2" * 64 not in out + err
    assert "not announced" in out
    assert "POST /transaction/announce" not in node.requests
    export = folder / "t" / "nem-mosaic-tags"
    manifest = json.loads((export / "manifest.json").read_text())
    lines = [json.loads(x) for x in (export / "transactions.jsonl").read_text().splitlines()]
    # poison: the thief, and A and B who received from him (the victim HOT is a seed's sender)
    tainted = {THIEF.address, A.address, B.address}
    assert {x["recipient"] for x in lines} == tainted
    for x in lines:
        signed = nem.Signed(x["data"], x["signature"], x["hash"], CHAIN)
        assert nem.verify(signed)
        tx = nem.decode(x["data"])
        assert str(tx.signer_public_key) == SIGNER.public_key
        assert tx.recipient_address.bytes.decode() == x["recipient"]
        (entry,) = tx.mosaics
        assert (entry.mosaic.mosaic_id.namespace_id.name.decode(),
                entry.mosaic.mosaic_id.name.decode(), entry.mosaic.amount.value) == \
            ("kinko.tags", "stolen", 1)
        assert tx.amount.value == 1_000_000  # the multiplier: exactly the quantity moves
        assert str(nem.facade(CHAIN).hash_transaction(tx)).lower() == x["hash"]
    assert manifest["count"] == 3 and manifest["announced"] is False
    assert manifest["mosaic"] == MOSAIC and manifest["signer"] == SIGNER.address
    assert manifest["deadline"] - manifest["timestamp"] == 23 * 3600
    start = datetime.fromisoformat(manifest["timestamp_utc"].replace("Z", "+00:00"))
    end = datetime.fromisoformat(manifest["deadline_utc"].replace("Z", "+00:00"))
    assert end - start == timedelta(hours=23) and start.year >= 2025  # Unix, not NEM time
    assert "2" * 64 not in json.dumps(manifest)
    # announced later by the exchange's operators, the tags mark the accounts
    chain = NisChain(node.url, name=CHAIN)
    for x in lines:
        chain.send_raw(json.dumps({"data": x["data"], "signature": x["signature"]}).encode())
    node.mine()
    assert chain.balances(sorted(tainted), token=MOSAIC) == {a: 1 for a in sorted(tainted)}


def test_without_a_node_the_definition_is_given(traced: tuple[CliRun, Path, Nis1Double]
                                                ) -> None:
    kinko, folder, _ = traced
    code, out, err = kinko("trace", "export", "t", "--format", "nem-mosaic-tags", "--mosaic",
                           MOSAIC, "--signer", "signer.key", "--supply", "1000",
                           "--divisibility", "2", "--out", "tags", "--deadline-hours", "2")
    assert code == 0, err
    assert "3 signed transfer(s) of kinko.tags:stolen" in out
    lines = (folder / "tags" / "transactions.jsonl").read_text().splitlines()
    tx = nem.decode(json.loads(lines[0])["data"])
    assert tx.mosaics[0].mosaic.amount.value == 100  # one whole unit of divisibility 2


@pytest.mark.parametrize(("args", "said"), [
    (["--mosaic", "kinko.tags:unknown"], "unknown mosaic 'kinko.tags:unknown'"),
    (["--mosaic", "stolen"], "mosaic 'stolen' is not namespace:name"),
    (["--mosaic", MOSAIC, "--chain", "nem-testnet"], "which is no nem-testnet account"),
    ([], "needs --mosaic NS:NAME and --signer KEYFILE"),
    (["--mosaic", MOSAIC, "--deadline-hours", "25"], "between a minute and 24 hours"),
])
def test_bad_input_is_named_and_nothing_is_written(traced: tuple[CliRun, Path, Nis1Double],
                                                   args: list[str], said: str) -> None:
    kinko, folder, node = traced
    code, out, err = kinko("trace", "export", "t", "--format", "nem-mosaic-tags",
                           "--signer", "signer.key", "--node", node.url, *args)
    assert code == 2, out
    assert said in err
    assert not (folder / "t" / "nem-mosaic-tags").exists()
    assert "2" * 64 not in out + err


def test_a_bad_key_file_or_too_few_tags_is_refused_without_showing_the_key(
        traced: tuple[CliRun, Path, Nis1Double]) -> None:
    kinko, folder, node = traced
    secret = PRIVATE[0][:60] + "zzzz"
    (folder / "bad.key").write_text(secret)
    code, out, err = kinko("trace", "export", "t", "--format", "nem-mosaic-tags", "--mosaic",
                           MOSAIC, "--signer", "bad.key", "--node", node.url)
    assert code == 2 and "bad.key: not a NEM private key" in err
    assert secret not in out + err and PRIVATE[0][:60] not in out + err
    node.mosaics[SIGNER.address][MOSAIC] = 2
    code, out, err = kinko("trace", "export", "t", "--format", "nem-mosaic-tags", "--mosaic",
                           MOSAIC, "--signer", "signer.key", "--node", node.url)
    assert code == 2 and f"holds 2 of {MOSAIC}" in err and "nothing written" in err
    assert not (folder / "t" / "nem-mosaic-tags").exists()


def test_without_a_node_the_supply_and_divisibility_are_needed(
        traced: tuple[CliRun, Path, Nis1Double]) -> None:
    kinko, folder, _ = traced
    code, _, err = kinko("trace", "export", "t", "--format", "nem-mosaic-tags", "--mosaic",
                         MOSAIC, "--signer", "signer.key", "--supply", "1000")
    assert code == 2 and "give --node URL" in err
    assert not (folder / "t" / "nem-mosaic-tags").exists()
