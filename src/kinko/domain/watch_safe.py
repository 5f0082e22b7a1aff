"""Watching Safes: a co-signed Safe moves only as kinko approved, and nobody changes it.

A Safe{Wallet} account moves money only through ``execTransaction``, carrying enough owners'
signatures over one SafeTx; the SafeL2 singleton kinko deploys emits, for each execution,
``SafeMultiSigTransaction`` (the SafeTx: to, value, data, operation, the Safe's nonce, who
sent it) and then ``ExecutionSuccess`` or ``ExecutionFailure`` with the SafeTx hash. The
watch reads a Safe's events with every block and judges them here (:func:`judge_safes`):

- **an execution kinko approved**: its SafeTx hash is one kinko recorded when it signed an
  approved withdrawal, sweep or refill (``signed_moves``), or one the owners signed offline
  for an approved proposal. It explains that transaction, once: a SafeTx hash already used by
  another transaction explains nothing more (the Safe's nonce makes a second execution of
  the same SafeTx impossible, and the watch does not rely on it). Whoever sent it (kinko's
  relayer, or someone who copied the signed call from the mempool) does not matter: the
  owners' signatures are what was approved. The native value it moved leaves by an internal
  call no transfer record shows: it is handed back as an outflow of the Safe
  (:attr:`SafeVerdict.internal`) matched to that movement, so the state watch sees the
  Safe's balance fall exactly as approved;
- **any other execution** (signed by the owners' keys directly, or by anyone holding enough
  of them): a critical ``safe_execution`` alarm, whatever it moved;
- **any change of control** (:data:`~kinko.domain.safe.CONFIGURATION_CHANGES`: owners,
  threshold, modules, guard, fallback handler), a module's execution, or a hash approved on
  chain by an owner (``approveHash``: a signature in its own right): a critical
  ``safe_change`` alarm; kinko approves none of these (it never signs a call to the Safe
  itself, :meth:`~kinko.domain.safe.SafeTx.check`);
- **a transaction sent from an owner key's own address** (the operations key, the
  co-signer's): its key has leaked, even when the Safe stops the thief
  (:func:`owner_key_alerts`, from the mempool where the node shows it, else from its block).

Every alarm is keyed by its transaction (:func:`~kinko.domain.watch.alert_key`), like a
theft: the mempool sighting and the mined event, the execution and the change of control it
made, are one alert. Everything here is pure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from kinko.domain.addresses import chain_key
from kinko.domain.chain import Transfer
from kinko.domain.messages import N_, Message, Units, msg
from kinko.domain.safe import CALL, PendingExecution, SafeEvent
from kinko.domain.watch import Alert, AlertKind, alert_key, recipient, seen_where

__all__ = ["OwnerKey", "SafeVerdict", "judge_pending", "judge_safes", "owner_key_alerts"]

# events that are no alarm by themselves: ETH received, the Safe's creation, a message
# signed through the Safe (only an execution can do that, and the execution is judged)
_QUIET = frozenset({"safe_received", "safe_setup", "sign_msg"})
_EXECUTIONS = frozenset({"execution_success", "execution_failure"})


@dataclass(frozen=True)
class OwnerKey:
    """An owner key of a watched Safe whose own address must never send: kinko's
    operations key or the policy co-signer's (``role``), for ``wallet``."""

    address: str  # canonical
    role: str  # operator, cosigner
    wallet: str
    asset: str


@dataclass
class SafeVerdict:
    """What one block's Safe events mean (see the module docstring)."""

    matched: dict[str, str] = field(default_factory=dict)  # lower tx hash -> approved ref
    internal: list[Transfer] = field(default_factory=list)  # native value Safes sent
    alerts: list[Alert] = field(default_factory=list)


