"""The client's protocol session, sans-I/O: no sockets, no asyncio, no clock reads.

:class:`ClientSession` speaks either endpoint — ``/v1/events`` (SPEC §3: ``STREAM``/``STOP``
commands, ``REQ_RESPONSE`` acknowledgements) or ``/v1/stream`` (SPEC §4: ``SUBSCRIBE``/
``UNSUBSCRIBE``/``LIST_SUBSCRIPTIONS`` with stream names, ``result``/``error`` replies). Its
inputs are user intents (:meth:`~ClientSession.subscribe`, …), connection events with the time
passed in (:meth:`~ClientSession.connection_made`, :meth:`~ClientSession.connection_lost`) and
decoded batches (:meth:`~ClientSession.receive`: the Rust ``EventDecoder``'s output, whatever
the endpoint). Its outputs are the payloads to send (:meth:`~ClientSession.data_to_send`),
finished commands (:meth:`~ClientSession.results`), gaps and notices.

It owns request ids, pending commands and their answers, resubscription after a reconnect
(fresh increasing ids), the commands issued while disconnected, drop accounting at each STATUS
and the lock-step ``event_ack`` payloads.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, TypeAlias, get_args

from fastfeed import _core
from fastfeed._core import EventBatch
from fastfeed.client.contracts import Contract, Option
from fastfeed.client.events import (
    Disconnected,
    EndOfSnapshot,
    Gap,
    Reconnected,
    StatusNotice,
    UpstreamDown,
    UpstreamUp,
)
from fastfeed.errors import FastfeedError, MaxStreamsError, SubscriptionError
from fastfeed.events import EventKind

__all__ = [
    "ClientSession",
    "CommandResult",
    "Endpoint",
    "ReqType",
    "Subscription",
    "endpoint_of",
    "stream_name",
]

log = logging.getLogger("fastfeed.client")

ReqType: TypeAlias = Literal[
    "QUOTE", "TRADE", "OHLC", "OPEN_INTEREST", "FULL_TRADES", "FULL_OPEN_INTEREST"
]
#: ``"events"``: SPEC §3 (``/v1/events``, the original terminal); ``"stream"``: SPEC §4.
Endpoint: TypeAlias = Literal["events", "stream"]

STREAM_PATH: Final = "/v1/stream"
#: Ids per ``event_ack`` frame, so an ack stays far below the server's 4 KiB frame cap.
ACK_IDS_PER_FRAME: Final = 200
#: Refusals that mean "too many subscriptions" on either endpoint.
_MAX_STREAMS: Final = frozenset({"MAX_STREAMS_REACHED", "TOO_MANY_STREAMS"})
#: Answers that mean the command succeeded: fastfeed's ``OK`` and the original terminal's
#: ``SUBSCRIBED``.
_SUCCESS: Final = frozenset({"OK", "SUBSCRIBED"})

_TRADE: Final = int(EventKind.TRADE)
_QUOTE: Final = int(EventKind.QUOTE)
_OHLC: Final = int(EventKind.OHLC)
_OI: Final = int(EventKind.OPEN_INTEREST)
_STATUS: Final = int(EventKind.STATUS)
_ACK: Final = int(EventKind.ACK)
_DATA_COLUMNS: Final = (
    ("trades", _TRADE),
    ("quotes", _QUOTE),
    ("ohlc", _OHLC),
    ("open_interest", _OI),
)


def endpoint_of(path: str) -> Endpoint:
    """The endpoint a URL path speaks: ``/v1/stream`` → SPEC §4, anything else → SPEC §3."""
    return "stream" if path.split("?", 1)[0].rstrip("/") == STREAM_PATH else "events"


def stream_name(sec_type: str, req_type: str, contract: Contract | None) -> str:
    """The SPEC §4 name of a stream: ``stock.AAPL@trade``,
    ``option.SPY.20250321.570000.C@quote``, ``option@full_trades`` (the Rust
    ``StreamKey::name``, :func:`fastfeed._core.stream_name`)."""
    if contract is None:
        return _core.stream_name(sec_type, req_type)
    if isinstance(contract, Option):
        return _core.stream_name(
            sec_type,
            req_type,
            contract.symbol,
            contract.expiration,
            contract.strike,
            contract.right,
        )
    return _core.stream_name(sec_type, req_type, contract.symbol)


@dataclass(frozen=True, slots=True)
class Subscription:
    """One stream: ``req_type`` of ``contract``, or a whole-market ``FULL_*`` stream of
    ``sec_type`` (``contract`` is ``None``)."""

    req_type: ReqType
    sec_type: str
    contract: Contract | None

    def command(self, req_id: int, add: bool) -> bytes:
        """The ``/v1/events`` STREAM command (SPEC §3.1)."""
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

    @property
    def name(self) -> str:
        """The SPEC §4 stream name (``stock.AAPL@trade``)."""
        return stream_name(self.sec_type, self.req_type, self.contract)

    @classmethod
    def of(
        cls, req_type: str, contract: Contract | None = None, sec_type: str | None = None
    ) -> Subscription:
        """Checks and builds a subscription: ``of("TRADE", Stock("AAPL"))``,
        ``of("FULL_TRADES", sec_type="OPTION")``, or a §4 name ``of("stock.AAPL@trade")``.
        Raises ``ValueError`` with a one-line reason."""
        if "@" in req_type and contract is None and sec_type is None:
            return parse_stream_name(req_type)
        if req_type not in get_args(ReqType):
            raise ValueError(f"req_type: expected one of {', '.join(get_args(ReqType))}")
        typed: ReqType = req_type  # type: ignore[assignment]
        if req_type.startswith("FULL_"):
            if contract is not None:
                raise ValueError(f"{req_type} is a whole-market stream: pass sec_type, no contract")
            if sec_type not in ("STOCK", "OPTION", "INDEX"):
                raise ValueError(f"{req_type}: sec_type must be STOCK, OPTION or INDEX")
            return cls(typed, sec_type, None)
        if contract is None:
            raise ValueError(f"{req_type}: a contract is required")
        if sec_type is not None and sec_type != contract.sec_type:
            raise ValueError(f"sec_type {sec_type} does not match {contract!r}")
        return cls(typed, contract.sec_type, contract)

    def __str__(self) -> str:
        target = self.contract.key if self.contract is not None else "*"
        return f"{self.sec_type} {self.req_type} {target}"


def parse_stream_name(name: str) -> Subscription:
    """``stock.AAPL@trade`` → a :class:`Subscription` (``ValueError`` if it is not one)."""
    # The parser lives with the other stream-name code of the package (it imports this module).
    from fastfeed.client.jsonl import parse_stream_name as parse

    return parse(name)


_Verb: TypeAlias = Literal["subscribe", "unsubscribe", "stop", "list"]


@dataclass(frozen=True, slots=True)
class CommandResult:
    """A finished command: ``ticket`` as returned by the intent, and either ``error`` (the
    server's refusal as :class:`~fastfeed.SubscriptionError`, or why it can no longer be sent)
    or success with ``value`` (the stream names of :meth:`ClientSession.list_subscriptions`;
    ``None`` otherwise)."""

    ticket: int
    error: Exception | None = None
    value: list[str] | None = None


@dataclass(slots=True)
class _Command:
    """A command waiting to be sent or answered. ``ticket`` is ``None`` for the session's own
    resubscriptions (and commands whose caller went away)."""

    verb: _Verb
    subscriptions: tuple[Subscription, ...]
    ticket: int | None


class ClientSession:
    """The protocol state of one feed across all its connections (sans-I/O).

    Intents return a *ticket*; the command's outcome later appears in :meth:`results` under
    that ticket. Payloads to send (JSON text, one WebSocket text frame each) accumulate in
    :meth:`data_to_send`. Between :meth:`connection_lost` and the next
    :meth:`connection_made`, commands wait; on connection every acknowledged subscription is
    sent again with fresh increasing ids, then the waiting commands.
    """

    def __init__(self, endpoint: Endpoint = "events") -> None:
        if endpoint not in get_args(Endpoint):
            raise ValueError(f"endpoint must be 'events' or 'stream', got {endpoint!r}")
        self.endpoint: Endpoint = endpoint
        #: True between :meth:`connection_made` and :meth:`connection_lost`.
        self.connected = False
        #: Increases with every connection; tags what was received on it.
        self.generation = 0
        #: Whether the current connection's data events carry header ids (``--pace ack``);
        #: ``None`` until its first data event.
        self.pace_ack: bool | None = None
        self._next_id = 1
        self._next_ticket = 1
        self._subscriptions: dict[Subscription, None] = {}
        self._pending: dict[int, _Command] = {}
        self._waiting: list[_Command] = []
        self._outgoing: list[bytes] = []
        self._results: list[CommandResult] = []
        self._ack_seq = 0
        self._disconnected_at: float | None = None
        self._last_dropped = 0
        self._last_missing = 0
        #: Data events received over the session's life.
        self.received = 0
        #: The latest STATUS counters of the current connection.
        self.server_sent = 0
        self.server_dropped = 0
        #: Gaps reported and the events they account for.
        self.gaps = 0
        self.lost = 0
        #: Connections after the first.
        self.reconnects = 0
        #: Since when (wall clock) the server has said its upstream is down; ``None``: up.
        self.upstream_down_since: float | None = None

    # --- outputs ------------------------------------------------------------------------------

    @property
    def has_output(self) -> bool:
        """Whether :meth:`data_to_send` or :meth:`results` has anything (cheap to ask)."""
        return bool(self._outgoing or self._results)

    def data_to_send(self) -> list[bytes]:
        """Payloads to send, in order (each one WebSocket text frame); empties the list."""
        out, self._outgoing = self._outgoing, []
        return out

    def results(self) -> list[CommandResult]:
        """Commands finished since the last call; empties the list."""
        out, self._results = self._results, []
        return out

    @property
    def subscriptions(self) -> list[Subscription]:
        """The subscriptions the server acknowledged, in subscription order."""
        return list(self._subscriptions)

    # --- intents ------------------------------------------------------------------------------

    def subscribe(self, subscription: Subscription) -> int:
        """Subscribes; returns the command's ticket."""
        return self._issue("subscribe", (subscription,))

    def unsubscribe(self, subscription: Subscription) -> int:
        """Ends one subscription (OK even if it was not subscribed); returns the ticket."""
        return self._issue("unsubscribe", (subscription,))

    def stop(self) -> int:
        """Ends every subscription; returns the ticket. ``/v1/events`` has ``STOP``; on
        ``/v1/stream`` it is an ``UNSUBSCRIBE`` of every acknowledged subscription (done at
        once when there is none)."""
        return self._issue("stop", ())

    def list_subscriptions(self) -> int:
        """Asks a ``/v1/stream`` server for this connection's streams (``LIST_SUBSCRIPTIONS``);
        the result's ``value`` is their names in subscription order."""
        if self.endpoint != "stream":
            raise FastfeedError("LIST_SUBSCRIPTIONS is a /v1/stream command")
        return self._issue("list", ())

    def abandon(self, ticket: int) -> None:
        """The caller of ``ticket`` no longer waits: its answer still updates the subscriptions
        if it comes on this connection, but it is not sent again after a reconnect."""
        self._waiting = [c for c in self._waiting if c.ticket != ticket]
        for command in self._pending.values():
            if command.ticket == ticket:
                command.ticket = None

    def fail_all(self, error: Exception) -> None:
        """Every command waiting for an answer or for a connection fails with ``error`` (the
        feed ended)."""
        for command in [*self._pending.values(), *self._waiting]:
            if command.ticket is not None:
                self._results.append(CommandResult(command.ticket, error))
        self._pending.clear()
        self._waiting = []

    def _issue(self, verb: _Verb, subscriptions: tuple[Subscription, ...]) -> int:
        ticket = self._next_ticket
        self._next_ticket += 1
        command = _Command(verb, subscriptions, ticket)
        if self.connected:
            self._send(command)
        else:
            self._waiting.append(command)
        return ticket

    def _send(self, command: _Command) -> None:
        if command.verb == "stop" and self.endpoint == "stream":
            command.subscriptions = tuple(self._subscriptions)
            if not command.subscriptions:
                if command.ticket is not None:
                    self._results.append(CommandResult(command.ticket))
                return
        req_id = self._next_id
        self._next_id += 1
        self._pending[req_id] = command
        self._outgoing.append(self._payload(command, req_id))

    def _payload(self, command: _Command, req_id: int) -> bytes:
        verb = command.verb
        if self.endpoint == "events":
            if verb == "stop":
                return b'{"msg_type":"STOP","id":%d}' % req_id
            return command.subscriptions[0].command(req_id, verb == "subscribe")
        if verb == "list":
            return b'{"method":"LIST_SUBSCRIPTIONS","id":%d}' % req_id
        method = "SUBSCRIBE" if verb == "subscribe" else "UNSUBSCRIBE"
        params = [s.name for s in command.subscriptions]
        return json.dumps(
            {"method": method, "params": params, "id": req_id}, separators=(",", ":")
        ).encode()

    # --- connection events --------------------------------------------------------------------

    def connection_made(self, now: float, attempts: int = 0) -> Reconnected | None:
        """A connection is open (handshake done) at wall-clock ``now``, after ``attempts``
        reconnect attempts: resubscribes everything acknowledged (fresh ids), then sends the
        waiting commands. Returns the :class:`~fastfeed.Reconnected` notice when this ends an
        outage."""
        self.connected = True
        self.generation += 1
        self.pace_ack = None
        self._last_dropped = 0
        self._last_missing = 0
        commands = [_Command("subscribe", (s,), None) for s in self._subscriptions]
        resubscribed = len(commands)
        commands.extend(self._waiting)
        self._waiting = []
        for command in commands:
            self._send(command)
        if self._disconnected_at is None:
            return None
        self.reconnects += 1
        notice = Reconnected(self._disconnected_at, now, attempts, resubscribed)
        self._disconnected_at = None
        return notice

    def connection_lost(self, now: float, reason: str, code: int | None = None) -> Disconnected:
        """The connection is gone at wall-clock ``now``: commands awaiting an answer wait for
        the next connection. Returns the :class:`~fastfeed.Disconnected` notice (the caller
        decides whether to show it: not after a deliberate close)."""
        if self.connected:
            self.connected = False
            self._waiting[:0] = [c for c in self._pending.values() if c.ticket is not None]
            self._pending.clear()
            self._disconnected_at = now
        return Disconnected(now, reason, code)

    # --- received -----------------------------------------------------------------------------

    def receive(
        self, batch: EventBatch, counts: Sequence[int] | None = None, *, now: float
    ) -> list[tuple[int, StatusNotice]]:
        """Takes one decoded batch of the current connection, read at wall-clock time ``now``:
        answers to commands, data counts and STATUS rows. Returns the notices the STATUS rows
        carry — gaps, the server's upstream going down or up, the end of its snapshot — each
        with its STATUS row (``counts`` is ``batch.counts`` if the caller has it)."""
        if counts is None:
            counts = batch.counts
        if counts[_ACK]:
            self._on_acks(batch.acks)
        data = counts[_TRADE] + counts[_QUOTE] + counts[_OHLC] + counts[_OI]
        if data:
            self.received += data
            if self.pace_ack is None:
                self.pace_ack = _has_ids(batch, counts)
        if counts[_STATUS]:
            return self._account(batch.status, now)
        return []

    def receive_data(self, events: int) -> bool:
        """Takes a batch of ``events`` data events and nothing else (``EventBatch.data_only``)
        once :attr:`pace_ack` is known — the common case, without looking at the batch.
        Returns :attr:`pace_ack`."""
        self.received += events
        return bool(self.pace_ack)

    def _on_acks(self, acks: Sequence[tuple[int | None, str, str | None, str | None]]) -> None:
        for req_id, response, message, result in acks:
            command = self._pending.pop(req_id, None) if req_id is not None else None
            if command is None:
                log.warning("unexpected answer %s for request id %s: %s", response, req_id, message)
                continue
            if response in _SUCCESS:
                self._succeeded(command, result)
                continue
            text = message if message is not None else response
            error: SubscriptionError = (
                MaxStreamsError(text, response, req_id)
                if response in _MAX_STREAMS
                else SubscriptionError(text, response, req_id)
            )
            if command.ticket is not None:
                self._results.append(CommandResult(command.ticket, error))
            elif command.verb == "subscribe":
                sub = command.subscriptions[0]
                log.warning("resubscribing %s failed: %s", sub, text)
                self._subscriptions.pop(sub, None)

    def _succeeded(self, command: _Command, result: str | None) -> None:
        value: list[str] | None = None
        if command.verb == "stop":
            self._subscriptions.clear()
        elif command.verb == "subscribe":
            for sub in command.subscriptions:
                self._subscriptions[sub] = None
        elif command.verb == "unsubscribe":
            for sub in command.subscriptions:
                self._subscriptions.pop(sub, None)
        else:
            parsed = json.loads(result) if result is not None else []
            value = [str(name) for name in parsed] if isinstance(parsed, list) else []
        if command.ticket is not None:
            self._results.append(CommandResult(command.ticket, None, value))

    def _account(self, status: Any, now: float) -> list[tuple[int, StatusNotice]]:
        notices: list[tuple[int, StatusNotice]] = []
        gaps: list[Gap] = []
        rows = zip(
            status["sent"].tolist(),
            status["dropped"].tolist(),
            status["received"].tolist(),
            status["connected"].tolist(),
            status["end_of_snapshot"].tolist(),
            strict=True,
        )
        for row, (sent, dropped, received, connected, end_of_snapshot) in enumerate(rows):
            if connected and self.upstream_down_since is not None:
                notices.append((row, UpstreamUp(self.upstream_down_since, now)))
                log.warning("the server's upstream is back")
                self.upstream_down_since = None
            elif not connected and self.upstream_down_since is None:
                notices.append((row, UpstreamDown(now)))
                log.warning("the server lost its upstream")
                self.upstream_down_since = now
            if end_of_snapshot:
                notices.append((row, EndOfSnapshot(now)))
            if sent < 0:
                continue  # a heartbeat without stats
            if dropped > self._last_dropped:
                gaps.append(Gap(dropped - self._last_dropped, "server_dropped"))
                notices.append((row, gaps[-1]))
                self._last_dropped = dropped
            missing = sent - received
            if missing > self._last_missing:
                gaps.append(Gap(missing - self._last_missing, "missing"))
                notices.append((row, gaps[-1]))
                self._last_missing = missing
            self.server_sent = sent
            self.server_dropped = dropped
        for gap in gaps:
            log.warning("gap: %d events lost (%s)", gap.count, gap.reason)
            self.gaps += 1
            self.lost += gap.count
        return notices

    # --- lock-step acknowledgements -----------------------------------------------------------

    def event_ack(self, generation: int, ids: Sequence[int], now_ms: int) -> None:
        """The consumer is done with the events ``ids`` received on connection ``generation``:
        queues seed 004 ``event_ack`` payloads (at most :data:`ACK_IDS_PER_FRAME` ids each).
        Ids of a connection that has gone are dropped (a new one numbers events afresh)."""
        if not ids or generation != self.generation or not self.connected:
            return
        for start in range(0, len(ids), ACK_IDS_PER_FRAME):
            self._ack_seq += 1
            self._outgoing.append(
                json.dumps(
                    {
                        "type": "event_ack",
                        "correlation_id": f"ff-{self._ack_seq}",
                        "events_processed": list(ids[start : start + ACK_IDS_PER_FRAME]),
                        "timestamp": now_ms,
                    },
                    separators=(",", ":"),
                ).encode()
            )


def _has_ids(batch: EventBatch, counts: Sequence[int]) -> bool:
    for name, kind in _DATA_COLUMNS:
        if counts[kind]:
            return bool(getattr(batch, name)["id"][0] != 0)
    return False
