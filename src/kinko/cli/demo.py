"""``kinko demo``: the demo exchange, its custody breach and the quorum-approved fix."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import typer
from eth_account import Account

from kinko.chains.evm import EvmChain
from kinko.chains.keystore import KeystoreSigner, create_keystore
from kinko.cli.app import app
from kinko.cli.customers import progress_bar
from kinko.cli.runtime import emit, runtime
from kinko.errors import BadInput
from kinko.prices import FixedPrices
from kinko.render.custody import render_custody
from kinko.services.demo import PRICES, run_demo
from kinko.store import upgrade

DEMO_PASSWORD = "demo only - never use"  # the demo hot keystore's password, shown openly
DEMO_TAGPACK = """title: kinko demo deny list
creator: kinko demo
description: addresses the demo exchange must refuse
currency: ETH
lastmod: 2026-11-26
confidence: manual
label: demo attacker
category: perpetrator
source: kinko demo
tags:
- address: "0x00000000000000000000000000000000000d3ad1"
  actor: demo-attacker
"""


@app.command("demo")
def demo(
    ctx: typer.Context,
    folder: Path = typer.Option(Path("demo"), "--dir", help="Folder for the demo's files."),
    customers: int = typer.Option(260_000, "--customers", help="How many customers."),
    seed: int = typer.Option(2018, "--seed", help="Random seed (same seed, same exchange)."),
) -> None:
    """A demo exchange on an in-process chain: 260,000 customers, Coincheck's 523 million
    XEM, an ETH custody breach fixed by a 2-of-3 approved sweep."""
    rt = runtime(ctx)
    if customers < 1:
        raise BadInput("--customers must be at least 1")
    folder.mkdir(parents=True, exist_ok=True)
    db = folder / "kinko-demo.db"
    for stale in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        stale.unlink(missing_ok=True)
    if rt.settings.sources.get("database_url", "default") == "default":
        rt.settings = replace(rt.settings, database_url=f"sqlite:///{db}",
                              sqlite_synchronous="NORMAL")
    upgrade(rt.store())
    ledger = rt.ledger()
    keystore = folder / "keys" / "eth-hot.json"
    keystore.parent.mkdir(exist_ok=True)
    keystore.unlink(missing_ok=True)
    create_keystore(keystore, DEMO_PASSWORD)
    signer = KeystoreSigner.open(keystore, DEMO_PASSWORD)
    cold = str(Account.create().address)  # the cold key would stay offline: kinko keeps none
    chain = EvmChain.in_process()
    deny_list = Path("..") / "shared" / "data" / "tagpacks" / "usdt_blacklist.yaml"
    if not deny_list.exists():  # outside the development tree: a small TagPack of our own
        deny_list = folder / "denylist.yaml"
        deny_list.write_text(DEMO_TAGPACK, encoding="utf-8")
    with progress_bar("importing customers") as bar:
        task = bar.add_task("import", total=None)
        result = run_demo(ledger, folder, chain, signer, cold, FixedPrices(PRICES), deny_list,
                          customers=customers, seed=seed,
                          batch_size=rt.settings.import_batch_size,
                          confirmations=rt.settings.confirmations,
                          progress=lambda d, t: bar.update(task, completed=d, total=t))
    rep = result.import_report
    print(f"\n1. Demo exchange: {result.customers:,} customers, {rep.rows:,} balances imported "
          f"from {result.csv_path} in {result.import_seconds:.2f} s "
          f"({rep.batches_written} journal entries).")
    print("   Coincheck kept all 523,000,000 customer XEM in one hot wallet; this exchange "
          "keeps 4% of its XEM hot. Its ETH is on an in-process Ethereum chain, with 30% of the "
          "customers' ETH in the hot wallet.\n")
    print("2. `kinko check` with the 2-of-3 policy (demo/policy.toml):")
    emit(["severity", "code", "finding"],
         [[f.severity, f.code, f.message] for f in result.before if f.severity != "info"],
         "table")
    p = result.proposal
    print(f"3. Proposal {p.proposal.id} by carol: sweep "
          f"{rt.show('ETH', int(str(p.proposal.payload['amount'])))} ETH from eth-hot to "
          f"eth-cold ({p.detail}).")
    print(f"   carol approving her own proposal: refused: {result.refused}")
    print(f"   approved by {', '.join(a.approver for a in p.approvals)} (Ed25519 signatures over "
          "the canonical proposal)")
    print(f"   signed with the hot wallet's keystore and sent: {p.tx_hash}")
    print(f"   booked in the ledger after {result.confirmations} confirmations: {p.state}\n")
    print("4. The custody report afterwards (also written to demo/custody-report.ja.html "
          "and .en.html):")
    print(render_custody(result.after, "table", "en"))
    for lang in ("ja", "en"):
        (folder / f"custody-report.{lang}.html").write_text(
            render_custody(result.after, "html", lang), encoding="utf-8")
    print("5. Withdrawals, screened before signing (rules in demo/policy.toml):")
    emit(["step", "id", "customer", "ETH", "state", "why"],
         [[label, v.id, v.customer, rt.show("ETH", v.amount), v.state,
           "; ".join(h.reason for h in v.decision.hits) or "no rule matched"]
          for label, v in result.withdrawals], "table", right=("ETH",))
    print(f"   breaker tripped for: {', '.join(result.tripped) or 'none'} (only a quorum "
          "resets it: `kinko breaker reset ETH`)\n")
    verify = result.verify
    print(f"ledger verify: {'OK' if verify.ok else 'FAILED'} ({verify.entries} entries, "
          f"head {verify.head[1][:16]}…)")
    print(f"Explore: KINKO_DATABASE_URL=sqlite:///{db} kinko balances --customer C0000001")
    print(f"(the demo hot keystore's password is {DEMO_PASSWORD!r}: a demo, not a secret)")
