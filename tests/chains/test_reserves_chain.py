"""Proof of reserves on a real chain (in-process and anvil): balances at the snapshot block,
hot signatures, imported cold signatures, forged and missing ones, the report's ratio."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import pytest
from dbtemplate import migrated_store
from eth_account import Account
from eth_account.messages import encode_defunct

from kinko.chains.evm import EvmChain
from kinko.chains.keystore import throwaway_signer
from kinko.chains.wallets import KeyWallet
from kinko.domain.custody import Wallet
from kinko.domain.ledger import Posting
from kinko.domain.money import AssetRegistry
from kinko.domain.reserves import verify_root
from kinko.domain.reserves_proof import proof_message, ratio_text
from kinko.errors import BadInput
from kinko.ports import FixedClock
from kinko.services import reserves, reserves_chain
from kinko.services.ledger import Ledger

E = 10**18


def offline_sign(key: object, out: Path, address: str) -> str:
    """What an offline signer does with the cold key: personal_sign of the proof message
    of the snapshot in ``out``."""
    header, _totals, root = verify_root(json.loads((out / "root.json").read_text()))
    text = proof_message(root.hex(), header, "ethereum", address)
    signed = Account.sign_message(encode_defunct(text=text), key)  # type: ignore[arg-type]
    return "0x" + bytes(signed.signature).hex()


def test_reserves_report_on_chain(chain: EvmChain, tmp_path: Path) -> None:
    store = migrated_store(tmp_path / "k.db")
    ledger = Ledger(store, FixedClock(), AssetRegistry.default())
    ledger.sync_assets()
    hot = throwaway_signer()
    cold, cold2, forger = Account.create(), Account.create(), Account.create()
    ledger.add_wallet(Wallet("eth-hot", "ETH", "hot", (hot.address,)))
    ledger.add_wallet(Wallet("eth-cold", "ETH", "cold", (cold.address, cold2.address)))
    chain.fund(hot.address, 100 * E)
    chain.fund(cold.address, 700 * E)
    chain.fund(cold2.address, 200 * E)
    ledger.post("open", [Posting("wallet:eth-hot", "ETH", 100 * E),
                         Posting("wallet:eth-cold", "ETH", 900 * E),
                         Posting("customer:C1", "ETH", -500 * E),
                         Posting("customer:C2", "ETH", -300 * E),
                         Posting("own:capital", "ETH", -200 * E)], source="opening")
    out = tmp_path / "snap"
    reserves.publish(reserves.snapshot(ledger, min_height=2, chain=chain), out)
    root = json.loads((out / "root.json").read_text())
    sid = root["snapshot"]["id"]
    block = chain.head()
    assert root["snapshot"]["reserves_at"][0]["block"] == block
    wallets = ledger.wallets()

    results = reserves_chain.sign_hot(out, wallets, lambda _w: KeyWallet(chain, hot))
    # the wallets' addresses are kept in canonical form (lower-case hex)
    assert [(r.address, r.status) for r in results] == [(hot.address.lower(),
                                                         "signed and verified")]
    text = (out / "signatures.json").read_text()
    assert hot.address.lower() in text and "private" not in text.lower()

    offline = tmp_path / "offline.json"
    offline.write_text(json.dumps({"snapshot_id": sid, "signatures": [
        {"address": cold.address, "signature": offline_sign(cold.key, out, cold.address)}]}))
    (res,) = reserves_chain.import_signatures(out, offline, wallets)
    assert res.status == "signed and verified"
    # kept under the address as the wallet registers it, not as the file spells it
    assert res.address == cold.address.lower() != cold.address
    kept = json.loads((out / "signatures.json").read_text())["signatures"]
    assert cold.address.lower() in [r["address"] for r in kept]
    assert cold.address not in (out / "signatures.json").read_text()

    chain.fund(cold.address, 1 * E)  # after the snapshot block: not counted
    report = reserves_chain.build_report(out, wallets, ledger.assets, chain)
    (eth,) = [a for a in report.assets if a.symbol == "ETH"]
    assert eth.liabilities == 800 * E
    assert eth.proven_reserves == 800 * E and eth.unproven_reserves == 200 * E  # cold2: no proof
    assert eth.ratio == Fraction(1) and ratio_text(eth.ratio) == "1.0000"
    status = {r.address: r.status for r in eth.rows}
    assert status == {hot.address.lower(): "signed and verified",
                      cold.address.lower(): "signed and verified", cold2.address.lower(): "missing"}
    assert {r.address: r.balance for r in eth.rows}[cold.address.lower()] == 700 * E
    doc = report.to_json()
    got = doc["assets"][[a["symbol"] for a in doc["assets"]].index("ETH")]
    assert doc["snapshot"]["reserves_at"][0]["block"] == block and got["ratio"] == "1/1"
    assert got["unproven_reserves"] == str(200 * E)

    # a signature by another key is reported invalid, naming the key it recovers to; it
    # never replaces the valid one already recorded
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps([
        {"address": cold2.address, "signature": offline_sign(forger.key, out, cold2.address)},
        {"address": cold.address, "signature": offline_sign(forger.key, out, cold.address)}]))
    results = reserves_chain.import_signatures(out, forged, wallets)
    assert [r.status for r in results] == [f"invalid (recovers {forger.address})"] * 2
    report = reserves_chain.build_report(out, wallets, ledger.assets, chain)
    (eth,) = [a for a in report.assets if a.symbol == "ETH"]
    status = {r.address: r.status for r in eth.rows}
    assert status[cold2.address.lower()] == f"invalid (recovers {forger.address})"
    assert status[cold.address.lower()] == "signed and verified"

    # bad input: another snapshot's signatures, an address not the exchange's
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"snapshot_id": "00" * 16, "signatures": []}))
    with pytest.raises(BadInput, match="not " + sid):
        reserves_chain.import_signatures(out, other, wallets)
    stranger = Account.create()
    other.write_text(json.dumps([{"address": stranger.address,
                                  "signature": offline_sign(stranger.key, out,
                                                            stranger.address)}]))
    with pytest.raises(BadInput, match="nothing was imported") as caught:
        reserves_chain.import_signatures(out, other, wallets)
    assert "is not an address of the exchange's wallets" in caught.value.details["problems"][0]
    store.close()


def test_eip191_signer_hides_the_key() -> None:
    hot = throwaway_signer()
    signer = hot
    assert repr(signer) == f"KeystoreSigner(address={hot.address!r})"
    assert "key" not in {k.lower() for k in vars(signer)}  # only the mangled account
    text = "kinko proof of reserves v2\nroot " + "ab" * 32
    sig = signer.sign_message(text)
    assert reserves_chain.status_of(text, hot.address, sig) == "signed and verified"
    assert reserves_chain.status_of(text + "x", hot.address, sig).startswith("invalid (recovers")
    assert reserves_chain.status_of(text, hot.address, "0x1234") == "invalid (malformed signature)"
    assert reserves_chain.status_of(text, hot.address, None) == "missing"


def test_reserves_cli(node_cli, anvil, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The commands end to end on anvil: keygen'd hot wallet signs, a cold signature is
    imported, a forged one refused (exit 1), the report lists reserves, ratio and statuses."""
    run = node_cli
    chain = EvmChain.connect(anvil.url)
    hot = run("wallets", "keygen", "eth-hot", "--asset", "ETH")[1].split(" at ")[1].split(";")[0]
    cold, cold2, forger = Account.create(), Account.create(), Account.create()
    assert run("wallets", "add", "eth-cold", "--asset", "ETH", "--tier", "cold",
               "--address", cold.address, "--address", cold2.address)[0] == 0
    chain.fund(hot, 10 * E)
    chain.fund(cold.address, 20 * E)
    run("ledger", "post", "--key", "open", "--source", "opening",
        "--debit", "wallet:eth-hot 10 ETH", "--debit", "wallet:eth-cold 20 ETH",
        "--credit", "customer:C1 24 ETH", "--credit", "own:capital 6 ETH")
    out = tmp_path / "snap"
    head = EvmChain.connect(anvil.url).head()
    assert run("reserves", "snapshot", "--out", str(out), "--min-height", "2")[0] == 0
    root = json.loads((out / "root.json").read_text())
    sid = root["snapshot"]["id"]
    assert root["snapshot"]["reserves_at"][0]["block"] == head  # read where liabilities were
    code, text, err = run("reserves", "sign", str(out))
    assert code == 0 and "signed and verified" in text, (text, err)
    sigs = tmp_path / "cold.json"
    sigs.write_text(json.dumps({"snapshot_id": sid, "signatures": [
        {"address": cold.address, "signature": offline_sign(cold.key, out, cold.address)}]}))
    assert run("reserves", "import-signatures", str(out), str(sigs))[0] == 0
    sigs.write_text(json.dumps([{"address": cold2.address,
                                 "signature": offline_sign(forger.key, out, cold2.address)}]))
    code, text, _ = run("reserves", "import-signatures", str(out), str(sigs))
    assert code == 1 and f"invalid (recovers {forger.address})" in text
    chain.fund(cold2.address, 50 * E)  # after the snapshot's block: not read
    code, text, err = run("reserves", "report", str(out))
    assert code == 0, err
    assert "ETH: liabilities 24, proven reserves 30, ratio 1.2500" in text
    assert text.count("signed and verified") == 2 and f"recovers {forger.address}" in text
    assert "NOT COUNTED" not in text  # cold2 held nothing at the snapshot's block
    code, text, _ = run("reserves", "report", str(out), "--format", "json")
    eth = next(a for a in json.loads(text)["assets"] if a["symbol"] == "ETH")
    assert eth["ratio"] == "5/4" and eth["proven_reserves"] == str(30 * E)
    assert run("reserves", "report", str(out), "--format", "csv")[0] != 0
    code, _, err = run("reserves", "report", str(out), "--block", "1")
    assert code != 0  # the block is the snapshot's, never chosen at report time


