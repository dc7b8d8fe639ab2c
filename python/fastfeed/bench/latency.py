"""End-to-end latency: from the moment a source has an event to the moment the strategy's code
holds it, at 1 k, 10 k and 100 k events/s, beside a picows + orjson server and client carrying
the same events.

Two processes over loopback: the producer (a server) owns one core, the consumer the other.

* **Clock.** Each trade's ``sequence`` carries ``time.monotonic_ns()`` (CLOCK_MONOTONIC, one
  clock for every process of the machine), read by the producer when its source hands the
  batch on; the consumer reads the clock when the event reaches its code. One clock read costs
  about 50 ns here; the figures include one on each side.
* **Schedule.** Both producers follow the same one: ``per_batch`` trades every
  ``per_batch / rate`` seconds. The event loop's timers have millisecond resolution, so the
  producer waits by polling its loop (``await asyncio.sleep(0)``), which also keeps its
  writes and reads going; it never sleeps in the kernel between events.
* **fastfeed:** a :class:`~fastfeed.server.Server` whose source adds each batch with one
  ``SourceBatch.add_trades`` call — the fields that are the same for the batch as Python
  scalars, the one that varies (``sequence``) as an int64 array when there are several events,
  a scalar for one (scalars and int64/float64 arrays cost no numpy call) — and publishes it to
  the hub (no session OHLC: the baseline sends none). The consumer is the SDK, ``connect`` and
  ``subscribe``, then either ``connect(…, on_batch=handler)``, the handler reading the clock
  inside the socket read as picows' consumer does (``fastfeed``), or ``await next_batch()``
  (``fastfeed next_batch``: one task switch more, from the read to the waiting coroutine).
* **fastfeed busy-poll:** ``on_batch`` with ``connect(…, busy_poll=True)``: the consumer's
  event loop never sleeps in the kernel (the latency mode; one core at 100 %).
* **picows + orjson:** the producer builds a dict per trade, ``orjson.dumps`` it and sends it
  in its own frame; the consumer ``orjson.loads`` each frame in picows' callback.
* **The machine's floor** (``raw``): plain sockets, no WebSocket, no event loop. The producer
  spins on the clock and writes pre-built messages of a fastfeed frame's size (the stamp in
  their first 8 bytes, a batch in one ``send``); the consumer reads the clock once per
  ``recv``, either blocking in the kernel until the data is there (``raw floor``: what any
  client that sleeps between reads pays) or spinning on a non-blocking socket (``raw
  busy-poll floor``: what a strategy that owns a core can get, the yardstick of the SDK's
  latency mode).

Each round connects a fresh consumer, which subscribes, skips the first events (warm-up), and
keeps the latencies of the next ``count``; the producer runs while a consumer is there.
p50/p90/p99 are the medians over interleaved rounds of each round's percentiles.

    python -m fastfeed.bench.latency fastfeed|picows|raw PORT RATE PER_BATCH    # a producer
"""

from __future__ import annotations

import asyncio
import socket
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

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

#: (events/s, events per batch) measured; 100 k/s comes in batches of 10 (one every 100 µs).
RATES: list[tuple[int, int]] = [(1_000, 1), (10_000, 1), (100_000, 10)]
#: Seconds of events kept per round (at least 200 events; a fifth more is skipped first, as
#: warm-up) and rounds, by mode.
PLAN: dict[str, tuple[float, int]] = {
    "smoke": (0.1, 1),
    "quick": (0.6, 3),
    "full": (4.0, 5),
}
PERCENTILES = (50, 90, 99)
SYMBOL = "LAT"
DATE = 20260102
#: The floor's message size: a fastfeed TRADE frame of this bench (the stamp, then padding).
FLOOR_MESSAGE = 230

Emit = Callable[[int, int], None]


async def produce(emit: Emit, rate: int, per_batch: int, running: Callable[[], bool]) -> None:
    """Calls ``emit(per_batch, now_ns)`` every ``per_batch / rate`` seconds while
    ``running()``, polling the loop in between (and catching up at once when late)."""
    interval = round(per_batch * 1e9 / rate)
    clock = time.monotonic_ns
    due = clock()
    while running():
        now = clock()
        if now < due:
            await asyncio.sleep(0)
            continue
        emit(per_batch, now)
        due += interval
        if now - due > 100 * interval:  # far behind (a stall): start the schedule again
            due = now + interval


