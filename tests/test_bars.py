"""Bars: batch aggregation, streaming BarBook, ring views (SPEC §6, §3.3)."""

from __future__ import annotations

import ctypes
import gc
import itertools
import math
from typing import Any

import fastfeed
import numpy as np
import pandas as pd
import polars as pl
import pytest
from fastfeed import BAR_DTYPE, BarBook, BarsError, SessionBar, _core, aggregate_trades
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

D1, D2 = 20250320, 20250321
BAR_COLUMNS = ["date", "start_ms", "open", "high", "low", "close", "volume", "count", "vwap"]


def frame(bars: dict[str, np.ndarray[Any, Any]] | np.ndarray[Any, Any]) -> pd.DataFrame:
    if isinstance(bars, np.ndarray):
        return pd.DataFrame({name: bars[name] for name in BAR_COLUMNS})
    return pd.DataFrame({name: bars[name] for name in bars})


def assert_bars_equal(actual: pd.DataFrame, expected: pd.DataFrame) -> None:
    """Exact equality except vwap, whose sums may be accumulated in another order."""
    assert list(actual.columns) == list(expected.columns)
    assert len(actual) == len(expected)
    for name in actual.columns:
        a, e = actual[name].to_numpy(), expected[name].to_numpy()
        if name == "vwap":
            np.testing.assert_allclose(a, e, rtol=1e-12, atol=0, equal_nan=True)
        else:
            np.testing.assert_array_equal(a, e, strict=False, err_msg=name)


def pandas_bars(trades: pd.DataFrame, interval_ms: int, grouped: bool = True) -> pd.DataFrame:
    """The reference: stable sort by (group, date, ms), bucket, groupby-agg."""
    keys = ["group", "date", "ms_of_day"] if grouped else ["date", "ms_of_day"]
    df = trades.sort_values(keys, kind="stable").copy()
    df["start_ms"] = df["ms_of_day"] // interval_ms * interval_ms
    df["pv"] = df["price"] * df["size"]
    by = (["group"] if grouped else []) + ["date", "start_ms"]
    out = (
        df.groupby(by, sort=True)
        .agg(
            open=("price", "first"),
            high=("price", "max"),
            low=("price", "min"),
            close=("price", "last"),
            volume=("size", "sum"),
            count=("price", "size"),
            pv=("pv", "sum"),
        )
        .reset_index()
    )
    volume = out["volume"].to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        out["vwap"] = np.where(volume > 0, out["pv"].to_numpy() / volume, np.nan)
    return out.drop(columns="pv")[by + BAR_COLUMNS[2:]]


