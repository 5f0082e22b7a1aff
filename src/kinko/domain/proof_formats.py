"""Which exchange's proof-of-reserves format a proof file is, from the fields it carries.

A customer handed a proof file from another exchange (or another version of one) should be
told so, not shown the first field kinko's verifier trips on. :func:`proof_format` names the
format of a parsed JSON document by the fields that set it apart, and :func:`refuse_foreign`
raises ``unsupported format: looks like X`` when it is not the one being verified:

- ``kinko``: kinko's own proofs (``"format": "kinko-por-v1"``, ``customer``, ``path``);
- ``okx-v1``: OKX's first Merkle sum tree proofs (``self`` and ``path``), which kinko
  verifies with ``--format okx-v1``;
- Binance's zk-SNARK proof of solvency (``user_config.json``: ``AccountIdHash``, ``Root``,
  ``Proof``; Gate.io publishes the same layout);
- OKX's v2 zk-STARK proofs (``sum_tree_siblings``, ``recursive_tree_siblings``).

    >>> proof_format({"self": {}, "path": []})
    'okx-v1'
"""

from __future__ import annotations

from typing import Any

from kinko.domain.messages import msg
from kinko.errors import InputFileError

__all__ = ["FOREIGN", "proof_format", "refuse_foreign"]

KINKO = "kinko"
OKX_V1 = "okx-v1"
# format name → (what it looks like, the fields that mark it)
FOREIGN: dict[str, tuple[str, frozenset[str]]] = {
    OKX_V1: ("OKX's v1 Merkle proof (verify it with --format okx-v1)",
             frozenset({"self", "path"})),
    "binance-zk": ("Binance's zk-SNARK proof of solvency (user_config.json; Gate.io uses the "
                   "same layout)", frozenset({"AccountIdHash", "Root", "Proof"})),
    "okx-v2": ("OKX's v2 zk-STARK proof of reserves",
               frozenset({"sum_tree_siblings", "recursive_tree_siblings"})),
}


def proof_format(doc: Any) -> str | None:
    """The format of a parsed proof file, or None when it looks like none kinko knows."""
    if not isinstance(doc, dict):
        return None
    if isinstance(doc.get("format"), str) and doc["format"].startswith("kinko-por"):
        return KINKO
    keys = set(doc)
    for name, (_what, marks) in FOREIGN.items():
        if marks <= keys:
            return name
    return None


def refuse_foreign(doc: Any, name: str, expected: str) -> None:
    """Raise ``unsupported format: looks like X`` when ``doc`` is recognisably another
    format than ``expected`` (``kinko`` or ``okx-v1``); otherwise return."""
    found = proof_format(doc)
    if found is None or found == expected:
        return
    what = "a kinko proof (verify it with --format kinko and --root)" if found == KINKO \
        else FOREIGN[found][0]
    raise InputFileError(f"{name}: unsupported format: looks like {what}", file=name,
                         says=msg("error.proof.foreign", file=name[:200],
                                  what=_LOOKS[found]))


# what each format looks like (FOREIGN's words), as catalog messages
_LOOKS = {KINKO: msg("error.proof.looks.kinko"), OKX_V1: msg("error.proof.looks.okx_v1"),
          "binance-zk": msg("error.proof.looks.binance_zk"),
          "okx-v2": msg("error.proof.looks.okx_v2")}