def test_token_reserves_are_read_from_the_token(chain: EvmChain, tmp_path: Path) -> None:
    """An ERC-20 asset (XEM standing for NEM): reserves are the token balances of its
    wallets' addresses, not their ether."""
    from kinko.chains.erc20 import deploy_token, fund_token
    from kinko.domain.money import Asset

    x = 10**6
    token = deploy_token(chain, name="XEM", symbol="XEM", decimals=6, supply=10**9 * x)
    store = migrated_store(tmp_path / "k.db")
    ledger = Ledger(store, FixedClock(), AssetRegistry.default([Asset("XEM", "ethereum", 6,
                                                                      token)]))
    ledger.sync_assets()
    hot = throwaway_signer()
    ledger.add_wallet(Wallet("xem-hot", "XEM", "hot", (hot.address,)))
    chain.fund(hot.address, 5 * E)  # gas money: not XEM
    fund_token(chain, token, hot.address, 300 * x)
    ledger.post("open", [Posting("wallet:xem-hot", "XEM", 300 * x),
                         Posting("customer:C1", "XEM", -300 * x)], source="opening")
    out = tmp_path / "snap"
    reserves.publish(reserves.snapshot(ledger, min_height=2, chain=chain), out)
    reserves_chain.sign_hot(out, ledger.wallets(), lambda _w: KeyWallet(chain, hot))
    report = reserves_chain.build_report(out, ledger.wallets(), ledger.assets, chain)
    (xem,) = [a for a in report.assets if a.symbol == "XEM"]
    assert xem.proven_reserves == 300 * x and xem.liabilities == 300 * x
    assert xem.ratio == Fraction(1)
    store.close()
