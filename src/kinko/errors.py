"""One exception tree for everything kinko refuses or cannot do.

Findings (a broken hash chain, a reconciliation gap) are *data* and never raised;
exceptions are for failures. Every error carries a stable ``code``, a human message
and ``details`` (a JSON-able dict), so the CLI, the API and logs report it the same way.
The exit status of the CLI is derived from the branch of the tree, and the API's HTTP
status is each class's ``http_status`` (400 unless said)::

    KinkoError                      (1 generic)
    ├── BadInput                    (exit 2: the caller got something wrong)
    │   ├── InvalidAmount           "1.0000001 XEM": too many decimals, NaN, negative ...
    │   ├── UnknownAsset
    │   ├── InvalidAccount          malformed account name, unknown wallet, wrong asset
    │   │   └── InvalidAddress      not an address of its chain: bad checksum, length ...
    │   ├── InvalidEntry            unbalanced, too few postings, zero amounts (422)
    │   ├── Overdraft               a balance that may not go negative would (422)
    │   ├── IdempotencyConflict     same key, different content (409)
    │   ├── InvalidId               an id or Idempotency-Key no URL can carry (422)
    │   ├── RefusedDestination      a withdrawal to the zero address or our wallet (422)
    │   ├── TierRefused             a withdrawal request naming a tier (422)
    │   ├── HoldError               unknown, already resolved, expired, over-posted (409)
    │   ├── InputFileError          file:line: what is wrong
    │   ├── TooLarge                a body or file over its size limit (HTTP 413)
    │   ├── TooDeep                 nested deeper than kinko reads (HTTP 422)
    │   ├── RangeNotSatisfiable     a download's Range of no byte the file holds (HTTP
    │   │                           416); ``size``, the file's length
    │   ├── NotFound                asked for by id or name, and there is none (404)
    │   ├── ConfigError             bad setting, bad kinko.toml, bad policy file
    │   ├── ApprovalError           forged, expired, duplicate or self approval (409)
    │   ├── SafeTxRefused           a Safe transaction kinko does not sign (DELEGATECALL,
    │   │                           gas refunds, a call to the Safe itself, bad owners)
    │   ├── CosignRefused           the policy co-signer did not sign (its reason code and
    │   │                           decision record in ``details``)
    │   └── ChainRejected           the node refused a transaction (nonce, funds, ...)
    ├── EnvironmentProblem          (exit 3, HTTP 503: database or node unreachable, schema
    │   │                           missing)
    │   ├── StoreUnavailable
    │   ├── ChainUnavailable        node down, timing out or rate limiting after retries
    │   ├── SignerUnavailable       the HSM does not answer or gives a signature that fails
    │   └── CosignerUnavailable     the co-signer cannot be reached or answers nonsense
    ├── Unauthorized                (exit 2, HTTP 401) no key, or an unknown or revoked one
    ├── Forbidden                   (exit 2, HTTP 403) the key's role may not do this
    ├── Throttled                   (exit 2, HTTP 429) too many wrong keys; ``retry_after``
    ├── SignInRequired              (HTTP 401) a dashboard page without a session
    ├── LedgerTampered              (exit 1, HTTP 409) the journal does not verify, so no
    │                               document is made from it (the FSA report)
    └── StoredValueInvalid          (exit 1, HTTP 500) a stored row holds what kinko never
                                    writes (text in a number's column, a missing head row):
                                    the database was altered outside kinko; ``seq``, the
                                    journal entry or audit record it is in, when known

Error messages never contain key material: they name accounts, files, lines and fields.

The English message is the error's words for the CLI, the logs and the API's ``detail``. An
error a person may read on the dashboard, or that becomes part of a timeline entry, also
carries ``says``: the same thing as a catalog message (:mod:`kinko.domain.messages`), read in
the reader's language (``raise NotFound("unknown withdrawal 'W-1'", says=msg(
"error.unknown_withdrawal", id="W-1"))``). :meth:`KinkoError.said` is what to show or store:
``says``, or else (an error nobody gave an id yet) the sentence of its class,
``error.<code>``, with the English words as its ``detail`` parameter: the English catalog shows
them as they are, another language shows the class's sentence only (``detail`` is the one
placeholder a translation may leave out), never English inside a Japanese sentence.
"""

