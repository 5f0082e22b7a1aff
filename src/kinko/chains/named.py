"""How an error names the node it asked, in each language: :func:`node_says`.

An :class:`~kinko.chains.evm.EvmChain` carries its label as a catalog message
(``label_says``: the in-process chain, or the node at ``scheme://host:port``); a chain
wrapped in :class:`~kinko.chains.retry.Retrying` is looked through (its ``inner``); any
other is named by its chain's name. Kept apart from :mod:`kinko.chains.evm` so that the
modules it imports (:mod:`kinko.chains.erc20`) can name the node too."""

from __future__ import annotations

from kinko.domain.messages import Message, msg

__all__ = ["node_says"]


def node_says(chain: object) -> Message:
    """``chain``'s label as a catalog message (see the module docstring)."""
    node: object = chain
    for _ in range(3):
        said = getattr(node, "label_says", None)
        if isinstance(said, Message):
            return said
        node = getattr(node, "inner", None)
        if node is None:
            break
    return msg("error.evm.node.named", name=str(getattr(chain, "name", "?"))[:80])
