"""``kinko withdrawals``, ``kinko denylist`` and ``kinko breaker``."""

from __future__ import annotations

from pathlib import Path

import typer

from kinko.cli.app import app
from kinko.cli.custody import signature_for
from kinko.cli.runtime import cli_actor, emit, format_option, runtime, word
from kinko.domain.messages import msg, verbatim
from kinko.domain.money import parse_units
from kinko.domain.screening import RULE_KINDS
from kinko.domain.states import WITHDRAWAL_STATES
from kinko.errors import TierRefused
from kinko.i18n import ENGLISH, Localizer
from kinko.services.withdrawals import Withdrawals, WithdrawalView

withdrawals_app = typer.Typer(help="Withdrawals: screened, reviewed, sent, confirmed.",
                              no_args_is_help=True)
denylist_app = typer.Typer(help="Deny lists (GraphSense TagPacks, CSV).", no_args_is_help=True)
breaker_app = typer.Typer(help="The circuit breaker, per asset or global (*).",
                          no_args_is_help=True)
app.add_typer(withdrawals_app, name="withdrawals")
app.add_typer(denylist_app, name="denylist")
app.add_typer(breaker_app, name="breaker")


TIER_REFUSED = ("a withdrawal request cannot name a tier: the customer's tier is recorded in "
                "kinko (`kinko customers tier CUSTOMER TIER --by NAME`) and applies to every "
                "request")


def _service(ctx: typer.Context) -> Withdrawals:
    return Withdrawals(runtime(ctx).custody())


def _show(ctx: typer.Context, views: list[WithdrawalView], fmt: str) -> None:
    rt = runtime(ctx)
    cells = rt.cells(fmt)
    emit(["id", "customer", "amount", "asset", "to", "state", "decision", "approvals", "tx"],
         [[v.id, v.customer, rt.show(v.asset, v.amount), v.asset, v.destination,
           word(cells, "wd.state", v.state), word(cells, "wd.outcome", v.decision.outcome),
           f"{v.approvals}/{v.quorum}" if v.quorum else "",
           v.tx_hash or ""] for v in views], fmt, right=("amount",))


@withdrawals_app.command("request")
def request(
    ctx: typer.Context,
    withdrawal_id: str = typer.Argument(..., help="The request id (idempotent)."),
    customer: str = typer.Option(..., "--customer", help="The customer whose funds are "
                                 "withdrawn (their id)."),
    asset: str = typer.Option(..., "--asset", help="The asset to withdraw, e.g. XEM."),
    amount: str = typer.Option(..., "--amount", help="Whole units, e.g. 1.5."),
    to: str = typer.Option(..., "--to", help="Destination address."),
    requester: str = typer.Option(None, "--requester",
                                  help="Who asks, if not the customer (may not approve it)."),
    tier: str = typer.Option(None, "--tier", hidden=True),
    fmt: str = format_option(),
) -> None:
    """Screen a withdrawal and reserve its funds (the customer's recorded tier applies)."""
    if tier is not None:
        raise TierRefused(TIER_REFUSED, says=msg("error.withdrawal.tier_named_cli"))
    rt = runtime(ctx)
    units = parse_units(amount, rt.assets[asset])
    view = _service(ctx).request(withdrawal_id, customer, asset, units, to, requester,
                                 actor=f"cli:{requester or 'customer:' + customer}")
    _show(ctx, [view], fmt)
    for line in view.decision.explain():
        print(f"  {rt.say.text(line)}")


@withdrawals_app.command("list")
def list_(ctx: typer.Context, state: str = typer.Option(
        None, "--state", help=", ".join(WITHDRAWAL_STATES) + "."),
          customer: str = typer.Option(None, "--customer",
                                       help="Only this customer's withdrawals (their id)."),
          fmt: str = format_option()) -> None:
    """Withdrawals, newest first."""
    _show(ctx, _service(ctx).find(state, customer), fmt)


@withdrawals_app.command("show")
def show(ctx: typer.Context, withdrawal_id: str, fmt: str = format_option()) -> None:
    """One withdrawal: state, decision, approvals, transaction (and why it was rejected or
    failed)."""
    view = _service(ctx).get(withdrawal_id)
    _show(ctx, [view], fmt)
    if fmt == "table" and view.closed_why is not None:
        print(closed_line(view, runtime(ctx).say))


def closed_line(view: WithdrawalView, say: Localizer = ENGLISH) -> str:
    """Who closed a rejected or failed withdrawal and why, in ``say``'s language."""
    assert view.closed_why is not None
    state = word(say, "wd.state", view.state)
    if view.closed_by:
        return say("cli.withdrawals.closed_by", state=state, by=view.closed_by,
                   why=say.text(view.closed_why))
    return say("cli.withdrawals.closed", state=state, why=say.text(view.closed_why))


