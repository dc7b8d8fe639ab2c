"""The server on uvloop (SPEC §3, §4): one hub, a table of endpoints.

``/v1/events`` (one client, takeover) and ``/v1/stream`` (many clients) are two endpoint
policies over the same :class:`~fastfeed.server.hub.Hub`, fed by one source.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from multidict import CIMultiDict

from fastfeed.bars import BarBook
from fastfeed.errors import AddressInUseError, FastfeedError
from fastfeed.server.config import ServerConfig
from fastfeed.server.connection import Connection
from fastfeed.server.events_endpoint import EventsConnection, EventsEndpoint
from fastfeed.server.guard import HandshakeRejection, check_handshake, format_host, split_target
from fastfeed.server.hub import Hub
from fastfeed.server.source import Source, SourceEnd
from fastfeed.server.stream_endpoint import StreamEndpoint
from fastfeed.server.upgrade import UpgradeProtocol

if TYPE_CHECKING:
    from fastfeed.server.metrics import MetricsServer

__all__ = ["Server", "serve"]

log = logging.getLogger("fastfeed.server")


class Server:
    """An embeddable server.

    ``async with Server(config, source) as server:`` listens on ``config.host``/``port``
    (``server.port`` is the bound port, useful with port 0) and runs ``source`` (e.g.
    :class:`~fastfeed.server.SyntheticSource`) into the :attr:`hub`, which serves every
    connection of both endpoints. Leaving the block closes every client with 1001.

    Every trade of the source goes into :attr:`bars` (session and interval rings, SPEC §6),
    whatever the clients subscribed to, so the embedding program can read the whole market:
    ``server.bars.ring(server.contract_id("STOCK", "AAPL"), 1000)``.
    """

    def __init__(self, config: ServerConfig | None = None, source: Source | None = None) -> None:
        self.config = config if config is not None else ServerConfig()
        #: Raises ``ServerConfigError`` now for a certificate that cannot be loaded.
        self._tls = self.config.tls_context()
        self._source = source
        self._metrics: MetricsServer | None = None
        self._server: asyncio.Server | None = None
        self._pump: asyncio.Task[None] | None = None
        #: Made by :meth:`start`: done when the source ended (its :class:`SourceEnd`) or failed
        #: (its exception), after every connection was finished; never done for a source that
        #: runs forever.
        self.ended: asyncio.Future[SourceEnd]
        self.port = self.config.port
        #: The server's bars: every trade of the source, per contract and interval.
        self.bars = BarBook(self.config.bar_intervals_ms, self.config.bar_capacity)
        #: One market, many consumers: what the source feeds and the connections read.
        self.hub = Hub(self.bars, ohlcvc=self.config.ohlcvc)
        self._events = EventsEndpoint(self.hub, self.config)
        self._stream = StreamEndpoint(self.hub, self.config)
        #: The endpoints by path.
        self.endpoints: dict[str, EventsEndpoint | StreamEndpoint] = {
            EventsEndpoint.path: self._events,
            StreamEndpoint.path: self._stream,
        }

    def contract_id(
        self,
        sec_type: str,
        symbol: str,
        expiration: int | None = None,
        strike: int | None = None,
        right: str | None = None,
    ) -> int:
        """The id under which :attr:`bars` keeps a contract (registering it if it is new)."""
        return self.hub.core.add_contract(sec_type, symbol, expiration, strike, right)

    @property
    def source(self) -> Source | None:
        """The source the server runs."""
        return self._source

    @property
    def metrics_port(self) -> int | None:
        """The port serving Prometheus metrics (``config.metrics_port``), once started."""
        return None if self._metrics is None else self._metrics.port

    @property
    def client(self) -> EventsConnection | None:
        """The connected ``/v1/events`` client, if any."""
        return self._events.active

    async def start(self) -> None:
        """Binds and starts serving. Raises :class:`~fastfeed.errors.AddressInUseError` when
        the port is taken, ``OSError`` when it cannot bind otherwise."""
        self.ended = asyncio.get_running_loop().create_future()
        metrics_socket = None
        if self.config.metrics_port is not None:
            # First: a metrics port that cannot be bound fails before anything is served.
            # (Imported here: aiohttp's server and prometheus-client only when asked for.)
            from fastfeed.server.metrics import bind_metrics_socket

            metrics_socket = bind_metrics_socket(self.config.host, self.config.metrics_port)
        try:
            self._server = await self._bind()
        except OSError as error:
            if metrics_socket is not None:
                metrics_socket.close()
            if error.errno == errno.EADDRINUSE:
                raise AddressInUseError(self.config.host, self.config.port) from None
            raise
        if metrics_socket is not None:
            # Answered only once the endpoints listen: a scrape that answers means the server
            # is up (a scrape before waits in the socket's backlog).
            from fastfeed.server.metrics import MetricsServer

            self._metrics = MetricsServer(self)
            await self._metrics.start(metrics_socket)
        sockets = self._server.sockets
        if sockets:
            self.port = sockets[0].getsockname()[1]
        for path in self.endpoints:
            log.info(
                "serving %s://%s:%d%s",
                self.config.scheme,
                format_host(self.config.host),
                self.port,
                path,
            )
        if self._source is not None:
            self._pump = asyncio.get_running_loop().create_task(self._run_source(self._source))

    async def _bind(self) -> asyncio.Server:
        timeout = self.config.handshake_timeout
        return await asyncio.get_running_loop().create_server(
            lambda: UpgradeProtocol(self._accept, timeout),
            self.config.host,
            self.config.port,
            ssl=self._tls,
        )

    async def close(self, code: int = 1001, reason: str = "server shutting down") -> None:
        """Stops accepting, closes every client with ``code``, waits (bounded) for them."""
        if self._server is not None:
            self._server.close()
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump
            self._pump = None
        await self._end_connections(lambda c: c.close(code, reason))
        self._server = None
        await self._close_metrics()

    async def _close_metrics(self) -> None:
        if self._metrics is not None:
            await self._metrics.close()
            self._metrics = None

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

    def _accept(self, target: bytes, headers: CIMultiDict[str]) -> Connection | HandshakeRejection:
        """The connection for a well-formed opening handshake, or why it is refused."""
        route, _ = split_target(target)
        rejection = check_handshake(target, headers, self.config, self.port, self.endpoints)
        endpoint = self.endpoints.get(route)
        if rejection is None and endpoint is not None:
            rejection = endpoint.admit()
        if rejection is not None or endpoint is None:
            assert rejection is not None
            return rejection
        return endpoint.connection()

    async def _run_source(self, source: Source) -> None:
        try:
            end = await source.run(self.hub)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            if not isinstance(error, FastfeedError):
                log.exception("source failed")
            await self._finish_all(1011, _close_reason(f"source failed: {error}"))
            self.ended.set_exception(error)
            return
        if end is not None:
            log.info("source ended (%s): closing clients with %d", end.reason, end.code)
            await self._finish_all(end.code, end.reason)
            self.ended.set_result(end)

    async def _finish_all(self, code: int, reason: str) -> None:
        """Finishes every connection (queued data, last STATUS, Close) and waits, bounded."""
        await self._end_connections(lambda c: c.finish(code, reason))

    async def _end_connections(self, end: Callable[[Connection], None]) -> None:
        """Calls ``end`` on every connection and waits (bounded) until they are gone."""
        connections = [c for e in self.endpoints.values() for c in e.connections]
        for connection in connections:
            end(connection)
        waiters = [c.disconnected for c in connections if not c.disconnected.done()]
        if waiters:
            await asyncio.wait(waiters, timeout=self.config.close_timeout + 1)


def _close_reason(text: str) -> str:
    """``text`` cut to the 123 bytes a Close reason may hold (whole characters)."""
    data = text.encode()
    if len(data) <= 123:
        return text
    return data[:120].decode(errors="ignore") + "..."


async def serve(
    config: ServerConfig | None = None,
    source: Source | None = None,
    *,
    stop: asyncio.Event | None = None,
) -> SourceEnd | None:
    """Runs a server until ``stop`` is set (or the task is cancelled), then closes clients
    with 1001; or until a finite source ended (returns its :class:`SourceEnd`, clients already
    closed) or failed (raises its exception). Raises ``OSError`` if the port cannot be bound."""
    async with Server(config, source) as server:
        waits: set[asyncio.Future[Any]] = {server.ended}
        if stop is not None:
            waits.add(asyncio.ensure_future(stop.wait()))
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waits - {server.ended}:
                waiter.cancel()
        if server.ended.done():
            return server.ended.result()
        log.info("shutting down: closing clients with 1001")
        return None
