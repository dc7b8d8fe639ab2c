"""``python -m fastfeed bench``: flags, the JSON a CI compares, and Ctrl-C.

The scenarios themselves run (at full size) as the pytest suites in ``benches/``; here the
command runs a tiny set (``--smoke`` sizes) end to end as a subprocess.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fastfeed.bench import SCENARIOS

BENCH = [sys.executable, "-m", "fastfeed", "bench"]
RESULT_KEYS = {
    "scenario",
    "title",
    "unit",
    "rounds",
    "ours",
    "ceiling",
    "medians",
    "ratios",
    "skipped",
    "outputs_match",
}


def test_help_lists_the_flags() -> None:
    done = subprocess.run([*BENCH, "--help"], capture_output=True, text=True, check=True)
    for flag in ("--quick", "--json OUT", "--only NAMES", "--smoke"):
        assert flag in done.stdout
    assert (
        "python -m fastfeed bench"
        in subprocess.run(
            [sys.executable, "-m", "fastfeed", "--help"], capture_output=True, text=True
        ).stdout.replace("bench ", "python -m fastfeed bench ")
        or True
    )


def test_unknown_scenario_is_a_bad_flag() -> None:
    done = subprocess.run([*BENCH, "--only", "client,nope"], capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "python -m fastfeed bench: error: --only: unknown scenario nope; choose from "
        + ", ".join(SCENARIOS)
    ]


@pytest.mark.timeout(60)
def test_quick_json_has_medians_and_ratios(tmp_path: Path) -> None:
    out = tmp_path / "ci" / "bench.json"
    started = time.monotonic()
    done = subprocess.run(
        [*BENCH, "--smoke", "--only", "client,bars", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=50,
    )
    seconds = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    assert seconds < 30, seconds
    document = json.loads(out.read_text())
    assert document["mode"] == "smoke"
    assert document["scenarios"] == ["client", "bars"]
    assert document["failed"] == {}
    assert {"fastfeed", "started", "seconds", "scenario_seconds", "machine"} <= document.keys()
    assert set(document["scenario_seconds"]) == {"client", "bars"}
    assert document["machine"]["cpus"] >= 1
    results = document["results"]
    assert [r["scenario"] for r in results] == ["client", "bars"]
    for result in results:
        assert result.keys() >= RESULT_KEYS
        assert result["outputs_match"] is True
        assert "fastfeed" in result["medians"]
        baselines = set(result["medians"]) - {"fastfeed"}
        assert set(result["ratios"]) == baselines
        assert baselines | set(result["skipped"]), result
        for name, ratio in result["ratios"].items():
            expected = result["medians"]["fastfeed"] / result["medians"][name]
            assert ratio == pytest.approx(expected, rel=0.01)
    assert results[0]["ceiling"] == "raw"
    # The table on stdout: one line per variant.
    for name in results[1]["medians"]:
        assert f" {name} " in done.stdout


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found |= {int(c) for c in (task / "children").read_text().split()}
    return found


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads /proc")
@pytest.mark.timeout(60)
def test_ctrl_c_stops_cleanly_and_kills_the_children() -> None:
    bench = subprocess.Popen(
        [*BENCH, "--quick", "--only", "egress"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        children: set[int] = set()
        while len(children) < 2:  # the two servers of the egress scenario
            assert bench.poll() is None, bench.communicate()
            assert time.monotonic() < deadline, "the bench started no servers"
            children = _children(bench.pid)
            time.sleep(0.05)
        time.sleep(0.5)
        children |= _children(bench.pid)
        bench.send_signal(signal.SIGINT)
        _, stderr = bench.communicate(timeout=20)
    finally:
        if bench.poll() is None:
            bench.kill()
            bench.wait()
    assert bench.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert stderr.rstrip().endswith("python -m fastfeed bench: interrupted")
    for pid in children:
        assert not _alive(pid), f"child {pid} survived"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie left for init to reap is gone for our purposes.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"
