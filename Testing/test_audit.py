"""Privacy audit: copies of training CTs are flagged, other subjects and tiny-model outputs are not."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from DiffusionSynthLib.audit import (
    COLIN27,
    DEFAULT_THRESHOLD,
    GENERATORS,
    centre_head,
    compare,
    conditioning_inputs,
    derive_threshold,
    reference_similarity,
    run_audit,
)
from DiffusionSynthLib.cli import main
from DiffusionSynthLib.errors import InputError
from DiffusionSynthLib.geometry import resample_to_spacing
from DiffusionSynthLib.models.package import ModelPackage
from DiffusionSynthLib.volume import Volume, read_volume

from conftest import DATA, HEAD_CT

OTHER_CT = DATA / "head_mr_ct" / "cmtk-cad001" / "ct.nii.gz"


def _shifted_resampled_copy(ct: Volume) -> Volume:
    """The same head moved by a few millimetres and resampled onto a finer, different grid."""
    matrix = ct.ijk_to_ras.copy()
    matrix[:3, 3] += [7.3, -11.2, 4.1]
    return resample_to_spacing(Volume(ct.array, matrix), [1.0, 1.1, 2.0])


def test_a_moved_copy_is_flagged_and_another_subject_is_not(shared_data):
    training = centre_head(read_volume(HEAD_CT))
    copy_ncc, copy_ssim = compare(centre_head(_shifted_resampled_copy(read_volume(HEAD_CT))), training)
    other = centre_head(read_volume(OTHER_CT))
    other_ncc, other_ssim = compare(other, training)
    reference, pair = reference_similarity({"pat002": training, "cad001": other})
    threshold, source = derive_threshold(reference, None)
    print(f"copy NCC {copy_ncc:.4f} SSIM {copy_ssim:.4f}; other subject NCC {other_ncc:.4f} SSIM {other_ssim:.4f}; threshold {threshold:.3f}")
    assert copy_ncc > 0.98 and copy_ssim > 0.95
    assert copy_ncc > max(threshold, DEFAULT_THRESHOLD)
    assert other_ncc < threshold and other_ncc < copy_ncc - 0.3 and other_ssim < copy_ssim
    assert reference == pytest.approx(other_ncc) and pair == ["pat002", "cad001"] and source.startswith("derived")


def test_threshold_rules():
    value, source = derive_threshold(None, None)
    assert value == DEFAULT_THRESHOLD and "fewer than two" in source
    assert derive_threshold(0.4, None)[0] == pytest.approx(0.7)
    assert derive_threshold(-0.2, None)[0] == pytest.approx(0.5)  # anti-correlated subjects: halfway from 0
    assert derive_threshold(0.4, 0.95) == (0.95, "given with --threshold")


def test_no_conditioning_image_is_a_clear_input_error(tmp_path):
    with pytest.raises(InputError, match="Colin27.*--inputs"):
        conditioning_inputs(None, colin27=tmp_path / "absent.nii.gz")
    assert conditioning_inputs(["a.nii.gz"], colin27=tmp_path / "absent.nii.gz") == [Path("a.nii.gz")]


def test_memorising_generator_is_caught(tmp_path, monkeypatch, tiny_model, small_mri):
    """A stand-in for a model that memorised: its 'output' is the training CT, moved and resampled."""
    pairs = tiny_model.parent / "pairs"
    memorised = _shifted_resampled_copy(read_volume(pairs / "pat002" / "ct.nii.gz"))
    monkeypatch.setitem(GENERATORS, "memoriser", lambda model, image, seeds, steps, device: [memorised for _ in seeds])
    model = ModelPackage(path=tmp_path, config={"id": "memoriser", "task": "memoriser"})
    report = run_audit(model, pairs, inputs=[small_mri], samples=2)
    assert [row.seed for row in report.rows] == [0, 1]
    assert all(row.flagged and row.nearest_case == "pat002" and row.ncc > 0.98 for row in report.rows)
    assert report.threshold == DEFAULT_THRESHOLD and report.reference_ncc is None and report.flagged == 2


@pytest.mark.skipif(not COLIN27.is_file(), reason="the Colin27 head (Debian mricron-data) is not installed")
def test_real_audit_of_the_tiny_model_on_colin27(tiny_model, capsys, shared_data):
    pairs = tiny_model.parent / "pairs"
    code = main(
        [
            "audit-memorization",
            "--model",
            str(tiny_model),
            "--training-data",
            str(pairs),
            "--samples",
            "2",
            "--steps",
            "1",
            "--reference-ct",
            str(OTHER_CT),
            "--json",
            "--progress",
            "none",
        ]
    )
    out = capsys.readouterr().out
    report = json.loads(out)
    print(out)
    assert code == 0 and report["flagged"] == 0
    assert [(row["input"], row["seed"], row["nearest_case"]) for row in report["rows"]] == [("ch2.nii.gz", 0, "pat002"), ("ch2.nii.gz", 1, "pat002")]
    assert all(-1.0 <= row["ncc"] < report["threshold"] and -1.0 <= row["ssim"] <= 1.0 for row in report["rows"])
    assert report["reference_ncc"] < 0.5 and report["threshold"] == pytest.approx((1 + max(report["reference_ncc"], 0)) / 2)
    assert report["training_cases"] == 1 and report["steps"] == 1 and report["threshold_source"].startswith("derived")


def test_cli_exit_codes_and_table(tiny_model, small_mri, tmp_path, capsys):
    pairs = tiny_model.parent / "pairs"
    base = ["audit-memorization", "--training-data", str(pairs), "--inputs", str(small_mri), "--samples", "1", "--steps", "1", "--progress", "none"]
    # a threshold below any real similarity flags everything: exit 1 and the table says so
    assert main([*base, "--model", str(tiny_model), "--threshold", "-0.99"]) == 1
    out = capsys.readouterr().out
    assert "LIKELY COPY" in out and "1 of 1 output(s) flagged" in out and "given with --threshold" in out
    assert "inter-subject reference NCC: n/a" in out
    # a model for another task: a clear error, exit 3
    other = tmp_path / "impute-model"
    shutil.copytree(tiny_model, other)
    config = json.loads((other / "model.json").read_text())
    (other / "model.json").write_text(json.dumps({**config, "task": "impute"}))
    assert main([*base, "--model", str(other)]) == 3
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "not available for the task 'impute' yet" in err
    # an impossible threshold and an empty training folder: exit 2
    assert main([*base, "--model", str(tiny_model), "--threshold", "1.5"]) == 2
    (tmp_path / "empty").mkdir()
    assert main([*base, "--model", str(tiny_model), "--training-data", str(tmp_path / "empty")]) == 2
    err = capsys.readouterr().err
    assert "not a correlation" in err and "No training CTs were found" in err
    assert all(line.startswith("error: ") for line in err.splitlines())
