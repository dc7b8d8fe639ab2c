"""The opening handshake of every client connection (RFC 6455 §4.2), before it is a
:class:`~fastfeed.server.connection.Connection`.

An :class:`UpgradeProtocol` reads the HTTP request as it arrives (at most 16 KiB, read and
checked in Rust by ``ws_read_upgrade_request``: a larger one is answered 431), asks the server
what to do with it (``accept``: a connection, or the rejection to answer with), and either
answers ``101 Switching Protocols`` and hands the transport, and any bytes that followed the
request, to the connection (``transport.set_protocol``), or answers the HTTP error with a
one-line body and closes. A client that does not finish its request within ``timeout`` seconds
is dropped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import cast

from multidict import CIMultiDict

from fastfeed._core import ws_read_upgrade_request, ws_switching_protocols
from fastfeed.errors import HandshakeError
from fastfeed.server.connection import Connection
from fastfeed.server.guard import HandshakeRejection, split_target

__all__ = ["UpgradeProtocol", "http_response"]

log = logging.getLogger("fastfeed.server")

#: What the server answers a well-formed request with: a connection, or why not.
Accept = Callable[[bytes, CIMultiDict[str]], "Connection | HandshakeRejection"]


def http_response(status: int, body: str, headers: Iterable[tuple[str, str]] = ()) -> bytes:
    """A complete HTTP/1.1 response that ends the connection: ``status``, ``headers`` and a
    one-line plain-text ``body``."""
    data = body.encode()
    lines = [
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}",
        "Content-Type: text/plain; charset=utf-8",
        f"Content-Length: {len(data)}",
        "Connection: close",
        *(f"{name}: {value}" for name, value in headers),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + data


class UpgradeProtocol(asyncio.Protocol):
    """One accepted socket until its handshake is answered (see the module docs)."""

    def __init__(self, accept: Accept, timeout: float) -> None:
        self._accept = accept
        self._timeout = timeout
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._done = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TCP transport is not a subclass of asyncio.Transport, but is one.
        self._transport = cast(asyncio.Transport, transport)
        self._timer = asyncio.get_running_loop().call_later(self._timeout, self._expire)

    def data_received(self, data: bytes) -> None:
        if self._done:
            return
        self._buffer += data
        try:
            head = ws_read_upgrade_request(bytes(self._buffer))
        except HandshakeError as error:
            assert error.status is not None
            self._refuse(self._peer(), "", error.status, str(error), error.headers)
            return
        if head is None:
            return
        target, fields, key, consumed = head
        route, _ = split_target(target)
        answer = self._accept(target, CIMultiDict(fields))
        if isinstance(answer, HandshakeRejection):
            self._refuse(self._peer(), route, answer.status, answer.reason, answer.headers)
            return
        transport = self._transport
        assert transport is not None
        self._finish()
        transport.write(ws_switching_protocols(key))
        transport.set_protocol(answer)
        answer.connection_made(transport)
        rest = bytes(self._buffer[consumed:])
        self._buffer.clear()
        if rest:
            answer.data_received(rest)

    def connection_lost(self, exc: Exception | None) -> None:
        self._finish()

    def _refuse(
        self, peer: str, route: str, status: int, reason: str, headers: Iterable[tuple[str, str]]
    ) -> None:
        target = f" for {route}" if route else ""
        log.info("refused handshake from %s%s: %d %s", peer, target, status, reason)
        self._finish()
        transport = self._transport
        if transport is None:
            return
        transport.write(http_response(status, reason, headers))
        if transport.can_write_eof():
            # Half-closed, and what the client still sends is read and discarded until it
            # closes: closing with unread input would reset the connection, and the client
            # might lose the answer. Dropped if it does not close within the timeout.
            transport.write_eof()
            self._timer = asyncio.get_running_loop().call_later(self._timeout, transport.abort)
        else:
            transport.close()

    def _expire(self) -> None:
        if self._done or self._transport is None:
            return
        log.info(
            "client %s: no complete handshake within %g s, dropped", self._peer(), self._timeout
        )
        self._finish()
        self._transport.abort()

    def _finish(self) -> None:
        self._done = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _peer(self) -> str:
        peer = self._transport.get_extra_info("peername") if self._transport is not None else None
        if isinstance(peer, tuple) and len(peer) >= 2:
            return f"{peer[0]}:{peer[1]}"
        return "?"
