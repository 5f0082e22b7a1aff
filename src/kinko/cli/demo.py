"""``kinko demo``: the demo exchange, its custody breach and the quorum-approved fix,
screened withdrawals, and the Coincheck theft replayed against the 2018 setup and kinko."""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
import time
from collections import Counter
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from importlib import resources
from pathlib import Path

import typer
from eth_account import Account

from kinko.chains.erc20 import deploy_token, fund_token
from kinko.chains.evm import EvmChain
from kinko.chains.keystore import KeystoreSigner, create_keystore, throwaway_signer
from kinko.chains.wallets import KeyWallet
from kinko.cli.app import app
from kinko.cli.demo_cosigned import (
    HSM_PIN,
    Cosigned,
    cosigned_act,
    show_attempts,
    show_insider,
)
from kinko.cli.demo_nem import nem_act
from kinko.cli.progress import progress
from kinko.cli.runtime import Runtime, emit, runtime
from kinko.domain.custody import Wallet
from kinko.domain.fsa import Submitter
from kinko.domain.labels import tagpack_text
from kinko.domain.ledger import Posting
from kinko.domain.messages import N_, Units, msg
from kinko.domain.money import Asset, AssetRegistry
from kinko.domain.refunds import decimal_text
from kinko.errors import BadInput
from kinko.i18n import ENGLISH
from kinko.ports import Store, SystemClock
from kinko.prices import FixedPrices
from kinko.render.custody import render_custody
from kinko.render.fsa import write_fsa
from kinko.render.trace import write_blacklist, write_trace
from kinko.services import reserves
from kinko.services.access import Access
from kinko.services.artifacts import Artifacts
from kinko.services.custody import Custody
from kinko.services.demo import (
    OWN_JPY,
    PRICES,
    run_2018,
    run_demo,
    trace_demo,
    write_transfers,
)
from kinko.services.demo_cosigned import CosignedRun
from kinko.services.fsa import fsa_report
from kinko.services.incidents import Incidents
from kinko.services.ledger import Ledger
from kinko.services.refunds import Refunds
from kinko.services.replay import COINCHECK, ReplayRun
from kinko.store import open_store, upgrade

DEMO_PASSWORD = "demo only - never use"  # the demo hot keystore's password, shown openly
# the two demo exchanges as their reports' covers name them (fictitious, marked as demos)
DEMO_EXCHANGE = Submitter(name="kinko デモ取引所株式会社",
                          registration="関東財務局長 第00000号（デモ）",
                          representative="代表取締役 金庫 一郎",
                          address="東京都千代田区（デモ）", addressee="fsa")
EXCHANGE_2018 = Submitter(name="2018年型デモ取引所株式会社",
                          registration="関東財務局長 第00000号（デモ）",
                          representative="代表取締役 二〇一八 太郎",
                          address="東京都渋谷区（デモ）", addressee="kanto")