def numpy_bars(trades: pd.DataFrame, interval_ms: int) -> pd.DataFrame:
    """A second reference: lexsort by (group, date, ms), ``reduceat`` over bucket boundaries."""
    g, d, m = (trades[c].to_numpy() for c in ("group", "date", "ms_of_day"))
    order = np.lexsort((m, d, g))
    g, d, m = g[order], d[order], m[order]
    price, size = trades["price"].to_numpy()[order], trades["size"].to_numpy()[order]
    start = m // interval_ms * interval_ms
    new = np.r_[True, (g[1:] != g[:-1]) | (d[1:] != d[:-1]) | (start[1:] != start[:-1])]
    starts = np.flatnonzero(new) if len(g) else np.zeros(0, np.int64)
    ends = (np.r_[starts[1:], len(g)] - 1)[: len(starts)]
    volume = np.add.reduceat(size, starts) if len(g) else np.zeros(0, np.int64)
    pv = np.add.reduceat(price * size, starts) if len(g) else np.zeros(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        vwap = np.where(volume > 0, pv / volume, np.nan)
    empty = np.zeros(0)
    return pd.DataFrame(
        {
            "group": g[starts],
            "date": d[starts],
            "start_ms": start[starts],
            "open": price[starts],
            "high": np.maximum.reduceat(price, starts) if len(g) else empty,
            "low": np.minimum.reduceat(price, starts) if len(g) else empty,
            "close": price[ends],
            "volume": volume,
            "count": np.diff(np.r_[starts, len(g)]),
            "vwap": vwap,
        }
    )


def polars_bars(trades: pd.DataFrame, interval_ms: int) -> pd.DataFrame:
    """A third reference: polars ``group_by`` (row order kept within groups), bars sorted."""
    by = ["group", "date", "start_ms"]
    out = (
        pl.from_pandas(trades)
        .sort(["group", "date", "ms_of_day"], maintain_order=True)
        .with_columns((pl.col("ms_of_day") // interval_ms * interval_ms).alias("start_ms"))
        .group_by(by, maintain_order=True)
        .agg(
            pl.col("price").first().alias("open"),
            pl.col("price").max().alias("high"),
            pl.col("price").min().alias("low"),
            pl.col("price").last().alias("close"),
            pl.col("size").sum().alias("volume"),
            pl.len().alias("count"),
            (pl.col("price") * pl.col("size")).sum().alias("pv"),
        )
        .sort(by)
    )
    volume = out["volume"].to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        vwap = np.where(volume > 0, out["pv"].to_numpy() / volume, np.nan)
    columns = {name: out[name].to_numpy() for name in by + BAR_COLUMNS[2:-1]}
    return pd.DataFrame({**columns, "vwap": vwap})


# --- layout ------------------------------------------------------------------------------------


def test_bar_dtype_matches_the_rust_struct() -> None:
    assert BAR_DTYPE.itemsize == _core.BAR_ITEMSIZE == 64
    assert BAR_DTYPE.names == tuple(BAR_COLUMNS)
    assert [(name, BAR_DTYPE.fields[name][1]) for name in BAR_COLUMNS] == [
        ("date", 0),
        ("start_ms", 4),
        ("open", 8),
        ("high", 16),
        ("low", 24),
        ("close", 32),
        ("volume", 40),
        ("count", 48),
        ("vwap", 56),
    ]
    assert [tuple(f) for f in _core.BAR_FIELD_OFFSETS] == [
        (name, BAR_DTYPE.fields[name][1]) for name in BAR_COLUMNS
    ]
    kinds = [BAR_DTYPE.fields[name][0].str[1:] for name in BAR_COLUMNS]
    assert kinds == ["i4", "i4", "f8", "f8", "f8", "f8", "i8", "i8", "f8"]


def test_public_exports() -> None:
    for name in ["BAR_DTYPE", "BarBook", "SessionBar", "aggregate_trades", "BarsError"]:
        assert name in fastfeed.__all__
    assert issubclass(BarsError, ValueError)


# --- batch ---------------------------------------------------------------------------------


def test_aggregate_one_series_exact() -> None:
    bars = aggregate_trades(
        date=[D1, D1, D1, D1, D2],
        ms_of_day=[1000, 1999, 1000, 3500, 0],
        price=[10.0, 12.0, 11.0, 9.0, 13.0],
        size=[1, 3, 0, 2, 0],
        interval_ms=1000,
    )
    assert list(bars) == BAR_COLUMNS
    assert bars["date"].tolist() == [D1, D1, D2]
    assert bars["start_ms"].tolist() == [1000, 3000, 0]
    # Unsorted input: the tie at 1000 keeps input order (10.0 then 11.0); 12.0 at 1999 closes.
    assert bars["open"].tolist() == [10.0, 9.0, 13.0]
    assert bars["high"].tolist() == [12.0, 9.0, 13.0]
    assert bars["low"].tolist() == [10.0, 9.0, 13.0]
    assert bars["close"].tolist() == [12.0, 9.0, 13.0]
    assert bars["volume"].tolist() == [4, 2, 0]
    assert bars["count"].tolist() == [3, 1, 1]
    assert bars["vwap"][:2].tolist() == [(10.0 + 36.0) / 4, 9.0]
    assert math.isnan(bars["vwap"][2])
    assert [bars[c].dtype.str[1:] for c in BAR_COLUMNS] == [
        "i4",
        "i4",
        "f8",
        "f8",
        "f8",
        "f8",
        "i8",
        "i8",
        "f8",
    ]


def test_aggregate_groups_sorted_by_group_then_time() -> None:
    bars = aggregate_trades(
        date=np.array([D1] * 5, dtype=np.int64),
        ms_of_day=np.array([60_001, 5, 120_000, 7, 59_999], dtype=np.uint32),
        price=np.array([1.0, 2.0, 3.0, 4.0, 5.0], dtype=np.float32),
        size=np.array([1, 1, 1, 1, 1], dtype=np.uint16),
        interval_ms=60_000,
        group=np.array([9, -4, 9, 9, -4], dtype=np.int8),
    )
    assert bars["group"].tolist() == [-4, 9, 9, 9]
    assert bars["group"].dtype == np.int64
    assert bars["start_ms"].tolist() == [0, 0, 60_000, 120_000]
    assert bars["open"].tolist() == [2.0, 4.0, 1.0, 3.0]
    assert bars["close"].tolist() == [5.0, 4.0, 1.0, 3.0]
    assert bars["count"].tolist() == [2, 1, 1, 1]


def test_aggregate_sparse_groups_and_empty_input() -> None:
    bars = aggregate_trades(
        [D1] * 3, [0, 0, 0], [1.0, 2.0, 3.0], [1, 1, 1], 1000, [2**62, -(2**62), 0]
    )
    assert bars["group"].tolist() == [-(2**62), 0, 2**62]
    assert bars["close"].tolist() == [2.0, 3.0, 1.0]
    empty = aggregate_trades([], [], [], [], 1000, group=[])
    assert list(empty) == ["group", *BAR_COLUMNS]
    assert all(len(v) == 0 for v in empty.values())


def random_tape(
    rows: int, contracts: int, dates: int, seed: int, layout: str = "tape", spread: int = 1
) -> pd.DataFrame:
    """``rows`` trades of ``contracts`` contracts (ids ``spread`` apart) over ``dates`` dates:
    in time order with contracts interleaved (``tape``), one contract after another
    (``by_contract``), or shuffled; ties, gaps and zero sizes included."""
    rng = np.random.default_rng(seed)
    date = D1 + np.sort(rng.integers(0, dates, rows))
    ms = rng.integers(0, 86_400_000, rows) // rng.choice([1, 997, 60_000], rows)
    trades = pd.DataFrame(
        {
            "group": rng.integers(0, contracts, rows).astype(np.int64) * spread - 5,
            "date": date.astype(np.int32),
            "ms_of_day": ms.astype(np.int32),
            "price": np.round(rng.uniform(1, 50, rows), 2),
            "size": rng.integers(0, 300, rows),
        }
    )
    trades = trades.sort_values(["date", "ms_of_day"], kind="stable", ignore_index=True)
    if layout == "by_contract":
        trades = trades.sort_values("group", kind="stable", ignore_index=True)
    elif layout == "shuffled":
        trades = trades.sample(frac=1, random_state=seed, ignore_index=True)
    return trades


@pytest.mark.parametrize(
    ("rows", "contracts", "dates", "layout", "spread"),
    [
        (0, 1, 1, "tape", 1),
        (1, 1, 1, "tape", 1),
        (5_000, 3, 2, "tape", 1),
        (5_000, 2_000, 1, "tape", 1),  # many contracts, most with one bar
        (5_000, 300, 2, "tape", 1 << 40),  # sparse ids
        (5_000, 20, 3, "shuffled", 1),  # times go back: sorted first
        (300_000, 50, 2, "tape", 1),  # large enough to be split across cores
        (300_000, 7, 1, "by_contract", 1),
    ],
)
def test_aggregate_equals_pandas_numpy_and_polars(
    rows: int, contracts: int, dates: int, layout: str, spread: int
) -> None:
    trades = random_tape(
        rows, contracts, dates, seed=rows + contracts, layout=layout, spread=spread
    )
    for interval_ms in (1, 1000, 60_000, 86_400_000):
        ours = frame(
            aggregate_trades(
                trades["date"],
                trades["ms_of_day"],
                trades["price"],
                trades["size"],
                interval_ms,
                group=trades["group"],
            )
        )
        expected = pandas_bars(trades, interval_ms)
        assert_bars_equal(ours, expected)
        assert_bars_equal(numpy_bars(trades, interval_ms), expected)
        assert_bars_equal(polars_bars(trades, interval_ms), expected)
        if rows:
            check_invariants(ours)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"ms_of_day": [0]},
            "ms_of_day has 1 rows, expected 2 (all columns must have equal length)",
        ),
        ({"group": [1, 2, 3]}, "group has 3 rows, expected 2 (all columns must have equal length)"),
        ({"size": [1, -1]}, "size[1] must be >= 0"),
        ({"price": [1.0, float("nan")]}, "price[1] must be finite"),
        ({"price": [float("inf"), 1.0]}, "price[0] must be finite"),
        ({"ms_of_day": [-5, 0]}, "ms_of_day[0] must be >= 0"),
        ({"date": [D1, -1]}, "date[1] must be >= 0"),
        ({"interval_ms": 0}, "interval_ms must be in 1..=86400000, got 0"),
        ({"interval_ms": 86_400_001}, "interval_ms must be in 1..=86400000, got 86400001"),
        ({"date": [1.5, 2.0]}, "date must be an integer array, got dtype float64"),
        ({"size": ["a", "b"]}, "size must be an integer array, got dtype <U1"),
        ({"price": [True, False]}, "price must be numeric, got dtype bool"),
        ({"date": [2**40, 1]}, "date values must fit int32, got range [1, 1099511627776]"),
        ({"ms_of_day": [[0, 0]]}, "ms_of_day must be 1-D, got 2-D"),
    ],
)
def test_aggregate_rejects_bad_input(kwargs: dict[str, Any], message: str) -> None:
    args: dict[str, Any] = {
        "date": [D1, D1],
        "ms_of_day": [0, 1],
        "price": [1.0, 2.0],
        "size": [1, 1],
        "interval_ms": 1000,
    }
    args.update(kwargs)
    with pytest.raises(BarsError) as info:
        aggregate_trades(**args)
    assert str(info.value) == message


