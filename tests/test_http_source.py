"""``serve --source http://…`` (SPEC §5, seed 002) against a real HTTP server started by the
test (aiohttp.web, :mod:`tests.http_support`): events of any chunking reach the hub and the
clients byte for byte; control objects, error statuses, stalls, invalid and oversize objects
each do what the SPEC says, with their log line."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import fastfeed
import pytest
from fastfeed import WSFrameDecoder
from fastfeed._core import parse_stream_command
from fastfeed.bars import BarBook
from fastfeed.client.reconnect import Backoff
from fastfeed.server import Server, ServerConfig
from fastfeed.server.http_source import HttpSource, HttpSpec, parse_header, redact_url
from fastfeed.server.hub import Hub
from http_support import (
    END_SNAPSHOT,
    GO_AWAY,
    Upstream,
    error,
    status,
    stream,
    wait_for,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from server_support import run

DATE = 20250321
FAST = Backoff(initial=0.05, cap=0.2)
LOG = "fastfeed.server"
STOCKS = ("AAPL", "MSFT")
OPTION = {"security_type": "OPTION", "symbol": "SPY", "expiration": DATE, "strike": 570000}
STREAMS = [
    "stock@full_trades",
    "option@full_trades",
    "option@full_open_interest",
    *(f"stock.{s}@quote" for s in STOCKS),
    *(f"option.SPY.{DATE}.570000.{r}@quote" for r in "CP"),
]


def event(i: int, note: str = "", ensure_ascii: bool = True) -> bytes:
    """Event ``i``: a TRADE, QUOTE or OPEN_INTEREST of a stock or an option, with an unknown
    ``note`` member (skipped by the decoder, forwarded in the original bytes)."""
    kind = ("TRADE", "QUOTE", "OPEN_INTEREST")[i % 3]
    contract: dict[str, Any]
    if kind == "OPEN_INTEREST" or i % 2:
        contract = {**OPTION, "right": "CP"[i % 4 // 2]}
    else:
        contract = {"security_type": "STOCK", "symbol": STOCKS[i % 4 // 2]}
    ms = 34_200_000 + i
    body: dict[str, Any]
    if kind == "TRADE":
        body = {"ms_of_day": ms, "sequence": i, "size": 1 + i % 9, "condition": 0}
        body |= {"price": 4.15 + i % 7, "exchange": 5, "date": DATE}
    elif kind == "QUOTE":
        body = {"ms_of_day": ms, "bid_size": 3, "bid_exchange": 1, "bid": 4.1, "bid_condition": 0}
        body |= {"ask_size": 5, "ask_exchange": 1, "ask": 4.2, "ask_condition": 0, "date": DATE}
    else:
        body = {"ms_of_day": ms, "open_interest": 1000 + i, "date": DATE}
    key = {"TRADE": "trade", "QUOTE": "quote", "OPEN_INTEREST": "open_interest"}[kind]
    obj = {"header": {"type": kind, "status": "CONNECTED"}, "contract": contract, key: body}
    if note:
        obj["note"] = note
    return json.dumps(obj, ensure_ascii=ensure_ascii, separators=(",", ":")).encode()


class Collector:
    """A hub consumer keeping every event payload it is handed, and where EndSnapshot marks
    and upstream changes fell among them."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.payloads: list[bytes] = []
        self.marks: list[tuple[int, str]] = []
        self._frames = WSFrameDecoder("client", max_message_size=1 << 22)
        self.subscriber = hub.attach(self, "events")
        request = json.dumps({"method": "SUBSCRIBE", "params": STREAMS, "id": 1})
        hub.subscribe(self.subscriber, parse_stream_command(request), len(STREAMS))

    def send_events(self, frames: bytes, count: int) -> bool:
        self.payloads.extend(payload for _, payload in self._frames.feed(frames))
        return True

    def send_status(self, *, end_of_snapshot: bool = False) -> None:
        mark = "EndSnapshot" if end_of_snapshot else f"upstream={self.hub.upstream_connected}"
        self.marks.append((len(self.payloads), mark))


