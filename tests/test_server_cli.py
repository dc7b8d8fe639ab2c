"""The ``python -m fastfeed serve`` command line, run as a subprocess."""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fastfeed.cli import build_parser
from server_support import run
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

SERVE = [sys.executable, "-m", "fastfeed", "serve"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _connect_when_up(port: int) -> ClientConnection:
    """Connects to a server that is still starting (retrying for up to 20 s)."""
    deadline = time.monotonic() + 20
    while True:
        try:
            return await connect(f"ws://127.0.0.1:{port}/v1/events", open_timeout=5)
        except OSError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    (commands,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(commands.choices)


def test_plain_fastfeed_lists_its_commands() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "fastfeed"], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith("usage: python -m fastfeed")
    for command in _subcommands():
        assert re.search(rf"^    {command} +\S", done.stderr, re.MULTILINE), command


def test_help_texts_speak_to_users_not_to_the_spec() -> None:
    """No help text or description cites the project's SPEC (a user does not have it)."""
    texts = [build_parser().description or ""]
    for parser in _subcommands().values():
        texts.append(parser.description or "")
        texts.extend(str(a.help) for a in parser._actions if a.help)
        texts.extend(g.title or "" for g in parser._action_groups)
    offending = [t for t in texts if "§" in t or "SPEC" in t]
    assert offending == []


@pytest.mark.parametrize("command", sorted(_subcommands()))
def test_help_documents_every_flag(command: str) -> None:
    """Every option of every command, read from the parser itself, has a help text and shows
    in ``--help`` as a user runs it."""
    done = subprocess.run(
        [sys.executable, "-m", "fastfeed", command, "--help"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    options = [a for a in _subcommands()[command]._actions if a.option_strings]
    assert len(options) > 1
    for action in options:
        assert action.help not in (None, "", argparse.SUPPRESS), action.option_strings
        for flag in action.option_strings:
            assert flag in done.stdout, (command, flag)


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            ["--slow-consumer", "block"],
            "python -m fastfeed serve: error: argument --slow-consumer: invalid choice: "
            "'block' (choose from 'drop', 'disconnect')",
        ),
        (
            ["--max-pending-bytes", "0"],
            "python -m fastfeed serve: error: argument --max-pending-bytes: "
            "expected a positive integer, got '0'",
        ),
        (
            ["--bogus"],
            "python -m fastfeed: error: unrecognized arguments: --bogus",
        ),
        (
            ["--host", "0.0.0.0"],
            "python -m fastfeed serve: error: binding the non-loopback address 0.0.0.0 "
            "requires --token and --tls-cert/--tls-key (the token must not cross a network in "
            "clear)",
        ),
        (
            ["--tls-key", "k.pem"],
            "python -m fastfeed serve: error: tls-cert and tls-key go together: give both or "
            "neither",
        ),
        (
            ["--rate", "0"],
            "python -m fastfeed serve: error: argument --rate: "
            "expected events per second or 'max', got '0'",
        ),
        (
            ["--seed", "-1"],
            "python -m fastfeed serve: error: argument --seed: "
            "expected an integer 0 to 2^64-1, got '-1'",
        ),
        (
            ["--source", "ftp://127.0.0.1:1/x"],
            "python -m fastfeed serve: error: argument --source: 'ftp://127.0.0.1:1/x' is "
            "not available in this version (synthetic, replay:PATH, "
            "ws://HOST:PORT/v1/events, http://… or https://…, redis://… or rediss://…)",
        ),
        (
            ["--source", "ws://"],
            "python -m fastfeed serve: error: argument --source: expected "
            "ws://host:port/path or wss://…, got 'ws://'",
        ),
        (
            ["--source", "ws://127.0.0.1:99999/v1/events"],
            "python -m fastfeed serve: error: argument --source: Port out of range 0-65535, "
            "got 'ws://127.0.0.1:99999/v1/events'",
        ),
        (
            ["--source", "ws://127.0.0.1:25520/v1/stream"],
            "python -m fastfeed serve: error: argument --source: a relay reads a /v1/events "
            "endpoint, not /v1/stream, got 'ws://127.0.0.1:25520/v1/stream'",
        ),
        (
            ["--source", "replay:"],
            "python -m fastfeed serve: error: argument --source: replay: needs a path or glob, "
            "e.g. replay:day.jsonl.gz",
        ),
        (
            ["--max-clients", "0"],
            "python -m fastfeed serve: error: argument --max-clients: expected a positive "
            "integer, got '0'",
        ),
        (
            ["--bar-intervals", "1x"],
            "python -m fastfeed serve: error: argument --bar-intervals: bar interval: expected "
            "a number and ms, s, m or h (like 1s), got '1x'",
        ),
        (
            ["--bar-intervals", "1s,1000ms"],
            "python -m fastfeed serve: error: bar-intervals lists an interval twice: "
            "[1000, 1000] (ms)",
        ),
        (
            ["--symbols", "AAPL,BRK_B"],
            'python -m fastfeed serve: error: symbols "BRK_B": must be 1-16 characters of '
            "A-Z 0-9 . / ^ -, got '_'",
        ),
        (
            ["--symbols", "AAPL,,MSFT"],
            "python -m fastfeed serve: error: argument --symbols: "
            "expected comma-separated symbols, got 'AAPL,,MSFT'",
        ),
        (
            ["--publish", "http://127.0.0.1:6379/0"],
            "python -m fastfeed serve: error: argument --publish: expected "
            "redis://[:password@]host:port/db or rediss://…, got 'http://127.0.0.1:6379/0'",
        ),
        (
            ["--publish", "redis://127.0.0.1:99999/0"],
            "python -m fastfeed serve: error: argument --publish: port must be 1-65535 in "
            "'redis://127.0.0.1:99999/0'",
        ),
        (
            ["--source", "redis://127.0.0.1:6379/zero"],
            "python -m fastfeed serve: error: argument --source: db must be a number, got "
            "'zero' in 'redis://127.0.0.1:6379/zero'",
        ),
        (
            ["--source", "redis:///0"],
            "python -m fastfeed serve: error: argument --source: no host in 'redis:///0' "
            "(expected redis://[:password@]host:port/db or rediss://…)",
        ),
        (
            ["--publish", "redis://h:1/0?x=1"],
            "python -m fastfeed serve: error: argument --publish: the only query is "
            "?ssl_ca_certs=FILE (rediss://), in 'redis://h:1/0?x=1'",
        ),
        (
            ["--publish", "rediss://:S3cret@h:99999/0"],
            "python -m fastfeed serve: error: argument --publish: port must be 1-65535 in "
            "'rediss://:***@h:99999/0'",
        ),
        (
            ["--source", "rediss://h/0?ssl_ca_certs=/nonexistent/ca.pem"],
            "python -m fastfeed serve: error: argument --source: ssl_ca_certs: cannot read "
            "/nonexistent/ca.pem: No such file or directory",
        ),
    ],
)
def test_bad_flags_exit_2_with_one_line(args: list[str], line: str) -> None:
    done = subprocess.run([*SERVE, *args], capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert done.stderr == line + "\n"
    assert done.stdout == ""


def test_port_in_use_exits_1() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [*SERVE, "--port", str(port)], capture_output=True, text=True, timeout=30
        )
    assert done.returncode == 1
    # The one line, at the default log level: nothing is logged before the port is bound.
    assert done.stderr == (
        f"python -m fastfeed serve: port {port} on 127.0.0.1 is in use by another program; "
        "choose another with --port\n"
    )


