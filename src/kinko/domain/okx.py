"""OKX proof-of-reserves v1: verify a user's inclusion proof and write proofs in that format.

The format
----------
OKX's first proof of reserves (github.com/okx/proof-of-reserves, ``MerkleValidator``) is a
binary Merkle *sum* tree over SHA-256 with three assets, always in the order BTC, ETH, USDT.
Balances are decimal strings with at most 30 digits before the point and 8 decimals, a
parent's sum as much as a leaf's. A proof file is JSON::

    {"self": {nonce, hash, balances, type, height: 1},
     "path": [sibling at height 1, sibling at height 2, ..., root]}

* **Leaf** (the user's own node, height 1)::

      hash = sha256_hex(nonce + '{"BTC":"<b>","ETH":"<e>","USDT":"<u>"}')

  where the balance strings are used exactly as they appear in the file (no re-formatting)
  and ``nonce`` is a per-user secret hex string. The user id is not hashed itself: it is
  bound only through the nonce, which the exchange gives to that user alone (kinko's
  writer derives it as HMAC-SHA256(secret, user id)).
* **Parent** at height ``h`` of a left child ``L`` and a right child ``R``::

      sum  = L.balances + R.balances   (per asset, rounded down to 8 decimals)
      hash = sha256_hex(L.hash + R.hash + str(sum.BTC) + str(sum.ETH) + str(sum.USDT) + str(h))

  with hashes as lowercase hex and sums written in fixed point without trailing zeros
  ("0.00005", "6.3077565", "0"). Only the *sum* enters the parent hash.
* **type**: on ``self``, 1 = the user's leaf is the left child, 2 = the right child. On a
  sibling in ``path``, 1 = the sibling is on the left, 2 = on the right, 4 = an empty padding
  node (zero balances) on the right. The last ``path`` entry (type 3) is the root: the
  recomputed hash, sum and height must equal it.

The weakness
------------
A parent commits to the two child hashes and to the *sum* of their balances, not to each
child's balance. A user sees the sibling's hash only as an opaque string, so nothing ties
the sibling balance shown in the proof to the one committed inside that sibling: the
verifier only checks that the shown balances add up to each level's sum. An exchange can
therefore commit a parent sum lower than the real total (say ``max(L, R)`` instead of
``L + R``) and show users under ``L`` a sibling worth ``parent - L`` and users under ``R`` a
sibling worth ``parent - R``: two different splits of the same sum, the same parent hash,
the same root, every proof valid and liabilities understated. Chalkias, Chatzigiannis &
Ji, "Broken Proofs of Solvency in Blockchain Custodial Wallets and Exchanges" (2022)
describe this attack on sum trees that hash only the sum; the fix is to hash each child's
balance separately (and to prove every balance non-negative). This verifier additionally
refuses negative balances and checks height continuity, and checks the sibling leaf's hash
when its nonce is given, but the sibling-split freedom is inherent to the format.

A second weakness: a proof carries no user id. The leaf is ``sha256(nonce + balances)``,
and only the exchange knows which user a nonce was drawn for, so an exchange can hand two
users with equal balances *the same* proof file (one leaf counted for both): each check
passes, and the liabilities are understated by one of them. Nothing in the file lets a user
tell; kinko's own format puts the customer id in the leaf and the verifier compares it.

And a proof says nothing about which tree it belongs to until it is compared with the
root the exchange *published*: a private tree of one user verifies on its own. This
verifier therefore takes that root (:func:`verify_okx_file`'s ``root``) and refuses a
proof that does not end in it.

Kinko can also *publish* proofs in this format (:func:`okx_proof_files`) so users can check
them with OKX's own tool; such proofs carry the format's weakness, so they are for
interoperability, not a substitute for kinko's own proof of reserves.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_DOWN, Context, Decimal
from typing import Any

from kinko.domain.messages import Arg, Message, id_shown, msg
from kinko.domain.proof_errors import proof_said
from kinko.errors import InputFileError, InvalidAmount
from kinko.verify_proof import ProofError, loads

__all__ = [
    "ASSETS",
    "WHOLE_DIGITS",
    "Verdict",
    "balances_text",
    "decimal_text",
    "leaf_hash",
    "okx_proof_files",
    "parent_hash",
    "verify_okx_file",
]

ASSETS: tuple[str, ...] = ("BTC", "ETH", "USDT")
"""The three assets of OKX v1, in hashing order."""

WHOLE_DIGITS = 30
"""The most digits a balance has before its point: a leaf's, and a parent's sum too."""
_DECIMAL_RE = re.compile(rf"-?[0-9]{{1,{WHOLE_DIGITS}}}(\.[0-9]{{1,8}})?")
# a balance given to the writer: as in a file, but with more digits before the point than
# WHOLE_DIGITS, or more decimals than 8, refused by name
_GIVEN_RE = re.compile(r"-?([0-9]+)(\.[0-9]{1,40})?")
_HEX_RE = re.compile(r"[0-9a-f]{64}")
_NONCE_RE = re.compile(r"[!-~]{1,256}")  # printable ASCII without spaces
MAX_PATH = 64
_EIGHT = Decimal("0.00000001")
# Sums are exact, as OKX's own (Java's BigDecimal): a balance has at most 30 digits and 8
# decimals and a path at most MAX_PATH levels, so a sum has at most 41 digits. Python's
# default context keeps 28: it rounded such a sum, then quantize refused it
# (InvalidOperation, a crash of the verifier on a hostile proof).
_EXACT = Context(prec=80)
_LONGEST = 300  # the longest value from the published root kept in a message
_LEFT, _RIGHT, _ROOT, _PADDING = 1, 2, 3, 4

Balances = dict[str, Decimal]


def decimal_text(value: Decimal) -> str:
    """Write ``value`` as OKX writes a sum: fixed point, no exponent, no trailing zeros."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    if text in ("", "-0"):
        text = "0"
    return text


def balances_text(balances: Mapping[str, str]) -> str:
    """The JSON fragment hashed into a leaf: ``{"BTC":"..","ETH":"..","USDT":".."}``, verbatim."""
    return "{" + ",".join(f'"{asset}":"{balances[asset]}"' for asset in ASSETS) + "}"


def leaf_hash(nonce: str, balances: Mapping[str, str]) -> str:
    """SHA-256 (lowercase hex) of ``nonce`` followed by the verbatim balances JSON."""
    return hashlib.sha256((nonce + balances_text(balances)).encode()).hexdigest()


def _sum(a: Balances, b: Balances) -> Balances:
    """Per-asset sum, rounded down to 8 decimals as OKX does."""
    return {k: _EXACT.add(a[k], b[k]).quantize(_EIGHT, rounding=ROUND_DOWN, context=_EXACT)
            for k in ASSETS}


def parent_hash(left: str, right: str, total: Mapping[str, Decimal], height: int) -> str:
    """SHA-256 of left hash, right hash, the summed BTC, ETH, USDT and the parent's height."""
    data = left + right + "".join(decimal_text(total[k]) for k in ASSETS) + str(height)
    return hashlib.sha256(data.encode()).hexdigest()


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class Verdict:
    """What :func:`verify_okx_file` found: ``ok``; ``reason``, what matched or the first
    thing that did not, in English (the words kinko has always printed); ``said``, the same
    as a catalog message (``okx.verdict.*``) with its specifics, for a reader of any
    language; ``balances``, the user's own balances as counted in the tree (canonical
    decimal strings)."""

    ok: bool
    reason: str
    said: Message
    balances: dict[str, str]


def _assets(values: Mapping[str, Decimal]) -> dict[str, Arg]:
    """The three assets' amounts as a message's specifics (``btc``, ``eth``, ``usdt``)."""
    return {k.lower(): decimal_text(values[k]) for k in ASSETS}


_WHERE = {"the file": "error.okx.the_file", "the published root": "error.okx.published_root"}


def _said(where: str) -> Message | str:
    """Where in a proof (``self``, ``path[3]``, the file), for a catalog message."""
    return msg(_WHERE[where]) if where in _WHERE else where


def _field(node: Mapping[str, Any], key: str, where: str, name: str) -> Any:
    if key not in node:
        raise InputFileError(f"{name}: {where} has no '{key}'",
                             says=msg("error.okx.no_field", file=name[:200], where=_said(where),
                                      key=key))
    return node[key]


def _balances(node: Mapping[str, Any], where: str, name: str) -> tuple[dict[str, str], Balances]:
    raw = _field(node, "balances", where, name)
    if not isinstance(raw, dict):
        raise InputFileError(f"{name}: {where}.balances is not an object",
                             says=msg("error.okx.balances_not_object", file=name[:200],
                                      where=_said(where)))
    unknown = sorted(set(raw) - set(ASSETS))
    if unknown:
        raise InputFileError(f"{name}: {where}.balances has assets OKX v1 does not hash: "
                             f"{', '.join(map(str, unknown))}",
                             says=msg("error.okx.unknown_assets", file=name[:200],
                                      where=_said(where),
                                      assets=", ".join(map(str, unknown))[:200]))
    texts: dict[str, str] = {}
    values: Balances = {}
    for asset in ASSETS:
        value = raw.get(asset)
        if not isinstance(value, str) or not _DECIMAL_RE.fullmatch(value):
            raise InputFileError(f"{name}: {where}.balances.{asset} is not a decimal string "
                                 f"of at most 30 digits and 8 decimals: {str(value)[:40]!r}",
                                 says=msg("error.okx.not_decimal", file=name[:200],
                                          where=_said(where), asset=asset,
                                          value=str(value)[:40]))
        texts[asset] = value
        values[asset] = Decimal(value)
    return texts, values


def _int(node: Mapping[str, Any], key: str, where: str, name: str) -> int:
    value = _field(node, key, where, name)
    if not isinstance(value, int) or isinstance(value, bool):
        raise InputFileError(f"{name}: {where}.{key} is not an integer: {value!r}",
                             says=msg("error.okx.not_integer", file=name[:200],
                                      where=_said(where), key=key, value=repr(value)[:80]))
    return value


def _hex(node: Mapping[str, Any], key: str, where: str, name: str) -> str:
    value = _field(node, key, where, name)
    if not isinstance(value, str) or not _HEX_RE.fullmatch(value):
        raise InputFileError(f"{name}: {where}.{key} is not a hex string of 64 lower-case hex "
                             f"digits: {str(value)[:80]!r}",
                             says=msg("error.okx.not_hex", file=name[:200], where=_said(where),
                                      key=key, value=str(value)[:80]))
    return value


