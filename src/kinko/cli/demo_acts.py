"""What ``kinko demo`` runs (:mod:`kinko.cli.demo` is the command, which imports this module
only when it runs): the demo exchange, its custody breach and the quorum-approved fix,
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
from kinko.cli.demo_cosigned import (
    HSM_PIN,
    Cosigned,
    cosigned_act,
    show_attempts,
    show_insider,
)
from kinko.cli.demo_nem import nem_act
from kinko.cli.progress import progress
from kinko.cli.runtime import Runtime, emit, runtime, speech, word
from kinko.domain.custody import Wallet
from kinko.domain.fsa import Submitter
from kinko.domain.labels import tagpack_text
from kinko.domain.ledger import Posting
from kinko.domain.messages import N_, Units, msg
from kinko.domain.money import Asset, AssetRegistry
from kinko.domain.refunds import decimal_text
from kinko.errors import BadInput
from kinko.i18n import Localizer
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


def run(ctx: typer.Context, folder: Path, customers: int, seed: int) -> None:
    """``kinko demo --dir FOLDER --customers N --seed S``."""
    rt = runtime(ctx)
    if customers < 1:
        raise BadInput("--customers must be at least 1", says=msg("error.demo.customers"))
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
    say = rt.say
    with progress(say("cli.demo.progress_customers")) as advance:
        result = run_demo(ledger, folder, chain, KeyWallet(chain, signer), cold, THIEF.address,
                          lambda to, amount: fund_token(chain, str(xem.token), to, amount),
                          FixedPrices(PRICES), deny_list, customers=customers, seed=seed,
                          batch_size=rt.settings.import_batch_size,
                          confirmations=rt.settings.confirmations,
                          progress=advance)
    rep = result.import_report
    print("\n" + say("cli.demo.act1", customers=f"{result.customers:,}",
                      rows=f"{rep.rows:,}", csv=str(result.csv_path),
                      seconds=f"{result.import_seconds:.2f}",
                      entries=str(rep.batches_written)))
    print(say("cli.demo.act1_setup") + "\n")
    print(say("cli.demo.act2"))
    emit(["severity", "code", "finding"],
         [[word(say, "cu.sev", f.severity), f.code, f.message] for f in result.before
          if f.severity != "info"], "table")
    p = result.proposal
    print(say("cli.demo.act3", id=p.proposal.id,
              amount=rt.show("ETH", int(str(p.proposal.payload["amount"]))),
              detail=say.text(p.detail)))
    print(say("cli.demo.act3_refused", refused=result.refused))
    print(say("cli.demo.act3_approved", approvers=", ".join(a.approver for a in p.approvals)))
    print(say("cli.demo.act3_sent", tx=str(p.tx_hash)))
    print(say("cli.demo.act3_booked", confirmations=str(result.confirmations),
              state=word(say, "prop.state", p.state)) + "\n")
    print(say("cli.demo.act4"))
    print(render_custody(result.after, "table", say.lang))
    for lang in ("ja", "en"):
        (folder / f"custody-report.{lang}.html").write_text(
            render_custody(result.after, "html", lang), encoding="utf-8")
    print(say("cli.demo.act5"))
    emit(["step", "id", "customer", "ETH", "state", "why"],
         [[_step(say, label), v.id, v.customer, rt.show("ETH", v.amount),
           word(say, "wd.state", v.state),
           "; ".join(say.text(h.reason) for h in v.decision.hits)
           or say("cli.demo.no_rule")]
          for label, v in result.withdrawals], "table", right=("ETH",))
    print(say("cli.demo.act5_breaker", scopes=", ".join(result.tripped) or say("none"))
          + "\n")
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
        print(say("cli.demo.act9"))
        for label, paths in zip((say("cli.demo.kinko_exchange"), say("cli.demo.setup_2018")),
                                reports, strict=True):
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
    head = f"{verify.head[1][:16]}…"
    print(say("cli.demo.verify_ok", entries=str(verify.entries), head=head) if verify.ok
          else say("cli.demo.verify_failed", entries=str(verify.entries), head=head))
    print("\n" + say("cli.demo.outputs", folder=str(folder), replay=written.name,
                      database=cosigned.database.name, config=cosigned.cosign_config.name,
                      config_path=str(cosigned.cosign_config), pin=repr(HSM_PIN)))
    print(say("cli.demo.explore", url=f"sqlite:///{db}",
              incident=result.replay.incident or "ID"))
    print(say("cli.demo.password", password=repr(DEMO_PASSWORD)))
    _dashboard_help(rt.settings.database_url, f"sqlite:///{db2018}", folder, keys,
                    result.replay.incident, incident2018,
                    (f"sqlite:///{cosigned.database}", cosigned.result.run.incident))


# The demo's withdrawal steps, as the demo's service labels them, with their words.
_STEPS = {"normal": N_("cli.demo.step.normal"),
          "large, new address": N_("cli.demo.step.large_new"),
          "large, after alice and bob": N_("cli.demo.step.large_approved"),
          "to a TagPack-listed address": N_("cli.demo.step.listed"),
          "after the breaker tripped": N_("cli.demo.step.after_breaker")}


def _step(say: Localizer, label: str) -> str:
    """A withdrawal step of act 5 in ``say``'s language (``burst N`` with its number)."""
    if say.lang == "en":
        return label
    if label.startswith("burst "):
        return say("cli.demo.step.burst", n=label.removeprefix("burst "))
    return say(_STEPS[label]) if label in _STEPS else label


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
    with progress(speech()("cli.demo.progress_2018")) as advance:
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
    print(speech()("cli.demo.act10", customers=f"{snap.customers:,}",
                   root=f"{root_hash[:16]}…", folder=f"{out}/", seconds=f"{seconds:.1f}"))
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
    say = rt.say
    print(say("cli.demo.act8", incident=incident,
              amount=f"{Decimal(rt.show('XEM', run.taken)):,}"))
    emit(["funds in the ledger", "customers", "refunds (JPY)", "rounding remainder",
          "yen available", "funds check"],
         [[(say("cli.demo.no_own_yen") if label == "before" else say("cli.demo.own_yen")),
           f"{len(plan.customers):,}", f"¥{plan.total_refund:,}",
           _grouped(decimal_text(plan.remainder)),
           f"¥{plan.funds.available:,}",
           say("cli.refunds.confirmed") if plan.funds.confirmed else
           say("cli.refunds.short", amount=f"¥{plan.funds.required - plan.funds.available:,}")]
          for label, plan, _out in plans], "table",
         right=("customers", "refunds (JPY)", "yen available"))
    print(say("cli.demo.act8_plans", unfunded=str(plans[0][2]), funded=str(plans[1][2]))
          + "\n")
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
    say = rt.say
    print(say("cli.demo.act7", thefts=str(len(run.thefts)),
              transfers=str(haircut["counts"]["transfers"])))
    emit(["exchange", "exposure (haircut)", "exposure (poison)"],
         [[e, format(Decimal(rt.show("XEM", exposure["haircut"].get(e, 0))), ","),
           format(Decimal(rt.show("XEM", exposure["poison"].get(e, 0))), ",")]
          for e in entities], "table", right=("exposure (haircut)", "exposure (poison)"))
    totals = haircut["totals"]
    def units(value: int) -> str:
        return format(Decimal(rt.show("XEM", value)), ",")

    print(say("cli.demo.act7_haircut", seeded=units(totals["seeded"]),
              held=units(totals["held"]), absorbed=units(totals["absorbed"]),
              burned=units(totals["burned"]),
              conservation=say("cli.demo.holds") if haircut["conservation"]["holds"]
              else say("cli.demo.fails")))
    print(say("cli.demo.act7_blacklist", count=str(listed), path=str(blacklist),
              folder=str(out)))
    print(say("cli.demo.act7_transfers", count=str(len(traced.transfers)),
              path=str(transfers), tx=run.thefts[0].tx_hash, tags=str(tagpack),
              replay=str(folder / "replay.json")) + "\n")
    return out, transfers