def test_core_requires_exact_dtypes() -> None:
    with pytest.raises(BarsError, match=r"^date must be a 1-D numpy array of int32$"):
        _core.aggregate_trades(
            np.zeros(1, np.int64), np.zeros(1, np.int32), np.zeros(1), np.zeros(1, np.int64), 1000
        )
    strided = np.zeros(4, np.int32)[::2]
    with pytest.raises(BarsError, match=r"^ms_of_day must be C-contiguous$"):
        _core.aggregate_trades(
            np.zeros(2, np.int32), strided, np.zeros(2), np.zeros(2, np.int64), 1000
        )


# --- streaming -----------------------------------------------------------------------------


def feed(book: BarBook, rows: list[tuple[int, int, int, float, int]]) -> None:
    cid, date, ms, price, size = zip(*rows, strict=True)
    book.update(np.array(cid), np.array(date), np.array(ms), np.array(price), np.array(size))


def test_book_defaults_and_validation() -> None:
    book = BarBook()
    assert book.intervals_ms == (1000, 60_000)
    assert book.capacity == 4096
    assert book.late_trades == {1000: 0, 60_000: 0}
    assert book.contracts == []
    with pytest.raises(BarsError, match=r"^capacity must be in 1..=1048576, got 0$"):
        BarBook(capacity=0)
    with pytest.raises(BarsError, match=r"^interval_ms must be in 1..=86400000, got 0$"):
        BarBook(intervals_ms=(0,))
    with pytest.raises(BarsError, match=r"^interval_ms 5 is configured twice$"):
        BarBook(intervals_ms=(5, 5))
    with pytest.raises(BarsError, match=r"^at least one interval is required$"):
        BarBook(intervals_ms=())
    with pytest.raises(BarsError, match=r"^interval_ms 5000 is not configured$"):
        book.ring(0, 5000)
    with pytest.raises(BarsError, match=r"^interval_ms 5000 is not configured$"):
        book.open_bar(0, 5000)


