"""docs/cosign.md keeps in step with the code: its settings and reasons tables are the
registries', and its log hash can be recomputed with nothing but hashlib and json."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

from kinko.cosign.server import status_of
from kinko.domain.cosign import REASONS, severity
from kinko.domain.cosign_log import GENESIS, Decision
from kinko.settings import COSIGN_REGISTRY, settings_markdown

DOC = (Path(__file__).resolve().parents[2] / "docs" / "cosign.md").read_text(encoding="utf-8")


def section(name: str) -> str:
    start = DOC.index(f"<!-- {name}:start -->") + len(f"<!-- {name}:start -->")
    return DOC[start:DOC.index(f"<!-- {name}:end -->")].strip()


def test_settings_table_is_the_registry() -> None:
    assert section("settings") == settings_markdown(COSIGN_REGISTRY, "cosign.toml").strip(), \
        "paste settings_markdown(COSIGN_REGISTRY, 'cosign.toml') into docs/cosign.md"


def test_reasons_table_is_the_registry() -> None:
    rows = ["| reason | HTTP | alert | meaning |", "|---|---:|---|---|"]
    rows += [f"| `{r}` | {status_of(r)} | {severity(r)} | {m} |" for r, m in REASONS.items()]
    assert section("reasons") == "\n".join(rows)


def test_a_record_hash_as_documented() -> None:
    record = Decision(1, datetime(2026, 1, 26, 0, 2, 3, 456789, tzinfo=UTC), "token@unix",
                      "signed", request="withdrawal:W-1", safe="0x" + "ab" * 20, chain_id=1,
                      nonce=7, safe_tx_hash="0x" + "cd" * 32, safe_tx='{"a":"é"}',
                      asset="ETH", amount=10**18, counts=True, signer="0x" + "12" * 20,
                      signature="0x" + "34" * 65, detail="withdrawal of 1 ETH — allow")
    body = {"seq": 1, "at": "2026-01-26T00:02:03.456789+00:00", "caller": "token@unix",
            "outcome": "signed", "reason": "", "detail": "withdrawal of 1 ETH — allow",
            "request": "withdrawal:W-1", "safe": "0x" + "ab" * 20, "chain_id": "1",
            "nonce": "7", "safe_tx_hash": "0x" + "cd" * 32, "safe_tx": '{"a":"é"}',
            "asset": "ETH", "amount": str(10**18), "counts": True, "signer": "0x" + "12" * 20,
            "signature": "0x" + "34" * 65, "alerted": False}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    expected = hashlib.sha256(f"kinko-cosign-v1\n{'0' * 64}\n{text}".encode()).hexdigest()
    assert record.sealed(GENESIS).hash == expected
