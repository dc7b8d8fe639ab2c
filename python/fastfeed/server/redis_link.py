"""Connections to Redis for the scale-out over Pub/Sub (SPEC §7).

fastfeed speaks RESP itself here instead of going through redis-py: the hot paths never see a
Python object per message. The publisher writes the commands the Rust hub encoded for a whole
batch (:meth:`fastfeed._core.Hub.take_redis`) in one write; the edge hands each socket read to
:class:`fastfeed._core.RedisReader`, which appends the payloads to a source batch in one call.
What is left to Python — connecting, ``AUTH``/``SELECT``, (un)subscribing, reconnecting with
the SDK's :class:`~fastfeed.client.reconnect.Backoff` — is small, and keeps every outage
visible: no client library retries or resubscribes behind our back (README, Dependencies).
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import cast
from urllib.parse import parse_qs, unquote, urlsplit

from fastfeed._core import RedisReader, redis_command, redis_key_slot
from fastfeed.errors import ConfigError, FastfeedError, RedisError, RedisRefusedError

__all__ = ["RedisLink", "RedisNodes", "RedisUrl", "check_settings"]

_URL_FORM = "redis://[:password@]host:port/db or rediss://…"
#: Error replies that refuse the client's credentials, whatever the command.
_REFUSALS = ("NOAUTH", "WRONGPASS", "NOPERM")
#: How long :func:`check_settings` waits for Redis at startup.
_CHECK_TIMEOUT = 2.0


@dataclass(frozen=True, slots=True)
class RedisUrl:
    """Where Redis is: ``redis://[[user]:password@]host[:port][/db]`` (port 6379 and db 0 by
    default), or ``rediss://…`` for TLS, optionally with ``?ssl_ca_certs=FILE`` (PEM) to trust a
    private CA besides the system's."""

    host: str
    port: int = 6379
    db: int = 0
    password: str | None = None
    username: str | None = None
    #: ``rediss://``: TLS, verifying the server's certificate and name.
    tls: bool = False
    #: CA certificates (PEM file) trusted besides the system's (``?ssl_ca_certs=``).
    ca_certs: str | None = None

    @classmethod
    def parse(cls, text: str, flag: str = "") -> RedisUrl:
        """Reads a URL; raises :class:`~fastfeed.ConfigError` with one line (naming ``flag``
        first if given) that never shows the password."""
        flag = f"{flag}: " if flag else ""
        shown = _masked(text)
        if not text.startswith(("redis://", "rediss://")):
            raise ConfigError(f"{flag}expected {_URL_FORM}, got {shown!r}")
        tls = text.startswith("rediss://")
        parts = urlsplit(text)
        if parts.fragment:
            raise ConfigError(f"{flag}unexpected fragment in {shown!r}")
        ca_certs = None
        if parts.query:
            try:
                query = parse_qs(parts.query, strict_parsing=True)
            except ValueError:
                query = {"": []}
            if set(query) != {"ssl_ca_certs"} or len(query["ssl_ca_certs"]) != 1:
                raise ConfigError(
                    f"{flag}the only query is ?ssl_ca_certs=FILE (rediss://), in {shown!r}"
                )
            if not tls:
                raise ConfigError(f"{flag}ssl_ca_certs needs rediss:// (TLS), in {shown!r}")
            ca_certs = query["ssl_ca_certs"][0]
        try:
            port = parts.port
        except ValueError:
            raise ConfigError(f"{flag}port must be 1-65535 in {shown!r}") from None
        if not parts.hostname:
            raise ConfigError(f"{flag}no host in {shown!r} (expected {_URL_FORM})")
        path = parts.path.lstrip("/")
        if path and not (path.isascii() and path.isdigit()):
            raise ConfigError(f"{flag}db must be a number, got {path!r} in {shown!r}")
        if port == 0:
            raise ConfigError(f"{flag}port must be 1-65535 in {shown!r}")
        return cls(
            host=parts.hostname,
            port=port if port is not None else 6379,
            db=int(path) if path else 0,
            password=unquote(parts.password) if parts.password is not None else None,
            username=unquote(parts.username) if parts.username else None,
            tls=tls,
            ca_certs=ca_certs,
        )

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS settings of a ``rediss://`` URL (``None`` for ``redis://``): Python's
        defaults, verifying the certificate against the system's CAs and :attr:`ca_certs`.
        Raises :class:`~fastfeed.ConfigError` when :attr:`ca_certs` cannot be loaded."""
        if not self.tls:
            return None
        context = ssl.create_default_context()
        if self.ca_certs is not None:
            try:
                context.load_verify_locations(cafile=self.ca_certs)
            except ssl.SSLError as error:
                raise ConfigError(
                    f"ssl_ca_certs: no PEM certificate in {self.ca_certs} ({error.reason})"
                ) from None
            except OSError as error:
                raise ConfigError(
                    f"ssl_ca_certs: cannot read {self.ca_certs}: {error.strerror}"
                ) from None
        return context

    def __str__(self) -> str:
        """The URL without its password (for logs)."""
        secret = ":***@" if self.password is not None else ""
        scheme = "rediss" if self.tls else "redis"
        return f"{scheme}://{self.username or ''}{secret}{self.host}:{self.port}/{self.db}"


def _masked(text: str) -> str:
    """``text`` (a URL as typed) with its password replaced by ``***``."""
    scheme, sep, rest = text.partition("://")
    authority = rest.split("/", 1)[0].split("?", 1)[0]
    if not sep or "@" not in authority:
        return text
    userinfo, _, _ = authority.rpartition("@")
    if ":" not in userinfo:
        return text
    user = userinfo.split(":", 1)[0]
    return f"{scheme}://{user}:***@{rest[len(userinfo) + 1 :]}"


class RedisLink(asyncio.Protocol):
    """One TCP connection to a Redis server.

    Until :attr:`on_data` is set, replies are read here and awaited with :meth:`call` (the
    handshake, one-off commands); then every read goes to :attr:`on_data` as it is.
    :attr:`on_pause`/:attr:`on_resume` follow the transport's write buffer (flow control).
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.on_data: Callable[[bytes], None] | None = None
        self.on_pause: Callable[[], None] | None = None
        self.on_resume: Callable[[], None] | None = None
        self._transport: asyncio.Transport | None = None
        self._closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._reader = RedisReader()
        self._replies: deque[object] = deque()
        self._waiter: asyncio.Future[None] | None = None
        #: Why the link closed, once it did.
        self.close_reason = ""

    @classmethod
    async def open(
        cls, url: RedisUrl, *, name: str = "redis", select_db: bool = True, timeout: float = 5.0
    ) -> RedisLink:
        """Connects (with TLS for ``rediss://``), authenticates, selects ``url.db`` and checks
        that Redis answers. Raises :class:`~fastfeed.errors.RedisRefusedError` when Redis or
        the TLS handshake refuses the settings (password, db, certificate), else
        :class:`OSError` or :class:`~fastfeed.errors.RedisError` (a reconnector retries all)."""
        loop = asyncio.get_running_loop()
        context = url.ssl_context()
        link = cls(name)
        waiting_for = "no answer"
        try:
            async with asyncio.timeout(timeout):
                if context is not None:
                    waiting_for = "no TLS handshake"
                try:
                    await loop.create_connection(
                        lambda: link,
                        url.host,
                        url.port,
                        ssl=context,
                        server_hostname=url.host if context is not None else None,
                    )
                except ssl.SSLCertVerificationError as error:
                    raise RedisRefusedError(
                        f"{name}: TLS: certificate verify failed: {error.verify_message} "
                        "(a private CA: add ?ssl_ca_certs=FILE to the URL)"
                    ) from None
                except ssl.SSLError as error:
                    if isinstance(error, (ssl.SSLEOFError, ssl.SSLZeroReturnError)):
                        raise
                    raise RedisRefusedError(
                        f"{name}: TLS handshake failed: {error.reason or error} "
                        "(does the port serve TLS?)"
                    ) from None
                waiting_for = "no answer"
                try:
                    if url.password is not None:
                        user = [url.username.encode()] if url.username else []
                        await link.call(b"AUTH", *user, url.password.encode())
                    if url.db and select_db:
                        await link.call(b"SELECT", str(url.db).encode())
                except RedisError as error:
                    raise RedisRefusedError(str(error)) from None
                # A stopped Redis still accepts connections (the kernel does): only an answer
                # says it is alive.
                await link.call(b"PING")
        except TimeoutError:
            link.abort("handshake timeout")
            hint = " (does the port serve TLS?)" if waiting_for == "no TLS handshake" else ""
            raise OSError(f"{url}: {waiting_for} within {timeout:g} s{hint}") from None
        except BaseException:
            link.abort("handshake failed")
            raise
        return link

    @property
    def up(self) -> bool:
        """Whether the connection is open."""
        return self._transport is not None and not self._closed.done()

    @property
    def buffered(self) -> int:
        """Bytes written but not yet taken by the socket."""
        return self._transport.get_write_buffer_size() if self._transport is not None else 0

    def write(self, data: bytes) -> None:
        """Writes bytes (RESP commands) as they are."""
        if self._transport is not None:
            self._transport.write(data)

    def send(self, *args: bytes) -> None:
        """Writes one command."""
        self.write(redis_command(*args))

    async def call(self, *args: bytes) -> object:
        """Sends one command and returns its reply (before :attr:`on_data` is set); an error
        reply raises :class:`~fastfeed.errors.RedisError`, one refusing the credentials
        (``NOAUTH``, ``WRONGPASS``, ``NOPERM``) :class:`~fastfeed.errors.RedisRefusedError`."""
        self.send(*args)
        while not self._replies:
            if self._closed.done():
                raise FastfeedError(f"{self.name}: connection closed ({self.close_reason})")
            self._waiter = asyncio.get_running_loop().create_future()
            await asyncio.wait([self._waiter, self._closed], return_when=asyncio.FIRST_COMPLETED)
        reply = self._replies.popleft()
        if isinstance(reply, RedisError):
            refused = str(reply).startswith(_REFUSALS)
            error = RedisRefusedError if refused else RedisError
            raise error(f"{self.name}: {args[0].decode()}: {reply}")
        return reply

    def abort(self, reason: str) -> None:
        """Drops the connection at once."""
        if not self.close_reason:
            self.close_reason = reason
        if self._transport is not None:
            self._transport.abort()
        elif not self._closed.done():
            self._closed.set_result(None)

    async def wait_closed(self) -> None:
        """Returns once the connection is down."""
        await asyncio.shield(self._closed)

    # --- asyncio.Protocol ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TCP transport is not a subclass of asyncio.Transport, but is one.
        self._transport = cast(asyncio.Transport, transport)
        # Pipelined commands leave in large writes: pause (and hold the source) only beyond this.
        self._transport.set_write_buffer_limits(high=1024 * 1024)

    def data_received(self, data: bytes) -> None:
        if self.on_data is not None:
            self.on_data(data)
            return
        try:
            _, _, replies, _, _ = self._reader.feed(None, data)
        except RedisError as error:
            self.abort(str(error))
            return
        self._replies.extend(replies)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.close_reason:
            self.close_reason = str(exc) if exc is not None else "closed by Redis"
        if not self._closed.done():
            self._closed.set_result(None)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def pause_writing(self) -> None:
        if self.on_pause is not None:
            self.on_pause()

    def resume_writing(self) -> None:
        if self.on_resume is not None:
            self.on_resume()