# ---- producers ---------------------------------------------------------------------------------


async def serve_fastfeed(port: int, rate: int, per_batch: int) -> None:
    from fastfeed._core import SourceBatch
    from fastfeed.server import Hub, Server, ServerConfig

    class Trades:
        """A Python source: one ``add_trades`` call per batch (see the module docs)."""

        async def run(self, hub: Hub) -> None:
            cid = hub.core.add_contract("STOCK", SYMBOL)
            batch = SourceBatch()

            def emit(n: int, now: int) -> None:
                ms = (now // 1_000_000) % 86_400_000
                sequence = now if n == 1 else np.full(n, now, np.int64)
                batch.clear()
                batch.add_trades(cid, ms, sequence, 100, 0, 101.25, 4, DATE)
                hub.publish(batch)

            while True:
                while not hub.interest:
                    await asyncio.sleep(0.01)
                await produce(emit, rate, per_batch, lambda: bool(hub.interest))

    config = ServerConfig(port=port, ohlcvc=False)
    async with Server(config, Trades()):
        await asyncio.Future()


async def serve_picows(port: int, rate: int, per_batch: int) -> None:
    import orjson
    from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_create_server

    class Producer(WSListener):
        def __init__(self) -> None:
            self.open = False

        def on_ws_connected(self, transport: WSTransport) -> None:
            self.open = True
            dumps, send, text = orjson.dumps, transport.send, WSMsgType.TEXT

            def emit(n: int, now: int) -> None:
                ms = (now // 1_000_000) % 86_400_000
                for _ in range(n):
                    event = {
                        "header": {"type": "TRADE", "status": "CONNECTED"},
                        "contract": {"security_type": "STOCK", "symbol": SYMBOL},
                        "trade": {
                            "ms_of_day": ms,
                            "sequence": now,
                            "size": 100,
                            "condition": 0,
                            "price": 101.25,
                            "exchange": 4,
                            "date": DATE,
                        },
                    }
                    send(text, dumps(event))

            # picows may report the disconnection late: the socket's own state ends it too.
            socket = transport.underlying_transport
            asyncio.get_running_loop().create_task(
                produce(emit, rate, per_batch, lambda: self.open and not socket.is_closing())
            )

        def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
            if frame.msg_type == WSMsgType.CLOSE:
                transport.send_close(frame.get_close_code())
                transport.disconnect()

        def on_ws_disconnected(self, transport: WSTransport) -> None:
            self.open = False

    server = await ws_create_server(lambda _request: Producer(), "127.0.0.1", port)
    await server.serve_forever()


def serve_raw(port: int, rate: int, per_batch: int) -> None:
    """The floor's producer: one client at a time, pre-built messages on the same schedule,
    spinning on the clock between them (no event loop)."""
    padding = bytes(FLOOR_MESSAGE - 8)
    interval = round(per_batch * 1e9 / rate)
    clock = time.monotonic_ns
    with socket.create_server(("127.0.0.1", port)) as listener:
        while True:
            client, _ = listener.accept()
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            due = clock()
            try:
                while True:
                    now = clock()
                    if now < due:
                        continue
                    client.sendall((now.to_bytes(8, "little") + padding) * per_batch)
                    due += interval
                    if now - due > 100 * interval:
                        due = now + interval
            except OSError:  # the consumer left
                client.close()


# ---- consumers ---------------------------------------------------------------------------------


class Latencies:
    """The SDK consumers' record: latencies (ns) of ``warmup + count`` trades, each batch's
    taken at one clock read."""

    def __init__(self, count: int, warmup: int) -> None:
        self._values = np.empty(warmup + count, np.int64)
        self._warmup = warmup
        self._n = 0

    @property
    def full(self) -> bool:
        return self._n == len(self._values)

    def add(self, stamps: npt.NDArray[np.int64]) -> None:
        """A batch's ``sequence`` stamps have reached the strategy's code."""
        now = time.monotonic_ns()
        take = min(len(stamps), len(self._values) - self._n)
        self._values[self._n : self._n + take] = now - stamps[:take]
        self._n += take

    def kept(self) -> npt.NDArray[np.int64]:
        """The latencies after the warm-up (the feed must not have ended before)."""
        if not self.full:
            raise RuntimeError("the feed ended")
        return self._values[self._warmup :]


async def consume_fastfeed_next_batch(port: int, count: int, warmup: int) -> npt.NDArray[np.int64]:
    """The SDK's ``await next_batch()``: latencies (ns) of ``count`` trades after ``warmup``."""
    from fastfeed import Stock, connect

    latencies = Latencies(count, warmup)
    async with connect(f"ws://127.0.0.1:{port}/v1/events") as feed:
        await feed.subscribe("TRADE", Stock(SYMBOL))
        while not latencies.full:
            batch = await feed.next_batch()
            if batch is None:
                break
            stamps = batch.trades["sequence"]
            if len(stamps):
                latencies.add(stamps)
    return latencies.kept()


async def consume_fastfeed(
    port: int, count: int, warmup: int, *, busy_poll: bool = False
) -> npt.NDArray[np.int64]:
    """The SDK's ``on_batch`` handler, called inside the socket read."""
    from fastfeed import Batch, Stock, connect

    latencies = Latencies(count, warmup)
    closing: list[asyncio.Task[None]] = []

    def handler(batch: Batch) -> None:
        stamps = batch.trades["sequence"]
        if len(stamps) and not latencies.full:
            latencies.add(stamps)
            if latencies.full:  # enough: closing ends wait_ended()
                closing.append(asyncio.get_running_loop().create_task(feed.close()))

    feed = connect(f"ws://127.0.0.1:{port}/v1/events", busy_poll=busy_poll, on_batch=handler)
    async with feed:
        await feed.subscribe("TRADE", Stock(SYMBOL))
        await feed.wait_ended()
    return latencies.kept()


async def consume_picows(port: int, count: int, warmup: int) -> npt.NDArray[np.int64]:
    """A picows client that ``orjson.loads`` each frame in its callback."""
    import orjson
    from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

    clock = time.monotonic_ns
    latencies = np.empty(warmup + count, np.int64)
    done = asyncio.get_running_loop().create_future()

    class Consumer(WSListener):
        n = 0

        def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
            if frame.msg_type != WSMsgType.TEXT or self.n == len(latencies):
                return
            event = orjson.loads(frame.get_payload_as_bytes())
            latencies[self.n] = clock() - event["trade"]["sequence"]
            self.n += 1
            if self.n == len(latencies) and not done.done():
                done.set_result(None)

    transport, _ = await ws_connect(Consumer, f"ws://127.0.0.1:{port}/v1/events")
    try:
        await done
    finally:
        transport.send_close()
        transport.disconnect()
    return latencies[warmup:]


async def consume_fastfeed_busy(port: int, count: int, warmup: int) -> npt.NDArray[np.int64]:
    """The SDK in its latency mode (``on_batch`` with ``busy_poll=True``)."""
    return await consume_fastfeed(port, count, warmup, busy_poll=True)


def read_floor(port: int, count: int, warmup: int, *, busy_poll: bool) -> npt.NDArray[np.int64]:
    """The floor's consumer: latencies (ns) of ``count`` messages after ``warmup``, the clock
    read once per ``recv`` (blocking, or spinning on a non-blocking socket)."""
    clock = time.monotonic_ns
    latencies = np.empty(warmup + count, np.int64)
    buffer = bytearray(1 << 16)
    view = memoryview(buffer)
    held = 0  # bytes of an incomplete message at the start of the buffer
    n = 0
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.setblocking(not busy_poll)
        while n < len(latencies):
            try:
                got = sock.recv_into(view[held:])
            except BlockingIOError:
                continue
            now = clock()
            if not got:
                raise RuntimeError("the floor's producer closed the connection")
            held += got
            whole = held - held % FLOOR_MESSAGE
            for at in range(0, whole, FLOOR_MESSAGE):
                if n < len(latencies):
                    latencies[n] = now - int.from_bytes(buffer[at : at + 8], "little")
                    n += 1
            buffer[: held - whole] = buffer[whole:held]
            held -= whole
    return latencies[warmup:]


async def consume_floor(port: int, count: int, warmup: int) -> npt.NDArray[np.int64]:
    """The floor, blocking reads (the event loop is not used)."""
    return read_floor(port, count, warmup, busy_poll=False)


async def consume_floor_busy(port: int, count: int, warmup: int) -> npt.NDArray[np.int64]:
    """The floor, busy-polling reads (the event loop is not used)."""
    return read_floor(port, count, warmup, busy_poll=True)


#: Each consumer's producer (``main``'s first argument).
PRODUCERS: dict[str, str] = {
    "fastfeed": "fastfeed",
    "fastfeed next_batch": "fastfeed",
    "fastfeed busy-poll": "fastfeed",
    "picows + orjson": "picows",
    "raw floor": "raw",
    "raw busy-poll floor": "raw",
}
CONSUMERS: dict[str, Callable[[int, int, int], Any]] = {
    "fastfeed": consume_fastfeed,
    "fastfeed next_batch": consume_fastfeed_next_batch,
    "fastfeed busy-poll": consume_fastfeed_busy,
    "picows + orjson": consume_picows,
    "raw floor": consume_floor,
    "raw busy-poll floor": consume_floor_busy,
}
#: The results' rows: fastfeed's default mode beside picows + orjson and the blocking floor,
#: and its latency mode beside the busy-poll floor (ours, its ceiling, the others).
COMPARISONS: list[tuple[str, str, str, list[str]]] = [
    ("", "fastfeed", "raw floor", ["fastfeed next_batch", "picows + orjson"]),
    (" busy-poll", "fastfeed busy-poll", "raw busy-poll floor", []),
]


# ---- the comparison ----------------------------------------------------------------------------


def steps(mode: str) -> int:
    variants = len(CONSUMERS) - (optional("orjson") is None)
    return len(RATES) * PLAN[mode][1] * variants


def run(mode: str, tick: Tick) -> list[Result]:
    """Interleaved rounds at each rate; a result per rate and percentile (µs, lower is
    better)."""
    seconds, rounds = PLAN[mode]
    skipped: dict[str, str] = {}
    variants = list(CONSUMERS)
    if optional("orjson") is None:
        skipped["picows + orjson"] = "orjson is not installed"
        variants = [name for name in variants if name != "picows + orjson"]
    results: list[Result] = []
    for rate, per_batch in RATES:
        count = max(200, round(rate * seconds))
        warmup = count // 5
        ports = {name: free_port() for name in variants}
        producers = [
            spawn(
                python_module(
                    "fastfeed.bench.latency",
                    PRODUCERS[name],
                    str(ports[name]),
                    str(rate),
                    str(per_batch),
                ),
                ports[name],
            )
            for name in variants
        ]
        by_percentile = {p: Rounds() for p in PERCENTILES}
        try:
            for _ in range(rounds):
                for name in variants:
                    latencies = run_loop(CONSUMERS[name](ports[name], count, warmup))
                    for p, value in zip(
                        PERCENTILES, np.percentile(latencies, PERCENTILES), strict=True
                    ):
                        by_percentile[p].add(name, float(value) / 1e3)
                    tick()
        finally:
            for process in producers:
                stop(process)
        for p in PERCENTILES:
            medians = by_percentile[p].medians()
            for mode, ours, floor, others in COMPARISONS:
                names = [ours, *(n for n in others if n in medians), floor]
                results.append(
                    Result(
                        scenario="latency",
                        title=f"latency p{p}{mode}, {rate:,} events/s, {per_batch} per batch",
                        unit="µs",
                        rates={name: medians[name] for name in names},
                        rounds=rounds,
                        ours=ours,
                        ceiling=floor,
                        skipped={k: v for k, v in skipped.items() if k in others},
                        lower_is_better=True,
                        extra={"rate": rate, "per_batch": per_batch, "percentile": p},
                    )
                )
    return results


def main(argv: list[str]) -> None:
    variant, port, rate, per_batch = argv[0], int(argv[1]), int(argv[2]), int(argv[3])
    if variant == "raw":
        serve_raw(port, rate, per_batch)
        return
    serve = serve_fastfeed if variant == "fastfeed" else serve_picows
    run_loop(serve(port, rate, per_batch))


if __name__ == "__main__":
    main(sys.argv[1:])
