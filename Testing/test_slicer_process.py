"""Cancel never blocks its caller (the GUI thread in Slicer): real process trees, stopped for real.

A tree that ignores SIGTERM shows the escalation: ``cancel`` returns at once, SIGKILL follows
after the runner's grace period in a background thread, and the temporary folder goes with the
tree. The library's own command line shows the ordinary path (SIGTERM, exit 130).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "DiffusionSynth"))
from DiffusionSynthSlicerLib.Process import Job, ProcessRunner  # noqa: E402

from DiffusionSynthLib.volume import Volume, write_volume  # noqa: E402

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads process states from /proc")

CHILD = (
    "import json, signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "print(json.dumps({'progress': 1, 'total': 1, 'message': 'ready'}), file=sys.stderr, flush=True); time.sleep(600)"
)
STUBBORN_TREE = f"""
import signal, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
child = subprocess.Popen([sys.executable, "-c", {CHILD!r}])
print(f"child {{child.pid}}", file=sys.stderr, flush=True)
time.sleep(600)
"""


class StubbornRunner(ProcessRunner):
    """Starts a parent and a child that both ignore SIGTERM and hold the output pipe."""

    def command(self, cli_args: Sequence[str]) -> list[str]:
        return [self.python, "-c", STUBBORN_TREE]


def running(pid: int) -> bool:
    """``pid`` exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state != "Z"


def wait_until(condition, seconds: float) -> float:
    """Seconds until ``condition()`` held; fails after ``seconds``."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < seconds, f"not within {seconds} s"
        time.sleep(0.02)
    return time.monotonic() - started


def test_cancel_of_a_stubborn_tree_returns_at_once_and_the_tree_goes_after_the_grace_period(tmp_path):
    workdir = tmp_path / "run"
    workdir.mkdir()
    ready = threading.Event()
    job = Job(StubbornRunner(python=sys.executable, grace_s=1.5), [], workdir, on_progress=lambda progress: ready.set())
    job.start()
    assert ready.wait(60), "the process tree did not start"
    wait_until(lambda: any(line.startswith("child ") for line in job.log_tail), 60)
    child = int(next(line for line in job.log_tail if line.startswith("child ")).split()[1])

    started = time.monotonic()
    job.cancel()
    # cancel returned while the tree still runs: it did not wait for the grace period (no wall-clock bound needed,
    # so a loaded machine cannot fail this); SIGTERM is ignored, only SIGKILL, later, ends them
    assert running(job.process.pid) and running(child), "cancel blocked its caller until the tree was gone"
    wait_until(lambda: not running(job.process.pid) and not running(child), 60)
    gone = time.monotonic() - started
    assert gone >= 1.5, f"the tree went {gone:.2f} s after cancel, before the 1.5 s grace period"  # a lower bound: never flaky
    wait_until(lambda: not workdir.exists(), 30)  # the reader thread removes the folder once the output ends
    wait_until(job.done, 30)
    assert job.cancelled and job.process.returncode == -9


def test_cancel_of_the_command_line_returns_at_once_and_it_exits_130(tmp_path):
    grid = np.diag([1.5, 1.5, 1.5, 1.0])
    image = write_volume(Volume(np.random.default_rng(0).normal(100, 20, (32, 32, 24)).astype(np.float32), grid), tmp_path / "mr.nii.gz")
    workdir = tmp_path / "run"
    workdir.mkdir()
    sampling = threading.Event()
    args = [
        "mri-to-ct",
        "--mri",
        str(image),
        "--output",
        str(workdir / "ct.nii.gz"),
        "--steps",
        "1000",
        "--samples",
        "1",
        "--device",
        "cpu",
        "--progress",
        "json",
    ]
    job = Job(ProcessRunner(python=sys.executable, grace_s=10.0), args, workdir, on_progress=lambda progress: progress.step >= 1 and sampling.set())
    job.start()
    assert sampling.wait(120), "the command line did not start sampling"

    started = time.monotonic()
    job.cancel()
    took = time.monotonic() - started

    assert took < 5, f"cancel blocked its caller for {took:.2f} s"  # a 10 s grace period: far from any scheduling delay
    assert job.wait(60) == 130  # SIGTERM: the command line stops cleanly, long before the grace period
    wait_until(lambda: not workdir.exists(), 30)
    with pytest.raises(ProcessLookupError):
        os.killpg(job.process.pid, 0)  # the whole process group is gone
