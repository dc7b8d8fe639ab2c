"""Server egress (``fastfeed.bench.egress``): ``fastfeed serve --rate max`` against a picows
server that ``orjson.dumps`` + ``send()``s one event at a time, each to one client that
subscribes to everything and counts.

Both servers run in their own process (the client takes the other core) and serve the same
synthetic market, OHLC events included. The client decodes every frame with fastfeed's
decoder, so it checks that what arrived is valid events, and it is the same client for both;
both streams must hold every kind of event in about the same share.
"""

from __future__ import annotations

from typing import Any

from fastfeed.bench.egress import measure


def test_egress_throughput(benchmark: Any) -> None:
    target = 100_000 if benchmark.disabled else 1_000_000
    rounds = 1 if benchmark.disabled else 3
    result = measure(target, rounds, lambda: None)
    assert not result.skipped
    assert result.outputs_match
    fastfeed, baseline = result.rates["fastfeed"], result.rates["picows"]
    benchmark.extra_info["fastfeed_events_per_s"] = round(fastfeed)
    benchmark.extra_info["baseline_events_per_s"] = round(baseline)
    benchmark.extra_info["ratio"] = round(fastfeed / baseline, 2)
    benchmark.extra_info["outputs_match"] = True
    print(
        f"\negress: fastfeed {fastfeed:,.0f} events/s, picows+orjson {baseline:,.0f} events/s, "
        f"ratio {fastfeed / baseline:.2f}"
    )
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)
