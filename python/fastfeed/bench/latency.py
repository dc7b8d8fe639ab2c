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
  the hub (no session OHLC: the baseline sends none); the consumer is the SDK: ``connect``,
  ``subscribe``, ``await next_batch()``.
* **fastfeed busy-poll:** the same with ``connect(…, busy_poll=True)``: the consumer's event
  loop never sleeps in the kernel while it waits (the latency mode; one core at 100 %).
* **picows + orjson:** the producer builds a dict per trade, ``orjson.dumps`` it and sends it
  in its own frame; the consumer ``orjson.loads`` each frame in picows' callback.

Each round connects a fresh consumer, which subscribes, skips the first events (warm-up), and
keeps the latencies of the next ``count``; the producer runs while a consumer is there.
p50/p90/p99 are the medians over interleaved rounds of each round's percentiles.

    python -m fastfeed.bench.latency fastfeed|picows PORT RATE PER_BATCH    # a producer
"""

from __future__ import annotations

import asyncio
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


# ---- consumers ---------------------------------------------------------------------------------


async def consume_fastfeed(
    port: int, count: int, warmup: int, *, busy_poll: bool = False
) -> npt.NDArray[np.int64]:
    """The SDK as a strategy uses it: latencies (ns) of ``count`` trades after ``warmup``."""
    from fastfeed import Stock, connect

    clock = time.monotonic_ns
    latencies = np.empty(warmup + count, np.int64)
    n = 0
    async with connect(f"ws://127.0.0.1:{port}/v1/events", busy_poll=busy_poll) as feed:
        await feed.subscribe("TRADE", Stock(SYMBOL))
        while n < len(latencies):
            batch = await feed.next_batch()
            if batch is None:
                raise RuntimeError("the feed ended")
            stamps = batch.trades["sequence"]
            if len(stamps):
                now = clock()
                take = min(len(stamps), len(latencies) - n)
                latencies[n : n + take] = now - stamps[:take]
                n += take
    return latencies[warmup:]


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
    """The SDK in its latency mode (``connect(…, busy_poll=True)``)."""
    return await consume_fastfeed(port, count, warmup, busy_poll=True)


CONSUMERS: dict[str, Callable[[int, int, int], Any]] = {
    "fastfeed": consume_fastfeed,
    "fastfeed busy-poll": consume_fastfeed_busy,
    "picows + orjson": consume_picows,
}


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
                    name.split()[0],
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
            results.append(
                Result(
                    scenario="latency",
                    title=f"latency p{p}, {rate:,} events/s, {per_batch} per batch",
                    unit="µs",
                    rates=by_percentile[p].medians(),
                    rounds=rounds,
                    skipped=skipped,
                    lower_is_better=True,
                    extra={"rate": rate, "per_batch": per_batch, "percentile": p},
                )
            )
    return results


def main(argv: list[str]) -> None:
    variant, port, rate, per_batch = argv[0], int(argv[1]), int(argv[2]), int(argv[3])
    serve = serve_fastfeed if variant == "fastfeed" else serve_picows
    run_loop(serve(port, rate, per_batch))


if __name__ == "__main__":
    main(sys.argv[1:])
