"""The co-signer's hash-chained decisions: an intact log verifies; an altered, deleted,
reordered or forged record is named, as are a cut tail (against the stored head or an
anchor kept elsewhere) and a slashing-protection table that disagrees with the log."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from kinko.chains.keystore import throwaway_signer
from kinko.domain.cosign import safe_tx_json
from kinko.domain.cosign_log import GENESIS, Decision, LogVerifier, SignedRow, decision_hash
from kinko.domain.erc20 import transfer_data
from kinko.domain.safe import SafeTx

T0 = datetime(2026, 1, 26, tzinfo=UTC)
KEY = throwaway_signer()


def pays(amount: int, nonce: int, to: str = "0x" + "22" * 20) -> SafeTx:
    return SafeTx("0x" + "11" * 20, 1, to, amount, b"", nonce)


def canonical(tx: SafeTx) -> str:
    return json.dumps(safe_tx_json(tx), sort_keys=True, separators=(",", ":"))


def chain(n: int = 6) -> list[Decision]:
    out: list[Decision] = []
    prev = GENESIS
    for i in range(1, n + 1):
        if i % 2:
            tx = pays(10**18 + i, i)
            record = Decision(i, T0 + timedelta(seconds=i), "token@127.0.0.1:1", "signed",
                              request=f"withdrawal:W-{i}", safe=tx.safe.lower(), chain_id=1,
                              nonce=i, safe_tx_hash="0x" + tx.hash.hex(), safe_tx=canonical(tx),
                              asset="ETH", amount=10**18 + i, counts=True, signer=KEY.address,
                              signature="0x" + KEY.sign_digest(tx.hash).hex())
        else:
            record = Decision(i, T0 + timedelta(seconds=i), "anonymous@127.0.0.1:2",
                              "refused", reason="unauthenticated", detail="no token",
                              alerted=True)
        record = record.sealed(prev)
        prev = record.hash
        out.append(record)
    return out


def signed_rows(records: list[Decision]) -> list[SignedRow]:
    return [SignedRow.of(r) for r in records if r.outcome == "signed"]


def run(records: list[Decision], head: tuple[int, str] | None = None,
        rows: list[SignedRow] | None = None,
        anchor: tuple[int, str] | None = None) -> LogVerifier:
    verifier = LogVerifier(anchor_seq=anchor[0] if anchor else None)
    for record in records:
        verifier.feed(record)
    verifier.finish(head, rows if rows is not None else signed_rows(records), anchor)
    return verifier


def test_an_intact_log_verifies_with_its_head_and_anchor() -> None:
    records = chain()
    head = (records[-1].seq, records[-1].hash)
    verifier = run(records, head, anchor=(3, records[2].hash))
    assert verifier.findings == [] and verifier.head == head and len(verifier.signed) == 3
    assert records[0].prev_hash == GENESIS
    assert decision_hash(records[0].prev_hash, records[0]) == records[0].hash


def test_an_altered_record_is_named() -> None:
    records = chain()
    records[2] = replace(records[2], amount=10**20)  # someone raised the amount afterwards
    first = run(records, (6, records[-1].hash)).findings[0]
    assert (first.code, first.seq) == ("altered", 3)


def test_a_deleted_record_is_named() -> None:
    records = chain()
    del records[3]
    first = run(records, (6, records[-1].hash)).findings[0]
    assert first.code == "deleted" and "record 4 missing" in first.message


def test_reordered_records_are_named() -> None:
    records = chain()
    records[1], records[2] = replace(records[2], seq=2), replace(records[1], seq=3)
    first = run(records, (6, records[-1].hash)).findings[0]
    assert first.code == "reordered" and first.seq == 2 and "from position 3" in first.message


def test_a_rehashed_forgery_breaks_the_link_after_it() -> None:
    records = chain()
    forged = replace(records[2], detail="edited").sealed(records[1].hash)  # hash recomputed
    records[2] = forged
    first = run(records, (6, records[-1].hash)).findings[0]
    assert (first.code, first.seq) == ("broken_link", 4)


def test_a_cut_tail_is_caught_by_the_head_or_an_anchor() -> None:
    records = chain()
    cut = records[:4]
    assert run(cut, (6, records[-1].hash)).findings[0].code == "head"
    # the tail and the stored head rewritten together: only a head kept elsewhere tells
    anchored = run(cut, (4, cut[-1].hash), anchor=(6, records[-1].hash))
    assert [f.code for f in anchored.findings] == ["anchor"]
    assert "cut below it" in anchored.findings[0].message
    rewritten = [*records[:4], replace(records[4], detail="x").sealed(records[3].hash)]
    found = run(rewritten, (5, rewritten[-1].hash), anchor=(5, records[4].hash)).findings
    assert [f.code for f in found] == ["anchor"]


def test_signatures_and_the_exactly_once_table_must_agree_with_the_log() -> None:
    records = chain()
    other = throwaway_signer()
    digest = bytes.fromhex(records[0].safe_tx_hash[2:])
    records[0] = replace(records[0], signature="0x" + other.sign_digest(digest).hex()
                         ).sealed(GENESIS)
    for i in range(1, len(records)):
        records[i] = records[i].sealed(records[i - 1].hash)
    found = run(records, (6, records[-1].hash)).findings
    assert [(f.code, f.seq) for f in found] == [("bad_signature", 1)]
    good = chain()
    rows = signed_rows(good)
    rows[1] = rows[1]._replace(signature="0x" + "00" * 65)
    assert run(good, (6, good[-1].hash), rows).findings[0].code == "signed_table"
    assert run(good, (6, good[-1].hash), rows[:2]).findings[0].code == "signed_table"


def _resealed(records: list[Decision]) -> list[Decision]:
    """The chain recomputed from the first record on: a rewrite no hash can tell."""
    prev = GENESIS
    out = []
    for record in records:
        out.append(record.sealed(prev))
        prev = out[-1].hash
    return out


TOKEN = "0x" + "33" * 20


@pytest.mark.parametrize(("forge", "said"), [
    # another withdrawal's signature and safeTxHash, kept under a record paying 100 ETH
    (lambda r, other: replace(r, safe_tx=canonical(pays(100 * 10**18, r.nonce)),
                              amount=100 * 10**18),
     "is not the hash of the SafeTx it records"),
    # the signature of record 1 replayed for withdrawal W-3 (its hash and signature copied)
    (lambda r, other: replace(r, safe_tx_hash=other.safe_tx_hash, signature=other.signature),
     "is not the hash of the SafeTx it records"),
    (lambda r, other: replace(r, amount=1), "records an amount of 1, but its SafeTx pays"),
    (lambda r, other: replace(r, nonce=99), "with nonce 99, but its SafeTx is"),
    (lambda r, other: replace(r, chain_id=5), "on chain 5 with nonce 3, but its SafeTx is"),
    (lambda r, other: replace(r, safe_tx="{}"), "its SafeTx cannot be read"),
])
def test_a_signature_over_another_safetx_is_named(forge, said: str) -> None:  # type: ignore[no-untyped-def]
    """The signature covers the safeTxHash only: a log rewritten so that a record keeps a
    valid signature over one transaction while it shows another (amount, destination,
    withdrawal, Safe, nonce) is named, even with every hash and the head recomputed."""
    records = chain()
    records[2] = forge(records[2], records[0])
    records = _resealed(records)
    found = run(records, (6, records[-1].hash)).findings
    assert [(f.code, f.seq) for f in found] == [("safe_tx", 3)], found
    assert said in found[0].message


def test_a_token_transfer_is_checked_against_its_call_data() -> None:
    tx = SafeTx("0x" + "11" * 20, 1, TOKEN, 0, transfer_data("0x" + "22" * 20, 5_000), 7)
    record = Decision(1, T0, "token@unix", "signed", request="withdrawal:W-T",
                      safe=tx.safe, chain_id=1, nonce=7, safe_tx_hash="0x" + tx.hash.hex(),
                      safe_tx=canonical(tx), asset="USDC", amount=5_000, counts=True,
                      signer=KEY.address, signature="0x" + KEY.sign_digest(tx.hash).hex())
    good = _resealed([record])
    assert run(good, (1, good[-1].hash)).findings == []
    bad = _resealed([replace(record, amount=50_000)])
    assert [f.code for f in run(bad, (1, bad[-1].hash)).findings] == ["safe_tx"]


@pytest.mark.parametrize("change", [
    {"amount": 0}, {"counts": False}, {"at": T0 - timedelta(days=2)}, {"asset": "XEM"},
    {"safe": "0x" + "44" * 20}, {"nonce": 77}, {"chain_id": 5},
])
def test_a_signing_kept_unlike_its_record_is_named(change: dict[str, object]) -> None:
    """The exactly-once table is what the rolling limit sums (amount, counts, time, Safe,
    asset) and the one-SafeTx-per-nonce rule reads: a row edited there (an amount zeroed, a
    signing made not to count, moved out of the window) would let the co-signer sign past
    its limit while the log itself is intact. verify names it."""
    records = chain()
    rows = signed_rows(records)
    rows[1] = rows[1]._replace(**change)
    found = run(records, (6, records[-1].hash), rows).findings
    assert [(f.code, f.seq) for f in found] == [("signed_table", 3)], found
    assert f"in {next(iter(change))} (what the rolling limit" in found[0].message


def test_a_signing_by_another_key_is_named_against_the_co_signers_key() -> None:
    """A record appended with a valid signature of a key that is not the co-signer's, the
    chain and the head recomputed: its signature recovers to the signer it names, so only
    the co-signer's key, known from outside the log, tells it. Who signed is collected."""
    records = chain()
    other = throwaway_signer()
    tx = pays(10**20, 9)
    forged = Decision(7, T0 + timedelta(seconds=7), "token@127.0.0.1:1", "signed",
                      request="withdrawal:W-forged", safe=tx.safe.lower(), chain_id=1, nonce=9,
                      safe_tx_hash="0x" + tx.hash.hex(), safe_tx=canonical(tx), asset="ETH",
                      amount=10**20, counts=True, signer=other.address,
                      signature="0x" + other.sign_digest(tx.hash).hex())
    records = _resealed([*records, forged])
    head = (7, records[-1].hash)
    unchecked = run(records, head)
    assert unchecked.findings == [] and unchecked.signers == {KEY.address, other.address}
    checked = LogVerifier(keys=frozenset({KEY.address.lower()}))
    for record in records:
        checked.feed(record)
    found = checked.finish(head, signed_rows(records))
    assert [(f.code, f.seq) for f in found] == [("foreign_signer", 7)], found
    assert f"is signed by {other.address}, not by the co-signer's key" in found[0].message