def _replay_table(rt: Runtime, old: ReplayRun, new: ReplayRun, signed: ReplayRun) -> None:
    say = rt.say

    def xem(units: int) -> str:
        return format(Decimal(rt.show("XEM", units)), ",")

    def share(run: ReplayRun) -> str:
        pct = Decimal(run.exposed * 100) / Decimal(run.customer_xem or 1)
        return f"{xem(run.exposed)} ({pct.quantize(Decimal('0.1'))}%)"

    def alarm(run: ReplayRun) -> str:
        if run.alarm_seconds is None:
            return say("cli.demo.no_alarm", seconds=f"{COINCHECK['detected_after_s']:,}",
                       at=str(COINCHECK["detected"]))
        blocks = (say("cli.demo.same_block") if run.alarm_blocks == 0
                  else say("cli.demo.blocks_later", blocks=str(run.alarm_blocks)))
        return say("cli.demo.alarm", seconds=f"{run.alarm_seconds:.3f}", blocks=blocks,
                   id=str(run.alarm_id))

    def held(run: ReplayRun) -> str:
        if not run.requested_after:
            return say("cli.demo.none_held")
        words = {"blocked": N_("cli.demo.held_blocked"), "review": N_("cli.demo.held_review")}
        states = Counter(v.state for v in run.stopped)
        return say("cli.demo.stopped", stopped=str(len(run.stopped)),
                   requested=str(run.requested_after),
                   how=", ".join(say(words[s], n=str(n)) for s, n in sorted(states.items())))

    by = (say("cli.demo.by_cosigner") if (signed.alarm_id or "").startswith("A-cosign-")
          else say("cli.demo.by_watch"))
    none = say("none")
    signed_alarm = (none if signed.alarm_seconds is None else
                    say("cli.demo.signed_alarm", seconds=f"{signed.alarm_seconds:.3f}", by=by,
                        id=str(signed.alarm_id)))
    rows = [
        [say("cli.demo.row.customers"), f"{old.customers:,}", f"{new.customers:,}",
         f"{signed.customers:,}"],
        [say("cli.demo.row.owed"), xem(old.customer_xem), xem(new.customer_xem),
         xem(signed.customer_xem)],
        [say("cli.demo.row.online"), share(old), share(new), share(signed)],
        [say("cli.demo.row.thefts"), str(len(old.thefts)), str(len(new.thefts)),
         str(len(signed.thefts))],
        [say("cli.demo.row.taken"), xem(old.taken), xem(new.taken), xem(signed.taken)],
        [say("cli.demo.row.alarm"), alarm(old), alarm(new), signed_alarm],
        [say("cli.demo.row.breaker"), ", ".join(old.breaker) or none,
         ", ".join(new.breaker) or none, ", ".join(signed.breaker) or none],
        [say("cli.demo.row.withdrawals"), held(old), held(new),
         say("cli.demo.held_by_breaker") if signed.breaker else say("cli.demo.not_held")],
        [say("cli.demo.row.sweep"), say("cli.demo.no_sweep"),
         say("cli.demo.swept", amount=xem(new.swept), note=new.sweep_note)
         if new.swept else say("cli.demo.nothing_swept",
                               note=new.sweep_note or say("cli.demo.no_sweep")),
         say("cli.demo.nothing_to_race", note=signed.sweep_note)
         if signed.sweep_note else say("cli.demo.no_sweep")],
        [say("cli.demo.row.left"), xem(old.left_hot), xem(new.left_hot),
         xem(signed.left_hot)],
    ]
    print(say("cli.demo.act6"))
    emit(["", "2018 setup (all hot, no watch)", "kinko (95% cold, watch running)",
          "kinko co-signed (2-of-3 Safe, HSM keys)"], rows, "table")
    print(say("cli.demo.act6_times") + "\n")


