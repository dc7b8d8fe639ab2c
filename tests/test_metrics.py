"""``serve --metrics-port``: a real server's Prometheus metrics, scraped over HTTP while fast and
slow clients are served, checked against what the clients received and were told."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from fastfeed.server import QueueSource
from prometheus_client.parser import text_string_to_metric_families
from server_support import RawClient, run, started
from websockets.asyncio.client import ClientConnection, connect

SERVE = [sys.executable, "-m", "fastfeed", "serve"]

#: ``(sample name, sorted labels)`` → value.
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _scrape(session: aiohttp.ClientSession, port: int) -> Samples:
    async with session.get(f"http://127.0.0.1:{port}/metrics") as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain; version=")
        text = await response.text()
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def _get(samples: Samples, name: str, **labels: str) -> float:
    return samples[name, tuple(sorted(labels.items()))]


@dataclass
class _Reader:
    """A fast ``/v1/stream`` client's tally: data messages received, and each STATUS."""

    ws: ClientConnection
    received: int = 0
    statuses: list[dict[str, int]] = field(default_factory=list)
    replies: list[dict[str, Any]] = field(default_factory=list)
    #: The first STATUS after the reply to :meth:`status_after_command`'s command.
    _marker: int | None = None
    _answered: bool = False
    _status_after: asyncio.Future[dict[str, int]] | None = None

    async def run(self) -> None:
        async for message in self.ws:
            data = json.loads(message)
            if data.get("stream") == "@status":
                stats = data["data"]["stats"]
                # What the server guarantees: the data before a STATUS number its `sent`.
                assert stats["sent"] == self.received
                self.statuses.append(stats)
                if self._answered and self._status_after is not None:
                    self._status_after.set_result(stats)
                    self._answered, self._status_after = False, None
            elif "stream" in data:
                self.received += 1
            else:
                self.replies.append(data)
                self._answered = self._answered or data["id"] == self._marker

    async def status_after_command(self, marker: int) -> dict[str, int]:
        """Sends a command now and returns the first STATUS after its reply: made after this
        call, so its counts are at least what the server had counted before it."""
        self._marker, self._answered = marker, False
        self._status_after = asyncio.get_running_loop().create_future()
        await self.ws.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": marker}))
        return await asyncio.wait_for(self._status_after, 10)


