"""The replay's pacing (SPEC §5 ``--speed``): sans-I/O, time passed in."""

from __future__ import annotations

import pytest
from fastfeed.server.pacing import Pacer, parse_speed


def test_speed_1_is_real_time_from_the_first_event() -> None:
    pacer = Pacer(1.0)
    pacer.start(100.0, first_market_ms=34_200_000)
    assert pacer.horizon(100.0) == 34_200_000
    assert pacer.horizon(100.25) == 34_200_250
    assert pacer.due_at(34_200_000) == 100.0
    assert pacer.due_at(34_201_500) == pytest.approx(101.5)


def test_speed_n_divides_the_gaps_and_does_not_drift() -> None:
    pacer = Pacer(10.0)
    pacer.start(0.0, first_market_ms=0)
    # 20 s of market time in 2 s, the horizon computed from the start, never accumulated.
    assert pacer.due_at(20_000) == pytest.approx(2.0)
    assert pacer.horizon(2.0) == 20_000
    assert pacer.horizon(1.0001) == 10_001
    # An event exactly due is included despite float rounding.
    assert pacer.horizon(0.3) == 3_000


def test_speed_max_makes_everything_due_and_restart_moves_the_origin() -> None:
    pacer = Pacer(None)
    pacer.start(5.0, first_market_ms=1_000)
    assert pacer.horizon(5.0) is None
    assert pacer.due_at(99_999) == 5.0
    paced = Pacer(2.0)
    paced.start(0.0, 0)
    paced.start(10.0, 500)  # --loop starts again
    assert paced.horizon(11.0) == 2_500


def test_a_pacer_must_start_first() -> None:
    with pytest.raises(RuntimeError, match=r"before start"):
        Pacer(1.0).horizon(0.0)


@pytest.mark.parametrize(
    ("text", "speed"), [("max", None), ("1", 1.0), ("10", 10.0), ("0.5", 0.5), ("2e3", 2000.0)]
)
def test_parse_speed(text: str, speed: float | None) -> None:
    assert parse_speed(text) == speed


@pytest.mark.parametrize("text", ["0", "-1", "inf", "nan", "fast", ""])
def test_parse_speed_refuses(text: str) -> None:
    with pytest.raises(ValueError, match=r"^expected a positive number or 'max', got "):
        parse_speed(text)