def test_ring_view_is_read_only_zero_copy_and_wraps_as_one_view() -> None:
    book = BarBook(intervals_ms=(1000,), capacity=3)
    assert len(book.ring(7, 1000)) == 0
    assert book.ring(7, 1000).dtype == BAR_DTYPE
    feed(book, [(7, D1, n * 1000, float(n), n) for n in range(2)])
    early = book.ring(7, 1000)
    assert early["start_ms"].tolist() == [0]
    feed(book, [(7, D1, n * 1000, float(n), n) for n in range(2, 10)])
    # Ten trades, one per second: nine closed bars, the newest three kept, oldest first.
    ring = book.ring(7, 1000)
    assert ring["start_ms"].tolist() == [6000, 7000, 8000]
    assert ring["close"].tolist() == [6.0, 7.0, 8.0]
    assert ring["volume"].tolist() == [6, 7, 8]
    assert book.closed_count(7, 1000) == 9
    # One view into Rust memory, not a copy, even though the ring wrapped.
    assert not ring.flags.owndata
    assert ring.base is not None
    assert ring.flags.c_contiguous
    with pytest.raises(ValueError, match="read-only"):
        ring["close"][0] = 1.0
    with pytest.raises(ValueError, match="WRITEABLE"):
        ring.flags.writeable = True
    exported = memoryview(book._book.ring(7, 1000))
    assert exported.readonly
    assert exported.nbytes == 3 * 64
    with pytest.raises(TypeError, match="cannot modify read-only memory"):
        exported[0:1] = b"x"
    with pytest.raises(TypeError, match="underlying buffer is not writable"):
        (ctypes.c_char * 64).from_buffer(book._book.ring(7, 1000))
    exported.release()
    # The early view is live: its slot now holds a newer bar (documented), never freed memory.
    assert early["start_ms"].tolist() == [6000]
    # A view keeps the ring alive after the book is gone.
    snapshot = ring.copy()
    del book
    gc.collect()
    np.testing.assert_array_equal(ring, snapshot)


