"""The release wheel installs and runs without a Rust toolchain (issue 16, packaging).

``maturin build --release`` (reusing the repository's ``target/``, so it only relinks) makes
the abi3 wheel; a fresh ``python -m venv`` installs it with ``PATH`` stripped of ``cargo`` and
``rustc`` and binary packages only (nothing may be built from source: dependencies come from
the index, or pip's cache); the installed
``python -m fastfeed serve`` must then send an event to a real WebSocket client and exit 0 on
SIGINT.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from websockets.sync.client import connect

ROOT = Path(__file__).resolve().parent.parent
MATURIN = shutil.which("maturin", path=str(Path(sys.executable).parent)) or shutil.which("maturin")

pytestmark = pytest.mark.skipif(
    MATURIN is None or shutil.which("cargo") is None, reason="needs maturin and cargo to build"
)


def _path_without_rust() -> str:
    """``PATH`` without any directory holding ``cargo`` or ``rustc``."""
    kept = [
        entry
        for entry in os.environ.get("PATH", "").split(os.pathsep)
        if entry and not any((Path(entry) / tool).exists() for tool in ("cargo", "rustc", "rustup"))
    ]
    return os.pathsep.join(kept)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.timeout(300)
def test_wheel_installs_without_rust_and_serves(tmp_path: Path) -> None:
    assert MATURIN is not None
    dist = tmp_path / "dist"
    subprocess.run(
        [MATURIN, "build", "--release", "--quiet", "--out", str(dist)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    (wheel,) = dist.glob("fastfeed-*.whl")
    assert "-abi3-" in wheel.name, wheel.name

    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env |= {"PATH": _path_without_rust(), "MATURIN_NO_INSTALL_RUST": "1"}
    env.pop("CARGO_HOME", None)
    env.pop("RUSTUP_HOME", None)
    assert shutil.which("cargo", path=env["PATH"]) is None
    venv = tmp_path / "venv"
    base = getattr(sys, "_base_executable", sys.executable)
    # A venv without pip of its own (ensurepip takes ~8 s here): this pip installs into it.
    subprocess.run([base, "-m", "venv", "--without-pip", str(venv)], check=True, env=env)
    python = venv / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-compile",
         "--disable-pip-version-check", "--only-binary", ":all:", str(wheel)],
        check=True,
        env=env,
        cwd=tmp_path,
    )  # fmt: skip
    where = subprocess.run(
        [python, "-c", "import fastfeed, fastfeed._core; print(fastfeed.__file__)"],
        check=True,
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
    ).stdout
    assert where.startswith(str(venv)), where

    port = _free_port()
    server = subprocess.Popen(
        [python, "-m", "fastfeed", "serve", "--port", str(port), "--rate", "5000"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert server.poll() is None, server.communicate()[1]
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the installed server never listened"
                time.sleep(0.05)
        command = {"msg_type": "STREAM", "sec_type": "STOCK", "req_type": "FULL_TRADES"}
        with connect(f"ws://127.0.0.1:{port}/v1/events", open_timeout=10) as ws:
            ws.send(json.dumps(command | {"add": True, "id": 1}))
            for _ in range(1000):
                message = json.loads(ws.recv(timeout=10))
                if message.get("header", {}).get("type") == "TRADE":
                    break
            else:
                pytest.fail("no TRADE event from the installed server")
            assert message["contract"]["security_type"] == "STOCK"
        server.send_signal(signal.SIGINT)
        _, stderr = server.communicate(timeout=15)
        assert server.returncode == 0, stderr
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
