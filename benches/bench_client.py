"""Client ingest over loopback (``fastfeed.bench.client``): the fastfeed SDK against
websockets + json and picows + orjson, and a raw protocol counting the same bytes (the
ceiling).

One pre-framed stream of 200,000 TRADE events (20 option or stock contracts, one hour of
trading) is written by a raw asyncio server in another process to every client, in
interleaved rounds. Each client's time runs from connecting to having its bars. All clients
must compute the same bars (``outputs_match``); the medians and ratios go to ``extra_info``.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastfeed.bench.client import N_CONTRACTS, measure

N_EVENTS = 200_000
ROUNDS = 5


@pytest.mark.parametrize("kind", ["option", "stock"])
def test_client_ingest_throughput(benchmark: Any, kind: str) -> None:
    rounds = 1 if benchmark.disabled else ROUNDS
    result, outputs = measure(kind, N_EVENTS, rounds, lambda: None)
    expected = outputs["picows"]
    assert len(expected) > N_CONTRACTS * 100
    assert sum(row[-1] for row in expected) == N_EVENTS
    assert outputs["websockets"] == expected
    assert outputs["fastfeed"] == expected
    assert result.outputs_match
    for name, rate in result.rates.items():
        benchmark.extra_info[f"{name}_msgs_per_s"] = round(rate)
    ratios = result.ratios
    benchmark.extra_info["ratio_vs_picows"] = round(ratios["picows"], 2)
    benchmark.extra_info["ratio_vs_websockets"] = round(ratios["websockets"], 2)
    benchmark.extra_info["share_of_raw"] = round(ratios["raw"], 2)
    benchmark.extra_info["outputs_match"] = True
    print(f"\nclient ingest ({kind}): {result.as_json()}")
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)
