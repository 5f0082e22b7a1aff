"""``kinko trace run --format nem``: NIS1 transfer listings (JSON as NIS1 returns them, of
transactions built and signed with the NEM SDK) into the account model: XEM with fees
burned, mosaics as assets, multisig accounts paying their cosignatures, pages of several
accounts counted once; bad listings named by file and field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from clirun import cli_runner
from nis1double import nis_json

from kinko.chains import nem
from kinko.chains.tracefiles import load_account

CHAIN = "nem"
PRIVATE = ["575DBB3062267EFF57C970A336EBBC8FBCFE12C5BD3ED7BC11EB0481D7704CED",
           "5B0E3FA5D3B49A79022D7C1E121BA1CBBF4DB5821F47AB8C708EF88DEFC29BFE",
           "738BA9BB9110AEA8F15CAA353ACA5653B4BDFCA1DB9F34D0EFED2CE1325AEEDA",
           "E8BF9BC0F35C12D8C8BF94DD3A8B5B4034F1063948E3CC5304E55E31AA4B95A6",
           "C325EA529674396DB5675939E7988883D59A5FC17A28CA977E3BA85370232A83"]
HOT, THIEF, A, B, COSIGNER = (nem.NemKey(k, CHAIN) for k in PRIVATE)
MOSAIC = "kinko.tags:stolen"
XEM = 1_000_000


def pair(tx: Any, signed: nem.Signed, height: int, order: int) -> dict[str, Any]:
    return {"meta": {"innerHash": {}, "id": order, "hash": {"data": signed.hash.lower()},
                     "height": height}, "transaction": nis_json(tx, signed.signature)}


def story() -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Height 10: the theft (HOT → THIEF 500 XEM); 11: THIEF → A 200 XEM and THIEF → B 5
    units of a mosaic plus 50 XEM; 12: a multisig account (B) pays A 10 XEM, co-signed."""
    theft_tx = nem.transfer(CHAIN, signer_public_key=HOT.public_key, recipient=THIEF.address,
                            amount=500 * XEM, timestamp=100)
    theft = HOT.sign(theft_tx)
    to_a_tx = nem.transfer(CHAIN, signer_public_key=THIEF.public_key, recipient=A.address,
                           amount=200 * XEM, timestamp=101)
    to_a = THIEF.sign(to_a_tx)
    mixed_tx = nem.transfer(CHAIN, signer_public_key=THIEF.public_key, recipient=B.address,
                            mosaics=[(MOSAIC, 5), ("nem:xem", 50 * XEM)], timestamp=102,
                            mosaic_info={MOSAIC: (1_000, 0)})
    mixed = THIEF.sign(mixed_tx)
    inner = nem.transfer(CHAIN, signer_public_key=B.public_key, recipient=A.address,
                         amount=10 * XEM, timestamp=103)
    wrap_tx = nem.multisig(CHAIN, inner, cosignatory_public_key=COSIGNER.public_key,
                           timestamp=103)
    wrap = COSIGNER.sign(wrap_tx)
    wrapped = pair(wrap_tx, wrap, 12, 7)
    cosign_tx = nem.cosignature(CHAIN, cosignatory_public_key=A.public_key,
                                inner_transaction_hash=nem.inner_hash(CHAIN, inner),
                                multisig_address=B.address, timestamp=104)
    wrapped["transaction"]["signatures"] = [nis_json(cosign_tx, A.sign(cosign_tx).signature)]
    pairs = [pair(theft_tx, theft, 10, 1), pair(mixed_tx, mixed, 11, 3),
             pair(to_a_tx, to_a, 11, 2), wrapped]
    return pairs, {"theft": theft.hash.lower(), "to_a": to_a.hash.lower(),
                   "mixed": mixed.hash.lower(), "wrap": wrap.hash.lower()}


@pytest.fixture
def listings(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    pairs, hashes = story()
    folder = tmp_path / "listings"
    folder.mkdir()
    # the thief's page and A's page: the transfer to A is on both
    (folder / "thief.json").write_text(json.dumps({"data": pairs[:3]}))
    (folder / "a.json").write_text(json.dumps({"data": [pairs[2], pairs[3]]}))
    return folder, hashes


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
