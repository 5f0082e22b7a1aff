"""The policy co-signer: a second key that signs a Safe transaction only when kinko approved
exactly that movement, once, and says so in a log nobody can quietly rewrite.

:class:`CosignService` answers one request at a time (a lock in the process, an exclusive
transaction of its own database across processes):

1. what needs no reading (:func:`~kinko.domain.cosign.check_tx`): kinko's signing rules
   (CALL only, no refunds), the chain id, a Safe its own settings list;
2. its own records: a request it signed before, for another SafeTx, is refused
   (``already_signed``); for the same SafeTx it gives the same signature again
   (``repeated``), after checking again that the request still stands;
3. kinko's database (:class:`~kinko.ports.KinkoView`), read-only: the request, approved and
   matching field by field (:func:`~kinko.domain.cosign.match_movement`);
4. the chain (:class:`~kinko.ports.SafeReader`): the Safe's owners, threshold, modules,
   guard and nonce (a used nonce is a replay);
5. its own records again: a nonce it co-signed for another request is refused; the Safe's
   rolling limit, from what it signed in the window;
6. the signature (HSM, or a key file for development), checked to recover to its address;
   the record of it — hash-chained, committed and synced to disk — *then* the answer.

A crash before the commit leaves no record and no signature outside the process (it never
answered); a crash after it leaves the record, and the same request gets the same signature
again. Every refusal is a record too, and an alert: queued in the same commit for each sink
(kinko's alerts table, a webhook) and delivered by :class:`AlertDelivery` until it is taken,
so an operator learns of it even when the caller — who may be the thief holding the
operations key — never says. Refusals of callers without the token are alerted at most once
a minute per reason (each is still a record): a flood of strangers does not drown the
alerts.
"""

from __future__ import annotations

import json
import logging
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

from kinko.deadline import opener
from kinko.domain.cosign import (
    CosignPolicy,
    CosignRequest,
    KinkoFacts,
    Movement,
    NemCosignRequest,
    SafeLimit,
    SafeState,
    check_nem_account,
    check_nem_request,
    check_nonce,
    check_safe_state,
    check_tx,
    match_movement,
    match_nem_movement,
    refuse,
    safe_tx_json,
    severity,
)
from kinko.domain.cosign_log import Decision, LogFinding, LogVerifier
from kinko.domain.messages import Message, Units, msg
from kinko.domain.money import format_units
from kinko.domain.nem_tx import NemTransfer, network_byte, read_cosignature, read_transfer
from kinko.domain.safe import SafeTx, recover_owner
from kinko.errors import (
    ApprovalError,
    BadInput,
    ChainRejected,
    ChainUnavailable,
    ConfigError,
    CosignRefused,
    SignerUnavailable,
    StoredValueInvalid,
    StoreUnavailable,
)
from kinko.ports import (
    AlertSink,
    Clock,
    CoSignature,
    CosignLog,
    CosignTables,
    DigestSigner,
    KinkoView,
    NemAccountReader,
    NemCoSignature,
    NemCosignKey,
    SafeReader,
)
from kinko.services.notify import sign_webhook
from kinko.shown import url_shown

__all__ = ["AlertDelivery", "CosignService", "LogReport", "WebhookSink", "verify_log"]

log = logging.getLogger("kinko.cosign")

COALESCE = timedelta(minutes=1)  # one alert per reason per minute for callers without token
RETRY_CAP = timedelta(minutes=5)

_Request = TypeVar("_Request", CosignRequest, NemCosignRequest)
_Answer = TypeVar("_Answer", CoSignature, NemCoSignature)


