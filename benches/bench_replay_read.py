"""Replay file reading (SPEC §10: at least 10x ``orjson.loads`` per line, 3x ``pandas.read_csv``):
the file reader alone, no server, beside its baseline in the same run.

* JSON Lines: ``record``'s format (the Rust ``EventEncoder``, ``framing="jsonl"``), option and
  stock trades and quotes. fastfeed: ``ReplayReader(path)`` (the pre-scan's checks included;
  the line count, which runs on its own thread from the first look at ``total``, is not
  asked for: it is the pre-scan column) and
  ``read(hub, 8192)`` until exhausted, each event decoded, checked, its contract registered
  with a hub and its line kept for forwarding. Baseline: the file read line by line and
  ``orjson.loads`` per line (a dict per event, nothing checked).
* CSV: trades with a header row (``date,ms_of_day,symbol,price,size,sequence,condition,
  exchange``, stocks; and the same with ``sec_type,expiration,strike,right``, options).
  fastfeed: the same reader (a file of 4 MiB or more is parsed by one thread per core, at most
  four; pandas uses one). Baseline: ``pandas.read_csv(path)`` (columns, nothing checked).

Rounds are interleaved (fastfeed, baseline, fastfeed, …) and medians reported. Before timing,
both sides are checked to agree: every event fastfeed hands out, published through a hub to a
subscriber, is byte for byte the file's line (JSON Lines), or decodes to the values pandas
read, prices bit for bit (CSV).

    pytest benches/bench_replay_read.py --benchmark-disable     # correctness, small files
    python benches/bench_replay_read.py [--events 1000000] [--rounds 5]   # the table
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest
from fastfeed import EventDecoder, EventEncoder, WSFrameDecoder
from fastfeed._core import BarBook, Hub, ReplayReader, parse_stream_command

DATE = 20250321
BATCH = 8192
FULL_EVENTS = 1_000_000
QUICK_EVENTS = 20_000
ROUNDS = 5


def write_jsonl(path: Path, n: int, seed: int = 7) -> None:
    """``n`` events as ``record`` writes them: runs of trades and quotes over 20 SPY options
    and 5 stocks, in time order."""
    rng = np.random.default_rng(seed)
    enc = EventEncoder()
    ids = [
        enc.add_contract("OPTION", "SPY", DATE, 550_000 + 5_000 * (i // 2), "CP"[i % 2])
        for i in range(20)
    ] + [enc.add_contract("STOCK", s) for s in ("AAPL", "MSFT", "NVDA", "AMZN", "TSLA")]
    ms = np.sort(rng.integers(34_200_000, 57_600_000, n)).astype(np.uint32)
    with path.open("wb") as f:
        lo = 0
        while lo < n:
            k = min(n - lo, int(rng.integers(100, 5000)))
            contract = np.array(ids, np.uint32)[rng.integers(0, len(ids), k)]
            small = rng.integers(0, 200, k).astype(np.uint32)
            price = rng.integers(5, 60_000, k) / 100.0
            dates = np.full(k, DATE, np.uint32)
            if rng.random() < 0.5:
                seq = np.arange(lo, lo + k, dtype=np.int64)
                f.write(
                    enc.encode_trades(
                        contract,
                        ms[lo : lo + k],
                        seq,
                        small,
                        small,
                        price,
                        small,
                        dates,
                        framing="jsonl",
                    )
                )
            else:
                f.write(
                    enc.encode_quotes(
                        contract,
                        ms[lo : lo + k],
                        small,
                        small,
                        price,
                        small,
                        small,
                        small,
                        price + 0.05,
                        small,
                        dates,
                        framing="jsonl",
                    )
                )
            lo += k


def write_csv(path: Path, n: int, options: bool, seed: int = 7) -> None:
    rng = np.random.default_rng(seed)
    columns: dict[str, Any] = {
        "date": np.full(n, DATE, np.uint32),
        "ms_of_day": np.sort(rng.integers(34_200_000, 57_600_000, n)).astype(np.uint32),
    }
    if options:
        k = rng.integers(0, 40, n)
        columns |= {
            "symbol": np.full(n, "SPY"),
            "sec_type": np.full(n, "OPTION"),
            "expiration": np.full(n, DATE),
            "strike": 550_000 + 5_000 * (k // 2),
            "right": np.array(["C", "P"])[k % 2],
        }
    else:
        columns["symbol"] = np.array([f"S{i:03d}" for i in range(50)])[rng.integers(0, 50, n)]
    columns |= {
        "price": rng.integers(5, 60_000, n) / 100.0,
        "size": rng.integers(1, 500, n),
        "sequence": np.arange(n),
        "condition": rng.integers(0, 130, n),
        "exchange": rng.integers(1, 70, n),
    }
    pd.DataFrame(columns).to_csv(path, index=False)


def read_fastfeed(path: Path) -> int:
    reader = ReplayReader(str(path))
    hub = Hub(BarBook([1000], 1), ohlcvc=False)
    n = 0
    while not reader.exhausted:
        n += len(reader.read(hub, BATCH))
    return n


def read_orjson(path: Path) -> list[Any]:
    loads = orjson.loads
    with path.open("rb") as f:
        return [loads(line) for line in f]


def read_pandas(path: Path) -> pd.DataFrame:
    return pd.read_csv(path)


def published(path: Path, streams: list[str]) -> Iterator[bytes]:
    """Every event the reader hands out, as the payloads a hub writes to a subscriber."""
    reader = ReplayReader(str(path))
    hub = Hub(BarBook([1000], 1), ohlcvc=False)
    subscriber = hub.add_subscriber("events")
    request = json.dumps({"method": "SUBSCRIBE", "params": streams, "id": 1})
    hub.subscribe(subscriber, parse_stream_command(request), len(streams))
    frames = WSFrameDecoder("client", max_message_size=1 << 20)
    while not reader.exhausted:
        for _, chunk, _ in hub.publish(reader.read(hub, BATCH)):
            yield from (payload for _, payload in frames.feed(chunk))


def check_jsonl(path: Path, baseline: list[Any]) -> None:
    streams = ["option@full_trades", "stock@full_trades"]
    for i in range(20):
        streams.append(f"option.SPY.{DATE}.{550_000 + 5_000 * (i // 2)}.{'CP'[i % 2]}@quote")
    streams += [f"stock.{s}@quote" for s in ("AAPL", "MSFT", "NVDA", "AMZN", "TSLA")]
    lines = path.read_bytes().splitlines()
    got = list(published(path, streams))
    assert got == lines, "fastfeed forwards every line byte for byte"
    assert len(baseline) == len(lines)


def check_csv(path: Path, baseline: pd.DataFrame) -> None:
    decoder = EventDecoder()
    for payload in published(path, ["option@full_trades", "stock@full_trades"]):
        decoder.push_payload(payload)
    t = decoder.take_batch().trades
    assert len(t["price"]) == len(baseline)
    prices = baseline["price"].to_numpy()
    assert t["price"].view(np.uint64).tolist() == prices.view(np.uint64).tolist()
    for name in ("ms_of_day", "size", "sequence", "condition", "exchange", "date"):
        np.testing.assert_array_equal(t[name], baseline[name].to_numpy(), err_msg=name)
    symbols = np.array([decoder.contract(int(i))[1] for i in t["contract_id"]])
    np.testing.assert_array_equal(symbols, baseline["symbol"].to_numpy())
    if "strike" in baseline:
        strikes = np.array([decoder.contract(int(i))[3] for i in t["contract_id"]])
        np.testing.assert_array_equal(strikes, baseline["strike"].to_numpy())


@dataclass
class Comparison:
    what: str
    events: int
    megabytes: float
    fastfeed_s: float
    baseline_s: float
    baseline: str
    target: float
    prescan_s: float

    @property
    def ratio(self) -> float:
        return self.baseline_s / self.fastfeed_s


def interleaved(
    fastfeed: Callable[[], object], baseline: Callable[[], object], rounds: int
) -> tuple[float, float]:
    times: dict[str, list[float]] = {"fastfeed": [], "baseline": []}
    for _ in range(rounds):
        for name, fn in (("fastfeed", fastfeed), ("baseline", baseline)):
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return statistics.median(times["fastfeed"]), statistics.median(times["baseline"])


def prescan_seconds(path: Path, rounds: int) -> float:
    """The pre-scan alone: the checks and the whole line count (``wait_total``)."""
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        ReplayReader(str(path)).wait_total()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def compare(directory: Path, events: int, rounds: int) -> list[Comparison]:
    out = []
    jsonl = directory / "day.jsonl"
    write_jsonl(jsonl, events)
    check_jsonl(jsonl, read_orjson(jsonl))
    assert read_fastfeed(jsonl) == events
    ff, base = interleaved(lambda: read_fastfeed(jsonl), lambda: read_orjson(jsonl), rounds)
    size = jsonl.stat().st_size / 1e6
    prescan = prescan_seconds(jsonl, rounds)
    out.append(
        Comparison("JSON Lines", events, size, ff, base, "orjson.loads per line", 10.0, prescan)
    )
    for options in (False, True):
        path = directory / ("options.csv" if options else "stocks.csv")
        write_csv(path, events, options)
        check_csv(path, read_pandas(path))
        ff, base = interleaved(
            lambda p=path: read_fastfeed(p), lambda p=path: read_pandas(p), rounds
        )
        what = "CSV option trades" if options else "CSV stock trades"
        size = path.stat().st_size / 1e6
        prescan = prescan_seconds(path, rounds)
        out.append(Comparison(what, events, size, ff, base, "pandas.read_csv", 3.0, prescan))
    return out


def table(results: list[Comparison], rounds: int) -> str:
    lines = [f"replay file reading: medians of {rounds} interleaved rounds"]
    lines.append(
        f"{'file':<18} {'events':>9} {'MB':>7} {'fastfeed M ev/s':>16} {'baseline M ev/s':>16}"
        f" {'ratio':>7} {'target':>7} {'pre-scan MB/s':>14}  baseline"
    )
    for r in results:
        lines.append(
            f"{r.what:<18} {r.events:>9} {r.megabytes:>7.1f} {r.events / r.fastfeed_s / 1e6:>16.2f}"
            f" {r.events / r.baseline_s / 1e6:>16.2f} {r.ratio:>6.1f}x {r.target:>6.0f}x"
            f" {r.megabytes / r.prescan_s:>14.0f}  {r.baseline}"
        )
    return "\n".join(lines)


pytestmark = pytest.mark.timeout(900)


def test_replay_read_throughput(benchmark: Any, tmp_path: Path) -> None:
    quick = benchmark.disabled
    events = QUICK_EVENTS if quick else FULL_EVENTS
    rounds = 1 if quick else ROUNDS
    results = compare(tmp_path, events, rounds)
    print("\n" + table(results, rounds))
    for r in results:
        key = r.what.lower().replace(" ", "_")
        benchmark.extra_info[f"{key}_fastfeed_events_per_s"] = round(r.events / r.fastfeed_s)
        benchmark.extra_info[f"{key}_baseline_events_per_s"] = round(r.events / r.baseline_s)
        benchmark.extra_info[f"{key}_ratio"] = round(r.ratio, 2)
        benchmark.extra_info[f"{key}_prescan_mb_per_s"] = round(r.megabytes / r.prescan_s)
    # Checked in `compare`: lines byte for byte, CSV values bit for bit.
    benchmark.extra_info["outputs_match"] = True
    jsonl = tmp_path / "day.jsonl"
    benchmark.pedantic(read_fastfeed, args=(jsonl,), rounds=rounds, iterations=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=FULL_EVENTS, help="events per file")
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="interleaved rounds")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        print(table(compare(Path(directory), args.events, args.rounds), args.rounds))


if __name__ == "__main__":
    main()
