"""The client SDK's asyncio adapter: :func:`connect` and :class:`Feed` (SPEC §8).

One :class:`asyncio.Protocol` per connection; every socket read goes, in one call, into the Rust
:class:`~fastfeed.EventDecoder` (WebSocket frames → numpy columns, on either endpoint), and the
received trades go, in the same call, into a :class:`~fastfeed.BarBook`. Python sees batches,
never one call per frame. The protocol itself (commands and their answers, resubscription, drop
accounting, lock-step acks) is the sans-I/O :class:`~fastfeed.client.session.ClientSession`;
reconnects and the heartbeat watchdog are the shared
:class:`~fastfeed.client.reconnect.Reconnector`. What is left here is I/O: the transport, pings
and closes, the bounded queue between the socket and the consumer, iteration, bars and stats.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import ssl
import time
from collections import deque
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Final, Literal, Self, TypeAlias, cast, get_args
from urllib.parse import SplitResult, urlsplit

import numpy as np
import numpy.typing as npt

from fastfeed._core import (
    EventBatch,
    EventDecoder,
    WSClientHandshake,
    ws_close_payload,
    ws_encode_frames,
    ws_parse_close_payload,
)
from fastfeed._notices import RateLimitedLog
from fastfeed.bars import BAR_DTYPE, BarBook, parse_interval
from fastfeed.client.batch import Batch
from fastfeed.client.contracts import Contract, contract_from_tuple
from fastfeed.client.events import ControlEvent, EndOfStream, Event, FeedStats, Gap, TakenOver
from fastfeed.client.reconnect import Backoff, Reconnector
from fastfeed.client.session import (
    ClientSession,
    Endpoint,
    ReqType,
    Subscription,
    endpoint_of,
)
from fastfeed.errors import (
    FastfeedError,
    FeedClosedError,
    FeedConnectionError,
    HandshakeError,
    ProtocolError,
)
from fastfeed.events import EventKind

__all__ = [
    "Backoff",
    "Feed",
    "OverflowPolicy",
    "ReqType",
    "Subscription",
    "connect",
]

log = logging.getLogger("fastfeed.client")

OverflowPolicy: TypeAlias = Literal["drop_oldest", "pause"]

REPLACED_REASON: Final = "replaced by a new client connection"
#: The Close reason of a server whose source ended (SPEC §5: the end of a replay).
END_OF_REPLAY_REASON: Final = "end of replay"

_TRADE: Final = int(EventKind.TRADE)
_QUOTE: Final = int(EventKind.QUOTE)
_OHLC: Final = int(EventKind.OHLC)
_OI: Final = int(EventKind.OPEN_INTEREST)
_STATUS: Final = int(EventKind.STATUS)
_ERROR: Final = int(EventKind.ERROR)
_CONTROL: Final = int(EventKind.CONTROL)
_NO_COUNTS: Final = (0,) * len(EventKind)


def check_url(url: str) -> SplitResult:
    """The parts of a feed URL; ``ValueError`` with a one-line reason if it is not one."""
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise ValueError(f"url: expected ws://host:port/path or wss://…, got {url!r}")
    try:
        parts.port  # noqa: B018 (a port out of range raises here)
    except ValueError as error:
        raise ValueError(f"url: {error}, got {url!r}") from None
    return parts


def shown_url(url: str) -> str:
    """``url`` for logs and messages: its query (which may hold ``?token=…``) left out."""
    base, sep, _ = url.partition("?")
    return f"{base}?…" if sep else base


def _interval_ms(interval: str | int) -> int:
    """``"1s"`` → 1000, ``"1m"`` → 60000, ``"250ms"`` → 250; an int is milliseconds."""
    return interval if isinstance(interval, int) else parse_interval(interval)


class _Connection(asyncio.Protocol):
    """One WebSocket connection: the handshake, then every read into the decoder."""

    def __init__(self, feed: Feed, handshake: WSClientHandshake) -> None:
        loop = asyncio.get_running_loop()
        self.feed = feed
        self.handshake = handshake
        self.transport: asyncio.Transport | None = None
        self.opened: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self.close_code: int | None = None
        self.close_reason = ""
        #: The session's connection generation (0 until the handshake is done).
        self.generation = 0
        self.paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not derive from asyncio.Transport; they implement it.
        self.transport = cast(asyncio.Transport, transport)
        self.transport.write(self.handshake.request)

    def data_received(self, data: bytes) -> None:
        feed = self.feed
        feed._reconnector.alive()
        if self is feed._conn:  # the handshake is done (``_on_open``)
            feed._on_batch(self, feed._decode(data))
            return
        if not self.handshake.done:
            try:
                rest = self.handshake.feed(data)
            except HandshakeError as error:
                if not self.opened.done():
                    self.opened.set_exception(FeedConnectionError(f"handshake failed: {error}"))
                self.abort("handshake failed")
                return
            if rest is None:
                return
            feed._decoder.new_connection()
            feed._on_open(self)
            if not self.opened.done():
                self.opened.set_result(None)
            if rest:
                feed._on_batch(self, feed._decode(rest))
        # Else a replaced connection's last bytes: they must not reach the shared decoder.

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.close_reason:
            self.close_reason = str(exc) if exc is not None else "connection closed"
        if not self.opened.done():
            self.opened.set_exception(
                FeedConnectionError(f"connection closed during handshake: {self.close_reason}")
            )
        if not self.closed.done():
            self.closed.set_result(None)
        self.feed._on_lost(self)

    async def wait_closed(self) -> None:
        # Shielded: cancelling a waiter (the reconnector stopping) must not cancel the future
        # itself, which would make the connection look closed while its socket stays open.
        await asyncio.shield(self.closed)

    def send(self, frames: bytes) -> None:
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(frames)

    def send_text(self, payloads: Sequence[bytes]) -> None:
        if payloads:
            self.send(ws_encode_frames(1, payloads, mask_key=os.urandom(4)))

    def close(self, code: int, reason: str) -> None:
        """Sends a Close frame and closes the transport (flushing what is buffered)."""
        if not self.close_reason:
            self.close_reason = reason
        try:
            payload = ws_close_payload(code)
        except ValueError:  # a code that may not be sent back
            payload = ws_close_payload(1000)
        self.send(ws_encode_frames(8, [payload], mask_key=os.urandom(4)))
        if self.transport is not None:
            self.transport.close()

    def abort(self, reason: str) -> None:
        if not self.close_reason:
            self.close_reason = reason
        if self.transport is not None:
            self.transport.abort()


_EMPTY_RING = np.empty(0, dtype=BAR_DTYPE)
_EMPTY_RING.flags.writeable = False

#: A queued batch with the connection generation it arrived on and whether that connection
#: numbers its events (``--pace ack``); notices have generation 0.
_Item: TypeAlias = tuple[Batch, int, bool]


class Feed:
    """A client connection to a fastfeed (or compatible) server (SPEC §8); see :func:`connect`.

    The endpoint follows the URL path: ``/v1/stream`` speaks SPEC §4 (stream names, shared
    with other clients), anything else SPEC §3 (``/v1/events``, one client at a time).

    Consume it in one of three ways, all fed by the same decoder:

    * ``async for event in feed`` — typed events (:class:`~fastfeed.Trade`, …,
      :class:`~fastfeed.Status` and the control events);
    * ``await feed.next_batch()`` — a :class:`~fastfeed.Batch` of numpy columns per socket
      read (the fast path); ``None`` once the feed has ended;
    * ``feed.bars(contract, "1s")`` — the closed bars built from every received trade.

    Bars and drop accounting are updated when data arrives, not when it is consumed, so they
    are complete even when the consumer's queue overflows.
    """

    def __init__(
        self,
        url: str,
        *,
        heartbeat_timeout: float = 3.0,
        reconnect: Backoff | bool = True,
        connect_timeout: float = 5.0,
        max_queue_events: int = 1_000_000,
        overflow: OverflowPolicy = "drop_oldest",
        bar_intervals: Sequence[str | int] = ("1s", "1m"),
        bar_capacity: int = 4096,
        headers: Sequence[tuple[str, str]] = (),
        seed: int | None = None,
        wait_for_server: bool = False,
        ssl_context: ssl.SSLContext | None = None,
        busy_poll: bool = False,
        on_batch: Callable[[Batch], None] | None = None,
    ) -> None:
        parts = check_url(url)
        if not heartbeat_timeout > 0:
            raise ValueError(f"heartbeat_timeout must be positive, got {heartbeat_timeout}")
        if max_queue_events < 1:
            raise ValueError(f"max_queue_events must be at least 1, got {max_queue_events}")
        if on_batch is not None and not callable(on_batch):
            raise TypeError(f"on_batch must be a function taking a Batch, got {on_batch!r}")
        if overflow not in get_args(OverflowPolicy):
            raise ValueError(f"overflow must be 'drop_oldest' or 'pause', got {overflow!r}")
        self.url = url
        assert parts.hostname is not None  # check_url
        self._host: str = parts.hostname
        self._port = parts.port or (443 if parts.scheme == "wss" else 80)
        self._path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        if ssl_context is not None and parts.scheme != "wss":
            raise ValueError(f"ssl_context is for wss:// URLs, got {url!r}")
        #: The TLS context of a wss:// URL (default: the system's trusted CAs).
        self._ssl: ssl.SSLContext | None = (
            (ssl_context or ssl.create_default_context()) if parts.scheme == "wss" else None
        )
        self._headers = list(headers)
        #: ``"stream"`` (SPEC §4) for a ``/v1/stream`` URL, else ``"events"`` (SPEC §3).
        self.endpoint: Endpoint = endpoint_of(parts.path or "/")
        self.heartbeat_timeout = float(heartbeat_timeout)
        self.backoff = reconnect if isinstance(reconnect, Backoff) else Backoff()
        self.connect_timeout = connect_timeout
        self.max_queue_events = max_queue_events
        self.overflow: OverflowPolicy = overflow
        #: Waiting consumers spin the event loop instead of letting it sleep (see connect).
        self.busy_poll = busy_poll
        #: Called with each batch inside the socket read, instead of queueing it (see connect).
        self.on_batch = on_batch
        self._book = BarBook([_interval_ms(i) for i in bar_intervals], bar_capacity)
        #: One decoder for every connection of the feed: contract ids stay stable.
        self._decoder = EventDecoder()
        self._session = ClientSession(self.endpoint)
        self._reconnector: Reconnector[_Connection] = Reconnector(
            self._connect,
            backoff=self.backoff if reconnect is not False else None,
            heartbeat_timeout=self.heartbeat_timeout,
            rng=random.Random(seed),
            on_down=self._on_down,
            retry_first=wait_for_server,
            name=shown_url(url),
        )

        self._conn: _Connection | None = None
        self._opened = False
        self._closing = False
        self._final = False
        self._ended = False
        self._supervisor: asyncio.Task[None] | None = None
        #: Callers waiting for their command, by session ticket.
        self._waiters: dict[int, asyncio.Future[list[str] | None]] = {}

        self._contracts: list[Contract] = []
        self._contract_ids: dict[Contract, int] = {}

        self._queue: deque[_Item] = deque()
        self._queued = 0
        #: Futures of the consumers waiting for the queue, created only when one waits; the
        #: next enqueue (or the end) completes them all.
        self._wakeups: list[asyncio.Future[None]] = []
        self._iter_events: list[Event] = []
        self._iter_pos = 0
        self._iter_generation = 0
        self._iter_pace = False
        self._unacked: list[int] = []
        self._unacked_generation = 0

        self._local_gaps = 0
        self._local_dropped = 0
        self._decode_errors = 0
        self._handler_errors = 0
        #: Handler exceptions after the first (whose traceback is logged): a count and the
        #: latest, at most every 10 s, so a handler failing on every batch cannot flood the log.
        self._handler_error_log = RateLimitedLog(
            log, "on_batch handler: %d more exception(s); the latest: %s"
        )
        self._last_event: float | None = None

    # --- lifecycle ----------------------------------------------------------------------------

    async def open(self) -> None:
        """Connects (raising :class:`~fastfeed.FeedConnectionError` if the first connection
        fails: a wrong URL fails fast; with ``wait_for_server``, retrying with backoff until
        it succeeds) and starts the watchdog and the reconnect supervisor."""
        if self._opened:
            raise FastfeedError("feed already opened")
        self._opened = True
        await self._reconnector.start()
        self._supervisor = asyncio.get_running_loop().create_task(self._supervise())

    async def close(self) -> None:
        """Closes the connection (Close 1000) and ends the feed; queued batches can still be
        read. Idempotent."""
        if self._closing:
            return
        self._closing = True
        await self._reconnector.stop()
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
        conn = self._conn
        if conn is not None and not conn.closed.done():
            conn.close(1000, "client closed")
            try:
                await asyncio.wait_for(asyncio.shield(conn.closed), 1.0)
            except TimeoutError:
                conn.abort("client closed")
        self._fail_pending(FeedClosedError("feed closed"))
        self._end()

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def connected(self) -> bool:
        """True while a connection is open."""
        return self._session.connected

    @property
    def ended(self) -> bool:
        """True once the feed will deliver nothing new (closed, taken over, or gave up)."""
        return self._ended

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        handshake = WSClientHandshake(
            self._host, self._port, self._path, os.urandom(16), self._headers
        )
        conn = _Connection(self, handshake)
        ssl_context = self._ssl
        try:
            async with asyncio.timeout(self.connect_timeout):
                await loop.create_connection(
                    lambda: conn,
                    self._host,
                    self._port,
                    ssl=ssl_context,
                    server_hostname=self._host if ssl_context else None,
                )
                await conn.opened
        except TimeoutError:
            conn.abort("connect timeout")
            raise FeedConnectionError(
                f"cannot connect to {shown_url(self.url)}: timed out after {self.connect_timeout} s"
            ) from None
        except OSError as error:
            shown = shown_url(self.url)
            raise FeedConnectionError(f"cannot connect to {shown}: {error}") from error
        return conn

    def _on_down(self, conn: _Connection) -> bool:
        if self._closing or self._final:
            return False
        if self._reconnector.backoff is None:
            log.info("connection to %s lost; reconnect disabled", shown_url(self.url))
        return True

    async def _supervise(self) -> None:
        await self._reconnector.wait()
        if not self._closing:
            self._fail_pending(FeedClosedError("feed ended"))
            self._end()

    def _end(self) -> None:
        self._ended = True
        self._wake()

    # --- connection callbacks (synchronous, from the protocol) --------------------------------

    def _decode(self, data: bytes) -> EventBatch:
        """One socket read of the current connection, decoded: one Rust call for the frames,
        the events, and the trades into the bar rings. (A relay's upstream feed takes the data
        events out here, :class:`fastfeed.server.relay.RelaySource`.)"""
        return self._decoder.feed(data, self._book._book)

    def _on_open(self, conn: _Connection) -> None:
        # Synchronous with the handshake: the resubscriptions precede anything else sent.
        self._conn = conn
        session = self._session
        notice = session.connection_made(time.time(), self._reconnector.attempts)
        conn.generation = session.generation
        self._flush(conn)
        if notice is not None:
            log.info(
                "reconnected after %.2f s; %d subscriptions re-sent",
                notice.outage,
                notice.subscriptions,
            )
            self._enqueue_notice(notice)

    def _on_lost(self, conn: _Connection) -> None:
        if conn is not self._conn:
            return
        notice = self._session.connection_lost(time.time(), conn.close_reason, conn.close_code)
        if self._closing or self._final or self._ended:
            return
        log.warning("disconnected from %s: %s", shown_url(self.url), notice.reason)
        self._enqueue_notice(notice)

    def _flush(self, conn: _Connection | None = None) -> None:
        """Sends what the session queued and completes the commands it finished."""
        session = self._session
        payloads = session.data_to_send()
        conn = conn if conn is not None else self._conn
        if payloads and conn is not None:
            conn.send_text(payloads)
        for result in session.results():
            future = self._waiters.pop(result.ticket, None)
            if future is None or future.done():
                continue
            if result.error is not None:
                future.set_exception(result.error)
                future.exception()  # retrieved: a cancelled caller is not an error
            else:
                future.set_result(result.value)

    def _on_batch(self, conn: _Connection, batch: EventBatch) -> None:
        # The connection is the current one (``data_received``).
        session = self._session
        events = batch.data_only
        if events is not None and session.pace_ack is not None:
            # Data events alone, the usual read: nothing else to look at.
            pace = session.receive_data(events)
            self._last_event = time.monotonic()
            self._enqueue(Batch(batch, batch.counts, self._contracts), events, conn, pace)
            return
        counts = batch.counts
        new_contracts = batch.new_contracts
        if new_contracts:
            self._register(new_contracts)
        notices = session.receive(batch, counts, now=time.time())
        data = counts[_TRADE] + counts[_QUOTE] + counts[_OHLC] + counts[_OI]
        if data:
            self._last_event = time.monotonic()
        if counts[_ERROR]:
            self._decode_errors += counts[_ERROR]
            for index, message in batch.errors[:3]:
                log.warning("malformed event (message %d): %s", index, message)
        if data or counts[_STATUS]:
            shown: list[ControlEvent] | None = [n for _, n in notices] if notices else None
            batch_ = Batch(batch, counts, self._contracts, shown, notices)
            self._enqueue(batch_, data, conn, bool(session.pace_ack))
        # After the data: a Close's notice (TakenOver, EndOfStream) follows what came before it.
        if counts[_CONTROL]:
            self._on_control(conn, batch.control)
        if session.has_output:  # answers to commands: the rare case
            self._flush(conn)
        error = batch.protocol_error
        if error is not None:
            message, code = error
            log.warning("protocol error from server, closing with %d: %s", code, message)
            conn.close(code, f"protocol error: {message}")

    def _register(
        self, new: list[tuple[int, str, str, int | None, int | None, str | None]]
    ) -> None:
        # One decoder serves every connection of the feed, so its ids are the feed's ids.
        for decoder_id, sec_type, symbol, expiration, strike, right in new:
            contract = contract_from_tuple(sec_type, symbol, expiration, strike, right)
            assert decoder_id == len(self._contracts)
            self._contracts.append(contract)
            self._contract_ids[contract] = decoder_id

    def _on_control(self, conn: _Connection, frames: list[tuple[int, bytes]]) -> None:
        for opcode, payload in frames:
            if opcode == 0x9:
                conn.send(ws_encode_frames(0xA, [payload], mask_key=os.urandom(4)))
            elif opcode == 0x8:
                try:
                    code, reason = ws_parse_close_payload(payload)
                except ProtocolError:
                    code, reason = 1002, "invalid close frame"
                conn.close_code = code
                conn.close_reason = f"server closed: {code} {reason}".rstrip()
                if code == 1000 and reason == REPLACED_REASON:
                    self._final = True
                    log.warning("taken over by another client: %s", reason)
                    self._enqueue_notice(TakenOver(time.time(), reason))
                elif code == 1000 and reason == END_OF_REPLAY_REASON:
                    self._final = True
                    log.info("the server's replay ended")
                    self._enqueue_notice(EndOfStream(time.time(), reason))
                # Echo the server's code (RFC 6455 §5.5.1); 1000 if it sent none.
                conn.close(code if code is not None else 1000, "closing")

    # --- queue --------------------------------------------------------------------------------

    def _wake(self) -> None:
        wakeups = self._wakeups
        if wakeups:
            self._wakeups = []
            for future in wakeups:
                if not future.done():  # a cancelled consumer's
                    future.set_result(None)

    def _wait(self) -> asyncio.Future[None]:
        """A future the next enqueue (or the end of the feed) completes."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        wakeups = self._wakeups
        if wakeups:  # another consumer waits too (or one was cancelled while waiting)
            wakeups[:] = [f for f in wakeups if not f.done()]
        wakeups.append(future)
        return future

    def _enqueue_notice(self, notice: ControlEvent) -> None:
        batch = Batch(None, _NO_COUNTS, self._contracts, [notice])
        if self.on_batch is not None:
            self._hand_over(batch, 0, False)
        else:
            self._queue.append((batch, 0, False))
        self._wake()

    def _hand_over(self, batch: Batch, generation: int, pace: bool) -> None:
        """``on_batch``: the batch goes to the handler now, in the read callback; lock-step
        acknowledges its events once the handler returned."""
        assert self.on_batch is not None
        try:
            self.on_batch(batch)
        except Exception as error:
            self._handler_errors += 1
            if self._handler_errors == 1:
                log.exception(
                    "the on_batch handler raised; the feed goes on (further exceptions are "
                    "counted in Feed.handler_errors and logged at most every 10 s)"
                )
            else:
                self._handler_error_log.add(1, f"{type(error).__name__}: {error}")
        if pace:
            self._set_unacked(generation, batch.event_ids())
            self._flush_acks()

    def _enqueue(self, batch: Batch, events: int, conn: _Connection, pace: bool) -> None:
        if self.on_batch is not None:
            self._hand_over(batch, conn.generation, pace)
            return
        limit = self.max_queue_events
        if self._queued + events > limit and self._queue and self.overflow == "drop_oldest":
            self._drop_oldest(self._queued + events - limit)
        self._queue.append((batch, conn.generation, pace))
        self._queued += events
        if self._wakeups:
            self._wake()
        if (
            self._queued > limit
            and self.overflow == "pause"
            and not conn.paused
            and conn.transport is not None
        ):
            conn.paused = True
            if self._reconnector.watchdog is not None:
                self._reconnector.watchdog.suspend()
            conn.transport.pause_reading()

    def _drop_oldest(self, excess: int) -> None:
        dropped = 0
        kept: list[ControlEvent] = []
        while dropped < excess and self._queue:
            old, _, _ = self._queue.popleft()
            dropped += old.events_count
            self._queued -= old.events_count
            kept.extend(old.notices)
        if dropped:
            self._local_dropped += dropped
            self._local_gaps += 1
            kept.append(Gap(dropped, "local_overflow"))
        if kept:
            notices = Batch(None, _NO_COUNTS, self._contracts, kept)
            self._queue.appendleft((notices, 0, False))

    async def _get(self) -> _Item | None:
        if self.on_batch is not None:
            raise RuntimeError(
                "this feed hands its batches to on_batch: use wait_ended(), not next_batch() "
                "or async for"
            )
        queue = self._queue
        while not queue:
            if self._ended:
                return None
            if self.busy_poll:
                # One loop iteration: it polls the sockets without blocking (a callback is
                # ready), so a read is handled as soon as it arrives; the core never sleeps.
                await asyncio.sleep(0)
            else:
                await self._wait()
        item = queue.popleft()
        self._queued -= item[0].events_count
        conn = self._conn
        if (
            conn is not None
            and conn.paused
            and self._queued <= self.max_queue_events // 2
            and conn.transport is not None
        ):
            conn.paused = False
            if self._reconnector.watchdog is not None:
                self._reconnector.watchdog.resume(time.monotonic())
            conn.transport.resume_reading()
        return item

    # --- consuming ----------------------------------------------------------------------------

    async def next_batch(self) -> Batch | None:
        """The next :class:`~fastfeed.Batch` (waiting for one), or ``None`` once the feed has
        ended and everything queued was read. Against a ``--pace ack`` server, calling this
        acknowledges the previous batch's events."""
        if self._unacked:
            self._flush_acks()
        item = await self._get()
        if item is None:
            return None
        batch, generation, pace = item
        if pace:
            self._set_unacked(generation, batch.event_ids())
        return batch

    async def wait_ended(self) -> None:
        """Returns once the feed has ended (closed, taken over, the end of a replay, or the
        reconnects given up) — what an ``on_batch`` strategy awaits. With ``busy_poll``, the
        event loop spins meanwhile instead of sleeping in the kernel."""
        while not self._ended:
            if self.busy_poll:
                await asyncio.sleep(0)
            else:
                await self._wait()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Event:
        """The next typed event. Against a ``--pace ack`` server, asking for it acknowledges
        the previous one (the handler of that event has returned)."""
        if self._unacked:
            self._flush_acks()
        while self._iter_pos >= len(self._iter_events):
            item = await self._get()
            if item is None:
                raise StopAsyncIteration
            batch, self._iter_generation, self._iter_pace = item
            self._iter_events = batch.to_events()
            self._iter_pos = 0
        event = self._iter_events[self._iter_pos]
        self._iter_pos += 1
        if self._iter_pace:
            event_id: int = getattr(event, "id", 0)
            if event_id:
                self._set_unacked(self._iter_generation, [event_id])
        return event

    def _set_unacked(self, generation: int, ids: list[int]) -> None:
        if self._unacked_generation != generation:
            self._unacked = []
            self._unacked_generation = generation
        self._unacked.extend(ids)

    def _flush_acks(self) -> None:
        if not self._unacked:
            return
        ids, self._unacked = self._unacked, []
        self._session.event_ack(self._unacked_generation, ids, int(time.time() * 1000))
        self._flush()

    # --- subscriptions ------------------------------------------------------------------------

    async def _command(self, ticket: int) -> list[str] | None:
        future: asyncio.Future[list[str] | None] = asyncio.get_running_loop().create_future()
        self._waiters[ticket] = future
        self._flush()  # sent now if connected, else on the next connection
        try:
            return await future
        except asyncio.CancelledError:
            self._waiters.pop(ticket, None)
            self._session.abandon(ticket)
            raise

    def _check_open(self) -> None:
        if self._ended or self._closing:
            raise FeedClosedError("feed closed")

    async def subscribe(
        self,
        req_type: ReqType | str,
        contract: Contract | None = None,
        *,
        sec_type: Literal["STOCK", "OPTION", "INDEX"] | None = None,
    ) -> Subscription:
        """Subscribes and returns once the server answered OK.

        ``subscribe("TRADE", Stock("AAPL"))``; whole-market streams take a ``sec_type`` and no
        contract: ``subscribe("FULL_TRADES", sec_type="OPTION")``; a SPEC §4 stream name works
        on both endpoints: ``subscribe("stock.AAPL@trade")``. Raises
        :class:`~fastfeed.SubscriptionError` with the server's message on ERROR
        (:class:`~fastfeed.MaxStreamsError` on MAX_STREAMS_REACHED / TOO_MANY_STREAMS), and
        :class:`~fastfeed.FeedClosedError` when the feed has ended. While reconnecting, the
        command is sent on the next connection. Subscriptions are re-sent after every
        reconnect.
        """
        subscription = Subscription.of(req_type, contract, sec_type)
        self._check_open()
        await self._command(self._session.subscribe(subscription))
        return subscription

    async def unsubscribe(
        self,
        req_type: ReqType | str,
        contract: Contract | None = None,
        *,
        sec_type: Literal["STOCK", "OPTION", "INDEX"] | None = None,
    ) -> None:
        """Ends one subscription (OK even if it was not subscribed); takes the same arguments
        as :meth:`subscribe`."""
        subscription = Subscription.of(req_type, contract, sec_type)
        self._check_open()
        await self._command(self._session.unsubscribe(subscription))

    async def stop(self) -> None:
        """Ends every subscription (``STOP``; on ``/v1/stream`` an ``UNSUBSCRIBE`` of all)."""
        self._check_open()
        await self._command(self._session.stop())

    async def list_subscriptions(self) -> list[str]:
        """The server's streams of this connection, by name in subscription order
        (``LIST_SUBSCRIPTIONS``; ``/v1/stream`` only)."""
        self._check_open()
        names = await self._command(self._session.list_subscriptions())
        return names if names is not None else []

    @property
    def subscriptions(self) -> list[Subscription]:
        """The subscriptions the server acknowledged (re-sent after a reconnect)."""
        return self._session.subscriptions

    def _fail_pending(self, error: Exception) -> None:
        self._session.fail_all(error)
        self._flush()

    # --- contracts, bars, stats ---------------------------------------------------------------

    @property
    def contracts(self) -> list[Contract]:
        """Every contract seen, indexed by the ``contract_id`` of batches and bars."""
        return list(self._contracts)

    def contract_id(self, contract: Contract) -> int | None:
        """The feed's id of ``contract``, or ``None`` if no event for it arrived yet."""
        return self._contract_ids.get(contract)

    @property
    def bar_book(self) -> BarBook:
        """The :class:`~fastfeed.BarBook` fed with every received trade (feed contract ids)."""
        return self._book

    def bars(self, contract: Contract, interval: str | int = "1s") -> npt.NDArray[np.void]:
        """Closed bars of ``contract`` (SPEC §6), oldest → newest: a read-only live numpy view
        of the ring (:data:`~fastfeed.BAR_DTYPE`), one view even after it wraps; ``.copy()``
        to keep a snapshot. The bar still open is :meth:`open_bar`."""
        interval_ms = self._interval(interval)
        contract_id = self._contract_ids.get(contract)
        if contract_id is None:
            return _EMPTY_RING
        return self._book.ring(contract_id, interval_ms)

    def open_bar(self, contract: Contract, interval: str | int = "1s") -> np.void | None:
        """The bar of ``contract`` still open (vwap so far), or ``None``."""
        interval_ms = self._interval(interval)
        contract_id = self._contract_ids.get(contract)
        if contract_id is None:
            return None
        return self._book.open_bar(contract_id, interval_ms)

    def flush_bars(self, date: int, ms_of_day: int) -> int:
        """Closes every open bar that ends at or before ``(date, ms_of_day)`` (time is passed
        in, e.g. the strategy's clock in America/New_York); returns how many closed. A trade
        arriving later for a flushed bucket is late (``bar_book.late_trades``)."""
        return self._book.flush(date, ms_of_day)

    def _interval(self, interval: str | int) -> int:
        interval_ms = _interval_ms(interval)
        if interval_ms not in self._book.intervals_ms:
            configured = ", ".join(f"{ms} ms" for ms in self._book.intervals_ms)
            raise ValueError(
                f"interval {interval!r} is not configured (bar_intervals: {configured})"
            )
        return interval_ms

    @property
    def stats(self) -> FeedStats:
        """Counters: received, the server's sent/dropped, gaps, reconnects, local drops."""
        age = None if self._last_event is None else time.monotonic() - self._last_event
        s = self._session
        return FeedStats(
            received=s.received,
            server_sent=s.server_sent,
            server_dropped=s.server_dropped,
            gaps=s.gaps + self._local_gaps,
            lost=s.lost + self._local_dropped,
            reconnects=s.reconnects,
            local_dropped=self._local_dropped,
            queued=self._queued,
            connected=s.connected,
            last_event_age=age,
        )

    @property
    def decode_errors(self) -> int:
        """Malformed event frames received (logged and skipped)."""
        return self._decode_errors

    @property
    def handler_errors(self) -> int:
        """Exceptions the ``on_batch`` handler raised (each logged; the feed went on)."""
        return self._handler_errors


