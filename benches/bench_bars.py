"""Trade-to-OHLC aggregation: fastfeed's batch and streaming paths beside pandas, numpy and polars.

The tape is trades over 50 contracts in one trading day, in time order with the contracts
interleaved (as a feed delivers them): 2,000,000 and 20,000,000 trades, 1 s and 1 min bars
(SPEC §10). Every way must produce the same bars (OHLC, volume and count exactly; vwap to 1e-12,
since the sums run in another order). Ratios are measured in the same process, in interleaved
rounds, as medians (the machine is shared). With ``--benchmark-disable`` (the test suite) the
tapes are 10x smaller and each way runs once: the outputs are still checked.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pytest
from fastfeed import BarBook, aggregate_trades

TRADES = 2_000_000
CONTRACTS = 50
DATE = 20250321
INTERVAL_MS = 60_000
BATCH = 10_000
COLUMNS = ["group", "date", "start_ms", "open", "high", "low", "close", "volume", "count", "vwap"]

Bars = dict[str, np.ndarray[Any, Any]]


def make_tape(trades: int, seed: int = 20250321) -> dict[str, np.ndarray[Any, Any]]:
    rng = np.random.default_rng(seed)
    ms = np.sort(rng.integers(34_200_000, 57_600_000, trades)).astype(np.int32)  # 09:30-16:00
    contract = rng.integers(0, CONTRACTS, trades).astype(np.uint32)
    # A random walk per contract on a cent grid, sizes 1..500 (a few zero-size prints).
    steps = rng.integers(-3, 4, trades) / 100
    price = 100.0 + np.round(np.cumsum(steps), 2) + contract
    size = rng.integers(0, 501, trades).astype(np.int64)
    return {
        "contract": contract,
        "group": contract.astype(np.int64),
        "date": np.full(trades, DATE, np.int32),
        "ms_of_day": ms,
        "price": price,
        "size": size,
    }


@pytest.fixture(scope="module")
def tape() -> dict[str, np.ndarray[Any, Any]]:
    return make_tape(TRADES)


def with_fastfeed(t: dict[str, np.ndarray[Any, Any]], interval_ms: int = INTERVAL_MS) -> Bars:
    return aggregate_trades(
        t["date"], t["ms_of_day"], t["price"], t["size"], interval_ms, group=t["group"]
    )


def with_pandas(
    t: dict[str, np.ndarray[Any, Any]], presorted: bool = True, interval_ms: int = INTERVAL_MS
) -> Bars:
    """The fastest pandas way we know: one groupby over (contract, bucket) with named aggs.

    ``first``/``last`` follow row order, so unsorted input is stably sorted by time first.
    """
    df = pd.DataFrame(
        {"contract": t["group"], "ms": t["ms_of_day"], "price": t["price"], "size": t["size"]}
    )
    if not presorted:
        df = df.sort_values(["contract", "ms"], kind="stable")
    df["bucket"] = df["ms"] // interval_ms
    df["pv"] = df["price"] * df["size"]
    out = df.groupby(["contract", "bucket"], sort=True).agg(
        open=("price", "first"),
        high=("price", "max"),
        low=("price", "min"),
        close=("price", "last"),
        volume=("size", "sum"),
        count=("price", "size"),
        pv=("pv", "sum"),
    )
    keys = out.index.to_frame(index=False)
    volume = out["volume"].to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        vwap = np.where(volume > 0, out["pv"].to_numpy() / volume, np.nan)
    return {
        "group": keys["contract"].to_numpy(),
        "date": np.full(len(out), DATE, np.int32),
        "start_ms": (keys["bucket"].to_numpy() * interval_ms).astype(np.int32),
        "open": out["open"].to_numpy(),
        "high": out["high"].to_numpy(),
        "low": out["low"].to_numpy(),
        "close": out["close"].to_numpy(),
        "volume": volume,
        "count": out["count"].to_numpy(),
        "vwap": vwap,
    }


def with_numpy(t: dict[str, np.ndarray[Any, Any]], interval_ms: int = INTERVAL_MS) -> Bars:
    """Stable sort by (contract, time), then ``ufunc.reduceat`` over the bucket boundaries."""
    order = np.lexsort((t["ms_of_day"], t["group"]))
    group = t["group"][order]
    bucket = t["ms_of_day"][order] // interval_ms
    price = t["price"][order]
    size = t["size"][order]
    key = group * (86_400_000 // interval_ms) + bucket
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    ends = np.r_[starts[1:], len(key)] - 1
    volume = np.add.reduceat(size, starts)
    pv = np.add.reduceat(price * size, starts)
    with np.errstate(invalid="ignore", divide="ignore"):
        vwap = np.where(volume > 0, pv / volume, np.nan)
    return {
        "group": group[starts],
        "date": np.full(len(starts), DATE, np.int32),
        "start_ms": (bucket[starts] * interval_ms).astype(np.int32),
        "open": price[starts],
        "high": np.maximum.reduceat(price, starts),
        "low": np.minimum.reduceat(price, starts),
        "close": price[ends],
        "volume": volume,
        "count": np.diff(np.r_[starts, len(key)]),
        "vwap": vwap,
    }


POLARS_AGGS = [
    pl.col("price").first().alias("open"),
    pl.col("price").max().alias("high"),
    pl.col("price").min().alias("low"),
    pl.col("price").last().alias("close"),
    pl.col("size").sum().alias("volume"),
    pl.len().alias("count"),
    (pl.col("price") * pl.col("size")).sum().alias("pv"),
]


def with_polars(
    t: dict[str, np.ndarray[Any, Any]], interval_ms: int = INTERVAL_MS, presort: bool = False
) -> Bars:
    """One int64 key per (contract, bucket) (one date on this tape, as for numpy), then either a
    hash ``group_by`` and a sort of the bars, or (``presort``) a stable sort of the trades by key
    and a ``group_by`` keeping order. Both keep row order within a group (``first``/``last``);
    the faster depends on the shape, so both are measured."""
    per_day = 86_400_000 // interval_ms
    frame = pl.DataFrame(
        {"group": t["group"], "ms": t["ms_of_day"], "price": t["price"], "size": t["size"]}
    ).lazy()
    frame = frame.with_columns(
        (pl.col("group") * per_day + pl.col("ms") // interval_ms).alias("key")
    )
    if presort:
        frame = frame.sort("key", maintain_order=True).group_by("key", maintain_order=True)
        out = frame.agg(POLARS_AGGS).collect()
    else:
        out = frame.group_by("key").agg(POLARS_AGGS).sort("key").collect()
    key = out["key"].to_numpy()
    volume = out["volume"].to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        vwap = np.where(volume > 0, out["pv"].to_numpy() / volume, np.nan)
    return {
        "group": key // per_day,
        "date": np.full(len(out), DATE, np.int32),
        "start_ms": (key % per_day * interval_ms).astype(np.int32),
        "open": out["open"].to_numpy(),
        "high": out["high"].to_numpy(),
        "low": out["low"].to_numpy(),
        "close": out["close"].to_numpy(),
        "volume": volume,
        "count": out["count"].to_numpy(),
        "vwap": vwap,
    }


def with_bar_book(t: dict[str, np.ndarray[Any, Any]], session: bool = False) -> BarBook:
    """The streaming path as the server runs it: default 1 s and 1 min rings, fed in batches."""
    book = BarBook()
    update = book.update_with_session if session else book.update
    c, d, m, p, s = t["contract"], t["date"], t["ms_of_day"], t["price"], t["size"]
    for i in range(0, TRADES, BATCH):
        j = i + BATCH
        update(c[i:j], d[i:j], m[i:j], p[i:j], s[i:j])
    book.flush(DATE + 1, 0)
    return book


def rings_as_columns(book: BarBook) -> Bars:
    parts = []
    for contract in sorted(book.contracts):
        ring = book.ring(contract, INTERVAL_MS)
        part = {name: ring[name] for name in COLUMNS[1:]}
        part["group"] = np.full(len(ring), contract, np.int64)
        parts.append(part)
    return {name: np.concatenate([p[name] for p in parts]) for name in COLUMNS}


def assert_same_bars(actual: Bars, expected: Bars) -> None:
    for name in COLUMNS:
        if name == "vwap":
            np.testing.assert_allclose(actual[name], expected[name], rtol=1e-12, equal_nan=True)
        else:
            np.testing.assert_array_equal(actual[name], expected[name], err_msg=name)


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


def interleaved_medians(fns: dict[str, Callable[[], object]], rounds: int) -> dict[str, float]:
    """Median seconds of each way, the ways taking turns within every round."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            started = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - started)
    return {name: statistics.median(ts) for name, ts in times.items()}


