"""Words for people stored as catalog messages (kinko.domain.messages), and the watch's
heartbeat.

Earlier versions stored English sentences: alerts' details, incidents' titles, the timeline,
breaker reasons, proposals' details, the titles of indexed files and the hits of every
withdrawal's screening decision. Each sentence kinko wrote itself is read back into its
message (the id and the parameters it was made from: amounts become exact units of their
asset again, states and kinds become words of the catalog), so it reads in Japanese as in
English. Anything else (what a person typed: notes, reasons, titles given by hand; a
sentence of a shape this version does not know) is kept exactly as written, shown as it is.
A trace's timeline entry that named the folder it was written to names the trace instead.

``watch_heartbeat`` is new: one row per chain the watch follows, written every round (the
last block read, the node's head then, when), so a silent watch is seen.

Downgrading writes every message back as its English sentence.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa
from alembic import op

from kinko.domain.messages import N_, Message, Percent, Units, decode, from_data, msg, verbatim
from kinko.domain.money import DEFAULT_ASSETS
from kinko.domain.screening import duration_text

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_KIND_DOCS = {  # the English defaults earlier versions stored as a rule's reason
    "One withdrawal above a maximum (per asset, optionally per tier).": "max_amount",
    "Rolling window of amount and/or count per customer, per destination, per asset or "
    "across everyone.": "window",
    "One withdrawal taking more than a share of the hot wallet's balance.": "hot_share",
    "Destination not on the customer's allow list, or added less than a cooling-off period "
    "ago.": "allow_list",
    "Destination on a deny list (GraphSense TagPacks, CSV lists such as sanctions or "
    "phishing labels, trace results).": "deny_list",
    "Amount far from the customer's own history: robust z-score 0.6745·(x − median)/MAD "
    "above a threshold.": "zscore",
    "First withdrawal by this customer to this destination.": "new_destination",
    "Requested at a local hour when this exchange's customers rarely act.": "unusual_hour",
    "The asset's outflow over a window, this request included, above a multiple of its "
    "average over the windows before (trips the breaker).": "outflow_rate",
    "the paying wallet's key leaked: nothing is paid from it": "compromised",
    "the circuit breaker is tripped": "breaker",
}
_SEEN = r"seen (?P<where>in the mempool|in block (?P<seenblock>\d+))"


class _Reader:
    """Turns the English sentences earlier versions wrote back into messages."""

    def __init__(self, decimals: dict[str, int], versions: dict[str, int]) -> None:
        self.decimals = decimals
        self.versions = versions  # proposal id → the policy version it was made under

    # -- parameters

    def units(self, text: str, asset: str) -> Units:
        minor = re.fullmatch(r"(\d+) minor units of (\S+)", f"{text} {asset}")
        if minor:
            return Units(int(minor.group(1)), minor.group(2), 0)
        places = self.decimals.get(asset, 0)
        value = Decimal(text.replace(",", "")).scaleb(places)
        if value != value.to_integral_value():
            raise ValueError(f"{text} {asset} has more decimals than {asset}")
        return Units(int(value), asset, places)

    @staticmethod
    def duration(text: str) -> str:
        """A window as earlier versions wrote it (``1 day, 0:00:00``, ``2:00:00``)."""
        found = re.fullmatch(r"(?:(\d+) days?, )?(\d+):(\d\d):(\d\d)(?:\.\d+)?", text.strip())
        if found is None:
            return text
        days, hours, minutes, seconds = (int(g or 0) for g in found.groups())
        return duration_text(timedelta(days=days, hours=hours, minutes=minutes,
                                       seconds=seconds))

    @staticmethod
    def where(m: re.Match[str]) -> Message:
        block = m.group("seenblock")
        return msg("alert.seen.mempool") if block is None else msg("alert.seen.block",
                                                                  block=block)

    @staticmethod
    def scope(text: str) -> Message | str:
        return msg("brk.all") if text in ("*", "global") else text

    # -- the sentences, by where they were stored

    def alert(self, text: str) -> Message | None:
        m = re.fullmatch(r"(?P<wallet>\S+): (?P<amount>\S+(?: minor units of)?) (?P<asset>\S+) "
                         r"left (?P<sender>\S+) for (?P<to>\S*) in (?P<tx>\S+) \(nonce "
                         r"(?P<nonce>\d+)\) with no approved withdrawal or rebalance; " + _SEEN,
                         text)
        if m:
            return msg("alert.theft", wallet=m["wallet"],
                       amount=self.units(m["amount"], m["asset"]), sender=m["sender"],
                       to=m["to"], tx=m["tx"], nonce=m["nonce"], where=self.where(m))
        m = re.fullmatch(r"(?P<wallet>\S+): transaction (?P<tx>\S+) from (?P<sender>\S+) "
                         r"\(nonce (?P<nonce>\d+)\) to (?P<to>\S*) was not made by kinko; "
                         + _SEEN + r"\. Someone else holds this wallet's key\.", text)
        if m:
            return msg("alert.unknown_tx", wallet=m["wallet"], tx=m["tx"],
                       sender=m["sender"], nonce=m["nonce"], to=m["to"], where=self.where(m))
        m = re.fullmatch(r"(?P<amount>\S+(?: minor units of)?) (?P<asset>\S+) arrived at "
                         r"(?P<wallet>\S+) from (?P<sender>\S+), which is on a deny list "
                         r"\((?P<label>.*)\); frozen", text)
        if m:
            return msg("alert.denied_deposit", amount=self.units(m["amount"], m["asset"]),
                       wallet=m["wallet"], sender=m["sender"], label=m["label"])
        m = re.fullmatch(r"(?P<wallet>\S+): balance fell by (?P<drop>\S+) (?P<asset>\S+) "
                         r"\((?P<pct>\d+)% of (?P<start>\S+)\) between blocks (?P<first>\d+) "
                         r"and (?P<last>\d+) without approved movements that explain it "
                         r"\(threshold (?P<threshold>\S+)% in (?P<window>\d+) s\)", text)
        if m:
            return msg("alert.balance_drop", wallet=m["wallet"],
                       drop=self.units(m["drop"], m["asset"]),
                       share=Percent(Decimal(m["pct"]) / 100, 0),
                       start=self.units(m["start"], m["asset"]), first=m["first"],
                       last=m["last"], threshold=Percent(Decimal(m["threshold"]) / 100),
                       window=int(m["window"]))
        return None

    def title(self, text: str) -> Message | None:
        m = re.fullmatch(r"Unauthorised outflow from (?P<wallet>\S+)", text)
        return msg("incident.title.outflow", wallet=m["wallet"]) if m else None

    def breaker(self, text: str) -> Message | None:
        m = re.fullmatch(r"(?P<kind>theft|unknown_tx|balance_drop|denied_deposit): "
                         r"(?P<tx>\S*)", text)
        if m:
            return msg("breaker.reason.alert", alert=msg(f"al.kind.{m['kind']}"), tx=m["tx"])
        m = re.fullmatch(r"quorum-approved (?P<proposal>\S+)", text)
        if m:
            return msg("breaker.reason.quorum", proposal=m["proposal"])
        return self.hit(text)

    def event(self, kind: str, text: str) -> Message | None:
        if kind in ("note", "cause"):
            return None
        rules: list[tuple[str, Callable[[re.Match[str]], Message]]] = [
            (r"incident opened by alert (?P<alert>\S+)",
             lambda m: msg("timeline.opened.by_alert", alert=m["alert"])),
            (r"opened by hand: (?P<title>.*)",
             lambda m: msg("timeline.opened.by_hand", title=verbatim(m["title"]))),
            (r"(?P<alert>A-\d+): (?P<detail>.*)",
             lambda m: msg("timeline.alert", alert=m["alert"],
                           detail=self.alert(m["detail"]) or verbatim(m["detail"]))),
            (r"(?P<tx>\S+) included in block (?P<block>\d+)(?P<again> again after a "
             r"reorganisation)?",
             lambda m: msg(N_("timeline.chain.included_again") if m["again"] else
                           N_("timeline.chain.included"), tx=m["tx"], block=m["block"])),
            (r"(?P<tx>\S+) left the chain in a reorganisation after block (?P<block>\d+); "
             r"watching for it to return",
             lambda m: msg("timeline.chain.retracted", tx=m["tx"], block=m["block"])),
            (r"breaker (?P<scope>\S+) tripped: every \S+ withdrawal is held for review",
             lambda m: msg("timeline.breaker.tripped", scope=self.scope(m["scope"]))),
            (r"breaker (?P<scope>\S+) tripped by hand: (?P<reason>.*)",
             lambda m: msg("timeline.breaker.tripped_by_hand", scope=self.scope(m["scope"]),
                           reason=verbatim(m["reason"]))),
            (r"breaker (?P<scope>\S+) reset by the quorum \((?P<proposal>[^)]+)\)",
             lambda m: msg("timeline.breaker.reset", scope=self.scope(m["scope"]),
                           proposal=m["proposal"])),
            (r"emergency sweep (?P<proposal>\S+) sent \((?P<amount>\S+) (?P<asset>\S+) to "
             r"(?P<target>\S+)\) as (?P<tx>\S+), pre-authorised by the policy; a race with "
             r"the attacker, who holds the same key",
             lambda m: msg("timeline.sweep.sent", proposal=m["proposal"],
                           amount=self.units(m["amount"], m["asset"]), target=m["target"],
                           tx=m["tx"], version=str(self.versions.get(m["proposal"], "?")))),
            (r"emergency sweep (?P<proposal>\S+) of (?P<amount>\S+) (?P<asset>\S+) to "
             r"(?P<target>\S+) waits for (?P<quorum>\d+) approvals; the attacker holds the "
             r"same key and may empty the wallet first",
             lambda m: msg("timeline.sweep.waits", proposal=m["proposal"],
                           amount=self.units(m["amount"], m["asset"]), target=m["target"],
                           quorum=int(m["quorum"]))),
            (r"emergency sweep (?P<proposal>\S+) could not be sent: (?P<reason>.*); the "
             r"attacker may have emptied the wallet first",
             lambda m: msg("timeline.sweep.send_failed", proposal=m["proposal"],
                           reason=m["reason"])),
            (r"emergency sweep of (?P<wallet>\S+) not prepared: the node did not say what is "
             r"left in it: (?P<reason>.*)",
             lambda m: msg("timeline.sweep.not_surveyed", wallet=m["wallet"],
                           reason=m["reason"])),
            (r"emergency sweep of (?P<wallet>\S+) not prepared: (?P<reason>.*)",
             lambda m: msg("timeline.sweep.not_prepared", wallet=m["wallet"],
                           reason=m["reason"])),
            (r"no cold address for (?P<asset>\S+): register one \(policy "
             r"assets\.<asset>\.emergency_address\)",
             lambda m: msg("timeline.sweep.no_cold_address", asset=m["asset"])),
            (r"(?P<amount>\S+) (?P<asset>\S+) stay in (?P<wallet>\S+): reserved for "
             r"withdrawals held, approved or being sent; .*",
             lambda m: msg("timeline.sweep.reserved", wallet=m["wallet"],
                           amount=self.units(m["amount"], m["asset"]))),
            (r"(?P<amount>\S+) (?P<asset>\S+) stay in (?P<wallet>\S+): set aside for the gas "
             r".*",
             lambda m: msg("timeline.sweep.gas_kept", wallet=m["wallet"],
                           amount=self.units(m["amount"], m["asset"]))),
            (r"(?P<wallet>\S+) is already empty: nothing left to sweep",
             lambda m: msg("timeline.sweep.empty", wallet=m["wallet"])),
            (r"(?P<count>\d+) withdrawal\(s\) waiting in (?P<wallet>\S+) rejected "
             r"\((?P<amount>\S+) (?P<asset>\S+) released to their customers\) so the "
             r"emergency sweep can take everything: (?P<ids>.*)",
             lambda m: msg("timeline.withdrawals.rejected", count=int(m["count"]),
                           wallet=m["wallet"], amount=self.units(m["amount"], m["asset"]),
                           ids=m["ids"])),
            (r"(?P<proposal>\S+) confirmed on chain and booked: (?P<amount>\S+) "
             r"(?P<asset>\S+) now in (?P<wallet>\S+)",
             lambda m: msg("timeline.sweep.booked", proposal=m["proposal"],
                           amount=self.units(m["amount"], m["asset"]), wallet=m["wallet"])),
            (r"(?P<approver>\S+) approved (?P<proposal>\S+)(?P<quorum> \(quorum reached\))?",
             lambda m: msg(N_("timeline.approval.quorum") if m["quorum"] else
                           N_("timeline.approval"), approver=m["approver"],
                           proposal=m["proposal"])),
            (r"(?P<alert>\S+) acknowledged(?:: (?P<note>.*))?",
             lambda m: msg(N_("timeline.ack.note") if m["note"] else N_("timeline.ack"),
                           alert=m["alert"], note=m["note"] or "")),
            (r"(?P<before>open|contained|resolved) → (?P<after>open|contained|resolved): "
             r"(?P<reason>.*)",
             lambda m: msg("timeline.state", before=msg(f"inc.state.{m['before']}"),
                           after=msg(f"inc.state.{m['after']}"), reason=m["reason"])),
            (r"losses booked to (?P<account>\S+): (?P<amount>[^,\s]+(?:,\d{3})*(?:\.\d+)?) "
             r"(?P<asset>[A-Z0-9]+)",
             lambda m: msg("timeline.loss.booked", account=m["account"],
                           amount=self.units(m["amount"], m["asset"]))),
            (r"(?P<amount>\S+) (?P<asset>\S+) lost from (?P<wallet>\S+), booked to "
             r"(?P<account>\S+) \((?P<source>.*)\)",
             lambda m: msg("timeline.loss.recorded", amount=self.units(m["amount"],
                                                                       m["asset"]),
                           wallet=m["wallet"], account=m["account"], source=m["source"])),
            (r"(?P<alert>\S+) delivered to (?P<url>\S+) \(attempt (?P<attempt>\d+)\)",
             lambda m: msg("timeline.notice.delivered", alert=m["alert"], url=m["url"],
                           attempt=int(m["attempt"]))),
            (r"(?P<policy>haircut|poison|fifo|lifo|tiho) trace written to .*: seeded "
             r"(?P<seeded>\d+), absorbed at exchanges (?P<absorbed>\d+) \(exposure: "
             r"(?P<exposure>.*)\); artifact (?P<trace>\S+)", self._trace),
            (r"(?P<policy>haircut|poison|fifo|lifo|tiho) trace (?P<trace>\S+): seeded "
             r"(?P<seeded>\d+), absorbed at exchanges (?P<absorbed>\d+) \(exposure: "
             r"(?P<exposure>.*)\)", self._trace),
            (r"(?P<policy>haircut|poison|fifo|lifo|tiho) trace (?P<trace>\S+) failed: "
             r"(?P<reason>.*)",
             lambda m: msg("timeline.trace.failed", policy=msg(f"tr.policy.{m['policy']}"),
                           trace=m["trace"], reason=m["reason"])),
        ]
        for pattern, make in rules:
            m = re.fullmatch(pattern, text)
            if m:
                return make(m)
        return None

    @staticmethod
    def _trace(m: re.Match[str]) -> Message:
        names = ", ".join(re.sub(r" \d+$", "", part) for part in m["exposure"].split(", ")
                          if part != "no exchange")
        return msg(N_("timeline.trace.done") if names else N_("timeline.trace.done_none"),
                   policy=msg(f"tr.policy.{m['policy']}"), trace=m["trace"],
                   seeded=int(m["seeded"]), absorbed=int(m["absorbed"]), exchanges=names)

    def proposal(self, text: str) -> Message | None:
        m = re.fullmatch(r"policy version (?P<version>\d+) \((?P<digest>\w+)\)", text)
        if m:
            return msg("proposal.policy", version=m["version"], digest=m["digest"])
        m = re.fullmatch(r"EMERGENCY sweep of (?P<wallet>\S+) for (?P<incident>\S+)"
                         r"(?P<auto> \(pre-authorised by policy\))?", text)
        if m:
            return msg("proposal.emergency_sweep", wallet=m["wallet"],
                       incident=m["incident"])
        m = re.fullmatch(r"online share above (?P<limit>\S+)%; sweep to (?P<target>\S+)%", text)
        if m:
            return msg("proposal.sweep.ratio", limit=Percent(Decimal(m["limit"]) / 100),
                       target=Percent(Decimal(m["target"]) / 100))
        if text == "hot wallet above its maximum":
            return msg("proposal.sweep.max")
        if text == "hot wallet below its minimum":
            return msg("proposal.refill.min")
        m = re.fullmatch(r"reset the (?P<scope>\S+) breaker", text)
        if m:
            return msg("proposal.breaker_reset", scope=self.scope(m["scope"]))
        rules = re.findall(r"(?:^|; )(?:allow|review|block): (\S+) \(", text)
        if rules:
            return msg("proposal.review", rules=", ".join(dict.fromkeys(rules)))
        return None

    def hit(self, text: str) -> Message | None:
        amount = r"(?P<amount>[\d,]+(?:\.\d+)?) (?P<asset>[A-Z0-9]+)"
        m = re.fullmatch(amount + r" is above (?P<limit>[\d,]+(?:\.\d+)?)", text)
        if m:
            return msg("hit.max_amount", amount=self.units(m["amount"], m["asset"]),
                       limit=self.units(m["limit"], m["asset"]))
        m = re.fullmatch(amount + r" per (?P<scope>\w+) within (?P<window>.+) \(limit "
                         r"(?P<limit>[\d,]+(?:\.\d+)?)\)", text)
        if m:
            return msg("hit.window_amount", amount=self.units(m["amount"], m["asset"]),
                       scope=msg(f"rule.scope.{m['scope']}"),
                       window=self.duration(m["window"]),
                       limit=self.units(m["limit"], m["asset"]))
        m = re.fullmatch(r"(?P<count>\d+) withdrawals per (?P<scope>\w+) within (?P<window>.+)"
                         r" \(limit (?P<limit>\d+)\)", text)
        if m:
            return msg("hit.window_count", count=int(m["count"]),
                       scope=msg(f"rule.scope.{m['scope']}"),
                       window=self.duration(m["window"]), limit=int(m["limit"]))
        m = re.fullmatch(r"(?P<share>[\d.]+)% of the hot wallet \(limit (?P<limit>\S+)%\)",
                         text)
        if m:
            return msg("hit.hot_share", share=Percent(Decimal(m["share"]) / 100, 1),
                       limit=Percent(Decimal(m["limit"]) / 100, 1))
        m = re.fullmatch(r"(?P<address>\S+) is not on the customer's allow list", text)
        if m:
            return msg("hit.allow_list.missing", address=m["address"])
        m = re.fullmatch(r"(?P<address>\S+) was added (?P<ago>.+) ago \(cooling-off "
                         r"(?P<period>.+)\)", text)
        if m:
            return msg("hit.allow_list.cooling", address=m["address"],
                       ago=self.duration(m["ago"]), period=self.duration(m["period"]))
        m = re.fullmatch(r"(?P<address>\S+) is listed as '(?P<label>.*)'(?: \((?P<actor>.*)\))?"
                         r" by (?P<source>.*)", text)
        if m:
            return msg("hit.deny_list", address=m["address"], source=m["source"],
                       label=m["label"] + (f" ({m['actor']})" if m["actor"] else ""))
        m = re.fullmatch(r"robust z-score (?P<z>\S+) over (?P<count>\d+) earlier withdrawals",
                         text)
        if m:
            return msg("hit.zscore", z=m["z"], count=int(m["count"]))
        m = re.fullmatch(r"(?P<amount>\d+) minor units against a constant history of "
                         r"(?P<usual>\d+)", text)
        if m:
            return msg("hit.zscore.constant_minor", amount=int(m["amount"]),
                       usual=int(m["usual"]))
        m = re.fullmatch(r"first withdrawal to (?P<address>\S+)", text)
        if m:
            return msg("hit.new_destination", address=m["address"])
        m = re.fullmatch(r"requested at (?P<hour>\d+)h local time", text)
        if m:
            return msg("hit.unusual_hour", hour=m["hour"])
        m = re.fullmatch(amount + r" within (?P<window>.+), baseline (?P<baseline>[\d,]+"
                         r"(?:\.\d+)?) per window", text)
        if m:
            return msg("hit.outflow_rate", amount=self.units(m["amount"], m["asset"]),
                       window=self.duration(m["window"]),
                       baseline=self.units(m["baseline"], m["asset"]))
        m = re.fullmatch(r"its key leaked in incident (?P<incident>\S+); withdrawals resume "
                         r"from a new hot wallet", text)
        if m:
            return msg("hit.compromised", incident=m["incident"])
        m = re.fullmatch(r"(?P<scope>\S+) breaker is tripped", text)
        if m:
            return msg("hit.breaker", scope=self.scope(m["scope"]))
        return None

    def reason(self, text: str) -> Message:
        kind = _KIND_DOCS.get(text)
        return msg(f"rule.kind.{kind}") if kind else verbatim(text)

    def decision(self, text: str) -> str:
        data = json.loads(text)
        for hit in data.get("hits", []):
            if isinstance(hit.get("reason"), str):
                hit["reason"] = self.reason(hit["reason"]).to_data()
            if isinstance(hit.get("detail"), str):
                hit["detail"] = self.safely(self.hit, hit["detail"]).to_data()
        return json.dumps(data, ensure_ascii=False)

    @staticmethod
    def safely(read: Callable[[str], Message | None], text: str) -> Message:
        """The message the sentence was made from, or the sentence as written."""
        try:
            found = read(text)
        except (ValueError, ArithmeticError, InvalidOperation, KeyError):
            found = None
        return found if found is not None else verbatim(text)


def _stored(value: str | None) -> bool:
    """Already a message (written by this version)."""
    return value is not None and value.startswith('{"id":')


def _rewrite(conn: sa.Connection, table: str, key: str, column: str,
             convert: Callable[[dict[str, Any]], str | None], *extra: str) -> None:
    """Rewrite ``column`` of every row of ``table`` (by ``key``), a page at a time."""
    t = sa.table(table, sa.column(key), sa.column(column), *(sa.column(c) for c in extra))
    last: Any = None
    while True:
        q = sa.select(t).order_by(t.c[key]).limit(1000)
        if last is not None:
            q = q.where(t.c[key] > last)
        rows = [dict(r._mapping) for r in conn.execute(q)]
        if not rows:
            return
        for row in rows:
            new = convert(row)
            if new is not None and new != row[column]:
                conn.execute(sa.update(t).where(t.c[key] == row[key]).values({column: new}))
        last = rows[-1][key]


def upgrade() -> None:
    op.create_table(
        "watch_heartbeat",
        sa.Column("chain", sa.String(32), primary_key=True),
        sa.Column("round_us", sa.BigInteger, nullable=False),
        sa.Column("started_us", sa.BigInteger, nullable=False),
        sa.Column("rounds", sa.BigInteger, nullable=False),
        sa.Column("last_block", sa.BigInteger, nullable=True),
        sa.Column("node_head", sa.BigInteger, nullable=True),
        sa.Column("interval_ms", sa.Integer, nullable=False),
    )
    conn = op.get_bind()
    decimals = {a.symbol: a.decimals for a in DEFAULT_ASSETS}
    decimals.update({r.symbol: int(r.decimals) for r in conn.execute(
        sa.text("SELECT symbol, decimals FROM assets"))})
    versions: dict[str, int] = {}
    for r in conn.execute(sa.text("SELECT id, canonical FROM proposals WHERE kind = 'sweep'")):
        try:
            versions[str(r.id)] = int(json.loads(r.canonical).get("policy_version"))
        except (ValueError, TypeError):
            continue
    read = _Reader(decimals, versions)

    def text_column(method: Callable[[str], Message | None], column: str
                    ) -> Callable[[dict[str, Any]], str | None]:
        def convert(row: dict[str, Any]) -> str | None:
            value = row[column]
            if _stored(value):
                return None
            return read.safely(method, value or "").to_json()
        return convert

    _rewrite(conn, "alerts", "id", "detail", text_column(read.alert, "detail"))
    _rewrite(conn, "incidents", "id", "title", text_column(read.title, "title"))
    _rewrite(conn, "breaker_events", "id", "reason", text_column(read.breaker, "reason"))
    _rewrite(conn, "proposals", "id", "detail", text_column(read.proposal, "detail"))
    _rewrite(conn, "artifacts", "id", "title", text_column(lambda _text: None, "title"))

    def event(row: dict[str, Any]) -> str | None:
        if _stored(row["detail"]):
            return None
        return read.safely(lambda text: read.event(str(row["kind"]), text),
                           row["detail"] or "").to_json()

    _rewrite(conn, "timeline", "id", "detail", event, "kind")

    def decision(row: dict[str, Any]) -> str | None:
        try:
            return read.decision(row["decision"])
        except (ValueError, TypeError, AttributeError):
            return None

    _rewrite(conn, "withdrawals", "id", "decision", decision)


def downgrade() -> None:
    from kinko.i18n import ENGLISH

    conn = op.get_bind()

    def english(column: str) -> Callable[[dict[str, Any]], str | None]:
        return lambda row: ENGLISH.text(decode(row[column]))

    for table, column in (("alerts", "detail"), ("incidents", "title"),
                          ("breaker_events", "reason"), ("proposals", "detail"),
                          ("artifacts", "title"), ("timeline", "detail")):
        _rewrite(conn, table, "id", column, english(column))

    def decision(row: dict[str, Any]) -> str | None:
        data = json.loads(row["decision"])
        for hit in data.get("hits", []):
            for field in ("reason", "detail"):
                hit[field] = ENGLISH.text(from_data(hit.get(field)))
        return json.dumps(data, ensure_ascii=False)

    _rewrite(conn, "withdrawals", "id", "decision", decision)
    op.drop_table("watch_heartbeat")