def connect(
    url: str = "ws://127.0.0.1:25520/v1/events",
    *,
    heartbeat_timeout: float = 3.0,
    reconnect: Backoff | bool = True,
    connect_timeout: float = 5.0,
    max_queue_events: int = 1_000_000,
    overflow: OverflowPolicy = "drop_oldest",
    bar_intervals: Sequence[str | int] = ("1s", "1m"),
    bar_capacity: int = 4096,
    headers: Sequence[tuple[str, str]] = (),
    seed: int | None = None,
    wait_for_server: bool = False,
    ssl_context: ssl.SSLContext | None = None,
    busy_poll: bool = False,
    on_batch: Callable[[Batch], None] | None = None,
) -> Feed:
    """A :class:`Feed` to use as ``async with fastfeed.connect(url) as feed:``.

    * ``url``: ``ws://host:port/v1/events`` (SPEC §3) or ``ws://host:port/v1/stream``
      (SPEC §4, chosen by the path); the same calls, events, batches and bars on both.

    * ``heartbeat_timeout``: nothing received for this long (the server sends STATUS every
      second) → the connection is treated as dead and replaced.
    * ``reconnect``: ``True`` (default: :class:`Backoff` 0.25 s → 30 s, unlimited), a
      :class:`Backoff`, or ``False`` (the feed ends when the connection does).
    * ``max_queue_events``: bound of the queue between the socket and the consumer, in data
      events. ``overflow="drop_oldest"`` discards the oldest batches (counted in
      ``stats.local_dropped`` and reported as a ``Gap``); ``"pause"`` stops reading the socket
      until the consumer drains half the queue, so the server's slow-consumer policy applies
      (its drops arrive as ``Gap`` events too).
    * ``bar_intervals``/``bar_capacity``: the rings of :meth:`Feed.bars`.
    * ``headers``: extra handshake headers (e.g. ``Authorization``); ``seed`` seeds the jitter.
    * ``wait_for_server``: opening keeps retrying with backoff while the server is unreachable
      (by default the first failure raises :class:`~fastfeed.FeedConnectionError`).
    * ``ssl_context``: for ``wss://``, the TLS context (e.g. one trusting a private CA:
      ``ssl.create_default_context(cafile=…)``); default: the system's trusted CAs.
    * ``busy_poll``: for a strategy that owns a core. While the consumer waits for data
      (``next_batch``, ``async for``), the event loop is run without ever sleeping in the
      kernel: sockets are polled without blocking, so a read reaches the consumer without a
      wake-up (lower, steadier latency for sparse events), at the price of one core at 100 %.
      Other tasks of the loop keep running.
    * ``on_batch``: a function called with every :class:`~fastfeed.Batch` (data, and the
      notice-only batches) inside the socket read, instead of queueing it for ``next_batch``
      and ``async for`` (which then raise :class:`RuntimeError`): no task switch between the
      read and the strategy's code. It must not block; an exception in it is counted
      (:attr:`Feed.handler_errors`) and logged (the first with its traceback, then at most
      one line every 10 s) and the feed goes on; against a ``--pace ack``
      server a batch is acknowledged when the handler returns. Await
      :meth:`Feed.wait_ended` (with ``busy_poll``, it spins the loop).
    """
    return Feed(
        url,
        heartbeat_timeout=heartbeat_timeout,
        reconnect=reconnect,
        connect_timeout=connect_timeout,
        max_queue_events=max_queue_events,
        overflow=overflow,
        bar_intervals=bar_intervals,
        bar_capacity=bar_capacity,
        headers=headers,
        seed=seed,
        wait_for_server=wait_for_server,
        ssl_context=ssl_context,
        busy_poll=busy_poll,
        on_batch=on_batch,
    )