@contextlib.asynccontextmanager
async def ingesting(spec: HttpSpec) -> AsyncIterator[tuple[HttpSource, Collector]]:
    """An :class:`HttpSource` running into a hub with a :class:`Collector` attached."""
    hub = Hub(BarBook([1000], 16), ohlcvc=False)
    collector = Collector(hub)
    source = HttpSource(spec)
    task = asyncio.get_running_loop().create_task(source.run(hub))
    try:
        yield source, collector
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def spec(upstream: Upstream, **settings: Any) -> HttpSpec:
    return HttpSpec(upstream.url, **{"backoff": FAST, **settings})


def messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOG]


def logged(caplog: pytest.LogCaptureFixture, prefix: str) -> str:
    found = [m for m in messages(caplog) if m.startswith(prefix)]
    assert found, f"no log line starting {prefix!r} in {messages(caplog)}"
    return found[0]


# --- any chunking ----------------------------------------------------------------------------

notes = st.text(alphabet='ab{}[]"\\é€😀\n\t,:\x00\u2028', max_size=12)


def rechunk(body: bytes, sizes: list[int]) -> list[bytes]:
    """``body`` cut into pieces of ``sizes`` (cycled), as a proxy might."""
    pieces, at, i = [], 0, 0
    while at < len(body):
        pieces.append(body[at : at + sizes[i % len(sizes)]])
        at += sizes[i % len(sizes)]
        i += 1
    return pieces


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    notes=st.lists(notes, min_size=1, max_size=40),
    separator=st.sampled_from([b"", b"\n", b"\r\n", b" \t"]),
    ensure_ascii=st.booleans(),
    sizes=st.lists(
        st.one_of(st.integers(1, 16), st.integers(17, 512), st.integers(513, 65536)),
        min_size=1,
        max_size=12,
    ),
    snapshot_at=st.integers(0, 40),
)
def test_any_chunking_delivers_the_events_sent_byte_for_byte(
    notes: list[str], separator: bytes, ensure_ascii: bool, sizes: list[int], snapshot_at: int
) -> None:
    sent = [event(i, note, ensure_ascii) for i, note in enumerate(notes)]
    snapshot_at = min(snapshot_at, len(sent))
    objects = [*sent[:snapshot_at], END_SNAPSHOT, *sent[snapshot_at:]]
    body = b"".join(o + separator for o in objects)

    async def main() -> None:
        async with (
            Upstream(stream(*rechunk(body, sizes))) as upstream,
            ingesting(spec(upstream)) as (source, collector),
        ):
            await wait_for(lambda: len(collector.payloads) >= len(sent) and collector.marks[-1:])
            await asyncio.sleep(0.01)
            assert collector.payloads == sent
            snapshot = [at for at, mark in collector.marks if mark == "EndSnapshot"]
            assert snapshot == [snapshot_at]
            assert source.stream.skipped == 0
            assert source.published == len(sent)

    run(main)


