"""What every scenario of ``python -m fastfeed bench`` shares: child processes (started in
their own session, so Ctrl-C reaches only the harness, which kills them), medians of
interleaved rounds, optional baselines, and the results as a table and as JSON."""

from __future__ import annotations

import importlib
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

__all__ = [
    "Result",
    "Rounds",
    "Tick",
    "children",
    "free_port",
    "optional",
    "python_module",
    "spawn",
    "stop",
    "wait_listening",
]

#: Called once per measured step (the progress bar).
Tick = Callable[[], None]

_CHILDREN: set[subprocess.Popen[bytes]] = set()


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
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with status {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise TimeoutError(f"nothing listens on {port}")


def _track(process: subprocess.Popen[bytes]) -> subprocess.Popen[bytes]:
    _CHILDREN.add(process)
    return process


def popen(args: list[str], **options: Any) -> subprocess.Popen[bytes]:
    """Starts ``args`` in a session of its own (a Ctrl-C at the terminal reaches only the
    harness) and remembers it, so :func:`children` can kill it whatever happens."""
    options.setdefault("stdout", subprocess.DEVNULL)
    options.setdefault("stderr", subprocess.DEVNULL)
    options.setdefault("start_new_session", True)
    return _track(subprocess.Popen(args, **options))


def spawn(args: list[str], port: int, **options: Any) -> subprocess.Popen[bytes]:
    """Starts ``args`` (output discarded unless ``options`` say otherwise) and waits until it
    listens on ``port``."""
    process = popen(args, **options)
    try:
        wait_listening(port, process)
    except BaseException:
        stop(process)
        raise
    return process


def stop(process: subprocess.Popen[bytes], timeout: float = 10) -> None:
    """Terminates ``process`` (killing it after ``timeout``) and reaps it."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    _CHILDREN.discard(process)


@contextmanager
def children() -> Iterator[None]:
    """Kills every child process started inside (by :func:`popen`/:func:`spawn`) on the way
    out, however it is left (Ctrl-C, an error)."""
    try:
        yield
    finally:
        for process in list(_CHILDREN):
            if process.poll() is None:
                process.kill()
            process.wait()
            _CHILDREN.discard(process)


def python_module(module: str, *args: str) -> list[str]:
    """The command line running ``python -m module args…`` with this interpreter."""
    return [sys.executable, "-m", module, *args]


def optional(name: str) -> ModuleType | None:
    """The module ``name`` if it is installed (a baseline), else None."""
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


class Rounds:
    """Measurements of interleaved rounds, by variant; medians at the end."""

    def __init__(self) -> None:
        self.values: dict[str, list[float]] = {}

    def add(self, variant: str, value: float) -> None:
        self.values.setdefault(variant, []).append(value)

    def medians(self) -> dict[str, float]:
        return {name: statistics.median(values) for name, values in self.values.items()}


@dataclass
class Result:
    """One row group of the table: medians of ``unit`` (higher is better) per variant.

    ``ours`` is fastfeed's variant; ratios are ours / each baseline (above 1: fastfeed is
    faster) and ours / ``ceiling`` (the share of what the machine does at best).
    """

    scenario: str
    title: str
    unit: str
    rates: dict[str, float]
    rounds: int
    ours: str = "fastfeed"
    ceiling: str | None = None
    skipped: dict[str, str] = field(default_factory=dict)
    outputs_match: bool = True
    extra: dict[str, Any] = field(default_factory=dict)
    #: The figures are times (latency): lower is better, and ratios are each other variant's
    #: time / ours (above 1: fastfeed is faster), as for rates.
    lower_is_better: bool = False

    @property
    def ratios(self) -> dict[str, float]:
        mine = self.rates[self.ours]
        if self.lower_is_better:
            return {name: t / mine for name, t in self.rates.items() if name != self.ours}
        return {name: mine / rate for name, rate in self.rates.items() if name != self.ours}

    def as_json(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "title": self.title,
            "unit": self.unit,
            "rounds": self.rounds,
            "ours": self.ours,
            "ceiling": self.ceiling,
            "medians": {name: round(rate, 3) for name, rate in self.rates.items()},
            "ratios": {name: round(ratio, 3) for name, ratio in self.ratios.items()},
            "skipped": self.skipped,
            "outputs_match": self.outputs_match,
            "lower_is_better": self.lower_is_better,
            **({"extra": self.extra} if self.extra else {}),
        }


def format_rate(value: float) -> str:
    """3 significant digits with k/M/G: ``1.41 M``."""
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.3g} {suffix}"
    return f"{value:.3g}"


def table(results: list[Result]) -> str:
    """The results as a plain-text table: one line per variant, the ratio of fastfeed to it."""
    rows = [("what", "variant", "median", "fastfeed's lead")]
    for result in results:
        ratios = result.ratios
        for i, (name, rate) in enumerate(result.rates.items()):
            if name == result.ours:
                ratio = "—"
            elif name == result.ceiling and result.lower_is_better:
                ratio = f"fastfeed takes {1 / ratios[name]:.2f}x this floor"
            elif name == result.ceiling:
                ratio = f"{ratios[name]:.0%} of the ceiling"
            else:
                ratio = f"{ratios[name]:.2f}x"
            rows.append(
                (
                    result.title if i == 0 else "",
                    name,
                    f"{format_rate(rate)} {result.unit}",
                    ratio,
                )
            )
        for name, reason in result.skipped.items():
            rows.append(("", name, "skipped", reason))
    widths = [max(len(row[c]) for row in rows) for c in range(3)]
    lines = []
    for n, row in enumerate(rows):
        cells = [row[c].ljust(widths[c]) for c in range(3)]
        lines.append("  ".join([*cells, row[3]]).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in [*widths, len(row[3])]))
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    import platform

    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }
