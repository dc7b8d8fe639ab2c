"""``tail`` and ``record`` under load, as a person runs them: a real ``serve --rate max`` process
floods them, and real signals stop them (SPEC §9).

Every run is bounded: the server and each program get a deadline and are killed after it.
"""

from __future__ import annotations

import contextlib
import fcntl
import gzip
import os
import pty
import re
import select
import shutil
import signal
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

STOP_WITHIN = 1.0
EXIT_CODE = {signal.SIGINT: 130, signal.SIGTERM: 143}
DATA_TYPES = {"TRADE": "trade", "QUOTE": "quote", "OHLC": "ohlc", "OPEN_INTEREST": "open_interest"}
SUBSCRIPTIONS = ["stock.SPY@trade", "stock.SPY@quote", "stock.AAPL@quote", "option@full_trades"]


@contextlib.contextmanager
def serve(tmp_path: Path, *flags: str) -> Iterator[str]:
    """``python -m fastfeed serve --port 0 FLAGS`` in a child process; yields its URL."""
    log = tmp_path / "serve.log"
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "fastfeed", "serve", "--port", "0", *flags],
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    try:
        deadline = time.monotonic() + 15
        while (match := re.search(rb"serving (ws://\S+)", log.read_bytes())) is None:
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.05)
        yield match.group(1).decode()
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def start(*args: str, stdout: int | Path, stderr: int | Path) -> subprocess.Popen[bytes]:
    """``python -m fastfeed ARGS`` with stdout/stderr to files (not terminals) or fds."""

    def target(where: int | Path) -> int:
        return where if isinstance(where, int) else os.open(where, os.O_WRONLY | os.O_CREAT)

    out, err = target(stdout), target(stderr)
    try:
        return subprocess.Popen([sys.executable, "-m", "fastfeed", *args], stdout=out, stderr=err)
    finally:
        for fd, where in ((out, stdout), (err, stderr)):
            if not isinstance(where, int):
                os.close(fd)


def stop(proc: subprocess.Popen[bytes], signum: int) -> tuple[int, float]:
    """Sends ``signum``; returns the exit code and the seconds from the signal to the exit."""
    assert proc.poll() is None, "exited before the signal"
    sent = time.monotonic()
    proc.send_signal(signum)
    try:
        code = proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        pytest.fail(f"still running 10 s after signal {signum}")
    return code, time.monotonic() - sent