class RedisNodes:
    """The Redis servers a publisher or an edge talks to: one server, or every master of a
    Cluster (``--redis-cluster``) with the node of each hash slot, read from ``CLUSTER
    SLOTS`` when connecting. A topology change (``MOVED``, a channel moved away) is handled by
    dropping every link and connecting again: the new topology is read then.

    Implements :class:`~fastfeed.client.reconnect.Link`: down as soon as any node is.
    """

    def __init__(self, links: list[RedisLink], slot_nodes: list[int] | None) -> None:
        self.links = links
        #: Node index of each of the 16384 slots (``None``: one server).
        self.slot_nodes = slot_nodes
        self._down: asyncio.Task[None] | None = None

    @classmethod
    async def open(
        cls, url: RedisUrl, *, cluster: bool, name: str, timeout: float = 5.0
    ) -> RedisNodes:
        """Connects to ``url``, and with ``cluster`` to every master its ``CLUSTER SLOTS``
        names (with ``url``'s password and TLS settings). Raises
        :class:`~fastfeed.errors.RedisRefusedError` when a node refuses the settings (see
        :meth:`RedisLink.open`), :class:`OSError` when a node cannot be reached or answers
        with another error."""
        try:
            seed = await RedisLink.open(url, name=name, select_db=not cluster, timeout=timeout)
            if not cluster:
                return cls([seed], None)
            try:
                reply = await seed.call(b"CLUSTER", b"SLOTS")
            except RedisError as error:
                if "cluster support disabled" in str(error):
                    raise RedisRefusedError(f"{error} (--redis-cluster names a server)") from None
                raise
            finally:
                seed.abort("topology read")
            addresses, slot_nodes = _topology(reply)
            links: list[RedisLink] = []
            try:
                for host, port in addresses:
                    node = replace(url, host=host, port=port, db=0)
                    links.append(
                        await RedisLink.open(node, name=f"{name} {host}:{port}", timeout=timeout)
                    )
            except BaseException:
                for link in links:
                    link.abort("cluster connect failed")
                raise
            return cls(links, slot_nodes)
        except RedisRefusedError:
            raise
        except FastfeedError as error:
            raise OSError(str(error)) from None

    def node_of(self, channel: bytes) -> int:
        """The index of the node that owns ``channel``'s slot."""
        if self.slot_nodes is None:
            return 0
        return self.slot_nodes[redis_key_slot(channel)]

    @property
    def up(self) -> bool:
        return all(link.up for link in self.links)

    @property
    def close_reason(self) -> str:
        reasons = dict.fromkeys(link.close_reason for link in self.links if link.close_reason)
        return "; ".join(reasons)

    async def wait_closed(self) -> None:
        """Returns once any node's link is down (the others are then dropped too)."""
        waits = [asyncio.ensure_future(link.wait_closed()) for link in self.links]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()
        self.abort("another node's link is down")

    def abort(self, reason: str) -> None:
        """Drops every link."""
        for link in self.links:
            link.abort(reason)


