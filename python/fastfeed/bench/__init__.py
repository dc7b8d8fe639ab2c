"""``python -m fastfeed bench``: the comparison harness, on the user's own machine.

One module per scenario (``client``, ``egress``, ``fanout``, ``bars``, ``replay``), each with
``steps(mode)`` (how many measured steps, for the progress bar) and ``run(mode, tick)`` (the
interleaved rounds beside every installed baseline, as :class:`Result` rows). The pytest
suites in ``benches/`` run the same code. Modes: ``quick`` (under a minute on 2 cores),
``full`` (the README's Performance figures) and ``smoke`` (seconds; the test suite's check of
the command itself).
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import signal
import sys
import time
from pathlib import Path
from types import FrameType, ModuleType
from typing import Any

from fastfeed.bench._harness import Result, children, machine, table

__all__ = ["SCENARIOS", "Result", "add_bench_arguments", "run_bench"]

#: The scenarios in the order they run, with what each measures.
SCENARIOS: dict[str, str] = {
    "client": "client ingest: SDK next_batch + 1 s bars vs picows + orjson, websockets + json",
    "egress": "server egress: serve --rate max to one client vs picows + orjson send per event",
    "fanout": "fan-out to 1/10/100 /v1/stream clients vs picows, websockets.broadcast",
    "bars": "batch OHLC: aggregate_trades vs pandas, numpy, polars",
    "replay": "replay --speed max to one SDK client vs picows sending line by line",
    "latency": "end-to-end latency source → SDK at 1 k/10 k/100 k events/s vs picows + orjson",
}

PROGRAM = "python -m fastfeed bench"


def add_bench_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``bench``."""
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smaller workloads and fewer rounds: under a minute on 2 cores (default: the "
        "full sizes of the README's Performance table, several minutes)",
    )
    parser.add_argument(
        "--json",
        metavar="OUT",
        type=Path,
        help="also write the results to OUT as JSON (medians, ratios, skipped baselines, "
        "the machine), for a CI to compare runs",
    )
    parser.add_argument(
        "--only",
        metavar="NAMES",
        help="run only these scenarios, comma-separated: " + ", ".join(SCENARIOS),
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="tiny workloads, one round, a few seconds: checks that the harness runs here; "
        "its figures mean nothing",
    )


def _scenario(name: str) -> ModuleType:
    return importlib.import_module(f"fastfeed.bench.{name}")


def _chosen(only: str | None) -> list[str]:
    if only is None:
        return list(SCENARIOS)
    names = [name.strip() for name in only.split(",") if name.strip()]
    unknown = [name for name in names if name not in SCENARIOS]
    if unknown or not names:
        raise ValueError(
            f"--only: unknown scenario {', '.join(unknown) or repr(only)}; "
            f"choose from {', '.join(SCENARIOS)}"
        )
    return [name for name in SCENARIOS if name in names]


def run_bench(args: argparse.Namespace) -> int:
    """Runs ``bench``; returns the exit status (0, 1 when a scenario failed or its outputs
    disagreed with a baseline's, 2 for bad flags, 130 after Ctrl-C, 143 after SIGTERM); child
    processes are killed in every case."""
    try:
        names = _chosen(args.only)
    except ValueError as error:
        print(f"{PROGRAM}: error: {error}", file=sys.stderr)
        return 2
    mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        return _run(names, mode, args.json)
    except KeyboardInterrupt as stopped:  # Ctrl-C, or SIGTERM (see _terminate)
        print(f"\n{PROGRAM}: interrupted", file=sys.stderr)
        return 143 if isinstance(stopped, _Terminated) else 130
    finally:
        signal.signal(signal.SIGTERM, previous)


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C's KeyboardInterrupt so the same cleanup runs."""


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise _Terminated


def _run(names: list[str], mode: str, out: Path | None) -> int:
    from tqdm import tqdm

    started = time.time()
    results: list[Result] = []
    failed: dict[str, str] = {}
    timing: dict[str, float] = {}
    modules = {name: _scenario(name) for name in names}
    total = sum(int(module.steps(mode)) for module in modules.values())
    print(
        f"fastfeed bench ({mode}): {', '.join(names)}; medians of interleaved rounds, "
        "fastfeed's lead = its rate / the other's (for latencies: the other's time / its)",
        file=sys.stderr,
    )
    with (
        children(),
        tqdm(total=total, unit="step", file=sys.stderr, leave=False, disable=None) as bar,
    ):
        for name, module in modules.items():
            bar.set_description(name)
            done = bar.n
            began = time.perf_counter()
            try:
                results += module.run(mode, lambda: bar.update(1))
            except Exception as error:  # one scenario's failure: report it, run the rest
                failed[name] = f"{type(error).__name__}: {error}"
                bar.write(f"{name}: failed: {failed[name]}", file=sys.stderr)
            timing[name] = round(time.perf_counter() - began, 1)
            bar.update(done + int(module.steps(mode)) - bar.n)
    seconds = time.time() - started
    print(table(results))
    mismatched = [r.title for r in results if not r.outputs_match]
    for title in mismatched:
        print(f"{PROGRAM}: outputs differ from a baseline's: {title}", file=sys.stderr)
    spent = ", ".join(f"{name} {value:.0f} s" for name, value in timing.items())
    print(f"{len(results)} measurements in {seconds:.0f} s ({spent})", file=sys.stderr)
    if out is not None:
        document: dict[str, Any] = {
            "fastfeed": _version(),
            "mode": mode,
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
            "seconds": round(seconds, 1),
            "scenario_seconds": timing,
            "machine": machine(),
            "scenarios": names,
            "results": [r.as_json() for r in results],
            "failed": failed,
        }
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(_finite(document), indent=2, allow_nan=False) + "\n")
    return 1 if failed or mismatched else 0


def _finite(value: Any) -> Any:
    """``value`` with NaN and infinities (a figure this platform cannot measure) as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_finite(item) for item in value]
    return value


def _version() -> str:
    from fastfeed import __version__

    return __version__
