"""Server egress: ``fastfeed serve --rate max`` beside a picows server that ``orjson.dumps`` +
``send()``s one event at a time, each to one client that subscribes to everything and counts.

Both servers run in their own process (the client takes the other core) and serve the same
synthetic market, OHLC events included. The client decodes every frame with fastfeed's
decoder, so it checks that what arrived is valid events, and it is the same client for both.

    python -m fastfeed.bench.egress PORT EVENTS    # the baseline server
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import sys
import time
from typing import Any, cast

import numpy as np
from picows import WSMsgType, WSTransport, ws_create_server

from fastfeed import (
    BarBook,
    EventDecoder,
    StreamCommand,
    WSClientHandshake,
    WSFrameDecoder,
    parse_command,
    ws_encode_frames,
)
from fastfeed._core import Hub
from fastfeed._loop import run as run_loop
from fastfeed.bench._harness import (
    Result,
    Rounds,
    Tick,
    free_port,
    optional,
    python_module,
    spawn,
    stop,
)
from fastfeed.bench._picows import PumpingListener
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
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass
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
        counts = np.bincount(batch.kinds, minlength=9)[:4]
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


# ---- the baseline server ---------------------------------------------------------------------


def market_events(n: int) -> list[Any]:
    """The events of ``n`` synthetic draws (everything subscribed, OHLC included) as dicts."""
    import orjson

    date, ms = new_york_clock()
    wire, count = everything_frames(SyntheticSpec(), date, ms, n)
    payloads = [p for _, p in WSFrameDecoder("client", max_message_size=1 << 20).feed(wire)]
    assert len(payloads) == count
    return [orjson.loads(p) for p in payloads]


class Streamer(PumpingListener):
    """Sends the events one ``orjson.dumps`` + ``send()`` at a time, as long as the transport
    takes them, as a straightforward Python feed handler would."""

    def __init__(self, events: list[Any]) -> None:
        super().__init__()
        self.events = events

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.start(transport)

    async def pump(self, transport: WSTransport) -> None:
        import orjson

        dumps = orjson.dumps
        send = transport.send
        text = WSMsgType.TEXT
        resumed = self.resumed
        for i, event in enumerate(itertools.cycle(self.events)):
            send(text, dumps(event))
            if not resumed.is_set():
                await resumed.wait()
            elif i % 256 == 255:
                await asyncio.sleep(0)  # let the loop read and run timers, as a server must


async def serve_baseline(port: int, events: int) -> None:
    market = market_events(events)
    server = await ws_create_server(lambda _request: Streamer(market), "127.0.0.1", port)
    await server.serve_forever()


# ---- the comparison --------------------------------------------------------------------------


def fastfeed_server(port: int) -> list[str]:
    return python_module(
        "fastfeed", "serve", "--rate", "max", "--port", str(port), "--log-level", "WARNING"
    )


def count_once(port: int, target: int) -> tuple[float, CountingClient]:
    """Events/s of one client counting ``target`` events from ``port``, and the client."""
    commands = everything_commands(SyntheticSpec())
    client = run_loop(count_events(port, commands, target))
    seconds = client.done.result()
    return client.count / seconds, client


def shares(client: CountingClient) -> list[float]:
    """The share of each event kind the client received."""
    return [float(k) / float(client.kinds.sum()) for k in client.kinds]


def measure(target: int, rounds: int, tick: Tick, baseline_events: int = 200_000) -> Result:
    """Interleaved rounds of one client counting ``target`` events from each server."""
    skipped: dict[str, str] = {}
    commands: dict[str, list[str]] = {}
    ports: dict[str, int] = {}
    if optional("orjson") is None:
        skipped["picows"] = "orjson is not installed"
    else:
        ports["picows"] = free_port()
        commands["picows"] = python_module(
            "fastfeed.bench.egress", str(ports["picows"]), str(baseline_events)
        )
    ports["fastfeed"] = free_port()
    commands["fastfeed"] = fastfeed_server(ports["fastfeed"])
    processes = [spawn(commands[name], ports[name]) for name in commands]
    rates = Rounds()
    clients: dict[str, CountingClient] = {}
    try:
        for _ in range(rounds):
            for name, port in ports.items():
                rate, clients[name] = count_once(port, target)
                rates.add(name, rate)
                tick()
    finally:
        for process in processes:
            stop(process)
    match = all(c.errors == 0 and c.count >= target for c in clients.values())
    if "picows" in clients:  # the same market: every kind in about the same share
        ours, theirs = shares(clients["fastfeed"]), shares(clients["picows"])
        match = match and all(abs(a - b) < 0.03 for a, b in zip(ours, theirs, strict=True))
    return Result(
        scenario="egress",
        title=f"server egress, serve --rate max to 1 client, {target:,} events",
        unit="events/s",
        rates=rates.medians(),
        rounds=rounds,
        skipped=skipped,
        outputs_match=match,
    )


#: Events a round, rounds, distinct events of the baseline server, by mode.
PLAN = {"smoke": (5_000, 1, 5_000), "quick": (100_000, 3, 50_000), "full": (1_000_000, 3, 200_000)}


def steps(mode: str) -> int:
    return PLAN[mode][1] * (1 if optional("orjson") is None else 2)


def run(mode: str, tick: Tick) -> list[Result]:
    """``quick``: 100,000 events a round; ``full``: 1,000,000. 3 rounds."""
    target, rounds, baseline_events = PLAN[mode]
    return [measure(target, rounds, tick, baseline_events)]


if __name__ == "__main__":
    run_loop(serve_baseline(int(sys.argv[1]), int(sys.argv[2])))
