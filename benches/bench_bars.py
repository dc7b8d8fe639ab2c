"""Trade-to-OHLC aggregation (``fastfeed.bench.bars``): fastfeed's batch and streaming paths
beside pandas, numpy and polars.

The tape is trades over 50 contracts in one trading day, in time order with the contracts
interleaved (as a feed delivers them): 2,000,000 and 20,000,000 trades, 1 s and 1 min bars
(SPEC §10); the unsorted and streaming tests use 2,000,000 trades and 1 min bars. Every way
must produce the same bars (OHLC, volume and count exactly; vwap to 1e-12, since the sums run in
another order). Ratios are measured in the same process, interleaved, as medians (the machine
is shared).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from fastfeed import BarBook
from fastfeed.bench import bars
from fastfeed.bench.bars import assert_same_bars, make_tape, rings_as_columns, with_numpy

TRADES = 2_000_000
INTERVAL_MS = 60_000
BATCH = bars.BATCH


@pytest.fixture(scope="module")
def tape() -> dict[str, np.ndarray[Any, Any]]:
    return make_tape(TRADES)


def with_fastfeed(t: dict[str, np.ndarray[Any, Any]]) -> bars.Columns:
    return bars.with_fastfeed(t, INTERVAL_MS)


def with_pandas(t: dict[str, np.ndarray[Any, Any]], presorted: bool = True) -> bars.Columns:
    return bars.with_pandas(t, INTERVAL_MS, presorted)


def with_bar_book(t: dict[str, np.ndarray[Any, Any]], session: bool = False) -> BarBook:
    return bars.with_bar_book(t, session)


def median_seconds(fn: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def report(benchmark: Any, title: str, rates: dict[str, float]) -> None:
    benchmark.extra_info.update(rates)
    print(f"\n{title}: " + ", ".join(f"{k}={v:.3g}" for k, v in rates.items()))


@pytest.mark.timeout(900)
@pytest.mark.parametrize(
    ("trades", "interval_ms"),
    [(2_000_000, 1000), (2_000_000, 60_000), (20_000_000, 1000), (20_000_000, 60_000)],
    ids=["2M-1s", "2M-1min", "20M-1s", "20M-1min"],
)
def test_aggregate_trades_vs_pandas_numpy_polars(
    benchmark: Any, trades: int, interval_ms: int
) -> None:
    """SPEC §10: >= 5x the fastest of pandas, numpy and polars at every shape. With
    ``--benchmark-disable`` the tapes are 10x smaller and each way runs once; the outputs of
    every way are still checked equal."""
    if benchmark.disabled:
        trades //= 10
    t = make_tape(trades)
    ours = benchmark.pedantic(bars.with_fastfeed, args=(t, interval_ms), rounds=3, iterations=1)
    assert (ours["low"] <= np.minimum(ours["open"], ours["close"])).all()
    assert (np.maximum(ours["open"], ours["close"]) <= ours["high"]).all()
    result = bars.measure(t, interval_ms, 1 if benchmark.disabled else 5, lambda: None)
    assert not result.skipped
    assert result.outputs_match
    fastest = max(rate for name, rate in result.rates.items() if name != "fastfeed")
    report(
        benchmark,
        result.title,
        {
            "bars": len(ours["open"]),
            **{f"{name}_mtrades_per_s": rate / 1e6 for name, rate in result.rates.items()},
            "ratio_to_fastest_baseline": result.rates["fastfeed"] / fastest,
            "outputs_match": True,
        },
    )


def test_aggregate_trades_unsorted_input(benchmark: Any, tape: dict[str, Any]) -> None:
    """Shuffled input forces the sorting path; ties at equal times then keep the shuffled order,
    so the references sort stably too."""
    perm = np.random.default_rng(7).permutation(TRADES)
    shuffled = {name: column[perm] for name, column in tape.items()}
    ours = benchmark.pedantic(with_fastfeed, args=(shuffled,), rounds=3, iterations=1)
    assert_same_bars(ours, with_numpy(shuffled, INTERVAL_MS))
    assert_same_bars(with_pandas(shuffled, presorted=False), with_numpy(shuffled, INTERVAL_MS))

    rounds = 1 if benchmark.disabled else 3
    t_ours = median_seconds(lambda: with_fastfeed(shuffled), rounds)
    t_pandas = median_seconds(lambda: with_pandas(shuffled, presorted=False), rounds)
    report(
        benchmark,
        "aggregate_trades, shuffled input",
        {
            "mtrades_per_s": TRADES / t_ours / 1e6,
            "pandas_mtrades_per_s": TRADES / t_pandas / 1e6,
            "ratio_to_pandas": t_pandas / t_ours,
            "outputs_match": True,
        },
    )


def test_bar_book_streaming(benchmark: Any, tape: dict[str, Any]) -> None:
    book = benchmark.pedantic(with_bar_book, args=(tape,), rounds=5, iterations=1)
    assert book.late_trades == {1000: 0, 60_000: 0}
    assert_same_bars(rings_as_columns(book, INTERVAL_MS), with_fastfeed(tape))

    rounds = 1 if benchmark.disabled else 5
    t_stream = median_seconds(lambda: with_bar_book(tape), rounds)
    t_session = median_seconds(lambda: with_bar_book(tape, session=True), rounds)
    t_pandas = median_seconds(lambda: with_pandas(tape), rounds)
    report(
        benchmark,
        f"BarBook 1 s + 1 min rings, batches of {BATCH}",
        {
            "mtrades_per_s": TRADES / t_stream / 1e6,
            "with_session_columns_mtrades_per_s": TRADES / t_session / 1e6,
            "pandas_1min_only_mtrades_per_s": TRADES / t_pandas / 1e6,
            "ratio_to_pandas": t_pandas / t_stream,
            "outputs_match": True,
        },
    )
