"""The fastfeed client SDK (SPEC §8): ``async with fastfeed.connect(url) as feed: …``."""

from __future__ import annotations

from fastfeed.client.batch import Batch
from fastfeed.client.contracts import Contract, Index, Option, Stock
from fastfeed.client.events import (
    ControlEvent,
    Disconnected,
    EndOfSnapshot,
    EndOfStream,
    Event,
    FeedStats,
    Gap,
    MarketEvent,
    Ohlc,
    OpenInterest,
    Quote,
    Reconnected,
    Status,
    TakenOver,
    Trade,
    UpstreamDown,
    UpstreamUp,
)
from fastfeed.client.feed import Backoff, Feed, Subscription, connect

__all__ = [
    "Backoff",
    "Batch",
    "Contract",
    "ControlEvent",
    "Disconnected",
    "EndOfSnapshot",
    "EndOfStream",
    "Event",
    "Feed",
    "FeedStats",
    "Gap",
    "Index",
    "MarketEvent",
    "Ohlc",
    "OpenInterest",
    "Option",
    "Quote",
    "Reconnected",
    "Status",
    "Stock",
    "Subscription",
    "TakenOver",
    "Trade",
    "UpstreamDown",
    "UpstreamUp",
    "connect",
]