def test_metrics_count_what_fast_and_slow_clients_received_and_lost() -> None:
    port, metrics_port = _free_port(), _free_port()
    process = subprocess.Popen(
        [
            *SERVE,
            "--port",
            str(port),
            "--metrics-port",
            str(metrics_port),
            "--rate",
            "20000",
            "--max-pending-bytes",
            "262144",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )

    async def body() -> None:
        async with aiohttp.ClientSession() as session:
            deadline = time.monotonic() + 20
            while True:
                try:
                    first = await _scrape(session, metrics_port)
                    break
                except aiohttp.ClientConnectionError:
                    assert time.monotonic() < deadline, "metrics never came up"
                    await asyncio.sleep(0.1)
            assert _get(first, "fastfeed_clients", endpoint="/v1/stream") == 0

            # Two fast /v1/stream clients (5 subscriptions, one bad command) ...
            fast = []
            for streams in (
                ["stock@full_trades", "option@full_trades", "stock.AAPL@quote"],
                ["stock.SPY@quote", "index.SPX@trade"],
            ):
                ws = await connect(f"ws://127.0.0.1:{port}/v1/stream")
                await ws.send(json.dumps({"method": "SUBSCRIBE", "params": streams, "id": 1}))
                fast.append(_Reader(ws))
            await fast[0].ws.send(json.dumps({"method": "NOPE", "id": 2}))
            tasks = [asyncio.create_task(reader.run()) for reader in fast]
            # ... and a slow /v1/events client (2 subscriptions, one bad command) that stops
            # reading, so the slow-consumer policy drops its events.
            slow, status = await RawClient.connect(port, path="/v1/events")
            assert status == 101
            for command in (
                {"msg_type": "STREAM", "sec_type": "OPTION", "req_type": "FULL_TRADES"},
                {"msg_type": "STREAM", "sec_type": "STOCK", "req_type": "QUOTE"}
                | {"contract": {"symbol": "SPY"}},
                {"msg_type": "STREAM", "sec_type": "STOCK", "req_type": "TRADES"},
            ):
                payload = command | {"add": True, "id": 7}
                slow.send_frame(1, json.dumps(payload).encode())

            async with asyncio.timeout(20):
                while True:
                    samples = await _scrape(session, metrics_port)
                    slow_dropped = _get(
                        samples,
                        "fastfeed_events_dropped_total",
                        endpoint="/v1/events",
                        reason="slow_consumer",
                    )
                    if slow_dropped > 0 and all(reader.statuses for reader in fast):
                        break
                    await asyncio.sleep(0.2)

            # Mid-stream: each fast client's STATUS before and after the scrape bound its
            # `sent` at the scrape.
            before = [reader.statuses[-1] for reader in fast]
            during = await _scrape(session, metrics_port)
            after = [await reader.status_after_command(100) for reader in fast]
            stream_sent = _get(during, "fastfeed_events_sent_total", endpoint="/v1/stream")
            assert sum(s["sent"] for s in before) <= stream_sent <= sum(s["sent"] for s in after)
            stream_dropped = sum(
                _get(during, "fastfeed_events_dropped_total", endpoint="/v1/stream", reason=r)
                for r in ("slow_consumer", "closed", "redis_gap", "upstream")
            )
            assert (
                sum(s["dropped"] for s in before)
                <= stream_dropped
                <= sum(s["dropped"] for s in after)
            )
            assert _get(during, "fastfeed_clients", endpoint="/v1/stream") == 2
            assert _get(during, "fastfeed_clients", endpoint="/v1/events") == 1
            assert _get(during, "fastfeed_subscriptions") == 3 + 2 + 2
            # The union: option@full_trades and stock.SPY@quote are wanted twice.
            assert _get(during, "fastfeed_subscribed_streams") == 5
            assert _get(during, "fastfeed_command_errors_total", endpoint="/v1/stream") == 1
            assert _get(during, "fastfeed_command_errors_total", endpoint="/v1/events") == 1
            assert fast[0].replies[1]["error"]["code"] == "INVALID_METHOD"
            # The slow client's data waits for it, within its budget.
            assert 0 < _get(during, "fastfeed_pending_bytes", endpoint="/v1/events") <= 262144
            for endpoint in ("/v1/events", "/v1/stream"):
                for reason in ("redis_gap", "upstream"):
                    labels = {"endpoint": endpoint, "reason": reason}
                    assert _get(during, "fastfeed_events_dropped_total", **labels) == 0
            assert _get(during, "fastfeed_source_events_total", source="synthetic") > _get(
                first, "fastfeed_source_events_total", source="synthetic"
            )
            assert _get(during, "fastfeed_events_rejected_total") == 0
            assert _get(during, "fastfeed_decode_errors_total", source="synthetic") == 0
            assert _get(during, "fastfeed_upstream_connected", source="synthetic") == 1
            batches = _get(during, "fastfeed_delivery_latency_seconds_count")
            assert batches > 0
            assert _get(during, "fastfeed_delivery_latency_seconds_bucket", le="+Inf") == batches
            assert _get(during, "fastfeed_delivery_latency_seconds_sum") > 0

            # The slow client sends a command and reads again: the first STATUS after its
            # answer was made after the scrape, so its counts bound those of the scrape.
            unsubscribe = {"msg_type": "STREAM", "sec_type": "STOCK", "req_type": "TRADE"}
            unsubscribe |= {"add": False, "id": 99, "contract": {"symbol": "TSLA"}}
            slow.send_frame(1, json.dumps(unsubscribe).encode())
            received = 0
            answered = False
            async with asyncio.timeout(20):
                final: dict[str, int] | None = None
                while final is None:
                    data = await slow.reader.read(1 << 20)
                    assert data
                    for opcode, payload in slow.decoder.feed(data):
                        assert opcode in (1, 9), (opcode, payload)  # text, or a ping
                        if opcode == 9:
                            continue
                        message = json.loads(payload)
                        kind = message["header"]["type"]
                        if kind == "STATUS":
                            assert message["stats"]["sent"] == received
                            if answered:
                                final = message["stats"]
                                break
                        elif kind == "REQ_RESPONSE":
                            answered = answered or message["header"]["req_id"] == 99
                        else:
                            received += 1
            events_sent = _get(during, "fastfeed_events_sent_total", endpoint="/v1/events")
            events_dropped = _get(
                during,
                "fastfeed_events_dropped_total",
                endpoint="/v1/events",
                reason="slow_consumer",
            )
            assert 0 < events_sent <= final["sent"]
            assert 0 < events_dropped <= final["dropped"]

            # Everybody leaves: the counters of closed connections stay, and only grow.
            await slow.close()
            for reader in fast:
                await reader.ws.close()
            await asyncio.gather(*tasks)
            async with asyncio.timeout(10):
                while True:
                    last = await _scrape(session, metrics_port)
                    if all(
                        _get(last, "fastfeed_clients", endpoint=e) == 0
                        for e in ("/v1/events", "/v1/stream")
                    ):
                        break
                    await asyncio.sleep(0.1)
            assert _get(last, "fastfeed_subscriptions") == 0
            assert _get(last, "fastfeed_pending_bytes", endpoint="/v1/events") == 0
            for key, value in during.items():
                if key[0].endswith(("_total", "_count", "_bucket")):
                    assert last[key] >= value, key
            assert _get(last, "fastfeed_events_sent_total", endpoint="/v1/stream") >= sum(
                reader.received for reader in fast
            )
            assert _get(last, "fastfeed_events_sent_total", endpoint="/v1/events") >= final["sent"]
            dropped_total = sum(
                _get(last, "fastfeed_events_dropped_total", endpoint="/v1/events", reason=r)
                for r in ("slow_consumer", "closed")
            )
            assert dropped_total >= final["dropped"]

    try:
        run(body, timeout=60)
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=20)
    assert process.returncode == 0, stderr
    assert f"INFO fastfeed.server: metrics on http://127.0.0.1:{metrics_port}/metrics" in stderr


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            ["--metrics-port", "70000"],
            "python -m fastfeed serve: error: argument --metrics-port: expected a port "
            "1-65535, got '70000'",
        ),
        (
            ["--metrics-port", "0"],
            "python -m fastfeed serve: error: argument --metrics-port: expected a port "
            "1-65535, got '0'",
        ),
        (
            ["--metrics-port", "http"],
            "python -m fastfeed serve: error: argument --metrics-port: expected a port number, "
            "got 'http'",
        ),
        (
            ["--port", "25530", "--metrics-port", "25530"],
            "python -m fastfeed serve: error: metrics-port: 25530 is the WebSocket port "
            "(--port); choose another",
        ),
    ],
)
def test_bad_metrics_ports_exit_2_with_one_line(args: list[str], line: str) -> None:
    done = subprocess.run([*SERVE, *args], capture_output=True, text=True, timeout=30)
    assert (done.returncode, done.stderr, done.stdout) == (2, line + "\n", "")


