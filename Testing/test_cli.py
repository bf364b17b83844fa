"""The command line: one clear message and a non-zero exit for bad input, no traceback, no partial output."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import numpy as np
import pytest
import SimpleITK as sitk

from DiffusionSynthLib.cli import main
from DiffusionSynthLib.volume import Volume, write_volume


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _bad_inputs(tmp_path):
    (tmp_path / "notes.nii.gz").write_text("not an image")
    flat = tmp_path / "flat.nii.gz"
    sitk.WriteImage(sitk.Image([30, 30], sitk.sitkFloat32), str(flat))
    nan = np.ones((20, 20, 20), np.float32)
    nan[5, 5, 5] = np.nan
    zero = np.zeros((20, 20, 20), np.float32)
    return {
        "missing": (tmp_path / "missing.nii.gz", "does not exist"),
        "not an image": (tmp_path / "notes.nii.gz", "could not be read"),
        "2D": (flat, "2D image"),
        "NaN": (write_volume(Volume(nan, np.eye(4)), tmp_path / "nan.nii.gz"), "NaN"),
        "empty": (write_volume(Volume(zero, np.eye(4)), tmp_path / "zero.nii.gz"), "constant"),
    }


@pytest.mark.parametrize("case", ["missing", "not an image", "2D", "NaN", "empty"])
def test_bad_mri_gives_one_line_exit_2_and_no_output(tmp_path, capsys, case, tiny_model):
    path, message = _bad_inputs(tmp_path)[case]
    before = _digest(path) if path.exists() else None
    output = tmp_path / "out" / "ct.nii.gz"
    output.parent.mkdir()
    code = main(["mri-to-ct", "--mri", str(path), "--output", str(output), "--model", str(tiny_model), "--steps", "1", "--progress", "none"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: ") and message in err and str(path.name) in err
    assert "Traceback" not in err and err.count("\n") == 1
    assert list(output.parent.iterdir()) == []
    if before is not None:
        assert _digest(path) == before


def test_output_that_is_a_folder_is_refused_before_work(tmp_path, capsys, small_mri):
    code = main(["mri-to-ct", "--mri", str(small_mri), "--output", str(tmp_path), "--progress", "none"])
    assert code == 4
    assert "existing folder" in capsys.readouterr().err


def test_bad_arguments(tmp_path, capsys, small_mri, tiny_model):
    out = str(tmp_path / "ct.nii.gz")
    assert main(["mri-to-ct", "--mri", str(small_mri), "--output", out, "--samples", "-1"]) == 2
    assert main(["mri-to-ct", "--mri", str(small_mri), "--output", out, "--steps", "0"]) == 2
    assert main(["mri-to-ct", "--mri", str(small_mri), "--output", out, "--uncertainty", str(tmp_path / "s.nii.gz")]) == 2
    assert main(["mri-to-ct", "--mri", str(small_mri), "--output", out, "--model", str(tmp_path)]) == 3
    err = capsys.readouterr().err
    assert "--samples" in err and "--steps" in err and "--uncertainty" in err and "model.json" in err
    assert not (tmp_path / "ct.nii.gz").exists()


def test_a_dicom_output_named_like_a_file_is_refused(tmp_path, capsys, small_mri, tiny_model):
    """--output-format dicom writes a folder of slices: an --output that names a file is refused (it made a folder
    called x.nii.gz before), nothing is written."""
    for name in ("ct.nii.gz", "ct.dcm", "CT.NRRD"):
        code = main(["mri-to-ct", "--mri", str(small_mri), "--output", str(tmp_path / name), "--output-format", "dicom", "--model", str(tiny_model)])
        lines = capsys.readouterr().err.strip().splitlines()
        assert code == 4 and len(lines) == 1 and "is a file name; give a folder" in lines[0], lines
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("argv", "hint"),
    [
        (["impute", "--flair", "x.nii.gz", "--output-dir", "o"], "FLAIR is --t2f"),
        (["inpaint", "--t1ce=x.nii.gz", "--mask", "m", "--mode", "add", "--output-dir", "o"], "T1 post-contrast is --t1c"),
        (["impute", "--t2", "x.nii.gz", "--output-dir", "o"], "T2 is --t2w"),
    ],
)
def test_a_flag_users_reach_for_gets_the_right_spelling(argv, hint, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and hint in err.strip().splitlines()[-1] and "Traceback" not in err


def test_real_subprocess_run_with_json_progress_and_provenance(tmp_path, small_mri, tiny_model):
    output = tmp_path / "pseudo ct ü.nii.gz"  # spaces and unicode in the path
    before = _digest(small_mri)
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "DiffusionSynthLib.cli",
            "mri-to-ct",
            "--mri",
            str(small_mri),
            "--output",
            str(output),
            "--model",
            str(tiny_model),
            "--steps",
            "2",
            "--samples",
            "2",
            "--uncertainty",
            str(tmp_path / "std.nrrd"),
            "--progress",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    import json

    lines = [json.loads(line) for line in run.stderr.splitlines()]  # progress and the quality check's warnings, all JSON
    steps = [line for line in lines if "progress" in line]
    assert steps[-1]["progress"] == steps[-1]["total"]
    assert any(line.get("warning", "").startswith("head_cut_share") for line in lines)  # this MR's field of view cuts the vertex
    assert _digest(small_mri) == before
    shown = subprocess.run([sys.executable, "-m", "DiffusionSynthLib.cli", "provenance", str(output)], capture_output=True, text=True)
    record = json.loads(shown.stdout)
    assert record["synthetic"] is True and record["task"] == "mri-to-ct" and record["steps"] == 2
    assert record["inputs"]["mri"]["sha256"] == before
    missing = subprocess.run([sys.executable, "-m", "DiffusionSynthLib.cli", "provenance", str(small_mri)], capture_output=True, text=True)
    assert missing.returncode == 1 and "no DiffusionSynth provenance" in missing.stderr


def test_missing_file_as_subprocess_has_no_traceback(tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "DiffusionSynthLib.cli", "mri-to-ct", "--mri", str(tmp_path / "nope.nii.gz"), "--output", str(tmp_path / "o.nii.gz")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2
    assert run.stderr.strip().startswith("error:") and "Traceback" not in run.stderr
