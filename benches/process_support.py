"""Servers in child processes for the comparison benchmarks: a free port, and a process that
is waited for until it listens."""

from __future__ import annotations

import socket
import subprocess
import time
from typing import Any

__all__ = ["free_port", "spawn", "wait_listening"]


def free_port() -> int:
    """A port nothing listens on now (127.0.0.1)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_listening(port: int, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    """Returns once something accepts on ``port``; raises if ``process`` exits first or
    ``timeout`` passes (the process is then killed)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"{process.args} exited"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise TimeoutError(f"nothing listens on {port}")


def spawn(args: list[str], port: int, **popen: Any) -> subprocess.Popen[bytes]:
    """Starts ``args`` (output discarded unless ``popen`` says otherwise) and waits until it
    listens on ``port``."""
    popen.setdefault("stdout", subprocess.DEVNULL)
    popen.setdefault("stderr", subprocess.DEVNULL)
    process: subprocess.Popen[bytes] = subprocess.Popen(args, **popen)
    wait_listening(port, process)
    return process
