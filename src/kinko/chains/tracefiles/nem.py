"""``--format nem``: NIS1 transfer listings into the account model.

The input is what NIS1's ``/account/transfers/all`` (or ``incoming``/``outgoing``) returns,
saved as it came: ``{"data": [{"meta": {"hash": {"data"}, "height", "id", "innerHash"},
"transaction": {...}}]}`` (a bare list of those pairs is read too). A file, or a folder of
``*.json`` files (the pages of several accounts' listings): a transaction listed by two of
them counts once (listed twice at two heights, or as two different transactions under one
hash, it is refused).

Each transaction becomes rows of the standard view (``tx_hash, block, tx_index, log_index,
from, to, value, fee, asset``), ordered by height and then by NIS1's ``id`` (its order of
inclusion; ``tx_index`` is the rank in the block):

- one XEM row (asset ``nem:xem``, ``log_index`` 0): the XEM the transaction moves (micro-XEM;
  a version 2 transfer's ``nem:xem`` mosaic counts as XEM), or 0 to the sender itself when it
  moves none, and the fee, **burned** from the sender (a multisig account pays its wrapper,
  its inner transaction and every cosignature);
- one row per other mosaic (asset ``namespace:name``, ``log_index`` 1, 2, ...), ``quantity ×
  amount / 1,000,000`` of its smallest unit, fee 0;
- one row per levy, after the mosaics: a levied mosaic's levy (NIS1 semantics, see
  :class:`~kinko.domain.nem.Levy`: absolute, or ``quantity × fee / 10,000``) moved from the
  sender to the levy's recipient, in the levy's mosaic (``nem:xem`` or another). NIS1 writes
  no levy in a transaction: it follows from the mosaic's definition, so the folder may hold
  the ``/namespace/mosaic/definition/page`` answers of the levied mosaics' namespaces
  (``{"data": [{"meta", "mosaic"}]}``), which kinko tells from listings by their shape.
  Without them a levied transfer's levy is not seen.

``--asset`` picks the asset to follow (``nem:xem``, or ``XEM``, by default; a mosaic in any
case, or the symbol of an asset configured with that mosaic); listings that do not move it
are refused, naming what they hold. Addresses are canonical (upper case, no
dashes), transaction hashes lower-case hex. Anything that is not NIS1's shape is an
:class:`~kinko.errors.InputFileError` naming the file and the field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kinko.chains.nem import address_of
from kinko.chains.nis1 import (  # the adapter's reading of NIS1's fields
    Shape,
    definitions,
    read_hash,
    read_transfers,
    read_whole,
)
from kinko.domain.csvcells import csv_writer
from kinko.domain.messages import msg
from kinko.domain.nem import XEM_MOSAIC, MosaicDefinition, mosaic_id
from kinko.errors import BadInput, InputFileError
from kinko.safeload import MAX_LIST_BYTES, loads_json, read_bounded

__all__ = ["NETWORKS", "nem_rows", "write_standard_csv"]

NETWORKS = {0x68: "nem", 0x98: "nem-testnet"}
COLUMNS = ("tx_hash", "block", "tx_index", "log_index", "from", "to", "value", "fee", "asset")
Row = tuple[str, int, int, int, str, str, int, int, str]


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        found = sorted(p for p in path.iterdir() if p.suffix.lower() == ".json")
        if not found:
            raise InputFileError(f"{path}: no .json NIS1 listings in the folder", file=str(path),
                                 says=msg("error.tracefile.nem_no_json", file=str(path)[:200]))
        return found
    return [path]


def _pairs(path: Path) -> list[Any]:
    data = loads_json(read_bounded(path, MAX_LIST_BYTES), str(path), max_bytes=MAX_LIST_BYTES,
                      error=InputFileError)
    pairs = data.get("data") if isinstance(data, dict) else data
    if not isinstance(pairs, list):
        raise InputFileError(f"{path}: not a NIS1 transfer listing ({{\"data\": [...]}} of "
                             "transactions with their meta)", file=str(path),
                             says=msg("error.tracefile.nem_not_listing", file=str(path)[:200]))
    return pairs


def _network(tx: Any, where: str) -> str:
    version = tx.get("version") if isinstance(tx, dict) else None
    if not isinstance(version, int) or isinstance(version, bool):
        raise Shape(f"{where}.version is not a NIS1 version")
    byte = (version & 0xFFFFFFFF) >> 24
    if byte not in NETWORKS:
        raise Shape(f"{where}.version names network byte 0x{byte:02x}, not NEM mainnet "
                    "(0x68) or testnet (0x98)")
    return NETWORKS[byte]


def _fee(tx: Any, where: str) -> int:
    fee = read_whole(tx.get("fee"), f"{where}.fee")
    if tx.get("type") == 0x1004:
        fee += read_whole((tx.get("otherTrans") or {}).get("fee"), f"{where}.otherTrans.fee")
        for i, sig in enumerate(tx.get("signatures") or []):
            fee += read_whole(sig.get("fee") if isinstance(sig, dict) else None,
                          f"{where}.signatures[{i}].fee")
    return fee


def _is_definitions(pairs: list[Any]) -> bool:
    return bool(pairs) and all(isinstance(p, dict) and "mosaic" in p and "transaction" not in p
                               for p in pairs)


def nem_rows(path: Path) -> tuple[list[Row], set[str]]:
    """The standard rows of the listings at ``path`` (sorted) and the assets they hold."""
    seen: dict[str, tuple[int, int, Any, str, str]] = {}  # hash -> height, id, tx, where, chain
    chain: str | None = None
    pages: list[tuple[Path, list[Any]]] = []  # mosaic definitions, read once the chain is known
    for file in _files(path):
        listed = _pairs(file)
        if _is_definitions(listed):
            pages.append((file, listed))
            continue
        for i, pair in enumerate(listed):
            where = f"data[{i}]"
            at = {"file": str(file)[:200], "where": where}
            try:
                meta = pair["meta"]
                tx = pair["transaction"]
                tx_hash = read_hash(meta["hash"]["data"], f"{where}.meta.hash.data")
                height = read_whole(meta["height"], f"{where}.meta.height")
                order = read_whole(meta["id"], f"{where}.meta.id")
                network = _network(tx, f"{where}.transaction")
            except (KeyError, TypeError) as exc:
                raise InputFileError(f"{file}: {where}: not a NIS1 transaction with its meta "
                                     f"(missing {exc})", file=str(file),
                                     says=msg("error.tracefile.nem_missing", **at,
                                              key=str(exc)[:80])) from None
            except Shape as exc:
                raise InputFileError(f"{file}: {exc}", file=str(file),
                                     says=msg("error.tracefile.nem_shape", file=str(file)[:200],
                                              problem=str(exc)[:300])) from None
            if chain is not None and network != chain:
                raise InputFileError(f"{file}: {where}: a {network} transaction among {chain} "
                                     "ones", file=str(file),
                                     says=msg("error.tracefile.nem_networks", **at,
                                              network=network, chain=chain))
            chain = network
            earlier = seen.get(tx_hash)
            if earlier is not None and earlier[0] != height:
                raise InputFileError(f"{file}: {where}: transaction {tx_hash} at height {height}"
                                     f", but at height {earlier[0]} in {earlier[3]}",
                                     file=str(file),
                                     says=msg("error.tracefile.nem_height", **at,
                                              tx=tx_hash[:80], height=str(height),
                                              other=str(earlier[0]), first=earlier[3][:300]))
            if earlier is not None and earlier[2] != tx:  # one of them altered: which is true?
                raise InputFileError(f"{file}: {where}: transaction {tx_hash} is not the one "
                                     f"listed in {earlier[3]} under the same hash",
                                     file=str(file),
                                     says=msg("error.tracefile.nem_altered", **at,
                                              tx=tx_hash[:80], first=earlier[3][:300]))
            seen.setdefault(tx_hash, (height, order, tx, f"{file}: {where}", network))
    known: dict[str, MosaicDefinition] = {}
    for file, listed in pages:
        try:
            known.update(definitions({"data": listed}, chain or "nem"))
        except Shape as exc:
            raise InputFileError(f"{file}: {exc}", file=str(file),
                                 says=msg("error.tracefile.nem_shape", file=str(file)[:200],
                                          problem=str(exc)[:300])) from None
    rows: list[Row] = []
    assets: set[str] = set()
    ranked = sorted(seen.items(), key=lambda kv: (kv[1][0], kv[1][1], kv[0]))
    rank, last = -1, None
    for tx_hash, (height, _order, tx, where, network) in ranked:
        rank = rank + 1 if height == last else 0
        last = height
        named, place = where.rsplit(": ", 1)  # the place (data[i]) has no ": "
        try:
            moved = read_transfers(tx, chain=network, tx_hash=tx_hash, block=height,
                                   tx_index=rank, where=f"{place}.transaction",
                                   mosaics=known.get)
            payer = tx.get("otherTrans", tx) if tx.get("type") == 0x1004 else tx
            sender = address_of(payer["signer"], network)
            fee = _fee(tx, f"{place}.transaction")
        except Shape as exc:  # names its field
            raise InputFileError(f"{named}: {exc}", file=named,
                                 says=msg("error.tracefile.nem_shape", file=named[:200],
                                          problem=str(exc)[:300])) from None
        except BadInput as exc:
            raise InputFileError(f"{where}: {exc}", file=named,
                                 says=msg("error.tracefile.nem_at", file=named[:200],
                                          where=place, problem=exc.said())) from None
        except (KeyError, TypeError) as exc:
            raise InputFileError(f"{where}: {exc}", file=named,
                                 says=msg("error.tracefile.nem_at", file=named[:200],
                                          where=place, problem=msg(
                                              "error.tracefile.nem_unreadable",
                                              reason=str(exc)[:200]))) from None
        native = [t for t in moved if t.token is None and t.log_index is None]
        to = native[0].to if native else sender
        rows.append((tx_hash, height, rank, 0, sender, to or sender,
                     sum(t.value for t in native), fee, XEM_MOSAIC))
        assets.add(XEM_MOSAIC)
        others = [t for t in moved if t.token is not None or t.log_index is not None]
        for j, t in enumerate(others, start=1):  # mosaics, then levies to their recipients
            rows.append((tx_hash, height, rank, j, t.sender, t.to or t.sender, t.value, 0,
                         str(t.token or XEM_MOSAIC)))
            assets.add(str(t.token or XEM_MOSAIC))
    return rows, assets


def write_standard_csv(path: Path, asset: str | None, out: Path) -> str:
    """Write the standard CSV of the listings at ``path`` to ``out``; the asset to follow,
    canonical (``nem:xem`` by default), or :class:`InputFileError` naming what the listings
    hold when they do not move it."""
    rows, assets = nem_rows(Path(path))
    try:
        wanted = (XEM_MOSAIC if asset is None or asset.strip().upper() in ("", "XEM")
                  else mosaic_id(asset))
    except BadInput as exc:
        raise InputFileError(f"{path}: --asset: {exc.message}", file=str(path),
                             says=msg("error.tracefile.nem_asset", file=str(path)[:200],
                                      problem=exc.said())) from None
    if wanted not in assets:
        shown = ", ".join(sorted(assets)) or "none"
        raise InputFileError(f"{path}: no transfers of {wanted} (found: {shown})",
                             file=str(path),
                             says=msg("error.tracefile.no_transfers", file=str(path)[:200],
                                      asset=wanted[:80], found=", ".join(sorted(assets))[:1000]
                                      or msg("error.tracefile.none")))
    with out.open("w", newline="") as fh:
        writer = csv_writer(fh)  # no cell here starts like a formula: written as read
        writer.writerow(COLUMNS)
        writer.writerows(rows)
    return wanted
