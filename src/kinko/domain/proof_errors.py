"""What the proof verifier's refusals say, in the reader's language.

The standalone verifier (:mod:`kinko.verify_proof`, one file of the standard library that
customers run) speaks English only. Each :class:`~kinko.verify_proof.ProofError` it raises
carries, beside its English words, a ``key`` naming the problem and ``params`` holding its
specifics; the catalogs give each key its words as ``proof.<key>``, the English ones the
verifier's own. A few specifics are words the verifier was given rather than values (what
it reads, ``"proof"``; where, ``"the customer id given"``): those are said in the reader's
words too, and a caller that named what it read in its own words (``"x.json: the proof"``)
gives them as a message in its stead.
"""

from __future__ import annotations

from kinko.domain.messages import N_, Arg, Message, msg
from kinko.verify_proof import ProofError

__all__ = ["proof_said"]

LONGEST = 300
"""The longest specific kept in a message (a key or a value the file holds may be long)."""

# The verifier's own words among its specifics (what it reads, where, what a path is).
_WORDS = {"proof": N_("proof.word.proof"),
          "the customer id given": N_("proof.word.customer_given"),
          "a directory": N_("proof.word.directory"),
          "a FIFO (named pipe)": N_("proof.word.fifo"),
          "a device": N_("proof.word.device"),
          "a socket": N_("proof.word.socket"),
          "not a file": N_("proof.word.not_file")}
_SAID = ("what", "where", "kind")  # the specifics that may be such words


def proof_said(exc: ProofError, **instead: Arg) -> Message:
    """``exc`` as a catalog message: ``proof.<key>`` with its specifics, each as the
    English words show it (numbers as written, cut at :data:`LONGEST` characters), the
    verifier's own words said in the reader's; a specific named in ``instead`` (``what``)
    is said as given there. A refusal without a key says its English words."""
    if exc.key is None:
        return msg("error.reserves.proof", problem=str(exc)[:LONGEST])
    params: dict[str, Arg] = {}
    for name, value in exc.params.items():
        text = str(value)
        word = _WORDS.get(text) if name in _SAID else None
        params[name] = msg(word) if word is not None else text[:LONGEST]
        if name in instead:
            params[name] = instead[name]
    return msg(f"proof.{exc.key}", **params)
