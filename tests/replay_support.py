"""Recordings for the replay tests: JSON Lines written by the Rust encoder (what ``record``
writes) and CSV files, with known contents."""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from fastfeed import EventEncoder

DATE = 20250321
#: 09:30:00.000 New York.
OPEN_MS = 34_200_000


@dataclass(frozen=True, slots=True)
class Recording:
    """A JSON Lines file and the events in it (parsed), in file order."""

    path: Path
    lines: list[bytes]

    @property
    def events(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines]


def trade_lines(
    symbols: list[str], ms: list[int], prices: list[float], sizes: list[int], first_seq: int = 0
) -> list[bytes]:
    """TRADE lines (and only those), one per row, as the Rust encoder writes them."""
    enc = EventEncoder()
    ids = [enc.add_contract("STOCK", s) for s in symbols]
    n = len(symbols)
    data = enc.encode_trades(
        np.array(ids, dtype=np.uint32),
        np.array(ms, dtype=np.uint32),
        np.arange(first_seq, first_seq + n, dtype=np.int64),
        np.array(sizes, dtype=np.uint32),
        np.zeros(n, dtype=np.uint32),
        np.array(prices, dtype=np.float64),
        np.full(n, 4, dtype=np.uint32),
        np.full(n, DATE, dtype=np.uint32),
        framing="jsonl",
    )
    return data.splitlines()


def quote_lines(symbols: list[str], ms: list[int], bid: float = 10.0) -> list[bytes]:
    enc = EventEncoder()
    ids = [enc.add_contract("STOCK", s) for s in symbols]
    n = len(symbols)
    data = enc.encode_quotes(
        np.array(ids, dtype=np.uint32),
        np.array(ms, dtype=np.uint32),
        np.full(n, 100, dtype=np.uint32),
        np.full(n, 1, dtype=np.uint32),
        np.full(n, bid, dtype=np.float64),
        np.zeros(n, dtype=np.uint32),
        np.full(n, 200, dtype=np.uint32),
        np.full(n, 2, dtype=np.uint32),
        np.full(n, bid + 0.01, dtype=np.float64),
        np.zeros(n, dtype=np.uint32),
        np.full(n, DATE, dtype=np.uint32),
        framing="jsonl",
    )
    return data.splitlines()


def write(path: Path, lines: list[bytes]) -> Recording:
    """Writes ``lines`` (gzip when the name ends in ``.gz``)."""
    data = b"".join(line + b"\n" for line in lines)
    if path.name.endswith(".gz"):
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)
    return Recording(path, lines)


def random_trades(n: int, seed: int, symbols: tuple[str, ...] = ("AAPL", "MSFT")) -> list[bytes]:
    """``n`` trades over ``symbols`` a few ms apart, time-ordered."""
    rng = np.random.default_rng(seed)
    picks = [symbols[i] for i in rng.integers(0, len(symbols), n)]
    ms = (OPEN_MS + np.cumsum(rng.integers(0, 40, n))).tolist()
    prices = np.round(100 + np.cumsum(rng.normal(0, 0.05, n)), 2).tolist()
    sizes = rng.integers(1, 500, n).tolist()
    return trade_lines(picks, ms, prices, sizes)
