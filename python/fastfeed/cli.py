"""The ``fastfeed`` command line (SPEC §9)."""

from __future__ import annotations

import argparse
import logging
import math
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from fastfeed import __version__
from fastfeed._core import typed_contract
from fastfeed._loop import run as run_loop
from fastfeed._process import stop_on_signals
from fastfeed.bars import parse_interval
from fastfeed.errors import AddressInUseError, BarsError, ConfigError, FastfeedError
from fastfeed.server import DEFAULT_PORT, ServerConfig, Source, serve
from fastfeed.server.config import MetricsPortError
from fastfeed.server.guard import format_host
from fastfeed.server.pacing import parse_speed
from fastfeed.server.redis_link import RedisUrl, check_settings
from fastfeed.server.synthetic import DEFAULT_SYMBOLS, SyntheticSource, SyntheticSpec

_REDIS_SCHEMES = ("redis:", "rediss:")


class _OneLineParser(argparse.ArgumentParser):
    """Bad flags exit 2 with a single line (argparse prints the whole usage first)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port 0-65535, got {text!r}")
    return value


def _metrics_port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port 1-65535, got {text!r}")
    return value


def _rate(text: str) -> float | None:
    if text == "max":
        return None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected events per second or 'max', got {text!r}"
        ) from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected events per second or 'max', got {text!r}")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer 0 to 2^64-1, got {text!r}") from None
    if not 0 <= value < 2**64:
        raise argparse.ArgumentTypeError(f"expected an integer 0 to 2^64-1, got {text!r}")
    return value


def _symbols(text: str) -> tuple[str, ...]:
    symbols = tuple(typed_contract(s) for s in text.split(","))
    if not all(symbols):
        raise argparse.ArgumentTypeError(f"expected comma-separated symbols, got {text!r}")
    return symbols


def _intervals(text: str) -> tuple[int, ...]:
    try:
        return tuple(parse_interval(part) for part in text.split(","))
    except BarsError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _redis_url(text: str) -> RedisUrl:
    try:
        url = RedisUrl.parse(text)
        url.ssl_context()  # a CA file that cannot be loaded is a bad flag
        return url
    except ConfigError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _source(text: str) -> str:
    if text == "synthetic":
        return text
    if text.startswith(_REDIS_SCHEMES):
        _redis_url(text)
        return text
    if text.startswith("replay:"):
        if text == "replay:":
            raise argparse.ArgumentTypeError(
                "replay: needs a path or glob, e.g. replay:day.jsonl.gz"
            )
        return text
    check: Callable[[str], object] | None = None
    if text.startswith(("ws://", "wss://")):
        from fastfeed.server.relay import RelaySpec as check
    elif text.startswith(("http://", "https://")):
        from fastfeed.server.http_source import HttpSpec as check
    if check is not None:
        try:
            check(text)
        except ConfigError as error:
            raise argparse.ArgumentTypeError(str(error).removeprefix("source: ")) from None
        return text
    raise argparse.ArgumentTypeError(
        f"{text!r} is not available in this version (synthetic, replay:PATH, "
        "ws://HOST:PORT/v1/events, http://… or https://…, redis://… or rediss://…)"
    )


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a positive number of seconds, got {text!r}"
        ) from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def _header(text: str) -> tuple[str, str]:
    from fastfeed.server.http_source import parse_header

    try:
        return parse_header(text)
    except ConfigError as error:
        raise argparse.ArgumentTypeError(str(error).removeprefix("header: ")) from None


def _speed(text: str) -> float | None:
    try:
        return parse_speed(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m fastfeed``."""
    parser = _OneLineParser(
        prog="python -m fastfeed",
        description="fastfeed: market-data feed handler with a Rust core.",
    )
    parser.add_argument("--version", action="version", version=f"fastfeed {__version__}")
    commands = parser.add_subparsers(
        dest="command", metavar="COMMAND", required=False, parser_class=_OneLineParser
    )
    serve_parser = commands.add_parser(
        "serve",
        help="run the WebSocket server (/v1/events and /v1/stream)",
        description=(
            "Run the WebSocket server on the built-in synthetic market: stocks, an index and "
            "an option chain with quotes, trades and open interest, stamped with the wall "
            "clock in America/New_York. /v1/events serves one client at a time (a new "
            "connection takes over); /v1/stream serves up to --max-clients clients, each "
            "with its own SUBSCRIBE/UNSUBSCRIBE streams. Both share one market: every event "
            "is aggregated and encoded once, however many clients want it. --source serves "
            "recorded files (replay:PATH) or relays an upstream server (ws://HOST:PORT/v1/events) "
            "instead of the synthetic market."
        ),
    )
    serve_parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind (default 127.0.0.1); a non-loopback address requires --token",
    )
    serve_parser.add_argument(
        "--port", type=_port, default=DEFAULT_PORT, help=f"TCP port (default {DEFAULT_PORT})"
    )
    serve_parser.add_argument(
        "--allow-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="accept browser handshakes from ORIGIN (repeatable; default: none, so any "
        "handshake with an Origin header gets HTTP 403)",
    )
    serve_parser.add_argument(
        "--token",
        help="require 'Authorization: Bearer TOKEN' or '?token=TOKEN' on the handshake "
        "(HTTP 401 otherwise)",
    )
    serve_parser.add_argument(
        "--tls-cert",
        metavar="FILE",
        help="serve wss:// with this certificate chain (PEM; with --tls-key). A non-loopback "
        "--host requires it, so the token never crosses a network in clear",
    )
    serve_parser.add_argument(
        "--tls-key", metavar="FILE", help="the private key (PEM) of --tls-cert"
    )
    serve_parser.add_argument(
        "--max-subscriptions",
        type=_positive_int,
        default=10_000,
        metavar="N",
        help="streams per connection before MAX_STREAMS_REACHED / TOO_MANY_STREAMS (default 10000)",
    )
    serve_parser.add_argument(
        "--max-clients",
        type=_positive_int,
        default=1000,
        metavar="N",
        help="concurrent /v1/stream connections; more get HTTP 503 (default 1000)",
    )
    serve_parser.add_argument(
        "--strict",
        action="store_true",
        help=(
            "accept only JSON commands on /v1/events; by default the forms the original "
            "terminal's documentation sends are read too (a Python dict's repr, expiration and "
            "strike as digit strings, STREAM_BULK, STOP without an id)"
        ),
    )
    serve_parser.add_argument(
        "--slow-consumer",
        choices=("drop", "disconnect"),
        default="drop",
        help="when more than --max-pending-bytes wait for a client: drop new events and "
        "count them in STATUS (default), or close with 1008",
    )
    serve_parser.add_argument(
        "--max-pending-bytes",
        type=_positive_int,
        default=8 * 1024 * 1024,
        metavar="N",
        help="bytes that may wait to be written to a client (default 8388608)",
    )
    serve_parser.add_argument(
        "--source",
        type=_source,
        default="synthetic",
        metavar="SPEC",
        help="where events come from: synthetic (default); replay:PATH — JSON Lines of "
        "events (what record writes; .gz too) or CSV with a header row; a glob merges several "
        "files in time order; ws://HOST:PORT/v1/events or wss://… — relay of an upstream "
        "server (another fastfeed, a relay, the original terminal): one upstream connection "
        "subscribed to the union of what local clients want, reconnecting with backoff "
        "(also while it is unreachable at start) while local clients stay connected and see "
        "DISCONNECTED in their STATUS; http://… or https://… — an HTTP chunked stream of JSON "
        "events (TradeStation-style streaming responses); redis://[:password@]host:port/db or "
        "rediss://… (TLS) — an edge serving the channels a --publish server publishes, "
        "subscribed while a local client wants them",
    )
    serve_parser.add_argument(
        "--publish",
        type=_redis_url,
        metavar="redis://…",
        help="also publish every event to Redis Pub/Sub, on channels ff:<SEC>:<REQ>:<contract> "
        "with a per-channel pseq in the header (pipelined; when Redis is slow or down, events "
        "are dropped and counted, never held). redis://[[user]:password@]host[:port][/db]; "
        "rediss://… for TLS, verifying Redis's certificate against the system's CAs, plus a "
        "private CA with ?ssl_ca_certs=FILE (also for --source). A password, user, db or "
        "certificate that Redis refuses at startup exits 2",
    )
    serve_parser.add_argument(
        "--redis-cluster",
        action="store_true",
        help="the redis:// (or rediss://) of --publish / --source is a node of a Redis Cluster "
        "(Redis >= 7): sharded Pub/Sub, each channel on the node that owns its slot "
        "(SPUBLISH/SSUBSCRIBE); whole-market streams are not served by a cluster edge",
    )
    http = serve_parser.add_argument_group(
        "live upstreams (--source http://…, https://…; --header also ws://…, wss://…)"
    )
    http.add_argument(
        "--idle-timeout",
        type=_seconds,
        default=None,
        metavar="S",
        help="request again (after a backoff) when nothing was received for S seconds "
        '(default 30); errors, error statuses and {"Error": …} also request again, '
        '{"StreamStatus": "GoAway"} at once; clients stay connected, their STATUS '
        "saying DISCONNECTED meanwhile",
    )
    http.add_argument(
        "--header",
        type=_header,
        action="append",
        default=[],
        metavar="'NAME: VALUE'",
        help="add a request header (repeatable), e.g. 'Authorization: Bearer TOKEN', to the "
        "HTTP request or, for a ws:// or wss:// relay, to the upstream handshake; the values "
        "of Authorization, Proxy-Authorization and Cookie are never logged",
    )
    replay = serve_parser.add_argument_group("replay (--source replay:PATH)")
    replay.add_argument(
        "--speed",
        type=_speed,
        default=1.0,
        metavar="X|max",
        help="market time per wall time: 1 (default) is real time from the events' ms_of_day "
        "gaps, 10 ten times faster; max goes as fast as the slowest client reads, never "
        "dropping",
    )
    replay.add_argument(
        "--pace",
        choices=("time", "ack"),
        default="time",
        help="ack: seed 004 lock-step on /v1/events — each event's header carries an id and "
        "the next goes out only after the client's event_ack (default: time, see --speed)",
    )
    replay.add_argument(
        "--ack-window",
        type=_positive_int,
        default=1,
        metavar="N",
        help="with --pace ack: events outstanding at most (default 1)",
    )
    replay.add_argument(
        "--loop",
        action="store_true",
        help="start again at the end instead of closing every client with 'end of replay' "
        "and exiting 0",
    )
    replay.add_argument(
        "--on-bad-line",
        choices=("stop", "skip"),
        default="stop",
        help="a line that is not a valid event stops the replay with PATH:LINE: reason and "
        "exit 1 (stop, default), or is skipped, counted and logged (skip)",
    )
    serve_parser.add_argument(
        "--rate",
        type=_rate,
        default=2000.0,
        metavar="N|max",
        help="synthetic events per second (default 2000); 'max' sends as fast as the "
        "clients read (a client that takes nothing for 0.5 s stops holding the others back)",
    )
    serve_parser.add_argument(
        "--seed",
        type=_seed,
        default=0,
        metavar="N",
        help="seed of the synthetic market: the same seed draws the same events (default 0)",
    )
    serve_parser.add_argument(
        "--symbols",
        type=_symbols,
        default=DEFAULT_SYMBOLS,
        metavar="A,B,...",
        help="synthetic stocks; the option chain is on the first "
        f"(default {','.join(DEFAULT_SYMBOLS)}; the index is SPX)",
    )
    serve_parser.add_argument(
        "--no-ohlcvc",
        dest="ohlcvc",
        action="store_false",
        help="do not send the session OHLC event after each trade",
    )
    serve_parser.add_argument(
        "--bar-intervals",
        type=_intervals,
        default=(1000, 60_000),
        metavar="LIST",
        help="bar intervals of the server's rings, e.g. 1s,1m (default 1s,1m)",
    )
    serve_parser.add_argument(
        "--metrics-port",
        type=_metrics_port,
        default=None,
        metavar="N",
        help="serve Prometheus metrics at http://HOST:N/metrics (HOST: --host): events in "
        "and out, dropped by reason, clients, subscriptions, errors, reconnects, pending "
        "bytes, delivery latency (default: none)",
    )
    serve_parser.add_argument(
        "--log-level",
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        default="INFO",
        type=str.upper,
        help="logging level (default INFO)",
    )
    _add_client_commands(commands)
    _add_bench_command(commands)
    return parser


async def _serve_until_signal(
    config: ServerConfig, source: Source, redis: list[tuple[str, RedisUrl]], cluster: bool
) -> None:
    # A wrong password or db is a bad flag, not an outage: say so before serving.
    for flag, url in redis:
        await check_settings(url, cluster=cluster, flag=flag)
    await serve(config, source, stop=stop_on_signals())


def _redis_flags(args: argparse.Namespace) -> list[tuple[str, RedisUrl]]:
    """The Redis URLs of ``serve``'s flags, to check at startup."""
    urls = [("--publish", args.publish)] if args.publish is not None else []
    if args.source.startswith(_REDIS_SCHEMES):
        urls.append(("--source", RedisUrl.parse(args.source)))
    return urls


def _run_serve(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # fastfeed logs connects and disconnects itself; picows' own lines only under DEBUG.
    logging.getLogger("picows").setLevel(max(logging.WARNING, logging.getLevelName(args.log_level)))
    try:
        config = ServerConfig(
            host=args.host,
            port=args.port,
            allow_origins=tuple(args.allow_origin),
            token=args.token,
            tls_cert=args.tls_cert,
            tls_key=args.tls_key,
            max_subscriptions=args.max_subscriptions,
            max_clients=args.max_clients,
            strict=args.strict,
            slow_consumer=args.slow_consumer,
            max_pending_bytes=args.max_pending_bytes,
            ohlcvc=args.ohlcvc,
            bar_intervals_ms=args.bar_intervals,
            metrics_port=args.metrics_port,
        )
        config.tls_context()  # a certificate that cannot be loaded is a bad flag
        source = _make_source(args)
    except ConfigError as error:
        print(f"python -m fastfeed serve: error: {error}", file=sys.stderr)
        return 2
    except FastfeedError as error:  # a replay's files (ReplayError)
        print(f"python -m fastfeed serve: {error}", file=sys.stderr)
        return 2
    try:
        run_loop(_serve_until_signal(config, source, _redis_flags(args), args.redis_cluster))
    except ConfigError as error:  # Redis refused the settings of a flag
        print(f"python -m fastfeed serve: error: {error}", file=sys.stderr)
        return 2
    except AddressInUseError as error:
        print(f"python -m fastfeed serve: {error}; choose another with --port", file=sys.stderr)
        return 1
    except MetricsPortError as error:  # raised before anything is served
        print(f"python -m fastfeed serve: error: {error}", file=sys.stderr)
        return 2
    except FastfeedError as error:
        print(f"python -m fastfeed serve: {error}", file=sys.stderr)
        return 1
    except OSError as error:
        print(
            f"python -m fastfeed serve: cannot serve on "
            f"{format_host(config.host)}:{config.port}: {error}",
            file=sys.stderr,
        )
        return 1
    return 0


def _make_source(args: argparse.Namespace) -> Source:
    """The ``--source`` of ``serve``, publishing to Redis with ``--publish``; raises
    ``ConfigError`` or ``ReplayError``."""
    source = _source_of(args)
    if args.publish is not None:
        from fastfeed.server.redis_publish import PublishingSource, RedisPublisher

        source = PublishingSource(source, RedisPublisher(args.publish, cluster=args.redis_cluster))
    return source


def _source_of(args: argparse.Namespace) -> Source:
    is_http = args.source.startswith(("http://", "https://"))
    is_relay = args.source.startswith(("ws://", "wss://"))
    if not is_http and args.idle_timeout is not None:
        raise ConfigError("--idle-timeout applies to http:// and https:// sources only")
    if not (is_http or is_relay) and args.header:
        raise ConfigError("--header applies to http://, https://, ws:// and wss:// sources only")
    if is_http:
        from fastfeed.server.http_source import DEFAULT_IDLE_TIMEOUT, HttpSource, HttpSpec

        idle = DEFAULT_IDLE_TIMEOUT if args.idle_timeout is None else args.idle_timeout
        return HttpSource(HttpSpec(args.source, tuple(args.header), idle_timeout=idle))
    if args.source.startswith("replay:"):
        from fastfeed.server.replay import ReplaySource, ReplaySpec

        spec = ReplaySpec(
            path=args.source.removeprefix("replay:"),
            speed=args.speed,
            pace_ack=args.pace == "ack",
            ack_window=args.ack_window,
            loop=args.loop,
            on_bad_line=args.on_bad_line,
            progress=True,
        )
        return ReplaySource(spec)
    if is_relay:
        from fastfeed.server.relay import RelaySource, RelaySpec

        return RelaySource(RelaySpec(args.source, headers=tuple(args.header)))
    if args.source.startswith(_REDIS_SCHEMES):
        from fastfeed.server.redis_source import RedisSource

        return RedisSource(RedisUrl.parse(args.source), cluster=args.redis_cluster)
    return SyntheticSource(SyntheticSpec(seed=args.seed, rate=args.rate, symbols=args.symbols))


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command line; returns the process exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        # Plain `python -m fastfeed`: what there is to run.
        parser.print_help(sys.stderr)
        return 2
    if args.command == "serve":
        return _run_serve(args)
    if args.command in ("tail", "record"):
        from fastfeed.record import run_record
        from fastfeed.tail import run_tail

        return run_tail(args) if args.command == "tail" else run_record(args)
    if args.command == "bench":
        from fastfeed.bench import run_bench

        return run_bench(args)
    return 2


def _add_client_commands(commands: argparse._SubParsersAction[_OneLineParser]) -> None:
    """The client SDK's commands (kept apart from ``serve``)."""
    from fastfeed.record import add_record_arguments
    from fastfeed.tail import add_tail_arguments

    add_tail_arguments(
        commands.add_parser(
            "tail",
            help="print a live stream (table or JSON lines)",
            description="Subscribe and print events on stdout: one row of at most 80 columns "
            "each, or --json lines. On a terminal, a status line (rates, gaps, drops) stays at "
            "the bottom and at most --lines-per-second rows are printed, sampled, while all "
            "are counted. The header, notices (gaps, reconnects, quiet subscriptions: at most "
            "one line a second of each kind) and summaries go to stderr. Ctrl-C exits 130, "
            "SIGTERM 143; a second one exits at once.",
        )
    )
    add_record_arguments(
        commands.add_parser(
            "record",
            help="write a stream to JSON Lines (replay format)",
            description="Subscribe and write every data event as one line of the server's "
            "event JSON "
            "(gzip when FILE ends in .gz); the file replays with serve --source replay:FILE. "
            "Written at least every second, whole lines (one gzip member) at a time, by a "
            "child process: the file stays valid even after kill -9, losing at most the last "
            "second. Nothing is dropped here: a full queue stops reading the socket; what the "
            "server drops is reported as gaps. On a terminal, a live status line on stderr; "
            "else one summary line at the end. Ctrl-C exits 130, SIGTERM 143.",
        )
    )


def _add_bench_command(commands: argparse._SubParsersAction[_OneLineParser]) -> None:
    """``bench``: the comparison harness (its code is imported only when it runs)."""
    from fastfeed.bench import add_bench_arguments

    add_bench_arguments(
        commands.add_parser(
            "bench",
            help="measure fastfeed beside its baselines on this machine",
            description="Run the comparison benchmarks on this machine: client ingest, server "
            "egress, fan-out to 1/10/100 clients, batch OHLC bars and replay, each beside the "
            "baselines that are installed (picows + orjson, websockets, pandas, numpy, "
            "polars; a missing one is skipped and listed). Rounds are interleaved; the table "
            "shows medians and fastfeed's rate divided by each baseline's (and the share of "
            "the machine's ceiling where one is measured: raw loopback, pre-built frames). "
            "Servers and clients run as child processes on 127.0.0.1; Ctrl-C stops them and "
            "exits 130. Exit status 1 if a scenario fails or its outputs differ from a "
            "baseline's.",
        )
    )
