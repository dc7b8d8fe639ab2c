"""Throughput of the seed-002 JSON stream splitter against a pure-Python newline splitter.

The stream is ~50 MB of ~200-byte quote objects (TradeStation-style), fed in 64 KiB chunks, so
objects regularly span chunks. Both sides must produce the same objects.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from typing import Any

import pytest
from fastfeed import JsonStreamSplitter

CHUNK = 64 << 10
STREAM_BYTES = 50_000_000


@pytest.fixture(scope="module")
def stream() -> bytes:
    template = [
        json.dumps(
            {
                "Symbol": f"SYM{i}",
                "Ask": f"{100 + i % 50}.{i % 100:02}",
                "Bid": f"{99 + i % 50}.{i % 97:02}",
                "AskSize": str(i % 1000),
                "BidSize": str(i % 900),
                "Last": f"{100 + i % 40}.5",
                "Volume": str(i * 7919),
                "TradeTime": f"2024-03-01T14:30:{i % 60:02}Z",
                "Description": 'café {"X"} [1]',
            },
            separators=(",", ":"),
            ensure_ascii=False,
        ).encode()
        + b"\n"
        for i in range(1000)
    ]
    block = b"".join(template)
    return block * (STREAM_BYTES // len(block) + 1)


def chunks_of(stream: bytes) -> list[bytes]:
    return [stream[i : i + CHUNK] for i in range(0, len(stream), CHUNK)]


def split_with_fastfeed(chunks: list[bytes]) -> list[bytes]:
    splitter = JsonStreamSplitter()
    objects: list[bytes] = []
    for chunk in chunks:
        objects.extend(splitter.feed(chunk))
    return objects


def split_with_fastfeed_packed(chunks: list[bytes]) -> list[bytes]:
    splitter = JsonStreamSplitter()
    count = 0
    last = b""
    for chunk in chunks:
        data, offsets = splitter.feed_packed(chunk)
        count += len(offsets) - 1
        if len(offsets) > 1:
            last = data[offsets[-2] : offsets[-1]]
    return [last] * count  # only the count and the last object are compared


def split_on_newlines(chunks: list[bytes]) -> list[bytes]:
    """The seed's "simple but effective technique": buffer, split on newline, keep the tail."""
    objects: list[bytes] = []
    tail = b""
    for chunk in chunks:
        parts = (tail + chunk).split(b"\n")
        tail = parts.pop()
        objects.extend(p for p in parts if p)
    return objects


def timed(fn: Callable[[list[bytes]], list[bytes]], chunks: list[bytes], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        fn(chunks)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


@pytest.mark.parametrize(
    "splitter", [split_with_fastfeed, split_with_fastfeed_packed], ids=["feed", "feed_packed"]
)
def test_splitter_throughput(
    benchmark: Any, stream: bytes, splitter: Callable[[list[bytes]], list[bytes]]
) -> None:
    chunks = chunks_of(stream)
    expected = split_on_newlines(chunks)
    objects = benchmark.pedantic(splitter, args=(chunks,), rounds=5, iterations=1)
    if splitter is split_with_fastfeed:
        assert objects == expected
    else:
        assert (len(objects), objects[-1]) == (len(expected), expected[-1])
    assert json.loads(objects[-1])["Description"] == 'café {"X"} [1]'

    rounds = 1 if benchmark.disabled else 3
    ours = timed(splitter, chunks, rounds)
    baseline = timed(split_on_newlines, chunks, rounds)
    benchmark.extra_info.update(
        bytes=len(stream),
        objects=len(expected),
        gb_per_s=len(stream) / ours / 1e9,
        baseline_gb_per_s=len(stream) / baseline / 1e9,
        ratio_to_newline_split=baseline / ours,
        outputs_match=True,
    )
