"""Shared by the egress benchmark and its baseline server: the subscriptions that select every
event of the synthetic market, and a client that counts data events as fast as it can."""

from __future__ import annotations

import asyncio
import json
import os
import time
from typing import Any

import numpy as np
from fastfeed import (
    BarBook,
    EventDecoder,
    StreamCommand,
    WSClientHandshake,
    parse_command,
    ws_encode_frames,
)
from fastfeed._core import Hub
from fastfeed.server import SyntheticSpec
from fastfeed.server.synthetic import new_york_clock


def everything_commands(spec: SyntheticSpec) -> list[dict[str, Any]]:
    """STREAM commands that together select every event the market draws."""
    date, _ = new_york_clock()
    hub = Hub(BarBook()._book)
    market = spec.build(hub, date)
    commands: list[dict[str, Any]] = [
        {"msg_type": "STREAM", "sec_type": sec, "req_type": req, "add": True, "id": i}
        for i, (sec, req) in enumerate(
            [("STOCK", "FULL_TRADES"), ("OPTION", "FULL_TRADES"), ("OPTION", "FULL_OPEN_INTEREST")]
        )
    ]
    for cid in market.contracts:
        sec, symbol, expiration, strike, right = hub.contract(cid)
        contract: dict[str, Any] = {"symbol": symbol}
        if sec == "OPTION":
            contract |= {"expiration": expiration, "strike": strike, "right": right}
        req = "TRADE" if sec == "INDEX" else "QUOTE"
        commands.append(
            {
                "msg_type": "STREAM",
                "sec_type": sec,
                "req_type": req,
                "add": True,
                "id": len(commands),
                "contract": contract,
            }
        )
    return commands


def everything_frames(spec: SyntheticSpec, date: int, ms: int, n: int) -> tuple[bytes, int]:
    """The frames of ``n`` draws of ``spec``'s market for a ``/v1/events`` client subscribed
    to everything (OHLC included), and how many events they hold."""
    hub = Hub(BarBook()._book)
    market = spec.build(hub, date)
    parsed = [parse_command(json.dumps(c)) for c in everything_commands(spec)]
    subscriber = hub.add_subscriber("events")
    commands = [c for c in parsed if isinstance(c, StreamCommand)]
    hub.subscribe(subscriber, commands, len(commands))
    ((_, frames, count),) = hub.publish(market.draw(n, date, ms, ms + 60_000))
    return frames, count


class CountingClient(asyncio.Protocol):
    """Subscribes to everything, then decodes and counts data events until ``target``.

    One Rust call per socket read (the fastfeed decoder): the client must not be what limits
    the measurement.
    """

    def __init__(self, host: str, port: int, commands: list[dict[str, Any]], target: int) -> None:
        self.handshake = WSClientHandshake(host, port, "/v1/events", os.urandom(16))
        self.decoder = EventDecoder(max_message_size=1 << 20)
        self.commands = commands
        self.target = target
        self.count = 0
        self.errors = 0
        self.kinds = np.zeros(4, dtype=np.int64)
        self.first: float | None = None
        self.done: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's TCPTransport
        self.transport.write(self.handshake.request)

    def data_received(self, data: bytes) -> None:
        if not self.handshake.done:
            rest = self.handshake.feed(data)
            if rest is None:
                return
            payloads = [json.dumps(c).encode() for c in self.commands]
            assert self.transport is not None
            self.transport.write(ws_encode_frames(1, payloads, mask_key=os.urandom(4)))
            data = rest
        batch = self.decoder.feed(data)
        kinds = batch.kinds
        counts = np.bincount(kinds, minlength=9)[:4]
        n = int(counts.sum())
        self.errors += len(batch.errors)
        if n and self.first is None:
            self.first = time.perf_counter()
        self.count += n
        self.kinds += counts
        if self.count >= self.target and not self.done.done():
            assert self.first is not None
            self.done.set_result(time.perf_counter() - self.first)
            assert self.transport is not None
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_exception(ConnectionError(f"lost after {self.count} events: {exc}"))


async def count_events(port: int, commands: list[dict[str, Any]], target: int) -> CountingClient:
    """Connects to ``port``, subscribes, and returns once ``target`` data events arrived."""
    loop = asyncio.get_running_loop()
    _, client = await loop.create_connection(
        lambda: CountingClient("127.0.0.1", port, commands, target), "127.0.0.1", port
    )
    await asyncio.wait_for(client.done, 60)
    return client
