"""Every command against malformed and hostile inputs.

The promise checked each time: a non-zero exit with one ``error: ...`` line (no traceback), no new
file in the output folder (hidden ``.partial`` files included), and every input byte-identical
afterwards. Generated images (hypothesis) may instead succeed, but then with a complete, readable
output on the input's grid. Every command is also given a missing input on its own.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from DiffusionSynthLib.cli import main
from DiffusionSynthLib.volume import Volume, read_volume, write_volume

from conftest import rotation
from hostile import WRITERS, bad_image_files, digests, head_like, listing

COMMANDS = ("mri-to-ct", "impute", "inpaint", "forecast", "prepare-pairs", "evaluate", "train", "provenance", "audit-memorization")
NO_RECORD = "carries no DiffusionSynth provenance record"
GENERATED = settings(
    max_examples=25, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)


@pytest.fixture(scope="module")
def bad(tmp_path_factory, shared_data) -> dict[str, Path]:
    from conftest import HEAD_MR

    return bad_image_files(tmp_path_factory.mktemp("inputs") / "bad inputs ü 日本", HEAD_MR)


@pytest.fixture
def out(tmp_path) -> Path:
    folder = tmp_path / "out put ü"
    folder.mkdir()
    (folder / "somefile.txt").write_text("a regular file, used as a parent folder\n")
    return folder


def intact(watched: list[Path], before: dict, out: Path, files: set[str]) -> None:
    """The promise: no file left in the output folder, no input modified."""
    lost, left = digests(watched) != before, listing(out) != files
    assert not left, "a file was left in the output folder"
    assert not lost, "an input was modified"


def refused(capsys, argv: list[str], watched: list[Path], out: Path, code: int | None = None, no_record_ok: bool = False) -> str:
    """Run ``diffusionsynth argv`` in process and check the promise; returns the message."""
    before, files = digests(watched), listing(out)
    exit_code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    lines = err.splitlines()
    intact(watched, before, out, files)
    assert exit_code != 0 and (code is None or exit_code == code), (exit_code, err)
    assert "Traceback" not in err and len(lines) == 1, err
    assert lines[0].startswith("error: ") or (no_record_ok and NO_RECORD in lines[0]), err
    return lines[0]


def _case_with(folder: Path, pairs: Path, name: str, source: Path) -> Path:
    """A training folder holding the real prepared case with one file replaced by ``source``'s bytes."""
    case = folder / "case 1"
    shutil.copytree(pairs / "pat002", case)
    (case / name).write_bytes(source.read_bytes())
    return folder


BAD_FILES = [
    "missing",
    "empty",
    "truncated",
    "corrupted",
    "garbage",
    "not gzip",
    "wrong extension",
    "folder",
    "2D",
    "single slice",
    "4D",
    "vector",
    "NaN",
    "Inf",
    "constant",
    "spacing 0",
    "spacing 1e6",
    "singular direction",
    "NaN geometry",
    "huge NRRD header",
    "huge MHA header",
    "lying size",
]
CONTENT_FILES = [name for name in BAD_FILES if name not in ("missing", "folder", "wrong extension", "constant")]