@withdrawals_app.command("explain")
def explain(ctx: typer.Context, withdrawal_id: str) -> None:
    """Why a withdrawal was allowed, held or blocked: every rule hit and the policy version."""
    view = _service(ctx).get(withdrawal_id)
    say = runtime(ctx).say
    print(say("cli.withdrawals.explain", id=view.id, state=word(say, "wd.state", view.state),
              decision=word(say, "wd.outcome", view.decision.outcome),
              version=str(view.decision.policy_version)))
    for line in view.decision.explain():
        print(f"  {say.text(line)}")
    if view.closed_why is not None:
        print(closed_line(view, say))


@withdrawals_app.command("approve")
def approve(ctx: typer.Context, withdrawal_id: str,
            approver: str = typer.Option(..., "--approver", help="Approver name as in the "
                                         "policy (never the withdrawal's requester)."),
            key: Path = typer.Option(None, "--key", help="Sign here with this private key file."),
            signature: str = typer.Option(None, "--signature", help="Or a signature made offline."),
            ) -> None:
    """Approve a withdrawal held for review (m of n; never the requester)."""
    service = _service(ctx)
    proposal_id = f"withdrawal-{withdrawal_id}"
    view = service.approve(withdrawal_id, approver,
                           signature_for(service.custody, proposal_id, key, signature),
                           actor=f"cli:{approver}")
    say = runtime(ctx).say
    state = word(say, "wd.state", view.state)
    print(say("cli.withdrawals.approvals", id=withdrawal_id, state=state,
              approvals=f"{view.approvals}/{view.quorum}")
          if view.state == "review" else say("cli.withdrawals.state", id=withdrawal_id,
                                             state=state))


@withdrawals_app.command("reject")
def reject(ctx: typer.Context, withdrawal_id: str,
           by: str = typer.Option(..., "--by", help="Who rejects it (shown with the "
                                  "withdrawal and recorded in the audit log)."),
           reason: str = typer.Option(..., "--reason", help="Why, as written (shown with the "
                                      "withdrawal and kept in the audit log).")) -> None:
    """Reject a withdrawal; its funds are released."""
    view = _service(ctx).reject(withdrawal_id, by, reason, actor=f"cli:{by}")
    say = runtime(ctx).say
    print(say("cli.withdrawals.state", id=withdrawal_id, state=word(say, "wd.state",
                                                                   view.state)))


@withdrawals_app.command("cost")
def cost(ctx: typer.Context, withdrawal_id: str) -> None:
    """What sending a withdrawal costs: the network fee and who pays it, and a levy its asset
    makes every transfer pay (a levied NEM mosaic), exactly."""
    rt = runtime(ctx)
    service = _service(ctx)
    view = service.get(withdrawal_id)
    fee = service.cost(withdrawal_id)
    coin = next((a for a in rt.assets.values() if a.chain == rt.assets[view.asset].chain
                 and a.token is None), None)
    shown = f"{rt.show(coin.symbol, fee.amount)} {coin.symbol}" if coin else str(fee.amount)
    say = rt.say
    payer = fee.payer
    print(say("cli.withdrawals.cost", id=withdrawal_id,
              amount=f"{rt.show(view.asset, view.amount)} {view.asset}",
              to=view.destination, fee=shown, payer=payer))
    for mosaic, recipient, due in fee.levies:
        levied = next((a for a in rt.assets.values() if (a.token or "") == mosaic
                       or (a.token is None and mosaic == "nem:xem"
                           and a.chain == rt.assets[view.asset].chain)), None)
        amount = f"{rt.show(levied.symbol, due)} {levied.symbol}" if levied else \
            say("cli.withdrawals.units_of", units=str(due), mosaic=mosaic)
        print(say("cli.withdrawals.levy", amount=amount, to=recipient, payer=payer))


@withdrawals_app.command("send")
def send(ctx: typer.Context, withdrawal_id: str) -> None:
    """Sign and broadcast an allowed or approved withdrawal."""
    view = _service(ctx).send(withdrawal_id)
    print(runtime(ctx).say("cli.withdrawals.sent", id=withdrawal_id, tx=str(view.tx_hash)))


@withdrawals_app.command("confirm")
def confirm(ctx: typer.Context, withdrawal_id: str) -> None:
    """Book a sent withdrawal once it has enough confirmations."""
    view = _service(ctx).confirm(withdrawal_id)
    say = runtime(ctx).say
    print(say("cli.withdrawals.confirmed", id=withdrawal_id) if view
          else say("cli.withdrawals.unconfirmed", id=withdrawal_id))


@withdrawals_app.command("expire")
def expire(ctx: typer.Context) -> None:
    """Expire withdrawals whose reservation expired, or whose review lapsed under the policy
    in force (their funds released)."""
    ids = _service(ctx).expire()
    say = runtime(ctx).say
    print(say("cli.withdrawals.expired", ids=say.join(ids) if ids else say("none")))