def _topology(reply: object) -> tuple[list[tuple[str, int]], list[int]]:
    """``CLUSTER SLOTS`` as (master addresses, node index of each slot)."""
    if not isinstance(reply, list):
        raise RedisError(f"CLUSTER SLOTS: unexpected reply {reply!r}")
    addresses: list[tuple[str, int]] = []
    slot_nodes = [0] * 16384
    for entry in reply:
        start, end, master = entry[0], entry[1], entry[2]
        address = (master[0].decode(), int(master[1]))
        if address not in addresses:
            addresses.append(address)
        index = addresses.index(address)
        slot_nodes[start : end + 1] = [index] * (end - start + 1)
    if not addresses:
        raise RedisError("CLUSTER SLOTS: no slot is served (is the cluster up?)")
    return addresses, slot_nodes


async def check_settings(url: RedisUrl, *, cluster: bool, flag: str) -> None:
    """Connects once, at startup, to tell a mistake from an outage: raises
    :class:`~fastfeed.ConfigError` (one line naming ``flag``, the password masked) when Redis
    refuses the settings; returns when it accepts them, or cannot be reached (an outage: the
    server starts and its reconnector keeps trying)."""
    try:
        nodes = await RedisNodes.open(
            url, cluster=cluster, name=f"{flag} {url}", timeout=_CHECK_TIMEOUT
        )
    except RedisRefusedError as error:
        raise ConfigError(str(error)) from None
    except (OSError, FastfeedError):
        return
    nodes.abort("settings checked")
