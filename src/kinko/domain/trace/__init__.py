"""Taint analysis: where stolen value went, and how much of each address's money is stolen.

Given a chain's transfers and the theft (seed transactions, or addresses holding stolen
value), the kernels replay the chain in order and follow the taint under one of the accounting
rules of the literature (Möser, Böhme & Breuker 2014; Anderson et al. 2016; Tironsakkul et al.
2019; BlockSci's taint module):

- ``poison``: anything touched by taint is wholly tainted from then on;
- ``haircut``: taint spreads in proportion to the tainted share of the sender's balance;
- ``fifo`` / ``lifo``: value leaves in the order it arrived (or the reverse);
- ``tiho`` (UTXO only): tainted input value goes to the highest-value outputs first.

Account-model chains (NEM, Ethereum) go through :func:`trace_account`, UTXO chains (Bitcoin)
through :func:`trace_utxo`. Both take and return the flat integer arrays of
:mod:`kinko.domain.trace.model`; amounts are exact integers in minor units (int64 arrays, or
object arrays of Python ints beyond int64). Stops (e.g. exchanges) absorb taint, ``max_hops``
sets a horizon, and for every policy but poison seeded = held + burned + absorbed, exactly.
The semantics are spelled out in :mod:`kinko.domain.trace.account` and
:mod:`kinko.domain.trace.utxo`.
"""

from typing import TYPE_CHECKING, Any

from kinko.domain.trace.model import (
    ACCOUNT_POLICIES,
    UTXO_POLICIES,
    AccountResult,
    AccountSeeds,
    AccountTransfers,
    Policy,
    UtxoResult,
    UtxoSeeds,
    UtxoTransactions,
)

if TYPE_CHECKING:
    from kinko.domain.trace.account import trace_account
    from kinko.domain.trace.utxo import trace_utxo

__all__ = [
    "ACCOUNT_POLICIES",
    "UTXO_POLICIES",
    "AccountResult",
    "AccountSeeds",
    "AccountTransfers",
    "Policy",
    "UtxoResult",
    "UtxoSeeds",
    "UtxoTransactions",
    "trace_account",
    "trace_utxo",
]


_KERNELS = {"trace_account": "kinko.domain.trace.account", "trace_utxo": "kinko.domain.trace.utxo"}


def __getattr__(name: str) -> Any:
    """The kernels, loaded with the first trace: they compile with numba, which a process
    that only shows traces (the dashboard's server) never needs to load."""
    if name in _KERNELS:
        import importlib

        return getattr(importlib.import_module(_KERNELS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