def verify_okx_file(text: str | bytes, name: str, root: Mapping[str, Any] | None = None
                    ) -> Verdict:
    """Check one OKX v1 inclusion proof (``{"self": ..., "path": [...]}``), against the
    root the exchange published when ``root`` is given (``root_hash``, and when present the
    root's ``height`` and ``balances``, as kinko's OKX ``root.json`` holds them).

    Returns a :class:`Verdict`: whether the proof holds, what matched or the first thing
    that did not (in English and as a catalog message), and the user's own balances as
    counted in the tree (canonical decimal strings). Raises :class:`InputFileError`
    (``name: what``) when the text is not a proof file at all (not strict JSON, missing or
    ill-typed fields).
    """
    try:
        doc = loads(text.encode("utf-8") if isinstance(text, str) else text, name)
    except ProofError as exc:
        words = str(exc) if str(exc).startswith(name) else f"{name}: {exc}"
        if exc.key is not None:  # the verifier's refusal names the file itself
            raise InputFileError(words, says=proof_said(exc)) from None
        said = str(exc).removeprefix(name).lstrip(": ")
        raise InputFileError(words, says=msg("error.okx.unreadable", file=name[:200],
                                             problem=said[:300])) from None
    except UnicodeEncodeError:
        raise InputFileError(f"{name}: not valid Unicode text",
                             says=msg("error.okx.not_unicode", file=name[:200])) from None
    if not isinstance(doc, dict):
        raise InputFileError(f"{name}: not an OKX proof (expected an object with self and path)",
                             says=msg("error.okx.not_proof", file=name[:200]))
    me = _field(doc, "self", "the file", name)
    path = _field(doc, "path", "the file", name)
    if not isinstance(me, dict):
        raise InputFileError(f"{name}: self is not an object",
                             says=msg("error.okx.self_not_object", file=name[:200]))
    if not isinstance(path, list) or not all(isinstance(n, dict) for n in path):
        raise InputFileError(f"{name}: path is not a list of objects",
                             says=msg("error.okx.path_not_list", file=name[:200]))
    if not 2 <= len(path) <= MAX_PATH:
        raise InputFileError(f"{name}: path needs at least a sibling and the root, and at most "
                             f"{MAX_PATH} nodes ({len(path)} node(s))",
                             says=msg("error.okx.path_length", file=name[:200], most=MAX_PATH,
                                      count=len(path)))

    nonce = _field(me, "nonce", "self", name)
    if not isinstance(nonce, str) or not _NONCE_RE.fullmatch(nonce):
        raise InputFileError(f"{name}: self.nonce is not a string of 1 to 256 printable "
                             "characters", says=msg("error.okx.nonce", file=name[:200]))
    my_texts, my_values = _balances(me, "self", name)
    my_hash = _hex(me, "hash", "self", name)
    my_type = _int(me, "type", "self", name)
    counted = {k: decimal_text(v) for k, v in my_values.items()}
    nodes = []
    for i, node in enumerate(path):
        where = f"path[{i}]"
        texts, values = _balances(node, where, name)
        nodes.append((where, _hex(node, "hash", where, name), _int(node, "type", where, name),
                      _int(node, "height", where, name), texts, values, node.get("nonce")))

    def refused(reason: str, said: Message) -> Verdict:
        return Verdict(False, reason, said, counted)

    if my_type not in (_LEFT, _RIGHT):
        return refused(f"self.type is {my_type}; a leaf must be 1 (left) or 2 (right)",
                       msg("okx.verdict.self_type", type=str(my_type)))
    if leaf_hash(nonce, my_texts) != my_hash:
        return refused("self.hash is not sha256(nonce + balances): the leaf was altered",
                       msg("okx.verdict.leaf_altered"))
    negative = [f"{where}.balances.{k}"
                for where, values in [("self", my_values), *((n[0], n[5]) for n in nodes)]
                for k in ASSETS if values[k] < 0]
    if negative:
        return refused(f"negative balance at {negative[0]} (a sum tree cannot hide debts)",
                       msg("okx.verdict.negative", field=negative[0]))

    first = nodes[0]
    if first[2] == my_type:
        return refused("path[0] is on the same side as self", msg("okx.verdict.same_side"))
    if isinstance(first[6], str) and leaf_hash(first[6], first[4]) != first[1]:
        return refused("path[0].hash is not sha256(nonce + balances): the sibling leaf "
                       "was altered", msg("okx.verdict.sibling_leaf_altered"))

    node_hash, node_sum, height = my_hash, dict(my_values), 1
    for where, sib_hash, sib_type, sib_height, _texts, sib_values, _nonce in nodes[:-1]:
        if sib_height != height:
            return refused(f"{where}.height is {sib_height}, expected {height}",
                           msg("okx.verdict.height", where=where, height=str(sib_height),
                               expected=str(height)))
        if sib_type == _LEFT:
            left, right = sib_hash, node_hash
        elif sib_type in (_RIGHT, _PADDING):
            left, right = node_hash, sib_hash
        else:
            return refused(f"{where}.type is {sib_type}; a sibling must be 1, 2 or 4",
                           msg("okx.verdict.sibling_type", where=where, type=str(sib_type)))
        if sib_type == _PADDING and any(sib_values[k] != 0 for k in ASSETS):
            return refused(f"{where} is padding (type 4) but holds a balance",
                           msg("okx.verdict.padding_balance", where=where))
        height += 1
        node_sum = _sum(node_sum, sib_values)
        node_hash = parent_hash(left, right, node_sum, height)

    where, root_hash, root_type, root_height, _t, root_values, _n = nodes[-1]
    if root_type != _ROOT:
        return refused(f"{where} (the last node) has type {root_type}, not 3 (root)",
                       msg("okx.verdict.root_type", where=where, type=str(root_type)))
    if root_height != height:
        return refused(f"root height is {root_height}, the path reaches {height}",
                       msg("okx.verdict.root_height", height=str(root_height),
                           reached=str(height)))
    if any(node_sum[k] != root_values[k] for k in ASSETS):
        got = ", ".join(f"{k} {decimal_text(node_sum[k])}" for k in ASSETS)
        return refused(f"balances do not add up to the root's (path sums to {got})",
                       msg("okx.verdict.sums", **_assets(node_sum)))
    if node_hash != root_hash:
        return refused(f"recomputed root hash {node_hash} differs from the file's {root_hash}: "
                       "a hash or balance on the path was altered",
                       msg("okx.verdict.root_hash", computed=node_hash, root=root_hash))
    if root is not None:
        other = _against_published(root, root_hash, height, root_values, name)
        if other is not None:
            return refused(*other)
    totals = ", ".join(f"{k} {decimal_text(root_values[k])}" for k in ASSETS)
    return Verdict(True, (f"leaf and {len(nodes) - 1} level(s) recomputed; root {root_hash} "
                          f"at height {height} ({totals})"),
                   msg("okx.verdict.holds", levels=str(len(nodes) - 1), root=root_hash,
                       height=str(height), **_assets(root_values)), counted)


