"""The ``Chain`` port for NEM, over NIS1's HTTP API (NIS API documentation 1.22; the
shapes of NIS 0.6.100, the last NIS1 release).

The routes kinko reads and the one it writes:

``GET /node/info``
    ``{"metaData": {"networkId"}, ...}``: the node's network (104 mainnet, -104 testnet),
    checked against the adapter's chain (:meth:`NisChain.caip2`).
``GET /chain/height``
    ``{"height": N}``: the head.
``POST /local/chain/blocks-after`` ``{"height": N}``
    the blocks after ``N`` (at most ten, ``{"data": [{"block", "hash", "difficulty",
    "txes": [{"tx", "hash", "innerHash"}]}]}``); kinko takes the first, block ``N + 1``,
    because it is the one route that gives a block's hash and its transactions' hashes
    (``/block/at/public`` gives neither).
``GET /account/get?address=A``
    ``{"account": {"balance", "multisigInfo", ...}, "meta": {"cosignatories",
    "cosignatoryOf", ...}}``: XEM balances (``GET /account/historical/get`` at a past
    height, on nodes that keep history) and a multisig account's set-up
    (:meth:`NisChain.multisig`).
``GET /account/mosaic/owned?address=A``
    ``{"data": [{"mosaicId": {"namespaceId", "name"}, "quantity"}]}``: mosaic balances.
``GET /account/unconfirmedTransactions?address=A``
    ``{"data": [{"meta": {"data"}, "transaction"}]}``: the unconfirmed transactions of an
    account. NIS1 has no route for the whole pool, so :meth:`NisChain.pending` reads those
    of the accounts it is told to watch (``accounts``: the exchange's hot accounts).
``GET /transaction/get?hash=H``
    ``{"meta": {"height", "hash", "innerHash"}, "transaction"}``: a receipt (NIS1 keeps only
    transactions that were included; a refused one is never in a block).
``GET /namespace/mosaic/definition/page?namespace=NS``
    the mosaic definitions of a namespace (supply and divisibility, for fees and amounts).
``POST /transaction/announce`` ``{"data", "signature"}``
    a signed transaction; NIS1 answers ``{"code": 1, "message": "SUCCESS",
    "transactionHash": {"data"}}`` or another code and a reason (refused: not retried).

A block's transfers (:func:`read_transfers`): a transfer of XEM (version 1, or version 2
without mosaics) is one record in micro-XEM (``token`` None); a version 2 transfer with
mosaics is one record per mosaic, ``nem:xem`` as XEM, every other mosaic with ``token`` its
``namespace:name`` and ``log_index`` its place in the list, each moving ``quantity ×
amount / 1,000,000``; a multisig transaction's inner transfer is the multisig account's
(``sender`` the account, ``tx_hash`` the multisig transaction's hash, the hash NIS1 and the
explorers list); namespace and mosaic rental fees are transfers to their fee sinks; a
transaction that moves no XEM (only mosaics, a multisig modification, ...) has an XEM record
of 0 (to nobody when it has no recipient), as every Ethereum transaction has its native
record, so the watch sees every act of an exchange account. A mosaic's levy (paid
automatically by every transfer of a levied mosaic, as its definition says, and not written
in the transaction) is not read. NEM
accounts have no nonce (a transaction is protected from replay by its time stamp and
deadline): ``nonce`` is 0. Addresses are given in the registry's canonical form, a block's
time in Unix seconds (NIS1 counts from the network's first block, 2015-03-29 00:06:25 UTC).

Failures are translated as in the EVM adapter: no answer, a time-out (``timeout`` seconds
for each read, ``deadline``, three times that by default, for a whole answer), HTTP 429 or
5xx, an answer larger than 16 MiB or that :func:`~kinko.safeload.loads_json` refuses (not
JSON, nested too deep, a key twice), or one that is not NIS1's shape become
:class:`~kinko.chains.evm.Transient` (retried by :class:`~kinko.chains.retry.Retrying`);
a refused announce is :class:`~kinko.errors.ChainRejected`.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import requests
import urllib3

from kinko.chains.evm import Transient
from kinko.chains.http_answer import UnreadAnswer, parse_answer, read_answer, timely_session
from kinko.chains.nem import address_of, decode, facade, nis_hash, unix_time
from kinko.chains.retry import Retrying
from kinko.domain.addresses import canonical_address
from kinko.domain.chain import Block, Transfer
from kinko.domain.messages import N_, Message, msg
from kinko.domain.nem import (
    MICRO_XEM,
    XEM_MOSAIC,
    Levy,
    MosaicDefinition,
    check_public_key,
    mosaic_id,
    mosaic_quantity,
    split_mosaic,
)
from kinko.errors import BadInput, ChainRejected, ConfigError
from kinko.ports import Receipt
from kinko.safeload import whole_number
from kinko.shown import url_shown

__all__ = ["NisChain", "Shape", "connect", "definitions", "read_hash", "read_transfers",
           "read_whole"]

TRANSFER, MULTISIG, PROVISION_NAMESPACE, MOSAIC_DEFINITION = 0x101, 0x1004, 0x2001, 0x4001
COSIGNATURE = 0x1002
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
_LONG = 2**63 - 1  # NIS1 (Java) keeps heights, amounts and fees in 64-bit longs
MOSAIC_MOST = 9_000_000_000_000_000
"""The most smallest units NIS1 allows a mosaic (its supply × 10 ** divisibility)."""
XEM_SUPPLY = 8_999_999_999 * MICRO_XEM
"""Every XEM there is (created in the first block; NEM mints none), in micro-XEM."""
_NETWORKS = {0x68: N_("error.nis1.network.mainnet"), 0x98: N_("error.nis1.network.testnet")}
_UNKNOWN_NETWORK = N_("error.nis1.network.unknown")  # a node's network, in words


class Shape(Exception):
    """An answer that is not NIS1's documented shape (says where)."""


