"""Typed events a :class:`~fastfeed.Feed` yields (``async for event in feed``).

Market events (:class:`Trade`, :class:`Quote`, :class:`Ohlc`, :class:`OpenInterest`) and the
server heartbeat (:class:`Status`) mirror SPEC §3.3; prices are dollars, times ``date``
(YYYYMMDD) and ``ms_of_day``. ``id`` is the header id of ``--pace ack`` servers (0 otherwise).

Control events come from the SDK itself: :class:`Disconnected`, :class:`Reconnected` (with the
outage window), :class:`Gap` (events the server sent or dropped that this client never got) and
:class:`TakenOver` (another client replaced this one: final, no reconnect), :class:`EndOfStream`
(the server's source ended, e.g. a replay's files: final, no reconnect).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeAlias

from fastfeed.client.contracts import Contract

__all__ = [
    "ControlEvent",
    "Disconnected",
    "EndOfSnapshot",
    "EndOfStream",
    "Event",
    "FeedStats",
    "Gap",
    "GapReason",
    "MarketEvent",
    "Ohlc",
    "OpenInterest",
    "Quote",
    "Reconnected",
    "Status",
    "StatusNotice",
    "TakenOver",
    "Trade",
    "UpstreamDown",
    "UpstreamUp",
]


@dataclass(frozen=True, slots=True)
class Trade:
    """A ``TRADE`` event."""

    contract: Contract
    ms_of_day: int
    sequence: int
    size: int
    condition: int
    price: float
    exchange: int
    date: int
    id: int = 0


@dataclass(frozen=True, slots=True)
class Quote:
    """A ``QUOTE`` event (NBBO)."""

    contract: Contract
    ms_of_day: int
    bid_size: int
    bid_exchange: int
    bid: float
    bid_condition: int
    ask_size: int
    ask_exchange: int
    ask: float
    ask_condition: int
    date: int
    id: int = 0


@dataclass(frozen=True, slots=True)
class Ohlc:
    """An ``OHLC`` event: the contract's session-to-date bar."""

    contract: Contract
    ms_of_day: int
    open: float
    high: float
    low: float
    close: float
    volume: int
    count: int
    date: int
    id: int = 0


@dataclass(frozen=True, slots=True)
class OpenInterest:
    """An ``OPEN_INTEREST`` event."""

    contract: Contract
    ms_of_day: int
    open_interest: int
    date: int
    id: int = 0


@dataclass(frozen=True, slots=True)
class Status:
    """A ``STATUS`` heartbeat: the server's counters for this connection.

    ``sent``/``dropped`` are -1 when the server sent no ``stats`` (the original terminal);
    ``received`` is the data events this client received on the connection before it.
    """

    sent: int
    dropped: int
    received: int


@dataclass(frozen=True, slots=True)
class Disconnected:
    """The connection was lost; the feed is reconnecting (unless it was closed).

    ``at`` is wall-clock time (``time.time()``); ``code``/``reason`` come from the server's
    Close frame when there was one.
    """

    at: float
    reason: str
    code: int | None = None


@dataclass(frozen=True, slots=True)
class Reconnected:
    """A new connection is up and every subscription was re-sent.

    The outage window is ``[disconnected_at, reconnected_at]`` (wall clock); events the server
    produced in it were not delivered (a new connection's server counters start at 0).
    """

    disconnected_at: float
    reconnected_at: float
    attempts: int
    subscriptions: int

    @property
    def outage(self) -> float:
        """Seconds without a connection."""
        return self.reconnected_at - self.disconnected_at


GapReason: TypeAlias = Literal["server_dropped", "missing", "local_overflow"]


@dataclass(frozen=True, slots=True)
class Gap:
    """``count`` events were lost.

    * ``server_dropped``: the server's slow-consumer policy discarded them (``stats.dropped``
      grew by ``count``);
    * ``missing``: the server reports more events sent than this client received;
    * ``local_overflow``: the SDK's own bounded queue discarded them (the oldest first).
    """

    count: int
    reason: GapReason


@dataclass(frozen=True, slots=True)
class TakenOver:
    """Another client connected to the server and replaced this one (Close 1000). Final: the
    feed stops and does not reconnect, so two clients never fight over one server."""

    at: float
    reason: str


@dataclass(frozen=True, slots=True)
class EndOfStream:
    """The server's source ended and it closed the connection (Close 1000 ``end of replay``):
    everything was delivered. Final: iteration ends after it, no reconnect."""

    at: float
    reason: str


@dataclass(frozen=True, slots=True)
class UpstreamDown:
    """The server lost its own upstream (a relay's server, an HTTP stream, Redis): its STATUS
    says ``"status": "DISCONNECTED"``. The connection to the server stays up; data resumes
    after :class:`UpstreamUp`. ``at`` is wall-clock time (``time.time()``) when the SDK read
    the STATUS."""

    at: float


@dataclass(frozen=True, slots=True)
class UpstreamUp:
    """The server's upstream is back (its STATUS says ``"CONNECTED"`` again) after being down
    from ``down_at`` to ``up_at`` (wall clock, as the SDK read them). What the upstream sent
    meanwhile was not delivered unless the server reports otherwise; losses it counted arrive
    as :class:`Gap`."""

    down_at: float
    up_at: float

    @property
    def outage(self) -> float:
        """Seconds the upstream was down."""
        return self.up_at - self.down_at


@dataclass(frozen=True, slots=True)
class EndOfSnapshot:
    """The upstream's initial snapshot is complete (seed 002's ``EndSnapshot``): the events
    before this notice were the snapshot, those after it are live."""

    at: float


MarketEvent: TypeAlias = Trade | Quote | Ohlc | OpenInterest
#: Notices a STATUS carries, delivered right after it.
StatusNotice: TypeAlias = Gap | UpstreamDown | UpstreamUp | EndOfSnapshot
ControlEvent: TypeAlias = (
    Disconnected
    | Reconnected
    | Gap
    | TakenOver
    | EndOfStream
    | UpstreamDown
    | UpstreamUp
    | EndOfSnapshot
)
Event: TypeAlias = Trade | Quote | Ohlc | OpenInterest | Status | ControlEvent


@dataclass(frozen=True, slots=True)
class FeedStats:
    """A snapshot of a feed's counters (``feed.stats``).

    ``received`` counts data events over the feed's life; ``server_sent``/``server_dropped``
    are the latest STATUS of the current connection (they restart at 0 on each connection);
    ``gaps``/``lost`` count :class:`Gap` events and the events they report;
    ``local_dropped`` is what the SDK's queue discarded; ``last_event_age`` is seconds since
    the last data event (``None`` before the first).
    """

    received: int
    server_sent: int
    server_dropped: int
    gaps: int
    lost: int
    reconnects: int
    local_dropped: int
    queued: int
    connected: bool
    last_event_age: float | None