from __future__ import annotations

from typing import Any

from kinko.domain.messages import Message

__all__ = [
    "ApprovalError",
    "BadInput",
    "ChainRejected",
    "ChainUnavailable",
    "ConfigError",
    "CosignRefused",
    "CosignerUnavailable",
    "EnvironmentProblem",
    "Forbidden",
    "HoldError",
    "IdempotencyConflict",
    "InputFileError",
    "InvalidAccount",
    "InvalidAddress",
    "InvalidAmount",
    "InvalidEntry",
    "InvalidId",
    "KinkoError",
    "LedgerTampered",
    "NotFound",
    "Overdraft",
    "RangeNotSatisfiable",
    "RefusedDestination",
    "SafeTxRefused",
    "SignInRequired",
    "SignerUnavailable",
    "StoreUnavailable",
    "StoredValueInvalid",
    "Throttled",
    "TierRefused",
    "TooDeep",
    "TooLarge",
    "Unauthorized",
    "UnknownAsset",
    "ValueRefused",
]


class KinkoError(Exception):
    """Base of every error kinko raises on purpose."""

    code = "kinko_error"
    exit_code = 1
    http_status = 400  # the API's answer: set per class, read by the API's error handler

    def __init__(self, message: str, *, says: Message | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.says = says  # the same, as a catalog message (see the module's docstring)
        self.details: dict[str, Any] = details

    def said(self) -> Message:
        """The error as a catalog message: ``says``, or its class's sentence (the English
        words as ``detail``, shown by the English catalog only)."""
        if self.says is not None:
            return self.says
        return Message(f"error.{self.code}", (("detail", self.message),))

    def to_dict(self) -> dict[str, Any]:
        """The error as the API and ``--format json`` show it."""
        return {"code": self.code, "message": self.message, "details": self.details}


class BadInput(KinkoError):
    """The caller's input is wrong; nothing was written."""

    code = "bad_input"
    exit_code = 2


class InvalidAmount(BadInput):
    code = "invalid_amount"


class UnknownAsset(BadInput):
    code = "unknown_asset"


class InvalidAccount(BadInput):
    code = "invalid_account"


class InvalidAddress(InvalidAccount):
    """Text that is not an address of its chain or list currency; the message names the
    address and what is wrong (checksum, length, characters, network)."""

    code = "invalid_address"


class InvalidEntry(BadInput):
    code = "invalid_entry"
    http_status = 422


class Overdraft(BadInput):
    code = "overdraft"
    http_status = 422


class IdempotencyConflict(BadInput):
    code = "idempotency_conflict"
    http_status = 409


class InvalidId(BadInput):
    """An id (a withdrawal's Idempotency-Key) outside the characters kinko accepts."""

    code = "invalid_id"
    http_status = 422


class RefusedDestination(BadInput):
    """A destination no withdrawal may go to (the zero address, the exchange's own)."""

    code = "refused_destination"
    http_status = 422


class TierRefused(BadInput):
    """A withdrawal request that names a tier: the tier is the customer's, recorded in kinko."""

    code = "tier_not_accepted"
    http_status = 422


class HoldError(BadInput):
    code = "hold_error"
    http_status = 409


class InputFileError(BadInput):
    """A malformed input file; ``problems`` lists ``file:line: what`` strings (English, as
    the API's details and the logs give them), ``problems_said`` the same problems as
    catalog messages, in order, for a reader of another language (None: none given)."""

    code = "input_file_error"

    def __init__(self, message: str, problems: list[str] | None = None, *,
                 says: Message | None = None, problems_said: list[Message] | None = None,
                 **details: Any) -> None:
        super().__init__(message, says=says, problems=problems or [message], **details)
        self.problems = problems or [message]
        self.problems_said = problems_said


class TooLarge(BadInput):
    """A request body or a file larger than kinko reads; refused before any parser ran."""

    code = "too_large"
    http_status = 413


class TooDeep(BadInput):
    """A document nested deeper than kinko reads (``[[[[...``); refused before parsing."""

    code = "too_deep"
    http_status = 422


class RangeNotSatisfiable(BadInput):
    """A download asked for byte ranges none of which the file holds (``bytes=500-`` of a
    100-byte file): HTTP 416, its ``Content-Range`` naming the file's ``size``."""

    code = "range_not_satisfiable"
    http_status = 416

    def __init__(self, message: str, size: int, *, says: Message | None = None) -> None:
        super().__init__(message, says=says, size=size)
        self.size = size


class NotFound(BadInput):
    """Something asked for by id or name that does not exist (HTTP 404)."""

    code = "not_found"
    http_status = 404


class ConfigError(BadInput):
    code = "config_error"


class ApprovalError(BadInput):
    code = "approval_error"
    http_status = 409


class SafeTxRefused(BadInput):
    """A Safe transaction (or a new Safe's owners) that kinko refuses before signing."""

    code = "safe_tx_refused"


class CosignRefused(BadInput):
    """The policy co-signer refused to sign: ``details["reason"]`` is its stable reason code
    (``no_such_request``, ``mismatch``, ``breaker_tripped``, ``over_limit`` ...),
    ``details["record"]`` the number of its decision record, when it made one."""

    code = "cosign_refused"

    @property
    def reason(self) -> str:
        return str(self.details.get("reason", "refused"))


class ChainRejected(BadInput):
    code = "chain_rejected"


class EnvironmentProblem(KinkoError):
    """Something outside kinko is missing or unreachable (database, node)."""

    code = "environment"
    exit_code = 3
    http_status = 503


class StoreUnavailable(EnvironmentProblem):
    code = "store_unavailable"


class ChainUnavailable(EnvironmentProblem):
    code = "chain_unavailable"


class SignerUnavailable(EnvironmentProblem):
    """The signing device (an HSM) cannot sign now; nothing was signed."""

    code = "signer_unavailable"


class CosignerUnavailable(EnvironmentProblem):
    """The policy co-signer could not be asked (not listening, timed out) or answered
    something that is not a valid answer; nothing it may have signed is used."""

    code = "cosigner_unavailable"


class Unauthorized(KinkoError):
    """No API key, or one kinko does not know (revoked, wrong secret)."""

    code = "unauthorized"
    exit_code = 2
    http_status = 401


class Forbidden(KinkoError):
    """A known key whose role may not do this."""

    code = "forbidden"
    exit_code = 2
    http_status = 403


class Throttled(KinkoError):
    """Too many wrong keys from this client or for this key (HTTP 429)."""

    code = "throttled"
    exit_code = 2
    http_status = 429

    def __init__(self, message: str, retry_after: int, *, says: Message | None = None) -> None:
        super().__init__(message, says=says, retry_after=retry_after)
        self.retry_after = retry_after


class SignInRequired(KinkoError):
    """A page asked for without a live session: the answer is the sign-in page."""

    code = "sign_in_required"
    http_status = 401


class LedgerTampered(KinkoError):
    """The journal's hash chain or the balances it gives do not verify (``kinko ledger
    verify`` finds a problem): a document stating figures from these books is not made."""

    code = "ledger_tampered"
    http_status = 409


class StoredValueInvalid(KinkoError):
    """A stored row holds a value kinko never writes there: text or a fraction in a number's
    column, bytes in a text's, a row that must be there missing. SQLite keeps whatever an
    ``UPDATE`` outside kinko writes: the database was altered, and a verification reports
    this (naming the row) as it reports an altered hash, rather than failing as a defect.
    ``seq`` is the journal entry or audit record the row belongs to, when it is known."""

    code = "stored_value_invalid"
    http_status = 500

    def __init__(self, message: str, *, seq: int | None = None, says: Message | None = None,
                 **details: Any) -> None:
        super().__init__(message, says=says, **details)
        self.seq = seq


class ValueRefused(ValueError):
    """A value that is refused, before the error that names where it came from: its English
    words (``str(exc)``) and ``says``, the same as a catalog message, which that error nests
    (a setting's, a policy value's, a refund file's cell). A ``ValueError``, so that the
    parsers that catch Python's own refusals catch it too."""

    def __init__(self, text: str, *, says: Message) -> None:
        super().__init__(text)
        self.says = says
