"""Serving beyond loopback: wss:// with a certificate made by the test (``openssl``), a bearer
token that never crosses in clear, and the mistakes a user makes with either."""

from __future__ import annotations

import ssl
import subprocess
import sys
from pathlib import Path

import fastfeed
import pytest
from fastfeed.errors import FeedConnectionError
from fastfeed.server import ServerConfig, ServerConfigError, SyntheticSource, SyntheticSpec
from server_support import run, started
from tls_support import HAVE_OPENSSL, make_certificate

pytestmark = pytest.mark.skipif(not HAVE_OPENSSL, reason="needs openssl")

TOKEN = "s3cret"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for localhost and 127.0.0.1, and its key."""
    return make_certificate(tmp_path_factory.mktemp("tls"))


def test_the_sdk_streams_over_wss_with_a_token(certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    trusting = ssl.create_default_context(cafile=str(cert))

    async def body() -> None:
        async with started(
            SyntheticSource(SyntheticSpec(seed=1, rate=2000.0)),
            tls_cert=str(cert),
            tls_key=str(key),
            token=TOKEN,
            status_interval=0.05,
        ) as server:
            url = f"wss://127.0.0.1:{server.port}/v1/events"
            async with fastfeed.connect(
                url,
                ssl_context=trusting,
                headers=[("Authorization", f"Bearer {TOKEN}")],
                reconnect=False,
            ) as feed:
                await feed.subscribe("TRADE", fastfeed.Stock("AAPL"))
                async for event in feed:
                    if isinstance(event, fastfeed.Trade):
                        assert event.contract == fastfeed.Stock("AAPL")
                        break

            # A wrong token: 401, over TLS.
            with pytest.raises(FeedConnectionError, match="401"):
                async with fastfeed.connect(
                    url,
                    ssl_context=trusting,
                    headers=[("Authorization", "Bearer wrong")],
                    reconnect=False,
                ):
                    pass
            # A client that does not trust the certificate refuses the server.
            with pytest.raises(FeedConnectionError, match="CERTIFICATE_VERIFY_FAILED"):
                async with fastfeed.connect(url, reconnect=False):
                    pass
            # Plain ws:// to the TLS port fails cleanly, and the server keeps serving.
            with pytest.raises(FeedConnectionError):
                async with fastfeed.connect(
                    f"ws://127.0.0.1:{server.port}/v1/events", reconnect=False
                ):
                    pass
            async with fastfeed.connect(
                url, ssl_context=trusting, headers=[("Authorization", f"Bearer {TOKEN}")]
            ) as feed:
                async for event in feed:
                    if isinstance(event, fastfeed.Status):
                        break

    run(body)


def test_an_ssl_context_needs_a_wss_url(certificate: tuple[Path, Path]) -> None:
    async def body() -> None:
        with pytest.raises(ValueError, match=r"^ssl_context is for wss:// URLs, got 'ws://h:1/'$"):
            fastfeed.connect("ws://h:1/", ssl_context=ssl.create_default_context())

    run(body)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"host": "0.0.0.0", "token": TOKEN},
            "binding the non-loopback address 0.0.0.0 requires --token and --tls-cert/--tls-key "
            "(the token must not cross a network in clear)",
        ),
        ({"tls_cert": "cert.pem"}, "tls-cert and tls-key go together: give both or neither"),
    ],
)
def test_config_refuses_a_token_in_clear_and_half_a_certificate(
    settings: dict[str, str], message: str
) -> None:
    with pytest.raises(ServerConfigError) as refused:
        ServerConfig(**settings)  # type: ignore[arg-type]
    assert str(refused.value) == message


def test_serve_refuses_a_certificate_it_cannot_load(
    certificate: tuple[Path, Path], tmp_path: Path
) -> None:
    cert, _ = certificate
    missing = tmp_path / "missing.pem"
    for key, reason in ((missing, "No such file or directory"), (cert, "[SSL] PEM lib")):
        done = subprocess.run(
            [sys.executable, "-m", "fastfeed", "serve", "--tls-cert", str(cert),
             "--tls-key", str(key)],
            capture_output=True,
            text=True,
            timeout=30,
        )  # fmt: skip
        assert done.returncode == 2
        assert done.stderr.startswith(
            f"python -m fastfeed serve: error: tls: cannot load certificate {cert} with key {key}: "
        ), done.stderr
        assert reason in done.stderr
        assert len(done.stderr.splitlines()) == 1


def test_a_server_beyond_loopback_answers_to_any_host_name_with_its_token() -> None:
    """Bound beyond loopback, clients reach the server under names it cannot know (its IP,
    a DNS name): the Host check that stops DNS rebinding on loopback does not apply; the token
    does. (Checked on the guard itself: tests never listen beyond 127.0.0.1.)"""
    from fastfeed.server.guard import check_handshake
    from multidict import CIMultiDict

    config = ServerConfig(host="0.0.0.0", token=TOKEN, tls_cert="c.pem", tls_key="k.pem")
    endpoints = {"/v1/events"}

    def answer(host: str, token: str | None) -> int | None:
        headers = CIMultiDict({"Host": host, "Sec-WebSocket-Version": "13"})
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        rejection = check_handshake(b"/v1/events", headers, config, 25520, endpoints)
        return None if rejection is None else rejection.status

    assert answer("10.1.2.3:25520", TOKEN) is None
    assert answer("edge-1.example:443", TOKEN) is None
    assert answer("10.1.2.3:25520", "wrong") == 401
    assert answer("10.1.2.3:25520", None) == 401
    # On loopback, another Host is still refused.
    loopback = ServerConfig()
    headers = CIMultiDict({"Host": "evil.example", "Sec-WebSocket-Version": "13"})
    rejection = check_handshake(b"/v1/events", headers, loopback, 25520, endpoints)
    assert rejection is not None and rejection.status == 403
