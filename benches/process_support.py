"""Servers in child processes for the comparison benchmarks and the Redis tests: a free port,
a process that is waited for until it listens (both from ``fastfeed.bench``, which runs the
same harness as ``python -m fastfeed bench``), and a throwaway ``redis-server``."""

from __future__ import annotations

import shutil
import signal
import subprocess
from pathlib import Path

from fastfeed.bench._harness import free_port, spawn, wait_listening

__all__ = ["REDIS_SERVER", "RedisServer", "free_port", "spawn", "wait_listening"]

#: ``redis-server`` on PATH, if any (``.ci/run`` installs Debian's package).
REDIS_SERVER = shutil.which("redis-server")


class RedisServer:
    """A ``redis-server`` on 127.0.0.1 in a child process, persisting nothing; restartable on
    the same port (to test outages). ``extra`` arguments are appended (e.g. cluster mode).
    With ``tls`` (a certificate and its key, PEM) it serves TLS only, on :attr:`port`."""

    def __init__(
        self,
        workdir: Path,
        port: int | None = None,
        extra: tuple[str, ...] = (),
        tls: tuple[Path, Path] | None = None,
    ):
        assert REDIS_SERVER is not None, "redis-server is not installed"
        self.port = port if port is not None else free_port()
        self.workdir = workdir
        self.extra = extra
        self.tls = tls
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Its URL; with TLS, trusting its certificate."""
        if self.tls is not None:
            return f"rediss://127.0.0.1:{self.port}/0?ssl_ca_certs={self.tls[0]}"
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        """Starts it and waits until it accepts connections."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.tls is not None:
            cert, key = self.tls
            listen = ["--port", "0", "--tls-port", str(self.port), "--tls-cert-file", str(cert)]
            listen += ["--tls-key-file", str(key), "--tls-ca-cert-file", str(cert)]
            listen += ["--tls-auth-clients", "no"]
        else:
            listen = ["--port", str(self.port)]
        args = [
            str(REDIS_SERVER),
            *listen,
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.workdir),
            *self.extra,
        ]
        with (self.workdir / "redis.log").open("ab") as log:
            self.process = spawn(args, self.port, stdout=log, stderr=subprocess.STDOUT)
        return self

    def signal(self, sig: signal.Signals) -> None:
        """Sends ``sig`` (SIGKILL also reaps the process)."""
        assert self.process is not None
        self.process.send_signal(sig)
        if sig == signal.SIGKILL:
            self.process.wait(10)

    def cli(self, *args: str) -> list[str]:
        """Runs ``redis-cli`` against it; its output lines."""
        tls = ["--tls", "--cacert", str(self.tls[0])] if self.tls is not None else []
        done = subprocess.run(
            ["redis-cli", "-p", str(self.port), *tls, *args],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
        return done.stdout.split()

    def stop(self) -> None:
        """Kills it (resuming it first if it was stopped)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.kill()
            self.process.wait(10)
