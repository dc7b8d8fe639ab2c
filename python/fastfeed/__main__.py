"""Command line entry point: ``python -m fastfeed``."""

from __future__ import annotations

from fastfeed.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
