"""Client ingest over loopback: the fastfeed SDK beside picows + orjson and websockets + json.

One pre-framed stream of TRADE events (20 option or stock contracts, one hour of trading) is
written by a raw asyncio server in another process (a minimal handshake, then the whole stream
and a Close) to each client in turn, in interleaved rounds:

* ``websockets``: websockets + ``json.loads`` per message, 1 s bars in a dict;
* ``picows``: picows + ``orjson.loads`` per frame, 1 s bars in a dict;
* ``fastfeed``: ``fastfeed.connect``, every socket read decoded by Rust into numpy batches
  (``next_batch``), 1 s bars in the SDK's rings;
* ``raw``: the ceiling, a plain asyncio protocol that only counts the same bytes.

Each client's time runs from connecting to having its bars; all must compute the same bars.

    python -m fastfeed.bench.client KIND EVENTS    # the stream server (prints its port)
"""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from types import ModuleType
from typing import Any, cast

import numpy as np
from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

import fastfeed
from fastfeed import (
    EventEncoder,
    WSClientHandshake,
    ws_accept_key,
    ws_close_payload,
    ws_encode_frames,
)
from fastfeed._loop import new_event_loop
from fastfeed._loop import run as run_loop
from fastfeed.bench._harness import Result, Rounds, Tick, optional, popen, python_module, stop

N_CONTRACTS = 20
CHUNK = 256 << 10
STOCKS = "AAPL MSFT NVDA AMZN GOOGL META TSLA AVGO JPM V UNH XOM MA HD PG COST JNJ ABBV WMT NFLX"

#: ``(contract key, date, bucket start ms)`` → ``[open, high, low, close, volume, count]``
DictBars = dict[tuple[str, int, int], list[Any]]
BarRows = list[tuple[Any, ...]]
Client = Callable[[str, int], Awaitable[Callable[[], BarRows]]]


