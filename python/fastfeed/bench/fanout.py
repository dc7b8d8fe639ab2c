"""Fan-out (SPEC §10): one source at max rate to 1, 10 and 100 WebSocket clients subscribed to
the same streams, four servers:

* ``broadcast``: ``websockets.broadcast(clients, message)`` per event (pre-encoded);
* ``picows``: picows, ``orjson.dumps`` once per event and one ``send()`` per event per client;
* ``bulk``: the ceiling, pre-built frames written in ~256 KiB chunks, one write per client per
  chunk;
* ``fastfeed``: ``python -m fastfeed serve --rate max`` on ``/v1/stream``, every client
  subscribing (SPEC §4) to every stream of the synthetic market.

All four send the same messages: ``fastfeed serve``'s events, recorded once over
``/v1/events`` and wrapped as ``/v1/stream`` wraps them (``_fanout_support``). Every server
runs in its own process; the clients are spread over two worker processes
(``_fanout_clients``), each running its connections on uvloop, counting messages with the Rust
``WSFrameDecoder.count`` (no Python object per message; samples are parsed and checked). A
round: every client connects, then all subscribe at once and each counts the same ``count``
data messages and disconnects; the round lasts from the subscriptions to the last client's
last message. Measured: aggregate delivered events/s (sum over clients), the server
process's CPU (utime + stime from ``/proc/<pid>/stat``) per delivered event, and the client
workers' CPU per delivered event (to show the clients are not what limits a round).
Rounds are interleaved (broadcast, picows, bulk, fastfeed, broadcast, …); medians are
reported.

    pytest benches/bench_fanout.py --benchmark-disable     # correctness, small counts
    python benches/bench_fanout.py --full [--rounds 5]     # the detailed table
    python -m fastfeed bench --only fanout [--quick]       # the summary beside the others
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from fastfeed._loop import run as run_loop
from fastfeed.bench._fanout_support import (
    record_market,
    save_messages,
    stream_names,
    subscribe_command,
)
from fastfeed.bench._harness import (
    Result,
    Tick,
    free_port,
    optional,
    popen,
    python_module,
    spawn,
    stop,
    wait_listening,
)

SIZES = (1, 10, 100)
BASELINES = ("broadcast", "picows", "bulk")
VARIANTS = (*BASELINES, "fastfeed")
WORKERS = 2
PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class Mode:
    """Messages per client per round (by client count), rounds, distinct recorded messages.

    ``fast_factor`` multiplies the count for the servers that write in bulk (``bulk`` and
    ``fastfeed``), so a short run still gives them rounds long enough to measure while the
    per-event baselines' rounds stay about a second.
    """

    counts: dict[int, int]
    rounds: int
    messages: int
    verify: str
    fast_factor: int = 1


QUICK = Mode({1: 2_000, 10: 1_000, 100: 200}, rounds=1, messages=20_000, verify="all")
FULL = Mode({1: 400_000, 10: 60_000, 100: 12_000}, rounds=5, messages=50_000, verify="sample")


@dataclass(frozen=True)
class Round:
    clients: int
    count: int
    seconds: float
    cpu_seconds: float
    #: CPU of the client workers (user + system, both together) over the round.
    client_cpu_seconds: float

    @property
    def events(self) -> int:
        return self.clients * self.count

    @property
    def rate(self) -> float:
        """Delivered events per second, summed over clients."""
        return self.events / self.seconds

    @property
    def cpu_per_event(self) -> float:
        """Server CPU seconds per delivered event."""
        return self.cpu_seconds / self.events

    @property
    def client_cpu_per_event(self) -> float:
        """Client CPU seconds per delivered event (both workers)."""
        return self.client_cpu_seconds / self.events


@dataclass
class Results:
    rounds: dict[tuple[str, int], list[Round]] = field(default_factory=dict)

    def add(self, name: str, result: Round) -> None:
        self.rounds.setdefault((name, result.clients), []).append(result)

    def rate(self, name: str, clients: int) -> float:
        return statistics.median(r.rate for r in self.rounds[name, clients])

    def cpu(self, name: str, clients: int) -> float:
        return statistics.median(r.cpu_per_event for r in self.rounds[name, clients])

    def client_cpu(self, name: str, clients: int) -> float:
        return statistics.median(r.client_cpu_per_event for r in self.rounds[name, clients])

    def has(self, name: str, clients: int) -> bool:
        return (name, clients) in self.rounds


def _die_with_parent() -> None:
    """Runs in the child before exec: SIGTERM it when the benchmark process dies (Linux)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _spawn(
    args: list[str], port: int, log: IO[bytes], wait: bool = True
) -> subprocess.Popen[bytes]:
    """Starts a server; with ``wait``, returns once it listens on ``port``."""
    linux = sys.platform.startswith("linux")
    options: dict[str, Any] = {"stdout": log, "stderr": log}
    options["preexec_fn"] = _die_with_parent if linux else None
    return spawn(args, port, **options) if wait else popen(args, **options)


