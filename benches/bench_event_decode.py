"""Client-side event decoding: fastfeed's EventDecoder against ``orjson.loads`` per message.

200,000 TRADE events over 50 option contracts with realistic values, pre-framed as server
WebSocket frames. fastfeed is fed the wire in 64 KiB chunks (as socket reads arrive) and builds
numpy columns; the baseline gets the payloads already split out of their frames (which favours
it) and only parses each one into a dict. Both must yield the same values, prices bit for bit.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson
import pytest
from fastfeed import EventDecoder, EventEncoder

N_EVENTS = 200_000
N_CONTRACTS = 50
CHUNK = 64 << 10
ROUNDS = 5


class Workload:
    """The same events as framed wire bytes, as bare payloads, and as expected columns."""

    def __init__(self) -> None:
        rng = np.random.default_rng(7)
        encoder = EventEncoder()
        ids = np.array(
            [
                encoder.add_contract(
                    "OPTION", "SPY", 20250321, 550_000 + 5_000 * (i // 2), "CP"[i % 2]
                )
                for i in range(N_CONTRACTS)
            ],
            dtype=np.uint32,
        )
        self.contract_id = ids[rng.integers(0, N_CONTRACTS, N_EVENTS)]
        self.ms_of_day = np.sort(rng.integers(34_200_000, 57_600_000, N_EVENTS)).astype(np.uint32)
        self.sequence = np.arange(1_000_000, 1_000_000 + N_EVENTS, dtype=np.int64)
        self.size = rng.integers(1, 500, N_EVENTS).astype(np.uint32)
        self.condition = rng.integers(0, 130, N_EVENTS).astype(np.uint32)
        # Cent prices 0.05 .. 60.00, as an options feed quotes them.
        self.price = rng.integers(5, 6_000, N_EVENTS) / 100.0
        self.exchange = rng.integers(1, 70, N_EVENTS).astype(np.uint32)
        self.date = np.full(N_EVENTS, 20250321, dtype=np.uint32)
        self.wire = encoder.encode_trades(
            self.contract_id,
            self.ms_of_day,
            self.sequence,
            self.size,
            self.condition,
            self.price,
            self.exchange,
            self.date,
        )
        self.chunks = [self.wire[i : i + CHUNK] for i in range(0, len(self.wire), CHUNK)]
        self.payloads = split_frames(self.wire)
        assert len(self.payloads) == N_EVENTS


def split_frames(wire: bytes) -> list[bytes]:
    """Unmasked single-frame messages → payloads (test helper; the baseline's pre-split input)."""
    out: list[bytes] = []
    pos = 0
    while pos < len(wire):
        n = wire[pos + 1] & 0x7F
        pos += 2
        if n == 126:
            n = int.from_bytes(wire[pos : pos + 2], "big")
            pos += 2
        elif n == 127:
            n = int.from_bytes(wire[pos : pos + 8], "big")
            pos += 8
        out.append(wire[pos : pos + n])
        pos += n
    return out


@pytest.fixture(scope="module")
def workload() -> Workload:
    return Workload()


def decode_fastfeed(chunks: list[bytes]) -> tuple[EventDecoder, list[dict[str, npt.NDArray[Any]]]]:
    decoder = EventDecoder()
    return decoder, [dict(decoder.feed(chunk).trades) for chunk in chunks]


def decode_orjson(payloads: list[bytes]) -> list[Any]:
    loads = orjson.loads
    return [loads(p) for p in payloads]


def median_seconds(fn: Callable[[], object], rounds: int = ROUNDS) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def test_event_decode_throughput(benchmark: Any, workload: Workload) -> None:
    decoder, batches = decode_fastfeed(workload.chunks)
    columns = {
        name: np.concatenate([b[name] for b in batches])
        for name in (
            "contract_id",
            "ms_of_day",
            "sequence",
            "size",
            "condition",
            "price",
            "exchange",
            "date",
        )
    }
    dicts = decode_orjson(workload.payloads)
    trades = [d["trade"] for d in dicts]
    # Both decoders saw the same events; fastfeed's columns equal orjson's values exactly.
    for name in ("ms_of_day", "sequence", "size", "condition", "exchange", "date"):
        np.testing.assert_array_equal(columns[name], [t[name] for t in trades], err_msg=name)
    baseline_prices = np.array([t["price"] for t in trades])
    assert columns["price"].view(np.uint64).tolist() == baseline_prices.view(np.uint64).tolist()
    np.testing.assert_array_equal(columns["price"], workload.price)
    # Decoder ids are dense in order of first appearance; they map back to the same contracts.
    keys = np.array([f"{c[1]}:{c[2]}:{c[3]}:{c[4]}" for c in decoder.contracts])
    baseline_keys = [
        f"{c['symbol']}:{c['expiration']}:{c['strike']}:{c['right']}"
        for c in (d["contract"] for d in dicts)
    ]
    assert keys[columns["contract_id"]].tolist() == baseline_keys
    assert len(decoder.contracts) == N_CONTRACTS

    fastfeed_s = median_seconds(lambda: decode_fastfeed(workload.chunks))
    orjson_s = median_seconds(lambda: decode_orjson(workload.payloads))
    benchmark.extra_info["fastfeed_msgs_per_s"] = round(N_EVENTS / fastfeed_s)
    benchmark.extra_info["orjson_msgs_per_s"] = round(N_EVENTS / orjson_s)
    benchmark.extra_info["ratio"] = round(orjson_s / fastfeed_s, 2)
    benchmark.extra_info["outputs_match"] = True
    benchmark.pedantic(decode_fastfeed, args=(workload.chunks,), rounds=ROUNDS, iterations=1)