@pytest.mark.parametrize("case", BAD_FILES)
def test_bad_image_files(case, bad, out, capsys, tiny_model, small_mri, tiny_impute_model, tiny_inpaint_model):
    path = bad[case]
    watched = [path.parent, small_mri, tiny_model]
    pairs = tiny_model.parent / "pairs"
    model = ["--model", tiny_model, "--steps", "1", "--progress", "none"]
    message = refused(capsys, ["mri-to-ct", "--mri", path, "--output", out / "ct.nii.gz", *model], watched, out, 2)
    assert path.name in message
    impute = ["--output-dir", out / "imputed", "--model", tiny_impute_model, "--steps", "1", "--progress", "none"]
    message = refused(capsys, ["impute", "--t1n", path, *impute], [*watched, tiny_impute_model], out, 2)
    assert path.name in message
    refused(capsys, ["impute", "--t1c", small_mri, "--t2f", path, *impute], [*watched, tiny_impute_model], out, 2)
    inpaint = ["--output-dir", out / "inpainted", "--model", tiny_inpaint_model, "--steps", "1", "--mode", "add", "--progress", "none"]
    message = refused(capsys, ["inpaint", "--t1n", path, "--mask", small_mri, *inpaint], [*watched, tiny_inpaint_model], out, 2)
    assert path.name in message
    refused(capsys, ["inpaint", "--t1c", small_mri, "--mask", path, *inpaint], [*watched, tiny_inpaint_model], out, 2)
    forecast = ["--days", "30", "--output-dir", out / "forecast", "--inpaint-model", tiny_inpaint_model, "--steps", "1", "--progress", "none"]
    message = refused(capsys, ["forecast", "--t1c", path, "--tumour-mask", small_mri, *forecast], [*watched, tiny_inpaint_model], out, 2)
    assert path.name in message
    refused(capsys, ["forecast", "--t1c", small_mri, "--tumour-mask", path, *forecast], [*watched, tiny_inpaint_model], out, 2)
    refused(capsys, ["prepare-pairs", "--mri", path, "--ct", small_mri, "--output", out / "case"], watched, out, 2)
    refused(capsys, ["prepare-pairs", "--mri", small_mri, "--ct", path, "--output", out / "case"], watched, out, 2)
    refused(capsys, ["evaluate", "--prediction", path, "--reference", small_mri, "--kind", "ct"], watched, out, 2)
    refused(capsys, ["evaluate", "--prediction", small_mri, "--reference", small_mri, "--mask", path, "--kind", "mri"], watched, out, 2)
    refused(capsys, ["provenance", path], watched, out, no_record_ok=True)
    refused(capsys, ["audit-memorization", "--training-data", pairs, "--inputs", path, "--samples", "1", *model], [*watched, pairs], out, 2)


@pytest.mark.parametrize("case", CONTENT_FILES)
def test_bad_training_files(case, bad, out, capsys, tiny_model, tmp_path):
    """A damaged ct.nii.gz (or mr.nii.gz) inside an otherwise real training folder."""
    pairs = tiny_model.parent / "pairs"
    for name in ("ct.nii.gz", "mr.nii.gz"):
        data = _case_with(tmp_path / f"data {name}", pairs, name, bad[case])
        train = ["train", "--task", "mri-to-ct", "--data", data, "--output", out / "model", "--max-steps", "1", "--preset", "tiny"]
        refused(capsys, train, [data], out, 2)
    data = _case_with(tmp_path / "audit data", pairs, "ct.nii.gz", bad[case])
    audit = ["audit-memorization", "--model", tiny_model, "--training-data", data, "--samples", "1", "--steps", "1", "--progress", "none"]
    refused(capsys, audit, [data, tiny_model], out, 2)


