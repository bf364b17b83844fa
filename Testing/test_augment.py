"""``diffusionsynth augment`` with a real tiny inpainting model on real brain cases: cases, labels, manifest,
locality, reproducibility, resume, a kill mid-run, bad inputs, and two ranks under torchrun."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from DiffusionSynthLib.cli import main
from DiffusionSynthLib.lesions import random_lesion_mask
from DiffusionSynthLib.masks import BLEND_MARGIN_VOXELS, blend_weights
from DiffusionSynthLib.sequences import SEQUENCES
from DiffusionSynthLib.volume import read_provenance, read_volume

FILES = [f"{name}.nii.gz" for name in SEQUENCES] + ["label.nii.gz", "case.json"]


@pytest.fixture(scope="module")
def healthy(brain_cases, tmp_path_factory) -> Path:
    """The two real cases as an input folder; the second with only T1n and FLAIR (a subset)."""
    root = tmp_path_factory.mktemp("healthy")
    for case in sorted(p for p in brain_cases.iterdir() if p.is_dir()):
        (root / case.name).mkdir()
        names = SEQUENCES if case.name.startswith("BraTS") else ("t1n", "t2f")
        for name in names:
            os.symlink(case / f"{name}.nii.gz", root / case.name / f"{name}.nii.gz")
    (root / "notes").mkdir()  # a folder without images is not a case
    return root


def _run(healthy: Path, out: Path, model: Path, count: int, *extra: str) -> int:
    return main(
        [
            "augment",
            "--input-dir",
            str(healthy),
            "--count",
            str(count),
            "--output-dir",
            str(out),
            "--model",
            str(model),
            "--steps",
            "1",
            "--device",
            "cpu",
            "--progress",
            "none",
            *extra,
        ]
    )


def _manifest(out: Path) -> list[dict]:
    with (out / "manifest.csv").open() as handle:
        return list(csv.DictReader(handle))


def test_lesion_masks_are_tumour_sized_blobs_inside_the_brain_and_seeded(brain_cases):
    reference = read_volume(brain_cases / "TCGA-DU-7294" / "t1n.nii.gz")
    brain = reference.array != 0
    masks = [random_lesion_mask(brain, reference.spacing, np.random.default_rng(seed)) for seed in range(6)]
    volumes_ml = [mask.sum() * np.prod(reference.spacing) / 1000 for mask in masks]
    assert all(not (mask & ~brain).any() for mask in masks)
    assert all(0.2 < ml < 40 for ml in volumes_ml), volumes_ml  # 12-40 mm blobs: about 1-34 ml before clipping
    assert len({int(mask.sum()) for mask in masks}) > 3  # sizes vary
    assert np.array_equal(masks[2], random_lesion_mask(brain, reference.spacing, np.random.default_rng(2)))


def test_augment_writes_cases_labels_manifest_and_resumes(healthy, tiny_inpaint_model, tmp_path, capsys):
    out = tmp_path / "synthetic"
    assert _run(healthy, out, tiny_inpaint_model, 3) == 0
    cases = sorted(p.name for p in out.iterdir())
    assert cases == ["case_0000", "case_0001", "case_0002", "manifest.csv"]  # nothing hidden left behind
    rows = _manifest(out)
    assert [r["case"] for r in rows] == ["case_0000", "case_0001", "case_0002"]
    assert [r["source_case"] for r in rows] == ["BraTS-GLI-00001-000", "TCGA-DU-7294", "BraTS-GLI-00001-000"]
    assert [r["seed"] for r in rows] == ["0", "1", "2"] and rows[1]["sequences"] == "t1n t2f"
    assert {r["synthetic"] for r in rows} == {"True"} and {r["model_id"] for r in rows} == {"tiny-inpaint"}
    for row in rows:
        case = out / row["case"]
        sequences = row["sequences"].split()
        assert sorted(p.name for p in case.iterdir()) == sorted([f"{s}.nii.gz" for s in sequences] + ["case.json", "label.nii.gz"])
        sub_regions = read_volume(case / "label.nii.gz").array
        label = sub_regions != 0
        assert label.sum() == int(row["mask_voxels"]) > 0
        # the tiny package's lesion bank holds TCGA-DU-7294's layout, necrosis (1) and oedema (2): both laid out, oedema outside
        assert set(np.unique(sub_regions[label]).tolist()) == {1, 2}
        edge = label & ~ndimage.binary_erosion(label)
        assert (sub_regions[edge] == 2).mean() > (sub_regions[ndimage.binary_erosion(label, iterations=2)] == 2).mean()
        sources = {s: read_volume(healthy / row["source_case"] / f"{s}.nii.gz").array for s in sequences}
        brain = np.any([a != 0 for a in sources.values()], axis=0)
        assert not (label & ~brain).any()  # the lesion lies in the brain
        beyond = blend_weights(label, BLEND_MARGIN_VOXELS) == 0
        changed = np.zeros(label.shape, bool)
        for s in sequences:
            image = read_volume(case / f"{s}.nii.gz").array
            assert image.dtype == sources[s].dtype and np.array_equal(image[beyond], sources[s][beyond])
            changed |= image != sources[s]
            record = read_provenance(case / f"{s}.nii.gz")
            assert record["synthetic"] and record["task"] == "augment" and record["source_case"] == row["source_case"]
        assert changed[label].mean() > 0.5  # the lesion changed the images where it was drawn
        assert read_provenance(case / "label.nii.gz")["synthetic"]
    labels = [read_volume(out / c / "label.nii.gz").array for c in ("case_0000", "case_0002")]
    assert not np.array_equal(*labels)  # same source, other seed: another lesion

    # a rerun skips finished cases; a larger count adds only the new ones; a lone case 1 is reproducible
    stamps = {c: (out / c / "t1n.nii.gz").stat().st_mtime_ns for c in ("case_0000", "case_0001", "case_0002")}
    capsys.readouterr()
    assert _run(healthy, out, tiny_inpaint_model, 4) == 0
    assert "wrote 1 cases, skipped 3" in capsys.readouterr().out
    assert {c: (out / c / "t1n.nii.gz").stat().st_mtime_ns for c in stamps} == stamps
    assert [r["case"] for r in _manifest(out)] == ["case_0000", "case_0001", "case_0002", "case_0003"]
    again = tmp_path / "again"
    assert _run(healthy, again, tiny_inpaint_model, 2) == 0
    for name in ("label.nii.gz", "t2f.nii.gz"):
        assert np.array_equal(read_volume(again / "case_0001" / name).array, read_volume(out / "case_0001" / name).array)
    # resuming with other settings is refused rather than mixing cases
    assert _run(healthy, again, tiny_inpaint_model, 2, "--seed", "5") == 2
    assert "other settings" in capsys.readouterr().err


def test_a_kill_leaves_only_whole_cases_and_a_rerun_finishes(healthy, tiny_inpaint_model, tmp_path):
    out = tmp_path / "killed"
    command = [
        sys.executable,
        "-m",
        "DiffusionSynthLib.cli",
        "augment",
        "--input-dir",
        str(healthy),
        "--count",
        "500",
        "--output-dir",
        str(out),
        "--model",
        str(tiny_inpaint_model),
        "--steps",
        "1",
        "--device",
        "cpu",
        "--progress",
        "json",
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.monotonic() + 600
    while not (out / "case_0000").is_dir() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)  # the first case is whole: the kill falls somewhere in the next ones (500 asked: never after the end)
    process.send_signal(signal.SIGKILL)
    process.wait()
    finished = sorted(p.name for p in out.iterdir() if p.name.startswith("case_"))
    assert "case_0000" in finished and len(finished) < 500  # killed mid-run
    for case in finished:
        assert {p.name for p in (out / case).iterdir()} == set(FILES)  # every visible case is whole
    count = len(finished) + 1
    stale = out / f".case_{count - 1:04d}.staging"  # what a kill between writing the first file and the rename leaves
    stale.mkdir(exist_ok=True)
    (stale / "t1n.nii.gz").write_bytes(b"partial")
    assert (
        main(
            [
                "augment",
                "--input-dir",
                str(healthy),
                "--count",
                str(count),
                "--output-dir",
                str(out),
                "--model",
                str(tiny_inpaint_model),
                "--steps",
                "1",
                "--device",
                "cpu",
                "--progress",
                "none",
            ]
        )
        == 0
    )
    assert sorted(p.name for p in out.iterdir()) == [f"case_{i:04d}" for i in range(count)] + ["manifest.csv"]  # no staging left


@pytest.mark.parametrize("problem", ["missing", "empty", "count", "unwritable"])
def test_bad_input_is_one_error_line_and_writes_nothing(problem, healthy, tiny_inpaint_model, tmp_path, capsys):
    source, out, count = healthy, tmp_path / "out", 2
    if problem == "missing":
        source = tmp_path / "nowhere"
    elif problem == "empty":
        source = tmp_path / "empty"
        (source / "case").mkdir(parents=True)
    elif problem == "count":
        count = 0
    else:
        blocker = tmp_path / "file"
        blocker.write_text("not a folder")
        out = blocker / "out"
    code = _run(source, out, tiny_inpaint_model, count)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == (4 if problem == "unwritable" else 2)  # 4: output not writable, as every command
    assert len(err) == 1 and err[0].startswith("error: ")
    assert not out.exists()


def test_two_ranks_under_torchrun_split_the_cases_and_write_the_whole_manifest(healthy, tiny_inpaint_model, tmp_path):
    out = tmp_path / "ranks"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MASTER_ADDR": "127.0.0.1"}
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_addr",
        "127.0.0.1",
        "--master_port",
        str(29600 + os.getpid() % 1000),
        "-m",
        "DiffusionSynthLib.cli",
        "augment",
        "--input-dir",
        str(healthy),
        "--count",
        "4",
        "--output-dir",
        str(out),
        "--model",
        str(tiny_inpaint_model),
        "--steps",
        "1",
        "--device",
        "cpu",
        "--progress",
        "none",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("wrote 2 cases") == 2
    rows = _manifest(out)
    assert [r["case"] for r in rows] == ["case_0000", "case_0001", "case_0002", "case_0003"]
    assert [r["rank"] for r in rows] == ["0", "1", "0", "1"]
    assert sorted(p.name for p in out.iterdir()) == ["case_0000", "case_0001", "case_0002", "case_0003", "manifest.csv"]
    assert json.loads((out / "case_0003" / "case.json").read_text())["seed"] == 3