CAUSE_2018 = ("原因：全利用者の XEM を保管していた唯一のホットウォレットの秘密鍵"
              "（単一鍵）が取引所外で使用された。コールドウォレット及びマルチシグによる"
              "管理がなく、チェーンの監視も行っていなかった。")


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
    db, db2018 = folder / "kinko-demo.db", folder / "coincheck-2018.db"
    for path in (db, db2018):
        for stale in (path, path.with_name(path.name + "-wal"),
                      path.with_name(path.name + "-shm")):
            stale.unlink(missing_ok=True)
    for owned in ("trace", "refunds-2018", "refunds-2018-unfunded", "fsa", "fsa-2018",
                  "reserves"):
        shutil.rmtree(folder / owned, ignore_errors=True)  # outputs of an earlier run
    chain = EvmChain.in_process()
    xem = _xem_token(chain)
    rt.settings = replace(rt.settings, assets=(*rt.settings.assets, xem))
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
    # the cold keys would stay offline: kinko keeps none; the second address is fresh
    cold = (str(Account.create().address), str(Account.create().address))
    # Tether's frozen addresses: a real TagPack shipped with kinko
    deny_list = Path(str(resources.files("kinko") / "data" / "tagpacks" / "usdt_blacklist.yaml"))
    with progress("importing customers") as advance:
        result = run_demo(ledger, folder, chain, KeyWallet(chain, signer), cold, THIEF.address,
                          lambda to, amount: fund_token(chain, str(xem.token), to, amount),
                          FixedPrices(PRICES), deny_list, customers=customers, seed=seed,
                          batch_size=rt.settings.import_batch_size,
                          confirmations=rt.settings.confirmations,
                          progress=advance)
    rep = result.import_report
    print(f"\n1. Demo exchange: {result.customers:,} customers, {rep.rows:,} balances imported "
          f"from {result.csv_path} in {result.import_seconds:.2f} s "
          f"({rep.batches_written} journal entries).")
    print("   Coincheck kept all 523,000,000 customer XEM in one hot wallet; this exchange "
          "keeps 4% of its XEM hot. XEM is an ERC-20 token (6 decimals) on an in-process "
          "Ethereum chain, beside the exchange's ETH, 30% of which starts in the hot "
          "wallet.\n")
    print("2. `kinko check` with the 2-of-3 policy (demo/policy.toml):")
    emit(["severity", "code", "finding"],
         [[f.severity, f.code, f.message] for f in result.before if f.severity != "info"],
         "table")
    p = result.proposal
    print(f"3. Proposal {p.proposal.id} by carol: sweep "
          f"{rt.show('ETH', int(str(p.proposal.payload['amount'])))} ETH from eth-hot to "
          f"eth-cold ({ENGLISH.text(p.detail)}).")
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
           "; ".join(ENGLISH.text(h.reason) for h in v.decision.hits) or "no rule matched"]
          for label, v in result.withdrawals], "table", right=("ETH",))
    print(f"   breaker tripped for: {', '.join(result.tripped) or 'none'} (only a quorum "
          "resets it: `kinko breaker reset ETH`)\n")
    old, chain2018, xem2018, ledger2018 = _run_2018(db2018, result.csv_path, signer, THIEF,
                                                    rt.settings.import_batch_size)
    try:
        cosigned = _cosigned(rt, folder, result.csv_path, result.customers)
        _replay_table(rt, old, result.replay, cosigned.result.run)
        _timeline(rt, result.replay.incident)
        show_insider(rt, cosigned)
        show_attempts(rt, cosigned)
        written = _write_replay(folder, old, result.replay, cosigned.result)
        _add_to_replay(written, "nem_multisig", nem_act(folder))  # NEM, as it could have been
        traced, transfers = _trace_act(rt, folder, chain2018, xem2018, old)
        incident2018, plan2018 = _refund_act(rt, folder, ledger2018, old)
        reports = [
            _fsa(Custody(ledger, chain=chain, prices=FixedPrices(PRICES),
                         confirmations=rt.settings.confirmations, key_location=_in_file),
                 folder / "fsa", incident=result.replay.incident, submitter=DEMO_EXCHANGE),
            _fsa(Custody(ledger2018, chain=chain2018, prices=FixedPrices(PRICES),
                         confirmations=rt.settings.confirmations, key_location=_in_file),
                 folder / "fsa-2018", incident=incident2018, plan=plan2018,
                 submitter=EXCHANGE_2018,
                 trace=folder / "trace" / "haircut",
                 # how its custody stood when the theft began, before the loss was booked
                 positions_at=Incidents(ledger2018.store, SystemClock()).incident(
                     incident2018).incident["opened"])]
        print("9. The report to the FSA (業務改善命令への報告), in Japanese, from kinko's data "
              "alone: online share per asset and the 5% test, how wallets are run, how abnormal "
              "withdrawals and outflows are detected, how attacks are answered, and the "
              "incident with its losses, refunds, source of funds and trace:")
        for label, paths in zip(("kinko exchange", "2018 setup"), reports, strict=True):
            print(f"   {label}: {', '.join(str(p) for p in paths)}")
        print()
        _reserves_act(ledger, chain, folder / "reserves")
        _index(ledger.store, "kinko exchange", incident=result.replay.incident,
               fsa=folder / "fsa", reserves=folder / "reserves")
        _index(ledger2018.store, "2018 setup", incident=incident2018,
               fsa=folder / "fsa-2018", refunds=(folder / "refunds-2018",
                                                 folder / "refunds-2018-unfunded"),
               trace=(traced, transfers, old))
        signed_store = open_store(f"sqlite:///{cosigned.database}")
        try:
            keys = {"kinko": _demo_keys(ledger.store), "2018": _demo_keys(ledger2018.store),
                    "co-signed": _demo_keys(signed_store)}
        finally:
            signed_store.close()
    finally:
        ledger2018.store.close()
    verify = result.verify
    print(f"ledger verify: {'OK' if verify.ok else 'FAILED'} ({verify.entries} entries, "
          f"head {verify.head[1][:16]}…)")
    print(f"\nOutputs in {folder}/: kinko-demo.db (the kinko exchange), coincheck-2018.db (the "
          f"2018 setup), customers.csv, policy.toml, custody-report.ja.html and .en.html, "
          "fsa/ and fsa-2018/ (the FSA reports, PDF and HTML, with CSV appendices), "
          "refunds-2018/ (the refund plan), reserves/ (the proof of liabilities), "
          f"{written.name} (the three runs' figures), exchanges.yaml (the other exchanges' "
          "tags), trace/ (the trace of the stolen XEM and its blacklist), keys/eth-hot.json; "
          f"the co-signed exchange: {cosigned.database.name}, policy-cosigned.toml, "
          f"{cosigned.cosign_config.name} and cosign.db (the co-signer's settings and its "
          f"decision log: `kinko cosign log --config {cosigned.cosign_config}`), softhsm/ "
          f"(its SoftHSM2 tokens, user PIN {HSM_PIN!r}: a demo, not a secret).")
    print(f"Explore: KINKO_DATABASE_URL=sqlite:///{db} kinko incidents show "
          f"{result.replay.incident or 'ID'}")
    print(f"(the demo hot keystore's password is {DEMO_PASSWORD!r}: a demo, not a secret)")
    _dashboard_help(rt.settings.database_url, f"sqlite:///{db2018}", folder, keys,
                    result.replay.incident, incident2018,
                    (f"sqlite:///{cosigned.database}", cosigned.result.run.incident))