def test_a_real_client_gets_the_events_the_snapshot_notice_and_the_outage() -> None:
    """End to end: upstream → ``HttpSource`` → server → ``fastfeed.connect``. The first request
    ends with an Error; clients see UpstreamDown, then UpstreamUp with the second request."""
    sent = [event(i) for i in range(60) if i % 3 == 0 and i % 2 == 0]  # stock trades
    go = asyncio.Event()

    async def main() -> None:
        first = stream(b"".join(sent[:6]), END_SNAPSHOT + sent[6], error("Overloaded"), wait=go)
        second = stream(*sent[7:])
        async with Upstream(first, second) as upstream:
            config = ServerConfig(port=0, status_interval=0.05, ohlcvc=False)
            async with (
                Server(config, HttpSource(spec(upstream))) as server,
                fastfeed.connect(f"ws://127.0.0.1:{server.port}/v1/events") as feed,
            ):
                for symbol in STOCKS:
                    await feed.subscribe("TRADE", fastfeed.Stock(symbol))
                go.set()
                seen: list[Any] = []
                async with asyncio.timeout(10):
                    async for item in feed:
                        if not isinstance(item, fastfeed.Status):
                            seen.append(item)
                        if sum(isinstance(e, fastfeed.Trade) for e in seen) == len(sent):
                            break
        kinds = [type(e).__name__ for e in seen]
        # The SDK may see DISCONNECTED before the first response (the source starts down).
        while kinds[0] in ("UpstreamDown", "UpstreamUp"):
            kinds.pop(0)
        assert kinds == [
            *["Trade"] * 6,
            "EndOfSnapshot",
            "Trade",
            "UpstreamDown",
            "UpstreamUp",
            *["Trade"] * (len(sent) - 7),
        ]
        trades = [e for e in seen if isinstance(e, fastfeed.Trade)]
        assert [t.sequence for t in trades] == [json.loads(e)["trade"]["sequence"] for e in sent]

    run(main, timeout=30)


# --- control objects -------------------------------------------------------------------------


def test_end_snapshot_is_logged_and_marked_after_the_data_before_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, LOG)

    async def main() -> None:
        body = event(0) + event(3) + END_SNAPSHOT + event(6)
        async with (
            Upstream(stream(body)) as upstream,
            ingesting(spec(upstream)) as (_, collector),
        ):
            await wait_for(lambda: len(collector.payloads) == 3)
            assert (2, "EndSnapshot") in collector.marks
        assert logged(caplog, "http: end of snapshot") == "http: end of snapshot (2 events so far)"

    run(main)


def test_go_away_requests_again_at_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, LOG)

    async def main() -> None:
        # After a healthy request (it lasted a second); what follows GoAway is not read.
        first = stream(event(0), GO_AWAY + event(3), pause=1.0)
        async with (
            Upstream(first, stream(event(6))) as upstream,
            ingesting(spec(upstream, backoff=Backoff(initial=5, cap=5))) as (_, collector),
        ):
            requests = await upstream.wait_requests(2)
            await wait_for(lambda: len(collector.payloads) == 2)
            assert requests[1].at - requests[0].at < 1.0 + 0.5  # no 0-5 s backoff
            assert collector.payloads == [event(0), event(6)]
        assert (
            logged(caplog, "http: the server sent GoAway")
            == "http: the server sent GoAway; requesting again now"
        )

    run(main)


def test_a_go_away_loop_backs_off(caplog: pytest.LogCaptureFixture) -> None:
    """A server that answers every request with GoAway gets one request at once, then the
    backoff: not a tight loop."""
    caplog.set_level(logging.INFO, LOG)

    async def main() -> None:
        async with (
            Upstream(stream(event(0), GO_AWAY)) as upstream,
            ingesting(spec(upstream, backoff=Backoff(initial=0.2, cap=0.2))) as (source, _),
        ):
            await asyncio.sleep(1.0)
            assert 3 <= source.requests <= 25
        assert logged(caplog, "http: the server sent GoAway; requesting again in ")

    run(main)


def test_error_ends_the_request_backs_off_and_requests_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, LOG)

    async def main() -> None:
        first = stream(event(0), error("DualLogon", "another session started"), event(3))
        async with (
            Upstream(first, stream(event(6))) as upstream,
            ingesting(spec(upstream)) as (_, collector),
        ):
            await upstream.wait_requests(2)
            await wait_for(lambda: len(collector.payloads) == 2)
            assert collector.payloads == [event(0), event(6)]
            ups = [m for _, m in collector.marks]
            assert ups == ["upstream=False", "upstream=True", "upstream=False", "upstream=True"]
        line = logged(caplog, "http: the server sent Error")
        assert line.startswith(
            "http: the server sent Error: DualLogon: another session started; requesting again in "
        )
        assert line.endswith(" s")

    run(main)


