"""The custody report as a table, CSV, JSON or a self-contained HTML page, in Japanese or
English.

Words come from the message catalogs (:mod:`kinko.i18n`; Japanese follows the FSA's wording:
ホットウォレット, コールドウォレット, 履行保証暗号資産, 分別管理). Amounts are shown exactly in
whole units of each asset with thousands separators; yen values are floored to the yen. The
verdict is red only when a legal test fails (5%, the performance guarantee, reserves);
a policy limit or a reconciliation difference alone is amber. The HTML page has no scripts
and loads nothing from the network, so it can be printed, archived or handed in as it is.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from decimal import Decimal
from importlib import resources
from typing import Any

from kinko.domain.custody import CustodyFinding, WalletSigning
from kinko.domain.policy import plain_decimal
from kinko.domain.report import CustodyReport, CustodyRow
from kinko.i18n import ENGLISH, JST, Localizer, environment
from kinko.render.tables import render_rows

__all__ = ["COLUMNS", "WALLET_COLUMNS", "finding_basis", "keys_text", "refusals_text",
           "render_custody", "signing_text", "verdict_text", "wallet_rows"]

COLUMNS = ["asset", "customers", "liabilities", "hot", "warm", "cold", "online_share", "limit",
           "own", "guarantee_required", "guarantee_held", "online_jpy", "cold_jpy"]


WALLET_COLUMNS = ["wallet", "asset", "tier", "signing", "keys", "refusals"]


def signing_text(w: WalletSigning, L: Localizer) -> str:
    """How a wallet is signed: one key, a Safe m-of-n, a co-signed Safe m-of-n."""
    if w.signing == "single_key":
        return L("sg.single_key")
    return L(f"sg.{w.signing}", m=w.threshold, n=w.owners)


def keys_text(w: WalletSigning, L: Localizer) -> str:
    """Where a wallet's keys live: kinko's own (HSM, file) and how many are offline."""
    where = L.word("kl", w.keys)
    if w.signing == "single_key":
        return where
    if w.keys == "offline":
        return L("kl.all_offline", n=w.offline)
    return L(f"kl.{w.signing}", kinko=where, offline=w.offline)


def refusals_text(w: WalletSigning, L: Localizer) -> str:
    """The co-signer's refusals for a wallet: how many, and the latest (when, why)."""
    if w.signing != "cosigned" and not w.refusals:
        return "—"
    if w.latest_refusal is None:
        return L("rf.none")
    at, code, alert = w.latest_refusal
    return L("rf.count", count=w.refusals, when=L.when(at), reason=L.word("cosign.reason", code),
             alert=alert)


def wallet_rows(report: CustodyReport, L: Localizer) -> list[list[str]]:
    """The wallets' table: name, asset, tier, signing, keys, refusals."""
    return [[w.wallet, w.asset, L.word("tier", w.tier), signing_text(w, L), keys_text(w, L),
             refusals_text(w, L)] for w in report.wallets]


def verdict_text(report: CustodyReport, L: Localizer) -> str:
    return L(f"cr.verdict.{report.verdict}")


def finding_basis(f: CustodyFinding, L: Localizer) -> str:
    """What a finding is measured against: the article of the law, the policy, the chain."""
    if f.law is not None:
        return L(f"law.{f.law.lower().replace('art. ', 'art').replace('-', '_')}")
    if f.code in ("wallet_short", "wallet_unbooked", "not_reconciled", "no_addresses",
                  "deep_reorg", "deposit_twice"):
        return L("cr.basis.reconciliation")
    if f.code == "backdated_entries":
        return L("cr.basis.books")
    return L("cr.basis.policy")


def _table_rows(report: CustodyReport, L: Localizer) -> list[list[str]]:
    def u(r: CustodyRow, value: int) -> str:
        return L.units(value, r.asset, r.decimals, symbol=False)

    return [[r.asset, L.number(r.customers), u(r, r.liabilities), u(r, r.hot), u(r, r.warm),
             u(r, r.cold), L.percent(r.online_share), L.percent(r.max_hot_ratio),
             u(r, r.own_funds), u(r, r.guarantee_required), u(r, r.guarantee_held),
             L.yen(r.online_jpy), L.yen(r.cold_jpy)]
            for r in report.rows]