ATTACKER_NEM = "NC4C6PSUW5CLTDT5SXAGJDQJGZNESKFK5MCN77OG"  # the 2018 attacker's NEM address
THIEF = throwaway_signer()  # the thief's own key on the demo chains (stands for the above)


def _in_file(wallet: Wallet) -> str | None:
    """Where the demo's keys live: its hot wallets' key in the keystore file, no other."""
    return "file" if wallet.tier == "hot" else None


def _xem_token(chain: EvmChain) -> Asset:
    token = deploy_token(chain, name="NEM XEM (Coincheck replay)", symbol="XEM", decimals=6,
                         supply=2_000_000_000 * 10**6)
    return Asset("XEM", chain.name, 6, token)


def _run_2018(db: Path, csv_path: Path, signer: KeystoreSigner, thief: KeystoreSigner,
              batch_size: int) -> tuple[ReplayRun, EvmChain, Asset, Ledger]:
    """The same customers and thief in Coincheck's setup, on a chain of its own (the
    caller closes the ledger's store)."""
    chain = EvmChain.in_process()
    xem = _xem_token(chain)
    store = open_store(f"sqlite:///{db}", sqlite_synchronous="NORMAL")
    upgrade(store)
    ledger = Ledger(store, SystemClock(), AssetRegistry.default([xem]))
    ledger.sync_assets()
    with progress("2018 setup: importing") as advance:
        run, _seconds = run_2018(
            ledger, csv_path, chain, KeyWallet(chain, signer), thief.address,
            lambda to, amount: fund_token(chain, str(xem.token), to, amount),
            batch_size=batch_size,
            progress=advance)
    return run, chain, xem, ledger


def _cosigned(rt: Runtime, folder: Path, csv_path: Path, customers: int) -> Cosigned:
    """The third replay: the same customers and thief against co-signed Safes with HSM keys,
    on a chain of its own (:mod:`kinko.cli.demo_cosigned`)."""
    chain = EvmChain.in_process()
    return cosigned_act(rt, folder, csv_path, chain, _xem_token(chain), THIEF,
                        customers=customers, confirmations=rt.settings.confirmations)


