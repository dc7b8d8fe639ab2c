"""Client ingest over loopback: the fastfeed SDK against websockets + json and picows + orjson.

One pre-framed stream of 200,000 TRADE events (20 option contracts, one hour of trading) is
written by a raw asyncio server (a minimal handshake, then the whole stream in one write and a
Close frame) to three clients in one run:

* (a) websockets + ``json.loads`` per message, 1 s bars in a dict;
* (b) picows + ``orjson.loads`` per frame, 1 s bars in a dict;
* (c) ``fastfeed.connect``: every socket read decoded by Rust into numpy batches
  (``next_batch``), 1 s bars in the SDK's rings.

Each client's time runs from connecting to having its bars. All three must compute the same
bars (``outputs_match``); the medians and ratios go to ``extra_info``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import fastfeed
import numpy as np
import orjson
import pytest
import uvloop
import websockets
from fastfeed import EventEncoder, ws_accept_key, ws_close_payload, ws_encode_frames
from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

N_EVENTS = 200_000
N_CONTRACTS = 20
ROUNDS = 5
CHUNK = 256 << 10

#: ``(contract key, date, bucket start ms)`` → ``[open, high, low, close, volume, count]``
DictBars = dict[tuple[str, int, int], list[Any]]
BarRows = list[tuple[str, int, int, float, float, float, float, int, int]]


STOCKS = "AAPL MSFT NVDA AMZN GOOGL META TSLA AVGO JPM V UNH XOM MA HD PG COST JNJ ABBV WMT NFLX"


class Workload:
    """``kind="option"``: 20 SPY options (~275-byte frames, the long contract object);
    ``kind="stock"``: 20 stocks (~190-byte frames)."""

    def __init__(self, kind: str) -> None:
        rng = np.random.default_rng(11)
        encoder = EventEncoder()
        if kind == "option":
            contracts = [
                ("OPTION", "SPY", 20250321, 560_000 + 5_000 * (i // 2), "CP"[i % 2])
                for i in range(N_CONTRACTS)
            ]
        else:
            contracts = [("STOCK", s, None, None, None) for s in STOCKS.split()]
        assert len(contracts) == N_CONTRACTS
        ids = np.array([encoder.add_contract(*c) for c in contracts], dtype=np.uint32)
        contract_id = ids[rng.integers(0, N_CONTRACTS, N_EVENTS)]
        ms = np.sort(rng.integers(34_200_000, 34_200_000 + 3_600_000, N_EVENTS)).astype(np.uint32)
        self.wire = encoder.encode_trades(
            contract_id,
            ms,
            np.arange(1_000_000, 1_000_000 + N_EVENTS, dtype=np.int64),
            rng.integers(1, 500, N_EVENTS).astype(np.uint32),
            rng.integers(0, 130, N_EVENTS).astype(np.uint32),
            rng.integers(5, 6_000, N_EVENTS) / 100.0,
            rng.integers(1, 70, N_EVENTS).astype(np.uint32),
            np.full(N_EVENTS, 20250321, dtype=np.uint32),
        )
        self.close = ws_encode_frames(8, [ws_close_payload(1000, "end of stream")])


class StreamServer(asyncio.Protocol):
    """Answers one WebSocket handshake, then writes the pre-framed stream (in 256 KiB writes,
    pausing when the transport buffer is full, as a real server does) and a Close."""

    def __init__(self, workload: Workload) -> None:
        self.workload = workload
        self.head = b""
        self.transport: asyncio.Transport | None = None
        self.offset = 0
        self.paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.transport.set_write_buffer_limits(high=1 << 20)

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        self.write_more()

    def write_more(self) -> None:
        assert self.transport is not None
        wire = self.workload.wire
        while not self.paused and self.offset < len(wire):
            chunk = wire[self.offset : self.offset + CHUNK]
            self.offset += len(chunk)
            self.transport.write(chunk)
            if self.offset == len(wire):
                self.transport.write(self.workload.close)

    def data_received(self, data: bytes) -> None:
        if self.head is None:
            # The client's Close answers ours, which follows the whole stream: then end the TCP
            # connection, as servers do. Anything earlier (a client's keepalive Ping on a slow
            # round) is not an end: closing then would cut the stream short.
            if self.offset == len(self.workload.wire):
                assert self.transport is not None
                self.transport.close()
            return
        self.head += data
        if b"\r\n\r\n" not in self.head:
            return
        key = ""
        for line in self.head.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"sec-websocket-key":
                key = value.strip().decode()
        self.head = None  # type: ignore[assignment]
        assert self.transport is not None
        self.transport.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + ws_accept_key(key).encode() + b"\r\n\r\n"
        )
        self.write_more()


def bucket_update(bars: DictBars, key: tuple[str, int, int], price: float, size: int) -> None:
    bar = bars.get(key)
    if bar is None:
        bars[key] = [price, price, price, price, size, 1]
    else:
        if price > bar[1]:
            bar[1] = price
        if price < bar[2]:
            bar[2] = price
        bar[3] = price
        bar[4] += size
        bar[5] += 1


def dict_rows(bars: DictBars) -> BarRows:
    return sorted((*key, *bar) for key, bar in bars.items())  # type: ignore[misc]


def add_event(bars: DictBars, event: dict[str, Any]) -> None:
    c = event["contract"]
    t = event["trade"]
    symbol = c["symbol"]
    key = (
        f"{symbol}:{c['expiration']}:{c['strike']}:{c['right']}" if "strike" in c else symbol,
        t["date"],
        t["ms_of_day"] // 1000 * 1000,
    )
    bucket_update(bars, key, t["price"], t["size"])


async def run_websockets(url: str) -> Callable[[], BarRows]:
    bars: DictBars = {}
    loads = json.loads
    async with websockets.connect(url, compression=None, max_size=None) as ws:
        async for message in ws:
            add_event(bars, loads(message))
    return lambda: dict_rows(bars)


class PicowsClient(WSListener):
    def __init__(self) -> None:
        super().__init__()
        self.bars: DictBars = {}

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.TEXT:
            add_event(self.bars, orjson.loads(frame.get_payload_as_bytes()))
        elif frame.msg_type == WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code())
            transport.disconnect()


async def run_picows(url: str) -> Callable[[], BarRows]:
    transport, client = await ws_connect(PicowsClient, url)
    await transport.wait_disconnected()
    assert isinstance(client, PicowsClient)
    bars = client.bars
    return lambda: dict_rows(bars)


async def run_fastfeed(url: str) -> Callable[[], BarRows]:
    async with fastfeed.connect(url, reconnect=False, bar_intervals=("1s",)) as feed:
        events = 0
        while (batch := await feed.next_batch()) is not None:
            events += len(batch)
    assert events == N_EVENTS

    def rows() -> BarRows:
        out: BarRows = []
        for contract in feed.contracts:
            ring = feed.bars(contract, "1s")
            open_bar = feed.open_bar(contract, "1s")
            assert open_bar is not None
            out += [(str(contract), *bar[:8]) for bar in [*ring.tolist(), open_bar.tolist()]]
        return sorted(out)

    return rows


async def timed(
    url: str, client: Callable[[str], Awaitable[Callable[[], BarRows]]]
) -> tuple[float, BarRows]:
    """Seconds from connecting until the client has its bars; then the bars as rows."""
    start = time.perf_counter()
    result = await client(url)
    seconds = time.perf_counter() - start
    return seconds, result()


async def serve_forever(kind: str) -> None:
    """The stream server process: prints its port, serves every connection the same stream."""
    workload = Workload(kind)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: StreamServer(workload), "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await loop.run_in_executor(None, sys.stdin.read)  # until the parent closes our stdin


class StreamProcess:
    """The stream server in a child process, so its writes use the other core, not ours."""

    def __init__(self, kind: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), kind],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert self.process.stdout is not None
        self.url = f"ws://127.0.0.1:{int(self.process.stdout.readline())}/v1/events"

    def close(self) -> None:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.close()
        self.process.wait(10)
        self.process.stdout.close()


@pytest.fixture(scope="module", params=["option", "stock"])
def stream_server(request: pytest.FixtureRequest) -> Iterator[StreamProcess]:
    server = StreamProcess(request.param)
    yield server
    server.close()


def test_client_ingest_throughput(benchmark: Any, stream_server: StreamProcess) -> None:
    rounds = 1 if benchmark.disabled else ROUNDS
    times: dict[str, list[float]] = {"websockets": [], "picows": [], "fastfeed": []}
    outputs: dict[str, BarRows] = {}
    clients = {"websockets": run_websockets, "picows": run_picows, "fastfeed": run_fastfeed}

    async def all_rounds() -> None:
        for _ in range(rounds):
            for name, client in clients.items():
                seconds, rows = await timed(stream_server.url, client)
                times[name].append(seconds)
                outputs[name] = rows

    # The stream ends with a Close, which the SDK logs as a disconnect warning.
    logging.getLogger("fastfeed.client").setLevel(logging.ERROR)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(all_rounds())

    logging.getLogger("fastfeed.client").setLevel(logging.INFO)
    expected = outputs["picows"]
    assert len(expected) > N_CONTRACTS * 100
    assert sum(row[-1] for row in expected) == N_EVENTS
    assert outputs["websockets"] == expected
    assert outputs["fastfeed"] == expected
    median = {name: statistics.median(t) for name, t in times.items()}
    rate = {name: N_EVENTS / s for name, s in median.items()}
    for name, value in rate.items():
        benchmark.extra_info[f"{name}_msgs_per_s"] = round(value)
    benchmark.extra_info["ratio_vs_picows"] = round(median["picows"] / median["fastfeed"], 2)
    benchmark.extra_info["ratio_vs_websockets"] = round(
        median["websockets"] / median["fastfeed"], 2
    )
    benchmark.extra_info["outputs_match"] = True

    def fastfeed_once() -> None:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(timed(stream_server.url, run_fastfeed))

    benchmark.pedantic(fastfeed_once, rounds=rounds, iterations=1)


if __name__ == "__main__":
    uvloop.run(serve_forever(sys.argv[1]))
