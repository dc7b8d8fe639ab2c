"""One client connection of the ``/v1/events`` server: commands, heartbeats, egress.

Egress keeps two levels of buffering so control frames are never stuck behind data:

* the transport's own buffer, kept small by a high-water mark (``write_buffer_high``); data
  is written to it only while it is below that mark (picows forwards the transport's
  ``pause_writing``/``resume_writing``);
* an application queue of whole data batches, written out on ``resume_writing``.

STATUS, acks, pings and Close are written straight to the transport, so they wait behind at
most the transport buffer, never behind the application queue. ``sent`` counts events handed
to the transport, so a STATUS reports exactly the events that precede it on the wire.
Pending bytes (queue + transport buffer) never exceed ``max_pending_bytes``. Data may fill it
up to a small reserve kept for control frames; beyond that the slow-consumer policy drops the
new batch (counted in ``dropped``) or closes with 1008. A client that reads nothing, not even
its acks and STATUS, until the reserve is used up too is closed with 1008 whatever the policy:
nothing a client does makes the server hold more than ``max_pending_bytes`` for it.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections import deque
from typing import TYPE_CHECKING

from picows import WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport

from fastfeed._core import (
    EventAck,
    StopCommand,
    StreamCommand,
    WSMessageAssembler,
    encode_ack,
    parse_command,
)
from fastfeed.errors import EnvelopeError, ProtocolError

if TYPE_CHECKING:
    from fastfeed.server.server import Server

__all__ = ["EventsConnection", "SubscriptionKey"]

log = logging.getLogger("fastfeed.server")

#: ``(sec_type, req_type, contract_key)``; ``contract_key`` is ``None`` for ``FULL_*``.
SubscriptionKey = tuple[str, str, str | None]

_OPCODE_TEXT = 1
_OPCODE_CLOSE = 8
_OPCODE_PONG = 10
#: Part of ``max_pending_bytes`` that data may not use, so STATUS and acks fit behind it.
_CONTROL_RESERVE = 16 * 1024
#: The largest Close frame: 2 header bytes and 125 of payload.
_MAX_CLOSE_FRAME = 127


class EventsConnection(WSListener):
    """The server side of one ``/v1/events`` client (created by :class:`Server`)."""

    def __init__(self, server: Server) -> None:
        super().__init__()
        self._server = server
        self._config = server.config
        budget = self._config.max_pending_bytes
        self._data_budget = budget - min(_CONTROL_RESERVE, budget // 8)
        self._assembler = WSMessageAssembler(
            max_message_size=self._config.max_message_size, reject_binary=True
        )
        self.peer = "?"
        self.subscriptions: dict[SubscriptionKey, StreamCommand] = {}
        #: Data events handed to the transport (reported in STATUS).
        self.sent = 0
        #: Data events discarded by the slow-consumer policy (reported in STATUS).
        self.dropped = 0
        #: The latest seed-004 ``event_ack`` received (``--pace ack`` uses it).
        self.last_event_ack: EventAck | None = None
        self.event_acks = 0
        self._queue: deque[tuple[bytes, int]] = deque()
        self._queued_bytes = 0
        self._queued_events = 0
        self._paused = False
        self._closing = False
        self._transport: WSTransport | None = None
        self._raw: asyncio.Transport | None = None
        self._loop = asyncio.get_running_loop()
        self._timers: list[asyncio.TimerHandle] = []
        self._last_pong = time.monotonic()
        self._slow_logged = False
        self.disconnected: asyncio.Future[None] = self._loop.create_future()
        #: Set while data written now would go straight to the transport (not paused, nothing
        #: queued), and once the connection is closing (so that waiters wake up and move on).
        #: Paced sources (synthetic at ``--rate max``, replay) wait for it instead of dropping.
        self.writable = asyncio.Event()

    # --- picows callbacks --------------------------------------------------------------------

    def on_ws_connected(self, transport: WSTransport) -> None:
        self._transport = transport
        self._raw = transport.underlying_transport
        peer = self._raw.get_extra_info("peername")
        if isinstance(peer, tuple) and len(peer) >= 2:
            self.peer = f"{peer[0]}:{peer[1]}"
        self._raw.set_write_buffer_limits(high=self._config.write_buffer_high)
        sock = self._raw.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self._config.socket_send_buffer)
        self._last_pong = time.monotonic()
        self._timers = [
            self._loop.call_later(self._config.status_interval, self._status_tick),
            self._loop.call_later(self._config.ping_interval, self._ping_tick),
            self._loop.call_later(self._config.pong_timeout, self._watchdog_tick),
        ]
        log.info("client %s connected", self.peer)
        self.writable.set()
        self._server._activate(self)

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if self._closing:
            return
        # picows exposes the header bits as ints; it checks none of them.
        rsv = (int(frame.rsv1) << 2) | (int(frame.rsv2) << 1) | int(frame.rsv3)
        try:
            message = self._assembler.feed_frame(
                bool(frame.fin), rsv, int(frame.msg_type.value), frame.get_payload_as_bytes()
            )
        except ProtocolError as error:
            log.warning(
                "client %s: protocol error, closing with %d: %s",
                self.peer,
                error.close_code,
                error,
            )
            self.close(error.close_code, str(error))
            return
        if message is None:
            return
        opcode, payload = message
        if opcode == _OPCODE_TEXT:
            self._command(payload)
        elif opcode == _OPCODE_PONG:
            self._last_pong = time.monotonic()
        elif opcode == _OPCODE_CLOSE:
            self._begin_closing()
            self._discard_queue()
            code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1000
            try:
                echo = WSCloseCode(code)
            except ValueError:
                echo = WSCloseCode.OK
            transport.send_close(echo)
            transport.disconnect()

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self._begin_closing()
        for timer in self._timers:
            timer.cancel()
        self._discard_queue()
        log.info("client %s disconnected (sent=%d dropped=%d)", self.peer, self.sent, self.dropped)
        self._server._deactivate(self)
        if not self.disconnected.done():
            self.disconnected.set_result(None)

    def pause_writing(self) -> None:
        self._paused = True
        self.writable.clear()

    def resume_writing(self) -> None:
        self._paused = False
        self._drain()
        if not self._paused and not self._queue:
            self.writable.set()

    # --- egress ------------------------------------------------------------------------------

    @property
    def pending_bytes(self) -> int:
        """Data waiting to reach the socket: application queue plus transport buffer."""
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
        if self._closing or self._raw is None:
            return False
        if self.pending_bytes + len(frames) > self._data_budget:
            self.dropped += count
            if self._config.slow_consumer == "disconnect":
                log.warning(
                    "client %s: more than %d bytes pending, disconnecting",
                    self.peer,
                    self._config.max_pending_bytes,
                )
                self.close(WSCloseCode.POLICY_VIOLATION.value, "too much backpressure")
            elif not self._slow_logged:
                self._slow_logged = True
                log.warning(
                    "client %s is not keeping up: more than %d bytes pending, dropping events",
                    self.peer,
                    self._config.max_pending_bytes,
                )
            return False
        if self._paused or self._queue:
            self._queue.append((frames, count))
            self._queued_bytes += len(frames)
            self._queued_events += count
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
            self._queued_bytes -= len(frames)
            self._queued_events -= count
            # May call pause_writing synchronously, which ends the loop.
            raw.write(frames)
            self.sent += count

    def _begin_closing(self) -> None:
        """No more data or control frames; wakes sources waiting for this client to drain."""
        self._closing = True
        self.writable.set()

    def _discard_queue(self) -> None:
        self.dropped += self._queued_events
        self._queue.clear()
        self._queued_bytes = 0
        self._queued_events = 0

    def _send_control(self, payload: bytes) -> None:
        if self._transport is None or self._closing:
            return
        # The frame (header included) and, behind it, a Close frame must still fit.
        frame = len(payload) + (2 if len(payload) < 126 else 4)
        if self.pending_bytes + frame + _MAX_CLOSE_FRAME > self._config.max_pending_bytes:
            log.warning(
                "client %s reads nothing: its control frames exceed %d pending bytes, closing",
                self.peer,
                self._config.max_pending_bytes,
            )
            self.close(WSCloseCode.POLICY_VIOLATION.value, "too much backpressure")
            return
        self._transport.send(WSMsgType.TEXT, payload)

    def close(self, code: int, reason: str) -> None:
        """Sends Close ``code``/``reason`` (after at most the transport buffer) and drops the
        connection; queued data is discarded. Aborted if not flushed within close_timeout."""
        if self._closing or self._transport is None or self._raw is None:
            return
        self._begin_closing()
        for timer in self._timers:
            timer.cancel()
        self._discard_queue()
        self._transport.send_close(WSCloseCode(code), reason.encode())
        self._transport.disconnect(graceful=True)
        self._timers = [self._loop.call_later(self._config.close_timeout, self._raw.abort)]

    # --- commands ----------------------------------------------------------------------------

    def _command(self, payload: bytes) -> None:
        try:
            command = parse_command(payload)
        except EnvelopeError as error:
            log.info("client %s: bad command: %s", self.peer, error)
            self._send_control(encode_ack(error.req_id, "ERROR", str(error)))
            return
        if isinstance(command, StreamCommand):
            key: SubscriptionKey = (command.sec_type, command.req_type, command.contract_key)
            if command.add:
                if (
                    key not in self.subscriptions
                    and len(self.subscriptions) >= self._config.max_subscriptions
                ):
                    self._send_control(encode_ack(command.id, "MAX_STREAMS_REACHED"))
                    return
                self.subscriptions[key] = command
            else:
                self.subscriptions.pop(key, None)
            self._server._subscriptions_changed(self)
            self._send_control(encode_ack(command.id, "OK"))
        elif isinstance(command, StopCommand):
            self.subscriptions.clear()
            self._server._subscriptions_changed(self)
            self._send_control(encode_ack(command.id, "OK"))
        else:
            self.last_event_ack = command
            self.event_acks += 1

    # --- heartbeats --------------------------------------------------------------------------

    def _status_tick(self) -> None:
        if self._closing:
            return
        self._send_control(
            b'{"header":{"type":"STATUS","status":"CONNECTED"},"stats":{"sent":%d,"dropped":%d}}'
            % (self.sent, self.dropped)
        )
        self._timers[0] = self._loop.call_later(self._config.status_interval, self._status_tick)

    def _ping_tick(self) -> None:
        if self._closing or self._transport is None:
            return
        self._transport.send_ping()
        self._timers[1] = self._loop.call_later(self._config.ping_interval, self._ping_tick)

    def _watchdog_tick(self) -> None:
        if self._closing:
            return
        silent_for = time.monotonic() - self._last_pong
        if silent_for >= self._config.pong_timeout:
            log.warning("client %s: no pong for %.1f s, closing", self.peer, silent_for)
            self.close(WSCloseCode.INTERNAL_ERROR.value, "heartbeat timeout")
            return
        self._timers[2] = self._loop.call_later(
            self._config.pong_timeout - silent_for, self._watchdog_tick
        )