def _against_published(root: Mapping[str, Any], root_hash: str, height: int,
                       values: Balances, name: str) -> tuple[str, Message] | None:
    """Why the proof's root is not the published one, in English and as a catalog message
    (None when it is)."""
    published = root.get("root_hash")
    if not isinstance(published, str) or not _HEX_RE.fullmatch(published):
        raise InputFileError(f"the published root hash is not 64 lower-case hex digits: "
                             f"{str(published)[:80]!r}",
                             says=msg("error.okx.published_root_hash",
                                      value=str(published)[:80]))
    if root_hash != published:
        return (f"the proof ends in root {root_hash}, not in the published root {published}: "
                "it belongs to another tree",
                msg("okx.verdict.other_tree", root=root_hash, published=published))
    published_height = root.get("height")
    if "height" in root and (type(published_height) is not int or published_height < 1):
        raise InputFileError(f"the published root's height is not a positive integer: "
                             f"{repr(published_height)[:80]}",
                             says=msg("error.okx.published_height",
                                      value=repr(published_height)[:80]))
    if "height" in root and published_height != height:
        return (f"the proof reaches height {height}, the published root is at {root['height']}",
                msg("okx.verdict.published_height", height=str(height),
                    published=str(root["height"])[:_LONGEST]))
    if "balances" in root:
        _texts, shown = _balances(root, "the published root", name)
        if any(shown[k] != values[k] for k in ASSETS):
            return ("the proof's root balances differ from the published root's balances",
                    msg("okx.verdict.published_balances"))
    return None


# --------------------------------------------------------------------------- writing


def _parse_amount(user: str, asset: str, value: str) -> Decimal:
    """A user's balance given to the writer: a decimal string, not negative, of at most
    ``WHOLE_DIGITS`` digits before its point and 8 decimals; :class:`InvalidAmount` naming
    the user, the asset and what is wrong otherwise."""
    given = _GIVEN_RE.fullmatch(value) if isinstance(value, str) else None
    if given is None:
        raise InvalidAmount(f"user {user}: {asset} balance is not a decimal string: {value!r}",
                            user=user, asset=asset,
                            says=msg("error.okx.balance_not_decimal", user=str(user)[:80],
                                     asset=asset, value=repr(value)[:80]))
    digits = len(given[1])
    if digits > WHOLE_DIGITS:
        shown = id_shown(value)
        raise InvalidAmount(f"user {user}: the {asset} balance {shown} has {digits} digits "
                            f"before the point, more than the {WHOLE_DIGITS} OKX v1 allows a "
                            "balance", user=user, asset=asset,
                            says=msg("error.okx.balance_too_long", user=str(user)[:80],
                                     asset=asset, value=shown, digits=digits,
                                     most=WHOLE_DIGITS))
    amount = Decimal(value)
    if amount < 0:
        raise InvalidAmount(f"user {user}: negative {asset} balance {value}", user=user,
                            asset=asset, says=msg("error.okx.negative_balance",
                                                  user=str(user)[:80], asset=asset,
                                                  value=value[:80]))
    if amount != amount.quantize(_EIGHT, rounding=ROUND_DOWN, context=_EXACT):
        raise InvalidAmount(f"user {user}: {asset} balance {value} has more than 8 decimals",
                            user=user, asset=asset,
                            says=msg("error.okx.too_many_decimals", user=str(user)[:80],
                                     asset=asset, value=value[:80]))
    return amount


def _refuse_long_sums(balances: Sequence[Balances]) -> None:
    """Refuse balances whose total, per asset, has more than ``WHOLE_DIGITS`` digits before
    its point: the root would carry it, and no verifier (kinko's, OKX's) reads it. Every
    parent's sum is at most the root's, so the total is the one to check. The format has
    no other way to write a sum (no exponent, no split), so it is refused, not cut."""
    for asset in ASSETS:
        total = Decimal(0)
        for values in balances:
            total = _EXACT.add(total, values[asset])
        if total >= 10 ** WHOLE_DIGITS:
            shown = decimal_text(total)
            raise InvalidAmount(f"okx proofs: the {asset} balances add up to {shown}, more "
                                f"than the {WHOLE_DIGITS} digits before the point OKX v1 "
                                "allows a balance: the root's sum could not be verified",
                                asset=asset, says=msg("error.okx.sum_too_long", asset=asset,
                                                      total=shown, most=WHOLE_DIGITS))


