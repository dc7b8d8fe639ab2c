"""The ``fastfeed`` command line (SPEC §9)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from fastfeed import __version__


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m fastfeed``."""
    parser = argparse.ArgumentParser(
        prog="python -m fastfeed",
        description="fastfeed: market-data feed handler with a Rust core.",
    )
    parser.add_argument("--version", action="version", version=f"fastfeed {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    commands.add_parser(
        "serve",
        help="run the /v1/events WebSocket server",
        description="Run the /v1/events WebSocket server (not implemented yet: see README).",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command line; returns the process exit status."""
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        print("fastfeed serve: the server is not implemented yet (see README).", file=sys.stderr)
        return 1
    return 2