def _reserves_act(ledger: Ledger, chain: EvmChain, out: Path) -> None:
    """Act 10: the kinko exchange publishes its liabilities as a Merkle sum tree (its root
    binding the chain block the reserves are read at) and one customer checks their own
    proof with the standalone verifier alone."""
    started = time.perf_counter()
    snap = reserves.snapshot(ledger, chain=chain)
    root = reserves.publish(snap, out)
    seconds = time.perf_counter() - started
    root_hash = json.loads(root.read_text(encoding="utf-8"))["root_hash"]
    proof = out / "proofs" / "C0000001.json"
    print(f"10. Proof of liabilities: every customer's balances in a Merkle sum tree "
          f"({snap.customers:,} customers, root {root_hash[:16]}…, written with one proof per "
          f"customer to {out}/ in {seconds:.1f} s). Customer C0000001 checks theirs with the "
          "standalone verifier (one Python file, standard library only):")
    print(f"   $ python {out / 'verify_proof.py'} {proof} {root_hash[:16]}… "
          "--customer C0000001")
    checked = subprocess.run([sys.executable, str(out / "verify_proof.py"), str(proof),
                              root_hash, "--customer", "C0000001"], capture_output=True,
                             text=True)
    for line in (checked.stdout or checked.stderr).splitlines():
        print(f"   {line}")
    print()


def _grouped(text: str) -> str:
    """An exact yen amount with thousands separators (a fraction stays as it is)."""
    return "¥" + (text if "/" in text else format(Decimal(text), ","))


def _refund_act(rt: Runtime, folder: Path, ledger: Ledger, run: ReplayRun) -> tuple[str, Path]:
    """Act 8: the 2018 exchange answers: incident, loss, refund plan at 88.549 JPY/XEM and
    the funds check, before and after the exchange's own yen are recorded in the ledger."""
    incidents = Incidents(ledger.store, SystemClock(), ledger)
    xem = ledger.assets["XEM"]
    incident = incidents.open(
        msg("incident.title.outflow_amount", wallet="xem-hot",
            amount=Units(run.taken, xem.symbol, xem.decimals)),
        "operators (found at 11:25 JST)", asset="XEM", wallet="xem-hot")
    # the operators of a Japanese exchange write their findings in Japanese (kept as written)
    incidents.note(incident, "ciso", CAUSE_2018)
    incidents.book_loss(incident, "XEM", "xem-hot", run.taken,
                        source=f"tx:{run.thefts[0].tx_hash}", by="controller")
    refunds = Refunds(ledger, incidents)
    plans = []
    for label, out in (("before", folder / "refunds-2018-unfunded"),
                       ("after", folder / "refunds-2018")):
        if label == "after":
            ledger.post("demo:own-yen", [Posting("bank:jpy-own", "JPY", OWN_JPY),
                                         Posting("own", "JPY", -OWN_JPY)],
                        source="demo:opening", memo="the exchange's own yen, now recorded")
        plan = refunds.plan(incident, "XEM", price=Decimal("88.549"), rounding="floor")
        refunds.write_plan(plan, out)
        plans.append((label, plan, out))
    print("8. The 2018 exchange answers the FSA from kinko's data: incident "
          f"{incident} (timeline, cause, loss of {Decimal(rt.show('XEM', run.taken)):,} XEM "
          "booked to "
          f"loss:{incident}); the refund plan at 88.549 JPY per XEM (the price Coincheck "
          "fixed), rounded down per customer:")
    emit(["funds in the ledger", "customers", "refunds (JPY)", "rounding remainder",
          "yen available", "funds check"],
         [[("no own yen recorded (2018)" if label == "before" else "own yen recorded"),
           f"{len(plan.customers):,}", f"¥{plan.total_refund:,}",
           _grouped(decimal_text(plan.remainder)),
           f"¥{plan.funds.available:,}",
           "funds confirmed" if plan.funds.confirmed else
           f"SHORT by ¥{plan.funds.required - plan.funds.available:,}"]
          for label, plan, _out in plans], "table",
         right=("customers", "refunds (JPY)", "yen available"))
    print(f"   plans written to {plans[0][2]} and {plans[1][2]} (plan.json, refunds.csv; "
          f"`kinko refunds execute {plans[1][2]}` pays them, each customer once)\n")
    return incident, plans[1][2]


def _fsa(custody: Custody, out: Path, *, incident: str | None, submitter: Submitter,
         plan: Path | None = None, trace: Path | None = None,
         positions_at: datetime | None = None) -> list[Path]:
    """The Japanese FSA report (PDF, and HTML beside it) of one exchange."""
    report = fsa_report(custody, incident=incident, refund_plan=plan, trace=trace,
                        confirmations=custody.confirmations, positions_at=positions_at,
                        submitter=submitter)
    return [*write_fsa(report, out, "pdf", "ja"), *write_fsa(report, out, "html", "ja")[:1]]