_CHANGES = {  # event kind -> (message id, the event's fields it names)
    "added_owner": (N_("safe.change.added_owner"), ("owner",)),
    "removed_owner": (N_("safe.change.removed_owner"), ("owner",)),
    "changed_threshold": (N_("safe.change.changed_threshold"), ("threshold",)),
    "enabled_module": (N_("safe.change.enabled_module"), ("module",)),
    "disabled_module": (N_("safe.change.disabled_module"), ("module",)),
    "module_execution_success": (N_("safe.change.module_execution_success"), ("module",)),
    "module_execution_failure": (N_("safe.change.module_execution_failure"), ("module",)),
    "module_transaction": (N_("safe.change.module_transaction"), ("module", "to", "value")),
    "changed_guard": (N_("safe.change.changed_guard"), ("guard",)),
    "changed_fallback_handler": (N_("safe.change.changed_fallback_handler"), ("handler",)),
    "approve_hash": (N_("safe.change.approve_hash"), ("owner", "approved_hash")),
}


def _change(event: SafeEvent) -> Message:
    found = _CHANGES.get(event.kind)
    if found is None:
        return msg("safe.change.other", kind=event.kind)
    message_id, names = found
    return msg(message_id, **{name: str(event.fields.get(name, "")) for name in names})


def _join(changes: Sequence[Message]) -> Message:
    out = changes[-1]
    for change in reversed(changes[:-1]):
        out = msg("safe.change.and", first=change, rest=out)
    return out


def judge_safes(events: Sequence[SafeEvent], safes: Mapping[str, tuple[str, str]],
                approved: Mapping[str, str], used: Mapping[str, str], *, chain: str,
                native: str, decimals: int, block: int | None) -> SafeVerdict:
    """Judge the Safe ``events`` of one block (``block``; None: the mempool).

    ``safes`` maps a watched Safe's canonical address to (wallet, asset) of its wallet in
    the chain's coin (else any of its wallets); ``approved`` maps a lower-case SafeTx hash
    kinko approved to its movement's ref; ``used`` maps a ref to the lower-case hash of the
    transaction that already used it (it explains no other); ``native``/``decimals`` name
    the chain's coin."""
    verdict = SafeVerdict()
    details: dict[tuple[str, str], list[SafeEvent]] = {}
    unexplained: dict[str, tuple[str, str, list[Message], int, Message | None]] = {}
    where = seen_where(block is None, -1 if block is None else block)

    def flag(tx: str, safe: str, change: Message | None = None, amount: int = 0,
             execution: Message | None = None) -> None:
        wallet, asset = safes[safe]
        _, _, changes, total, first = unexplained.get(tx, (wallet, asset, [], 0, None))
        unexplained[tx] = (wallet, asset, [*changes, *([change] if change else [])],
                           total + amount, first or execution)

    for e in sorted(events, key=lambda e: (e.block, e.log_index)):
        safe = chain_key(e.safe, chain)
        if safe not in safes or e.kind in _QUIET:
            continue
        tx = e.tx_hash.lower()
        if e.kind == "multisig_transaction":
            details.setdefault((tx, safe), []).append(e)
            continue
        if e.kind not in _EXECUTIONS:
            flag(tx, safe, _change(e))
            continue
        queue = details.get((tx, safe)) or []
        detail = queue.pop(0) if queue else None
        success = e.kind == "execution_success"
        d = detail.fields if detail is not None else {}
        value = int(d.get("value", 0)) if success and d.get("operation", CALL) == CALL else 0
        to = chain_key(str(d["to"]), chain) if d.get("to") else None
        moved = None
        if value > 0 and to is not None and detail is not None:
            moved = Transfer(tx_hash=e.tx_hash, block=e.block, tx_index=-1, sender=safe,
                             to=to, value=value, nonce=int(d.get("nonce", -1)),
                             log_index=detail.log_index)
            verdict.internal.append(moved)
        safe_tx = str(e.fields.get("safe_tx_hash", "")).lower()
        ref = approved.get(safe_tx)
        if ref is not None and used.get(ref, tx) == tx:
            verdict.matched[tx] = ref
            continue
        wallet, _ = safes[safe]
        flag(tx, safe, amount=value, execution=msg(
            "alert.safe_execution", wallet=wallet, safe=e.safe, safe_tx=safe_tx,
            nonce=str(d.get("nonce", "?")), to=str(d.get("to", "?")),
            amount=Units(value, native, decimals),
            outcome=msg(N_("safe.outcome.success") if success
                        else N_("safe.outcome.failure")),
            executor=str(d.get("executor", "?")), tx=e.tx_hash, where=where))
    for tx, (wallet, asset, changes, total, execution) in unexplained.items():
        kind: AlertKind
        if changes:
            said = msg("alert.safe_change", wallet=wallet, change=_join(changes), tx=tx,
                       where=where)
            if execution is not None:
                said = msg("safe.change.and", first=execution, rest=said)
            kind = "safe_change"
        else:
            assert execution is not None
            said, kind = execution, "safe_execution"
        verdict.alerts.append(Alert(alert_key(chain, tx), kind, "critical", asset, wallet,
                                    said, tx, total, block))
    return verdict


