"""``kinko trace run --format nem``: NIS1 transfer listings (JSON as NIS1 returns them, of
transactions built and signed with the NEM SDK) into the account model: XEM with fees
burned, mosaics as assets, multisig accounts paying their cosignatures, pages of several
accounts counted once; bad listings named by file and field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from clirun import cli_runner
from nemstory import HOT, MOSAIC, PRIVATE, THIEF, XEM, A, B, pair, story, write_listings

from kinko.chains import nem
from kinko.chains.tracefiles import load_account


@pytest.fixture
def listings(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    folder = tmp_path / "listings"
    return folder, write_listings(folder)


def test_listings_become_the_account_model(listings: tuple[Path, dict[str, str]]) -> None:
    folder, hashes = listings
    xem = load_account(folder, "nem")
    names = list(xem.addresses)
    got = [(str(h), int(b), int(i), names[s], names[d], int(v), int(f)) for h, b, i, s, d, v, f
           in zip(xem.tx_hash, xem.block, xem.tx_index, xem.src, xem.dst, xem.value, xem.fee,
                  strict=True)]
    assert got == [
        (hashes["theft"], 10, 0, HOT.address, THIEF.address, 500 * XEM, 50_000),
        (hashes["to_a"], 11, 0, THIEF.address, A.address, 200 * XEM, 50_000),
        (hashes["mixed"], 11, 1, THIEF.address, B.address, 50 * XEM, 100_000),
        # B pays the wrapper (0.15), the inner transfer (0.05) and A's cosignature (0.15)
        (hashes["wrap"], 12, 0, B.address, A.address, 10 * XEM, 350_000),
    ]
    tags = load_account(folder, "nem", asset=MOSAIC.upper())
    assert [(int(v), int(f), int(li)) for v, f, li in zip(tags.value, tags.fee, tags.log_index,
                                                          strict=True)] == [(5, 0, 1)]


def test_trace_run_format_nem(listings: tuple[Path, dict[str, str]], tmp_path: Path,
                              monkeypatch: pytest.MonkeyPatch,
                              capsys: pytest.CaptureFixture[str]) -> None:
    folder, hashes = listings
    kinko = cli_runner(monkeypatch, capsys, tmp_path, f"sqlite:///{tmp_path / 'k.db'}",
                       init=False)
    code, out, err = kinko("trace", "run", "--transfers", str(folder), "--format", "nem",
                           "--policy", "haircut", "--seed-tx", hashes["theft"].upper(),
                           "--tables", "csv", "--out", "t")
    assert code == 0, err
    assert "policy haircut: 4 transfers" in out
    summary = json.loads((tmp_path / "t" / "summary.json").read_text())
    assert summary["totals"]["seeded"] == 500 * XEM
    assert summary["conservation"]["holds"] is True
    assert summary["totals"]["burned"] > 0  # the thief's fees, tainted, are burned
    text = (tmp_path / "t" / "addresses.csv").read_text()
    assert A.address in text and THIEF.address in text
    code, _, err = kinko("trace", "export", "t", "--format", "tagpack", "--currency", "XEM")
    assert code == 0, err
    assert A.address in (tmp_path / "t" / "blacklist.yaml").read_text()


def test_bad_listings_are_named(tmp_path: Path, listings: tuple[Path, dict[str, str]]) -> None:
    from kinko.errors import InputFileError

    folder, _ = listings
    with pytest.raises(InputFileError, match=r"no transfers of kinko\.tags:other \(found: "
                                             r"kinko\.tags:stolen, nem:xem\)"):
        load_account(folder, "nem", asset="kinko.tags:other")
    with pytest.raises(InputFileError, match="mosaic 'nope' is not namespace:name"):
        load_account(folder, "nem", asset="nope")
    pairs, _ = story()
    bad = tmp_path / "bad.json"
    pairs[1]["transaction"]["recipient"] = B.address[:-1] + "A"
    bad.write_text(json.dumps({"data": pairs}))
    with pytest.raises(InputFileError, match=rf"bad\.json: data\[1\]\.transaction: .*"
                                             rf"{B.address[:-1]}A.*checksum"):
        load_account(bad, "nem")
    pairs, _ = story()
    pairs[2]["meta"]["height"] = 99
    pairs.append(dict(pairs[2], meta=dict(pairs[2]["meta"], height=11)))
    bad.write_text(json.dumps({"data": pairs}))
    with pytest.raises(InputFileError, match="at height 11, but at height 99"):
        load_account(bad, "nem")
    bad.write_text(json.dumps({"data": [{"meta": {}, "transaction": {}}]}))
    with pytest.raises(InputFileError, match=r"data\[0\]: not a NIS1 transaction"):
        load_account(bad, "nem")
    testnet = nem.NemKey(PRIVATE[0], "nem-testnet")
    other = nem.transfer("nem-testnet", signer_public_key=testnet.public_key,
                         recipient=nem.address_of(A.public_key, "nem-testnet"), amount=1,
                         timestamp=1)
    pairs, _ = story()
    pairs.append(pair(other, testnet.sign(other), 13, 9))
    bad.write_text(json.dumps({"data": pairs}))
    with pytest.raises(InputFileError, match="a nem-testnet transaction among nem ones"):
        load_account(bad, "nem")


def test_a_xem_tagpack_loads_in_any_spelling_and_a_bad_address_is_named(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    kinko = cli_runner(monkeypatch, capsys, tmp_path, f"sqlite:///{tmp_path / 'k.db'}")
    dashed = "-".join(THIEF.address[i:i + 6] for i in range(0, 40, 6)).lower()
    pack = tmp_path / "xem.yaml"
    pack.write_text("title: t\ncreator: c\ncurrency: XEM\ncategory: perpetrator\n"
                    f"tags:\n- address: {dashed}\n  label: thief\n")
    code, out, err = kinko("denylist", "load", str(pack))
    assert code == 0 and "1 labels read" in out, err
    wrong = A.address[:-1] + ("B" if A.address[-1] != "B" else "C")
    testnet = nem.address_of(A.public_key, "nem-testnet")
    pack.write_text("title: t\ncreator: c\ncurrency: XEM\ncategory: perpetrator\n"
                    f"tags:\n- address: {wrong}\n- address: {testnet}\n")
    code, _, err = kinko("denylist", "load", str(pack))
    assert code == 2
    assert f"xem.yaml:6: '{wrong}' (XEM) is not a NEM mainnet address" in err
    assert "bad checksum" in err
    assert f"'{testnet}' (XEM) is not a NEM mainnet address" in err and "network byte 0x98" in err


def test_a_hash_listed_twice_with_other_content_or_no_hash_at_all_is_named(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Two listings that give one hash at one height for two different transactions (one
    of them altered) were read as the first, the other dropped without a word; a hash that
    is no hash, and a height or fee beyond NIS1's 64-bit numbers, were read as given."""
    from kinko.errors import InputFileError

    folder = tmp_path / "pages"
    folder.mkdir()
    pairs, _ = story()
    altered = json.loads(json.dumps(pairs[0]))
    altered["transaction"]["amount"] += 1_000 * XEM
    (folder / "a.json").write_text(json.dumps({"data": pairs}))
    (folder / "b.json").write_text(json.dumps({"data": [altered]}))
    digest = pairs[0]["meta"]["hash"]["data"]
    with pytest.raises(InputFileError, match=rf"b\.json: data\[0\]: transaction {digest} is "
                                             r"not the one listed in .*a\.json: data\[0\]"):
        load_account(folder, "nem")
    (folder / "b.json").write_text(json.dumps({"data": [pairs[0]]}))  # the same: counted once
    assert len(load_account(folder, "nem").tx_hash) == 4
    bad = tmp_path / "bad.json"
    for field, value, says in (("hash", {"data": "not a hash"}, r"meta\.hash\.data is not a "
                                                               "64-digit hex hash"),
                               ("height", 2**70, r"meta\.height is beyond NIS1's 64-bit")):
        pairs, _ = story()
        pairs[1]["meta"][field] = value
        bad.write_text(json.dumps({"data": pairs}))
        with pytest.raises(InputFileError, match=rf"bad\.json: data\[1\]\.{says}"):
            load_account(bad, "nem")
    pairs, _ = story()
    pairs[1]["transaction"]["fee"] = 2**70
    bad.write_text(json.dumps({"data": pairs}))
    with pytest.raises(InputFileError, match=r"bad\.json: data\[1\]\.transaction\.fee is "
                                             r"beyond NIS1's 64-bit"):
        load_account(bad, "nem")
    kinko = cli_runner(monkeypatch, capsys, tmp_path, f"sqlite:///{tmp_path / 'k.db'}",
                       init=False)
    code, _, err = kinko("trace", "run", "--transfers", str(bad), "--format", "nem",
                         "--policy", "haircut", "--seed-tx", "ab" * 32, "--out", "t")
    assert code == 2 and "bad.json: data[1].transaction.fee" in err
