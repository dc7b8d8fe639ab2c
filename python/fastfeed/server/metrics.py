"""Prometheus metrics (``serve --metrics-port N``, SPEC §9).

Nothing here runs per event, nor per batch: :class:`ServerCollector` is a prometheus-client
collector whose :meth:`~ServerCollector.collect` reads, at scrape time, the counts the server
keeps anyway — the Rust hub's (events published, rejected, subscriptions), each
:class:`~fastfeed.server.connection.Connection`'s (``sent``, ``dropped``, pending bytes; the
endpoints keep the sums of closed connections), the hub's losses (:meth:`Hub.count_lost
<fastfeed.server.hub.Hub.count_lost>`, :meth:`Hub.report_loss
<fastfeed.server.hub.Hub.report_loss>`), its per-batch latency histogram, and the source's own
counts (:class:`~fastfeed.server.source.SourceCounts`).

The metrics are served by aiohttp on the server's own event loop, so a scrape reads those
counts between two callbacks and never races the loop (prometheus-client's own server runs in
a thread). The port is bound before the WebSocket server starts: a port in use fails first.
"""

from __future__ import annotations

import errno
import logging
import socket
from collections.abc import Iterator
from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from fastfeed.server.config import MetricsPortError
from fastfeed.server.connection import ConnectionCounts
from fastfeed.server.guard import format_host
from fastfeed.server.hub import LatencyHistogram, Wire
from fastfeed.server.source import CountedSource, SourceCounts

if TYPE_CHECKING:
    from fastfeed.server.server import Server

__all__ = ["MetricsServer", "ServerCollector", "bind_metrics_socket"]

log = logging.getLogger("fastfeed.server")

#: The ``endpoint`` label of ``--publish``'s Redis publisher, a consumer like the endpoints.
REDIS_PUBLISH = "redis-publish"


class ServerCollector(Collector):
    """The server's metrics, read from its counters at each scrape (see the module docs)."""

    def __init__(self, server: Server) -> None:
        self._server = server

    def collect(self) -> Iterator[Metric]:
        server = self._server
        hub = server.hub
        core = hub.core
        source = server.source
        counts = source.counts() if isinstance(source, CountedSource) else SourceCounts("custom")
        kind = [counts.kind]

        yield _per_source(
            CounterMetricFamily,
            "fastfeed_source_events",
            "Data events the source handed to the hub.",
            kind,
            core.published,
        )

        sent = CounterMetricFamily(
            "fastfeed_events_sent",
            "Data events written to consumers, summed over connections (each client counts "
            "the events written to it).",
            labels=["endpoint"],
        )
        dropped = CounterMetricFamily(
            "fastfeed_events_dropped",
            "Data events meant for a consumer that did not reach it, summed over connections: "
            "slow_consumer (over its pending budget, or Redis down or slow for the publisher), "
            "closed (queued when the connection closed), redis_gap (missing from a Redis "
            "channel's pseq), upstream (lost by a relay's upstream). Per connection, the sum "
            "over reasons is its STATUS dropped.",
            labels=["endpoint", "reason"],
        )
        clients = GaugeMetricFamily(
            "fastfeed_clients", "Open client connections.", labels=["endpoint"]
        )
        pending = GaugeMetricFamily(
            "fastfeed_pending_bytes",
            "Bytes waiting to be written to the endpoint's clients (queues and transport buffers).",
            labels=["endpoint"],
        )
        command_errors = CounterMetricFamily(
            "fastfeed_command_errors",
            "Client commands answered with an error (invalid, refused, too many streams).",
            labels=["endpoint"],
        )
        for path, endpoint in server.endpoints.items():
            total = ConnectionCounts()
            total.add(endpoint.retired)
            pending_bytes = 0
            live = list(endpoint.connections)
            for connection in live:
                total.add(connection)
                pending_bytes += connection.pending_bytes
            wire: Wire = "events" if path == "/v1/events" else "stream"
            sent.add_metric([path], total.sent)
            dropped.add_metric([path, "slow_consumer"], total.dropped_slow)
            dropped.add_metric([path, "closed"], total.discarded)
            dropped.add_metric([path, "redis_gap"], hub.lost[wire, "redis_gap"])
            dropped.add_metric([path, "upstream"], hub.lost[wire, "upstream"])
            clients.add_metric([path], len(live))
            pending.add_metric([path], pending_bytes)
            command_errors.add_metric([path], total.command_errors)
        if counts.publish is not None:
            sent.add_metric([REDIS_PUBLISH], counts.publish.sent)
            dropped.add_metric([REDIS_PUBLISH, "slow_consumer"], counts.publish.dropped)
            pending.add_metric([REDIS_PUBLISH], counts.publish.pending_bytes)
        yield from (sent, dropped, clients, pending, command_errors)

        streams, subscriptions = core.subscription_counts
        yield GaugeMetricFamily(
            "fastfeed_subscriptions",
            "Active subscriptions, summed over connections.",
            value=subscriptions,
        )
        yield GaugeMetricFamily(
            "fastfeed_subscribed_streams",
            "Distinct streams somebody subscribed to (the union).",
            value=streams,
        )
        if counts.upstream_subscriptions is not None:
            yield _per_source(
                GaugeMetricFamily,
                "fastfeed_upstream_subscriptions",
                "What the source is subscribed to upstream: Redis channels and patterns, or a "
                "relay's streams.",
                kind,
                counts.upstream_subscriptions,
            )
        yield _per_source(
            GaugeMetricFamily,
            "fastfeed_upstream_connected",
            "1 while the source's upstream is connected (clients' STATUS says CONNECTED).",
            kind,
            1 if hub.upstream_connected else 0,
        )
        yield _per_source(
            CounterMetricFamily,
            "fastfeed_source_events_lost",
            "Events the source knows it lost upstream (Redis gaps, a relay's upstream drops), "
            "counted once.",
            kind,
            hub.source_lost,
        )
        yield _per_source(
            CounterMetricFamily,
            "fastfeed_decode_errors",
            "Source input that was not a valid event and was skipped (bad lines, objects, "
            "payloads or frames).",
            kind,
            counts.decode_errors,
        )
        yield CounterMetricFamily(
            "fastfeed_events_rejected",
            "Events the hub could not aggregate or encode (non-finite price, unknown contract), "
            "skipped.",
            value=core.rejected,
        )
        reconnects = CounterMetricFamily(
            "fastfeed_reconnects",
            "Connections to an upstream after the first: the source's (relay, HTTP requests, "
            "Redis edge) and the Redis publisher's.",
            labels=["link"],
        )
        reconnects.add_metric(["source"], counts.reconnects)
        if counts.publish is not None:
            reconnects.add_metric([REDIS_PUBLISH], counts.publish.reconnects)
        yield reconnects

        latency = HistogramMetricFamily(
            "fastfeed_delivery_latency_seconds",
            "Per batch: from the source handing it to the hub to its last write to a "
            "consumer's transport (or queue).",
        )
        histogram: LatencyHistogram = hub.latency
        cumulative = 0
        buckets: list[tuple[str, float]] = []
        for bound, count in zip(
            (*(repr(b) for b in histogram.BOUNDS), "+Inf"), histogram.counts, strict=True
        ):
            cumulative += count
            buckets.append((bound, cumulative))
        latency.add_metric([], buckets, histogram.sum)
        yield latency


