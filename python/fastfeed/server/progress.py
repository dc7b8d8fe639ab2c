"""A progress bar on the terminal for long work (a replay), through ``tqdm``; nothing at all
when disabled (stderr is not a terminal), so logs and pipes stay clean."""

from __future__ import annotations

import contextlib
import logging
from typing import Any

__all__ = ["Progress"]


class Progress:
    """``label``: done / ``total``, rate and ETA on stderr, redrawn at most 4 times a second."""

    def __init__(self, label: str, total: int | None, *, enabled: bool) -> None:
        self._label = label
        self._total = total
        self._done = 0
        self._bar: Any = None
        self._logging = contextlib.ExitStack()
        if enabled:
            from tqdm.contrib.logging import logging_redirect_tqdm

            # Log lines are printed above the bar instead of through it.
            self._logging.enter_context(logging_redirect_tqdm([logging.getLogger()]))
            self._bar = self._make()

    def _make(self) -> Any:
        from tqdm import tqdm

        return tqdm(
            total=self._total,
            desc=self._label,
            unit=" events",
            unit_scale=True,
            mininterval=0.25,
            dynamic_ncols=True,
            leave=True,
        )

    @property
    def total(self) -> int | None:
        """The work to do; ``None`` while it is not known (the bar shows no ETA meanwhile)."""
        return self._total

    @total.setter
    def total(self, total: int | None) -> None:
        self._total = total
        if self._bar is not None and total is not None:
            self._bar.total = total
            self._bar.refresh()

    def update(self, done: int) -> None:
        """``done`` events so far (absolute)."""
        if self._bar is not None and done > self._done:
            self._bar.update(done - self._done)
        self._done = done

    def restart(self) -> None:
        """Back to 0 (``--loop``)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = self._make()
        self._done = 0

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        self._logging.close()
