"""``serve --source http://…`` / ``https://…`` (SPEC §5, seed 002): an HTTP chunked stream of
JSON events into the hub.

HTTP itself (chunked decoding, TLS, redirects, proxies from the environment, compression) is
aiohttp's. Each body read goes to Rust in one call (:class:`fastfeed._core.JsonEventStream`):
the JSON stream splitter finds the objects whatever the chunking, the event decoder turns each
SPEC §3.3 event into the batch handed to :meth:`Hub.publish
<fastfeed.server.hub.Hub.publish>` (forwarding its original bytes), and seed 002's control
objects come back one at a time, in stream order:

* ``{"StreamStatus": "EndSnapshot"}``: logged; clients get an ``EndOfSnapshot`` notice;
* ``{"StreamStatus": "GoAway"}``: the request is ended and made again at once (after a healthy
  request: one that delivered something and lasted a second; a server that keeps sending GoAway
  sooner meets the backoff);
* ``{"Error": …, "Message": …}``: the request is ended, logged, and made again after a backoff.

An error status (401, 500, …), a connection error, a stream the server ends, and a stream
silent for ``idle_timeout`` also re-request after a backoff: the SDK's full-jitter
:class:`~fastfeed.client.reconnect.Backoff`, restarted after a healthy request.
Meanwhile local clients stay connected and their STATUS header says ``DISCONNECTED``. Objects
that are not valid events (or are over the size limit, never buffered) are counted and logged
at most once a second; the stream goes on.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import aiohttp

from fastfeed._core import JsonEventStream, SourceBatch
from fastfeed._notices import CountReport
from fastfeed.client.reconnect import Backoff, BackoffSchedule
from fastfeed.errors import ConfigError
from fastfeed.server.hub import Hub
from fastfeed.server.source import SourceCounts, SourceEnd

__all__ = ["DEFAULT_IDLE_TIMEOUT", "HttpSource", "HttpSpec", "RequestEnd", "parse_header"]

log = logging.getLogger("fastfeed.server")

#: ``--idle-timeout``: a stream that delivered nothing for this long is requested again.
DEFAULT_IDLE_TIMEOUT: Final = 30.0
#: The splitter's bound on one object; a larger one is skipped without being buffered.
DEFAULT_MAX_OBJECT_SIZE: Final = 1 << 20
#: Skipped objects are logged at most this often (the count of the others follows).
_SKIP_LOG_INTERVAL: Final = 1.0
#: A request that delivered something and lasted this long was healthy: the backoff starts
#: again from its first delay, and a GoAway ending it is followed by a request at once. A
#: server that fails (or sends GoAway) sooner, again and again, meets a growing backoff.
_HEALTHY_AFTER: Final = 1.0
#: Bytes of an error response's body quoted in the log.
_ERROR_BODY_BYTES: Final = 200
#: Headers whose values are never logged.
_SECRET_HEADERS: Final = frozenset({"authorization", "proxy-authorization", "cookie"})
#: Query parameters whose values are never logged.
_SECRET_PARAMS: Final = re.compile(r"token|key|secret|password|auth|signature", re.IGNORECASE)
#: An HTTP header name (RFC 9110 token).
_TOKEN: Final = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def parse_header(text: str) -> tuple[str, str]:
    """``'Name: value'`` → ``("Name", "value")``; raises :class:`ConfigError`."""
    name, colon, value = text.partition(":")
    name, value = name.strip(), value.strip()
    if not colon or not _TOKEN.fullmatch(name):
        raise ConfigError(f"header: expected 'Name: value', got {text!r}")
    if any(c in value for c in "\r\n\0"):
        raise ConfigError(f"header {name}: the value must not hold a line break or NUL")
    return name, value


def redact_url(url: str) -> str:
    """``url`` for the log: without its user and password, secret query values masked."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(not a URL)"
    netloc = parts.netloc.rpartition("@")[2]
    query = parse_qsl(parts.query, keep_blank_values=True)
    masked = [(k, "***" if _SECRET_PARAMS.search(k) else v) for k, v in query]
    return urlunsplit(parts._replace(netloc=netloc, query=urlencode(masked, safe="*")))