def _cpu_seconds(pid: int) -> float:
    """utime + stime of process ``pid`` (all its threads); NaN without Linux's ``/proc``."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return float("nan")
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Worker:
    """A ``fanout_clients`` process, driven over its stdin/stdout."""

    def __init__(self, log: IO[bytes]) -> None:
        self.process = popen(
            python_module("fastfeed.bench._fanout_clients"),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
        )

    def send(self, command: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(command).encode() + b"\n")
        self.process.stdin.flush()

    def reply(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line, "client worker exited"
        reply: dict[str, Any] = json.loads(line)
        return reply

    def close(self) -> None:
        self.send({"op": "quit"})
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(10)
        finally:
            stop(self.process)
            assert self.process.stdout is not None
            self.process.stdout.close()


def _timeline(reply: dict[str, Any], start: float) -> str:
    """When a worker's clients subscribed, got their first and last message (ms after the
    round began), and how large their socket reads were."""

    def span(times: list[float]) -> str:
        return f"{(min(times) - start) * 1e3:.1f}..{(max(times) - start) * 1e3:.1f} ms"

    return (
        f"subscribed +{(reply['sent'] - start) * 1e3:.1f} ms, first +{span(reply['first'])}, "
        f"last +{span(reply['last'])}, {reply['reads']} reads of "
        f"{reply['bytes'] / max(reply['reads'], 1) / 1024:.0f} KiB, "
        f"CPU {reply['cpu'] * 1e3:.0f} ms ({reply['cpu_system'] * 1e3:.0f} ms system)"
    )


class Unavailable(Exception):
    """A server refused the clients' handshakes (fastfeed before ``/v1/stream``)."""