def test_open_bar_session_flush_and_late_trades() -> None:
    book = BarBook(intervals_ms=(1000, 60_000), capacity=16)
    feed(
        book,
        [
            (3, D1, 100, 1.0, 1),
            (0, D1, 150, 5.0, 1),
            (3, D1, 900, 2.0, 2),
            (3, D1, 1100, 3.0, 1),
            (
                3,
                D1,
                500,
                9.0,
                1,
            ),  # late for 1 s (bucket 0 closed); 1 min: out of order, not the close
        ],
    )
    assert book.contracts == [3, 0]
    assert book.late_trades == {1000: 1, 60_000: 0}
    assert book.ring(3, 1000)[["start_ms", "open", "close", "count"]].tolist() == [(0, 1.0, 2.0, 2)]
    bar = book.open_bar(3, 60_000)
    assert bar is not None
    assert bar.dtype == BAR_DTYPE
    assert bar.tolist() == (D1, 0, 1.0, 9.0, 1.0, 3.0, 5, 4, (1.0 + 4.0 + 3.0 + 9.0) / 5)
    assert book.open_bar(3, 1000).tolist() == (D1, 1000, 3.0, 3.0, 3.0, 3.0, 1, 1, 3.0)  # type: ignore[union-attr]
    assert book.open_bar(1, 1000) is None
    assert book.session(3) == SessionBar(D1, 1100, 1.0, 9.0, 1.0, 3.0, 5, 4)
    assert book.session(1) is None

    assert book.flush(D1, 1999) == 1  # contract 0's [0, 1000) bar
    assert book.flush(D1, 2000) == 1  # contract 3's [1000, 2000)
    assert book.open_bar(3, 1000) is None
    feed(book, [(3, D1, 1500, 7.0, 1)])  # its bucket was flushed: late
    assert book.late_trades == {1000: 2, 60_000: 0}
    assert book.flush(D2, 0) == 2  # the new date closes both 1-minute bars
    assert book.ring(3, 60_000)["count"].tolist() == [5]
    # A new date starts a new session.
    feed(book, [(3, D2, 10, 4.0, 2)])
    assert book.session(3) == SessionBar(D2, 10, 4.0, 4.0, 4.0, 4.0, 2, 1)
    feed(book, [(3, D1, 20, 5.0, 2)])  # an earlier date: ignored by the session, late for bars
    assert book.session(3) == SessionBar(D2, 10, 4.0, 4.0, 4.0, 4.0, 2, 1)
    assert book.late_trades == {1000: 3, 60_000: 1}


def test_bad_batch_changes_nothing() -> None:
    book = BarBook()
    with pytest.raises(BarsError, match=r"^price\[1\] must be finite$"):
        feed(book, [(1, D1, 0, 1.0, 1), (1, D1, 1, float("nan"), 1)])
    with pytest.raises(
        BarsError, match=r"^contract_id\[1\] = 4194304 exceeds the maximum 4194303$"
    ):
        feed(book, [(1, D1, 0, 1.0, 1), (_core.MAX_CONTRACT_ID + 1, D1, 1, 1.0, 1)])
    with pytest.raises(
        BarsError, match=r"^contract_id values must fit uint32, got range \[-1, -1\]$"
    ):
        feed(book, [(-1, D1, 0, 1.0, 1)])
    with pytest.raises(BarsError, match=r"^contract_id has 1 rows, expected 2"):
        book.update([1], [D1, D1], [0, 0], [1.0, 1.0], [1, 1])
    assert book.contracts == []
    assert book.session(1) is None


