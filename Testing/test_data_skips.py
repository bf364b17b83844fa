"""The suite fails when a test skips for missing real data although the data folder is there."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import DATA

HERE = Path(__file__).resolve().parent


def test_a_data_skip_with_the_data_present_fails_the_run(tmp_path):
    """A copy of this suite's conftest and one test that skips 'not found at' a path: with the data folder present the
    run fails (exit 1) though nothing failed; with it absent the skip is only a skip (exit 0)."""
    (tmp_path / "conftest.py").write_text((HERE / "conftest.py").read_text())
    (tmp_path / "test_skips.py").write_text(
        "import pytest\n\n\ndef test_needs_data():\n    pytest.skip('case data not found at /somewhere (set DIFFUSIONSYNTH_DATA)')\n"
    )
    present, absent = tmp_path / "present", tmp_path / "absent"
    present.mkdir()
    runs = {}
    for name, data in (("present", present), ("absent", absent)):
        env = {**os.environ, "DIFFUSIONSYNTH_DATA": str(data)}
        env.pop("PYTEST_XDIST_WORKER", None)
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "0", "--rootdir", str(tmp_path), str(tmp_path / "test_skips.py")]
        runs[name] = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert runs["present"].returncode == 1 and "skipped for missing data although" in runs["present"].stdout, runs["present"].stdout[-2000:]
    assert runs["absent"].returncode == 0, runs["absent"].stdout[-2000:]
    assert DATA.name  # the real suite's folder is the one the hook checks
