"""A recorded-shape double of a NIS1 node: what the NEM adapter's tests and the demo's NEM
act run against.

**This is not a NEM node.** No NIS1 node can run where kinko is built and tested, so this
local HTTP server answers the NIS1 routes kinko uses with JSON in the shapes of NIS 0.6.100
as documented in the NIS API documentation 1.22 (``/node/info``, ``/chain/height``,
``/local/chain/blocks-after``, ``/block/at/public``, ``/account/get``,
``/account/historical/get``, ``/account/mosaic/owned``, ``/account/unconfirmedTransactions``,
``/transaction/get``, ``/transaction/announce``, ``/namespace/mosaic/definition/page``). It
keeps no consensus and no fee rules, and no balance rules beyond these. What it does check
and do, as NIS1 does:

- an announced transaction's signature (with the NEM SDK), and that its payer holds the XEM
  a transfer sends;
- a multisig transaction is included only once the account's minimum of cosignatories has
  signed (the initiator, and cosignature transactions naming its inner hash); until then
  it waits among the unconfirmed, and :meth:`Nis1Double.expire` drops those whose deadline
  has passed (as NIS1 does: nothing moves);
- a cosignature from an account that is not a cosignatory of the multisig account, or
  announced for no waiting transaction, is refused;
- a transfer of a levied mosaic also moves the levy (absolute, or percentile: ``quantity ×
  fee / 10,000``) from the sender to the levy's recipient, as its definition says
  (``definitions``, with ``levies``);
- an account's public key is known once it has signed a transaction (``/account/get``).

Every transaction in it is built and signed by the SDK (through :mod:`kinko.chains.nem`)
and rendered to NIS1's JSON here (:func:`nis_json`), independently of the adapter's reader.
``faults`` makes the next requests answer HTTP 503; ``delay`` slows every answer. The keys
in :data:`PRIVATE` are throwaway keys of the tests and the demo, never keys of anything
real. Documented in ``docs/nis1-double.md``.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from kinko.chains import nem
from kinko.domain.nem import LEVY_ABSOLUTE, PERCENTILE_DIVISOR

__all__ = ["NIS_VERSION", "PRIVATE", "Nis1Double", "nis_json"]

# five NEM private keys for the tests' accounts (never keys of anything real)
PRIVATE = ["575DBB3062267EFF57C970A336EBBC8FBCFE12C5BD3ED7BC11EB0481D7704CED",
           "5B0E3FA5D3B49A79022D7C1E121BA1CBBF4DB5821F47AB8C708EF88DEFC29BFE",
           "738BA9BB9110AEA8F15CAA353ACA5653B4BDFCA1DB9F34D0EFED2CE1325AEEDA",
           "E8BF9BC0F35C12D8C8BF94DD3A8B5B4034F1063948E3CC5304E55E31AA4B95A6",
           "C325EA529674396DB5675939E7988883D59A5FC17A28CA977E3BA85370232A83"]
NIS_VERSION = "0.6.100"


def _signed_int32(value: int) -> int:
    return value - (1 << 32) if value >= 1 << 31 else value


def nis_json(tx: Any, signature: str | None = None) -> dict[str, Any]:
    """NIS1's JSON of an SDK transaction (the field names of the NIS API documentation)."""
    out: dict[str, Any] = {
        "timeStamp": tx.timestamp.value, "fee": tx.fee.value, "type": tx.type_.value,
        "deadline": tx.deadline.value,
        "version": _signed_int32((tx.network.value << 24) | tx.version),
        "signer": str(tx.signer_public_key).lower()}
    if signature is not None:
        out["signature"] = signature.lower()
    name = type(tx).__name__.replace("NonVerifiable", "")
    if name.startswith("TransferTransaction"):
        out["recipient"] = tx.recipient_address.bytes.decode()
        out["amount"] = tx.amount.value
        message = tx.message
        out["message"] = ({"payload": bytes(message.message).hex(),
                           "type": message.message_type.value} if message else {})
        if name.endswith("V2"):
            out["mosaics"] = [{"mosaicId": {
                "namespaceId": m.mosaic.mosaic_id.namespace_id.name.decode(),
                "name": m.mosaic.mosaic_id.name.decode()}, "quantity": m.mosaic.amount.value}
                for m in tx.mosaics]
    elif name.startswith("MultisigTransaction"):
        out["otherTrans"] = nis_json(tx.inner_transaction)
        out["signatures"] = []
    elif name.startswith("MultisigAccountModification"):
        out["modifications"] = [{
            "modificationType": m.modification.modification_type.value,
            "cosignatoryAccount": str(m.modification.cosignatory_public_key).lower()}
            for m in tx.modifications]
        if name.endswith("V2"):
            out["minCosignatories"] = {"relativeChange": tx.min_approval_delta}
    elif name.startswith("Cosignature"):
        out["otherHash"] = {"data": str(tx.other_transaction_hash).lower()}
        out["otherAccount"] = tx.multisig_account_address.bytes.decode()
    return out