def describe_headers(headers: tuple[tuple[str, str], ...]) -> str:
    """The request headers for the log, secret values replaced by ``***``."""
    return ", ".join(
        f"{name}: {'***' if name.lower() in _SECRET_HEADERS else value}" for name, value in headers
    )


@dataclass(frozen=True, slots=True)
class HttpSpec:
    """What to request and how. ``backoff`` is the delay policy between requests (the SDK's;
    tests make it short)."""

    url: str
    headers: tuple[tuple[str, str], ...] = ()
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT
    max_object_size: int = DEFAULT_MAX_OBJECT_SIZE
    backoff: Backoff = field(default_factory=Backoff)

    def __post_init__(self) -> None:
        try:
            parts = urlsplit(self.url)
            parts.port  # noqa: B018 (raises ValueError for a bad port)
        except ValueError as error:
            raise ConfigError(f"source: not a URL ({error})") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(
                f"source: expected http://HOST/… or https://HOST/…, got {redact_url(self.url)!r}"
            )
        if not (self.idle_timeout > 0 and math.isfinite(self.idle_timeout)):
            raise ConfigError(
                f"idle-timeout must be a positive number of seconds, got {self.idle_timeout}"
            )
        if self.max_object_size < 1:
            raise ConfigError(f"max_object_size must be at least 1, got {self.max_object_size}")


@dataclass(frozen=True, slots=True)
class RequestEnd:
    """How one request ended: why (for the log), whether it was healthy (it delivered events
    or the end of a snapshot, and lasted :data:`_HEALTHY_AFTER`), and whether to request
    again at once (GoAway)."""

    reason: str
    healthy: bool = False
    at_once: bool = False


