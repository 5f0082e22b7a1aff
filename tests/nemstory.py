"""A small NEM theft as NIS1 listings, of transactions built and signed with the NEM SDK
(shared by the trace and mosaic-tag tests)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nis1double import PRIVATE, nis_json

from kinko.chains import nem

CHAIN = "nem"
HOT, THIEF, A, B, COSIGNER = (nem.NemKey(k, CHAIN) for k in PRIVATE)
MOSAIC = "kinko.tags:stolen"
XEM = 1_000_000


def pair(tx: Any, signed: nem.Signed, height: int, order: int) -> dict[str, Any]:
    return {"meta": {"innerHash": {}, "id": order, "hash": {"data": signed.hash.lower()},
                     "height": height}, "transaction": nis_json(tx, signed.signature)}


def story() -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Height 10: the theft (HOT → THIEF 500 XEM); 11: THIEF → A 200 XEM and THIEF → B 5
    units of a mosaic plus 50 XEM; 12: a multisig account (B) pays A 10 XEM, co-signed."""
    theft_tx = nem.transfer(CHAIN, signer_public_key=HOT.public_key, recipient=THIEF.address,
                            amount=500 * XEM, timestamp=100)
    theft = HOT.sign(theft_tx)
    to_a_tx = nem.transfer(CHAIN, signer_public_key=THIEF.public_key, recipient=A.address,
                           amount=200 * XEM, timestamp=101)
    to_a = THIEF.sign(to_a_tx)
    mixed_tx = nem.transfer(CHAIN, signer_public_key=THIEF.public_key, recipient=B.address,
                            mosaics=[(MOSAIC, 5), ("nem:xem", 50 * XEM)], timestamp=102,
                            mosaic_info={MOSAIC: (1_000, 0)})
    mixed = THIEF.sign(mixed_tx)
    inner = nem.transfer(CHAIN, signer_public_key=B.public_key, recipient=A.address,
                         amount=10 * XEM, timestamp=103)
    wrap_tx = nem.multisig(CHAIN, inner, cosignatory_public_key=COSIGNER.public_key,
                           timestamp=103)
    wrap = COSIGNER.sign(wrap_tx)
    wrapped = pair(wrap_tx, wrap, 12, 7)
    cosign_tx = nem.cosignature(CHAIN, cosignatory_public_key=A.public_key,
                                inner_transaction_hash=nem.inner_hash(CHAIN, inner),
                                multisig_address=B.address, timestamp=104)
    wrapped["transaction"]["signatures"] = [nis_json(cosign_tx, A.sign(cosign_tx).signature)]
    pairs = [pair(theft_tx, theft, 10, 1), pair(mixed_tx, mixed, 11, 3),
             pair(to_a_tx, to_a, 11, 2), wrapped]
    return pairs, {"theft": theft.hash.lower(), "to_a": to_a.hash.lower(),
                   "mixed": mixed.hash.lower(), "wrap": wrap.hash.lower()}


def write_listings(folder: Path) -> dict[str, str]:
    """The story as two accounts' pages (the thief's and A's; the transfer to A on both)."""
    pairs, hashes = story()
    folder.mkdir()
    (folder / "thief.json").write_text(json.dumps({"data": pairs[:3]}))
    (folder / "a.json").write_text(json.dumps({"data": [pairs[2], pairs[3]]}))
    return hashes