class FanoutBench:
    """The four servers, the two client workers and the recorded messages."""

    def __init__(self, mode: Mode, baselines: Sequence[str] = BASELINES) -> None:
        self.mode = mode
        self.baselines = tuple(baselines)
        self.dir = tempfile.TemporaryDirectory(prefix="fanout-")
        root = Path(self.dir.name)
        self.logs = root
        self.files: list[IO[bytes]] = []
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.ports = {name: free_port() for name in VARIANTS}
        self.workers: list[Worker] = []
        try:
            self._start(root)
        except BaseException:
            self.close()
            raise

    def _start(self, root: Path) -> None:
        port = self.ports["fastfeed"]
        self.processes["fastfeed"] = _spawn(
            python_module(
                "fastfeed", "serve", "--rate", "max", "--port", str(port), "--log-level", "WARNING"
            ),
            port,
            self._log("fastfeed"),
        )
        universe, messages = run_loop(record_market(port, self.mode.messages))
        self.streams = stream_names(universe)
        self.subscribe = subscribe_command(self.streams).decode()
        self.message_bytes = sum(map(len, messages)) / len(messages)
        path = root / "messages.jsonl"
        save_messages(path, messages)
        for name in self.baselines:
            args = python_module(
                "fastfeed.bench._fanout_servers", name, str(self.ports[name]), str(path)
            )
            # Started together (their imports overlap), then waited for one by one.
            self.processes[name] = _spawn(args, self.ports[name], self._log(name), wait=False)
        self.workers = [Worker(self._log(f"worker{i}")) for i in range(WORKERS)]
        for name in self.baselines:
            wait_listening(self.ports[name], self.processes[name])

    def _log(self, name: str) -> IO[bytes]:
        log = (self.logs / f"{name}.log").open("wb")
        self.files.append(log)
        return log

    def log_tail(self, name: str, size: int = 2000) -> str:
        """The end of what process ``name`` wrote (``worker0``, ``fastfeed``, …)."""
        return (self.logs / f"{name}.log").read_bytes()[-size:].decode(errors="replace")

    def round(self, name: str, clients: int, count: int | None = None) -> Round:
        """One round of ``clients`` clients of server ``name``, each counting ``count``."""
        if count is None:
            fast = self.mode.fast_factor if name in ("bulk", "fastfeed") else 1
            count = self.mode.counts[clients] * fast
        path = "/v1/stream" if name == "fastfeed" else "/"
        shares = [clients // WORKERS + (i < clients % WORKERS) for i in range(WORKERS)]
        busy = [(w, n) for w, n in zip(self.workers, shares, strict=True) if n]
        for worker, n in busy:
            worker.send({"op": "connect", "port": self.ports[name], "path": path, "clients": n})
        errors = [r["error"] for r in [w.reply() for w, _ in busy] if not r["ok"]]
        if errors:
            raise Unavailable(f"{name}: {errors[0]}")
        go = {
            "op": "go",
            "subscribe": self.subscribe,
            "streams": self.streams,
            "count": count,
            "verify": self.mode.verify,
        }
        pid = self.processes[name].pid
        cpu = _cpu_seconds(pid)
        start = time.perf_counter()
        for worker, _ in busy:
            worker.send(go)
        replies = [w.reply() for w, _ in busy]
        cpu = _cpu_seconds(pid) - cpu
        for reply in replies:
            assert reply["ok"], f"{name} x{clients}: {reply['error']}"
            assert not reply["errors"], f"{name} x{clients}: {reply['errors']}"
            # Every client received exactly ``count`` well-formed data messages.
            assert reply["counts"] == [count] * len(reply["counts"]), reply["counts"]
            assert reply["checked"] > 0
        end = max(t for reply in replies for t in reply["last"])
        if os.environ.get("FANOUT_DEBUG"):
            for reply in replies:
                print(f"{name} x{clients}: {_timeline(reply, start)}")
        client_cpu = sum(reply["cpu"] for reply in replies)
        return Round(clients, count, end - start, cpu, client_cpu)

    def run(self, sizes: Sequence[int], names: Sequence[str], rounds: int) -> Results:
        """``rounds`` interleaved rounds of every server in ``names`` for each size."""
        results = Results()
        for clients in sizes:
            for _ in range(rounds):
                for name in names:
                    results.add(name, self.round(name, clients))
        return results

    def close(self) -> None:
        for worker in self.workers:
            worker.close()
        for process in self.processes.values():
            stop(process)
        for file in self.files:
            file.close()
        self.dir.cleanup()


@dataclass(frozen=True)
class Target:
    what: str
    value: float
    goal: float

    @property
    def met(self) -> bool:
        return self.value >= self.goal


def targets(results: Results) -> list[Target]:
    """SPEC §10 fan-out targets, at 100 clients (CPU: 100 clients against 1)."""
    found: list[Target] = []
    if all(results.has(n, 100) for n in ("fastfeed", "picows", "bulk")):
        fastfeed = results.rate("fastfeed", 100)
        found.append(Target("fastfeed / picows at 100", fastfeed / results.rate("picows", 100), 25))
        found.append(Target("fastfeed / bulk at 100", fastfeed / results.rate("bulk", 100), 0.4))
        if results.has("fastfeed", 1):
            ratio = results.cpu("fastfeed", 1) / results.cpu("fastfeed", 100)
            found.append(Target("fastfeed CPU/event at 1 / at 100", ratio, 3))
    return found


def table(results: Results, rounds: int) -> str:
    names = [n for n in VARIANTS if any(k[0] == n for k in results.rounds)]
    sizes = sorted({k[1] for k in results.rounds})
    lines = [f"fan-out: medians of {rounds} interleaved rounds (events/s summed over clients)"]
    lines.append(
        f"{'clients':>7}  {'server':<10} {'M events/s':>10} {'CPU µs/event':>13}"
        f" {'client CPU µs/event':>20}"
    )
    for clients in sizes:
        for name in names:
            if results.has(name, clients):
                rate = results.rate(name, clients) / 1e6
                cpu = results.cpu(name, clients) * 1e6
                client = results.client_cpu(name, clients) * 1e6
                lines.append(f"{clients:>7}  {name:<10} {rate:>10.3f} {cpu:>13.3f} {client:>20.3f}")
    for clients in sizes:
        pairs = [("fastfeed", n) for n in BASELINES] + [("bulk", "picows"), ("picows", "broadcast")]
        ratios = [
            f"{a} ÷ {b} {results.rate(a, clients) / results.rate(b, clients):.2f}"
            for a, b in pairs
            if results.has(a, clients) and results.has(b, clients)
        ]
        lines.append(f"at {clients}: " + ", ".join(ratios))
    for target in targets(results):
        verdict = "PASS" if target.met else "FAIL"
        lines.append(f"target {target.what}: {target.value:.2f} (≥ {target.goal}) {verdict}")
    return "\n".join(lines)


#: Mode by ``bench`` mode (``smoke`` and ``quick`` check every message).
MODES = {
    "smoke": Mode({1: 500, 10: 100, 100: 20}, rounds=1, messages=5_000, verify="all"),
    "quick": Mode(
        {1: 5_000, 10: 1_000, 100: 400}, rounds=3, messages=20_000, verify="sample", fast_factor=8
    ),
    "full": FULL,
}
#: Client counts by ``bench`` mode.
BENCH_SIZES = {"smoke": (1, 10), "quick": (1, 100), "full": SIZES}


def installed_baselines(skipped: dict[str, str]) -> list[str]:
    """The baselines whose packages are installed; the others go to ``skipped``."""
    needs = {"broadcast": "websockets", "picows": "orjson", "bulk": None}
    names = []
    for name, package in needs.items():
        if package is not None and optional(package) is None:
            skipped[name] = f"{package} is not installed"
        else:
            names.append(name)
    return names


def steps(mode: str) -> int:
    names = installed_baselines({})
    return len(BENCH_SIZES[mode]) * MODES[mode].rounds * (len(names) + 1)


def run(mode: str, tick: Tick) -> list[Result]:
    """Interleaved rounds of every installed server at each client count; one result per
    count (fastfeed's ceiling: bulk, pre-built frames written in bulk)."""
    skipped: dict[str, str] = {}
    names = installed_baselines(skipped)
    bench = FanoutBench(MODES[mode], names)
    try:
        results = Results()
        rounds = bench.mode.rounds
        for clients in BENCH_SIZES[mode]:
            for _ in range(rounds):
                for name in [*names, "fastfeed"]:
                    results.add(name, bench.round(name, clients))
                    tick()
    finally:
        bench.close()
    out = []
    for clients in BENCH_SIZES[mode]:
        rates = {name: results.rate(name, clients) for name in [*names, "fastfeed"]}
        out.append(
            Result(
                scenario="fanout",
                title=f"fan-out to {clients} /v1/stream client{'s' if clients > 1 else ''}",
                unit="events/s",
                rates=rates,
                rounds=rounds,
                ceiling="bulk" if "bulk" in rates else None,
                skipped=skipped,
                extra={
                    "server_cpu_us_per_event": {
                        name: round(results.cpu(name, clients) * 1e6, 3) for name in rates
                    }
                },
            )
        )
    return out