class CosignService:
    """See the module docstring. ``sinks`` names where refusals are alerted; ``nem_key`` and
    ``nem_chain`` make it a cosignatory of NEM multisig accounts (:meth:`cosign_nem`): its
    NEM key and its read of the accounts (a NEM-only co-signer has no Safe ``chain`` and
    no ``signer``); ``fault`` is
    called at the points ``"signed"`` (signature made, nothing recorded) and
    ``"recorded"`` (committed, not yet answered): the crash tests stop the process there."""

    def __init__(self, *, policy: CosignPolicy, kinko: KinkoView, chain: SafeReader | None,
                 log: CosignLog, signer: DigestSigner | None, clock: Clock,
                 sinks: Sequence[str] = ("kinko",),
                 fault: Callable[[str], None] | None = None,
                 nem_key: NemCosignKey | None = None,
                 nem_chain: NemAccountReader | None = None) -> None:
        self.policy = policy
        self.nem_key = nem_key
        self.nem_chain = nem_chain
        self.kinko = kinko
        self.chain = chain
        self.log = log
        self.signer = signer
        self.clock = clock
        self.sinks = tuple(sinks)
        self._fault = fault or (lambda _point: None)
        self._lock = threading.Lock()
        self.alerted = threading.Event()  # set whenever an alert was queued

    @property
    def address(self) -> str:
        if self.signer is not None:
            return self.signer.address
        return self.nem_key.address if self.nem_key is not None else ""

    # ------------------------------------------------------------------ the port

    def cosign(self, kind: str, request_id: str, tx: SafeTx) -> CoSignature:
        """The :class:`~kinko.ports.Cosigner` port, in process (no HTTP)."""
        return self.answer(CosignRequest(kind, request_id, tx), "in-process")

    def answer(self, request: CosignRequest, caller: str) -> CoSignature:
        """Decide ``request``, record the decision durably, then answer: the signature, or
        :class:`~kinko.errors.CosignRefused` carrying the reason and the record."""
        return self._answered(request, caller, self._decide)

    def _answered(self, request: _Request, caller: str,
                  decide: Callable[[CosignTables, _Request, datetime, str], _Answer]
                  ) -> _Answer:
        """One request decided under the lock, its decision (or refusal) recorded in the
        log's transaction before anything is answered."""
        with self._lock:
            outcome: _Answer | CosignRefused
            with self.log.transaction() as tables:
                now = self.clock.now()
                try:
                    outcome = decide(tables, request, now, caller)
                except CosignRefused as refusal:
                    outcome = self._refused(tables, now, caller, refusal, request)
            if isinstance(outcome, CosignRefused):
                self._told(outcome)
                raise outcome
            self._fault("recorded")
            return outcome

    def cosign_nem(self, kind: str, request_id: str, chain: str,
                   transfer: str) -> NemCoSignature:
        """The :class:`~kinko.ports.NemCosigner` port, in process: co-sign, as a
        cosignatory of a NEM multisig account, the transfer whose bytes are ``transfer``."""
        try:
            read = read_transfer(chain, transfer)
        except BadInput as exc:
            raise self.refuse_unread("malformed", f"{kind}:{request_id}: {exc.message}",
                                     "in-process", says=msg(
                                         "error.cosign.request_unread",
                                         request=f"{kind}:{request_id}"[:200],
                                         problem=exc.said())) from None
        return self.answer_nem(NemCosignRequest(kind, request_id, read), "in-process")

    def answer_nem(self, request: NemCosignRequest, caller: str) -> NemCoSignature:
        """As :meth:`answer`, for a NEM multisig account's transfer: checked field by field
        (:func:`~kinko.domain.cosign.match_nem_movement`), the account on chain (the
        co-signer a cosignatory, a minimum above one), once per request, recorded before the
        cosignature is given."""
        return self._answered(request, caller, self._decide_nem)

    def refuse_unread(self, reason: str, message: str, caller: str, *,
                      says: Message | None = None) -> CosignRefused:
        """Record (and alert) a refusal of a request that could not be read at all: no
        token, too large, not JSON. Returns the refusal to answer with (``says``: its
        words as a catalog message, else its reason's)."""
        with self._lock:
            with self.log.transaction() as tables:
                refusal = self._refused(tables, self.clock.now(), caller,
                                        refuse(reason, message, says=says), None)
            self._told(refusal)
            return refusal

    # ------------------------------------------------------------------ deciding

    def _decide(self, tables: CosignTables, request: CosignRequest, now: datetime,
                caller: str) -> CoSignature:
        tx = request.tx
        limits = check_tx(request, self.policy, self._chain_id())
        tx_hash = "0x" + tx.hash.hex()
        earlier = tables.signed(request.key)
        if earlier is not None and earlier.safe_tx_hash != tx_hash:
            raise refuse("already_signed", f"{request.key} was co-signed for another SafeTx "
                         f"({earlier.safe_tx_hash}, nonce {earlier.nonce}, record "
                         f"{earlier.seq}); the co-signer signs one SafeTx per request",
                         earlier=earlier.seq, says=msg(
                             "error.cosign.already_signed", request=request.key[:200],
                             hash=earlier.safe_tx_hash[:80], nonce=str(earlier.nonce),
                             record=str(earlier.seq)))
        move = match_movement(request, self._facts(request), self.policy, limits, now)
        limit = limits[move.asset.symbol]
        state = self._safe(tx.safe)
        check_safe_state(state, self.address)
        check_nonce(tx, state, self.policy.nonce_window)
        if earlier is not None:
            record = self._append(tables, Decision(
                0, now, caller, "repeated", request=request.key, safe=tx.safe,
                chain_id=tx.chain_id, nonce=tx.nonce, safe_tx_hash=tx_hash,
                safe_tx=_canonical(tx), asset=move.asset.symbol, amount=move.amount,
                counts=False, signer=earlier.signer, signature=earlier.signature,
                detail=f"the signature of record {earlier.seq}, given again"))
            return CoSignature(request.key, tx.hash, earlier.signer,
                               bytes.fromhex(earlier.signature[2:]), record.seq, repeated=True)
        taken = tables.signed_at(tx.safe, tx.chain_id, tx.nonce)
        if taken is not None:
            raise refuse("nonce_used", f"nonce {tx.nonce} of Safe {tx.safe} was co-signed "
                         f"for {taken.request} (record {taken.seq}); the co-signer signs one "
                         "SafeTx per Safe nonce", nonce=tx.nonce, earlier=taken.seq,
                         says=msg("error.cosign.nonce_cosigned", nonce=str(tx.nonce),
                                  safe=tx.safe[:80], request=str(taken.request)[:200],
                                  record=str(taken.seq)))
        _within_limit(tables, move, request.id, tx.safe, f"Safe {tx.safe}", limit, now,
                      msg("error.cosign.holder.safe", address=tx.safe[:80]))
        signature = self._sign(tx)
        self._fault("signed")
        record = self._append(tables, Decision(
            0, now, caller, "signed", request=request.key, safe=tx.safe,
            chain_id=tx.chain_id, nonce=tx.nonce, safe_tx_hash=tx_hash,
            safe_tx=_canonical(tx), asset=move.asset.symbol, amount=move.amount,
            counts=move.counts, signer=self.address, signature="0x" + signature.hex(),
            detail=_signed_detail(move)))
        log.info("co-signed %s (Safe %s nonce %d) as record %d", request.key, tx.safe,
                 tx.nonce, record.seq)
        return CoSignature(request.key, tx.hash, self.address, signature, record.seq)

    def _decide_nem(self, tables: CosignTables, request: NemCosignRequest, now: datetime,
                    caller: str) -> NemCoSignature:
        tr = request.transfer
        key = self.nem_key
        if key is None or self.nem_chain is None or key.chain != tr.chain:
            raise refuse("signer_unavailable", f"the co-signer holds no NEM key for "
                         f"{tr.chain}: it cosigns no NEM transfer",
                         says=msg("error.cosign.no_nem_key", chain=tr.chain[:40]))
        limits = check_nem_request(request, self.policy)
        tx_hash = "0x" + tr.inner_hash
        earlier = tables.signed(request.key)
        if earlier is not None and earlier.safe_tx_hash != tx_hash:
            raise refuse("already_signed", f"{request.key} was co-signed for another transfer "
                         f"({earlier.safe_tx_hash}, record {earlier.seq}); the co-signer "
                         "signs one transfer per request", earlier=earlier.seq,
                         says=msg("error.cosign.already_cosigned", request=request.key[:200],
                                  hash=earlier.safe_tx_hash[:80], record=str(earlier.seq)))
        move = match_nem_movement(request, self._facts(request), self.policy,  # type: ignore[arg-type]
                                  limits, now)
        minimum, cosignatories = self._nem_account(tr.account)
        check_nem_account(tr.account, minimum, cosignatories, key.address)
        fields = _nem_fields(tr)
        if earlier is not None:
            kept = json.loads(earlier.safe_tx)
            record = self._append(tables, Decision(
                0, now, caller, "repeated", request=request.key, asset=move.asset.symbol,
                amount=move.amount, counts=False, signer=earlier.signer,
                signature=earlier.signature, **{**fields, "safe_tx": earlier.safe_tx},
                detail=f"the cosignature of record {earlier.seq}, given again"))
            return NemCoSignature(request.key, tr.inner_hash, earlier.signer,
                                  str(kept["cosignature"]), earlier.signature,
                                  record.seq, repeated=True)
        limit = limits[move.asset.symbol]
        _within_limit(tables, move, request.id, tr.account, f"account {tr.account}", limit,
                      now, msg("error.cosign.holder.account", address=tr.account[:80]))
        try:
            data, signature = key.cosign(tr.inner_hash, tr.account, tr.timestamp, tr.deadline)
            if read_cosignature(tr.chain, data, signature) != (key.address, tr.inner_hash,
                                                                tr.account):
                raise SignerUnavailable("the cosignature is not the co-signer's of this "
                                        "transfer; nothing was signed",
                                        says=msg("error.cosign.nem_not_own"))
        except (SignerUnavailable, ConfigError, BadInput) as exc:
            raise refuse("signer_unavailable", f"the co-signer's NEM key did not sign: "
                         f"{exc.message}", says=msg("error.cosign.nem_key_failed",
                                                    problem=exc.said())) from None
        self._fault("signed")
        body = {**json.loads(fields["safe_tx"]), "cosignature": data}
        record = self._append(tables, Decision(
            0, now, caller, "signed", request=request.key, asset=move.asset.symbol,
            amount=move.amount, counts=move.counts, signer=key.address, signature=signature,
            detail=_signed_detail(move),
            **{**fields, "safe_tx": json.dumps(body, sort_keys=True, separators=(",", ":"))}))
        log.info("co-signed %s (NEM account %s, transfer %s) as record %d", request.key,
                 tr.account, tr.inner_hash, record.seq)
        return NemCoSignature(request.key, tr.inner_hash, key.address, data, signature,
                              record.seq)

    def _nem_account(self, address: str) -> tuple[int, tuple[str, ...]]:
        assert self.nem_chain is not None
        try:
            return self.nem_chain.multisig(address)
        except ChainUnavailable as exc:
            raise refuse("chain_unreachable", f"the co-signer cannot read account {address}: "
                         f"{exc.message}", says=msg("error.cosign.account_unread",
                                                    account=address[:80],
                                                    problem=exc.said())) from None
        except ChainRejected as exc:
            raise refuse("safe_config", f"the chain has no multisig account the co-signer can "
                         f"rely on at {address}: {exc.message}", safe=address,
                         says=msg("error.cosign.no_multisig", account=address[:80],
                                  problem=exc.said())) from None

    def _chain_id(self) -> int:
        if self.chain is None:
            raise refuse("chain_unreachable", "this co-signer reads no Safe chain (it cosigns "
                         "NEM transfers only)", says=msg("error.cosign.no_safe_chain"))
        try:
            return self.chain.chain_id()
        except ChainUnavailable as exc:
            raise refuse("chain_unreachable", f"the co-signer cannot read the chain: "
                         f"{exc.message}", says=msg("error.cosign.chain_unread",
                                                    problem=exc.said())) from None

    def _facts(self, request: CosignRequest) -> KinkoFacts:
        try:
            return self.kinko.facts(request)
        except StoreUnavailable as exc:
            raise refuse("kinko_unreachable", f"the co-signer cannot read kinko's database: "
                         f"{exc.message}", says=msg("error.cosign.kinko_unread",
                                                    problem=exc.said())) from None

    def _safe(self, address: str) -> SafeState:
        assert self.chain is not None  # _chain_id refused first
        try:
            return self.chain.safe_state(address)
        except ChainUnavailable as exc:
            raise refuse("chain_unreachable", f"the co-signer cannot read Safe {address}: "
                         f"{exc.message}", says=msg("error.cosign.safe_unread",
                                                    safe=address[:80],
                                                    problem=exc.said())) from None
        except ChainRejected as exc:
            raise refuse("safe_config", f"the chain has no Safe the co-signer can rely on at "
                         f"{address}: {exc.message}", safe=address,
                         says=msg("error.cosign.no_safe", safe=address[:80],
                                  problem=exc.said())) from None

    def _sign(self, tx: SafeTx) -> bytes:
        try:
            if self.signer is None:
                raise SignerUnavailable("this co-signer holds no key for Safes",
                                        says=msg("error.cosign.no_safe_key"))
            signature = self.signer.sign_digest(tx.hash)
            if recover_owner(tx.hash, signature) != self.address:
                raise SignerUnavailable("the co-signer's signature does not recover to its "
                                        "address; nothing was signed",
                                        says=msg("error.cosign.not_own_signature"))
        except (SignerUnavailable, ConfigError, ApprovalError) as exc:
            raise refuse("signer_unavailable", f"the co-signer's key did not sign: "
                         f"{exc.message}", says=msg("error.cosign.key_failed",
                                                    problem=exc.said())) from None
        return signature

    def _append(self, tables: CosignTables, decision: Decision) -> Decision:
        seq, prev = tables.head()
        sealed = _with_seq(decision, seq + 1).sealed(prev)
        tables.append(sealed)
        return sealed

    # ------------------------------------------------------------------ refusals

    def _refused(self, tables: CosignTables, now: datetime, caller: str,
                 refusal: CosignRefused,
                 request: CosignRequest | NemCosignRequest | None) -> CosignRefused:
        reason = refusal.reason
        fields: dict[str, Any] = {}
        if isinstance(request, NemCosignRequest):
            fields = _nem_fields(request.transfer)
        elif request is not None:
            tx = request.tx
            fields = {"safe": tx.safe, "chain_id": tx.chain_id, "nonce": tx.nonce,
                      "safe_tx_hash": "0x" + tx.hash.hex(), "safe_tx": _canonical(tx)}
        limits = self.policy.limits(fields["safe"]) if fields else {}
        asset = next(iter(limits)) if len(limits) == 1 else ""
        alert = bool(self.sinks)
        if alert and caller.startswith("anonymous"):
            last = tables.last_alert(reason)
            alert = last is None or now - last >= COALESCE
        record = self._append(tables, Decision(
            0, now, caller, "refused", request=request.key if request else "",
            reason=reason, detail=refusal.message, asset=asset, alerted=alert, **fields))
        if alert:
            body = {"type": "kinko.cosign.refused", "cosigner": self.address,
                    "record": record.seq, "reason": reason, "severity": severity(reason),
                    "message": refusal.message, "request": record.request,
                    "safe": record.safe, "asset": record.asset, "caller": caller,
                    "at": now.isoformat(), "log_head": {"seq": record.seq,
                                                        "hash": record.hash}}
            tables.queue_alert(record.seq, self.sinks, json.dumps(body, sort_keys=True,
                                                                  ensure_ascii=False), now)
        log.warning("REFUSED %s from %s: [%s] %s (record %d)", record.request or "a request",
                    caller, reason, refusal.message, record.seq)
        return type(refusal)(refusal.message, **{**refusal.details, "record": record.seq,
                                                 "alerted": alert})

    def _told(self, refusal: CosignRefused) -> None:
        if refusal.details.get("alerted"):
            self.alerted.set()