class HttpSource:
    """Requests :attr:`spec`'s URL and publishes the stream's events, for as long as the server
    runs (it never ends by itself: every end of a request is followed by another)."""

    def __init__(self, spec: HttpSpec) -> None:
        self.spec = spec
        self.stream = JsonEventStream(spec.max_object_size)
        #: Requests made so far.
        self.requests = 0
        #: Data events handed to the hub so far.
        self.published = 0
        self._schedule: BackoffSchedule = spec.backoff.schedule()
        self._skips = CountReport(_SKIP_LOG_INTERVAL)
        #: Whether the current request delivered events or the end of a snapshot.
        self._delivered = False

    def counts(self) -> SourceCounts:
        """For metrics: objects skipped as not valid events, requests after the first."""
        return SourceCounts(
            "http", decode_errors=self.stream.skipped, reconnects=max(self.requests - 1, 0)
        )

    async def run(self, hub: Hub) -> SourceEnd | None:
        spec = self.spec
        headers = describe_headers(spec.headers)
        log.info(
            "http: requesting %s%s",
            redact_url(spec.url),
            f" with headers {headers}" if headers else "",
        )
        hub.set_upstream(False)
        async with self.open_session() as session:
            while True:
                ended = await self.request(session, hub)
                hub.set_upstream(False)
                self._log_skipped(force=True)
                if ended.healthy:
                    self._schedule.reset()
                delay = 0.0 if ended.at_once and ended.healthy else self._next_delay()
                if delay:
                    log.warning("http: %s; requesting again in %.2f s", ended.reason, delay)
                    await asyncio.sleep(delay)
                else:
                    log.info("http: %s; requesting again now", ended.reason)

    def open_session(self) -> aiohttp.ClientSession:
        """An aiohttp session for :meth:`request`: the spec's headers, ``idle_timeout`` on
        connecting (name lookup included) and between reads (no total limit: the stream is
        endless), proxies from the environment (``HTTPS_PROXY``, …)."""
        idle = self.spec.idle_timeout
        timeout = aiohttp.ClientTimeout(total=None, connect=idle, sock_connect=idle, sock_read=idle)
        return aiohttp.ClientSession(
            headers=list(self.spec.headers), timeout=timeout, trust_env=True
        )

    def _next_delay(self) -> float:
        delay = self._schedule.next_delay()
        # max_attempts=None retries forever; a bounded policy keeps retrying at its cap.
        return self._schedule.backoff.cap if delay is None else delay

    async def request(self, session: aiohttp.ClientSession, hub: Hub) -> RequestEnd:
        """Makes one request and publishes its events until it ends (the hub's upstream is
        marked connected once the response is a success); returns how it ended."""
        self.requests += 1
        self.stream.reset()
        self._delivered = False
        started = time.monotonic()
        reason, at_once = await self._attempt(session, hub)
        healthy = self._delivered and time.monotonic() - started >= _HEALTHY_AFTER
        return RequestEnd(reason, healthy, at_once)

    async def _attempt(self, session: aiohttp.ClientSession, hub: Hub) -> tuple[str, bool]:
        """One request: why it ended, and whether to request again at once."""
        try:
            async with session.get(self.spec.url) as response:
                if not 200 <= response.status < 300:
                    body = await response.content.read(_ERROR_BODY_BYTES)
                    text = body.decode(errors="replace").strip().replace("\n", " ")
                    status = f"HTTP {response.status} {response.reason or ''}".rstrip()
                    return status + (f": {text}" if text else ""), False
                hub.set_upstream(True)
                log.info(
                    "http: streaming %s (HTTP %d, %s)",
                    redact_url(str(response.url)),
                    response.status,
                    response.content_type,
                )
                return await self._read(response.content, hub)
        except TimeoutError:
            return f"nothing received for {self.spec.idle_timeout:g} s", False
        except aiohttp.ClientError as error:
            return f"connection failed: {_describe(error)}", False
        except OSError as error:
            return f"connection failed: {error}", False

    async def _read(self, content: aiohttp.StreamReader, hub: Hub) -> tuple[str, bool]:
        """Reads the body to its end, a GoAway or an Error (see :meth:`_attempt`)."""
        stream, core = self.stream, hub.core
        # One batch for every read: the hub does not keep it, so its memory is reused.
        batch = SourceBatch()
        while True:
            chunk = await content.readany()
            if not chunk:
                return "the server ended the stream", False
            while True:
                consumed, events, control = stream.feed(core, batch, chunk)
                if events:
                    hub.publish(batch)
                    batch.clear()
                    self.published += events
                    self._delivered = True
                if stream.skipped != self._skips.reported:
                    self._log_skipped()
                if control is None:
                    break
                kind, text, message = control
                if kind == "EndSnapshot":
                    log.info("http: end of snapshot (%d events so far)", self.published)
                    hub.notice_end_of_snapshot()
                    self._delivered = True
                elif kind == "GoAway":
                    return "the server sent GoAway", True
                elif kind == "Error":
                    detail = f"{text}: {message}" if message else text
                    return f"the server sent Error: {detail}", False
                else:
                    log.info("http: StreamStatus %s", text)
                chunk = chunk[consumed:]
                if not chunk:
                    break

    def _log_skipped(self, *, force: bool = False) -> None:
        """Logs skipped objects at most once per :data:`_SKIP_LOG_INTERVAL`: how many since the
        last report, and the latest one's reason."""
        count = self._skips.due(self.stream.skipped, time.monotonic(), force=force)
        if count:
            latest = self.stream.take_latest_skip()
            log.warning(
                "http: skipped %d object(s) that are not valid events; the latest %s",
                count,
                latest,
            )


def _describe(error: aiohttp.ClientError) -> str:
    """One line for a client error (aiohttp's messages may be empty or span lines)."""
    text = str(error).strip().replace("\n", " ") or type(error).__name__
    return text
