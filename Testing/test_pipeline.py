"""The researchers' API: Pipeline.from_package(...) then pipe(...) on Volumes, with the command line's options."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from DiffusionSynthLib import Pipeline
from DiffusionSynthLib.cli import main
from DiffusionSynthLib.errors import InputError, ModelError
from DiffusionSynthLib.tasks.impute import impute
from DiffusionSynthLib.volume import read_volume

from conftest import SEQUENCE_NAMES

CASE = "BraTS-GLI-00001-000"


@pytest.fixture(scope="module")
def volumes(brain_cases):
    return {name: read_volume(brain_cases / CASE / f"{name}.nii.gz") for name in SEQUENCE_NAMES}


def test_a_package_folder_loads_once_and_runs_its_task(tiny_impute_model, volumes):
    pipe = Pipeline.from_package(tiny_impute_model, device="cpu")
    assert pipe.task == "impute"
    inputs = {"t1n": volumes["t1n"], "t2w": volumes["t2w"]}
    first, second = pipe(inputs), pipe(inputs, samples=2, steps=1, seed=3)
    direct = impute(inputs, pipe.model)
    assert set(first.outputs) == {"t1c", "t2f"} and all(v.same_grid(volumes["t1n"]) for v in first.outputs.values())
    np.testing.assert_array_equal(first.outputs["t2f"].array, direct.outputs["t2f"].array)
    assert set(second.std) == {"t1c", "t2f"} and second.samples == 2


def test_inpaint_takes_the_mask_and_mode(tiny_inpaint_model, volumes):
    pipe = Pipeline.from_package(tiny_inpaint_model)
    region = np.zeros(volumes["t1n"].shape, np.uint8)
    i, j, k = (int(c) for c in np.argwhere(volumes["t1n"].array != 0).mean(axis=0))
    region[i - 2 : i + 3, j - 2 : j + 3, k - 2 : k + 3] = 1
    mask = volumes["t1n"].with_array(region)
    result = pipe({"t1c": volumes["t1c"], "mask": mask}, mode="add", strength=1.5)
    assert set(result.outputs) == {"t1c"} and result.mask_voxels == 125
    with pytest.raises(InputError, match="needs the input 'mask'"):
        pipe({"t1c": volumes["t1c"]}, mode="add")
    with pytest.raises(InputError, match="Unknown option"):
        pipe({"t1c": volumes["t1c"], "mask": mask}, mode="add", days=[3])


def test_the_default_built_in_model_of_a_task_and_clear_errors():
    assert Pipeline.from_package(task="impute").model.id == "impute-brats-demo"
    with pytest.raises(InputError, match="Give a model"):
        Pipeline.from_package()
    with pytest.raises(ModelError, match="Built-in models"):
        Pipeline.from_package("no-such-model")
    with pytest.raises(InputError, match="Unknown device"):
        Pipeline.from_package(task="impute", device="tpu")


def test_importing_the_library_stays_cheap():
    """``import DiffusionSynthLib`` loads no torch; ``from DiffusionSynthLib import Pipeline`` works all the same."""
    code = "import sys, DiffusionSynthLib; assert 'torch' not in sys.modules; from DiffusionSynthLib import Pipeline; print(Pipeline.__name__)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "Pipeline"


def test_training_resumes_from_a_committed_package_without_its_checkpoints(tiny_impute_model, brain_cases, tmp_path, capsys):
    """A fresh checkout has the package but not the checkpoints beside it: --resume continues from the package's weights and record."""
    package = tmp_path / "pkg"
    shutil.copytree(tiny_impute_model, package)
    before = json.loads((package / "model.json").read_text())["training"]["refiner"]
    argv = ["train", "--task", "impute", "--data", str(brain_cases), "--output", str(package), "--preset", "tiny", "--max-steps", "3",
            "--patch", "32", "32", "16", "--batch", "1", "--spacing", "4", "--resume"]  # fmt: skip
    assert main(argv) == 0
    assert "resuming from the package" in capsys.readouterr().err
    after = json.loads((package / "model.json").read_text())["training"]["refiner"]
    assert before["steps"] == 2 and after["steps"] == 3  # one more step, not three from scratch
    assert after["history"][: len(before["history"])] == before["history"]
    rescored = after["history"][len(before["history"]) : len(before["history"]) + 2]  # the prior and the best so far, scored again
    assert [entry["note"] for entry in rescored] == ["resumed: the prior", f"resumed: the best weights so far (step {before['best_step']})"]
    assert rescored[0]["validation"] == pytest.approx(before["history"][0]["validation"], rel=1e-5)  # same prior, same case: same score


def test_restart_diffusion_keeps_the_network_and_retrains_the_diffusion_afresh(tiny_impute_model, brain_cases, tmp_path, capsys):
    """--resume --restart-diffusion: the network continues (2 steps before, 3 after), the autoencoder and UNet start from
    step 0 (3 steps each; a plain resume leaves the finished autoencoder at its 2); without --resume it is refused."""
    package = tmp_path / "pkg"
    shutil.copytree(tiny_impute_model, package)
    argv = ["train", "--task", "impute", "--data", str(brain_cases), "--output", str(package), "--preset", "tiny", "--max-steps", "3",
            "--patch", "32", "32", "16", "--batch", "1", "--spacing", "4", "--restart-diffusion"]  # fmt: skip
    assert main(argv) == 2
    assert "use it with --resume" in capsys.readouterr().err
    assert main([*argv, "--resume"]) == 0
    training = json.loads((package / "model.json").read_text())["training"]
    assert training["refiner"]["steps"] == 3
    assert training["diffusion"]["steps"] == {"autoencoder": 3, "unet": 3}


def test_one_typed_pipeline_per_task_and_files_written_from_the_api_are_marked_synthetic(
    tiny_impute_model, tiny_inpaint_model, tiny_model, small_mri, volumes, tmp_path, capsys
):
    """``Pipeline.from_package`` gives the package's task class; a task class refuses another task's package; every
    result and output Volume carries the provenance record, so ``write_volume`` without a record marks the file and
    ``diffusionsynth provenance`` reads it (it called such files unmarked before)."""
    from DiffusionSynthLib import ImputePipeline, InpaintPipeline, MriToCtPipeline
    from DiffusionSynthLib.volume import read_provenance, write_volume

    pipe = Pipeline.from_package(tiny_impute_model)
    assert type(pipe) is ImputePipeline and type(Pipeline.from_package(tiny_inpaint_model)) is InpaintPipeline
    with pytest.raises(ModelError, match="is for the task 'inpaint', not 'impute'"):
        ImputePipeline.from_package(tiny_inpaint_model)
    result = pipe({"t1n": volumes["t1n"], "t2w": volumes["t2w"]})
    assert result.provenance["synthetic"] is True and result.provenance["task"] == "impute" and result.provenance["samples"] == 0
    path = write_volume(result.outputs["t2f"], tmp_path / "t2f.nii.gz")
    assert read_provenance(path)["model_id"] == "tiny-impute"
    assert main(["provenance", str(path)]) == 0 and '"synthetic": true' in capsys.readouterr().out
    assert volumes["t1n"].provenance is None and read_provenance(write_volume(volumes["t1n"], tmp_path / "real.nii.gz")) is None  # inputs stay unmarked
    ct = MriToCtPipeline.from_package(tiny_model)(read_volume(small_mri))
    assert ct.ct.provenance["task"] == "mri-to-ct" and read_provenance(write_volume(ct.ct, tmp_path / "ct.nii.gz"))["synthetic"] is True