def test_update_with_session_returns_each_rows_session() -> None:
    book = BarBook()
    out = book.update_with_session(
        [0, 0, 1, 0], [D1] * 4, [10, 5, 7, 20], [2.0, 3.0, 1.0, 4.0], [1, 2, 3, 0]
    )
    assert list(out) == ["date", "ms_of_day", "open", "high", "low", "close", "volume", "count"]
    assert out["open"].tolist() == [2.0, 3.0, 1.0, 3.0]  # the 5 ms trade is earlier: new open
    assert out["close"].tolist() == [2.0, 2.0, 1.0, 4.0]
    assert out["high"].tolist() == [2.0, 3.0, 1.0, 4.0]
    assert out["low"].tolist() == [2.0, 2.0, 1.0, 2.0]
    assert out["volume"].tolist() == [1, 3, 3, 3]
    assert out["count"].tolist() == [1, 2, 1, 3]
    assert out["ms_of_day"].tolist() == [10, 10, 7, 20]
    assert out["date"].tolist() == [D1] * 4
    assert book.session(0) == SessionBar(D1, 20, 3.0, 4.0, 2.0, 4.0, 3, 3)


# --- property tests --------------------------------------------------------------------------


@st.composite
def trade_streams(draw: st.DrawFn) -> dict[str, Any]:
    """Trades of up to 4 contracts over two dates: mostly in time order (few distinct times, so
    ties and gaps), with some swapped neighbours (late trades) and flushes at random rows."""
    n = draw(st.integers(0, 80))
    contracts = draw(st.integers(1, 4))
    times = draw(
        st.lists(
            st.tuples(
                st.sampled_from([D1, D2]),
                st.sampled_from([0, 1, 999, 1000, 1001, 2500, 59_999, 60_000, 61_000, 200_000]),
            ),
            min_size=n,
            max_size=n,
        )
    )
    times.sort()
    rows = [
        (
            draw(st.integers(0, contracts - 1)),
            date,
            ms,
            draw(st.integers(1, 400)) / 4,
            draw(st.integers(0, 5)),
        )
        for date, ms in times
    ]
    for i in draw(st.lists(st.integers(0, max(n - 2, 0)), max_size=6)):
        if n >= 2:
            rows[i], rows[i + 1] = rows[i + 1], rows[i]
    flush_after = (
        sorted(set(draw(st.lists(st.integers(0, max(n - 1, 0)), max_size=3)))) if n else []
    )
    cuts = sorted(set(draw(st.lists(st.integers(1, max(n - 1, 1)), max_size=4)))) if n > 1 else []
    return {"rows": rows, "flush_after": flush_after, "cuts": cuts}


