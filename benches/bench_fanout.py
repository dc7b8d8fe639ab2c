"""Fan-out (SPEC §10): one source at max rate to 1, 10 and 100 WebSocket clients subscribed to
the same streams, beside websockets' broadcast, picows one send per event per client, and the
ceiling (pre-built frames written in bulk). The harness is ``fastfeed.bench.fanout`` (its
docstring describes the rounds); this file runs it as a pytest suite and prints its detailed
table.

    pytest benches/bench_fanout.py --benchmark-disable     # correctness, small counts
    python benches/bench_fanout.py --full [--rounds 5]     # the table of medians and ratios
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from typing import Any

import pytest
from fastfeed.bench._harness import children
from fastfeed.bench.fanout import (
    BASELINES,
    FULL,
    QUICK,
    SIZES,
    VARIANTS,
    FanoutBench,
    Results,
    table,
    targets,
)


def _record(benchmark: Any, results: Results) -> None:
    for (name, clients), _ in results.rounds.items():
        benchmark.extra_info[f"{name}_{clients}_events_per_s"] = round(results.rate(name, clients))
        cpu = results.cpu(name, clients) * 1e9
        benchmark.extra_info[f"{name}_{clients}_cpu_ns_per_event"] = round(cpu)
        client = results.client_cpu(name, clients) * 1e9
        benchmark.extra_info[f"{name}_{clients}_client_cpu_ns_per_event"] = round(client)
    for target in targets(results):
        benchmark.extra_info[target.what] = round(target.value, 2)
        benchmark.extra_info[f"{target.what} met"] = target.met
    # Every client of every server received exactly the round's count of well-formed
    # messages (checked in ``FanoutBench.round``).
    benchmark.extra_info["outputs_match"] = True


@pytest.fixture(scope="module")
def fanout(request: pytest.FixtureRequest) -> Iterator[FanoutBench]:
    disabled = request.config.getoption("benchmark_disable", False)
    bench = FanoutBench(QUICK if disabled else FULL)
    try:
        yield bench
    finally:
        bench.close()


def _rounds(benchmark: Any, fanout: FanoutBench) -> int:
    return 1 if benchmark.disabled else min(fanout.mode.rounds, 3)


# Full counts (``--benchmark-only``) take minutes; every wait inside is bounded on its own.
pytestmark = pytest.mark.timeout(900)


def test_fanout_baselines(benchmark: Any, fanout: FanoutBench) -> None:
    rounds = _rounds(benchmark, fanout)
    results = fanout.run(SIZES, BASELINES, rounds)
    _record(benchmark, results)
    print("\n" + table(results, rounds))
    benchmark.pedantic(fanout.round, args=("bulk", 100), rounds=1, iterations=1)


def test_fanout_fastfeed(benchmark: Any, fanout: FanoutBench) -> None:
    rounds = _rounds(benchmark, fanout)
    results = fanout.run(SIZES, VARIANTS, rounds)
    _record(benchmark, results)
    print("\n" + table(results, rounds))
    benchmark.pedantic(fanout.round, args=("fastfeed", 100), rounds=1, iterations=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="full counts (default: quick)")
    parser.add_argument("--rounds", type=int, help="interleaved rounds per size")
    parser.add_argument("--sizes", default="1,10,100", help="client counts, e.g. 1,10,100")
    parser.add_argument("--only", help="servers to run, e.g. bulk,fastfeed")
    args = parser.parse_args()
    mode = FULL if args.full else QUICK
    rounds = args.rounds or mode.rounds
    sizes = [int(s) for s in args.sizes.split(",")]
    with children():
        bench = FanoutBench(mode)
        try:
            names = args.only.split(",") if args.only else list(VARIANTS)
            print(
                f"{len(bench.streams)} streams, messages of {bench.message_bytes:.0f} bytes "
                "on average"
            )
            results = bench.run(sizes, names, rounds)
            print(table(results, rounds))
        finally:
            bench.close()


if __name__ == "__main__":
    main()
