"""The co-signer's double (``kinko.ports.MemoryCosigner``) keeps the real one's promises:
exactly once per request and per Safe nonce, refusals with a reason, every answer kept."""

from __future__ import annotations

from dataclasses import replace

import pytest

from kinko.chains.keystore import throwaway_signer
from kinko.domain.safe import SafeTx, recover_owner
from kinko.errors import CosignRefused
from kinko.ports import Cosigner, MemoryCosigner

SAFE, TO = "0x" + "11" * 20, "0x" + "22" * 20


def tx(nonce: int = 0, value: int = 5) -> SafeTx:
    return SafeTx(safe=SAFE, chain_id=1, to=TO, value=value, data=b"", nonce=nonce)


def test_signs_once_per_request_and_per_nonce() -> None:
    key = throwaway_signer()
    double: Cosigner = MemoryCosigner(key)
    first = double.cosign("withdrawal", "W-1", tx())
    assert recover_owner(first.safe_tx_hash, first.signature) == key.address == first.signer
    again = double.cosign("withdrawal", "W-1", tx())
    assert again.repeated and again.signature == first.signature
    with pytest.raises(CosignRefused) as other_tx:
        double.cosign("withdrawal", "W-1", tx(value=6))
    assert other_tx.value.reason == "already_signed"
    with pytest.raises(CosignRefused) as same_nonce:
        double.cosign("withdrawal", "W-2", tx(value=7))
    assert same_nonce.value.reason == "nonce_used"
    assert double.cosign("withdrawal", "W-2", tx(nonce=1, value=7)).record == 5
    assert isinstance(double, MemoryCosigner)
    assert [d[1] for d in double.decisions] == ["signed", "repeated", "refused", "refused",
                                                "signed"]


def test_refuses_what_its_rule_refuses() -> None:
    double = MemoryCosigner(throwaway_signer(),
                            allow=lambda kind, rid, t: "breaker_tripped" if t.value > 10 else None)
    with pytest.raises(CosignRefused) as caught:
        double.cosign("proposal", "sweep-1", replace(tx(), value=11))
    assert caught.value.reason == "breaker_tripped" and caught.value.details["record"] == 1
    assert double.cosign("proposal", "sweep-1", tx()).record == 2  # nothing was kept for it