@pytest.mark.parametrize(
    ("code", "body", "line"),
    [
        (500, b"boom", "http: HTTP 500 Internal Server Error: boom; requesting again in "),
        (
            401,
            b'{"error": "invalid token"}\n',
            'http: HTTP 401 Unauthorized: {"error": "invalid token"}; requesting again in ',
        ),
    ],
)
def test_an_error_status_backs_off_and_requests_again(
    caplog: pytest.LogCaptureFixture, code: int, body: bytes, line: str
) -> None:
    caplog.set_level(logging.INFO, LOG)

    async def main() -> None:
        async with (
            Upstream(status(code, body), status(code, body), stream(event(0))) as upstream,
            ingesting(spec(upstream)) as (source, collector),
        ):
            requests = await upstream.wait_requests(3)
            await wait_for(lambda: collector.payloads == [event(0)])
            assert source.requests == 3
            # Two failures in a row: the second waits up to twice as long (full jitter).
            assert requests[2].at - requests[0].at <= 0.05 + 0.1 + 0.2
        assert logged(caplog, f"http: HTTP {code}").startswith(line)

    run(main)


def test_a_stalled_body_is_requested_again_after_the_idle_timeout(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, LOG)

    async def main() -> None:
        async with (
            Upstream(stream(event(0)), stream(event(3))) as upstream,
            ingesting(spec(upstream, idle_timeout=0.3)) as (_, collector),
        ):
            requests = await upstream.wait_requests(2)
            await wait_for(lambda: len(collector.payloads) == 2)
            assert 0.3 <= requests[1].at - requests[0].at < 0.3 + 0.2 + 0.5
        assert logged(caplog, "http: nothing received").startswith(
            "http: nothing received for 0.3 s; requesting again in "
        )

    run(main)


def test_a_refused_connection_backs_off_and_retries(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, LOG)

    async def main() -> None:
        async with Upstream(status(200)) as upstream:
            url = upstream.url
        async with ingesting(HttpSpec(url, backoff=FAST)) as (source, _):
            await wait_for(lambda: source.requests >= 3)
        line = logged(caplog, "http: connection failed")
        assert line.startswith("http: connection failed: Cannot connect to host 127.0.0.1:")
        assert "requesting again in " in line

    run(main)


def test_the_end_of_the_body_requests_again(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, LOG)

    async def main() -> None:
        async with (
            Upstream(stream(event(0), end="close"), stream(event(3))) as upstream,
            ingesting(spec(upstream)) as (_, collector),
        ):
            await wait_for(lambda: len(collector.payloads) == 2)
        assert logged(caplog, "http: the server ended").startswith(
            "http: the server ended the stream; requesting again in "
        )

    run(main)


# --- what is not an event --------------------------------------------------------------------


def test_invalid_objects_are_counted_and_logged_and_the_stream_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, LOG)
    bad_price = event(0).replace(b'"price":4.15', b'"price":"4.15"')
    invalid = [
        b'{"foo":1}',
        bad_price,
        b"] junk ",
        b'{"header":{"type":"STATUS"}}',
        b'{"a":"\xff"}',
    ]

    async def main() -> None:
        async with (
            Upstream(stream(event(0), *invalid, event(3), end="close"), stream()) as upstream,
            ingesting(spec(upstream)) as (source, collector),
        ):
            await wait_for(lambda: len(collector.payloads) == 2)
            await upstream.wait_requests(2)
            assert collector.payloads == [event(0), event(3)]
            assert source.stream.skipped == 5
        lines = [m for m in messages(caplog) if m.startswith("http: skipped")]
        # At most one line a second: the first skip at once, the rest when the request ended.
        assert len(lines) == 2
        assert lines[0] == (
            f"http: skipped 1 object(s) that are not valid events; the latest at stream offset "
            f"{len(event(0))}: not an event: no header, StreamStatus or Error"
        )
        assert lines[1].startswith("http: skipped 4 object(s) that are not valid events; the ")
        assert lines[1].endswith(": invalid UTF-8 at byte 6")

    run(main)