class Workload:
    """``kind="option"``: 20 SPY options (~275-byte frames, the long contract object);
    ``kind="stock"``: 20 stocks (~190-byte frames). ``events`` TRADEs, pre-framed."""

    def __init__(self, kind: str, events: int) -> None:
        rng = np.random.default_rng(11)
        encoder = EventEncoder()
        contracts: list[tuple[str, str, int | None, int | None, str | None]]
        if kind == "option":
            contracts = [
                ("OPTION", "SPY", 20250321, 560_000 + 5_000 * (i // 2), "CP"[i % 2])
                for i in range(N_CONTRACTS)
            ]
        else:
            contracts = [("STOCK", s, None, None, None) for s in STOCKS.split()]
        ids = np.array([encoder.add_contract(*c) for c in contracts], dtype=np.uint32)
        contract_id = ids[rng.integers(0, N_CONTRACTS, events)]
        ms = np.sort(rng.integers(34_200_000, 34_200_000 + 3_600_000, events)).astype(np.uint32)
        self.events = events
        self.wire: bytes = encoder.encode_trades(
            contract_id,
            ms,
            np.arange(1_000_000, 1_000_000 + events, dtype=np.int64),
            rng.integers(1, 500, events).astype(np.uint32),
            rng.integers(0, 130, events).astype(np.uint32),
            rng.integers(5, 6_000, events) / 100.0,
            rng.integers(1, 70, events).astype(np.uint32),
            np.full(events, 20250321, dtype=np.uint32),
        )
        self.close = ws_encode_frames(8, [ws_close_payload(1000, "end of stream")])


class StreamServer(asyncio.Protocol):
    """Answers one WebSocket handshake, then writes the pre-framed stream (in 256 KiB writes,
    pausing when the transport buffer is full, as a real server does) and a Close."""

    def __init__(self, workload: Workload) -> None:
        self.workload = workload
        self.head: bytes | None = b""
        self.transport: asyncio.Transport | None = None
        self.offset = 0
        self.paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass
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
        assert self.transport is not None
        if self.head is None:
            # The client's Close answers ours, which follows the whole stream: then end the TCP
            # connection, as servers do. Anything earlier (a client's keepalive Ping on a slow
            # round) is not an end: closing then would cut the stream short.
            if self.offset == len(self.workload.wire):
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
        self.head = None
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
    return sorted((*key, *bar) for key, bar in bars.items())


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


async def run_websockets(url: str, events: int) -> Callable[[], BarRows]:
    import websockets

    bars: DictBars = {}
    loads = json.loads
    async with websockets.connect(url, compression=None, max_size=None) as ws:
        async for message in ws:
            add_event(bars, loads(message))
    return lambda: dict_rows(bars)


class PicowsClient(WSListener):
    def __init__(self, orjson: ModuleType) -> None:
        super().__init__()
        self.loads = orjson.loads
        self.bars: DictBars = {}

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.TEXT:
            add_event(self.bars, self.loads(frame.get_payload_as_bytes()))
        elif frame.msg_type == WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code())
            transport.disconnect()


async def run_picows(url: str, events: int) -> Callable[[], BarRows]:
    orjson = optional("orjson")
    assert orjson is not None
    transport, client = await ws_connect(lambda: PicowsClient(orjson), url)
    await transport.wait_disconnected()
    assert isinstance(client, PicowsClient)
    bars = client.bars
    return lambda: dict_rows(bars)


async def run_fastfeed(url: str, events: int) -> Callable[[], BarRows]:
    async with fastfeed.connect(url, reconnect=False, bar_intervals=("1s",)) as feed:
        count = 0
        while (batch := await feed.next_batch()) is not None:
            count += len(batch)
    assert count == events, (count, events)

    def rows() -> BarRows:
        out: BarRows = []
        for contract in feed.contracts:
            ring = feed.bars(contract, "1s")
            open_bar = feed.open_bar(contract, "1s")
            assert open_bar is not None
            out += [(str(contract), *bar[:8]) for bar in [*ring.tolist(), open_bar.tolist()]]
        return sorted(out)

    return rows


class RawCounter(asyncio.Protocol):
    """The ceiling: the same handshake and bytes into a protocol that only counts them."""

    def __init__(self, port: int, expected: int) -> None:
        self.handshake = WSClientHandshake("127.0.0.1", port, "/v1/events", b"0123456789abcdef")
        self.expected = expected
        self.received = 0
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass
        self.transport.write(self.handshake.request)

    def data_received(self, data: bytes) -> None:
        if not self.handshake.done:
            rest = self.handshake.feed(data)
            if rest is None:
                return
            data = rest
        self.received += len(data)
        if self.received >= self.expected and not self.done.done():
            self.done.set_result(None)
            assert self.transport is not None
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_exception(ConnectionError(f"lost after {self.received} bytes"))


def run_raw(expected_bytes: int) -> Client:
    async def raw(url: str, events: int) -> Callable[[], BarRows]:
        port = int(url.rsplit(":", 1)[1].split("/", 1)[0])
        loop = asyncio.get_running_loop()
        _, counter = await loop.create_connection(
            lambda: RawCounter(port, expected_bytes), "127.0.0.1", port
        )
        await counter.done
        return list

    return raw


async def timed(url: str, events: int, client: Client) -> tuple[float, BarRows]:
    """Seconds from connecting until the client has its bars; then the bars as rows."""
    start = time.perf_counter()
    result = await client(url, events)
    seconds = time.perf_counter() - start
    return seconds, result()


async def serve_forever(kind: str, events: int) -> None:
    """The stream server process: prints its port, serves every connection the same stream."""
    workload = Workload(kind, events)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: StreamServer(workload), "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], len(workload.wire), flush=True)
    await loop.run_in_executor(None, sys.stdin.read)  # until the parent closes our stdin


class StreamProcess:
    """The stream server in a child process, so its writes use the other core, not ours."""

    def __init__(self, kind: str, events: int) -> None:
        self.process = popen(
            python_module("fastfeed.bench.client", kind, str(events)),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert self.process.stdout is not None
        port, size = self.process.stdout.readline().split()
        self.url = f"ws://127.0.0.1:{int(port)}/v1/events"
        self.wire_bytes = int(size)

    def close(self) -> None:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.close()
        try:
            self.process.wait(10)
        finally:
            stop(self.process)
            self.process.stdout.close()


def clients(skipped: dict[str, str]) -> dict[str, Client]:
    """The installed clients, fastfeed last; what is missing goes to ``skipped``."""
    out: dict[str, Client] = {}
    if optional("websockets") is None:
        skipped["websockets"] = "websockets is not installed"
    else:
        out["websockets"] = run_websockets
    if optional("orjson") is None:
        skipped["picows"] = "orjson is not installed"
    else:
        out["picows"] = run_picows
    out["fastfeed"] = run_fastfeed
    return out


def measure(
    kind: str, events: int, rounds: int, tick: Tick, names: tuple[str, ...] | None = None
) -> tuple[Result, dict[str, BarRows]]:
    """Interleaved rounds of every installed client (or ``names``) and the raw ceiling against
    one stream server; the result and each client's bars (which must all be equal)."""
    skipped: dict[str, str] = {}
    chosen = clients(skipped)
    if names is not None:
        chosen = {name: client for name, client in chosen.items() if name in names}
    server = StreamProcess(kind, events)
    chosen["raw"] = run_raw(server.wire_bytes + 4)  # + the Close frame's header and code
    times = Rounds()
    outputs: dict[str, BarRows] = {}

    async def all_rounds() -> None:
        for _ in range(rounds):
            for name, client in chosen.items():
                seconds, rows = await timed(server.url, events, client)
                times.add(name, seconds)
                if name != "raw":
                    outputs[name] = rows
                tick()

    sdk_logger = logging.getLogger("fastfeed.client")
    level = sdk_logger.level
    sdk_logger.setLevel(logging.ERROR)  # the stream's Close is logged as a disconnect warning
    try:
        with asyncio.Runner(loop_factory=new_event_loop) as runner:
            runner.run(all_rounds())
    finally:
        sdk_logger.setLevel(level)
        server.close()
    expected = outputs["fastfeed"]
    match = all(rows == expected for rows in outputs.values())
    result = Result(
        scenario="client",
        title=f"client ingest, {events:,} {kind} TRADEs + 1 s bars",
        unit="msgs/s",
        rates={name: events / seconds for name, seconds in times.medians().items()},
        rounds=rounds,
        ceiling="raw",
        skipped=skipped,
        outputs_match=match,
    )
    return result, outputs


#: TRADEs and rounds by mode.
PLAN = {"smoke": (5_000, 1), "quick": (30_000, 3), "full": (200_000, 5)}


def steps(mode: str) -> int:
    return PLAN[mode][1] * (1 + len(clients({})))


def run(mode: str, tick: Tick) -> list[Result]:
    """Option TRADEs: ``quick`` 30,000, 3 rounds; ``full`` 200,000, 5 rounds."""
    events, rounds = PLAN[mode]
    result, _ = measure("option", events, rounds, tick)
    return [result]


if __name__ == "__main__":
    run_loop(serve_forever(sys.argv[1], int(sys.argv[2])))
