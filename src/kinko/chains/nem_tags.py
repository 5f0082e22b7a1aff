"""Mosaic tags: a signed NEM transfer of one unit of a tag mosaic to every tainted account.

In 2018 the NEM Foundation sent a mosaic to every account that received the XEM stolen from
Coincheck, so that any exchange could see the mark on an account and refuse its deposits.
:func:`write_mosaic_tags` prepares the same from a kinko trace: for each tainted account
(never a stop: those are exchanges), one version 2 transfer of one whole unit (``10 **
divisibility`` of the smallest unit) of the tag mosaic from the signer's account, signed
with the NEM SDK and verified again before it is written. **Nothing is announced**: the
transactions are written, ready for ``POST /transaction/announce`` by whoever decides to
send them, before their deadline (NIS1 allows at most 24 hours after the time stamp).

The folder gets ``transactions.jsonl`` (one line per account: ``recipient``, ``hash``, and
``data`` and ``signature``, the announce body) and, written last, ``manifest.json``: the
chain, the mosaic and the quantity each, the signer's address and public key, the time stamp
and deadline (NEM time and UTC), the count and total fee, the trace it came from, the
SHA-256 of ``transactions.jsonl`` and ``"announced": false``. Each file is written whole
to a temporary name and renamed, so a crash leaves the previous export or none, never half
of one. The signer's key is used and never written or shown.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from kinko.atomic import write_atomic
from kinko.chains.nem import MAX_DEADLINE, NemKey, network_time, transfer, unix_time, verify
from kinko.domain.addresses import canonical_address
from kinko.domain.messages import msg
from kinko.domain.nem import mosaic_id
from kinko.errors import BadInput, InvalidAddress

__all__ = ["FORMAT", "write_mosaic_tags"]

FORMAT = "kinko-nem-mosaic-tags/1"



def _accounts(addresses: Sequence[str], chain: str, signer: str) -> list[str]:
    out: dict[str, None] = {}
    for address in addresses:
        try:
            canonical = canonical_address(address, chain)
        except InvalidAddress as exc:
            raise BadInput(f"the trace lists {address!r}, which is no {chain} account: "
                           f"{exc.message}; a mosaic tag goes to NEM accounts only",
                           address=address,
                           says=msg("error.nem_tags.not_nem_account",
                                    address=str(address)[:120], chain=chain[:80],
                                    reason=exc.said())) from None
        if canonical != signer:
            out[canonical] = None
    return list(out)


def write_mosaic_tags(addresses: Sequence[str], out: Path, *, chain: str, mosaic: str,
                      key: NemKey, supply: int, divisibility: int, at: datetime,
                      deadline: timedelta = timedelta(hours=23), message: str = "",
                      source: Mapping[str, Any] | None = None,
                      holdings: tuple[int, int] | None = None) -> dict[str, Any]:
    """Write the tag transfers for ``addresses`` (see the module docstring) into ``out``
    and return the manifest. ``supply`` and ``divisibility`` are the mosaic's (its fee
    depends on them); ``holdings`` (the signer's units of the mosaic and micro-XEM, as the
    node says) is checked against what the transfers need when given."""
    tag = mosaic_id(mosaic)
    if key.chain != chain:
        raise BadInput(f"the signer's key is read for {key.chain}, not {chain}",
                       says=msg("error.nem_tags.key_chain", key_chain=key.chain[:80],
                                chain=chain[:80]))
    if not timedelta(minutes=1) <= deadline <= MAX_DEADLINE:
        raise BadInput("the deadline must be between a minute and 24 hours after the time "
                       "stamp (NIS1 refuses more)", says=msg("error.nem_tags.deadline"))
    if not 0 <= divisibility <= 6 or supply <= 0:
        raise BadInput(f"mosaic {tag}: divisibility must be 0 to 6 and the supply positive "
                       f"(not {divisibility}, {supply})", mosaic=tag,
                       says=msg("error.nem_tags.mosaic_definition", mosaic=tag,
                                divisibility=str(divisibility)[:40], supply=str(supply)[:40]))
    accounts = _accounts(addresses, chain, key.address)
    if not accounts:
        raise BadInput("the trace lists no tainted account to tag",
                       says=msg("error.nem_tags.no_account"))
    quantity = 10 ** divisibility
    stamp = network_time(chain, at)
    until = stamp + int(deadline.total_seconds())
    lines: list[str] = []
    total_fee = 0
    for account in accounts:
        tx = transfer(chain, signer_public_key=key.public_key, recipient=account,
                      mosaics=[(tag, quantity)], message=message, timestamp=stamp,
                      deadline=until, mosaic_info={tag: (supply, divisibility)})
        signed = key.sign(tx)
        if not verify(signed):  # pragma: no cover (the SDK signs what it verifies)
            raise BadInput(f"the transfer to {account} does not verify; nothing written",
                           says=msg("error.nem_tags.unverified", account=account))
        total_fee += tx.fee.value
        lines.append(json.dumps({"recipient": account, "hash": signed.hash.lower(),
                                 **signed.announce()}, sort_keys=True))
    if holdings is not None:
        units, micro = holdings
        if units < quantity * len(accounts) or micro < total_fee:
            raise BadInput(f"the signer {key.address} holds {units} of {tag} and {micro} "
                           f"micro-XEM; tagging {len(accounts)} account(s) needs "
                           f"{quantity * len(accounts)} and {total_fee}: nothing written",
                           says=msg("error.nem_tags.holdings", address=key.address,
                                    units=int(units), mosaic=tag, micro=int(micro),
                                    count=len(accounts), needed=quantity * len(accounts),
                                    fee=int(total_fee)))
    body = "\n".join(lines) + "\n"
    manifest = {
        "format": FORMAT, "chain": chain, "mosaic": tag, "quantity_each": quantity,
        "units_each": 1, "signer": key.address, "signer_public_key": key.public_key,
        "count": len(accounts), "total_fee_micro_xem": total_fee, "message": message,
        "timestamp": stamp, "deadline": until,
        "timestamp_utc": _iso(chain, stamp), "deadline_utc": _iso(chain, until),
        "transactions": "transactions.jsonl",
        "transactions_sha256": hashlib.sha256(body.encode()).hexdigest(),
        "announced": False, "source": dict(source or {}),
        "announce": "POST each line's {data, signature} to a NIS1 node's "
                    "/transaction/announce before the deadline",
    }
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / "transactions.jsonl", body)
    write_atomic(out / "manifest.json", json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


def _iso(chain: str, stamp: int) -> str:
    moment = datetime.fromtimestamp(unix_time(chain, stamp), UTC)
    return moment.isoformat().replace("+00:00", "Z")