@withdrawals_app.command("allow")
def allow(ctx: typer.Context, customer: str,
          asset: str = typer.Option(..., "--asset", help="An asset of the address's chain: "
                                    "the address is checked and kept as that chain writes "
                                    "it."),
          address: str = typer.Option(..., "--address", help="The destination address the "
                                      "customer may withdraw to.")) -> None:
    """Put an address on a customer's allow list (the cooling-off period starts now)."""
    allowed = _service(ctx).allow(customer, address, asset)
    print(runtime(ctx).say("cli.withdrawals.allowed", address=allowed, customer=customer))


@withdrawals_app.command("rules")
def rules(ctx: typer.Context) -> None:
    """The rule kinds a policy can use, and their parameters (in Japanese, the catalog's
    words for each; in English, their full description)."""
    say = runtime(ctx).say
    for kind in RULE_KINDS.values():
        doc = kind.doc if say.lang == "en" else say.word("rule.kind", kind.kind)
        print(say("cli.withdrawals.rule", kind=kind.kind, doc=doc))
        for name, param in kind.params.items():
            meaning = param.meaning if say.lang == "en" else say.word("rule.param", name)
            print(say("cli.withdrawals.rule_param", name=name, meaning=meaning))


@denylist_app.command("load")
def denylist_load(ctx: typer.Context, file: Path,
                  by: str = typer.Option(None, "--by", help="Who loads it (recorded in the "
                                         "audit log).")) -> None:
    """Load a deny list: a GraphSense TagPack (.yaml) or a CSV with an address column."""
    loaded = _service(ctx).load_deny_list(
        file, invalid=runtime(ctx).settings.list_invalid_addresses,
        actor=cli_actor(by))
    for kept in loaded.kept:
        print(kept)
    print(runtime(ctx).say("cli.denylist.loaded", file=str(file), read=str(loaded.read),
                           new=str(loaded.new)))


@breaker_app.command("status")
def breaker_status(ctx: typer.Context, fmt: str = format_option()) -> None:
    """Tripped breakers, and the log of every trip and reset."""
    service = _service(ctx)
    rt = runtime(ctx)
    tripped = service.breaker()
    print(rt.say("cli.breaker.tripped_list",
                 scopes=", ".join(sorted(tripped)) or rt.say("none")))
    cells = rt.cells(fmt)
    emit(["scope", "event", "at", "by", "reason"],
         [[e["scope"], word(cells, "brk.ev", e["event"]), e["at"].isoformat(), e["by"],
           cells.text(e["reason"])]
          for e in service.breaker_log()], fmt)


@breaker_app.command("trip")
def breaker_trip(ctx: typer.Context, scope: str = typer.Argument(..., help="Asset or *."),
                 by: str = typer.Option(..., "--by", help="Who trips it (recorded in the "
                                        "breaker's log, the audit log and the timeline of "
                                        "every open or contained incident of its scope)."),
                 reason: str = typer.Option(..., "--reason", help="Why, as written (kept in "
                                            "the breaker's log: `kinko breaker status`).")
                 ) -> None:
    """Trip a breaker by hand: every withdrawal of its scope goes to review."""
    _service(ctx).trip(scope, by, verbatim(reason), actor=f"cli:{by}")
    print(runtime(ctx).say("cli.breaker.tripped", scope=scope))


@breaker_app.command("reset")
def breaker_reset(ctx: typer.Context, scope: str,
                  by: str = typer.Option(..., "--by", help="Your name: the proposer of the "
                                         "reset (recorded in the audit log).")) -> None:
    """Propose a reset; it takes effect when a quorum approves (`kinko breaker approve`)."""
    view = _service(ctx).propose_reset(scope, by, actor=f"cli:{by}")
    print(runtime(ctx).say("cli.breaker.reset_proposed", id=view.proposal.id,
                           quorum=str(view.quorum)))


@breaker_app.command("approve")
def breaker_approve(ctx: typer.Context, proposal_id: str,
                    approver: str = typer.Option(..., "--approver",
                                                 help="Approver name as in the policy."),
                    key: Path = typer.Option(None, "--key",
                                             help="Sign here with this private key file."),
                    signature: str = typer.Option(None, "--signature", help="Or: a signature "
                                                  "made offline (`kinko approvers sign`).")
                    ) -> None:
    """Approve a breaker reset; at quorum the breaker is reset (another kind of proposal
    is refused before anything is recorded: `kinko proposals approve` takes every kind)."""
    service = _service(ctx)
    done = service.approve_reset(proposal_id, approver,
                                 signature_for(service.custody, proposal_id, key, signature),
                                 actor=f"cli:{approver}")
    say = runtime(ctx).say
    print(say("cli.breaker.reset") if done else say("cli.breaker.approval_recorded"))
