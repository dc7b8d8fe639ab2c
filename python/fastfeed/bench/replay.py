"""Replay: ``serve --source replay:FILE --speed max`` to one SDK client, beside a picows server
that reads the file line by line and sends one frame per line, to the same client.

The recording is time-ordered trades of 50 stocks as JSON Lines, written by the Rust encoder
(what ``record`` writes). A round starts the server, receives the whole file with the SDK and
stops the server; rounds are interleaved. The server's RSS is sampled at 1 M and 10 M events
received and at the end (flat within ±10 MiB from 1 M to 10 M events).

    python -m fastfeed.bench.replay PORT FILE    # the baseline server
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import numpy as np
from picows import WSCloseCode, WSFrame, WSMsgType, WSTransport, ws_create_server

import fastfeed
from fastfeed import EventEncoder
from fastfeed._loop import run as run_loop
from fastfeed.bench._harness import (
    Result,
    Rounds,
    Tick,
    free_port,
    popen,
    python_module,
    stop,
    wait_listening,
)
from fastfeed.bench._picows import PumpingListener

SYMBOLS = [f"S{i:02d}" for i in range(50)]


def write_recording(path: Path, n: int) -> None:
    """``n`` time-ordered trades of :data:`SYMBOLS` as JSON Lines, 100,000 per encode call."""
    enc = EventEncoder()
    ids = np.array([enc.add_contract("STOCK", s) for s in SYMBOLS], dtype=np.uint32)
    rng = np.random.default_rng(0)
    chunk = 100_000
    with path.open("wb") as out:
        for start in range(0, n, chunk):
            k = min(chunk, n - start)
            seq = np.arange(start, start + k, dtype=np.int64)
            out.write(
                enc.encode_trades(
                    ids[rng.integers(0, len(ids), k)],
                    (34_200_000 + seq // 100).astype(np.uint32),
                    seq,
                    rng.integers(1, 1000, k).astype(np.uint32),
                    np.zeros(k, dtype=np.uint32),
                    np.round(rng.uniform(10, 500, k), 2),
                    np.full(k, 4, dtype=np.uint32),
                    np.full(k, 20250321, dtype=np.uint32),
                    framing="jsonl",
                )
            )


def rss_mib(pid: int) -> float:
    """The resident set of process ``pid`` in MiB (Linux), NaN where it cannot be read."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return float("nan")
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def sdk_replay(url: str, pid: int, expected: int) -> tuple[float, dict[int, float]]:
    """Receives the whole replay from ``url`` with the SDK; returns (events/s, {events: RSS
    MiB of the server ``pid``})."""
    rss: dict[int, float] = {}
    marks = [m for m in (1_000_000, 10_000_000) if m < expected]
    async with fastfeed.connect(url, reconnect=False, overflow="pause") as feed:
        await feed.subscribe("FULL_TRADES", sec_type="STOCK")
        count = 0
        started = 0.0
        while (batch := await feed.next_batch()) is not None:
            if count == 0 and len(batch):
                started = time.perf_counter()
            count += len(batch)
            if marks and count >= marks[0]:
                rss[marks.pop(0)] = rss_mib(pid)
        elapsed = time.perf_counter() - started
    if count != expected:
        raise RuntimeError(f"received {count} events of {expected}")
    rss[count] = rss_mib(pid)
    return count / elapsed, rss


def replay_round(server: list[str], port: int, expected: int) -> tuple[float, dict[int, float]]:
    """Starts ``server`` (listening on ``port``), receives the replay, stops it."""
    process = popen(server)
    try:
        wait_listening(port, process)
        return run_loop(sdk_replay(f"ws://127.0.0.1:{port}/v1/events", process.pid, expected))
    finally:
        stop(process, 30)


def fastfeed_server(port: int, path: Path) -> list[str]:
    return python_module(
        "fastfeed", "serve", "--port", str(port), "--source", f"replay:{path}",
        "--speed", "max", "--log-level", "WARNING",
    )  # fmt: skip


def baseline_server(port: int, path: Path) -> list[str]:
    return python_module("fastfeed.bench.replay", str(port), str(path))


# ---- the baseline server ---------------------------------------------------------------------


class Replayer(PumpingListener):
    """Sends the file one line per frame once the client's first command arrives."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path

    def on_text(self, transport: WSTransport, frame: WSFrame) -> None:
        if self.task is None:
            # The first command (a subscription) starts the replay, as in fastfeed.
            transport.send(WSMsgType.TEXT, b'{"header":{"type":"REQ_RESPONSE","status":'
                           b'"CONNECTED","response":"OK","req_id":1}}')  # fmt: skip
            self.start(transport)

    async def pump(self, transport: WSTransport) -> None:
        send = transport.send
        text = WSMsgType.TEXT
        resumed = self.resumed
        with open(self.path, "rb") as lines:
            for i, line in enumerate(lines):
                send(text, line.rstrip(b"\n"))
                if not resumed.is_set():
                    await resumed.wait()
                elif i % 256 == 255:
                    await asyncio.sleep(0)  # let the loop read and run timers
        transport.send_close(WSCloseCode.OK, b"end of replay")


async def serve_baseline(port: int, path: str) -> None:
    server = await ws_create_server(lambda _request: Replayer(path), "127.0.0.1", port)
    await server.serve_forever()


# ---- the comparison --------------------------------------------------------------------------


def measure(path: Path, events: int, rounds: int, tick: Tick) -> Result:
    """Interleaved rounds: fastfeed's replay, then the picows line server, on ``path``."""
    rates = Rounds()
    memory: dict[int, float] = {}
    for _ in range(rounds):
        port = free_port()
        rate, memory = replay_round(fastfeed_server(port, path), port, events)
        rates.add("fastfeed", rate)
        tick()
        port = free_port()
        rates.add("picows", replay_round(baseline_server(port, path), port, events)[0])
        tick()
    return Result(
        scenario="replay",
        title=f"replay --speed max to 1 SDK client, {events:,} events",
        unit="events/s",
        rates=rates.medians(),
        rounds=rounds,
        extra={"server_rss_mib": {str(k): round(v, 1) for k, v in memory.items()}},
    )


#: Events and rounds by mode.
PLAN = {"smoke": (5_000, 1), "quick": (50_000, 3), "full": (1_000_000, 3)}


def steps(mode: str) -> int:
    return PLAN[mode][1] * 2


def run(mode: str, tick: Tick) -> list[Result]:
    """``quick``: 50,000 events; ``full``: 1,000,000. 3 rounds."""
    import tempfile

    events, rounds = PLAN[mode]
    with tempfile.TemporaryDirectory(prefix="fastfeed-bench-") as tmp:
        path = Path(tmp) / f"trades-{events}.jsonl"
        write_recording(path, events)
        return [measure(path, events, rounds, tick)]


if __name__ == "__main__":
    import sys

    run_loop(serve_baseline(int(sys.argv[1]), sys.argv[2]))