def _with_seq(decision: Decision, seq: int) -> Decision:
    return replace(decision, seq=seq)


def _nem_fields(tr: NemTransfer) -> dict[str, Any]:
    """A NEM transfer's place in a decision record: the account as the "Safe", the network
    byte as the chain id, the transfer's hash as its "nonce" (one cosignature per transfer)
    and as its "safeTxHash", its terms as canonical JSON."""
    return {"safe": tr.account, "chain_id": network_byte(tr.chain),
            "nonce": int(tr.inner_hash, 16), "safe_tx_hash": "0x" + tr.inner_hash,
            "safe_tx": json.dumps(tr.to_json(), sort_keys=True, separators=(",", ":"))}


def _canonical(tx: SafeTx) -> str:
    return json.dumps(safe_tx_json(tx), sort_keys=True, separators=(",", ":"))


def _within_limit(tables: CosignTables, move: Movement, request_id: str, holder: str,
                  named: str, limit: SafeLimit, now: datetime, says_named: Message) -> None:
    """Refuse (``over_limit``) a movement that counts toward ``holder``'s rolling limit
    (a Safe's or a NEM account's) and would take what was co-signed in its window past it;
    ``named`` says the holder in the refusal (``says_named`` as a catalog message)."""
    if not move.counts:
        return
    used = tables.used(holder, move.asset.symbol, now - limit.window)
    if used + move.amount > limit.limit:
        asset = move.asset
        raise refuse("over_limit", f"{move.kind} {request_id} of "
                     f"{format_units(move.amount, asset)} {asset.symbol} would take "
                     f"{named} over its limit of "
                     f"{format_units(limit.limit, asset)} {asset.symbol} per "
                     f"{_window(limit.window)} ({format_units(used, asset)} "
                     "co-signed in the window)", used=str(used), limit=str(limit.limit),
                     says=msg("error.cosign.over_limit", kind=move.kind[:40],
                              request=request_id[:128],
                              amount=Units(move.amount, asset.symbol, asset.decimals),
                              holder=says_named,
                              limit=Units(limit.limit, asset.symbol, asset.decimals),
                              window=_window(limit.window),
                              used=Units(used, asset.symbol, asset.decimals)))


