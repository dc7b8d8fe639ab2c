"""What every client connection of the server shares, whatever its endpoint: the inbound
checks, the egress budget, heartbeats and closing.

Egress keeps two levels of buffering so control frames are never stuck behind data:

* the transport's own buffer, kept small by a high-water mark (``write_buffer_high``); data
  is written to it only while it is below that mark (the transport's ``pause_writing``/
  ``resume_writing``);
* an application queue of whole data batches, written out on ``resume_writing``.

STATUS, replies, pongs, pings and Close go straight to the transport, so they wait behind at
most the transport buffer, never behind the application queue. ``sent`` counts events handed
to the transport, so a STATUS reports exactly the events that precede it on the wire.

Every byte queued for a connection counts against ``max_pending_bytes``: the queue, the
transport buffer, and the control frames in it (pongs included). Data may fill the budget up to a
small reserve kept for control frames; beyond that the slow-consumer policy drops the new
batch (counted in ``dropped``) or closes with 1008. A control frame that would not fit closes
the connection with 1008 whatever the policy. While more than half the budget waits for a
client it is not read (until at most a quarter does), so a client that sends without reading
(a ping flood) is throttled by its own socket.
A replaced connection (``/v1/events`` takeover) whose transport still holds more than the
high-water mark is aborted at once, even if it was already closing: it is not reading, and its
buffer is released now rather than after ``close_timeout``, so clients taking over one after
another cannot pile up buffers.

Inbound, a connection is the transport's protocol once the handshake is done
(:mod:`fastfeed.server.upgrade`): every read goes to the Rust frame decoder in one call
(``WSFrameDecoder``, server role: masking, framing, fragments, the message cap, UTF-8, close
payloads). A protocol violation closes with its code, but only after every message decoded
before the first bad byte was handled, replies included; after a Close, later bytes are
ignored.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, cast

from fastfeed._core import WSFrameDecoder, ws_close_payload, ws_encode_frames
from fastfeed._notices import NoticeLimiter
from fastfeed.errors import ProtocolError
from fastfeed.server.config import ServerConfig

if TYPE_CHECKING:
    from fastfeed.server.hub import Confirmation, Hub, Wire

__all__ = ["Connection", "ConnectionCounts", "Endpoint"]

log = logging.getLogger("fastfeed.server")

_OPCODE_TEXT = 1
_OPCODE_CLOSE = 8
_OPCODE_PING = 9
_OPCODE_PONG = 10
#: Close codes the server sends (RFC 6455 §7.4.1).
CLOSE_NORMAL = 1000
CLOSE_POLICY_VIOLATION = 1008
CLOSE_INTERNAL_ERROR = 1011
#: STATUS header fields after the type: the server's upstream up or down (SPEC §5), and the
#: mark of the end of an upstream's snapshot (seed 002's ``EndSnapshot``).
_UPSTREAM_UP = b'"status":"CONNECTED"'
_UPSTREAM_DOWN = b'"status":"DISCONNECTED"'
_SNAPSHOT_END = b',"stream_status":"EndSnapshot"'
#: What the log calls a connection's mistakes beyond the first each second.
_MISTAKES = "mistakes"
#: The ``count`` of a queue entry that is an end-of-snapshot STATUS, not data.
_END_OF_SNAPSHOT = -1

#: Part of ``max_pending_bytes`` that data may not use, so STATUS and replies fit behind it.
_CONTROL_RESERVE = 16 * 1024
#: The largest Close frame: 2 header bytes and 125 of payload.
_MAX_CLOSE_FRAME = 127
#: Commands held while an earlier one waits for the source (:meth:`Connection.answer_later`);
#: a client sending more is closed with 1008 (each is at most a 4 KiB frame).
_MAX_HELD_COMMANDS = 1024


@dataclass(slots=True)
class ConnectionCounts:
    """Counters of connections, summed (an endpoint's closed connections, for metrics)."""

    sent: int = 0
    #: Dropped by the slow-consumer policy.
    dropped_slow: int = 0
    #: Accepted, then discarded from the queue when the connection closed.
    discarded: int = 0
    #: Commands answered with an error (invalid, refused, too many streams).
    command_errors: int = 0

    def add(self, other: Connection | ConnectionCounts) -> None:
        self.sent += other.sent
        self.dropped_slow += other.dropped_slow
        self.discarded += other.discarded
        self.command_errors += other.command_errors


class Endpoint(Protocol):
    """The policy of one endpoint, told when its connections open and close."""

    #: The endpoint's path (``/v1/events``).
    path: str
    #: The counters of its connections that have closed (added when each closes).
    retired: ConnectionCounts

    def opened(self, connection: Connection) -> None: ...

    def closed(self, connection: Connection) -> None: ...


class Connection(asyncio.Protocol):
    """The server side of one client; subclasses handle the endpoint's commands
    (:meth:`on_command`) and give its STATUS shape (:attr:`status_template`)."""

    #: The wire format this connection's subscriber receives from the hub.
    wire: Wire
    #: The STATUS message, formatted with ``(header fields after the type, sent, dropped)``.
    status_template: bytes

    def __init__(self, hub: Hub, config: ServerConfig, endpoint: Endpoint) -> None:
        self.hub = hub
        self.config = config
        self._endpoint = endpoint
        budget = config.max_pending_bytes
        self._data_budget = budget - min(_CONTROL_RESERVE, budget // 8)
        self._decoder = WSFrameDecoder(
            "server", max_message_size=config.max_message_size, reject_binary=True
        )
        self.peer = "?"
        self._mistakes = NoticeLimiter(1.0)
        #: The hub's id of this connection (set once connected).
        self.subscriber: int | None = None
        #: Data events handed to the transport (reported in STATUS).
        self.sent = 0
        #: Data events that did not reach the client (reported in STATUS): discarded by the
        #: slow-consumer policy (:attr:`dropped_slow`), queued when the connection closed
        #: (:attr:`discarded`), or lost upstream (:meth:`count_lost`).
        self.dropped = 0
        self.dropped_slow = 0
        self.discarded = 0
        #: Commands answered with an error.
        self.command_errors = 0
        #: Data batches ``(frames, count)`` waiting for the transport, and end-of-snapshot
        #: markers (``count`` :data:`_END_OF_SNAPSHOT`) that follow the data before them.
        self._queue: deque[tuple[bytes, int]] = deque()
        self._queued_bytes = 0
        self._queued_events = 0
        self._paused = False
        self._reading = True
        self._closing = False
        self._raw: asyncio.Transport | None = None
        self._loop = asyncio.get_running_loop()
        self._timers: list[asyncio.TimerHandle] = []
        self._last_pong = time.monotonic()
        self._slow_logged = False
        #: ``(code, reason)`` once :meth:`finish` was called.
        self._finishing: tuple[int, str] | None = None
        self.disconnected: asyncio.Future[None] = self._loop.create_future()
        #: The command waiting for the source before its answer, and those received behind it.
        self._answering: asyncio.Task[None] | None = None
        self._held: deque[bytes] = deque()

    # --- what an endpoint defines ------------------------------------------------------------

    def on_command(self, subscriber: int, payload: bytes) -> None:
        """A complete text message (a command) arrived from the hub's ``subscriber``."""
        raise NotImplementedError

    @property
    def subscriptions(self) -> list[str]:
        """This client's streams (SPEC §4 names), in subscription order."""
        return [] if self.subscriber is None else self.hub.subscriptions(self.subscriber)

    # --- asyncio.Protocol (once the handshake is done) ---------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TCP transport is not a subclass of asyncio.Transport, but is one.
        self._raw = cast(asyncio.Transport, transport)
        peer = self._raw.get_extra_info("peername")
        if isinstance(peer, tuple) and len(peer) >= 2:
            self.peer = f"{peer[0]}:{peer[1]}"
        self._raw.set_write_buffer_limits(high=self.config.write_buffer_high)
        sock = self._raw.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.config.socket_send_buffer)
        self._last_pong = time.monotonic()
        self._timers = [
            self._loop.call_later(self.config.status_interval, self._status_tick),
            self._loop.call_later(self.config.ping_interval, self._ping_tick),
            self._loop.call_later(self.config.pong_timeout, self._watchdog_tick),
        ]
        self.subscriber = self.hub.attach(self, self.wire)
        log.info("client %s connected to %s", self.peer, self._endpoint.path)
        self._endpoint.opened(self)

    def data_received(self, data: bytes) -> None:
        if self._closing:
            return
        try:
            messages = self._decoder.feed(data)
            failure = None
        except ProtocolError as error:
            # What came before the first bad byte is handled first, its replies included.
            messages, failure = error.messages, error
        for opcode, payload in messages:
            if self._closing:
                return
            self._on_message(opcode, payload)
        if failure is not None and not self._closing:
            self.log_mistake(f"protocol error, closing with {failure.close_code}: {failure}")
            self.close(failure.close_code, str(failure))

    def _on_message(self, opcode: int, payload: bytes) -> None:
        if opcode == _OPCODE_TEXT:
            assert self.subscriber is not None
            if self._answering is None:
                self.on_command(self.subscriber, payload)
            elif len(self._held) < _MAX_HELD_COMMANDS:
                self._held.append(payload)  # answered in order, after the pending one
            else:
                log.warning(
                    "client %s: more than %d commands wait for an answer, closing",
                    self.peer,
                    _MAX_HELD_COMMANDS,
                )
                self.close(CLOSE_POLICY_VIOLATION, "too many commands in flight")
        elif opcode == _OPCODE_PING:
            self._send_control(_OPCODE_PING + 1, payload)
        elif opcode == _OPCODE_PONG:
            self._last_pong = time.monotonic()
        elif opcode == _OPCODE_CLOSE:
            # The client ends the connection: its code echoed (RFC 6455 §5.5.1), then closed.
            raw = self._raw
            self._begin_closing()
            self._discard_queue()
            code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else CLOSE_NORMAL
            if raw is not None:
                raw.write(ws_encode_frames(_OPCODE_CLOSE, [ws_close_payload(code)]))
                raw.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._begin_closing()
        for timer in self._timers:
            timer.cancel()
        if self._answering is not None:
            self._answering.cancel()
        self._held.clear()
        self._discard_queue()
        for line in self._mistakes.due(time.monotonic(), final=True):
            log.info("client %s: %s", self.peer, line)
        log.info("client %s disconnected (sent=%d dropped=%d)", self.peer, self.sent, self.dropped)
        if self.subscriber is not None:
            self.hub.detach(self.subscriber)
        self._endpoint.retired.add(self)
        self._endpoint.closed(self)
        if not self.disconnected.done():
            self.disconnected.set_result(None)

    def pause_writing(self) -> None:
        self._paused = True
        self._throttle_reading()
        if self.subscriber is not None:
            self.hub.blocked(self.subscriber)

    def resume_writing(self) -> None:
        self._paused = False
        self._drain()
        self._throttle_reading()
        if not self._paused and not self._queue and self.subscriber is not None:
            self.hub.unblocked(self.subscriber)

    def answer_later(
        self, confirmation: Confirmation, reply: Callable[[tuple[int, str] | None], None]
    ) -> None:
        """The command being handled is answered once the source confirmed its streams
        (:meth:`Hub.subscribe <fastfeed.server.hub.Hub.subscribe>`): ``reply(refusal)``.
        Commands received meanwhile wait behind it and are handled in order."""
        self._answering = self._loop.create_task(self._answer(confirmation, reply))

    async def _answer(
        self, confirmation: Confirmation, reply: Callable[[tuple[int, str] | None], None]
    ) -> None:
        try:
            refusal = await confirmation
        except Exception:
            # A source's bug must not leave the client without an answer: subscribed as asked.
            log.exception("client %s: confirming a subscription failed; accepted", self.peer)
            refusal = None
        finally:
            self._answering = None
        if self._closing or self.subscriber is None:
            return
        reply(refusal)
        while self._held and self._answering is None and not self._closing:
            self.on_command(self.subscriber, self._held.popleft())

    def reply_changed(self, reply: bytes) -> None:
        """Sends the answer to a command that changed the subscriptions; at DEBUG, logs the
        connection's streams after it (``client HOST:PORT streams: a b``): how the log of an
        upstream shows what a relay in front of it subscribed."""
        self.send_text(reply)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("client %s streams: %s", self.peer, " ".join(self.subscriptions) or "-")

    # --- egress ------------------------------------------------------------------------------

    @property
    def pending_bytes(self) -> int:
        """Bytes waiting to reach the socket: application queue plus transport buffer."""
        buffered = self._raw.get_write_buffer_size() if self._raw is not None else 0
        return self._queued_bytes + buffered

    @property
    def queued_events(self) -> int:
        """Data events accepted but still in the application queue (neither sent nor dropped)."""
        return self._queued_events

    @property
    def closing(self) -> bool:
        return self._closing

    def send_events(self, frames: bytes, count: int) -> bool:
        """Sends ``count`` events pre-encoded as server frames; one write, or queued whole.

        Returns False when the batch was not accepted (dropped, or the connection is closing).
        """
        if self._closing or self._finishing is not None or self._raw is None:
            return False
        if self.pending_bytes + len(frames) > self._data_budget:
            self.dropped += count
            self.dropped_slow += count
            if self.config.slow_consumer == "disconnect":
                log.warning(
                    "client %s: more than %d bytes pending, disconnecting",
                    self.peer,
                    self.config.max_pending_bytes,
                )
                self.close(CLOSE_POLICY_VIOLATION, "too much backpressure")
            elif not self._slow_logged:
                self._slow_logged = True
                log.warning(
                    "client %s is not keeping up: more than %d bytes pending, dropping events",
                    self.peer,
                    self.config.max_pending_bytes,
                )
            return False
        if self._paused or self._queue:
            self._queue.append((frames, count))
            self._queued_bytes += len(frames)
            self._queued_events += count
            self._throttle_reading()
        else:
            self._raw.write(frames)
            self.sent += count
        return True

    def _drain(self) -> None:
        raw = self._raw
        if raw is None:
            return
        while self._queue and not self._paused and not self._closing:
            frames, count = self._queue.popleft()
            if count == _END_OF_SNAPSHOT:
                self.send_status(end_of_snapshot=True)
                continue
            self._queued_bytes -= len(frames)
            self._queued_events -= count
            # May call pause_writing synchronously, which ends the loop.
            raw.write(frames)
            self.sent += count
        if self._finishing is not None and not self._queue and not self._closing:
            self._complete_finish()

    def _begin_closing(self) -> None:
        """No more data or control frames; the hub stops waiting for this connection."""
        self._closing = True
        if self.subscriber is not None:
            self.hub.unblocked(self.subscriber)

    def _discard_queue(self) -> None:
        self.dropped += self._queued_events
        self.discarded += self._queued_events
        self._queue.clear()
        self._queued_bytes = 0
        self._queued_events = 0

    def log_mistake(self, text: str) -> None:
        """Logs a client's mistake (a bad command, a refused subscription, a protocol error)
        as one INFO line of ``fastfeed.server``: at most one a second per connection; the
        others are counted and the count logged with the next line allowed or at disconnect,
        so a client cannot flood the log. ``text`` quotes client input only as the validators
        escape it."""
        now = time.monotonic()
        for line in self._mistakes.due(now):
            log.info("client %s: %s", self.peer, line)
        shown = self._mistakes.offer(_MISTAKES, text, now)
        if shown is not None:
            log.info("client %s: %s", self.peer, shown)

    def count_lost(self, count: int) -> None:
        """``count`` events meant for this connection were lost upstream (a Redis gap, a
        relay's upstream drops)."""
        self.dropped += count

    def send_status(self, *, end_of_snapshot: bool = False) -> None:
        """Sends a STATUS now: ``sent``/``dropped`` and whether the server's upstream is
        connected (:attr:`Hub.upstream_connected
        <fastfeed.server.hub.Hub.upstream_connected>`). With ``end_of_snapshot`` the header also
        says ``"stream_status": "EndSnapshot"`` and the STATUS follows the data already handed
        to this connection (queued behind it if some waits)."""
        if end_of_snapshot and self._queue:
            self._queue.append((b"", _END_OF_SNAPSHOT))
            return
        fields = _UPSTREAM_UP if self.hub.upstream_connected else _UPSTREAM_DOWN
        if end_of_snapshot:
            fields += _SNAPSHOT_END
        self.send_text(self.status_template % (fields, self.sent, self.dropped))

    def send_text(self, payload: bytes) -> None:
        """Sends a reply or notice straight to the transport (see :meth:`_send_control`)."""
        self._send_control(_OPCODE_TEXT, payload)

    def _send_control(self, opcode: int, payload: bytes) -> None:
        raw = self._raw
        if raw is None or self._closing:
            return
        # The frame (header included) and, behind it, a Close frame must still fit.
        frame = len(payload) + (2 if len(payload) < 126 else 4)
        if self.pending_bytes + frame + _MAX_CLOSE_FRAME > self.config.max_pending_bytes:
            log.warning(
                "client %s reads nothing: its control frames exceed %d pending bytes, closing",
                self.peer,
                self.config.max_pending_bytes,
            )
            self.close(CLOSE_POLICY_VIOLATION, "too much backpressure")
            return
        raw.write(ws_encode_frames(opcode, [payload]))
        self._throttle_reading()

    def close(self, code: int, reason: str, *, abort_if_unread: bool = False) -> None:
        """Sends Close ``code``/``reason`` (after at most the transport buffer) and drops the
        connection; queued data is discarded; aborted after close_timeout if the Close is not
        flushed by then. With ``abort_if_unread``, a peer that is not reading (more than the
        high-water mark still buffered) is aborted at once, even if it is already closing,
        releasing its buffer now."""
        raw = self._raw
        if raw is None:
            return
        if abort_if_unread and raw.get_write_buffer_size() > self.config.write_buffer_high:
            self._stop()
            log.info("client %s is not reading: dropped without waiting for its Close", self.peer)
            raw.abort()
            return
        if self._closing:
            return
        self._stop()
        raw.write(ws_encode_frames(_OPCODE_CLOSE, [ws_close_payload(code, reason)]))
        # Half-close after the Close frame and keep reading (discarding) until the peer closes:
        # closing a socket with unread input would reset the connection, and the peer might
        # lose the Close frame and its reason.
        if raw.can_write_eof():
            try:
                raw.write_eof()
            except OSError:
                # The peer is already gone (asyncio's transports raise ENOTCONN here; uvloop's
                # do not): nothing left to half-close.
                raw.abort()
                return
        else:
            raw.close()
        self._timers = [self._loop.call_later(self.config.close_timeout, raw.abort)]

    def finish(self, code: int, reason: str) -> None:
        """Ends the connection after everything already handed to it: the queued data, a
        last STATUS, then Close ``code``/``reason`` (SPEC §5: the end of a replay). A peer
        that has not taken it all within ``close_timeout`` is closed anyway (queued data
        discarded)."""
        if self._closing or self._finishing is not None or self._raw is None:
            return
        self._finishing = (code, reason)
        if not self._queue:
            self._complete_finish()
        else:
            self._timers.append(
                self._loop.call_later(self.config.close_timeout, self.close, code, reason)
            )

    def _complete_finish(self) -> None:
        assert self._finishing is not None
        code, reason = self._finishing
        self.send_status()
        self.close(code, reason)

    def _throttle_reading(self) -> None:
        """Stops reading the peer while more than half the budget waits for it, and reads again
        once at most a quarter does: what a client sends (pings, commands) makes the server
        write, so a client that does not read must not be read either."""
        pending = self.pending_bytes
        budget = self.config.max_pending_bytes
        if pending > budget // 2:
            self._set_reading(False)
        elif pending <= budget // 4:
            self._set_reading(True)

    def _set_reading(self, reading: bool) -> None:
        """Pauses or resumes reading (never pauses while closing, so that unread input does
        not turn the close into a reset)."""
        raw = self._raw
        if raw is None or raw.is_closing() or reading == self._reading:
            return
        if self._closing and not reading:
            return
        self._reading = reading
        if reading:
            raw.resume_reading()
        else:
            raw.pause_reading()

    def _stop(self) -> None:
        self._set_reading(True)
        self._begin_closing()
        for timer in self._timers:
            timer.cancel()
        self._discard_queue()

    # --- heartbeats --------------------------------------------------------------------------

    def _status_tick(self) -> None:
        if self._closing:
            return
        self.send_status()
        self._timers[0] = self._loop.call_later(self.config.status_interval, self._status_tick)

    def _ping_tick(self) -> None:
        if self._closing or self._raw is None:
            return
        self._send_control(_OPCODE_PING, b"")
        self._timers[1] = self._loop.call_later(self.config.ping_interval, self._ping_tick)

    def _watchdog_tick(self) -> None:
        if self._closing:
            return
        silent_for = time.monotonic() - self._last_pong
        if silent_for >= self.config.pong_timeout:
            log.warning("client %s: no pong for %.1f s, closing", self.peer, silent_for)
            self.close(CLOSE_INTERNAL_ERROR, "heartbeat timeout")
            return
        self._timers[2] = self._loop.call_later(
            self.config.pong_timeout - silent_for, self._watchdog_tick
        )