def test_an_oversize_object_is_skipped_and_the_stream_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, LOG)
    big = event(0).replace(b'"header"', b'"pad":"' + b"x" * 5000 + b'","header"')

    async def main() -> None:
        async with (
            Upstream(stream(event(3), big[:3000], big[3000:], event(6))) as upstream,
            ingesting(spec(upstream, max_object_size=4096)) as (source, collector),
        ):
            await wait_for(lambda: len(collector.payloads) == 2)
            assert collector.payloads == [event(3), event(6)]
            assert source.stream.skipped == 1
        assert logged(caplog, "http: skipped") == (
            f"http: skipped 1 object(s) that are not valid events; the latest at stream offset "
            f"{len(event(3))}: object exceeds max_object_size of 4096 bytes; skipped without "
            "buffering it"
        )

    run(main)


def test_memory_stays_bounded_under_an_endless_oversize_object() -> None:
    """64 MiB of one object, in 256 KiB chunks: never buffered (the splitter holds at most
    ``max_object_size``), RSS flat; the next event still arrives."""
    piece = b"y" * (256 * 1024)
    chunks = 256
    held: list[int] = []

    def rss() -> int:
        with open(f"/proc/{os.getpid()}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    async def main() -> None:
        body = [b'{"x":"', *[piece] * chunks, b'"}', event(0)]
        async with (
            Upstream(stream(*body)) as upstream,
            ingesting(spec(upstream)) as (source, collector),
        ):
            before = rss()
            async with asyncio.timeout(60):
                while not collector.payloads:
                    held.append(source.stream.buffered)
                    await asyncio.sleep(0.001)
            grown = rss() - before
            assert collector.payloads == [event(0)]
            assert source.stream.skipped == 1
            assert source.stream.offset > chunks * len(piece)
        assert max(held) <= 1 << 20
        assert grown < 24 << 20, f"RSS grew by {grown >> 20} MiB"

    run(main, timeout=90)


# --- headers, logs, CLI ----------------------------------------------------------------------


def test_headers_are_sent_and_secret_values_never_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, LOG)

    async def main() -> None:
        headers = (parse_header("Authorization: Bearer s3cret"), parse_header("X-Client:  ff "))
        async with (
            Upstream(stream(event(0))) as upstream,
            ingesting(spec(upstream, headers=headers)) as (_, collector),
        ):
            await wait_for(lambda: len(collector.payloads) == 1)
            seen = upstream.requests[0].headers
            assert seen["Authorization"] == "Bearer s3cret"
            assert seen["X-Client"] == "ff"
        assert logged(caplog, "http: requesting") == (
            f"http: requesting {upstream.url} with headers Authorization: ***, X-Client: ff"
        )
        assert not any("s3cret" in m for m in messages(caplog))

    run(main)


def test_urls_are_logged_without_credentials() -> None:
    assert redact_url("https://bob:pw@h:8/s?token=abc&symbol=SPY") == (
        "https://h:8/s?token=***&symbol=SPY"
    )
    assert redact_url("http://h/s") == "http://h/s"