def _trace_act(rt: Runtime, folder: Path, chain: EvmChain, xem: Asset,
               run: ReplayRun) -> tuple[Path, Path]:
    """Act 7: the 2018 thief launders; kinko traces the coins to the exchanges. Returns the
    trace's folder and the CSV of the transfers it read (so a trace can be run again
    without the demo's in-process chain)."""
    traced = trace_demo(
        chain, KeyWallet(chain, THIEF), xem,
        lambda to, amount: fund_token(chain, str(xem.token), to, amount),
        lambda: KeyWallet(chain, throwaway_signer()), run.thefts)
    reports, labels = traced.reports, traced.labels
    out = folder / "trace"
    transfers = write_transfers(traced.transfers, out / "transfers.csv", "XEM")
    tagpack = folder / "exchanges.yaml"
    tagpack.write_text(tagpack_text(
        {"title": "kinko demo: other exchanges' deposit addresses", "creator": "kinko demo",
         # the network's currency, as GraphSense has it: this XEM is an ERC-20 on Ethereum
         "description": "where the demo thief cashes out", "currency": "ETH",
         "lastmod": "2018-01-26", "confidence": "manual", "category": "exchange"},
        [{"address": lbl.address, "label": lbl.label, "actor": lbl.actor}
         for lbl in labels.values()]), encoding="utf-8")
    for policy, report in reports.items():
        write_trace(report, out / policy, unit=xem)
    blacklist, listed = write_blacklist(out / "haircut", currency="ETH",
                                        out=out / "blacklist.yaml")
    exposure = {p: {e.entity: e.taint for e in r.exposure} for p, r in reports.items()}
    entities = sorted({e for sums in exposure.values() for e in sums})
    haircut = reports["haircut"].summary()
    print("7. The 2018 thief moves the 523,000,000 XEM on through fresh addresses into three "
          "exchanges' deposit addresses, beside a bystander's clean coins; kinko traces them "
          f"from the {len(run.thefts)} theft transactions ({haircut['counts']['transfers']} "
          "transfers read from the chain):")
    emit(["exchange", "exposure (haircut)", "exposure (poison)"],
         [[e, format(Decimal(rt.show("XEM", exposure["haircut"].get(e, 0))), ","),
           format(Decimal(rt.show("XEM", exposure["poison"].get(e, 0))), ",")]
          for e in entities], "table", right=("exposure (haircut)", "exposure (poison)"))
    totals = haircut["totals"]
    def units(value: int) -> str:
        return format(Decimal(rt.show("XEM", value)), ",")

    print(f"   haircut: seeded {units(totals['seeded'])} XEM = held {units(totals['held'])} + "
          f"at exchanges {units(totals['absorbed'])} + burned {units(totals['burned'])} "
          "(conservation "
          f"{'holds' if haircut['conservation']['holds'] else 'FAILS'}); poison counts every "
          "coin a tainted address sent as stolen.")
    print(f"   blacklist of {listed} addresses for other exchanges: {blacklist} "
          f"(`kinko denylist load {blacklist}`); the trace's files: {out}/haircut, "
          f"{out}/poison (graph.html to open in a browser)")
    print(f"   the {len(traced.transfers)} transfers it read: {transfers} (run it again: "
          f"`kinko trace run --transfers {transfers} --format csv --policy haircut "
          f"--seed-tx {run.thefts[0].tx_hash} ... --tags {tagpack} --out ...`, one --seed-tx "
          f"per theft transaction; they are in {folder / 'replay.json'})\n")
    return out, transfers