@dataclass
class _Pending:
    signed: nem.Signed
    json: dict[str, Any]
    cosigners: set[str] = field(default_factory=set)


class Nis1Double:
    """The node's state and its HTTP server (``url``); see the module docstring."""

    def __init__(self, chain: str = "nem-testnet") -> None:
        self.chain = chain
        self.height = 1
        self.views: list[dict[str, Any]] = [self._view(1, [], "00" * 32)]
        self.balances: dict[str, int] = {}
        self.history: dict[tuple[str, int], int] = {}
        self.mosaics: dict[str, dict[str, int]] = {}
        self.definitions: dict[str, tuple[int, int]] = {}
        self.levies: dict[str, dict[str, Any]] = {}  # mosaic -> NIS1's levy object
        self.public_keys: dict[str, str] = {}  # accounts that signed -> their public key
        self.multisig: dict[str, int] = {}  # multisig account -> minimum cosignatories
        self.cosignatories: dict[str, list[str]] = {}  # multisig account -> their keys
        self.unconfirmed: list[_Pending] = []
        self.confirmed: dict[str, tuple[int, dict[str, Any]]] = {}
        self.faults = 0
        self.delay = 0.0
        self.requests: list[str] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # ------------------------------------------------------------------ the chain
    def _view(self, height: int, txes: list[dict[str, Any]], parent: str) -> dict[str, Any]:
        block = {"timeStamp": 1000 + height * 60, "signature": "ab" * 64,
                 "prevBlockHash": {"data": parent}, "type": 1, "transactions":
                 [t["tx"] for t in txes], "version": _signed_int32(0x98000001),
                 "signer": "cd" * 32, "height": height}
        digest = nem.facade(self.chain).network.address_hasher()
        digest.update(json.dumps(block, sort_keys=True).encode())
        return {"difficulty": 100_000_000_000_000, "txes": txes, "block": block,
                "hash": digest.hexdigest()}

    def fund(self, address: str, micro: int) -> None:
        """Give (or, negative, take) XEM outside any transaction: in the first block before
        another is mined, else in the next block mined."""
        self.balances[address] = self.balances.get(address, 0) + micro
        if self.height == 1:
            self.history[(address, 1)] = self.balances[address]

    def balance_at(self, address: str, height: int) -> int:
        """The balance as the last change at or below ``height`` left it."""
        known = [h for (a, h) in self.history if a == address and h <= height]
        return self.history[(address, max(known))] if known else 0

    def give_mosaic(self, address: str, mosaic: str, quantity: int) -> None:
        held = self.mosaics.setdefault(address, {})
        held[mosaic] = held.get(mosaic, 0) + quantity

    def mine(self) -> int:
        """A block of every unconfirmed transaction that may be included."""
        with self._lock:
            ready = [p for p in self.unconfirmed if self._ready(p)]
            self.unconfirmed = [p for p in self.unconfirmed if p not in ready]
            txes: list[dict[str, Any]] = []
            for p in ready:
                body = dict(p.json)
                txes.append({"tx": body, "hash": p.signed.hash.lower(),
                             "innerHash": {"data": nem.inner_hash(
                                 self.chain, nem.decode(p.signed.data).inner_transaction)
                                 .lower()} if "otherTrans" in body else {}})
                self._apply(body)
            self.height += 1
            self.views.append(self._view(self.height, txes, self.views[-1]["hash"]))
            for t in txes:
                self.confirmed[t["hash"]] = (self.height, t["tx"])
            for address, balance in self.balances.items():
                self.history[(address, self.height)] = balance
            return self.height

    def expire(self, network_time: int) -> list[str]:
        """Drop the unconfirmed transactions whose deadline is before ``network_time`` (NEM
        seconds), as NIS1 does; their hashes."""
        with self._lock:
            gone = [p for p in self.unconfirmed if p.json["deadline"] < network_time]
            self.unconfirmed = [p for p in self.unconfirmed if p not in gone]
            return [p.signed.hash.lower() for p in gone]

    def _ready(self, p: _Pending) -> bool:
        if "otherTrans" not in p.json:
            return True
        account = nem.address_of(p.json["otherTrans"]["signer"], self.chain)
        return 1 + len(p.cosigners) >= self.multisig.get(account, 1)

    def _apply(self, tx: dict[str, Any]) -> None:
        inner = tx.get("otherTrans", tx)
        sender = nem.address_of(inner["signer"], self.chain)
        fee = tx["fee"] + (inner["fee"] if inner is not tx else 0) + sum(
            s["fee"] for s in tx.get("signatures") or [])
        self.balances[sender] = self.balances.get(sender, 0) - fee
        if inner["type"] == 0x1001:  # a multisig modification (a conversion, unwrapped)
            keys = self.cosignatories.setdefault(sender, [])
            for m in inner.get("modifications") or []:
                key = m["cosignatoryAccount"].upper()
                if m["modificationType"] == 1 and key not in keys:
                    keys.append(key)
                elif m["modificationType"] == 2 and key in keys:
                    keys.remove(key)
            change = (inner.get("minCosignatories") or {}).get("relativeChange", 0)
            self.multisig[sender] = max(1, self.multisig.get(sender, 0) + change) if keys else 0
            return
        if inner["type"] != 0x101:
            return
        to = inner["recipient"]
        for m in inner.get("mosaics") or [{"mosaicId": {"namespaceId": "nem", "name": "xem"},
                                           "quantity": inner["amount"]}]:
            mosaic = f"{m['mosaicId']['namespaceId']}:{m['mosaicId']['name']}"
            moved = m["quantity"] * (inner["amount"] if inner.get("mosaics") else 1_000_000) \
                // 1_000_000
            self._move(sender, to, mosaic, moved)
            levy = self.levies.get(mosaic)
            if levy and moved:
                due = levy["fee"] if levy["type"] == LEVY_ABSOLUTE else \
                    moved * levy["fee"] // PERCENTILE_DIVISOR
                levied = f"{levy['mosaicId']['namespaceId']}:{levy['mosaicId']['name']}"
                if due:
                    self._move(sender, levy["recipient"], levied, due)

    def _move(self, sender: str, to: str, mosaic: str, moved: int) -> None:
        if mosaic == "nem:xem":
            self.balances[sender] -= moved
            self.balances[to] = self.balances.get(to, 0) + moved
        else:
            self.mosaics.setdefault(sender, {})[mosaic] = \
                self.mosaics.get(sender, {}).get(mosaic, 0) - moved
            self.give_mosaic(to, mosaic, moved)

    # ------------------------------------------------------------------ announce
    def announce(self, body: dict[str, str]) -> tuple[int, dict[str, Any]]:
        signed = nem.Signed(body["data"], body["signature"], "", self.chain)
        if not nem.verify(signed):
            return 400, {"error": "Bad Request", "status": 400,
                         "message": "FAILURE_SIGNATURE_NOT_VERIFIABLE"}
        tx = nem.decode(body["data"])
        digest = str(nem.facade(self.chain).hash_transaction(tx))
        signed = nem.Signed(body["data"], body["signature"], digest, self.chain)
        js = nis_json(tx, body["signature"])
        with self._lock:
            self.public_keys[nem.address_of(js["signer"], self.chain)] = js["signer"].upper()
            if js["type"] == 0x1002:  # a cosignature of a waiting multisig transaction
                keys = {k.lower() for k in self.cosignatories.get(js["otherAccount"], [])}
                if keys and js["signer"] not in keys:  # when the test named them
                    return 400, {"error": "Bad Request", "status": 400,
                                 "message": "FAILURE_MULTISIG_NOT_A_COSIGNER"}
                for p in self.unconfirmed:
                    inner = nem.decode(p.signed.data).inner_transaction
                    if nem.inner_hash(self.chain, inner).lower() == js["otherHash"]["data"]:
                        p.cosigners.add(js["signer"])
                        p.json["signatures"].append(js)
                        return 200, _success(digest)
                return 400, {"error": "Bad Request", "status": 400,
                             "message": "FAILURE_MULTISIG_NO_MATCHING_MULTISIG"}
            payer = nem.address_of(js.get("otherTrans", js)["signer"], self.chain)
            waiting = sum(_xem(p.json.get("otherTrans", p.json)) + p.json["fee"]
                          for p in self.unconfirmed if nem.address_of(
                              p.json.get("otherTrans", p.json)["signer"], self.chain) == payer)
            # as NIS1's unconfirmed-transactions cache: against what waiting ones leave
            if self.balances.get(payer, 0) - waiting < _xem(js.get("otherTrans", js)):
                return 400, {"error": "Bad Request", "status": 400,
                             "message": "FAILURE_INSUFFICIENT_BALANCE"}
            self.unconfirmed.append(_Pending(signed, js))
        return 200, _success(digest)

    # ------------------------------------------------------------------ HTTP
    def _route(self, method: str, path: str, query: dict[str, str], body: Any
               ) -> tuple[int, Any]:
        if (method, path) == ("GET", "/node/info"):
            network = nem.facade(self.chain).network.identifier
            return 200, {"metaData": {"features": 1, "application": None,
                                      "networkId": network - 256 if network > 127 else network,
                                      "version": f"{NIS_VERSION}-BETA", "platform": "double"},
                         "endpoint": {"protocol": "http", "port": 7890, "host": "127.0.0.1"},
                         "identity": {"name": "double", "public-key": "ef" * 32}}
        if (method, path) == ("GET", "/chain/height"):
            return 200, {"height": self.height}
        if (method, path) == ("POST", "/local/chain/blocks-after"):
            after = int(body["height"])
            return 200, {"data": self.views[after:after + 10]}
        if (method, path) == ("POST", "/block/at/public"):
            return 200, self.views[int(body["height"]) - 1]["block"]
        if (method, path) == ("GET", "/account/get"):
            address = query["address"].replace("-", "").upper()
            keys = self.cosignatories.get(address, [])
            info = {"cosignatoriesCount": len(keys),
                    "minCosignatories": self.multisig[address]} if keys else {}
            return 200, {"account": {"address": address,
                                     "balance": self.balances.get(address, 0),
                                     "vestedBalance": 0, "importance": 0,
                                     "publicKey": (self.public_keys.get(address) or "").lower()
                                     or None,
                                     "label": None, "harvestedBlocks": 0,
                                     "multisigInfo": info},
                         "meta": {"cosignatoryOf": [], "cosignatories": [
                             {"address": nem.address_of(k, self.chain), "harvestedBlocks": 0,
                              "balance": 0, "importance": 0, "vestedBalance": 0,
                              "publicKey": k.lower(), "label": None, "multisigInfo": {}}
                             for k in keys],
                                  "status": "LOCKED", "remoteStatus": "INACTIVE"}}
        if (method, path) == ("GET", "/account/historical/get"):
            address, height = query["address"], int(query["startHeight"])
            return 200, {"data": [{"pageRank": 0, "address": address, "balance":
                                   self.balance_at(address, height), "importance": 0,
                                   "vestedBalance": 0, "unvestedBalance": 0,
                                   "height": height}]}
        if (method, path) == ("GET", "/account/mosaic/owned"):
            held = self.mosaics.get(query["address"], {})
            xem = [("nem:xem", self.balances.get(query["address"], 0))]
            return 200, {"data": [{"mosaicId": {"namespaceId": m.split(":")[0],
                                                "name": m.split(":")[1]}, "quantity": q}
                                  for m, q in xem + sorted(held.items())]}
        if (method, path) == ("GET", "/account/unconfirmedTransactions"):
            address = query["address"]
            mine = [p for p in self.unconfirmed
                    if nem.address_of(p.json.get("otherTrans", p.json)["signer"], self.chain)
                    == address or p.json.get("otherTrans", p.json).get("recipient") == address]
            return 200, {"data": [{"meta": {"data": None}, "transaction": p.json}
                                  for p in mine]}
        if (method, path) == ("GET", "/transaction/get"):
            found = self.confirmed.get(query["hash"].lower())
            if found is None:
                return 400, {"error": "Bad Request", "status": 400,
                             "message": "Neither transaction id was given nor hash was found"}
            return 200, {"meta": {"height": found[0], "hash": {"data": query["hash"]},
                                  "innerHash": {}, "id": 1}, "transaction": found[1]}
        if (method, path) == ("GET", "/namespace/mosaic/definition/page"):
            ns = query["namespace"]
            defs = [(m, d) for m, d in self.definitions.items() if m.split(":")[0] == ns]
            if not defs:
                return 404, {"error": "Not Found", "status": 404,
                             "message": f"namespace {ns} unknown"}
            return 200, {"data": [{"meta": {"id": i}, "mosaic": {
                "creator": "cd" * 32, "description": "",
                "id": {"namespaceId": ns, "name": m.split(":")[1]},
                "properties": [{"name": "divisibility", "value": str(d[1])},
                               {"name": "initialSupply", "value": str(d[0])},
                               {"name": "supplyMutable", "value": "false"},
                               {"name": "transferable", "value": "true"}],
                "levy": self.levies.get(m, {})}} for i, (m, d) in enumerate(defs)]}
        if (method, path) == ("POST", "/transaction/announce"):
            return self.announce(body)
        return 404, {"error": "Not Found", "status": 404, "message": f"no route {path}"}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        double = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, method: str) -> None:
                url = urlparse(self.path)
                double.requests.append(f"{method} {url.path}")
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                if double.delay:
                    time.sleep(double.delay)
                if double.faults > 0:
                    double.faults -= 1
                    status, answer = 503, {"error": "Service Unavailable", "status": 503}
                else:
                    query = {k: v[0] for k, v in parse_qs(url.query).items()}
                    status, answer = double._route(method, url.path, query, body)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._answer("GET")

            def do_POST(self) -> None:
                self._answer("POST")

            def log_message(self, *args: Any) -> None:
                pass

        return Handler


def _xem(tx: dict[str, Any]) -> int:
    """The micro-XEM a transfer's JSON moves (0 for another kind of transaction)."""
    if tx.get("type") != 0x101:
        return 0
    if not tx.get("mosaics"):
        return int(tx.get("amount", 0))
    return sum(m["quantity"] * tx["amount"] // 1_000_000 for m in tx["mosaics"]
               if (m["mosaicId"]["namespaceId"], m["mosaicId"]["name"]) == ("nem", "xem"))


def _success(digest: str) -> dict[str, Any]:
    return {"innerTransactionHash": {}, "code": 1, "type": 1, "message": "SUCCESS",
            "transactionHash": {"data": digest.lower()}}