def read_whole(value: Any, where: str) -> int:
    """A whole number of NIS1's answer at ``where`` (its 64 bits; never a bool or a
    fraction), or :class:`Shape` naming it."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise Shape(f"{where} is not a whole number ({str(value)[:40]!r})")
    if value > _LONG:
        raise Shape(f"{where} is beyond NIS1's 64-bit numbers ({str(value)[:40]})")
    return value


def _xem(value: Any, where: str) -> int:
    """``value`` micro-XEM (a whole number, as :func:`read_whole` reads it), unless it is more
    than all the XEM there is."""
    micro = read_whole(value, where)
    if micro > XEM_SUPPLY:
        raise Shape(f"{where} moves {micro} micro-XEM: more XEM than there is "
                    f"({XEM_SUPPLY // MICRO_XEM:,} XEM)")
    return micro


def _u32(value: Any, where: str) -> int:
    number = read_whole(value, where)
    if number >= 1 << 32:
        raise Shape(f"{where} is beyond NEM's 32-bit time stamps ({number})")
    return number


def _list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise Shape(f"{where} is not a list")
    return value


def read_hash(value: Any, where: str) -> str:
    """A transaction's or block's hash of NIS1's answer at ``where`` (64 hex digits, in
    lower case), or :class:`Shape` naming it."""
    if not isinstance(value, str) or not _HEX64.fullmatch(value):
        raise Shape(f"{where} is not a 64-digit hex hash ({str(value)[:80]!r})")
    return value.lower()


def _get(obj: Any, key: str, where: str) -> Any:
    if not isinstance(obj, Mapping) or key not in obj:
        raise Shape(f"{where} has no {key!r}")
    return obj[key]


def _mosaic_of(entry: Any, where: str) -> tuple[str, int]:
    mid = _get(entry, "mosaicId", where)
    text = f"{_get(mid, 'namespaceId', where)}:{_get(mid, 'name', where)}"
    try:
        return mosaic_id(text), read_whole(_get(entry, "quantity", where), f"{where}.quantity")
    except BadInput as exc:
        raise Shape(f"{where}: {exc}") from None


def read_transfers(tx: Any, *, chain: str, tx_hash: str, block: int, tx_index: int,
                   where: str = "transaction",
                   mosaics: Callable[[str], MosaicDefinition | None] | None = None
                   ) -> list[Transfer]:
    """The value transfers of one NIS1 transaction (JSON as NIS1 gives it), see the module
    docstring; :class:`Shape` naming the field when it is not NIS1's shape. Every
    transaction an account makes has one XEM record (``token`` None), of nothing when it
    moves no XEM (mosaics only, a multisig modification, an importance transfer): the
    watch sees every act of a wallet's key, as on Ethereum. With ``mosaics`` (a mosaic's
    definition, or None when unknown), each levied mosaic's levy is a record too: from the
    sender to the levy's recipient, in the levy's mosaic (``token`` None for XEM), its
    ``log_index`` after the mosaics' (the number of mosaics plus the mosaic's place)."""
    kind = read_whole(_get(tx, "type", where), f"{where}.type")
    if kind == MULTISIG:
        return read_transfers(_get(tx, "otherTrans", where), chain=chain, tx_hash=tx_hash,
                              block=block, tx_index=tx_index, where=f"{where}.otherTrans",
                              mosaics=mosaics)
    if kind == COSIGNATURE:
        return []  # moves nothing; the account pays its fee with the multisig transaction
    try:
        sender = address_of(_get(tx, "signer", where), chain)
        if kind not in (TRANSFER, PROVISION_NAMESPACE, MOSAIC_DEFINITION):
            # moves no value (a multisig modification, an importance transfer, a supply
            # change): one record of nothing, so that the watch sees the account acted
            return [Transfer(tx_hash, block, tx_index, sender, None, 0, 0)]
        if kind == PROVISION_NAMESPACE:
            to = canonical_address(_get(tx, "rentalFeeSink", where), chain)
            fee = _xem(_get(tx, "rentalFee", where), f"{where}.rentalFee")
            return [Transfer(tx_hash, block, tx_index, sender, to, fee, 0)]
        if kind == MOSAIC_DEFINITION:
            to = canonical_address(_get(tx, "creationFeeSink", where), chain)
            fee = _xem(_get(tx, "creationFee", where), f"{where}.creationFee")
            return [Transfer(tx_hash, block, tx_index, sender, to, fee, 0)]
        to = canonical_address(_get(tx, "recipient", where), chain)
    except BadInput as exc:
        raise Shape(f"{where}: {exc}") from None
    amount = read_whole(_get(tx, "amount", where), f"{where}.amount")
    entries = _list(tx.get("mosaics"), f"{where}.mosaics")
    if not entries:
        return [Transfer(tx_hash, block, tx_index, sender, to,
                         _xem(amount, f"{where}.amount"), 0)]
    native: list[Transfer] = []
    if not any(_mosaic_of(e, f"{where}.mosaics[{i}]")[0] == XEM_MOSAIC
               for i, e in enumerate(entries)):  # every transaction has its XEM record
        native.append(Transfer(tx_hash, block, tx_index, sender, to, 0, 0))
    tokens: list[Transfer] = []
    levies: list[Transfer] = []
    for i, entry in enumerate(entries):
        mosaic, quantity = _mosaic_of(entry, f"{where}.mosaics[{i}]")
        value = mosaic_quantity(quantity, amount)
        if mosaic == XEM_MOSAIC:
            native.append(Transfer(tx_hash, block, tx_index, sender, to,
                                   _xem(value, f"{where}.mosaics[{i}]"), 0))
        else:
            tokens.append(Transfer(tx_hash, block, tx_index, sender, to, value, 0,
                                   token=mosaic, log_index=i))
        definition = mosaics(mosaic) if mosaics is not None and mosaic != XEM_MOSAIC else None
        for levied, recipient, due in (definition.levies(value) if definition else ()):
            levies.append(Transfer(tx_hash, block, tx_index, sender, recipient, due, 0,
                                   token=None if levied == XEM_MOSAIC else levied,
                                   log_index=len(entries) + i, levy=True))
    return native + tokens + levies


def definitions(page: Any, chain: str) -> dict[str, MosaicDefinition]:
    """The mosaic definitions of a ``/namespace/mosaic/definition/page`` answer (``{"data":
    [{"meta", "mosaic": {"id", "properties", "levy"}}]}``) by mosaic id; :class:`Shape`
    naming the field when it is not NIS1's shape. A levy is ``{}`` (none) or ``{"type",
    "recipient", "mosaicId", "fee"}``."""
    out: dict[str, MosaicDefinition] = {}
    for i, entry in enumerate(_list(_get(page, "data", "answer"), "data")):
        where = f"data[{i}].mosaic"
        definition = _get(entry, "mosaic", f"data[{i}]")
        found, _ = _mosaic_of({"mosaicId": _get(definition, "id", where), "quantity": 0},
                              f"{where}.id")
        props: dict[Any, Any] = {p.get("name"): p.get("value") for p in _list(
            _get(definition, "properties", where), f"{where}.properties")
            if isinstance(p, Mapping)}
        # NIS1 writes them as text of digits: anything else ("6.5", " 6", "٦", a
        # fraction) is not read as some whole number near it
        supply, places = (whole_number(p, digits=4_300) if isinstance(p, str) and p == p.strip()
                          else None
                          for p in (props.get("initialSupply"), props.get("divisibility")))
        if supply is None or places is None or not 0 <= places <= 6:
            raise Shape(f"{where}.properties lacks initialSupply or divisibility (whole "
                        "numbers as text; divisibility 0-6)")
        if supply * 10 ** places > MOSAIC_MOST:
            raise Shape(f"{where}.properties: a supply of {str(supply)[:40]} with "
                        f"divisibility {places} is more than {MOSAIC_MOST:,} units, the most "
                        "NIS1 allows a mosaic")
        raw = definition.get("levy") or {}
        levy = None
        if raw:
            if not isinstance(raw, Mapping):
                raise Shape(f"{where}.levy is not an object")
            try:
                levied, _ = _mosaic_of({"mosaicId": _get(raw, "mosaicId", f"{where}.levy"),
                                        "quantity": 0}, f"{where}.levy")
                levy = Levy(
                    read_whole(_get(raw, "type", f"{where}.levy"), f"{where}.levy.type"),
                    canonical_address(_get(raw, "recipient", f"{where}.levy"), chain),
                    levied, read_whole(_get(raw, "fee", f"{where}.levy"), f"{where}.levy.fee"))
            except BadInput as exc:
                raise Shape(f"{where}.levy: {exc.message}") from None
        out[found] = MosaicDefinition(found, supply, places, levy)
    return out


class NisChain:
    """A NIS1 node; see the module docstring."""

    def __init__(self, url: str, *, name: str = "nem", timeout: float = 10.0,
                 accounts: Iterable[str] = (), session: requests.Session | None = None,
                 deadline: float | None = None) -> None:
        facade(name)  # a NEM network kinko knows, or ConfigError
        self.url = url.rstrip("/")
        self.name = name
        self.shown = url_shown(self.url)  # as errors name it: never a key in its path
        self.label = f"NIS1 node {self.shown}"
        self.timeout = timeout  # for each connection and each read
        self.deadline = 3 * timeout if deadline is None else deadline  # for a whole answer
        self.accounts = tuple(canonical_address(a, name) for a in accounts)
        self._http = session or timely_session(self.deadline)
        self._definitions: dict[str, MosaicDefinition] = {}

    # ------------------------------------------------------------------ transport
    def _ask(self, method: str, path: str, what: str, *, asked: Message,
             params: Mapping[str, Any] | None = None, body: Any = None,
             missing_ok: bool = False) -> Any:
        """NIS1's JSON answer to one request, read within 16 MiB and the adapter's
        ``deadline`` and parsed by :func:`~kinko.safeload.loads_json` (bounded depth, no
        key twice, fractions as Decimal: :mod:`kinko.chains.http_answer`); None for what
        is not there when ``missing_ok``. ``asked`` is ``what`` as a catalog message."""
        until = time.monotonic() + self.deadline
        try:
            with self._http.request(method, self.url + path, params=params, json=body,
                                    timeout=self.timeout, stream=True) as answer:
                status = answer.status_code
                if status == 429 or status >= 500:
                    raise Transient(f"{self.label} answered HTTP {status} to {what}")
                raw = read_answer(answer, until, self.deadline)
            data = parse_answer(raw, status)
        except UnreadAnswer as exc:
            raise Transient(exc.says(self.label, what)) from None
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            raise Transient(f"{self.label} did not answer {what}: {type(exc).__name__}"
                            ) from None
        if status >= 400:
            message = data.get("message") if isinstance(data, dict) else None
            # NIS1 says what it does not have in its error object ("... was found", "...
            # unknown"); anything else (a route it does not serve: a wrong URL, a proxy)
            # is a refusal, never read as "not there"
            if missing_ok and isinstance(message, str) and any(
                    word in message.lower() for word in ("found", "unknown")):
                return None
            raise ChainRejected(f"{self.label} refused {what}: HTTP {status} "
                                f"{str(message)[:200]}", node=self.shown,
                                says=msg("error.nis1.refused_http", node=self.shown,
                                         what=asked, status=int(status),
                                         message=str(message)[:200]))
        return data

    def _shaped(self, fn: Any, what: str) -> Any:
        try:
            return fn()
        except Shape as exc:
            raise Transient(f"{self.label} answered {what} in a shape that is not NIS1's: "
                            f"{exc}") from None

    # ------------------------------------------------------------------ reading
    def caip2(self) -> str:
        """``nem:mainnet`` or ``nem:testnet`` (the CAIP-2 shape, namespace ``nem``), as the
        node's ``/node/info`` says (its ``networkId``: 104, or -104 for the testnet);
        :class:`~kinko.errors.ConfigError` when the node is of another network than this
        adapter's chain."""
        what = "its network"
        data = self._ask("GET", "/node/info", what, asked=msg("error.nis1.asked.network"))

        def network() -> int:
            value = _get(_get(data, "metaData", "answer"), "networkId", "metaData")
            if isinstance(value, bool) or not isinstance(value, int):
                raise Shape(f"metaData.networkId is not a number ({str(value)[:40]!r})")
            if not -128 <= value <= 255:  # one byte, signed (-104) or not (152)
                raise Shape(f"metaData.networkId is not a network's byte ({value})")
            return value & 0xFF
        byte = int(self._shaped(network, what))
        names = {0x68: "mainnet", 0x98: "testnet"}
        expected = facade(self.name).network.identifier
        if byte != expected:
            raise ConfigError(f"{self.label} is a node of NEM network 0x{byte:02x} "
                              f"({names.get(byte, 'unknown')}), not of {self.name}",
                              node=self.shown,
                              says=msg("error.nis1.other_network", node=self.shown,
                                       byte=f"0x{byte:02x}", chain=self.name,
                                       network=msg(_NETWORKS.get(byte, _UNKNOWN_NETWORK))))
        return f"nem:{names[byte]}"

    def head(self) -> int:
        data = self._ask("GET", "/chain/height", "the chain height",
                         asked=msg("error.nis1.asked.height"))
        return int(self._shaped(lambda: read_whole(_get(data, "height", "answer"), "height"),
                                "the chain height"))

    def block(self, number: int) -> Block:
        what = f"block {number}"
        data = self._ask("POST", "/local/chain/blocks-after", what, body={"height": number - 1},
                         asked=msg("error.nis1.asked.block", block=str(number)[:40]))
        return self._shaped(lambda: self._block(data, number), what)  # type: ignore[no-any-return]

    def _block(self, data: Any, number: int) -> Block:
        blocks = _get(data, "data", "answer")
        if not isinstance(blocks, list) or not blocks:
            raise Shape(f"no block after {number - 1}")
        view = blocks[0]
        block = _get(view, "block", "data[0]")
        height = read_whole(_get(block, "height", "data[0].block"), "data[0].block.height")
        if height != number:
            raise Shape(f"the first block after {number - 1} is {height}")
        transfers: list[Transfer] = []
        listed: dict[str, str] = {}  # a transaction's hash -> where the block lists it
        for i, entry in enumerate(_list(_get(view, "txes", "data[0]"), "data[0].txes")):
            where = f"data[0].txes[{i}]"
            tx_hash = read_hash(_get(entry, "hash", where), f"{where}.hash")
            if tx_hash in listed:  # NIS1 includes a transaction once: twice is two deposits
                raise Shape(f"{where}: transaction {tx_hash} is listed twice (also "
                            f"{listed[tx_hash]})")
            listed[tx_hash] = where
            transfers += read_transfers(_get(entry, "tx", where), chain=self.name,
                                        tx_hash=tx_hash, block=number, tx_index=i,
                                        where=f"{where}.tx", mosaics=self._levied)
        parent = _get(_get(block, "prevBlockHash", "data[0].block"), "data", "prevBlockHash")
        return Block(number=number, hash=read_hash(_get(view, "hash", "data[0]"), "data[0].hash"),
                     parent_hash=read_hash(parent, "data[0].block.prevBlockHash.data"),
                     timestamp=unix_time(self.name, _u32(_get(block, "timeStamp", "block"),
                                                          "data[0].block.timeStamp")),
                     transfers=tuple(transfers))

    def _levied(self, mosaic: str) -> MosaicDefinition | None:
        """A mosaic's definition for its levy; None for a mosaic no namespace defines
        (NIS1 would not have included its transfer: nothing to add)."""
        try:
            return self.mosaic(mosaic)
        except BadInput:
            return None

    def pending(self) -> tuple[Transfer, ...]:
        out: list[Transfer] = []
        seen: set[tuple[str, int | None, str | None]] = set()
        for account in self.accounts:
            what = f"the unconfirmed transactions of {account}"
            data = self._ask("GET", "/account/unconfirmedTransactions", what,
                             params={"address": account},
                             asked=msg("error.nis1.asked.unconfirmed", account=account))
            for t in self._shaped(lambda data=data: self._unconfirmed(data), what):
                key = (t.tx_hash, t.log_index, t.token)
                if key not in seen:
                    seen.add(key)
                    out.append(t)
        return tuple(out)

    def _unconfirmed(self, data: Any) -> list[Transfer]:
        out: list[Transfer] = []
        for i, entry in enumerate(_list(_get(data, "data", "answer"), "data")):
            tx = _get(entry, "transaction", f"data[{i}]")
            found = read_transfers(tx, chain=self.name, tx_hash="", block=-1, tx_index=-1,
                                   where=f"data[{i}].transaction", mosaics=self._levied)
            if found:
                named = _unconfirmed_hash(self.name, tx)
                out += [Transfer(named, -1, -1, t.sender, t.to, t.value, 0, t.token,
                                 t.log_index if t.levy else None if t.token is None else -1,
                                 t.levy) for t in found]
        return out

    def balances(self, addresses: Sequence[str], block: int | None = None,
                 token: str | None = None) -> dict[str, int]:
        out: dict[str, int] = {}
        for address in addresses:
            account = canonical_address(address, self.name)
            out[address] = self._balance(account, block, token)
        return out

    def _balance(self, account: str, block: int | None, token: str | None) -> int:
        if token is not None:
            wanted = mosaic_id(token)
            if block is not None and block != self.head():  # the head itself: as owned now
                raise BadInput(f"NIS1 gives mosaic balances at the chain's head only, not at "
                               f"block {block} ({wanted} of {account})",
                               says=msg("error.nis1.mosaic_balance_at_head",
                                        block=str(block)[:40], mosaic=wanted, account=account))
            what = f"the mosaics of {account}"
            data = self._ask("GET", "/account/mosaic/owned", what, params={"address": account},
                             asked=msg("error.nis1.asked.mosaics", account=account))

            def owned() -> int:
                for i, entry in enumerate(_list(_get(data, "data", "answer"), "data")):
                    mosaic, quantity = _mosaic_of(entry, f"data[{i}]")
                    if mosaic == wanted:
                        return quantity
                return 0
            return int(self._shaped(owned, what))
        if block is not None:
            what = f"the balance of {account} at block {block}"
            data = self._ask("GET", "/account/historical/get", what,
                             params={"address": account, "startHeight": block,
                                     "endHeight": block, "increment": 1},
                             asked=msg("error.nis1.asked.balance_at", account=account,
                                       block=str(block)[:40]))
            def historical() -> int:
                rows = _list(_get(data, "data", "answer"), "data")
                if not rows:
                    raise Shape(f"no balance at block {block}")
                return _xem(_get(rows[0], "balance", "data[0]"), "data[0].balance")
            return int(self._shaped(historical, what))
        what = f"the balance of {account}"
        data = self._ask("GET", "/account/get", what, params={"address": account},
                         asked=msg("error.nis1.asked.balance", account=account))
        return int(self._shaped(lambda: _xem(_get(_get(data, "account", "answer"), "balance",
                                                  "account"), "account.balance"), what))

    def multisig(self, address: str) -> tuple[int, tuple[str, ...]]:
        """A multisig account as the chain has it: (its minimum of cosignatories, its
        cosignatories' addresses, sorted); (0, ()) for an account that is not multisig.
        What a wallet checks against the set-up kinko registered before it trusts it."""
        account = canonical_address(address, self.name)
        what = f"the multisig set-up of {account}"
        data = self._ask("GET", "/account/get", what, params={"address": account},
                         asked=msg("error.nis1.asked.multisig", account=account))

        def read() -> tuple[int, tuple[str, ...]]:
            info = _get(_get(data, "account", "answer"), "multisigInfo", "account") or {}
            if not isinstance(info, Mapping):
                raise Shape("account.multisigInfo is not an object")
            cosigners = _list(_get(_get(data, "meta", "answer"), "cosignatories", "meta"),
                              "meta.cosignatories")
            if not info and not cosigners:
                return 0, ()
            minimum = read_whole(_get(info, "minCosignatories", "account.multisigInfo"),
                           "account.multisigInfo.minCosignatories")
            found = []
            for i, c in enumerate(cosigners):
                try:
                    found.append(canonical_address(_get(c, "address", f"meta.cosignatories[{i}]"),
                                                   self.name))
                except BadInput as exc:
                    raise Shape(f"meta.cosignatories[{i}]: {exc}") from None
            twice = sorted(a for a, n in Counter(found).items() if n > 1)  # one pass
            if twice:  # NIS1 keeps a cosignatory once: counted twice, a minimum met by one
                raise Shape(f"meta.cosignatories lists {', '.join(twice)} more than once")
            count = read_whole(_get(info, "cosignatoriesCount", "account.multisigInfo"),
                         "account.multisigInfo.cosignatoriesCount")
            if count != len(found) or not 1 <= minimum <= count:
                raise Shape(f"{count} cosignatories counted, {len(found)} listed, minimum "
                            f"{minimum}")
            return minimum, tuple(sorted(found))
        return self._shaped(read, what)  # type: ignore[no-any-return]

    def public_key(self, address: str) -> str:
        """The account's public key as the chain knows it (an account that has signed a
        transaction, as every multisig account has: its conversion); :class:`BadInput` when
        the chain knows none, :class:`~kinko.chains.evm.Transient` when the node gives the
        key of another account (a transfer built with it would be that account's)."""
        account = canonical_address(address, self.name)
        what = f"the public key of {account}"
        data = self._ask("GET", "/account/get", what, params={"address": account},
                         asked=msg("error.nis1.asked.public_key", account=account))
        key = self._shaped(lambda: _get(_get(data, "account", "answer"), "publicKey",
                                        "account"), what)
        try:
            found = check_public_key(key)
        except BadInput:
            raise BadInput(f"the chain knows no public key of {account}: it never signed "
                           "a transaction", address=account,
                           says=msg("error.nis1.no_public_key", account=account)) from None
        owner = address_of(found, self.name)
        if owner != account:
            raise Transient(f"{self.label} answered {what} with {found}, which is the key of "
                            f"{owner}")
        return found

    def mosaic_definition(self, mosaic: str) -> tuple[int, int]:
        """(supply, divisibility) of a mosaic as its namespace's definitions say;
        :class:`BadInput` naming it when the namespace defines no such mosaic."""
        found = self.mosaic(mosaic)
        return found.supply, found.divisibility

    def mosaic(self, mosaic: str) -> MosaicDefinition:
        """A mosaic's definition (supply, divisibility, levy) as its namespace's definitions
        say, read once per adapter (a definition does not change under a name kinko
        uses: NIS1 keeps a levy for the mosaic's life); :class:`BadInput` naming it when the
        namespace defines no such mosaic. XEM is ``nem:xem`` without a levy."""
        wanted = mosaic_id(mosaic)
        if wanted == XEM_MOSAIC:
            return MosaicDefinition(XEM_MOSAIC, XEM_SUPPLY // MICRO_XEM, 6)
        if wanted in self._definitions:
            return self._definitions[wanted]
        namespace, _ = split_mosaic(wanted)
        what = f"the mosaic definitions of namespace {namespace}"
        data = self._ask("GET", "/namespace/mosaic/definition/page", what,
                         params={"namespace": namespace}, missing_ok=True,
                         asked=msg("error.nis1.asked.definitions", namespace=namespace))
        found = None if data is None else self._shaped(
            lambda: definitions(data, self.name).get(wanted), what)
        if found is None:
            raise BadInput(f"unknown mosaic {wanted!r}: {self.label} knows no such mosaic "
                           f"in namespace {namespace}", mosaic=wanted,
                           says=msg("error.nis1.unknown_mosaic", mosaic=wanted,
                                    node=self.shown, namespace=namespace))
        self._definitions[wanted] = found
        return found  # type: ignore[no-any-return]

    # ------------------------------------------------------------------ writing
    def tx_hash(self, raw: bytes) -> str:
        """The hash of a signed transaction (``raw``: the JSON announce body, or a list of
        them: a multisig transaction and its cosignatures, named by the first)."""
        body = _announce_bodies(raw)[0]
        return str(facade(self.name).hash_transaction(decode(body["data"]))).lower()

    def send_raw(self, raw: bytes) -> str:
        """Announce ``raw`` (one body, or a multisig transaction then its cosignatures, in
        order); NIS1's ``NEUTRAL`` (it has the transaction already: a retry) counts as
        announced. A refusal is :class:`ChainRejected` naming which one."""
        bodies = _announce_bodies(raw)
        for i, body in enumerate(bodies):
            what = "an announced transaction" if i == 0 else f"cosignature {i}"
            asked = msg("error.nis1.asked.announce") if i == 0 else msg(
                "error.nis1.asked.cosignature", index=i)
            data = self._ask("POST", "/transaction/announce", what, body=body, asked=asked)
            if not isinstance(data, Mapping) or (data.get("code") != 1
                                                 and data.get("message") != "NEUTRAL"):
                message = data.get("message") if isinstance(data, Mapping) else data
                raise ChainRejected(f"{self.label} refused {what}: {str(message)[:200]}",
                                    node=self.shown,
                                    says=msg("error.nis1.refused", node=self.shown,
                                             what=asked, message=str(message)[:200]))
        return self.tx_hash(raw)

    def receipt(self, tx_hash: str) -> Receipt | None:
        what = f"transaction {tx_hash}"
        data = self._ask("GET", "/transaction/get", what, params={"hash": tx_hash},
                         missing_ok=True,
                         asked=msg("error.nis1.asked.transaction", tx=str(tx_hash)[:80]))
        if data is None:
            return None

        def read() -> Receipt:
            meta = _get(data, "meta", "answer")
            tx = _get(data, "transaction", "answer")
            fee = read_whole(_get(tx, "fee", "transaction"), "transaction.fee")
            if tx.get("type") == MULTISIG:  # the account pays the wrapper, inner and cosigns
                fee += read_whole(_get(_get(tx, "otherTrans", "transaction"), "fee", "otherTrans"),
                            "otherTrans.fee")
                fee += sum(read_whole(_get(s, "fee", "signature"), "signatures[].fee")
                           for s in _list(tx.get("signatures"), "transaction.signatures"))
            levies = tuple((t.token, t.to or "", t.value) for t in read_transfers(
                tx, chain=self.name, tx_hash=tx_hash, block=0, tx_index=0,
                mosaics=self._levied) if t.levy)
            height = read_whole(_get(meta, "height", "meta"), "height")
            return Receipt(tx_hash=tx_hash, block=height, ok=True, fee=fee, levies=levies)
        return self._shaped(read, what)  # type: ignore[no-any-return]

    def nonce(self, address: str) -> int:
        raise ChainRejected(f"NEM accounts have no nonce ({address}): a NEM transaction is "
                            "protected from replay by its time stamp and deadline",
                            says=msg("error.nem.no_nonce", address=str(address)[:120]))

    def fee_params(self) -> tuple[int, int]:
        raise ChainRejected("NEM has no gas: a transaction's fee is set when it is built "
                            "(kinko.chains.nem.minimum_fee)", says=msg("error.nem.no_gas"))


def connect(name: str, url: str, attempts: int = 5, *, accounts: Iterable[str] = ()
            ) -> Retrying:
    """The ``Chain`` of NEM chain ``name`` (``nem``, ``nem-testnet``) on the NIS1 node at
    ``url``, retried with backoff (``attempts``); ``accounts`` are the accounts whose
    unconfirmed transactions :meth:`NisChain.pending` reads (the exchange's hot accounts)."""
    return Retrying(NisChain(url, name=name, accounts=accounts), attempts=attempts)


def _announce_bodies(raw: bytes) -> list[dict[str, str]]:
    try:
        body = json.loads(raw)
        bodies = body if isinstance(body, list) else [body]
        if bodies and all(isinstance(b, dict) and isinstance(b.get("data"), str)
                          and isinstance(b.get("signature"), str) for b in bodies):
            return [{"data": b["data"], "signature": b["signature"]} for b in bodies]
    except ValueError:
        pass
    raise BadInput("a NEM transaction to send is the JSON {\"data\", \"signature\"} that "
                   "NIS1 announces (or a list of them: a multisig transaction and its "
                   "cosignatures)", says=msg("error.nis1.announce_body"))


def _unconfirmed_hash(chain: str, tx: Any) -> str:
    """NIS1 lists unconfirmed transactions without their hash: kinko computes it (the
    hash the transaction will have in its block) for transfers and multisig modifications,
    wrapped or not; another kind is named by its signer, time stamp and deadline (seen again
    in its block under its hash, it alarms a second time rather than never)."""
    try:
        return nis_hash(tx, chain)
    except BadInput:
        return (f"unconfirmed:{str(tx.get('signer', ''))[:64].lower()}:"
                f"{tx.get('timeStamp')}:{tx.get('deadline')}")