def test_bad_outputs(out, capsys, tiny_model, small_mri, tiny_impute_model, tiny_inpaint_model):
    pairs = tiny_model.parent / "pairs"
    watched = [small_mri, tiny_model, pairs]
    under_file = out / "somefile.txt"
    run = ["mri-to-ct", "--mri", small_mri, "--model", tiny_model, "--steps", "1", "--progress", "none"]
    for target in (out, under_file / "ct.nii.gz", Path("/proc/ct.nii.gz"), out / "ct.png", out / "no such folder" / "deeper" / "ct.nii.gz", under_file):
        refused(capsys, [*run, "--output", target], watched, out, 4)
    refused(capsys, [*run, "--output", out / "ct.nii.gz", "--samples", "2", "--uncertainty", under_file / "std.nii.gz"], watched, out, 4)
    for target in (under_file, under_file / "case", Path("/proc/case")):
        refused(capsys, ["prepare-pairs", "--mri", small_mri, "--ct", pairs / "pat002" / "ct.nii.gz", "--output", target], watched, out, 4)
    impute = ["impute", "--t1n", small_mri, "--model", tiny_impute_model, "--steps", "1", "--progress", "none"]
    for target in (under_file, under_file / "imputed", Path("/proc/imputed")):
        refused(capsys, [*impute, "--output-dir", target], [*watched, tiny_impute_model], out, 4)
    mask = out.parent / "mask.nii.gz"
    head = read_volume(small_mri)
    write_volume(head.with_array((np.indices(head.shape)[0] == head.shape[0] // 2).astype(np.uint8) * (head.array > head.array.mean())), mask)
    inpaint = ["inpaint", "--t1n", small_mri, "--mask", mask, "--mode", "remove", "--model", tiny_inpaint_model, "--steps", "1", "--progress", "none"]
    for target in (under_file, under_file / "inpainted", Path("/proc/inpainted")):
        refused(capsys, [*inpaint, "--output-dir", target], [*watched, mask, tiny_inpaint_model], out, 4)
    forecast = [
        "forecast",
        "--t1c",
        small_mri,
        "--tumour-mask",
        mask,
        "--days",
        "30",
        "--inpaint-model",
        tiny_inpaint_model,
        "--steps",
        "1",
        "--progress",
        "none",
    ]
    for target in (under_file, under_file / "forecast", Path("/proc/forecast")):
        refused(capsys, [*forecast, "--output-dir", target], [*watched, mask, tiny_inpaint_model], out, 4)
    train = ["train", "--task", "mri-to-ct", "--data", pairs, "--max-steps", "1", "--preset", "tiny"]
    for target in (under_file / "model", Path("/proc/model"), under_file, pairs):  # pairs: a folder that is no model package
        message = refused(capsys, [*train, "--output", target], watched, out, 4)
    assert "not a model package" in message


def test_bad_arguments_and_folders(out, capsys, tiny_model, small_mri, tmp_path):
    pairs = tiny_model.parent / "pairs"
    watched = [small_mri, tiny_model, pairs]
    empty = tmp_path / "empty folder"
    empty.mkdir()
    other_grid = tmp_path / "other grid"
    shutil.copytree(pairs, other_grid)
    shutil.copy(small_mri, other_grid / "pat002" / "mr.nii.gz")  # an MR on another grid than its CT
    train = ["train", "--task", "mri-to-ct", "--output", out / "model", "--max-steps", "1", "--preset", "tiny"]
    for data in (tmp_path / "missing", small_mri, empty, other_grid):
        refused(capsys, [*train, "--data", data], [*watched, other_grid], out, 2)
    assert "one data folder" in refused(capsys, [*train, "--data", pairs, other_grid], [*watched, other_grid], out, 2)
    # impute and inpaint take several folders, but two cases of one name (folds and validation name cases) are refused
    impute = ["train", "--task", "impute", "--output", out / "model", "--max-steps", "1", "--preset", "tiny"]
    message = refused(capsys, [*impute, "--data", tmp_path / "brains a", tmp_path / "brains b"], watched, out, 2)
    assert "does not exist" in message
    for folder in ("brains a", "brains b"):
        (tmp_path / folder / "case 1").mkdir(parents=True)
        shutil.copy(small_mri, tmp_path / folder / "case 1" / "t1n.nii.gz")
        shutil.copy(small_mri, tmp_path / folder / "case 1" / "t2w.nii.gz")
    message = refused(capsys, [*impute, "--data", tmp_path / "brains a", tmp_path / "brains b"], watched, out, 2)
    assert "Two training cases are named 'case 1'" in message
    audit = ["audit-memorization", "--model", tiny_model, "--inputs", small_mri, "--samples", "1", "--steps", "1", "--progress", "none"]
    for data in (tmp_path / "missing", small_mri, empty):
        refused(capsys, [*audit, "--training-data", data], watched, out, 2)
    for extra in (["--threshold", "nan"], ["--threshold", "2"], ["--samples", "0"], ["--steps", "0"]):
        refused(capsys, [*audit, "--training-data", pairs, *extra], watched, out, 2)
    for model in (tmp_path / "missing model", empty, small_mri):
        refused(capsys, ["audit-memorization", "--model", model, "--training-data", pairs, "--inputs", small_mri], watched, out, 3)
    # a mask that is a fine image, but on another grid than the reference
    mr = read_volume(small_mri)
    shifted = mr.ijk_to_ras.copy()
    shifted[:3, 3] += 1.5
    mask = write_volume(Volume(np.ones(mr.shape, np.uint8), shifted), tmp_path / "mask on another grid.nii.gz")
    message = refused(capsys, ["evaluate", "--prediction", small_mri, "--reference", small_mri, "--mask", mask, "--kind", "ct"], [*watched, mask], out, 2)
    assert "another grid" in message
    for what in (tmp_path / "missing.nii.gz", empty):
        refused(capsys, ["provenance", what], watched, out, 2)


# ------------------------------------------------------------------------------ generated images

SANE_SPACING = st.floats(0.6, 3.0)
HOSTILE_SPACING = st.sampled_from([0.0, -1.5, 1e-6, 1e-4, 1e6, math.inf, math.nan])
DIRECTIONS = {
    "identity": np.eye(3),
    "oblique": rotation(2, 17) @ rotation(0, -11),
    "flipped": np.diag([-1.0, 1.0, -1.0]),
    "permuted": np.eye(3)[[1, 2, 0]],
    "singular": np.array([[1.0, 1.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 1.0]]),
    "zero column": np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]]),
    "nan": np.full((3, 3), math.nan),
}


