"""The client SDK's connection: :func:`connect` and :class:`Feed` (SPEC §8).

One :class:`asyncio.Protocol` per connection; every socket read goes, in one call, into the Rust
:class:`~fastfeed.EventDecoder` (WebSocket frames → numpy columns), and the received trades go,
in one call per read, into a :class:`~fastfeed.BarBook`. Python sees batches, never one call per
frame. Everything else here is lifecycle: subscriptions and their acknowledgements, pings,
the heartbeat watchdog, reconnects with backoff, drop accounting, lock-step acks and the bounded
queue between the socket and the consumer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import ssl
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final, Literal, Self, TypeAlias, cast, get_args
from urllib.parse import urlsplit

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
from fastfeed.bars import BAR_DTYPE, BarBook, parse_interval
from fastfeed.client.batch import Batch, kind_counts
from fastfeed.client.contracts import Contract, contract_from_tuple
from fastfeed.client.events import (
    ControlEvent,
    Disconnected,
    Event,
    FeedStats,
    Gap,
    Reconnected,
    TakenOver,
)
from fastfeed.errors import (
    FastfeedError,
    FeedClosedError,
    FeedConnectionError,
    HandshakeError,
    MaxStreamsError,
    ProtocolError,
    SubscriptionError,
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

ReqType: TypeAlias = Literal[
    "QUOTE", "TRADE", "OHLC", "OPEN_INTEREST", "FULL_TRADES", "FULL_OPEN_INTEREST"
]
OverflowPolicy: TypeAlias = Literal["drop_oldest", "pause"]

REPLACED_REASON: Final = "replaced by a new client connection"
#: Ids per ``event_ack`` frame, so an ack stays far below the server's 4 KiB frame cap.
_ACK_IDS_PER_FRAME: Final = 200

_TRADE: Final = int(EventKind.TRADE)
_QUOTE: Final = int(EventKind.QUOTE)
_OHLC: Final = int(EventKind.OHLC)
_OI: Final = int(EventKind.OPEN_INTEREST)
_STATUS: Final = int(EventKind.STATUS)
_ACK: Final = int(EventKind.ACK)
_ERROR: Final = int(EventKind.ERROR)
_CONTROL: Final = int(EventKind.CONTROL)
_NO_COUNTS: Final = (0,) * len(EventKind)
_DATA_COLUMNS: Final = (
    ("trades", _TRADE),
    ("quotes", _QUOTE),
    ("ohlc", _OHLC),
    ("open_interest", _OI),
)


def _interval_ms(interval: str | int) -> int:
    """``"1s"`` → 1000, ``"1m"`` → 60000, ``"250ms"`` → 250; an int is milliseconds."""
    return interval if isinstance(interval, int) else parse_interval(interval)


@dataclass(frozen=True, slots=True)
class Backoff:
    """Reconnect delays: exponential backoff with full jitter.

    Attempt ``n`` (0-based) waits ``uniform(0, min(cap, initial * 2**n))`` seconds, so a
    crowd of clients does not reconnect in lock-step. ``max_attempts=None`` retries forever;
    after ``max_attempts`` failed attempts the feed ends. The count restarts after each
    successful connection.
    """

    initial: float = 0.25
    cap: float = 30.0
    max_attempts: int | None = None

    def __post_init__(self) -> None:
        if not self.initial > 0 or not self.cap >= self.initial:
            raise ValueError(f"backoff: need 0 < initial <= cap, got {self.initial}, {self.cap}")
        if self.max_attempts is not None and self.max_attempts < 0:
            raise ValueError(f"backoff: max_attempts must be >= 0, got {self.max_attempts}")

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Seconds to wait before attempt ``attempt``."""
        return rng.uniform(0.0, min(self.cap, self.initial * 2.0 ** min(attempt, 60)))


