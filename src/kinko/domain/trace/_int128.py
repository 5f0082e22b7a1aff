"""Exact ⌊a·c/d⌋ in int64 when the product a·c needs up to 126 bits: the haircut arithmetic.

The haircut kernel moves ⌊v·t/b⌋ of a transfer's value v (and ⌊f·t/b⌋ of its fee) out of a
sender with balance b and taint t ≤ b. The quotient fits in int64, the product v·t need not.
:func:`mul_div_floor` computes it compiled and exactly: small products (< 4·10¹⁸) with one
machine multiply and divide, the others through 32-bit limbs and the two-digit long division
of Hacker's Delight (divlu). Every constant is uint64: numba turns uint64 mixed with a signed
integer into float64.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["mul_div_floor"]

_M32 = np.uint64(0xFFFFFFFF)
_S32 = np.uint64(32)
_B32 = np.uint64(1 << 32)
_U0 = np.uint64(0)
_U1 = np.uint64(1)
_U64 = np.uint64(64)
_NLZ_STEPS = (
    (np.uint64(0x00000000FFFFFFFF), np.uint64(32)),
    (np.uint64(0x0000FFFFFFFFFFFF), np.uint64(16)),
    (np.uint64(0x00FFFFFFFFFFFFFF), np.uint64(8)),
    (np.uint64(0x0FFFFFFFFFFFFFFF), np.uint64(4)),
    (np.uint64(0x3FFFFFFFFFFFFFFF), np.uint64(2)),
    (np.uint64(0x7FFFFFFFFFFFFFFF), np.uint64(1)),
)
_NLZ_32, _NLZ_16, _NLZ_8, _NLZ_4, _NLZ_2, _NLZ_1 = (s[0] for s in _NLZ_STEPS)
_SH_32, _SH_16, _SH_8, _SH_4, _SH_2, _SH_1 = (s[1] for s in _NLZ_STEPS)


@njit(cache=True)
def _nlz(x: np.uint64) -> np.uint64:
    """Leading zero bits of x > 0."""
    n = _U0
    if x <= _NLZ_32:
        n += _SH_32
        x <<= _SH_32
    if x <= _NLZ_16:
        n += _SH_16
        x <<= _SH_16
    if x <= _NLZ_8:
        n += _SH_8
        x <<= _SH_8
    if x <= _NLZ_4:
        n += _SH_4
        x <<= _SH_4
    if x <= _NLZ_2:
        n += _SH_2
        x <<= _SH_2
    if x <= _NLZ_1:
        n += _SH_1
    return n


@njit(cache=True)
def _mul_div_128(a: int, c: int, d: int) -> np.int64:
    ua = np.uint64(a)
    uc = np.uint64(c)
    # the 128-bit product hi:lo
    a0 = ua & _M32
    a1 = ua >> _S32
    c0 = uc & _M32
    c1 = uc >> _S32
    p00 = a0 * c0
    p01 = a0 * c1
    p10 = a1 * c0
    p11 = a1 * c1
    mid = (p00 >> _S32) + (p01 & _M32) + (p10 & _M32)
    lo = (p00 & _M32) | (mid << _S32)
    hi = p11 + (p01 >> _S32) + (p10 >> _S32) + (mid >> _S32)
    # hi:lo // d, the quotient fitting 64 bits (hi < d)
    ud = np.uint64(d)
    s = _nlz(ud)
    ud = ud << s
    vn1 = ud >> _S32
    vn0 = ud & _M32
    un32 = hi << s
    if s > _U0:
        un32 = un32 | (lo >> (_U64 - s))
    un10 = lo << s
    un1 = un10 >> _S32
    un0 = un10 & _M32
    q1 = un32 // vn1
    rhat = un32 - q1 * vn1
    while q1 >= _B32 or q1 * vn0 > ((rhat << _S32) | un1):
        q1 -= _U1
        rhat += vn1
        if rhat >= _B32:
            break
    un21 = (un32 << _S32) + un1 - q1 * ud
    q0 = un21 // vn1
    rhat = un21 - q0 * vn1
    while q0 >= _B32 or q0 * vn0 > ((rhat << _S32) | un0):
        q0 -= _U1
        rhat += vn1
        if rhat >= _B32:
            break
    return np.int64((q1 << _S32) + q0)


@njit(cache=True)
def mul_div_floor(a: int, c: int, d: int) -> int:
    """⌊a·c/d⌋ for int64 0 ≤ a, c and 0 < d, exact whenever the result fits in int64.

    Used compiled by the haircut kernel (v·t/b with t ≤ b); a·c may need 126 bits. Small
    products (< 4·10¹⁸, decided with a float estimate that cannot err across 2⁶³) take one
    machine multiply and divide.
    """
    if a == 0 or c == 0:
        return 0
    if float(a) * float(c) < 4.0e18:
        return (a * c) // d
    return int(_mul_div_128(a, c, d))