def _window(window: timedelta) -> str:
    minutes = int(window.total_seconds()) // 60
    if minutes % 1440 == 0:
        return f"{minutes // 1440}d"
    return f"{minutes // 60}h" if minutes % 60 == 0 else f"{minutes}m"


def _signed_detail(move: Movement) -> str:
    asset = move.asset
    what = f"{move.kind} of {format_units(move.amount, asset)} {asset.symbol} from " \
           f"{move.source.name} to {move.destination}, {move.authorised}"
    if move.emergency:
        what += f"; emergency sweep for {move.emergency}"
    return what + ("" if move.counts else "; not counted toward the limit (to own cold)")


# ---------------------------------------------------------------------- alerts


class AlertDelivery:
    """Delivers the co-signer's queued alerts to their sinks, in order, until each is
    taken: a failed delivery waits 1 s, then twice as long each time, up to 5 minutes, and
    is never dropped (kinko's database may be away for a while: the alert arrives when it
    is back). :meth:`run` loops in a thread; :meth:`deliver_due` is one pass."""

    def __init__(self, log: CosignLog, sinks: Mapping[str, AlertSink], clock: Clock,
                 wake: threading.Event | None = None) -> None:
        self.log = log
        self.sinks = dict(sinks)
        self.clock = clock
        self.wake = wake or threading.Event()
        self.stop = threading.Event()

    def deliver_due(self) -> int:
        """One pass; how many alerts were taken by their sink."""
        with self.log.transaction(write=False) as tables:
            due = tables.due_alerts(self.clock.now())
        taken = 0
        for row in due:
            sink = self.sinks.get(str(row["sink"]))
            error = None
            if sink is None:
                error = f"no sink {row['sink']!r} is configured"
            else:
                try:
                    sink.deliver(json.loads(row["body"]))
                except Exception as exc:  # any failure of a sink: retried, never lost
                    error = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
            attempts = int(row["attempts"]) + 1
            with self.log.transaction() as tables:
                if error is None:
                    tables.update_alert(row["id"], state="sent", attempts=attempts,
                                        last_error=None)
                    taken += 1
                else:
                    wait = min(RETRY_CAP, timedelta(seconds=2 ** min(attempts - 1, 9)))
                    tables.update_alert(row["id"], attempts=attempts, last_error=error[:500],
                                        next=self.clock.now() + wait)
            if error is not None:
                log.error("alert of record %s to %s not delivered (attempt %d): %s",
                          row["record"], row["sink"], attempts, error)
        return taken

    def run(self, interval: float = 1.0) -> None:
        while not self.stop.is_set():
            try:
                self.deliver_due()
            except Exception as exc:  # its own database away: try again shortly
                log.error("alert delivery pass failed: %s", exc)
            self.wake.wait(interval)
            self.wake.clear()

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, name="kinko-cosign-alerts", daemon=True)
        thread.start()
        return thread


