"""Certificates made by the tests (``openssl``): TLS for the WebSocket server and for Redis."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

__all__ = ["HAVE_OPENSSL", "make_certificate"]

#: Whether ``openssl`` is on PATH (tests that need a certificate skip otherwise).
HAVE_OPENSSL = shutil.which("openssl") is not None


def make_certificate(folder: Path, name: str = "cert") -> tuple[Path, Path]:
    """A self-signed certificate for localhost and 127.0.0.1 (its own CA: trust the
    certificate itself), and its key: ``folder/<name>.pem``, ``folder/<name>-key.pem``."""
    folder.mkdir(parents=True, exist_ok=True)
    cert, key = folder / f"{name}.pem", folder / f"{name}-key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
            "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key