def _padding_hash(height: int) -> str:
    """Hash of an empty padding node at ``height`` (not checked by verifiers, only unique)."""
    return hashlib.sha256(f"kinko okx-v1 padding {height}".encode()).hexdigest()


def okx_proof_files(users: Sequence[tuple[str, Mapping[str, str]]], secret: bytes,
                    audit_id: str = "") -> dict[str, str]:
    """Build an OKX v1 Merkle sum tree over ``users`` and return one proof per user.

    ``users`` are ``(user id, {"BTC": .., "ETH": .., "USDT": ..})`` with non-negative decimal
    strings of at most 8 decimals (a missing asset counts as 0), whose total per asset has
    at most ``WHOLE_DIGITS`` digits before its point: the root (and every parent) carries
    that sum, and a verifier reads no longer balance. Each leaf's nonce is
    ``HMAC-SHA256(secret, user id)`` so proofs are reproducible by the exchange yet
    unguessable by others. Leaves keep the given order; an odd level is completed with a
    zero-balance padding node (type 4). Returns ``{user id: proof JSON text}``, each of
    which :func:`verify_okx_file` accepts. Raises :class:`InvalidAmount` on bad balances and
    :class:`InputFileError` on an empty list or a repeated user id; nothing is returned
    then, so nothing is written.
    """
    if not users:
        raise InputFileError("okx proofs: no users", says=msg("error.okx.no_users"))
    ids = [user for user, _ in users]
    if len(set(ids)) != len(ids):
        raise InputFileError("okx proofs: a user id appears twice",
                             says=msg("error.okx.user_twice"))

    # level entries: (hash, balances as Decimal, balance strings for the file, nonce or None)
    level: list[tuple[str, Balances, dict[str, str], str | None, bool]] = []
    for user, raw in users:
        unknown = sorted(set(raw) - set(ASSETS))
        if unknown:
            raise InvalidAmount(f"user {user}: assets OKX v1 cannot hold: {', '.join(unknown)}",
                                user=user,
                                says=msg("error.okx.unknown_user_assets", user=str(user)[:80],
                                         assets=", ".join(unknown)[:200]))
        values = {k: _parse_amount(user, k, raw.get(k, "0")) for k in ASSETS}
        texts = {k: decimal_text(v) for k, v in values.items()}
        nonce = hmac.new(secret, user.encode(), hashlib.sha256).hexdigest()
        level.append((leaf_hash(nonce, texts), values, texts, nonce, False))
    _refuse_long_sums([values for _h, values, *_rest in level])

    leaves = list(level)
    # per user: index of their node at the current level, and the path so far
    position = list(range(len(users)))
    paths: list[list[dict[str, Any]]] = [[] for _ in users]
    height = 1
    while True:
        if len(level) % 2 == 1:
            zero = {k: Decimal(0) for k in ASSETS}
            level.append((_padding_hash(height), zero, {k: "0" for k in ASSETS}, None, True))
        for u, pos in enumerate(position):
            sib = pos ^ 1
            sib_hash, _values, sib_texts, _nonce, padding = level[sib]
            kind = _PADDING if padding else (_LEFT if sib < pos else _RIGHT)
            paths[u].append({"auditId": audit_id, "balances": sib_texts, "type": kind,
                             "hash": sib_hash, "height": height})
        parents: list[tuple[str, Balances, dict[str, str], str | None, bool]] = []
        for i in range(0, len(level), 2):
            left, right = level[i], level[i + 1]
            total = _sum(left[1], right[1])
            parents.append((parent_hash(left[0], right[0], total, height + 1), total,
                            {k: decimal_text(v) for k, v in total.items()}, None, False))
        level = parents
        position = [pos // 2 for pos in position]
        height += 1
        if len(level) == 1:
            break

    root_hash, _total, root_texts, _n, _p = level[0]
    root = {"auditId": audit_id, "balances": root_texts, "type": _ROOT, "hash": root_hash,
            "height": height}
    files: dict[str, str] = {}
    for u, (user, _raw) in enumerate(users):
        own_hash, _values, texts, own_nonce, _padding = leaves[u]
        me = {"auditId": audit_id, "balances": texts,
              "type": _RIGHT if paths[u][0]["type"] == _LEFT else _LEFT,
              "nonce": own_nonce, "hash": own_hash, "height": 1}
        files[user] = json.dumps({"path": [*paths[u], root], "self": me}, separators=(",", ":"))
    return files
