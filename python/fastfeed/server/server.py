"""The ``/v1/events`` server on picows + uvloop (SPEC §3): one client at a time."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from types import TracebackType
from typing import Self

from picows import (
    WSCloseCode,
    WSListener,
    WSUpgradeRequest,
    WSUpgradeResponse,
    WSUpgradeResponseWithListener,
    ws_create_server,
)

from fastfeed._core import Router
from fastfeed.bars import BarBook
from fastfeed.server.config import ServerConfig
from fastfeed.server.connection import EventsConnection
from fastfeed.server.guard import check_handshake
from fastfeed.server.source import Source

__all__ = ["Server", "serve"]

log = logging.getLogger("fastfeed.server")

REPLACED_REASON = "replaced by a new client connection"


class Server:
    """An embeddable ``/v1/events`` server.

    ``async with Server(config, source) as server:`` listens on ``config.host``/``port``
    (``server.port`` is the bound port, useful with port 0) and runs ``source`` (e.g.
    :class:`~fastfeed.server.SyntheticSource`) into the connected client. A new client takes
    over from the previous one, which gets Close 1000. Leaving the block closes the client with
    1001.

    Every trade of the source goes into :attr:`bars` (session and interval rings, SPEC §6),
    whatever the client subscribed to, so the embedding program can read the whole market:
    ``server.bars.ring(server.contract_id("STOCK", "AAPL"), 1000)``.
    """

    def __init__(self, config: ServerConfig | None = None, source: Source | None = None) -> None:
        self.config = config if config is not None else ServerConfig()
        self._source = source
        self._server: asyncio.Server | None = None
        self._pump: asyncio.Task[None] | None = None
        self._active: EventsConnection | None = None
        self._closing: set[EventsConnection] = set()
        self._client_arrived = asyncio.Event()
        self.port = self.config.port
        #: The server's bars: every trade of the source, per contract and interval.
        self.bars = BarBook(self.config.bar_intervals_ms, self.config.bar_capacity)
        #: Contract registry, subscription filter and encoder shared with the source.
        self.router = Router(self.bars._book, ohlcvc=self.config.ohlcvc)

    def contract_id(
        self,
        sec_type: str,
        symbol: str,
        expiration: int | None = None,
        strike: int | None = None,
        right: str | None = None,
    ) -> int:
        """The id under which :attr:`bars` keeps a contract (registering it if it is new)."""
        return self.router.add_contract(sec_type, symbol, expiration, strike, right)

    @property
    def client(self) -> EventsConnection | None:
        """The connected client, if any."""
        return self._active

    async def start(self) -> None:
        """Binds and starts serving. Raises ``OSError`` (e.g. EADDRINUSE) if it cannot bind."""
        self._server = await ws_create_server(
            self._accept,
            self.config.host,
            self.config.port,
            websocket_handshake_timeout=self.config.handshake_timeout,
            max_frame_size=self.config.max_message_size,
            enable_auto_pong=True,
            # Plain uvloop/asyncio transports: their pause/resume_writing and
            # write-buffer limits are what the egress queue relies on.
            use_aiofastnet=False,
        )
        sockets = self._server.sockets
        if sockets:
            self.port = sockets[0].getsockname()[1]
        log.info("serving ws://%s:%d%s", self.config.host, self.port, self.config.path)
        if self._source is not None:
            self._pump = asyncio.get_running_loop().create_task(self._run_source(self._source))

    # --- the Egress a source talks to ---------------------------------------------------------

    def send(self, frames: bytes, count: int) -> bool:
        """Hands ``count`` encoded data events to the connected client (see :class:`Egress`)."""
        client = self._active
        return client is not None and client.send_events(frames, count)

    async def wait_writable(self) -> None:
        """Returns once a client is connected and takes data without queueing it."""
        while True:
            client = self._active
            if client is None:
                self._client_arrived.clear()
                await self._client_arrived.wait()
            elif client.closing:
                await client.disconnected  # it is deactivated before this resolves
            elif client.writable.is_set():
                return
            else:
                await client.writable.wait()

    async def close(self, code: int = 1001, reason: str = "server shutting down") -> None:
        """Stops accepting, closes every client with ``code``, waits (bounded) for them."""
        if self._server is not None:
            self._server.close()
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump
            self._pump = None
        connections = set(self._closing)
        if self._active is not None:
            connections.add(self._active)
            self._active.close(code, reason)
        waiters = [c.disconnected for c in connections if not c.disconnected.done()]
        if waiters:
            await asyncio.wait(waiters, timeout=self.config.close_timeout + 1)
        self._server = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # --- connection lifecycle ----------------------------------------------------------------

    def _accept(self, request: WSUpgradeRequest) -> WSListener | WSUpgradeResponseWithListener:
        rejection = check_handshake(request.path, request.headers, self.config, self.port)
        if rejection is not None:
            log.info(
                "refused handshake for %s: %d %s",
                request.path.decode("latin-1"),
                rejection.status,
                rejection.reason,
            )
            response = WSUpgradeResponse.create_error_response(
                rejection.status, rejection.reason.encode()
            )
            return WSUpgradeResponseWithListener(response, None)
        return EventsConnection(self)

    def _activate(self, connection: EventsConnection) -> None:
        previous = self._active
        self._active = connection
        self.router.set_subscriptions([])
        self._client_arrived.set()
        if previous is not None and previous is not connection:
            log.info("client %s replaced by %s", previous.peer, connection.peer)
            self._closing.add(previous)
            previous.close(WSCloseCode.OK.value, REPLACED_REASON)

    def _deactivate(self, connection: EventsConnection) -> None:
        self._closing.discard(connection)
        if self._active is connection:
            self._active = None
            self.router.set_subscriptions([])

    def _subscriptions_changed(self, connection: EventsConnection) -> None:
        if connection is self._active:
            self.router.set_subscriptions(list(connection.subscriptions.values()))

    async def _run_source(self, source: Source) -> None:
        try:
            await source.run(self)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("source failed; no more events will be sent")


async def serve(
    config: ServerConfig | None = None,
    source: Source | None = None,
    *,
    stop: asyncio.Event | None = None,
) -> None:
    """Runs a server until ``stop`` is set (or the task is cancelled), then closes clients
    with 1001. Raises ``OSError`` if the port cannot be bound."""
    async with Server(config, source):
        if stop is None:
            await asyncio.Future()
        else:
            await stop.wait()
            log.info("shutting down: closing clients with 1001")
