"""Training and pair preparation on real data: packages, checkpoints, resume, registration."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import torch

from DiffusionSynthLib.cli import main
from DiffusionSynthLib.geometry import resample
from DiffusionSynthLib.registration import register_rigid
from DiffusionSynthLib.volume import Volume, read_volume

from conftest import HEAD_CT, HEAD_MR


def test_resume_continues_where_training_stopped(tiny_model, tmp_path):
    data = tiny_model.parent / "pairs"
    output = tmp_path / "model"
    args = ["train", "--task", "mri-to-ct", "--data", str(data), "--output", str(output), "--preset", "tiny", "--patch", "32", "32", "32", "--batch", "1"]
    assert main([*args, "--max-steps", "2"]) == 0
    checkpoint = torch.load(tmp_path / ".model.training" / "checkpoint.pt", weights_only=True)  # tensors and plain data only
    assert checkpoint["state"]["steps"] == {"autoencoder": 2, "unet": 2}
    assert json.loads(torch.load(tmp_path / ".model.training" / "refiner.pt", weights_only=True)["state"])["steps"] == 2
    assert main([*args, "--max-steps", "3", "--resume"]) == 0
    config = json.loads((output / "model.json").read_text())
    assert config["training"]["refiner"]["steps"] == 3
    assert config["training"]["diffusion"]["steps"] == {"autoencoder": 2, "unet": 3}  # the autoencoder stage was finished
    assert config["training"]["held_out_slices"]["pat002"][0] < config["training"]["held_out_slices"]["pat002"][1]
    assert (output / "MODEL_CARD.md").read_text().startswith("# Model card")


class _RunsCode:
    """Unpickling this runs code: it writes a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({str(self.marker)!r}, 'w').close()",)


def test_a_checkpoint_holding_more_than_plain_data_is_refused_never_run(tiny_model, tmp_path, capsys):
    workdir = tmp_path / ".model.training"
    workdir.mkdir()
    marker = tmp_path / "code ran"
    torch.save({"state": _RunsCode(marker)}, workdir / "checkpoint.pt")
    args = [
        "train",
        "--task",
        "mri-to-ct",
        "--data",
        str(tiny_model.parent / "pairs"),
        "--output",
        str(tmp_path / "model"),
        "--preset",
        "tiny",
        "--patch",
        "32",
        "32",
        "32",
        "--batch",
        "1",
        "--max-steps",
        "1",
        "--resume",
    ]
    code = main(args)
    lines = capsys.readouterr().err.splitlines()
    assert not marker.exists()
    assert code == 3 and "holds more than tensors and plain data" in lines[-1], lines
    assert not (tmp_path / "model").exists()


def test_a_damaged_refiner_checkpoint_gives_one_line_not_a_traceback(tiny_model, tmp_path, capsys):
    """A truncated ``refiner.pt`` (a disk filled mid-save, a copy cut short) with --resume: one line and exit 3."""
    workdir = tmp_path / ".model.training"
    workdir.mkdir()
    (workdir / "refiner.pt").write_bytes(b"PK\x03\x04 truncated")
    args = ["train", "--task", "mri-to-ct", "--data", str(tiny_model.parent / "pairs"), "--output", str(tmp_path / "model")]
    code = main([*args, "--preset", "tiny", "--patch", "32", "32", "32", "--batch", "1", "--max-steps", "1", "--resume"])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == 3 and len(lines) == 1 and "refiner.pt' is damaged" in lines[0] and "Traceback" not in err, err
    assert not (tmp_path / "model").exists()


def test_prepare_pairs_writes_a_synthrad_case_on_the_ct_grid(tiny_model):
    case = tiny_model.parent / "pairs" / "pat002"
    ct, mr, mask = (read_volume(case / f"{name}.nii.gz") for name in ("ct", "mr", "mask"))
    original = read_volume(HEAD_CT)
    assert ct.same_grid(original) and mr.same_grid(original) and mask.same_grid(original)
    np.testing.assert_array_equal(ct.array, original.array)
    assert 0.2 < (mask.array > 0).mean() < 0.9


def test_registration_recovers_a_known_shift(shared_data):
    mr = read_volume(HEAD_MR)
    moved_matrix = mr.ijk_to_ras.copy()
    moved_matrix[:3, 3] += [6.0, -4.0, 0.0]  # the same voxels, 6 mm right and 4 mm posterior
    moved = Volume(mr.array, moved_matrix)
    transform = register_rigid(mr, moved)
    centre_lps = np.array([0.0, 0.0, 0.0])
    mapped = np.array(transform.TransformPoint(centre_lps.tolist()))
    shift_ras = (mapped - centre_lps) * [-1, -1, 1]
    np.testing.assert_allclose(shift_ras, [6.0, -4.0, 0.0], atol=1.0)
    realigned = resample(Volume(mr.array.astype(np.float32), moved_matrix), mr.shape, mr.ijk_to_ras)
    assert np.corrcoef(realigned.array.ravel(), mr.array.ravel())[0, 1] > 0.6


def test_the_gate_keeps_the_share_of_the_correction_that_scores_best():
    """Per key: the weight whose score is best where it beats the prior (recorded only below 1), else the prior alone."""
    from DiffusionSynthLib.train.prior_package import PriorPackagePlan, _gate

    table = {  # key: score with the prior alone, then at weights 0.5 and 1
        "remove t2f": (0.60, 0.62, 0.59),  # half the correction beats both
        "remove t1n": (0.60, 0.61, 0.63),  # the whole correction is best
        "add t1c": (0.60, 0.58, 0.55),  # no share beats the prior
    }

    def scores(network, weight):
        column = 0 if network is None else (1 if weight == 0.5 else 2)
        return {key: row[column] for key, row in table.items()}

    required = {f.name: None for f in dataclasses.fields(PriorPackagePlan) if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}
    plan = PriorPackagePlan(**{**required, "gate_scores": scores, "gate_weights": (0.5, 1.0)})
    gate = _gate(plan, torch.nn.Identity())
    assert gate["weights"] == {"remove t2f": 0.5}
    assert gate["prior only"] == ["add t1c"]
    assert gate["by weight"]["0.5"]["remove t2f"] == 0.62 and gate["prior + network"]["remove t1n"] == 0.63