def test_a_metrics_port_in_use_exits_2_before_serving() -> None:
    port = _free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        metrics_port = taken.getsockname()[1]
        done = subprocess.run(
            [*SERVE, "--port", str(port), "--metrics-port", str(metrics_port)],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert done.returncode == 2
    # The one line: nothing was served (no "serving ws://…" logged before it).
    assert done.stderr == (
        f"python -m fastfeed serve: error: metrics-port: {metrics_port} on 127.0.0.1 is in use "
        "by another program; choose another with --metrics-port\n"
    )
    # And the WebSocket port was released (never bound, or closed again).
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", port))


@pytest.mark.usefixtures("each_loop")
def test_an_embedded_server_serves_metrics_and_releases_the_port() -> None:
    metrics_port = _free_port()

    async def body() -> None:
        async with (
            started(QueueSource(), metrics_port=metrics_port) as server,
            aiohttp.ClientSession() as session,
        ):
            assert server.metrics_port == metrics_port
            samples = await _scrape(session, metrics_port)
            assert _get(samples, "fastfeed_source_events_total", source="custom") == 0
            assert _get(samples, "fastfeed_clients", endpoint="/v1/events") == 0
            async with session.get(f"http://127.0.0.1:{metrics_port}/other") as response:
                assert response.status == 404
            # A scraper asking for OpenMetrics gets it.
            accept = {"Accept": "application/openmetrics-text; version=1.0.0"}
            url = f"http://127.0.0.1:{metrics_port}/metrics"
            async with session.get(url, headers=accept) as response:
                assert response.headers["Content-Type"].startswith("application/openmetrics-text")
                assert (await response.text()).endswith("# EOF\n")
        assert server.metrics_port is None
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", metrics_port))

    run(body)