@dataclass(frozen=True, slots=True)
class Subscription:
    """One stream: ``req_type`` of ``contract``, or a whole-market ``FULL_*`` stream of
    ``sec_type`` (``contract`` is ``None``)."""

    req_type: ReqType
    sec_type: str
    contract: Contract | None

    def command(self, req_id: int, add: bool) -> bytes:
        """The STREAM command (SPEC §3.1)."""
        cmd: dict[str, Any] = {
            "msg_type": "STREAM",
            "sec_type": self.sec_type,
            "req_type": self.req_type,
            "add": add,
            "id": req_id,
        }
        if self.contract is not None:
            cmd["contract"] = self.contract.to_json()
        return json.dumps(cmd, separators=(",", ":")).encode()

    def __str__(self) -> str:
        target = self.contract.key if self.contract is not None else "*"
        return f"{self.sec_type} {self.req_type} {target}"


@dataclass(slots=True)
class _Command:
    """A command waiting for its acknowledgement. ``subscription`` is ``None`` for STOP;
    ``future`` is ``None`` for the SDK's own resubscriptions."""

    subscription: Subscription | None
    add: bool
    future: asyncio.Future[None] | None

    def payload(self, req_id: int) -> bytes:
        if self.subscription is None:
            return b'{"msg_type":"STOP","id":%d}' % req_id
        return self.subscription.command(req_id, self.add)


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
        self.last_dropped = 0
        self.last_missing = 0
        #: Whether data events carry header ids (``--pace ack``); unknown until the first.
        self.pace_ack: bool | None = None
        self.paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not derive from asyncio.Transport; they implement it.
        self.transport = cast(asyncio.Transport, transport)
        self.transport.write(self.handshake.request)

    def data_received(self, data: bytes) -> None:
        feed = self.feed
        feed._last_rx = time.monotonic()
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
            if not rest:
                return
            data = rest
        elif self is not feed._conn:
            return  # a replaced connection's last bytes must not reach the shared decoder
        # One Rust call per read: frames, events, and the trades into the bar rings.
        feed._on_batch(self, feed._decoder.feed(data, feed._book._book))

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

    def send(self, frames: bytes) -> None:
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(frames)

    def send_text(self, payloads: Sequence[bytes]) -> None:
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