def test_an_ipv6_host_is_logged_as_a_valid_url() -> None:
    with socket.socket(socket.AF_INET6) as probe:
        try:
            probe.bind(("::1", 0))
        except OSError:
            pytest.skip("no IPv6 loopback on this machine")
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [*SERVE, "--host", "::1", "--port", str(port)],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        assert line.endswith(f"INFO fastfeed.server: serving ws://[::1]:{port}/v1/events\n")
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=20)


def test_sigterm_closes_the_client_with_1001_and_exits_0() -> None:
    port = _free_port()
    process = subprocess.Popen(
        [*SERVE, "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:

        async def body() -> None:
            ws = await _connect_when_up(port)
            async with ws:
                await ws.send('{"msg_type":"STOP","id":1}')
                assert '"req_id":1' in str(await asyncio.wait_for(ws.recv(), 5))
                process.send_signal(signal.SIGTERM)
                with pytest.raises(ConnectionClosed) as closed:
                    while True:
                        await asyncio.wait_for(ws.recv(), 10)
                assert closed.value.rcvd is not None
                assert closed.value.rcvd.code == 1001
                assert closed.value.rcvd.reason == "server shutting down"

        run(body)
        _, stderr = process.communicate(timeout=20)
        assert process.returncode == 0, stderr
        assert re.search(r"client 127\.0\.0\.1:\d+ connected to /v1/events", stderr), stderr
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def test_serve_streams_the_synthetic_market_with_status_every_second() -> None:
    port = _free_port()
    process = subprocess.Popen(
        [*SERVE, "--port", str(port), "--rate", "1000", "--seed", "3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:

        async def body() -> None:
            ws = await _connect_when_up(port)
            async with ws:
                await ws.send(
                    '{"msg_type":"STREAM","sec_type":"OPTION","req_type":"FULL_TRADES",'
                    '"add":true,"id":1}'
                )
                started = time.monotonic()
                received = statuses = 0
                while time.monotonic() - started < 10:
                    message = json.loads(await asyncio.wait_for(ws.recv(), 5))
                    kind = message["header"]["type"]
                    if kind == "STATUS":
                        statuses += 1
                        assert message["stats"] == {"sent": received, "dropped": 0}
                    elif kind in ("TRADE", "OHLC"):
                        assert message["contract"]["security_type"] == "OPTION"
                        received += 1
                    else:
                        assert message["header"]["response"] == "OK"
                assert statuses >= 9
                assert received > 100

        run(body, timeout=40)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=20)
        assert process.returncode == 0, stderr
        assert "synthetic market: SPY,AAPL,MSFT,QQQ,TSLA, index SPX" in stderr
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def test_symbols_are_typed_in_any_case() -> None:
    """The one rule of command lines (``typed_contract``): ``--symbols`` as ``tail`` and
    ``record`` read contracts."""
    args = build_parser().parse_args(["serve", "--symbols", " aapl, Msft ,spy"])
    assert args.symbols == ("AAPL", "MSFT", "SPY")


def _readme_example(heading: str) -> str:
    """The first Python block under ``heading`` in the README, as a user would copy it."""
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    section = readme[readme.index(heading) :]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


def test_the_embedded_example_says_in_one_line_that_its_port_is_taken() -> None:
    code = _readme_example("### Embedded in a Python program")
    assert "port=25520" in code
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-c", code.replace("port=25520", f"port={port}")],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert done.returncode == 1
    assert done.stderr == f"embedded: port {port} on 127.0.0.1 is in use by another program\n"
