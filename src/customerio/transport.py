"""A requests adapter that says when each request really leaves: the rate limiter counts its window from then.

Between the moment the rate limiter lets a request go and the moment its bytes are written to the socket, the
thread may wait for the interpreter (another thread parsing a 1,000-delivery page holds it for milliseconds). The
server counts the request when it arrives, so the limiter must count it from the write, not from the permission.
Neither requests nor urllib3 tell when a request is written; their connection classes are the one place to hook
it. The time is taken in ``send()`` just before the first bytes go (the connection opened first, so a TLS
handshake is not counted as sending), while this thread holds the interpreter: taken after the write returns, it
would be late by however long the thread then waits to run again.

Usage: ``with on_send(leaving, left): session.request(...)`` calls ``leaving()`` just before the request's first
bytes are written and ``left()`` once that write returned (per thread; a request through any other adapter, or
one that fails before it is sent, calls neither).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

_pending = threading.local()  # .callback: what the current thread's request calls once written


@contextmanager
def on_send(leaving: Callable[[], None], left: Callable[[], None]) -> Iterator[None]:
    _pending.callbacks = (leaving, left)
    try:
        yield
    finally:
        _pending.callbacks = None


def _send(connection: HTTPConnection, send: Callable[[object], None], data: object) -> None:
    callbacks = getattr(_pending, "callbacks", None)
    if callbacks is None:
        send(data)
        return
    if connection.sock is None:  # http.client would connect inside send(): connect first, then count
        connection.connect()
    _pending.callbacks = None  # once per request: its headers and body may take several sends
    leaving, left = callbacks
    leaving()
    send(data)
    left()


class _TimedHTTPConnection(HTTPConnection):
    def send(self, data) -> None:
        _send(self, super().send, data)


class _TimedHTTPSConnection(HTTPSConnection):
    def send(self, data) -> None:
        _send(self, super().send, data)


class _TimedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _TimedHTTPConnection


class _TimedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _TimedHTTPSConnection


class SendTimedAdapter(HTTPAdapter):
    """An HTTPAdapter whose connections call the thread's ``on_send`` callbacks around a request's first write."""

    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _TimedHTTPConnectionPool,
                                                   "https": _TimedHTTPSConnectionPool}