def _timeline(rt: Runtime, incident: str | None) -> None:
    if incident is None:
        return
    say = rt.say
    view = Incidents(rt.store(), SystemClock()).incident(incident)
    emit(["at (UTC)", "kind", "actor", "detail"],
         [[e["at"].strftime("%H:%M:%S.%f")[:-3], word(say, "inc.ev", e["kind"]), e["actor"],
           say.text(e["detail"])]
          for e in view.timeline], "table",
         title=say("cli.demo.timeline", incident=incident))


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
    say = speech()
    print("\n" + say("cli.demo.dashboard"))
    for label, db, port, which, about in (
            (say("cli.demo.the_kinko_exchange"), url, 8000, "kinko",
             say("cli.demo.about_kinko", incident=incident or "-")),
            (say("cli.demo.the_2018_setup"), url2018, 8001, "2018",
             say("cli.demo.about_2018", incident=incident2018)),
            (say("cli.demo.the_cosigned_exchange"), signed[0], 8002, "co-signed",
             say("cli.demo.about_cosigned", incident=signed[1] or "-"))):
        print(f"  {label} ({about}):")
        print(f"    KINKO_DATABASE_URL={db} KINKO_DATA_DIR={folder} {kinko} serve "
              f"--port {port}")
        print(say("cli.demo.sign_in", port=str(port), admin=keys[which]["admin"],
                  auditor=keys[which]["auditor"]))