def _replay_table(rt: Runtime, old: ReplayRun, new: ReplayRun, signed: ReplayRun) -> None:
    def xem(units: int) -> str:
        return format(Decimal(rt.show("XEM", units)), ",")

    def share(run: ReplayRun) -> str:
        pct = Decimal(run.exposed * 100) / Decimal(run.customer_xem or 1)
        return f"{xem(run.exposed)} ({pct.quantize(Decimal('0.1'))}%)"

    def alarm(run: ReplayRun) -> str:
        if run.alarm_seconds is None:
            return (f"none: nobody watched the chain (2018: found by people "
                    f"{COINCHECK['detected_after_s']:,} s later, at {COINCHECK['detected']})")
        blocks = ("in the theft's own block" if run.alarm_blocks == 0
                  else f"{run.alarm_blocks} block(s) later")
        return f"{run.alarm_seconds:.3f} s after the broadcast, {blocks} ({run.alarm_id})"

    def held(run: ReplayRun) -> str:
        if not run.requested_after:
            return "none held: withdrawals went on against an emptied wallet"
        words = {"blocked": "refused (the paying wallet's key leaked)",
                 "review": "held for review"}
        states = Counter(v.state for v in run.stopped)
        return (f"{len(run.stopped)} of {run.requested_after} stopped: "
                + ", ".join(f"{n} {words[s]}" for s, n in sorted(states.items())))

    by = ("the co-signer's refusal" if (signed.alarm_id or "").startswith("A-cosign-")
          else "the watch: the operations key sent a transaction of its own")
    signed_alarm = ("none" if signed.alarm_seconds is None else
                    f"{signed.alarm_seconds:.3f} s after the first try: {by} "
                    f"({signed.alarm_id})")
    rows = [
        ["customers", f"{old.customers:,}", f"{new.customers:,}", f"{signed.customers:,}"],
        ["customer XEM owed", xem(old.customer_xem), xem(new.customer_xem),
         xem(signed.customer_xem)],
        ["customer XEM online (exposed)", share(old), share(new), share(signed)],
        ["thief's transfers that took XEM", str(len(old.thefts)), str(len(new.thefts)),
         str(len(signed.thefts))],
        ["XEM taken", xem(old.taken), xem(new.taken), xem(signed.taken)],
        ["first theft → alarm", alarm(old), alarm(new), signed_alarm],
        ["breaker", ", ".join(old.breaker) or "none", ", ".join(new.breaker) or "none",
         ", ".join(signed.breaker) or "none"],
        ["withdrawals after the alarm", held(old), held(new),
         "held for review by the breaker; those waiting rejected, their funds released"
         if signed.breaker else "not held"],
        ["emergency sweep saved", "no sweep", f"{xem(new.swept)} XEM ({new.sweep_note})"
         if new.swept else f"nothing ({new.sweep_note or 'no sweep'})",
         f"nothing to race: proposed to the quorum ({signed.sweep_note})"
         if signed.sweep_note else "no sweep"],
        ["left in the hot wallet", xem(old.left_hot), xem(new.left_hot), xem(signed.left_hot)],
    ]
    print("6. The Coincheck theft, replayed (a 10 XEM test transfer, the bulk in large "
          "transfers a few blocks apart, then smaller ones), the same thief with the hot key "
          "(in the co-signed setup, the operations key, and what it allows):")
    emit(["", "2018 setup (all hot, no watch)", "kinko (95% cold, watch running)",
          "kinko co-signed (2-of-3 Safe, HSM keys)"], rows, "table")
    print("   Times are measured on this machine's in-process chain (the watch polls after "
          "every block); had the thief taken everything in one transfer, kinko's loss would "
          "still be bounded by what was online.\n")


def _timeline(rt: Runtime, incident: str | None) -> None:
    if incident is None:
        return
    view = Incidents(rt.store(), SystemClock()).incident(incident)
    emit(["at (UTC)", "kind", "actor", "detail"],
         [[e["at"].strftime("%H:%M:%S.%f")[:-3], e["kind"], e["actor"],
           ENGLISH.text(e["detail"])]
          for e in view.timeline], "table", title=f"incident {incident}: timeline")


def _write_replay(folder: Path, old: ReplayRun, new: ReplayRun, signed: CosignedRun) -> Path:
    def plain(run: ReplayRun) -> dict[str, object]:
        return {"label": run.label, "customers": run.customers,
                "customer_xem_micro": run.customer_xem, "exposed_micro": run.exposed,
                "taken_micro": run.taken, "thefts": [
                    {"tx": t.tx_hash, "block": t.block, "micro_xem": t.amount}
                    for t in run.thefts],
                "alarm_seconds": run.alarm_seconds, "alarm_blocks": run.alarm_blocks,
                "alarm": run.alarm_id, "incident": run.incident, "breaker": run.breaker,
                "withdrawals_requested_after_alarm": run.requested_after,
                "withdrawals_stopped": len(run.stopped), "swept_micro": run.swept,
                "left_hot_micro": run.left_hot}

    third = plain(signed.run)
    third["attempts"] = [{"try": a.what, "refused_by": a.refused_by, "reason": a.reason,
                          "tx": a.tx_hash, "block": a.block, "cosigner_record": a.record}
                         for a in signed.attempts]
    if signed.insider is not None:
        ins = signed.insider
        third["insider"] = {
            "api_key": ins.key, "destination": ins.destination,
            "requested_micro": ins.requested, "left_micro": ins.left,
            "cosigner_limit_micro": ins.limit,
            "withdrawals": [{"id": s.withdrawal, "customer": s.customer, "micro_xem": s.amount,
                             "screening": s.screening, "outcome": s.outcome,
                             "reason": s.reason} for s in ins.steps]}
    path = folder / "replay.json"
    path.write_text(json.dumps({"coincheck_2018": COINCHECK,
                                "runs": [plain(old), plain(new), third]}, indent=2),
                    encoding="utf-8")
    return path