@st.composite
def images(draw) -> dict:
    """A header and voxels: sane-looking or hostile (degenerate sizes, NaN/Inf, absurd spacing or axes)."""
    sane = draw(st.booleans())  # half of them look like a real image
    sizes = st.sampled_from([12, 16, 24] if sane else [1, 2, 5, 16, 16, 24, 24])
    shape = tuple(draw(sizes) for _ in range(3))
    dtype = np.dtype(draw(st.sampled_from(["uint8", "int16", "uint16", "int32", "float32", "float64"])))
    content = "head" if sane else draw(st.sampled_from(["head", "noise", "constant", "extreme"]))
    array = {
        "head": lambda: head_like(shape, 3),
        "noise": lambda: np.random.default_rng(5).random(shape) * 1000,
        "constant": lambda: np.full(shape, 3.0),
        "extreme": lambda: np.where(head_like(shape) > 50, 3e38, -3e38),
    }[content]()
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        array = np.clip(array, info.min, info.max)
    array = array.astype(dtype)
    if dtype.kind == "f" and not sane and draw(st.booleans()):
        flat = array.reshape(-1)
        flat[draw(st.integers(0, flat.size - 1))] = draw(st.sampled_from([math.nan, math.inf, -math.inf]))
    spacing = tuple(draw(SANE_SPACING if sane else st.one_of(SANE_SPACING, HOSTILE_SPACING)) for _ in range(3))
    direction = draw(st.sampled_from(["identity", "oblique", "flipped", "permuted"] if sane else list(DIRECTIONS)))
    origin = tuple(draw(st.floats(-200, 200)) for _ in range(3))
    suffix = draw(st.sampled_from(list(WRITERS)))
    return {
        "array": array,
        "spacing": spacing,
        "direction": DIRECTIONS[direction],
        "origin": origin,
        "suffix": suffix,
        "label": f"{suffix} {dtype.name} {shape} {content} spacing={spacing} {direction}",
    }


def _write(image: dict, folder: Path, name: str, array: np.ndarray | None = None) -> Path:
    path = folder / f"{name}{image['suffix']}"
    return WRITERS[image["suffix"]](path, image["array"] if array is None else array, image["spacing"], image["direction"], image["origin"])


def _reason(err: str) -> str:
    return re.sub(r"'[^']*'", "F", err.strip())[:70]


def _error_or_nothing(err: str, out: Path, files: set[str]) -> None:
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1 and err.startswith("error: "), err
    assert listing(out) == files


@GENERATED
@given(image=images())
def test_mri_to_ct_on_generated_images(image, tmp_path, capsys, tiny_model):
    folder = Path(tempfile.mkdtemp(dir=tmp_path))
    path = _write(image, folder, "mr ü")
    out = folder / "out"
    out.mkdir()
    before = digests([path])
    code = main(["mri-to-ct", "--mri", str(path), "--output", str(out / "ct.nii.gz"), "--model", str(tiny_model), "--steps", "1", "--progress", "none"])
    err = capsys.readouterr().err
    event(f"exit {code}: {_reason(err) if code else 'output written'}")
    intact([path], before, out, {"ct.nii.gz"} if code == 0 else set())  # the output alone, or nothing
    if code == 0:
        ct, mr = read_volume(out / "ct.nii.gz"), read_volume(path)
        assert ct.same_grid(mr) and ct.array.dtype == np.int16, image["label"]
    else:
        assert code == 2, (image["label"], err)
        _error_or_nothing(err, out, set())