def _per_source(
    family: type[CounterMetricFamily] | type[GaugeMetricFamily],
    name: str,
    documentation: str,
    kind: list[str],
    value: float,
) -> Metric:
    """A family with one sample, labelled with the kind of source."""
    metric = family(name, documentation, labels=["source"])
    metric.add_metric(kind, value)
    return metric


def bind_metrics_socket(host: str, port: int) -> socket.socket:
    """A listening socket for the metrics on ``host``:``port``; raises
    :class:`~fastfeed.server.config.MetricsPortError` (one line) when it cannot be bound."""
    shown = f"{format_host(host)}:{port}"
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as error:
        raise MetricsPortError(f"metrics-port: cannot bind {shown}: {error.strerror}") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(64)
    except OSError as error:
        sock.close()
        if error.errno == errno.EADDRINUSE:
            raise MetricsPortError(
                f"metrics-port: {port} on {format_host(host)} is in use by another program; "
                "choose another with --metrics-port"
            ) from None
        raise MetricsPortError(f"metrics-port: cannot bind {shown}: {error.strerror}") from None
    sock.setblocking(False)
    return sock


class MetricsServer:
    """``GET /metrics`` on its own port, in the Prometheus text format."""

    def __init__(self, server: Server) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(ServerCollector(server))
        # The process's CPU, memory and file descriptors (process_* metrics).
        ProcessCollector(registry=self.registry)
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def start(self, sock: socket.socket) -> None:
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        await web.SockSite(runner, sock).start()
        self._runner = runner
        host, self.port = sock.getsockname()[:2]
        log.info("metrics on http://%s:%d/metrics", format_host(host), self.port)

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _metrics(self, request: web.Request) -> web.Response:
        # The Prometheus text format, or OpenMetrics when the scraper asks for it.
        encode, content_type = choose_encoder(request.headers.get("Accept", ""))
        return web.Response(body=encode(self.registry), headers={"Content-Type": content_type})