@pytest.mark.timeout(900)
@pytest.mark.parametrize(
    ("trades", "interval_ms"),
    [(2_000_000, 1000), (2_000_000, 60_000), (20_000_000, 1000), (20_000_000, 60_000)],
    ids=["2M-1s", "2M-1min", "20M-1s", "20M-1min"],
)
def test_aggregate_trades_vs_pandas_numpy_polars(
    benchmark: Any, trades: int, interval_ms: int
) -> None:
    """SPEC §10: >= 5x the fastest of pandas, numpy and polars at every shape."""
    if benchmark.disabled:
        trades //= 10
    t = make_tape(trades)
    ours = benchmark.pedantic(with_fastfeed, args=(t, interval_ms), rounds=3, iterations=1)
    reference = with_numpy(t, interval_ms)
    assert_same_bars(ours, reference)
    assert_same_bars(with_pandas(t, interval_ms=interval_ms), reference)
    assert_same_bars(with_polars(t, interval_ms), reference)
    assert_same_bars(with_polars(t, interval_ms, presort=True), reference)
    assert (ours["low"] <= np.minimum(ours["open"], ours["close"])).all()
    assert (np.maximum(ours["open"], ours["close"]) <= ours["high"]).all()

    rounds = 1 if benchmark.disabled else 5
    medians = interleaved_medians(
        {
            "fastfeed": lambda: with_fastfeed(t, interval_ms),
            "pandas": lambda: with_pandas(t, interval_ms=interval_ms),
            "numpy": lambda: with_numpy(t, interval_ms),
            "polars": lambda: with_polars(t, interval_ms),
            "polars_presorted": lambda: with_polars(t, interval_ms, presort=True),
        },
        rounds,
    )
    fastest = min(seconds for name, seconds in medians.items() if name != "fastfeed")
    rates = {f"{name}_mtrades_per_s": trades / s / 1e6 for name, s in medians.items()}
    report(
        benchmark,
        f"aggregate_trades {trades:,} trades x {CONTRACTS} contracts, {interval_ms} ms bars",
        {
            "trades": trades,
            "bars": len(ours["open"]),
            **rates,
            "ratio_to_fastest_baseline": fastest / medians["fastfeed"],
            "outputs_match": True,
        },
    )


def test_aggregate_trades_unsorted_input(benchmark: Any, tape: dict[str, Any]) -> None:
    """Shuffled input forces the sorting path; ties at equal times then keep the shuffled order,
    so the references sort stably too."""
    perm = np.random.default_rng(7).permutation(TRADES)
    shuffled = {name: column[perm] for name, column in tape.items()}
    ours = benchmark.pedantic(with_fastfeed, args=(shuffled,), rounds=3, iterations=1)
    assert_same_bars(ours, with_numpy(shuffled))
    assert_same_bars(with_pandas(shuffled, presorted=False), with_numpy(shuffled))

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
    assert_same_bars(rings_as_columns(book), with_fastfeed(tape))

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
