"""A deadline for a whole exchange with a peer kinko does not control, over one socket.

A socket's time-out is for each read: a peer (broken, hostile, or something impersonating
a webhook receiver or the co-signer) that sends a byte of its answer just before each read
times out holds the caller as long as it likes; the thread delivering the operators'
alerts, or sending withdrawals, then does nothing else. :func:`cut_at` arms a deadline for
the exchange on a connected socket: when it passes, the socket is shut down, and the read
in progress (or the next) fails at once, as a peer that hung up would make it fail. One
thread keeps every deadline of the process (none per exchange); an exchange that ends
in time cancels its own (:meth:`Deadline.cancel`), and a socket already closed is left
alone.

:func:`opener` is ``urllib``'s opener (proxies from the environment, redirects, TLS with
the default context) whose HTTP and HTTPS connections each have such a deadline.
"""

from __future__ import annotations

import heapq
import http.client
import itertools
import socket
import threading
import time
import urllib.error
import urllib.request
import weakref
from collections.abc import Callable
from contextlib import suppress
from functools import partial
from typing import Any

__all__ = ["Deadline", "cut_at", "opener"]


class Deadline:
    """A deadline armed on a socket (see :func:`cut_at`)."""

    __slots__ = ("at", "passed", "sock")

    def __init__(self, sock: socket.socket, at: float) -> None:
        self.sock: weakref.ref[socket.socket] | None = weakref.ref(sock)
        self.at = at
        self.passed = False  # the socket was shut down at the deadline

    def cancel(self) -> None:
        """The exchange ended in time: the socket is left alone (it may be used again)."""
        self.sock = None


class _Keeper:
    """The process's deadlines, in time order, and the thread that cuts them."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Deadline]] = []
        self._order = itertools.count()
        self._lock = threading.Condition()
        self._thread: threading.Thread | None = None

    def add(self, deadline: Deadline) -> None:
        with self._lock:
            heapq.heappush(self._heap, (deadline.at, next(self._order), deadline))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="kinko-deadlines",
                                                daemon=True)
                self._thread.start()
            self._lock.notify()

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._heap:
                    self._lock.wait()
                at, _, deadline = self._heap[0]
                wait = at - time.monotonic()
                if wait > 0:
                    self._lock.wait(wait)
                    continue
                heapq.heappop(self._heap)
            held = deadline.sock
            sock = held() if held is not None else None
            if sock is not None and sock.fileno() >= 0:  # not cancelled, still open
                deadline.passed = True
                with suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


_KEEPER = _Keeper()


def cut_at(sock: socket.socket, seconds: float) -> Deadline:
    """Shut ``sock`` down ``seconds`` from now, unless the returned deadline is cancelled
    first or the socket is closed by then."""
    deadline = Deadline(sock, time.monotonic() + seconds)
    _KEEPER.add(deadline)
    return deadline


class _CutOff:
    """An HTTP connection whose deadline is armed as it is made (see :func:`opener`), and
    kept in ``made``."""

    sock: Any

    def __init__(self, *args: Any, whole: float, made: list[Deadline], **kwargs: Any
                 ) -> None:
        super().__init__(*args, **kwargs)
        self._whole, self._made = whole, made

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        self._made.append(cut_at(self.sock, self._whole))


class _HTTP(_CutOff, http.client.HTTPConnection):
    pass


class _HTTPS(_CutOff, http.client.HTTPSConnection):
    pass


def _opened(open_: Callable[[list[Deadline]], http.client.HTTPResponse], whole: float
            ) -> http.client.HTTPResponse:
    """An answer whose head (status and headers) was read before the deadline: one cut
    off while its head came in may look whole to ``http.client`` (it reads the end of the
    stream as the end of the headers), so it is refused."""
    made: list[Deadline] = []
    answer = open_(made)
    if any(d.passed for d in made):
        answer.close()
        raise urllib.error.URLError(f"no answer within {whole:g} s")
    return answer


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, whole: float) -> None:
        super().__init__()
        self._whole = whole

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return _opened(lambda made: self.do_open(
            partial(_HTTP, whole=self._whole, made=made), req), self._whole)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, whole: float) -> None:
        super().__init__()
        self._whole = whole

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return _opened(lambda made: self.do_open(
            partial(_HTTPS, whole=self._whole, made=made), req,
            context=self._context), self._whole)  # type: ignore[attr-defined]


def opener(whole: float) -> urllib.request.OpenerDirector:
    """``urllib``'s default opener, each of whose connections is shut down ``whole``
    seconds after it was made; an answer whose head had not come by then is a
    ``URLError`` (its body, read after, is the caller's to check: a body without its length
    cut off there may look whole)."""
    return urllib.request.build_opener(_HTTPHandler(whole), _HTTPSHandler(whole))