def wait_for(predicate: object, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def gzip_ok(path: Path) -> list[bytes]:
    """The decompressed lines, after checking the file with the real ``gzip -t`` if there
    is one (Python's multi-member reader otherwise)."""
    binary = shutil.which("gzip")
    if binary is not None:
        check = subprocess.run([binary, "-t", str(path)], capture_output=True, timeout=30)
        assert check.returncode == 0, check.stderr
    with gzip.open(path, "rb") as f:
        return f.read().splitlines(keepends=True)


def assert_events(lines: list[bytes]) -> None:
    """Whole lines, each a SPEC §3.3 data event."""
    assert lines, "nothing recorded"
    for line in lines:
        assert line.endswith(b"\n"), line[-200:]
        event = orjson.loads(line)
        kind = event["header"]["type"]
        assert kind in DATA_TYPES, event
        assert DATA_TYPES[kind] in event and "contract" in event, event


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize(
    "program",
    [
        ["tail", "--stock", "SPY", "--stock", "AAPL", "--req", "TRADE,QUOTE,OHLC"],
        ["tail", "--stock", "SPY", "--stock", "AAPL", "--json"],
        ["record", "--out", "{out}", *SUBSCRIPTIONS],
    ],
    ids=["tail", "tail-json", "record"],
)
def test_stops_within_a_second_of_a_signal_under_load(
    program: list[str], signum: int, tmp_path: Path
) -> None:
    out = tmp_path / "tape.jsonl.gz"
    args = [a.replace("{out}", str(out)) for a in program]
    with serve(tmp_path, "--rate", "max") as url:
        proc = start(*args, "--url", url, stdout=tmp_path / "out", stderr=tmp_path / "err")
        # Flooded: printing or writing for a while (and the file is written every second).
        wait_for(lambda: (tmp_path / "out").stat().st_size > 1 << 20 or out.exists())
        time.sleep(1.5)
        code, seconds = stop(proc, signum)
    err = (tmp_path / "err").read_text()
    assert code == EXIT_CODE[signum], err
    assert seconds < STOP_WITHIN, f"stopped {seconds:.2f} s after the signal"
    if program[0] == "record":
        assert_events(gzip_ok(out))
        assert re.search(r"\[record\] wrote [\d,]+ events", err), err
        assert "local 0)" in err, err
    else:
        assert re.search(r"\[tail\] [\d,]+ events", err), err


@pytest.mark.parametrize(
    "signum", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=["SIGINT", "SIGTERM", "KILL"]
)
@pytest.mark.parametrize("name", ["tape.jsonl.gz", "tape.jsonl"])
def test_record_file_is_whole_after_any_stop(name: str, signum: int, tmp_path: Path) -> None:
    out = tmp_path / name
    with serve(tmp_path, "--rate", "max") as url:
        proc = start(
            "record", "--url", url, "--out", str(out), *SUBSCRIPTIONS,
            stdout=subprocess.DEVNULL, stderr=tmp_path / "err",
        )  # fmt: skip
        # Past two flushes (at least one a second), mid-stream.
        wait_for(lambda: out.exists() and out.stat().st_size > 64 << 10)
        time.sleep(2.2)
        code, _ = stop(proc, signum)
    assert code == EXIT_CODE.get(signum, -signal.SIGKILL), (tmp_path / "err").read_text()
    lines = gzip_ok(out) if name.endswith(".gz") else out.read_bytes().splitlines(keepends=True)
    assert_events(lines)
    assert len(lines) > 1000


def test_record_never_drops_in_the_sdk_only_the_server_does(tmp_path: Path) -> None:
    """A reader that stops (SIGSTOP) with a tiny queue: the recorder stops reading the socket
    rather than dropping; the server's slow-consumer policy drops, and those drops are the
    only losses, reported as gaps."""
    out = tmp_path / "tape.jsonl"
    flags = ("--rate", "50000", "--max-pending-bytes", "65536")
    with serve(tmp_path, *flags) as url:
        proc = start(
            "record", "--url", url, "--out", str(out), "--queue-events", "500", *SUBSCRIPTIONS,
            stdout=subprocess.DEVNULL, stderr=tmp_path / "err",
        )  # fmt: skip
        wait_for(lambda: out.exists() and out.stat().st_size > 0)
        for _ in range(2):
            proc.send_signal(signal.SIGSTOP)
            time.sleep(1.0)
            proc.send_signal(signal.SIGCONT)
            time.sleep(1.5)  # the STATUS that reports the drops arrives
        code, _ = stop(proc, signal.SIGINT)
    err = (tmp_path / "err").read_text()
    assert code == 130, err
    summary = re.search(
        r"wrote ([\d,]+) events .* gaps ([\d,]+), lost ([\d,]+) \(server ([\d,]+), local (\d+)\)",
        err,
    )
    assert summary is not None, err
    written, gaps, lost, server, local = (int(g.replace(",", "")) for g in summary.groups())
    assert local == 0
    assert gaps >= 1 and lost == server > 0, err
    assert "gap: " in err and "(server_dropped)" in err
    assert "local_overflow" not in err
    lines = out.read_bytes().splitlines(keepends=True)
    assert len(lines) == written
    assert_events(lines)


def test_tail_piped_is_plain_and_notices_are_rate_limited(tmp_path: Path) -> None:
    """Piped: every event line plain and at most 80 columns, no status line, no escape codes.
    A tiny queue behind a flood makes a gap nearly every read; at most one gap line a second
    is printed, and the rest are counted."""
    with serve(tmp_path, "--rate", "max", "--max-pending-bytes", "65536") as url:
        proc = subprocess.Popen(
            [
                sys.executable, "-m", "fastfeed", "tail", "--url", url, "--stock", "SPY",
                "--stock", "AAPL", "--option", "SPY:20250321:570000:C",
                "--req", "TRADE,QUOTE,OHLC", "--queue-events", "100",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )  # fmt: skip
        began = time.monotonic()
        try:
            proc.communicate(timeout=4)  # reads both pipes meanwhile
            pytest.fail("tail exited by itself")
        except subprocess.TimeoutExpired:
            pass
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=10)
        ran = time.monotonic() - began
    assert proc.returncode == 130, stderr
    assert b"\x1b" not in stdout + stderr and b"\r" not in stdout + stderr
    lines = stdout.decode().splitlines()
    assert len(lines) > 1000
    assert all(len(line) <= 80 for line in lines), max(lines, key=len)
    assert all(re.match(r"\d\d:\d\d:\d\d\.\d{3} (TRADE|QUOTE|OHLC) ", line) for line in lines)
    notices = stderr.decode().splitlines()
    gap_lines = [line for line in notices if line.startswith("[tail] gap: ")]
    # One a second at most (and a last one at exit for what was still counted).
    assert 1 <= len(gap_lines) <= ran + 2, notices
    assert any(" more in the last " in line for line in gap_lines), notices
    total = re.search(r"; gaps ([\d,]+), lost", notices[-1])
    assert total is not None, notices[-1]
    assert int(total.group(1).replace(",", "")) > 10 * len(gap_lines)


def test_tail_on_a_terminal_has_a_status_line_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    """On a terminal: sampled rows above a status line; Ctrl-C exits 130 within a second."""
    with serve(tmp_path, "--rate", "max") as url, (tmp_path / "err").open("wb") as err:
        primary, secondary = pty.openpty()
        fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
        proc = subprocess.Popen(
            [
                sys.executable, "-m", "fastfeed", "tail", "--url", url, "--stock", "SPY",
                "--stock", "AAPL", "--lines-per-second", "20",
            ],
            stdout=secondary,
            stderr=err,
        )  # fmt: skip
        os.close(secondary)
        screen = bytearray()

        def read(seconds: float) -> None:
            deadline = time.monotonic() + seconds
            while (left := deadline - time.monotonic()) > 0:
                if select.select([primary], [], [], left)[0]:
                    try:
                        screen.extend(os.read(primary, 1 << 16))
                    except OSError:
                        return

        read(3.0)
        code, seconds = stop(proc, signal.SIGINT)
        read(0.2)
        os.close(primary)
    assert code == 130
    assert seconds < STOP_WITHIN, f"stopped {seconds:.2f} s after Ctrl-C"
    text = screen.decode(errors="replace")
    assert re.search(r"ev [\d.]+[kMG]?/s \| gaps \d+ lost", text), text[-500:]
    rows = re.findall(r"\d\d:\d\d:\d\d\.\d{3} (?:TRADE|QUOTE) ", text)
    # 20 a second (plus the first burst), while hundreds of thousands arrive.
    assert 5 <= len(rows) <= 20 * 3 + 10, len(rows)
    summary = (tmp_path / "err").read_text()
    assert re.search(r"\[tail\] [\d,]+ events, .*, [\d,]+ shown", summary), summary


@pytest.mark.parametrize(
    "program",
    [["tail", "--stock", "ZZZZ"], ["record", "--out", "{out}", "stock.ZZZZ@trade"]],
    ids=["tail", "record"],
)
def test_a_refused_subscription_is_one_line_and_exit_1(program: list[str], tmp_path: Path) -> None:
    out = tmp_path / "tape.jsonl.gz"
    with serve(tmp_path, "--rate", "1000") as url:
        args = [a.replace("{out}", str(out)) for a in program]
        result = subprocess.run(
            [sys.executable, "-m", "fastfeed", *args, "--url", url],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
    assert result.returncode == 1, result.stderr
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"python -m fastfeed {program[0]}: server refused a subscription: contract.symbol: "
        "no STOCK ZZZZ in this market; STOCK: AAPL, MSFT, QQQ, SPY, TSLA"
    ]
    assert not out.exists()


def test_a_second_signal_exits_at_once_while_a_write_blocks(tmp_path: Path) -> None:
    """``tail --json`` into a pipe nobody reads: its write blocks, so the first Ctrl-C cannot
    be acted on (the rest of the batch would be lost mid-line); a second one exits at once."""
    with serve(tmp_path, "--rate", "max") as url:
        proc = subprocess.Popen(
            [sys.executable, "-m", "fastfeed", "tail", "--url", url, "--stock", "SPY", "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        try:
            time.sleep(2)  # a 64 KiB pipe is full after a few milliseconds of --rate max
            wchan = Path(f"/proc/{proc.pid}/wchan")  # where the kernel says it waits
            if wchan.exists() and wchan.read_text() not in ("", "0"):
                assert "pipe_write" in wchan.read_text()
            proc.send_signal(signal.SIGINT)
            time.sleep(0.3)
            code, seconds = stop(proc, signal.SIGINT)
        finally:
            assert proc.stdout is not None
            proc.stdout.close()
    assert code == 130
    assert seconds < 0.5
