"""``diffusionsynth prepare-case``: a real oblique DICOM patient (ReMIND-022: T1c, T2, DICOM-SEG) becomes a training case."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.metrics import normalized_mutual_information

from DiffusionSynthLib.atlas import COLIN27, COLIN27_BRAIN
from DiffusionSynthLib.cli import main
from DiffusionSynthLib.geometry import resample_like
from DiffusionSynthLib.train.brain_cases import load_case
from DiffusionSynthLib.volume import Volume, read_volume, write_volume

from conftest import DATA

REMIND = DATA / "remind_022"


@pytest.fixture(scope="module")
def remind_case(tmp_path_factory):
    if not (REMIND / "t1c_dicom").is_dir():
        pytest.skip(f"ReMIND-022 not found at {REMIND} (set DIFFUSIONSYNTH_DATA)")
    if not (COLIN27.is_file() and COLIN27_BRAIN.is_file()):
        pytest.skip("Colin27 not installed (Debian's mricron-data): the atlas brain mask needs it")
    output = tmp_path_factory.mktemp("cases") / "remind_022"
    args = ["prepare-case", "--t1c", str(REMIND / "t1c_dicom"), "--t2w", str(REMIND / "t2w_dicom"), "--tumour", str(REMIND / "tumour_seg.dcm")]
    assert main([*args, "--output", str(output)]) == 0
    return output


def test_a_dicom_patient_becomes_a_skull_stripped_case_on_the_oblique_t1c_grid(remind_case):
    assert sorted(p.name for p in remind_case.iterdir()) == ["brain_mask.nii.gz", "t1c.nii.gz", "t2w.nii.gz", "tumour_mask.nii.gz"]
    t1c, t2w = read_volume(remind_case / "t1c.nii.gz"), read_volume(remind_case / "t2w.nii.gz")
    assert t1c.same_grid(read_volume(REMIND / "t1c_dicom")) and t2w.same_grid(t1c)
    brain = read_volume(remind_case / "brain_mask.nii.gz").array > 0
    assert 900 < brain.sum() * np.prod(t1c.spacing) / 1000 < 1900  # ml: an adult brain, from the registered atlas
    assert not t1c.array[~brain].any() and not t2w.array[~brain].any()
    tumour = read_volume(remind_case / "tumour_mask.nii.gz").array > 0
    segmented = resample_like(read_volume(REMIND / "tumour_seg.dcm", "mask"), t1c, "nearest").array > 0
    assert tumour.sum() == segmented.sum() > 500 and not (tumour & ~brain).any()  # the whole (small) tumour, inside the brain
    # the T2 is registered to the T1c: their joint histogram in the brain is sharper than with the T2 moved by 4 voxels
    registered = normalized_mutual_information(t1c.array[brain], t2w.array[brain], bins=64)
    moved = normalized_mutual_information(t1c.array[brain], np.roll(t2w.array, 4, axis=0)[brain], bins=64)
    assert registered > moved


def test_the_training_loader_reads_the_case_with_its_whole_tumour_and_no_sub_regions(remind_case):
    case = load_case(remind_case, [2.0, 2.0, 2.0])
    assert sorted(case.images) == ["t1c", "t2w"] and case.tumour is not None
    assert set(np.unique(case.tumour)) == {0, 1} and case.tumour_convention is None
    assert abs(float(case.images["t1c"][case.brain].mean())) < 0.05  # z-scored inside the brain


def test_preparing_a_case_refuses_no_sequence_and_a_tumour_outside_the_brain_and_writes_nothing(tmp_path, capsys):
    assert main(["prepare-case", "--output", str(tmp_path / "none")]) == 2
    assert "at least one sequence" in capsys.readouterr().err
    matrix = np.diag([2.0, 2.0, 2.0, 1.0])
    image = np.random.default_rng(0).normal(100, 10, (24, 24, 24)).astype(np.float32)
    brain = np.zeros(image.shape, np.uint8)
    brain[6:18, 6:18, 6:18] = 1
    tumour = np.zeros(image.shape, np.uint8)
    tumour[:3, :3, :3] = 1
    paths = {}
    for name, array in (("t1c", image), ("brain", brain), ("tumour", tumour)):
        paths[name] = str(write_volume(Volume(array, matrix), tmp_path / f"{name}.nii.gz"))
    output = tmp_path / "case"
    assert main(["prepare-case", "--t1c", paths["t1c"], "--brain-mask", paths["brain"], "--tumour", paths["tumour"], "--output", str(output)]) == 2
    assert "outside the brain mask" in capsys.readouterr().err and not output.exists()
    assert main(["prepare-case", "--t1c", paths["t1c"], "--brain-mask", paths["brain"], "--output", str(output)]) == 0
    assert sorted(p.name for p in output.iterdir()) == ["brain_mask.nii.gz", "t1c.nii.gz"]
