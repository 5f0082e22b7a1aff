"""How kinko names a URL in its errors, messages and logs: scheme, host and port only.

A node provider's URL often carries its API key in the path (``/v3/KEY``) or the query, a
chat webhook's its token (``/services/T0/B0/TOKEN``), and any URL may carry a user and a
password; none of them may reach a log line or an error a person reads. What a URL is
used for is unchanged: only what is said of it is cut::

    >>> url_shown("https://user:secret@rpc.example:8545/v3/0123abcd?key=x")
    'https://rpc.example:8545'
    >>> url_shown("http://[::1]:7890/")
    'http://[::1]:7890'
    >>> url_shown("no url at all")
    '(an address that is no URL)'
"""

from __future__ import annotations

from urllib.parse import urlsplit

__all__ = ["url_shown"]

NO_URL = "(an address that is no URL)"


def url_shown(url: str) -> str:
    """``url`` as ``scheme://host:port``: nothing of its path, query or credentials."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port
    except ValueError:  # a port that is no number
        return NO_URL
    if not parts.scheme or not host:
        return NO_URL
    host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme[:20]}://{host[:200]}" + (f":{port}" if port else "")