@GENERATED
@given(image=images(), kind=st.sampled_from(["ct", "mri"]))
def test_evaluate_and_provenance_on_generated_images(image, kind, tmp_path, capsys):
    folder = Path(tempfile.mkdtemp(dir=tmp_path))
    prediction = _write(image, folder, "prediction")
    reference = _write(image, folder, "reference", image["array"][::-1].copy())  # same grid, other voxels
    before, files = digests([folder]), listing(folder)
    code = main(["evaluate", "--prediction", str(prediction), "--reference", str(reference), "--kind", kind])
    captured = capsys.readouterr()
    event(f"exit {code}: {_reason(captured.err) if code else 'metrics printed'}")
    intact([folder], before, folder, files)
    if code == 0:
        metrics = json.loads(captured.out)
        assert set(metrics) >= {"ssim", "psnr", "mae"} and all(isinstance(v, float) for v in metrics.values()), image["label"]
    else:
        assert code == 2, (image["label"], captured.err)
        _error_or_nothing(captured.err, folder, files)
    code = main(["provenance", str(prediction)])
    err = capsys.readouterr().err
    assert code in (1, 2) and len(err.splitlines()) == 1 and (err.startswith("error: ") or NO_RECORD in err), err
    intact([folder], before, folder, files)


# ------------------------------------------------------------------------------ real processes


def test_a_sample_as_real_subprocesses(bad, out, tiny_model, small_mri, tmp_path):
    """The same promise from a real ``python -m DiffusionSynthLib.cli`` process (default progress bar included)."""
    pairs = tiny_model.parent / "pairs"
    audit_data = _case_with(tmp_path / "audit data", pairs, "ct.nii.gz", bad["corrupted"])
    runs = {
        "mri-to-ct": (["--mri", bad["truncated"], "--output", out / "ct.nii.gz", "--model", tiny_model, "--steps", "1"], 2),
        "prepare-pairs": (["--mri", small_mri, "--ct", small_mri, "--output", out / "somefile.txt" / "case"], 4),
        "evaluate": (["--prediction", small_mri, "--reference", small_mri, "--mask", bad["spacing 0"], "--kind", "ct"], 2),
        "train": (["--task", "mri-to-ct", "--data", bad["folder"], "--output", out / "model"], 2),
        "provenance": ([bad["garbage"]], 2),
        "audit-memorization": (["--model", tiny_model, "--training-data", audit_data, "--samples", "1"], 2),
    }
    watched = [bad["truncated"].parent, small_mri, tiny_model, audit_data]
    before, files = digests(watched), listing(out)
    processes = {
        command: subprocess.Popen(
            [sys.executable, "-m", "DiffusionSynthLib.cli", command, *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for command, (args, _) in runs.items()
    }
    for command, process in processes.items():
        _, err = process.communicate(timeout=240)
        errors = [line for line in err.replace("\r", "\n").splitlines() if line.startswith("error: ")]
        assert process.returncode == runs[command][1], (command, err)
        assert "Traceback" not in err and len(errors) == 1 and err.splitlines()[-1].startswith("error: "), (command, err)
    intact(watched, before, out, files)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_refuses_a_missing_input(command, out, capsys, tmp_path, tiny_model):
    """Each command, on its own (no other test's state, any order): a missing input is one error line and exit 2."""
    missing = tmp_path / "no such file.nii.gz"
    argv = {
        "mri-to-ct": ["--mri", missing, "--output", out / "ct.nii.gz"],
        "impute": ["--t1n", missing, "--output-dir", out / "imputed"],
        "inpaint": ["--t1n", missing, "--mask", missing, "--mode", "remove", "--output-dir", out / "inpainted"],
        "forecast": ["--t1c", missing, "--tumour-mask", missing, "--days", "30", "--output-dir", out / "forecast"],
        "prepare-pairs": ["--mri", missing, "--ct", missing, "--output", out / "case"],
        "evaluate": ["--prediction", missing, "--reference", missing, "--kind", "ct"],
        "train": ["--task", "mri-to-ct", "--data", tmp_path / "no such folder", "--output", out / "model"],
        "provenance": [missing],
        "audit-memorization": ["--model", tiny_model, "--training-data", tmp_path / "no such folder", "--samples", "1"],
    }[command]
    message = refused(capsys, [command, *argv], [tiny_model], out, 2)
    assert "no such" in message or "not found" in message.lower() or "does not exist" in message, message
