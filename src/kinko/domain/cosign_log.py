"""The co-signer's decisions: an append-only, hash-chained log. Pure, no I/O.

Every answer the co-signer gives is one :class:`Decision`, written (and synced to disk)
before the answer leaves: ``signed`` (a new signature), ``repeated`` (the signature it gave
this request before, for the same SafeTx) or ``refused`` (with its reason code). Each
record carries the SHA-256 of its predecessor, like kinko's journal, so deleting,
altering or reordering any record breaks the chain at that record; the head (its number
and hash) travels in every alert the co-signer raises, so copies of it live outside the
co-signer's database, where someone who rewrites the whole tail cannot reach them.
:class:`LogVerifier` checks a log as ``kinko cosign verify`` reads it::

    >>> first = Decision(1, datetime(2018, 1, 26, tzinfo=UTC), "token", "refused",
    ...                  reason="no_such_request", detail="kinko has no withdrawal 'W-9'")
    >>> first = first.sealed(GENESIS)
    >>> LogVerifier().feed(first) is None
    True
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, NamedTuple

from kinko.domain.cosign import safe_tx_from_json
from kinko.domain.erc20 import TRANSFER_SELECTOR
from kinko.domain.nem_tx import read_cosignature
from kinko.domain.safe import recover_owner
from kinko.errors import ApprovalError, BadInput

__all__ = ["GENESIS", "OUTCOMES", "Decision", "LogFinding", "LogVerifier", "SignedRow",
           "decision_hash"]

GENESIS = "0" * 64
OUTCOMES = ("signed", "repeated", "refused")
_HASHED = ("seq", "at", "caller", "outcome", "reason", "detail", "request", "safe",
           "chain_id", "nonce", "safe_tx_hash", "safe_tx", "asset", "amount", "counts",
           "signer", "signature", "alerted")


@dataclass(frozen=True)
class Decision:
    """One answer of the co-signer. Empty strings where a refused request could not say
    (an unreadable body has no Safe). ``safe_tx`` is the SafeTx as canonical JSON;
    ``signature`` the 65 bytes given, 0x-hex (a signature is not key material)."""

    seq: int
    at: datetime
    caller: str  # "token" (authenticated) or "anonymous", with where it came from
    outcome: str  # signed, repeated, refused
    request: str = ""  # withdrawal:<id> / proposal:<id>
    reason: str = ""  # refused: a reason code of kinko.domain.cosign.REASONS
    detail: str = ""
    safe: str = ""
    chain_id: int = 0
    nonce: int = 0
    safe_tx_hash: str = ""
    safe_tx: str = ""
    asset: str = ""
    amount: int = 0
    counts: bool = False  # toward the Safe's rolling limit
    signer: str = ""
    signature: str = ""
    alerted: bool = False  # an alert was queued for it (refusals)
    prev_hash: str = ""
    hash: str = ""

    def body(self) -> dict[str, Any]:
        out = {name: getattr(self, name) for name in _HASHED}
        out["at"] = self.at.astimezone(UTC).isoformat()
        out["chain_id"] = str(self.chain_id)
        out["nonce"] = str(self.nonce)
        out["amount"] = str(self.amount)
        return out

    def sealed(self, prev_hash: str) -> Decision:
        """This record chained after the one whose hash is ``prev_hash``."""
        return replace(self, prev_hash=prev_hash, hash=decision_hash(prev_hash, self))


def decision_hash(prev_hash: str, decision: Decision) -> str:
    """SHA-256 over a version tag, the previous hash and the record's canonical JSON."""
    body = json.dumps(decision.body(), sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False)
    return hashlib.sha256(f"kinko-cosign-v1\n{prev_hash}\n{body}".encode()).hexdigest()


def _safe_tx_problem(record: Decision) -> str | None:
    """What in a signing record disagrees with the SafeTx it keeps (None: nothing). The
    signature covers only the safeTxHash: a record whose hash is not its SafeTx's, or whose
    Safe, chain, nonce or amount are not, would show a signature over one transaction as
    the co-signer's consent to another."""
    try:
        tx = safe_tx_from_json(json.loads(record.safe_tx))
    except (ValueError, BadInput):
        return "its SafeTx cannot be read, so what its signature consented to is unknown"
    if "0x" + tx.hash.hex() != record.safe_tx_hash.lower():
        return (f"its safeTxHash {record.safe_tx_hash[:20]}… is not the hash of the SafeTx it "
                f"records (0x{tx.hash.hex()[:18]}…): its signature consented to another "
                "transaction")
    if tx.safe.lower() != record.safe.lower() or tx.chain_id != record.chain_id \
            or tx.nonce != record.nonce:
        return (f"it names Safe {record.safe} on chain {record.chain_id} with nonce "
                f"{record.nonce}, but its SafeTx is Safe {tx.safe} on chain {tx.chain_id} "
                f"with nonce {tx.nonce}")
    data = tx.data
    if not data:
        paid: int | None = tx.value
    elif len(data) == 68 and data[:4] == TRANSFER_SELECTOR and not tx.value:
        paid = int.from_bytes(data[36:], "big")
    else:
        paid = None
    if paid is not None and paid != record.amount:
        return f"it records an amount of {record.amount}, but its SafeTx pays {paid}"
    return None