def as_frame(rows: list[tuple[int, int, int, float, int]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["group", "date", "ms_of_day", "price", "size"]).astype(
        {
            "group": "int64",
            "date": "int64",
            "ms_of_day": "int64",
            "price": "float64",
            "size": "int64",
        }
    )


def late_rows(
    rows: list[tuple[int, int, int, float, int]], flush_after: list[int], interval_ms: int
) -> set[int]:
    """Rows a streaming book must reject: a bucket behind the newest applied bucket of the
    contract, or not after the bucket closed by a flush (clock = newest time seen)."""
    newest: dict[int, tuple[int, int]] = {}
    flushed: dict[int, tuple[int, int]] = {}
    clock = (0, 0)
    late = set()
    for i, (cid, date, ms, _, _) in enumerate(rows):
        key = (date, ms // interval_ms * interval_ms)
        if (cid in newest and key < newest[cid]) or (cid in flushed and key <= flushed[cid]):
            late.add(i)
        else:
            newest[cid] = max(newest.get(cid, key), key)
        clock = max(clock, (date, ms))
        if i in flush_after:
            for c, (bdate, start) in newest.items():
                if clock[0] > bdate or clock[1] >= start + interval_ms:
                    flushed[c] = (bdate, start)
    return late


def stream(
    book: BarBook,
    rows: list[tuple[int, int, int, float, int]],
    cuts: list[int],
    flush_after: list[int],
) -> dict[str, np.ndarray[Any, Any]]:
    """Feeds rows in batches split at `cuts` and at each flush; returns the per-row sessions."""
    bounds = sorted({0, len(rows), *cuts, *(i + 1 for i in flush_after)})
    sessions: list[dict[str, np.ndarray[Any, Any]]] = []
    clock = (0, 0)
    for lo, hi in itertools.pairwise(bounds):
        chunk = rows[lo:hi]
        cid, date, ms, price, size = (np.array(c) for c in zip(*chunk, strict=True))
        sessions.append(book.update_with_session(cid, date, ms, price, size))
        clock = max(clock, *((d, m) for _, d, m, _, _ in chunk))
        if hi - 1 in flush_after:
            book.flush(*clock)
    return {k: np.concatenate([s[k] for s in sessions]) for k in sessions[0]} if sessions else {}


def ring_frame(book: BarBook, interval_ms: int) -> pd.DataFrame:
    parts = []
    for cid in sorted(book.contracts):
        ring = frame(book.ring(cid, interval_ms))
        ring.insert(0, "group", cid)
        parts.append(ring)
    return (
        pd.concat(parts, ignore_index=True)
        if parts
        else frame(np.empty(0, BAR_DTYPE)).assign(group=0)
    )


def check_invariants(bars: pd.DataFrame) -> None:
    assert (bars["low"] <= bars[["open", "close"]].min(axis=1)).all()
    assert (bars[["open", "close"]].max(axis=1) <= bars["high"]).all()
    assert (bars["count"] >= 1).all()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trade_streams())
def test_streaming_and_batch_match_pandas(case: dict[str, Any]) -> None:
    rows, flush_after, cuts = case["rows"], case["flush_after"], case["cuts"]
    intervals = (1000, 60_000)
    book = BarBook(intervals_ms=intervals, capacity=4096)
    per_row_session = stream(book, rows, cuts, flush_after)
    book.flush(D2 + 1, 0)
    trades = as_frame(rows)
    for interval_ms in intervals:
        late = late_rows(rows, flush_after, interval_ms)
        assert book.late_trades[interval_ms] == len(late)
        applied = trades.drop(index=sorted(late))
        expected = pandas_bars(applied, interval_ms)
        streamed = ring_frame(book, interval_ms)
        assert_bars_equal(streamed[expected.columns].reset_index(drop=True), expected)
        check_invariants(streamed)

        # Batch over the arrival order (unsorted) = pandas over all trades.
        batch = frame(
            aggregate_trades(
                trades["date"],
                trades["ms_of_day"],
                trades["price"],
                trades["size"],
                interval_ms,
                group=trades["group"],
            )
        )
        assert_bars_equal(batch, pandas_bars(trades, interval_ms))
        check_invariants(batch)

    # Session after each row = the contract's trades so far of its latest date, by time.
    for i, (cid, *_) in enumerate(rows):
        mine = [r for r in rows[: i + 1] if r[0] == cid]
        latest_date = max(r[1] for r in mine)
        day = sorted((r for r in mine if r[1] == latest_date), key=lambda r: r[2])  # stable
        expected = SessionBar(
            latest_date,
            day[-1][2],
            day[0][3],
            max(r[3] for r in day),
            min(r[3] for r in day),
            day[-1][3],
            sum(r[4] for r in day),
            len(day),
        )
        assert SessionBar(*(per_row_session[k][i].item() for k in per_row_session)) == expected
        if i == len(rows) - 1 or all(r[0] != cid for r in rows[i + 1 :]):
            assert book.session(cid) == expected


@settings(max_examples=100, deadline=None)
@given(trade_streams(), st.sampled_from([1, 7, 1000, 60_000, 86_400_000]))
def test_streaming_in_time_order_equals_batch(case: dict[str, Any], interval_ms: int) -> None:
    rows = sorted(case["rows"], key=lambda r: (r[1], r[2]))  # stable: ties keep arrival order
    book = BarBook(intervals_ms=(interval_ms,), capacity=4096)
    stream(book, rows, case["cuts"], [])
    assert book.late_trades == {interval_ms: 0}
    book.flush(D2 + 1, 0)
    trades = as_frame(case["rows"])  # the batch gets them unsorted
    batch = frame(
        aggregate_trades(
            trades["date"],
            trades["ms_of_day"],
            trades["price"],
            trades["size"],
            interval_ms,
            group=trades["group"],
        )
    )
    streamed = ring_frame(book, interval_ms)
    assert_bars_equal(streamed[batch.columns].reset_index(drop=True), batch)
    # Both equal bit for bit, vwap included: same code, same order.
    np.testing.assert_array_equal(streamed["vwap"].to_numpy(), batch["vwap"].to_numpy())