def _add_to_replay(path: Path, key: str, run: dict[str, object]) -> None:
    """Add one act's run to ``replay.json`` under ``key``."""
    data = json.loads(path.read_text(encoding="utf-8"))
    data[key] = run
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")


def _index(store: Store, exchange: str, *, incident: str | None, fsa: Path,
           reserves: Path | None = None, refunds: tuple[Path, ...] = (),
           trace: tuple[Path, Path, ReplayRun] | None = None) -> None:
    """Index what the demo wrote in the database of the exchange it belongs to, so the
    dashboard lists it (and finds the files)."""
    artifacts = Artifacts(store, SystemClock())
    by = "kinko demo"
    if trace is not None:
        folder, transfers, run = trace
        for policy in ("haircut", "poison"):
            artifacts.record("trace", msg("artifact.trace.incident",
                                          policy=msg(f"tr.policy.{policy}"),
                                          incident=incident or ""), folder / policy,
                             by=by, incident=incident, detail={
                                 "policy": policy, "transfers": str(transfers.resolve()),
                                 "format": "csv", "asset": "XEM",
                                 "source": f"file {transfers.name} (csv), read from the chain",
                                 "seeds": [t.tx_hash for t in run.thefts],
                                 "blacklist": str((folder / "blacklist.yaml").resolve())})
    for path in refunds:
        funded = not path.name.endswith("unfunded")
        artifacts.record("refunds", msg(
            N_("artifact.refunds.demo") if funded else N_("artifact.refunds.demo_unfunded"),
            price="88.549"), path, by=by,
            incident=incident, detail={"price": "88.549", "funded": funded})
    artifacts.record("fsa", msg(N_("artifact.fsa.incident") if incident else N_("artifact.fsa"),
                                lang=msg("lang.ja"), incident=incident or ""), fsa, by=by,
                     incident=incident)
    if reserves is not None:
        artifacts.record("reserves", msg("artifact.reserves.demo"), reserves,
                         by=by)


def _demo_keys(store: Store) -> dict[str, str]:
    """An admin and an auditor API key for the dashboard (printed: this is a demo)."""
    access = Access(store, SystemClock())
    return {role: access.create_key(f"demo-{role}", role)[1] for role in ("admin", "auditor")}


def _dashboard_help(url: str, url2018: str, folder: Path, keys: dict[str, dict[str, str]],
                    incident: str | None, incident2018: str,
                    signed: tuple[str, str | None]) -> None:
    kinko = Path(sys.executable).parent / "kinko"
    with contextlib.suppress(ValueError):
        kinko = kinko.relative_to(Path.cwd())
    print("\nThe operators' dashboard on the demo's data (the API keys are the demo's, shown "
          "openly; sign in with the admin key, or the auditor's to only read):")
    for label, db, port, which, about in (
            ("the kinko exchange", url, 8000, "kinko", f"incident {incident or '-'}, the "
             "custody report, the withdrawals (screened, rejected at the theft, refused "
             "after it), the FSA report, the proof of liabilities"),
            ("the 2018 setup", url2018, 8001, "2018", f"incident {incident2018}, its trace, "
             "refund plans and FSA report"),
            ("the co-signed exchange", signed[0], 8002, "co-signed", f"incident "
             f"{signed[1] or '-'} (the watch's alarm, the co-signer's refusals and the chain's), "
             "the custody "
             "page (how each wallet is signed, the co-signer's refusals), the insider's "
             "withdrawals")):
        print(f"  {label} ({about}):")
        print(f"    KINKO_DATABASE_URL={db} KINKO_DATA_DIR={folder} {kinko} serve "
              f"--port {port}")
        print(f"    then open http://127.0.0.1:{port}/ and sign in with the admin key "
              f"{keys[which]['admin']} (auditor: {keys[which]['auditor']})")
