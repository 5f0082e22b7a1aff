"""The plain-Python reference kernel for account chains: exact for any size of integer.

:func:`reference_kernel` replays the transfers under any account policy (poison, haircut,
fifo, lifo) with Python ints, following the semantics of :mod:`kinko.domain.trace.account`
line by line and without regard to speed. It runs when amounts exceed int64, and it is the
oracle the tests hold the compiled kernels to. FIFO/LIFO lots are kept in a deque per address
(:class:`_Lots`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any

from kinko.domain.trace.model import Policy

__all__ = ["reference_kernel"]


class _Lots:
    """An address's money as [kind, amount] lots, oldest first (kind 1: tainted), adjacent
    lots of the same kind merged."""

    __slots__ = ("q",)

    def __init__(self) -> None:
        self.q: deque[list[int]] = deque()

    def push_back(self, kind: int, amount: int) -> None:
        if amount > 0:
            if self.q and self.q[-1][0] == kind:
                self.q[-1][1] += amount
            else:
                self.q.append([kind, amount])

    def push_front(self, kind: int, amount: int) -> None:
        if amount > 0:
            if self.q and self.q[0][0] == kind:
                self.q[0][1] += amount
            else:
                self.q.appendleft([kind, amount])

    def take(self, amount: int, newest_first: bool) -> list[tuple[int, int]]:
        """Remove ``amount`` (at most what the lots hold); the pieces in the order taken."""
        pieces: list[tuple[int, int]] = []
        while amount > 0:
            lot = self.q[-1] if newest_first else self.q[0]
            piece = min(lot[1], amount)
            if pieces and pieces[-1][0] == lot[0]:
                pieces[-1] = (lot[0], pieces[-1][1] + piece)
            else:
                pieces.append((lot[0], piece))
            lot[1] -= piece
            if lot[1] == 0:
                if newest_first:
                    self.q.pop()
                else:
                    self.q.popleft()
            amount -= piece
        return pieces

    def taint_newest(self, amount: int) -> None:
        """Turn the newest ``amount`` clean units into taint."""
        keep = sum(n for kind, n in self.q if kind == 0) - amount
        old = list(self.q)
        self.q.clear()
        for kind, n in old:
            if kind == 1:
                self.push_back(1, n)
            else:
                c = min(n, keep)
                keep -= c
                self.push_back(0, c)
                self.push_back(1, n - c)


def _tainted(pieces: Sequence[tuple[int, int]]) -> int:
    return sum(n for kind, n in pieces if kind == 1)


def reference_kernel(policy: Policy, src: Sequence[int], dst: Sequence[int],
                     value: Sequence[int], fee: Sequence[int], seed_tx: Sequence[bool],
                     stop: Sequence[bool], seed_addresses: Sequence[tuple[int, int, int | None]],
                     max_hops: int, n_addr: int) -> tuple[Any, ...]:
    """The plain-Python kernel (Python ints, any size): the oracle of the compiled ones.

    ``seed_addresses`` must be sorted by position. Returns lists received, sent, held,
    absorbed, first, hops (per address), flow (per transfer) and ints burned, seeded.
    """
    m = len(src)
    haircut = policy == "haircut"
    lots = policy in ("fifo", "lifo")
    newest_first = policy == "lifo"
    bal = [0] * n_addr
    tnt = [0] * n_addr  # taint held (poison: unused, see poisoned)
    poisoned = [False] * n_addr
    source = [False] * n_addr
    queue = [_Lots() for _ in range(n_addr)] if lots else []
    received = [0] * n_addr
    sent = [0] * n_addr
    absorbed = [0] * n_addr
    first = [-1] * n_addr
    hops = [-1] * n_addr
    flow = [0] * m
    burned = seeded = 0
    pending = deque(seed_addresses)

    def held_by(a: int) -> int:
        if policy == "poison":
            return bal[a] if poisoned[a] else 0
        return tnt[a]

    for k in range(m + 1):
        while pending and pending[0][1] == k:
            a, _, amount = pending.popleft()
            if amount is not None and bal[a] < amount:
                if lots:
                    queue[a].push_front(0, amount - bal[a])
                bal[a] = amount
            target = bal[a] if amount is None else amount
            add = max(0, target - held_by(a))
            if first[a] < 0:
                first[a] = k
            hops[a] = 0
            seeded += add
            if stop[a] or max_hops <= 0:
                absorbed[a] += add
                continue
            source[a] = source[a] or amount is None
            poisoned[a] = True
            if lots and add:
                queue[a].taint_newest(add)
            if policy != "poison":
                tnt[a] += add
        if k == m:
            break
        x, y, v, f = src[k], dst[k], value[k], fee[k]
        need = v + f
        if bal[x] < need:  # incomplete history: clean money it had all along
            top = need - bal[x]
            kind = 0
            if source[x]:
                seeded += top
                kind = 1
                if policy != "poison":
                    tnt[x] += top
            if lots:
                queue[x].push_front(kind, top)
            bal[x] = need
        b, t = bal[x], tnt[x]
        pieces: list[tuple[int, int]] = [(0, v)]
        if policy == "poison":
            fv, ff = (v, f) if poisoned[x] else (0, 0)
        elif haircut:
            fv, ff = (v * t // b, f * t // b) if t else (0, 0)
            if t - fv - ff > b - need:  # the remainder cannot stay: it is burned
                if f > 0:
                    ff = t - fv - (b - need)
                else:
                    fv = t - ff - (b - need)
        else:
            pieces = queue[x].take(v, newest_first)
            fv = _tainted(pieces)
            ff = _tainted(queue[x].take(f, newest_first))
        if policy != "poison":
            tnt[x] -= fv + ff
        bal[x] -= need
        if fv or ff:
            sent[x] += need if policy == "poison" else fv + ff
            burned += ff
        h = hops[x] + 1
        if seed_tx[k]:
            seeded += v - fv
            fv = v
            h = 1
            pieces = [(1, v)]
        gain = fv
        if source[y]:
            seeded += v - fv
            gain = v
            pieces = [(1, v)]
        flow[k] = fv
        if fv > 0:
            received[y] += fv
            if first[y] < 0:
                first[y] = k
            hops[y] = h if hops[y] < 0 else min(hops[y], h)
            if stop[y] or hops[y] >= max_hops:
                absorbed[y] += fv
                gain = 0
                pieces = [(0, v)]
        if gain:
            poisoned[y] = True
            if policy != "poison":
                tnt[y] += gain
        if lots:
            for kind, n in pieces:
                queue[y].push_back(kind, n)
        bal[y] += v
        assert 0 <= tnt[x] <= bal[x] and 0 <= tnt[y] <= bal[y], "taint exceeds balance"
    held = [held_by(a) for a in range(n_addr)]
    return received, sent, held, absorbed, first, hops, flow, burned, seeded