class WebhookSink:
    """An ``AlertSink`` POSTing each refusal to the co-signer's own webhook, signed as the
    watch signs its alerts (``X-Kinko-Timestamp``, ``X-Kinko-Signature: sha256=HMAC(secret,
    "timestamp.body")``): a channel to the operators that does not pass through kinko."""

    name = "webhook"

    def __init__(self, url: str, secret: str, clock: Clock, *, timeout: float = 5.0) -> None:
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"webhook URL {url_shown(url)!r} must start with http:// or https://",
                              setting="webhook_url",
                              says=msg("error.webhook.url", url=repr(url_shown(url))))
        if not secret:
            raise ConfigError("the co-signer's webhook needs a secret to sign with "
                              "(KINKO_COSIGN_WEBHOOK_SECRET)",
                              says=msg("error.cosign.webhook_secret",
                                       env="KINKO_COSIGN_WEBHOOK_SECRET"))
        self.url = url
        self.__secret = secret
        self.clock = clock
        self.timeout = timeout
        # each delivery whole within three time-outs, however the receiver answers
        self._opener = opener(3 * timeout)

    def __repr__(self) -> str:  # never the secret
        return f"WebhookSink({url_shown(self.url)!r})"

    def deliver(self, alert: Mapping[str, Any]) -> None:
        body = json.dumps(dict(alert), sort_keys=True, ensure_ascii=False).encode()
        stamp = int(self.clock.now().timestamp())
        request = urllib.request.Request(self.url, data=body, method="POST", headers={
            "Content-Type": "application/json", "User-Agent": "kinko-cosign",
            "X-Kinko-Timestamp": str(stamp),
            "X-Kinko-Signature": sign_webhook(self.__secret, stamp, body)})
        try:
            with self._opener.open(request, timeout=self.timeout) as answer:
                status = int(answer.status)
        except urllib.error.HTTPError as exc:
            status = exc.code
        except (urllib.error.URLError, OSError) as exc:
            raise ConnectionError(f"{url_shown(self.url)}: {getattr(exc, 'reason', exc)}") from None
        if not 200 <= status < 300:
            raise ConnectionError(f"{url_shown(self.url)} answered HTTP {status}")