def judge_pending(pending: Sequence[PendingExecution], safes: Mapping[str, tuple[str, str]],
                  approved: Mapping[str, str], used: Mapping[str, str], *, chain: str,
                  native: str, decimals: int) -> list[Alert]:
    """The alarms for ``execTransaction`` calls waiting in the mempool that would execute
    a SafeTx kinko did not approve (none of the hashes they may execute is in ``approved``,
    or its movement was used by another transaction): keyed by their transaction, so the
    execution mined later is the same alert. A call of the Safe itself is a change of
    control (``safe_change``), any other a ``safe_execution``."""
    out: list[Alert] = []
    where = seen_where(True, -1)
    for p in pending:
        safe = chain_key(p.safe, chain)
        if safe not in safes:
            continue
        tx = p.tx_hash.lower()
        refs = [approved[h] for h in p.safe_tx_hashes if h in approved]
        if any(used.get(ref, tx) == tx for ref in refs):
            continue
        wallet, asset = safes[safe]
        if chain_key(p.to, chain) == safe:
            detail = msg("alert.safe_change", wallet=wallet, where=where, tx=p.tx_hash,
                         change=msg("safe.change.pending_call", selector=p.selector,
                                    sender=p.sender))
            out.append(Alert(alert_key(chain, tx), "safe_change", "critical", asset, wallet,
                             detail, p.tx_hash, 0, None))
            continue
        value = p.value if p.operation == CALL else 0
        detail = msg("alert.safe_execution.pending", wallet=wallet, safe=p.safe, tx=p.tx_hash,
                     sender=p.sender, to=p.to, amount=Units(value, native, decimals),
                     where=where)
        out.append(Alert(alert_key(chain, tx), "safe_execution", "critical", asset, wallet,
                         detail, p.tx_hash, value, None))
    return out


def owner_key_alerts(transfers: Sequence[Transfer], keys: Mapping[str, OwnerKey], *,
                     chain: str, block: int | None) -> list[Alert]:
    """A critical ``owner_key`` alarm for every transaction among ``transfers`` (their
    native records: one per transaction) sent from an owner key's own address: the key
    signs for a Safe and nothing else, so whoever sends from it holds a leaked key."""
    out: list[Alert] = []
    where = seen_where(block is None, -1 if block is None else block)
    for t in transfers:
        key = keys.get(chain_key(t.sender, chain)) if t.token is None else None
        if key is None:
            continue
        out.append(Alert(alert_key(chain, t.tx_hash), "owner_key", "critical", key.asset,
                         key.wallet, msg(N_("alert.owner_key.operator") if key.role
                                         == "operator" else N_("alert.owner_key.cosigner"),
                                         wallet=key.wallet, address=t.sender, tx=t.tx_hash,
                                         nonce=str(t.nonce), to=recipient(t), where=where),
                         t.tx_hash, 0, block))
    return out
