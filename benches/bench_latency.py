"""End-to-end latency (``fastfeed.bench.latency``): a source's trade to the strategy's code,
fastfeed (server + SDK: an ``on_batch`` handler, by default and busy-polling, and
``await next_batch()``) beside picows + orjson (server and client) and the machine's floor
(plain sockets, blocking and busy-polling), at 1 k, 10 k and 100 k events/s, two processes
over loopback, one clock (CLOCK_MONOTONIC) stamped in each trade's ``sequence``.

With ``--benchmark-disable`` (the test suite) it checks that every variant measures sane
latencies at every rate on the smoke plan; the figures themselves come from
``python -m fastfeed bench --only latency`` (quick or full), which the README quotes.
"""

from __future__ import annotations

from typing import Any

from fastfeed.bench.latency import COMPARISONS, PERCENTILES, RATES, run


def test_latency_source_to_sdk(benchmark: Any) -> None:
    results = run("smoke" if benchmark.disabled else "full", lambda: None)
    assert len(results) == len(RATES) * len(PERCENTILES) * len(COMPARISONS)
    for result in results:
        assert result.lower_is_better and not result.skipped
        assert set(result.rates) == (
            {"fastfeed", "fastfeed next_batch", "picows + orjson", "raw floor"}
            if result.ours == "fastfeed"
            else {"fastfeed busy-poll", "raw busy-poll floor"}
        )
        for name, micros in result.rates.items():
            # Loopback between two processes: more than a clock read, far less than a second.
            assert 1 < micros < 1_000_000, (result.title, name, micros)
        benchmark.extra_info[result.title] = {
            name: round(micros, 1) for name, micros in result.rates.items()
        }
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)