class Feed:
    """A client connection to a ``/v1/events`` server (SPEC §8); see :func:`connect`.

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
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("ws", "wss") or not parts.hostname:
            raise ValueError(f"url: expected ws://host:port/path or wss://…, got {url!r}")
        if not heartbeat_timeout > 0:
            raise ValueError(f"heartbeat_timeout must be positive, got {heartbeat_timeout}")
        if max_queue_events < 1:
            raise ValueError(f"max_queue_events must be at least 1, got {max_queue_events}")
        if overflow not in get_args(OverflowPolicy):
            raise ValueError(f"overflow must be 'drop_oldest' or 'pause', got {overflow!r}")
        self.url = url
        self._host = parts.hostname
        self._port = parts.port or (443 if parts.scheme == "wss" else 80)
        self._path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._ssl = parts.scheme == "wss"
        self._headers = list(headers)
        self.heartbeat_timeout = float(heartbeat_timeout)
        self.backoff = reconnect if isinstance(reconnect, Backoff) else Backoff()
        self._reconnect_enabled = reconnect is not False
        self.connect_timeout = connect_timeout
        self.max_queue_events = max_queue_events
        self.overflow: OverflowPolicy = overflow
        self._rng = random.Random(seed)
        self._book = BarBook([_interval_ms(i) for i in bar_intervals], bar_capacity)
        #: One decoder for every connection of the feed: contract ids stay stable.
        self._decoder = EventDecoder()

        self._conn: _Connection | None = None
        self._connected = False
        self._opened = False
        self._closing = False
        self._final = False
        self._ended = False
        self._supervisor: asyncio.Task[None] | None = None
        self._watchdog: asyncio.TimerHandle | None = None

        self._next_id = 1
        self._subscriptions: dict[tuple[str, str, Contract | None], Subscription] = {}
        self._pending: dict[int, _Command] = {}
        self._retry: list[_Command] = []

        self._contracts: list[Contract] = []
        self._contract_ids: dict[Contract, int] = {}

        self._queue: deque[tuple[Batch, _Connection | None]] = deque()
        self._queued = 0
        self._ready = asyncio.Event()
        self._iter_events: list[Event] = []
        self._iter_pos = 0
        self._iter_conn: _Connection | None = None
        self._unacked: list[int] = []
        self._unacked_conn: _Connection | None = None
        self._ack_seq = 0

        self._received = 0
        self._server_sent = 0
        self._server_dropped = 0
        self._gaps = 0
        self._lost = 0
        self._reconnects = 0
        self._local_dropped = 0
        self._decode_errors = 0
        self._last_rx = time.monotonic()
        self._last_event: float | None = None
        self._disconnected_at: float | None = None
        self._attempts = 0

    # --- lifecycle ----------------------------------------------------------------------------

    async def open(self) -> None:
        """Connects (raising :class:`~fastfeed.FeedConnectionError` if the first connection
        fails: a wrong URL fails fast) and starts the watchdog and the reconnect supervisor."""
        if self._opened:
            raise FastfeedError("feed already opened")
        self._opened = True
        await self._connect()
        self._supervisor = asyncio.get_running_loop().create_task(self._supervise())
        self._schedule_watchdog()

    async def close(self) -> None:
        """Closes the connection (Close 1000) and ends the feed; queued batches can still be
        read. Idempotent."""
        if self._closing:
            return
        self._closing = True
        if self._watchdog is not None:
            self._watchdog.cancel()
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
        return self._connected

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
        ssl_context = ssl.create_default_context() if self._ssl else None
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
                f"cannot connect to {self.url}: timed out after {self.connect_timeout} s"
            ) from None
        except OSError as error:
            raise FeedConnectionError(f"cannot connect to {self.url}: {error}") from error
        return conn

    async def _supervise(self) -> None:
        while True:
            conn = self._conn
            assert conn is not None
            await conn.closed
            if self._closing or self._final:
                break
            if not self._reconnect_enabled:
                log.info("connection to %s lost; reconnect disabled", self.url)
                break
            if not await self._reconnect():
                break
        self._fail_pending(FeedClosedError("feed ended"))
        self._end()

    async def _reconnect(self) -> bool:
        attempt = 0
        limit = self.backoff.max_attempts
        while not self._closing:
            if limit is not None and attempt >= limit:
                log.warning("giving up on %s after %d attempts", self.url, attempt)
                return False
            await asyncio.sleep(self.backoff.delay(attempt, self._rng))
            attempt += 1
            self._attempts = attempt
            try:
                await self._connect()
            except FeedConnectionError as error:
                log.info("reconnect attempt %d failed: %s", attempt, error)
                continue
            return True
        return False

    def _end(self) -> None:
        self._ended = True
        self._connected = False
        if self._watchdog is not None:
            self._watchdog.cancel()
        self._ready.set()

    # --- watchdog -----------------------------------------------------------------------------

    def _schedule_watchdog(self) -> None:
        interval = min(0.5, max(0.02, self.heartbeat_timeout / 10))
        self._watchdog = asyncio.get_running_loop().call_later(interval, self._watchdog_tick)

    def _watchdog_tick(self) -> None:
        if self._closing or self._ended:
            return
        conn = self._conn
        if self._connected and conn is not None and not conn.paused:
            silent = time.monotonic() - self._last_rx
            if silent > self.heartbeat_timeout:
                log.warning("nothing received for %.1f s: connection dead, reconnecting", silent)
                conn.abort(f"heartbeat timeout: nothing received for {silent:.1f} s")
        self._schedule_watchdog()

    # --- connection callbacks (synchronous, from the protocol) --------------------------------

    def _on_open(self, conn: _Connection) -> None:
        self._conn = conn
        self._connected = True
        self._last_rx = time.monotonic()
        commands: list[_Command] = [
            _Command(sub, True, None) for sub in self._subscriptions.values()
        ]
        resubscribed = len(commands)
        commands.extend(self._retry)
        self._retry = []
        if commands:
            payloads = []
            for command in commands:
                req_id = self._take_id()
                self._pending[req_id] = command
                payloads.append(command.payload(req_id))
            conn.send_text(payloads)
        if self._disconnected_at is not None:
            self._reconnects += 1
            notice = Reconnected(self._disconnected_at, time.time(), self._attempts, resubscribed)
            self._disconnected_at = None
            log.info(
                "reconnected after %.2f s; %d subscriptions re-sent", notice.outage, resubscribed
            )
            self._enqueue_notice(notice)

    def _on_lost(self, conn: _Connection) -> None:
        if conn is not self._conn:
            return
        self._connected = False
        # Commands awaiting an answer are sent again on the next connection.
        self._retry.extend(
            c for c in self._pending.values() if c.future is not None and not c.future.done()
        )
        self._pending.clear()
        if self._closing or self._final or self._ended:
            return
        self._disconnected_at = time.time()
        reason = conn.close_reason
        log.warning("disconnected from %s: %s", self.url, reason)
        self._enqueue_notice(Disconnected(self._disconnected_at, reason, conn.close_code))

    def _on_batch(self, conn: _Connection, batch: EventBatch) -> None:
        if conn is not self._conn:
            return
        counts = kind_counts(batch.kinds)
        if batch.new_contracts:
            self._register(conn, batch.new_contracts)
        if counts[_CONTROL]:
            self._on_control(conn, batch.control)
        if counts[_ACK]:
            self._on_acks(batch.acks)
        data = counts[_TRADE] + counts[_QUOTE] + counts[_OHLC] + counts[_OI]
        if data:
            self._received += data
            self._last_event = time.monotonic()
            if conn.pace_ack is None:
                conn.pace_ack = self._has_ids(batch, counts)
        gaps = self._account(conn, batch.status) if counts[_STATUS] else None
        if counts[_ERROR]:
            self._decode_errors += counts[_ERROR]
            for index, message in batch.errors[:3]:
                log.warning("malformed event (message %d): %s", index, message)
        if data or counts[_STATUS]:
            notices: list[ControlEvent] = [g for _, g in gaps] if gaps else []
            self._enqueue(
                Batch(batch, counts, self._contracts, notices, gaps),
                data,
                conn,
            )
        error = batch.protocol_error
        if error is not None:
            message, code = error
            log.warning("protocol error from server, closing with %d: %s", code, message)
            conn.close(code, f"protocol error: {message}")

    @staticmethod
    def _has_ids(batch: EventBatch, counts: Sequence[int]) -> bool:
        for name, kind in _DATA_COLUMNS:
            if counts[kind]:
                return bool(getattr(batch, name)["id"][0] != 0)
        return False

    def _register(
        self,
        conn: _Connection,
        new: list[tuple[int, str, str, int | None, int | None, str | None]],
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
                # Echo the server's code (RFC 6455 §5.5.1); 1000 if it sent none.
                conn.close(code if code is not None else 1000, "closing")

    def _on_acks(self, acks: list[tuple[int | None, str, str | None]]) -> None:
        for req_id, response, message in acks:
            command = self._pending.pop(req_id, None) if req_id is not None else None
            if command is None:
                log.warning(
                    "unexpected acknowledgement %s for req_id %s: %s", response, req_id, message
                )
                continue
            sub = command.subscription
            if response == "OK":
                if sub is None:
                    self._subscriptions.clear()
                elif command.add:
                    self._subscriptions[(sub.sec_type, sub.req_type, sub.contract)] = sub
                else:
                    self._subscriptions.pop((sub.sec_type, sub.req_type, sub.contract), None)
                if command.future is not None and not command.future.done():
                    command.future.set_result(None)
                continue
            text = message if message is not None else response
            error: SubscriptionError = (
                MaxStreamsError(text, response, req_id)
                if response == "MAX_STREAMS_REACHED"
                else SubscriptionError(text, response, req_id)
            )
            if command.future is not None:
                if not command.future.done():
                    command.future.set_exception(error)
            elif sub is not None:
                log.warning("resubscribing %s failed: %s", sub, text)
                self._subscriptions.pop((sub.sec_type, sub.req_type, sub.contract), None)

    def _account(self, conn: _Connection, status: Any) -> list[tuple[int, Gap]]:
        gaps: list[tuple[int, Gap]] = []
        rows = zip(
            status["sent"].tolist(),
            status["dropped"].tolist(),
            status["received"].tolist(),
            strict=True,
        )
        for row, (sent, dropped, received) in enumerate(rows):
            if sent < 0:
                continue  # a heartbeat without stats
            if dropped > conn.last_dropped:
                gaps.append((row, Gap(dropped - conn.last_dropped, "server_dropped")))
                conn.last_dropped = dropped
            missing = sent - received
            if missing > conn.last_missing:
                gaps.append((row, Gap(missing - conn.last_missing, "missing")))
                conn.last_missing = missing
            self._server_sent = sent
            self._server_dropped = dropped
        for _, gap in gaps:
            log.warning("gap: %d events lost (%s)", gap.count, gap.reason)
            self._gaps += 1
            self._lost += gap.count
        return gaps

    # --- queue --------------------------------------------------------------------------------

    def _enqueue_notice(self, notice: ControlEvent) -> None:
        self._queue.append((Batch(None, _NO_COUNTS, self._contracts, [notice]), None))
        self._ready.set()

    def _enqueue(self, batch: Batch, events: int, conn: _Connection) -> None:
        over = self._queued + events > self.max_queue_events
        if over and self._queue and self.overflow == "drop_oldest":
            self._drop_oldest(self._queued + events - self.max_queue_events)
        self._queue.append((batch, conn))
        self._queued += events
        self._ready.set()
        if (
            self.overflow == "pause"
            and self._queued > self.max_queue_events
            and not conn.paused
            and conn.transport is not None
        ):
            conn.paused = True
            conn.transport.pause_reading()

    def _drop_oldest(self, excess: int) -> None:
        dropped = 0
        kept: list[ControlEvent] = []
        while dropped < excess and self._queue:
            old, _ = self._queue.popleft()
            dropped += old.events_count
            self._queued -= old.events_count
            kept.extend(old.notices)
        if dropped:
            self._local_dropped += dropped
            self._gaps += 1
            self._lost += dropped
            kept.append(Gap(dropped, "local_overflow"))
        if kept:
            self._queue.appendleft((Batch(None, _NO_COUNTS, self._contracts, kept), None))

    async def _get(self) -> tuple[Batch, _Connection | None] | None:
        while not self._queue:
            if self._ended:
                return None
            self._ready.clear()
            await self._ready.wait()
        item = self._queue.popleft()
        self._queued -= item[0].events_count
        conn = self._conn
        if (
            conn is not None
            and conn.paused
            and self._queued <= self.max_queue_events // 2
            and conn.transport is not None
        ):
            conn.paused = False
            self._last_rx = time.monotonic()
            conn.transport.resume_reading()
        return item

    # --- consuming ----------------------------------------------------------------------------

    async def next_batch(self) -> Batch | None:
        """The next :class:`~fastfeed.Batch` (waiting for one), or ``None`` once the feed has
        ended and everything queued was read. Against a ``--pace ack`` server, calling this
        acknowledges the previous batch's events."""
        self._flush_acks()
        item = await self._get()
        if item is None:
            return None
        batch, conn = item
        if conn is not None and conn.pace_ack:
            self._set_unacked(conn, batch.event_ids())
        return batch

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Event:
        """The next typed event. Against a ``--pace ack`` server, asking for it acknowledges
        the previous one (the handler of that event has returned)."""
        self._flush_acks()
        while self._iter_pos >= len(self._iter_events):
            item = await self._get()
            if item is None:
                raise StopAsyncIteration
            batch, self._iter_conn = item
            self._iter_events = batch.to_events()
            self._iter_pos = 0
        event = self._iter_events[self._iter_pos]
        self._iter_pos += 1
        conn = self._iter_conn
        if conn is not None and conn.pace_ack:
            event_id: int = getattr(event, "id", 0)
            if event_id:
                self._set_unacked(conn, [event_id])
        return event

    def _set_unacked(self, conn: _Connection, ids: list[int]) -> None:
        if self._unacked_conn is not conn:
            self._unacked = []
            self._unacked_conn = conn
        self._unacked.extend(ids)

    def _flush_acks(self) -> None:
        if not self._unacked:
            return
        conn = self._unacked_conn
        ids = self._unacked
        self._unacked = []
        if conn is None or conn is not self._conn or not self._connected:
            return  # the events' connection is gone; a new one numbers events afresh
        now = int(time.time() * 1000)
        payloads = []
        for start in range(0, len(ids), _ACK_IDS_PER_FRAME):
            self._ack_seq += 1
            payloads.append(
                json.dumps(
                    {
                        "type": "event_ack",
                        "correlation_id": f"ff-{self._ack_seq}",
                        "events_processed": ids[start : start + _ACK_IDS_PER_FRAME],
                        "timestamp": now,
                    },
                    separators=(",", ":"),
                ).encode()
            )
        conn.send_text(payloads)

    # --- subscriptions ------------------------------------------------------------------------

    def _take_id(self) -> int:
        req_id = self._next_id
        self._next_id += 1
        return req_id

    async def _command(self, subscription: Subscription | None, add: bool) -> None:
        if self._ended or self._closing:
            raise FeedClosedError("feed closed")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        command = _Command(subscription, add, future)
        conn = self._conn
        if self._connected and conn is not None:
            req_id = self._take_id()
            self._pending[req_id] = command
            conn.send_text([command.payload(req_id)])
        else:
            self._retry.append(command)  # sent as soon as the feed is reconnected
        await future

    @staticmethod
    def _subscription(
        req_type: str, contract: Contract | None, sec_type: str | None
    ) -> Subscription:
        if req_type not in get_args(ReqType):
            raise ValueError(f"req_type: expected one of {', '.join(get_args(ReqType))}")
        full = req_type.startswith("FULL_")
        if full:
            if contract is not None:
                raise ValueError(f"{req_type} is a whole-market stream: pass sec_type, no contract")
            if sec_type not in ("STOCK", "OPTION", "INDEX"):
                raise ValueError(f"{req_type}: sec_type must be STOCK, OPTION or INDEX")
            return Subscription(req_type, sec_type, None)  # type: ignore[arg-type]
        if contract is None:
            raise ValueError(f"{req_type}: a contract is required")
        if sec_type is not None and sec_type != contract.sec_type:
            raise ValueError(f"sec_type {sec_type} does not match {contract!r}")
        return Subscription(req_type, contract.sec_type, contract)  # type: ignore[arg-type]

    async def subscribe(
        self,
        req_type: ReqType,
        contract: Contract | None = None,
        *,
        sec_type: Literal["STOCK", "OPTION", "INDEX"] | None = None,
    ) -> Subscription:
        """Subscribes and returns once the server answered OK.

        ``subscribe("TRADE", Stock("AAPL"))``; whole-market streams take a ``sec_type`` and no
        contract: ``subscribe("FULL_TRADES", sec_type="OPTION")``. Raises
        :class:`~fastfeed.SubscriptionError` with the server's message on ERROR
        (:class:`~fastfeed.MaxStreamsError` on MAX_STREAMS_REACHED), and
        :class:`~fastfeed.FeedClosedError` when the feed has ended. While reconnecting, the
        command is sent on the next connection. Subscriptions are re-sent after every
        reconnect.
        """
        subscription = self._subscription(req_type, contract, sec_type)
        await self._command(subscription, True)
        return subscription

    async def unsubscribe(
        self,
        req_type: ReqType,
        contract: Contract | None = None,
        *,
        sec_type: Literal["STOCK", "OPTION", "INDEX"] | None = None,
    ) -> None:
        """Ends one subscription (OK even if it was not subscribed)."""
        await self._command(self._subscription(req_type, contract, sec_type), False)

    async def stop(self) -> None:
        """Ends every subscription (the STOP command)."""
        await self._command(None, True)

    @property
    def subscriptions(self) -> list[Subscription]:
        """The subscriptions the server acknowledged (re-sent after a reconnect)."""
        return list(self._subscriptions.values())

    def _fail_pending(self, error: Exception) -> None:
        for command in [*self._pending.values(), *self._retry]:
            if command.future is not None and not command.future.done():
                command.future.set_exception(error)
                command.future.exception()  # retrieved: a cancelled caller is not an error
        self._pending.clear()
        self._retry = []

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
        return FeedStats(
            received=self._received,
            server_sent=self._server_sent,
            server_dropped=self._server_dropped,
            gaps=self._gaps,
            lost=self._lost,
            reconnects=self._reconnects,
            local_dropped=self._local_dropped,
            queued=self._queued,
            connected=self._connected,
            last_event_age=age,
        )

    @property
    def decode_errors(self) -> int:
        """Malformed event frames received (logged and skipped)."""
        return self._decode_errors


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
) -> Feed:
    """A :class:`Feed` to use as ``async with fastfeed.connect(url) as feed:``.

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
    )
