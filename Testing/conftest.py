"""Shared fixtures: real data from ../shared/data (skipped with a reason when absent), tiny models."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable
from pathlib import Path

if os.environ.get("PYTEST_XDIST_WORKER"):  # parallel workers share the cores: their threads (and their children's) split them
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // workers)))

import numpy as np  # noqa: E402  (after the thread count: torch and numpy read it when first imported)
import pytest  # noqa: E402

from DiffusionSynthLib.volume import Volume  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("DIFFUSIONSYNTH_DATA", REPO.parent / "shared" / "data"))
HEAD_MR = DATA / "head_mr_ct" / "cmtk-pat002" / "mr_t2.nii.gz"
HEAD_CT = DATA / "head_mr_ct" / "cmtk-pat002" / "ct.nii.gz"


DATA_SKIP_MARK = "not found at"  # every skip for missing real data says where it looked
_data_skips: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Remember the tests skipped for missing real data (reported to the controller under xdist too)."""
    if report.skipped and DATA_SKIP_MARK in str(report.longrepr):
        _data_skips.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run when a test skipped for missing real data although ``DATA`` is there: a broken path or a renamed
    file must not turn into a quietly smaller suite."""
    if _data_skips and DATA.is_dir() and not os.environ.get("PYTEST_XDIST_WORKER") and session.exitstatus == 0:
        print(f"\nerror: {len(_data_skips)} test(s) skipped for missing data although {DATA} exists: " + ", ".join(_data_skips[:5]), flush=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def rotation(axis: int, degrees: float) -> np.ndarray:
    c, s = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
    i, j = [a for a in range(3) if a != axis]
    matrix = np.eye(3)
    matrix[i, i], matrix[i, j], matrix[j, i], matrix[j, j] = c, -s, s, c
    return matrix


def oblique(volume: Volume, spacing=(0.9, 1.3, 2.7), origin=(-31.5, 12.25, 40.0)) -> Volume:
    """The same voxels on an oblique, anisotropic grid."""
    matrix = np.eye(4)
    matrix[:3, :3] = rotation(2, 17) @ rotation(0, -11) @ np.diag(spacing)
    matrix[:3, 3] = origin
    return Volume(volume.array, matrix)


def built_once(tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], Path]) -> Path:
    """``build(folder)`` run once per test run: under xdist the workers share it (the first builds it under a file lock,
    the others wait and read it), so a tiny package is trained once, not once per worker. Tests only read it."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker is None:
        return build(tmp_path_factory.mktemp(name))
    root = tmp_path_factory.getbasetemp().parent / f"built-once-{name}"
    with open(f"{root}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        done = root / "built.txt"
        if not done.is_file():
            root.mkdir(exist_ok=True)
            done.write_text(str(build(root)))
        return Path(done.read_text())


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not HEAD_MR.is_file():
        pytest.skip(f"real data not found at {DATA} (set DIFFUSIONSYNTH_DATA)")
    return DATA


@pytest.fixture(scope="session")
def small_mri(shared_data, tmp_path_factory) -> Path:
    """The real head T2 MR at 3 mm (about 55x63x37): small enough for end-to-end runs in seconds."""
    from DiffusionSynthLib.geometry import resample_to_spacing
    from DiffusionSynthLib.volume import read_volume, write_volume

    small = resample_to_spacing(read_volume(HEAD_MR), [3.0, 3.0, 3.0])
    return write_volume(small.with_array(small.array.astype(np.float32)), tmp_path_factory.mktemp("mri") / "small_mr.nii.gz")


@pytest.fixture(scope="session")
def tiny_model(shared_data, tmp_path_factory) -> Path:
    """A tiny MRI->CT prior package (anatomical prior, network, residual diffusion) trained for two steps per stage by the real training command."""
    return built_once(tmp_path_factory, "tiny", _tiny_mri_to_ct_package)


def _tiny_mri_to_ct_package(root: Path) -> Path:
    from DiffusionSynthLib.cli import main

    (root / "pairs").mkdir()  # an output folder is made only where its parent exists
    assert main(["prepare-pairs", "--mri", str(HEAD_MR), "--ct", str(HEAD_CT), "--output", str(root / "pairs" / "pat002")]) == 0
    output = root / "tiny-mri-to-ct"
    code = main(
        [
            "train",
            "--task",
            "mri-to-ct",
            "--data",
            str(root / "pairs"),
            "--output",
            str(output),
            "--preset",
            "tiny",
            "--max-steps",
            "2",
            "--patch",
            "32",
            "32",
            "32",
            "--batch",
            "1",
            "--ct-data",
            str(DATA / "head_mr_ct" / "cmtk-cad001" / "ct.nii.gz"),
        ]
    )
    assert code == 0
    return output


BRAIN = DATA / "brain_tumour_mri"
SEQUENCE_NAMES = ("t1n", "t1c", "t2w", "t2f")


@pytest.fixture(scope="session")
def brain_cases(tmp_path_factory) -> Path:
    """Two real BraTS-style cases at 3 mm (80x80x52): quick to read, train and impute on."""
    if not (BRAIN / "BraTS-GLI-00001-000" / "t1n.nii.gz").is_file():
        pytest.skip(f"brain tumour data not found at {BRAIN} (set DIFFUSIONSYNTH_DATA)")
    from DiffusionSynthLib.geometry import resample_to_spacing
    from DiffusionSynthLib.volume import read_volume, write_volume

    root = tmp_path_factory.mktemp("brain")
    for case in ("BraTS-GLI-00001-000", "TCGA-DU-7294"):
        for name in SEQUENCE_NAMES:
            small = resample_to_spacing(read_volume(BRAIN / case / f"{name}.nii.gz"), [3.0, 3.0, 3.0])
            (root / case).mkdir(exist_ok=True)
            write_volume(small, root / case / f"{name}.nii.gz")
        for label in ("tumour_seg_predicted", "inpainting_mask"):
            if (BRAIN / case / f"{label}.nii.gz").is_file():
                small = resample_to_spacing(read_volume(BRAIN / case / f"{label}.nii.gz"), [3.0, 3.0, 3.0], "nearest")
                write_volume(small.with_array(small.array.astype(np.uint8)), root / case / f"{label}.nii.gz")
    return root


def _tiny_brain_package(task: str, brain_cases: Path, output: Path, *extra: str) -> Path:
    """A tiny brain package (prior, network and residual diffusion, two steps each) by the real training command."""
    from DiffusionSynthLib.cli import main

    args = ["train", "--task", task, "--data", str(brain_cases), "--output", str(output), "--preset", "tiny", "--max-steps", "2"]
    assert main([*args, "--patch", "32", "32", "16", "--batch", "1", "--spacing", "4", *extra]) == 0
    return output


@pytest.fixture(scope="session")
def tiny_impute_model(brain_cases, tmp_path_factory) -> Path:
    """A tiny imputation package."""
    return built_once(tmp_path_factory, "tiny-impute", lambda root: _tiny_brain_package("impute", brain_cases, root / "tiny-impute"))


@pytest.fixture(scope="session")
def tiny_inpaint_model(brain_cases, tmp_path_factory) -> Path:
    """A tiny inpainting package; TCGA-DU-7294's tumour teaches add."""
    return built_once(
        tmp_path_factory,
        "tiny-inpaint",
        lambda root: _tiny_brain_package("inpaint", brain_cases, root / "tiny-inpaint", "--validation-case", "BraTS-GLI-00001-000"),
    )


def gated_variants(model, prior_only: list[str]):
    """(the package answering every key with its network, the same with ``refiner.prior_only``, the package without a
    network). The network is a copy nudged off zero: a tiny package may have kept step 0, whose correction is zero."""
    import copy
    import dataclasses

    import torch

    network = copy.deepcopy(model.networks["refiner"])
    with torch.no_grad():
        for parameter in network.parameters():
            parameter.add_(0.01)
    networks = {**model.networks, "refiner": network}
    ungated, gated = (
        dataclasses.replace(model, networks=networks, config={**model.config, "refiner": {**model.config["refiner"], "prior_only": keys}})
        for keys in ([], prior_only)
    )
    return ungated, gated, model.without("refiner")