# ---------------------------------------------------------------------- verify


class LogReport:
    """What :func:`verify_log` found; ``signers``, who signed, as the records say."""

    def __init__(self, records: int, head: tuple[int, str], findings: list[LogFinding],
                 signed: int, signers: Collection[str] = ()) -> None:
        self.records = records
        self.head = head
        self.findings = findings
        self.signed = signed
        self.signers = sorted(signers)

    @property
    def ok(self) -> bool:
        return not self.findings


def verify_log(log: CosignLog, anchor: tuple[int, str] | None = None,
               keys: Collection[str] | None = None) -> LogReport:
    """Recompute the co-signer's hash chain, check every signature it gave recovers to its
    signer (one of ``keys``, the co-signer's, when given), the exactly-once table against
    the log, the stored head, and ``anchor`` (a record number and hash kept outside the
    database)."""
    verifier = LogVerifier(anchor_seq=anchor[0] if anchor else None,
                           keys=None if not keys else frozenset(k.lower() for k in keys))
    with log.transaction(write=False) as tables:
        after = 0
        try:
            while True:
                try:
                    batch = tables.records(after, 5000)
                except StoredValueInvalid:  # the records before the one it names, first
                    while one := tables.records(after, 1):
                        verifier.feed(one[0])
                        after = one[0].seq
                    raise
                for record in batch:
                    verifier.feed(record)
                if len(batch) < 5000:
                    break
                after = batch[-1].seq
            stored = tables.head()
            rows = tables.signed_rows()
        except StoredValueInvalid as exc:  # a value kinko never writes: named, as tampering
            findings = [*verifier.findings, LogFinding("unreadable", exc.message, exc.seq)]
            return LogReport(verifier.records, verifier.head, findings, len(verifier.signed),
                             verifier.signers)
    findings = verifier.finish(stored, rows, anchor)
    return LogReport(verifier.records, verifier.head, findings, len(verifier.signed),
                     verifier.signers)