SERVE = [sys.executable, "-m", "fastfeed", "serve", "--port", "0"]


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            ["--source", "http://"],
            "python -m fastfeed serve: error: argument --source: expected http://HOST/… or "
            "https://HOST/…, got 'http://'",
        ),
        (
            ["--source", "http://x", "--idle-timeout", "0"],
            "python -m fastfeed serve: error: argument --idle-timeout: expected a positive "
            "number of seconds, got '0'",
        ),
        (
            ["--source", "http://x", "--idle-timeout", "nan"],
            "python -m fastfeed serve: error: argument --idle-timeout: expected a positive "
            "number of seconds, got 'nan'",
        ),
        (
            ["--source", "http://x", "--header", "Authorization Bearer x"],
            "python -m fastfeed serve: error: argument --header: expected 'Name: value', got "
            "'Authorization Bearer x'",
        ),
        (
            ["--source", "http://x", "--header", "Bad Name: x"],
            "python -m fastfeed serve: error: argument --header: expected 'Name: value', got "
            "'Bad Name: x'",
        ),
        (
            ["--header", "A: b"],
            "python -m fastfeed serve: error: --header applies to http://, https://, ws:// and "
            "wss:// sources only",
        ),
        (
            ["--source", "replay:x.jsonl", "--header", "A: b"],
            "python -m fastfeed serve: error: --header applies to http://, https://, ws:// and "
            "wss:// sources only",
        ),
        (
            ["--idle-timeout", "5"],
            "python -m fastfeed serve: error: --idle-timeout applies to http:// and https:// "
            "sources only",
        ),
        (
            ["--source", "ws://127.0.0.1:1/v1/events", "--idle-timeout", "5"],
            "python -m fastfeed serve: error: --idle-timeout applies to http:// and https:// "
            "sources only",
        ),
    ],
)
def test_bad_http_flags_exit_2_with_one_line(args: list[str], line: str) -> None:
    done = subprocess.run([*SERVE, *args], capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [line]


async def serve_until_streaming(upstream: Upstream, *flags: str, **env: str) -> str:
    """Runs ``serve --source upstream.url FLAGS`` until it streams, then SIGINT: it must exit 0
    within 5 s (the body still open). Returns its log."""
    process = await asyncio.create_subprocess_exec(
        *SERVE,
        "--source",
        upstream.url,
        *flags,
        stderr=subprocess.PIPE,
        env={**os.environ, **env},
    )
    assert process.stderr is not None
    log: list[str] = []
    async with asyncio.timeout(20):
        while not any("http: streaming" in line for line in log):
            line = (await process.stderr.readline()).decode()
            assert line, "".join(log)
            log.append(line)
    process.send_signal(signal.SIGINT)
    async with asyncio.timeout(5):
        rest = (await process.stderr.read()).decode()
        assert await process.wait() == 0
    return "".join(log) + rest


def test_serve_from_an_http_stream_and_exit_promptly_on_ctrl_c() -> None:
    """The command as a user runs it: the log says what it requests (no secret), SIGINT exits
    0 at once even while the body is open."""

    async def main() -> None:
        async with Upstream(stream(*(event(i) for i in range(0, 30, 6)))) as upstream:
            text = await serve_until_streaming(
                upstream, "--header", "Authorization: Bearer s3cret", "--idle-timeout", "5"
            )
            assert upstream.requests[0].headers["Authorization"] == "Bearer s3cret"
        assert "s3cret" not in text
        assert f"http: requesting {upstream.url} with headers Authorization: ***" in text
        assert f"http: streaming {upstream.url} (HTTP 200, application/vnd." in text

    run(main, timeout=40)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1 and its key (openssl)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    directory = tmp_path_factory.mktemp("tls")
    cert, key = str(directory / "cert.pem"), str(directory / "key.pem")
    request = ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
    subject = ["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"]
    subprocess.run(
        ["openssl", *request, "-keyout", key, "-out", cert, *subject],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


def test_https_is_verified_against_the_trusted_certificates(
    certificate: tuple[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    """TLS is aiohttp's: an upstream whose certificate nobody trusts is a connection failure
    (retried); with the certificate trusted (``SSL_CERT_FILE``) the stream flows."""
    cert, key = certificate
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    caplog.set_level(logging.INFO, LOG)

    async def main() -> None:
        async with Upstream(stream(event(0)), tls=tls) as upstream:
            async with ingesting(spec(upstream)) as (source, _):
                await wait_for(lambda: source.requests >= 2)
            assert "certificate verify failed" in logged(caplog, "http: connection failed")
            text = await serve_until_streaming(upstream, SSL_CERT_FILE=cert)
        assert f"http: streaming {upstream.url} (HTTP 200," in text

    run(main, timeout=60)
