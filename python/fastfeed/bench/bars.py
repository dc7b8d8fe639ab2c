"""Trade-to-OHLC aggregation: ``aggregate_trades`` (and the streaming ``BarBook``) beside
pandas, numpy and polars, whichever are installed.

The tape is trades over 50 contracts in one trading day, in time order with the contracts
interleaved (as a feed delivers them). Every way must produce the same bars (OHLC, volume and
count exactly; vwap to 1e-12, since the sums run in another order). Rounds are interleaved in
one process; medians are reported.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from fastfeed import BarBook, aggregate_trades
from fastfeed.bench._harness import Result, Rounds, Tick, optional

CONTRACTS = 50
DATE = 20250321
BATCH = 10_000
COLUMNS = ["group", "date", "start_ms", "open", "high", "low", "close", "volume", "count", "vwap"]

Columns = dict[str, np.ndarray[Any, Any]]
Way = Callable[[Columns, int], Columns]


def make_tape(trades: int, contracts: int = CONTRACTS) -> Columns:
    """``trades`` trades of ``contracts`` contracts from 09:30 to 16:00, in time order: a
    random walk per contract on a cent grid, sizes 0..500."""
    rng = np.random.default_rng(20250321)
    ms = np.sort(rng.integers(34_200_000, 57_600_000, trades)).astype(np.int32)
    contract = rng.integers(0, contracts, trades).astype(np.uint32)
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


def with_fastfeed(t: Columns, interval_ms: int) -> Columns:
    return aggregate_trades(
        t["date"], t["ms_of_day"], t["price"], t["size"], interval_ms, group=t["group"]
    )


def with_pandas(t: Columns, interval_ms: int, presorted: bool = True) -> Columns:
    """The fastest pandas way we know: one groupby over (contract, bucket) with named aggs.

    ``first``/``last`` follow row order, so unsorted input is stably sorted by time first.
    """
    pd: Any = optional("pandas")
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


def with_numpy(t: Columns, interval_ms: int) -> Columns:
    """Stable sort by (contract, time), then ``ufunc.reduceat`` over the bucket boundaries."""
    order = np.lexsort((t["ms_of_day"], t["group"]))
    group = t["group"][order]
    bucket = t["ms_of_day"][order] // interval_ms
    price = t["price"][order]
    size = t["size"][order]
    key = group * 86_400_000 // interval_ms + bucket
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


def _polars_aggs(pl: Any) -> list[Any]:
    return [
        pl.col("price").first().alias("open"),
        pl.col("price").max().alias("high"),
        pl.col("price").min().alias("low"),
        pl.col("price").last().alias("close"),
        pl.col("size").sum().alias("volume"),
        pl.len().alias("count"),
        (pl.col("price") * pl.col("size")).sum().alias("pv"),
    ]


def with_polars(t: Columns, interval_ms: int, presort: bool = False) -> Columns:
    """One int64 key per (contract, bucket) (one date on this tape, as for numpy), then either a
    hash ``group_by`` and a sort of the bars, or (``presort``) a stable sort of the trades by key
    and a ``group_by`` keeping order. Both keep row order within a group (``first``/``last``);
    the faster depends on the shape, so both are measured."""
    pl: Any = optional("polars")
    per_day = 86_400_000 // interval_ms
    frame = pl.DataFrame(
        {"group": t["group"], "ms": t["ms_of_day"], "price": t["price"], "size": t["size"]}
    ).lazy()
    frame = frame.with_columns(
        (pl.col("group") * per_day + pl.col("ms") // interval_ms).alias("key")
    )
    if presort:
        frame = frame.sort("key", maintain_order=True).group_by("key", maintain_order=True)
        out = frame.agg(_polars_aggs(pl)).collect()
    else:
        out = frame.group_by("key").agg(_polars_aggs(pl)).sort("key").collect()
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


def with_polars_presorted(t: Columns, interval_ms: int) -> Columns:
    return with_polars(t, interval_ms, presort=True)


def with_bar_book(t: Columns, session: bool = False) -> BarBook:
    """The streaming path as the server runs it: default 1 s and 1 min rings, fed in batches."""
    book = BarBook()
    update = book.update_with_session if session else book.update
    c, d, m, p, s = t["contract"], t["date"], t["ms_of_day"], t["price"], t["size"]
    for i in range(0, len(c), BATCH):
        j = i + BATCH
        update(c[i:j], d[i:j], m[i:j], p[i:j], s[i:j])
    book.flush(DATE + 1, 0)
    return book


def rings_as_columns(book: BarBook, interval_ms: int) -> Columns:
    parts = []
    for contract in sorted(book.contracts):
        ring = book.ring(contract, interval_ms)
        part = {name: ring[name] for name in COLUMNS[1:]}
        part["group"] = np.full(len(ring), contract, np.int64)
        parts.append(part)
    return {name: np.concatenate([p[name] for p in parts]) for name in COLUMNS}


def same_bars(actual: Columns, expected: Columns) -> bool:
    """Whether two sets of bars are equal (vwap to 1e-12)."""
    try:
        assert_same_bars(actual, expected)
    except AssertionError:
        return False
    return True


def assert_same_bars(actual: Columns, expected: Columns) -> None:
    for name in COLUMNS:
        if name == "vwap":
            np.testing.assert_allclose(actual[name], expected[name], rtol=1e-12, equal_nan=True)
        else:
            np.testing.assert_array_equal(actual[name], expected[name], err_msg=name)


def baselines(skipped: dict[str, str]) -> dict[str, Way]:
    """The installed baselines; what is missing goes to ``skipped``."""
    ways: dict[str, Way] = {"numpy": with_numpy}
    for name, module, way in (
        ("pandas", "pandas", with_pandas),
        ("polars", "polars", with_polars),
        ("polars presorted", "polars", with_polars_presorted),
    ):
        if optional(module) is None:
            skipped[name] = f"{module} is not installed"
        else:
            ways[name] = way
    return ways


def measure(tape: Columns, interval_ms: int, rounds: int, tick: Tick) -> Result:
    """Interleaved rounds of ``aggregate_trades`` and every installed baseline on ``tape``."""
    skipped: dict[str, str] = {}
    ways: dict[str, Way] = {"fastfeed": with_fastfeed, **baselines(skipped)}
    times = Rounds()
    outputs: dict[str, Columns] = {}
    for _ in range(rounds):
        for name, way in ways.items():
            started = time.perf_counter()
            outputs[name] = way(tape, interval_ms)
            times.add(name, time.perf_counter() - started)
            tick()
    trades = len(tape["price"])
    ours = outputs["fastfeed"]
    match = all(same_bars(ours, other) for other in outputs.values())
    label = f"{interval_ms // 1000} s" if interval_ms < 60_000 else f"{interval_ms // 60_000} min"
    return Result(
        scenario="bars",
        title=f"aggregate_trades, {trades:,} trades x 50 contracts, {label} bars",
        unit="trades/s",
        rates={name: trades / seconds for name, seconds in times.medians().items()},
        rounds=rounds,
        skipped=skipped,
        outputs_match=match,
        extra={"bars": len(ours["open"])},
    )


def _plan(mode: str) -> tuple[list[tuple[int, int]], int]:
    """(trades, interval ms) pairs and rounds: ``quick`` 2 M trades x 1 min bars, 3 rounds;
    ``full`` 2 M and 20 M trades x 1 s and 1 min bars, 5 rounds."""
    if mode == "smoke":
        return [(20_000, 60_000)], 1
    if mode == "quick":
        return [(2_000_000, 60_000)], 3
    return [(n, ms) for n in (2_000_000, 20_000_000) for ms in (1_000, 60_000)], 5


def steps(mode: str) -> int:
    plan, rounds = _plan(mode)
    installed = sum(optional(n) is not None for n in ("pandas", "polars", "polars"))
    return len(plan) * rounds * (2 + installed)


def run(mode: str, tick: Tick) -> list[Result]:
    """See :func:`_plan`."""
    plan, rounds = _plan(mode)
    results = []
    tape: Columns = {}
    for trades, interval_ms in plan:
        if len(tape.get("price", ())) != trades:
            tape = {}  # free the last tape first
            tape = make_tape(trades)
        results.append(measure(tape, interval_ms, rounds, tick))
    return results
