"""The TCP sockets kinko's servers listen on (``kinko serve``, ``kinko cosign serve``).

Bound by kinko before the server starts, so that an address it cannot have is refused as
a setting, in the reader's language (in use, not permitted, not this machine's, a host
name that does not resolve), before anything says it is serving; and marked as TCP with
Nagle's algorithm off: asyncio turns ``TCP_NODELAY`` on only for accepted sockets whose
protocol says TCP, and without it each answer's body waits for the client's delayed ACK of
its headers, about 40 ms a request on a kept-alive connection. The socket is inheritable,
for the server processes of ``kinko serve --workers N`` (each listens on one of its own:
:mod:`kinko.cli.workers`).
"""

from __future__ import annotations

import errno
import socket

from kinko.domain.messages import N_, msg
from kinko.errors import ConfigError

__all__ = ["host_port", "listen_tcp"]

# why an address could not be had, by the system's error number: the message, in English
_DENIED = (N_("error.listen.denied"), "not permitted (a port below 1024 needs privileges)")
_WHY = {errno.EADDRINUSE: (N_("error.listen.in_use"),
                           "the address is in use (another server listens there)"),
        errno.EACCES: _DENIED, errno.EPERM: _DENIED,
        errno.EADDRNOTAVAIL: (N_("error.listen.not_here"),
                              "the address is not one of this machine's")}


def host_port(host: str, port: int) -> str:
    """``host:port`` as a URL writes it (an IPv6 address in brackets)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def listen_tcp(host: str, port: int, *, setting: str, reuse_port: bool = False
               ) -> socket.socket:
    """A socket bound to ``host``:``port`` (an IPv4 or IPv6 address, or a name: its IPv4
    address; port 0: one the system picks), not yet listening; with ``reuse_port``, one of
    a group bound to the same address, over which the kernel spreads new connections
    (``SO_REUSEPORT``). A :class:`ConfigError` naming ``setting``, the address and why, if
    it cannot be had."""
    where = host_port(host, port)
    if not 0 <= port <= 65535:
        raise ConfigError(f"cannot listen on {where}: a port is 0 to 65535", setting=setting,
                          address=where, says=msg("error.listen.port", where=where))
    # IPv6 for an IPv6 address, else IPv4 (a name such as localhost: its IPv4 address)
    wanted = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        family, _, _, _, address = socket.getaddrinfo(
            host or None, port, wanted, socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    except (OSError, UnicodeError):  # no such name (or one no resolver takes)
        raise ConfigError(f"cannot listen on {where}: the host name does not resolve",
                          setting=setting, address=where,
                          says=msg("error.listen.unknown_host", where=where)) from None
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        # off on the listener too, which the accepted sockets inherit on Linux
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        known = _WHY.get(exc.errno or 0)
        if known is not None:
            says, why = msg(known[0], where=where), known[1]
        else:
            why = exc.strerror or str(exc)
            says = msg("error.listen.failed", where=where, detail=why)
        raise ConfigError(f"cannot listen on {where}: {why}", setting=setting,
                          address=where, says=says) from None
    sock.set_inheritable(True)
    return sock
