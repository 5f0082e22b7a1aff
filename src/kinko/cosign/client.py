"""kinko's client of the policy co-signer: the :class:`~kinko.ports.Cosigner` port over HTTP.

``HttpCosigner("http://127.0.0.1:8765", token)`` (or ``"unix:/run/kinko/cosign.sock"``)
posts the request of ``docs/cosign.md`` and trusts the answer no more than the co-signer
trusts the question: a signature is returned only if it recovers, over the hash of the
SafeTx *this side* built, to the co-signer's address (and to ``expected_signer`` when
given: the owner registered in the Safe). A refusal is
:class:`~kinko.errors.CosignRefused` with the co-signer's reason and record number; a
co-signer that cannot be reached, times out (each exchange within three times the
time-out, however its answer trickles in: :mod:`kinko.deadline`) or answers nonsense is
:class:`~kinko.errors.CosignerUnavailable` — nothing signed reaches the caller either way.

Asking again is safe: the co-signer gives the same SafeTx for the same request the same
signature (``repeated``), so a lost answer is recovered by asking once more. One connection
per thread is kept open (keep-alive) and opened again after a failure.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
from typing import Any

from kinko.deadline import Deadline, cut_at
from kinko.domain.cosign import REASONS, CosignRequest, NemCosignRequest, nem_request_json
from kinko.domain.messages import Message, msg
from kinko.domain.nem_tx import read_cosignature, read_transfer
from kinko.domain.safe import SafeTx, recover_owner
from kinko.errors import (
    ApprovalError,
    BadInput,
    ConfigError,
    CosignerUnavailable,
    CosignRefused,
)
from kinko.ports import CoSignature, NemCoSignature
from kinko.safeload import loads_json

__all__ = ["HttpCosigner"]

_MAX_ANSWER = 65_536


class _TcpConnection(http.client.HTTPConnection):
    def connect(self) -> None:
        super().connect()
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no 40 ms waits


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


class HttpCosigner:
    """See the module docstring."""

    def __init__(self, url: str, token: str, *, timeout: float = 10.0,
                 expected_signer: str | None = None) -> None:
        if not token:
            raise ConfigError("asking the co-signer needs its token: export KINKO_COSIGN_TOKEN",
                              says=msg("error.cosign.token_needed", env="KINKO_COSIGN_TOKEN"))
        if url.startswith("unix:"):
            self._unix: str | None = url[5:]
            self._host, self._port = "localhost", 0
        elif url.startswith("http://"):
            self._unix = None
            hostport = url[7:].rstrip("/")
            host, _, port = hostport.rpartition(":")
            if not host or not port.isdigit():
                raise ConfigError(f"co-signer URL {url!r}: give http://HOST:PORT or "
                                  "unix:/PATH", says=msg("error.cosign.url_form", url=url[:200]))
            self._host, self._port = host.strip("[]"), int(port)
        else:
            raise ConfigError(f"co-signer URL {url!r}: give http://HOST:PORT or unix:/PATH "
                              "(for another host, a TLS tunnel to a local port)",
                              says=msg("error.cosign.url_scheme", url=url[:200]))
        self.url = url
        self.__token = token
        self.timeout = timeout
        self.expected_signer = expected_signer
        self._local = threading.local()

    def __repr__(self) -> str:  # never the token
        return f"HttpCosigner({self.url!r})"

    def _connection(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            if self._unix is not None:
                conn = _UnixConnection(self._unix, self.timeout)
            else:
                conn = _TcpConnection(self._host, self._port, timeout=self.timeout)
            self._local.conn = conn
        return conn

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def _exchange(self, method: str, path: str, body: bytes | None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.__token}", "Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        whole = 3 * self.timeout  # the whole exchange, however the answer trickles in
        for attempt in (1, 2):  # a kept-alive connection the server closed: once more
            conn = self._connection()
            deadline: Deadline | None = None
            try:
                if conn.sock is None:
                    conn.connect()
                deadline = cut_at(conn.sock, whole)
                conn.request(method, path, body=body, headers=headers)
                answer = conn.getresponse()
                raw = answer.read(_MAX_ANSWER + 1)
                status = answer.status
                deadline.cancel()
                if deadline.passed:  # what was read by then may look whole: it is not
                    raise TimeoutError
                break
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                if deadline is not None and deadline.passed:
                    raise CosignerUnavailable(f"the co-signer at {self.url} did not answer "
                                              f"within {whole:g} s",
                                              says=msg("error.cosign.timed_out",
                                                       url=self.url[:200],
                                                       seconds=f"{whole:g}")) from None
                if attempt == 2 or isinstance(exc, TimeoutError | socket.timeout):
                    raise CosignerUnavailable(f"the co-signer at {self.url} did not answer: "
                                              f"{type(exc).__name__}",
                                              says=msg("error.cosign.no_answer",
                                                       url=self.url[:200],
                                                       error=type(exc).__name__)) from None
        if len(raw) > _MAX_ANSWER:
            self.close()
            raise CosignerUnavailable(f"the co-signer at {self.url} answered more than "
                                      f"{_MAX_ANSWER} bytes",
                                      says=msg("error.cosign.answer_too_large",
                                               url=self.url[:200], most=str(_MAX_ANSWER)))
        try:  # bounded depth, no key twice, never a float
            return status, loads_json(raw, "answer", max_bytes=_MAX_ANSWER)
        except BadInput as exc:
            raise CosignerUnavailable(f"the co-signer at {self.url} answered HTTP {status} "
                                      f"with something that is not JSON kinko reads: "
                                      f"{exc.message[:200]}",
                                      says=msg("error.cosign.answer_not_json",
                                               url=self.url[:200], status=str(status),
                                               problem=exc.said())) from None

    def info(self) -> dict[str, Any]:
        """The co-signer's address, chain, key storage and log head."""
        status, data = self._exchange("GET", "/v1/info", None)
        if status != 200 or not isinstance(data, dict):
            raise CosignerUnavailable(f"the co-signer at {self.url} answered HTTP {status} "
                                      "to /v1/info", says=msg("error.cosign.info_status",
                                                              url=self.url[:200],
                                                              status=str(status)))
        return data

    def cosign(self, kind: str, request_id: str, tx: SafeTx) -> CoSignature:
        request = CosignRequest(kind, request_id, tx)
        data = self._ask(json.dumps(request.to_json(), sort_keys=True).encode())
        return self._signature(request, data)

    def cosign_nem(self, kind: str, request_id: str, chain: str,
                   transfer: str) -> NemCoSignature:
        """The :class:`~kinko.ports.NemCosigner` port: the co-signer's cosignature of the NEM
        transfer whose bytes are ``transfer``, used only if it is a valid cosignature (its
        signature verifies) of *this* transfer's hash and account by the co-signer."""
        try:
            request = NemCosignRequest(kind, request_id, read_transfer(chain, transfer))
        except BadInput as exc:
            raise ApprovalError(f"{kind} {request_id}: {exc.message}",
                                says=msg("error.cosign.transfer_unread", kind=kind[:40],
                                         request=request_id[:128],
                                         problem=exc.said())) from None
        data = self._ask(json.dumps(nem_request_json(request), sort_keys=True).encode())
        tr = request.transfer
        try:
            signer, named, account = read_cosignature(tr.chain, str(data["data"]),
                                                      str(data["signature"]))
            record = int(data["record"])
            ok = (named == tr.inner_hash and account == tr.account
                  and signer == str(data["signer"]) and data.get("request") == request.key
                  and (self.expected_signer is None or signer == self.expected_signer))
        except (KeyError, TypeError, ValueError, BadInput):
            ok = False
        if not ok:
            raise CosignerUnavailable(f"the co-signer at {self.url} answered something that "
                                      f"is not its cosignature of transfer {tr.inner_hash}; "
                                      "it is not used",
                                      says=msg("error.cosign.not_its_cosignature",
                                               url=self.url[:200], hash=tr.inner_hash[:80]))
        return NemCoSignature(request.key, tr.inner_hash, signer, str(data["data"]),
                              str(data["signature"]), record,
                              repeated=data.get("decision") == "repeated")

    def _ask(self, body: bytes) -> Any:
        status, data = self._exchange("POST", "/v1/cosign", body)
        if status != 200:
            error = data.get("error") if isinstance(data, dict) else None
            if isinstance(error, dict) and error.get("code") == "cosign_refused":
                found = error.get("details")
                details: dict[str, Any] = found if isinstance(found, dict) else {}
                raise CosignRefused(str(error.get("message", "refused")),
                                    says=self._refusal(details), **details)
            message = error.get("message") if isinstance(error, dict) else None
            says = msg("error.cosign.http_status_said", url=self.url[:200], status=str(status),
                       message=str(message)[:200]) if message else \
                msg("error.cosign.http_status", url=self.url[:200], status=str(status))
            raise CosignerUnavailable(f"the co-signer at {self.url} answered HTTP {status}"
                                      + (f": {message}" if message else ""), says=says)
        return data

    def _refusal(self, details: dict[str, Any]) -> Message:
        """A refusal's words for a person: the co-signer's reason code and what it means,
        in the reader's language (the co-signer's own English sentence is the message; its
        log keeps it)."""
        reason = str(details.get("reason", ""))[:80]
        record = details.get("record")
        said = msg(f"cosign.reason.{reason}") if reason in REASONS else msg(
            "error.cosign.reason_unknown")
        if isinstance(record, int) and not isinstance(record, bool):
            return msg("error.cosign.refused_by_record", url=self.url[:200], code=reason or "—",
                       reason=said, record=str(record))
        return msg("error.cosign.refused_by", url=self.url[:200], code=reason or "—",
                   reason=said)

    def _signature(self, request: CosignRequest, data: Any) -> CoSignature:
        tx = request.tx
        try:
            signer = str(data["signer"])
            signature = bytes.fromhex(str(data["signature"]).removeprefix("0x"))
            record = int(data["record"])
            answered_hash = str(data["safe_tx_hash"]).lower()
            decision = str(data["decision"])
        except (KeyError, TypeError, ValueError):
            raise CosignerUnavailable(f"the co-signer at {self.url} answered without a "
                                      "signature, its signer and its record",
                                      says=msg("error.cosign.answer_incomplete",
                                               url=self.url[:200])) from None
        if answered_hash != "0x" + tx.hash.hex() or data.get("request") != request.key:
            raise CosignerUnavailable(f"the co-signer at {self.url} answered for another "
                                      "request or SafeTx; its signature is not used",
                                      says=msg("error.cosign.answer_other",
                                               url=self.url[:200]))
        try:
            recovered = recover_owner(tx.hash, signature)
        except ApprovalError:
            recovered = ""
        if recovered.lower() != signer.lower() or (
                self.expected_signer is not None
                and recovered.lower() != self.expected_signer.lower()):
            raise CosignerUnavailable(f"the co-signer at {self.url} answered a signature that "
                                      f"is not {self.expected_signer or signer}'s over this "
                                      "SafeTx; it is not used",
                                      says=msg("error.cosign.signature_not_signer",
                                               url=self.url[:200],
                                               signer=(self.expected_signer or signer)[:80]))
        return CoSignature(request.key, tx.hash, recovered, signature, record,
                           repeated=decision == "repeated")