def _json(report: CustodyReport) -> str:
    def row(r: CustodyRow) -> dict[str, Any]:
        return {
            "asset": r.asset, "customers": r.customers,
            "liabilities": str(r.liabilities), "hot": str(r.hot), "warm": str(r.warm),
            "cold": str(r.cold), "own_funds": str(r.own_funds),
            "online_share": None if r.online_share is None else plain_decimal(r.online_share),
            "max_hot_ratio": None if r.max_hot_ratio is None else plain_decimal(r.max_hot_ratio),
            "guarantee_required": str(r.guarantee_required),
            "guarantee_held": str(r.guarantee_held),
            "price_jpy": None if r.price_jpy is None else plain_decimal(r.price_jpy),
            "online_jpy": r.online_jpy, "cold_jpy": r.cold_jpy, "unit": "minor units",
        }

    return json.dumps({
        "generated_at": report.generated_at.isoformat(),
        "policy_version": report.policy_version,
        "assets": [row(r) for r in report.rows],
        "total_online_jpy": report.total_online_jpy, "total_jpy": report.total_jpy,
        "findings": [{"code": f.code, "severity": f.severity, "asset": f.asset,
                      "wallet": f.wallet, "law": f.law,
                      "message": ENGLISH.text(f.message), "message_id": f.message.to_data(),
                      "amount": None if f.amount is None else str(f.amount),
                      "addresses": list(f.addresses)} for f in report.findings],
        "pending": [asdict(p) for p in report.pending],
        "wallets": [{"wallet": w.wallet, "asset": w.asset, "tier": w.tier,
                     "signing": w.signing, "threshold": w.threshold, "owners": w.owners,
                     "keys": w.keys, "offline_keys": w.offline,
                     "cosigner_refusals": w.refusals,
                     "latest_refusal": None if w.latest_refusal is None else {
                         "at": w.latest_refusal[0].isoformat(),
                         "reason": w.latest_refusal[1], "alert": w.latest_refusal[2]}}
                    for w in report.wallets],
        "breach": bool(report.breaches),
        "legal_breach": bool(report.legal_breaches),
    }, indent=2, ensure_ascii=False) + "\n"


def render_custody(report: CustodyReport, fmt: str, lang: str = "ja") -> str:
    L = Localizer(lang, JST if lang == "ja" else None)
    if fmt == "json":
        return _json(report)
    header = [L(f"cr.{c}") for c in COLUMNS]
    if fmt in ("table", "csv"):
        text = render_rows(header, _table_rows(report, L), fmt, title=L("cr.title"),
                           right=header[1:])
        if fmt == "table":
            text += verdict_text(report, L) + "\n"
            for f in report.findings:
                text += (f"  [{L.word('cu.sev', f.severity)}] {L.text(f.message)} "
                         f"({finding_basis(f, L)})\n")
            if report.wallets:
                text += render_rows([L(f"cw.{c}") for c in WALLET_COLUMNS],
                                    wallet_rows(report, L), "table", title=L("cw.title"))
        return text
    template = environment(None, L.lang).from_string(
        resources.files("kinko.render").joinpath("templates/custody.html.j2").read_text("utf-8"))
    share = (Decimal(report.total_online_jpy) / Decimal(report.total_jpy)
             if report.total_online_jpy is not None and report.total_jpy else None)
    return template.render(
        L=L, report=report, header=header, rows=_table_rows(report, L),
        generated=L.when(report.generated_at), verdict=verdict_text(report, L),
        findings=[(f, L.text(f.message), finding_basis(f, L)) for f in report.findings],
        wallet_header=[L(f"cw.{c}") for c in WALLET_COLUMNS],
        wallets=wallet_rows(report, L),
        total_share=L.percent(share), total_limit=L.percent(report.total_max_hot_ratio),
        decimals={r.asset: r.decimals for r in report.rows})
