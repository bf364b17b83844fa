"""A real ``diffusionsynth mri-to-ct`` process stopped mid-way leaves nothing behind.

The run is long (1000 steps of the tiny model) and is stopped once its JSON progress shows that
denoising has started: SIGTERM and SIGINT must end it with one ``error:`` line and exit 130;
SIGKILL cannot be caught, but since the output is only ever written to a temporary file that is
renamed when complete, and nothing is written before the end, no file may appear either way.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from hostile import digests, listing


def _start_and_stop(mri: Path, model: Path, out: Path, how: signal.Signals) -> tuple[int, str, list[dict]]:
    """Start a run, wait until denoising has begun, send ``how``; return exit code, stderr, progress records."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "DiffusionSynthLib.cli",
            "mri-to-ct",
            "--mri",
            str(mri),
            "--output",
            str(out / "pseudo ct.nii.gz"),
            "--model",
            str(model),
            "--steps",
            "1000",
            "--samples",
            "20",  # 20 000 steps: a test worker starved of CPU on a loaded machine still signals before the run could end
            "--progress",
            "json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # as a user's foreground run: a test runner started in the background (CI, xdist workers) hands its children
        # SIGINT ignored, and Python then keeps ignoring it, as the Unix convention for background jobs wants
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    records: list[dict] = []
    try:
        assert process.stderr is not None
        for line in process.stderr:
            if line.startswith("{") and "progress" in (record := json.loads(line)):  # notes and warnings are JSON too
                records.append(record)
                if record["progress"] >= 3:  # preparing done, denoising under way
                    break
        process.send_signal(how)
        _, rest = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return process.returncode, rest, records


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL], ids=lambda s: s.name)
def test_stopped_run_leaves_no_file(how, tmp_path, small_mri, tiny_model):
    out = tmp_path / "out"
    out.mkdir()
    before = digests([small_mri, tiny_model])
    code, err, records = _start_and_stop(small_mri, tiny_model, out, how)
    assert records and records[-1]["total"] > 1000 and records[-1]["progress"] < records[-1]["total"], records[-1:]
    assert listing(out) == set(), f"left behind after {how.name}: {listing(out)}"
    assert digests([small_mri, tiny_model]) == before
    if how == signal.SIGKILL:
        assert code == -signal.SIGKILL
        return
    lines = [line for line in err.splitlines() if not line.startswith("{")]
    assert code == 130, err
    assert "Traceback" not in err and len(lines) == 1 and lines[0].startswith("error: ") and "nothing was written" in lines[0], err