class SignedRow(NamedTuple):
    """A row of the exactly-once table (``cosign_signed``): what the co-signer answers a
    repeated request with, refuses a second SafeTx for a nonce with and sums its rolling
    limit over (``amount`` of the rows that ``counts`` since ``at``, per Safe and asset).
    Each field is a copy of its signing record's (``safe`` in lower case)."""

    request: str
    record: int
    safe_tx_hash: str
    signature: str
    safe: str
    chain_id: int
    nonce: int
    at: datetime
    asset: str
    amount: int
    counts: bool

    @classmethod
    def of(cls, record: Decision) -> SignedRow:
        """The row a signing record is kept as."""
        return cls(record.request, record.seq, record.safe_tx_hash, record.signature,
                   record.safe.lower(), record.chain_id, record.nonce, record.at,
                   record.asset, record.amount, record.counts)


@dataclass(frozen=True)
class LogFinding:
    code: str  # deleted, reordered, altered, broken_link, bad_signature, safe_tx,
    #            foreign_signer, head, anchor, signed_table, unreadable
    message: str
    seq: int | None = None


@dataclass
class LogVerifier:
    """Feed the records in order; the first problem and every later one are findings
    (``max_findings``). A record that fails its hash but matches another position is
    reported as moved there (reordered), else as altered."""

    anchor_seq: int | None = None  # the record whose hash an anchor names, if any
    # the co-signer's own keys (addresses or NEM public keys, any case), known from outside
    # the log (the Safe's owners on chain, `kinko cosign address`): a signing by another
    # key is named; None: not checked (who signed is shown: ``signers``)
    keys: frozenset[str] | None = None
    max_findings: int = 50
    reorder_window: int = 64
    findings: list[LogFinding] = field(default_factory=list)
    records: int = 0
    head: tuple[int, str] = (0, GENESIS)
    anchored: str | None = None  # the hash found at ``anchor_seq``
    signed: dict[str, Decision] = field(default_factory=dict)  # request -> its signing
    signers: set[str] = field(default_factory=set)  # who signed, as the records say
    _expect: int = 1

    def _find(self, code: str, message: str, seq: int | None) -> None:
        if len(self.findings) < self.max_findings:
            self.findings.append(LogFinding(code, message, seq))

    def feed(self, record: Decision) -> LogFinding | None:
        """Check one record; the first finding it caused, if any."""
        before = len(self.findings)
        self.records += 1
        if record.seq != self._expect:
            if record.seq > self._expect:
                gap = (f"record {self._expect}" if record.seq == self._expect + 1
                       else f"records {self._expect}-{record.seq - 1}")
                self._find("deleted", f"{gap} missing: deleted from the log", record.seq)
            else:
                self._find("reordered", f"record {record.seq} appears out of order",
                           record.seq)
        if decision_hash(record.prev_hash, record) != record.hash:
            moved = self._moved_from(record)
            if moved is not None:
                self._find("reordered", f"the record at position {record.seq} was moved "
                           f"there from position {moved}", record.seq)
            else:
                self._find("altered", f"record {record.seq} ({record.outcome} "
                           f"{record.request or 'an unreadable request'}) was altered: its "
                           "content no longer matches its hash", record.seq)
        elif record.prev_hash != self.head[1]:
            self._find("broken_link", f"record {record.seq} does not follow record "
                       f"{record.seq - 1}: records were deleted, inserted or reordered "
                       "before it", record.seq)
        if record.outcome not in OUTCOMES:
            self._find("altered", f"record {record.seq} has no known outcome", record.seq)
        if record.outcome in ("signed", "repeated"):
            self._check_signature(record)
            self.signers.add(record.signer)
            if self.keys is not None and record.signer.lower() not in self.keys:
                self._find("foreign_signer", f"record {record.seq} ({record.outcome} "
                           f"{record.request}) is signed by {record.signer or 'no key'}, not by "
                           f"the co-signer's key ({', '.join(sorted(self.keys))})", record.seq)
        if record.outcome == "signed":
            self.signed.setdefault(record.request, record)
        self.head = (record.seq, record.hash)
        if record.seq == self.anchor_seq:
            self.anchored = record.hash
        self._expect = record.seq + 1
        return self.findings[before] if len(self.findings) > before else None

    def _moved_from(self, record: Decision) -> int | None:
        for distance in range(1, self.reorder_window + 1):
            for seq in (record.seq - distance, record.seq + distance):
                if seq > 0 and decision_hash(record.prev_hash,
                                             replace(record, seq=seq)) == record.hash:
                    return seq
        return None

    def _check_signature(self, record: Decision) -> None:
        if '"cosignature":' in record.safe_tx:  # a NEM cosignature, kept whole
            self._check_nem_cosignature(record)
            return
        try:
            digest = bytes.fromhex(record.safe_tx_hash.removeprefix("0x"))
            signature = bytes.fromhex(record.signature.removeprefix("0x"))
            ok = len(digest) == 32 and recover_owner(digest, signature).lower() == \
                record.signer.lower()
        except (ValueError, ApprovalError):
            ok = False
        if not ok:
            self._find("bad_signature", f"record {record.seq}: its signature is not "
                       f"{record.signer or 'the co-signer'}'s over its safeTxHash",
                       record.seq)
            return
        problem = _safe_tx_problem(record)
        if problem is not None:
            self._find("safe_tx", f"record {record.seq} ({record.outcome} {record.request}): "
                       f"{problem}", record.seq)

    def _check_nem_cosignature(self, record: Decision) -> None:
        """A NEM cosignature (kept whole in the record's transaction JSON): its signature
        verifies, its signer is the record's, and it names the record's inner hash and
        account."""
        try:
            body = json.loads(record.safe_tx)
            signer, inner, account = read_cosignature(str(body["chain"]),
                                                      str(body["cosignature"]),
                                                      record.signature.removeprefix("0x"))
            ok = (signer == record.signer and "0x" + inner == record.safe_tx_hash
                  and account == record.safe)
        except (ValueError, KeyError, TypeError, BadInput):
            ok = False
        if not ok:
            self._find("bad_signature", f"record {record.seq}: its cosignature is not "
                       f"{record.signer or 'the co-signer'}'s of its transfer", record.seq)

    def finish(self, stored_head: tuple[int, str] | None,
               signed_rows: Iterable[SignedRow] = (),
               anchor: tuple[int, str] | None = None) -> list[LogFinding]:
        """Compare the end of the chain with the stored head, the slashing-protection rows
        (request, record, safeTxHash, signature) with the signed records, and an anchored
        (seq, hash) kept outside the database with the record it names."""
        if stored_head is not None and stored_head != self.head:
            self._find("head", f"the stored head is record {stored_head[0]} "
                       f"({stored_head[1][:16]}…) but the log ends at record {self.head[0]} "
                       f"({self.head[1][:16]}…): the tail was cut or rewritten", self.head[0])
        rows = 0
        for row in signed_rows:
            rows += 1
            found = self.signed.get(row.request)
            if found is None or found.seq != row.record or found.safe_tx_hash != \
                    row.safe_tx_hash or found.signature != row.signature:
                self._find("signed_table", f"the signature kept for {row.request} does not "
                           f"match record {row.record} of the log", row.record)
                continue
            kept = SignedRow.of(found)
            differ = [name for name in SignedRow._fields
                      if getattr(row, name) != getattr(kept, name)]
            if differ:  # what the rolling limit and the nonce guard are read from
                self._find("signed_table", f"the signing kept for {row.request} differs from "
                           f"record {row.record} of the log in {', '.join(differ)} (what the "
                           "rolling limit and the one-SafeTx-per-nonce rule are read from)",
                           row.record)
        if rows != len(self.signed):
            self._find("signed_table", f"the log has {len(self.signed)} signing(s) but "
                       f"{rows} are kept for exactly-once answers", None)
        if anchor is not None:
            seq, expected = anchor
            found_hash = self.anchored if seq == self.anchor_seq else None
            if seq == 0 and expected == GENESIS:
                pass  # the empty log's head: nothing to hold
            elif found_hash is None:
                self._find("anchor", f"the anchored record {seq} is not in the log: the "
                           f"log was cut below it (it ends at {self.head[0]})", seq)
            elif found_hash != expected:
                self._find("anchor", f"record {seq} has hash {found_hash[:16]}…, not the "
                           f"anchored {expected[:16]}…: the log was rewritten from there "
                           "or before", seq)
        return self.findings
