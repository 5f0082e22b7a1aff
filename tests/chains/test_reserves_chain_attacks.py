"""A dishonest exchange against the reserves side, on a real (in-process) chain: the ratio
it may show is the true one, or the report refuses.

The numbers follow the attacks they replay: liabilities 125 ETH; the cold wallet held
200 ETH at an earlier block and holds 60 at the snapshot, so the true ratio is 0.48.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from dbtemplate import migrated_store

from kinko.chains.evm import EvmChain
from kinko.chains.keystore import KeystoreSigner, throwaway_signer
from kinko.chains.wallets import KeyWallet
from kinko.domain.custody import Wallet
from kinko.domain.ledger import Posting
from kinko.domain.money import Asset, AssetRegistry
from kinko.domain.reserves import AssetSpec, Leaf, build_tree, verify_root
from kinko.domain.reserves_proof import proof_message
from kinko.errors import BadInput, InvalidAccount
from kinko.ports import FixedClock
from kinko.services import reserves, reserves_chain
from kinko.services.ledger import Ledger

E = 10**18


@dataclass
class Exchange:
    chain: EvmChain
    ledger: Ledger
    cold: KeystoreSigner
    out: Path
    b90: int  # the block where cold held 200 ETH
    sid: str


def sign_offline(out: Path, signer: KeystoreSigner, address: str) -> str:
    """What an offline signer does: personal_sign of the proof message of this snapshot
    (the key never reaches kinko: the test holds it, as the signer's device would)."""
    header, _totals, root = verify_root(json.loads((out / "root.json").read_text()))
    return str(signer.sign_message(
        proof_message(root.hex(), header, "ethereum", address)))


def import_cold(ex: Exchange, signer: KeystoreSigner, out: Path | None = None) -> None:
    out = out or ex.out
    file = out.parent / f"{out.name}-cold.json"
    file.write_text(json.dumps({"signatures": [
        {"address": signer.address,
         "signature": sign_offline(out, signer, signer.address)}]}))
    results = reserves_chain.import_signatures(out, file, ex.ledger.wallets())
    assert [r.status for r in results] == ["signed and verified"]


@pytest.fixture
def ex(tmp_path: Path) -> Iterator[Exchange]:
    chain = EvmChain.in_process()
    store = migrated_store(tmp_path / "k.db")
    usdt = Asset("USDT", "ethereum", 6, "0xdac17f958d2ee523a2206206994597c13d831ec7")
    ledger = Ledger(store, FixedClock(datetime.now(UTC)), AssetRegistry.default([usdt]))
    ledger.sync_assets()
    cold = throwaway_signer()
    ledger.add_wallet(Wallet("eth-cold", "ETH", "cold", (cold.address,)))
    chain.fund(cold.address, 200 * E)
    b90 = chain.head()
    chain_id, gas_price = chain.fee_params()
    away = throwaway_signer().address
    raw = cold.sign_transfer(to=away, value=140 * E - 21_000 * gas_price, nonce=0,
                             gas_price=gas_price, chain_id=chain_id)
    chain.send_raw(raw)
    chain.mine()
    ledger.post("open", [Posting("wallet:eth-cold", "ETH", 125 * E),
                         Posting("customer:C1", "ETH", -100 * E),
                         Posting("customer:C2", "ETH", -25 * E)], source="opening")
    out = tmp_path / "snap"
    reserves.publish(reserves.snapshot(ledger, min_height=2, chain=chain), out)
    sid = json.loads((out / "root.json").read_text())["snapshot"]["id"]
    e = Exchange(chain, ledger, cold, out, b90, sid)
    import_cold(e, cold)
    yield e
    store.close()


def eth(report: Any) -> Any:
    return next(a for a in report.assets if a.symbol == "ETH")


def test_the_honest_report(ex: Exchange) -> None:
    rep = reserves_chain.build_report(ex.out, ex.ledger.wallets(), ex.ledger.assets, ex.chain)
    row = eth(rep)
    assert row.liabilities == 125 * E and row.proven_reserves == 60 * E
    assert row.ratio == Fraction(48, 100) and row.unproven_reserves == 0
    assert rep.points[0].block == ex.chain.head() and not rep.warnings


# ------------------------------------------------------------------- 1. the block is bound


def test_moving_the_block_in_root_json_is_refused(ex: Exchange) -> None:
    root = json.loads((ex.out / "root.json").read_text())
    root["snapshot"]["reserves_at"][0]["block"] = ex.b90  # where cold held 200 ETH
    (ex.out / "root.json").write_text(json.dumps(root))
    with pytest.raises(BadInput, match="does not match its root hash"):
        reserves_chain.build_report(ex.out, ex.ledger.wallets(), ex.ledger.assets, ex.chain)


def test_old_signatures_do_not_prove_a_new_tree(ex: Exchange, tmp_path: Path) -> None:
    """A tree re-committed at the earlier block (same snapshot id, even) with the
    signatures of the honest one: they sign the honest root, so nothing is proven."""
    moved = tmp_path / "moved"
    snap = reserves.snapshot(ex.ledger, min_height=2, chain=ex.chain, block=ex.b90)
    header = snap.tree.header
    same_id = header.__class__(**{**header.__dict__, "snapshot_id": bytes.fromhex(ex.sid)})
    from kinko.domain.reserves import SumTree

    snap = reserves.Snapshot(SumTree(same_id, snap.tree.leaves), snap.customers)
    reserves.publish(snap, moved)
    (moved / "signatures.json").write_text((ex.out / "signatures.json").read_text())
    with pytest.raises(BadInput, match="another root"):
        reserves_chain.build_report(moved, ex.ledger.wallets(), ex.ledger.assets, ex.chain)
    sigs = json.loads((ex.out / "signatures.json").read_text())
    sigs["root_hash"] = json.loads((moved / "root.json").read_text())["root_hash"]
    (moved / "signatures.json").write_text(json.dumps(sigs))
    rep = reserves_chain.build_report(moved, ex.ledger.wallets(), ex.ledger.assets, ex.chain)
    row = eth(rep)
    assert row.ratio == 0 and row.proven_reserves == 0 and row.unproven_reserves == 200 * E
    assert row.rows[0].status.startswith("invalid")


def test_a_block_far_from_the_snapshot_time_is_flagged(ex: Exchange, tmp_path: Path) -> None:
    ex.ledger.clock.advance(hours=3)  # type: ignore[attr-defined]
    late = tmp_path / "late"
    reserves.publish(reserves.snapshot(ex.ledger, min_height=2, chain=ex.chain,
                                       block=ex.b90), late)
    import_cold(ex, ex.cold, late)
    rep = reserves_chain.build_report(late, ex.ledger.wallets(), ex.ledger.assets, ex.chain)
    assert rep.points[0].block == ex.b90
    assert rep.time_gaps["ethereum"] > timedelta(hours=2)
    assert rep.warnings and "before the snapshot" in rep.warnings[0]
    assert rep.to_json()["warnings"] == rep.warnings


def test_another_chain_or_fork_is_refused(ex: Exchange, tmp_path: Path) -> None:
    other = EvmChain.in_process()  # same chain id, other blocks: a fork
    other.mine(ex.chain.head() + 1)
    with pytest.raises(BadInput, match=r"block .* has hash"):
        reserves_chain.build_report(ex.out, ex.ledger.wallets(), ex.ledger.assets, other)
    root = json.loads((ex.out / "root.json").read_text())
    header, totals, _ = verify_root(root)
    point = header.reserves_at[0]
    lied = header.__class__(**{**header.__dict__, "reserves_at": (
        point.__class__(point.chain, "eip155:1", point.block, point.block_hash),)})
    from kinko.domain.reserves import SumTree

    fake = tmp_path / "mainnet"
    tree = SumTree(lied, [])
    doc = tree.root_json()
    assert doc["snapshot"]["reserves_at"][0]["chain_id"] == "eip155:1"
    fake.mkdir()
    (fake / "root.json").write_text(json.dumps(doc))
    with pytest.raises(BadInput, match="chain id"):
        reserves_chain.build_report(fake, ex.ledger.wallets(), ex.ledger.assets, ex.chain)
    assert totals


def test_a_snapshot_without_a_block_has_no_reserves_ratio(ex: Exchange, tmp_path: Path) -> None:
    bare = tmp_path / "bare"
    reserves.publish(reserves.snapshot(ex.ledger, min_height=2), bare)
    with pytest.raises(BadInput, match="binds no block"):
        reserves_chain.build_report(bare, ex.ledger.wallets(), ex.ledger.assets, ex.chain)
    with pytest.raises(BadInput, match="binds no block"):
        reserves_chain.sign_hot(bare, ex.ledger.wallets(), lambda _w: KeyWallet(ex.chain, ex.cold))


# ------------------------------------------------- 2. only proven addresses count in the ratio


def test_an_unproven_address_does_not_lift_the_ratio(ex: Exchange) -> None:
    """Another exchange's address, registered as a cold wallet, holds 10,000 ETH: it shows
    as not proven, apart, and the headline ratio stays the true one."""
    stranger = throwaway_signer().address
    ex.chain.fund(stranger, 10_000 * E)
    ex.ledger.add_wallet(Wallet("eth-cold2", "ETH", "cold", (stranger,)))
    rep = reserves_chain.build_report(ex.out, ex.ledger.wallets(), ex.ledger.assets, ex.chain)
    row = eth(rep)
    assert row.ratio == Fraction(row.proven_reserves, 125 * E) and row.ratio < 1
    assert row.unproven_reserves == 0  # funded after the snapshot block: not even there
    before = eth(rep)
    # the same, funded before the block: shown apart, never in the ratio
    rich = throwaway_signer().address
    ex.chain.fund(rich, 10_000 * E)
    later = ex.out.parent / "later"
    reserves.publish(reserves.snapshot(ex.ledger, min_height=2, chain=ex.chain), later)
    import_cold(ex, ex.cold, later)
    ex.ledger.add_wallet(Wallet("eth-cold3", "ETH", "cold", (rich,)))
    row = eth(reserves_chain.build_report(later, ex.ledger.wallets(), ex.ledger.assets,
                                          ex.chain))
    assert row.unproven_reserves == 10_000 * E + 10_000 * E
    assert row.ratio == Fraction(row.proven_reserves, 125 * E) and row.ratio < 1
    doc = reserves_chain.build_report(later, ex.ledger.wallets(), ex.ledger.assets,
                                      ex.chain).to_json()
    got = next(a for a in doc["assets"] if a["symbol"] == "ETH")
    assert got["unproven_reserves"] == str(20_000 * E) and "reserves" not in got
    assert Fraction(got["ratio"]) < 1 and before.proven_reserves == row.proven_reserves


# ------------------------------------------------------- 3. one address is counted once


def test_registering_an_address_twice_is_refused(ex: Exchange) -> None:
    lower = ex.cold.address.lower()
    with pytest.raises(InvalidAccount, match="already registered to wallet eth-cold"):
        ex.ledger.add_wallet(Wallet("eth-cold2", "ETH", "cold", (lower,)))
    other = throwaway_signer().address
    with pytest.raises(InvalidAccount, match="twice"):
        ex.ledger.add_wallet(Wallet("eth-cold2", "ETH", "cold", (other, other.lower())))
    with pytest.raises(InvalidAccount, match="already registered"):
        ex.ledger.add_wallet(Wallet("eth-hot", "ETH", "hot", (ex.cold.address,)))
    # the same address for another asset on the chain (a token) is one key, not a double
    ex.ledger.add_wallet(Wallet("usdt-cold", "USDT", "cold", (ex.cold.address,)))
    ex.ledger.add_wallet(Wallet("eth-cold", "ETH", "cold", (ex.cold.address, other)))
    assert [w.addresses for w in ex.ledger.wallets() if w.name == "eth-cold"] == [
        (ex.cold.address.lower(), other.lower())]  # kept in canonical form


def test_a_duplicate_already_in_the_database_counts_once(ex: Exchange) -> None:
    with ex.ledger.store.writer() as tx:  # registered before registration refused it
        tx.put_wallet(Wallet("eth-cold2", "ETH", "cold", (ex.cold.address.lower(),)))
        tx.put_wallet(Wallet("eth-cold3", "ETH", "cold", (ex.cold.address,
                                                            ex.cold.address.upper()
                                                            .replace("0X", "0x"))))
    rep = reserves_chain.build_report(ex.out, ex.ledger.wallets(), ex.ledger.assets, ex.chain)
    row = eth(rep)
    counted = [r for r in row.rows if not r.status.startswith("duplicate")]
    assert len(counted) == 1 and len(row.rows) == 4
    assert row.proven_reserves == counted[0].balance
    assert all("counted in wallet eth-cold" in r.status for r in row.rows
               if r.status.startswith("duplicate"))


# ------------------------------------------------------- 4. totals from the commitment


def test_edited_totals_are_refused_by_the_report(ex: Exchange) -> None:
    root = json.loads((ex.out / "root.json").read_text())
    root["totals"][root["snapshot"]["assets"].index(
        next(a for a in root["snapshot"]["assets"] if a["symbol"] == "ETH"))] = str(50 * E)
    (ex.out / "root.json").write_text(json.dumps(root))
    with pytest.raises(BadInput, match="does not match its root hash"):
        reserves_chain.build_report(ex.out, ex.ledger.wallets(), ex.ledger.assets, ex.chain)


# --------------------------------------------------------- 5. decimals are the registry's


@pytest.mark.parametrize(("spec", "match"), [
    (AssetSpec("ETH", 17, "ethereum"), "17 decimals.*18"),
    (AssetSpec("ETH", 18, "ethereum", "0x0000000000000000000000000000000000000001"),
     "token"),
    (AssetSpec("ETH", 18, "bitcoin"), "chain"),
    (AssetSpec("DOGE", 8, "ethereum"), "not in the asset registry"),
])
def test_assets_must_match_the_registry(ex: Exchange, tmp_path: Path, spec: AssetSpec,
                                        match: str) -> None:
    """A tree honestly built on a lie about the asset (ETH in units of 10**17: customers
    see the right amounts, the ratio is ten times too high) is refused."""
    header, _totals, _root = verify_root(json.loads((ex.out / "root.json").read_text()))
    lying = build_tree(header.snapshot_id, [spec],
                       [Leaf("C1", b"\x01" * 32, (10 * E,)), Leaf("C2", b"\x02" * 32,
                                                                  (25 * E // 10,))],
                       min_height=2, reserves_at=header.reserves_at, time=header.time)
    folder = tmp_path / "lie"
    folder.mkdir()
    (folder / "root.json").write_text(json.dumps(lying.root_json()))
    with pytest.raises(BadInput, match=match):
        reserves_chain.build_report(folder, ex.ledger.wallets(), ex.ledger.assets, ex.chain)


# --------------------------------------------------- snapshot ids are never used twice


def test_signatures_of_another_snapshot_are_refused(ex: Exchange, tmp_path: Path) -> None:
    other = tmp_path / "other"
    reserves.publish(reserves.snapshot(ex.ledger, min_height=2, chain=ex.chain), other)
    sigs = json.loads((ex.out / "signatures.json").read_text())
    (other / "signatures.json").write_text(json.dumps(sigs))
    with pytest.raises(BadInput, match="snapshot"):
        reserves_chain.build_report(other, ex.ledger.wallets(), ex.ledger.assets, ex.chain)


def test_publish_never_overwrites_a_snapshot(ex: Exchange) -> None:
    with pytest.raises(BadInput, match="already holds snapshot"):
        reserves.publish(reserves.snapshot(ex.ledger, min_height=2, chain=ex.chain), ex.out)
