"""``inpaint --mode add`` with a glioma appearance: a lesion that stands out, sub-regions from ``--labels``, their refusals."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from DiffusionSynthLib.cli import main
from DiffusionSynthLib.errors import InputError
from DiffusionSynthLib.models import load_model
from DiffusionSynthLib.sequences import SEQUENCES
from DiffusionSynthLib.tasks.inpaint import inpaint
from DiffusionSynthLib.volume import Volume, read_provenance, read_volume, write_volume

CASE = "BraTS-GLI-00001-000"  # the tiny package's validation case: its appearance was fitted on TCGA-DU-7294 alone


@pytest.fixture(scope="module")
def case(brain_cases) -> dict[str, Volume]:
    return {name: read_volume(brain_cases / CASE / f"{name}.nii.gz") for name in SEQUENCES}


@pytest.fixture(scope="module")
def sphere(case) -> Volume:
    """A 12 mm sphere in the deepest healthy brain, far from the case's tumour (its FLAIR's brightest part)."""
    reference = case["t2f"]
    brain = reference.array > 0
    bright = reference.array > np.percentile(reference.array[brain], 99)
    spacing = reference.spacing
    room = ndimage.distance_transform_edt(brain, sampling=spacing) * (ndimage.distance_transform_edt(~bright, sampling=spacing) > 30)
    centre = np.argwhere(room == room.max())[0]
    grid = np.indices(reference.shape)
    inside = sum(((grid[i] - centre[i]) * spacing[i]) ** 2 for i in range(3)) <= 12.0**2
    return reference.with_array((inside & brain).astype(np.uint8))


def contrast(image: np.ndarray, source: np.ndarray, region: np.ndarray) -> float:
    """Mean in the region minus the healthy brain's median, in the brain's SD (healthy: the source, 3 voxels away)."""
    brain = source > 0
    healthy = brain & ~ndimage.binary_dilation(region, iterations=3)
    return (float(image[region].mean()) - float(np.median(source[healthy]))) / float(source[healthy].std())


def test_an_added_lesion_is_bright_in_flair_and_strength_zero_is_healthy(case, sphere, tiny_inpaint_model):
    model = load_model(tiny_inpaint_model)
    assert "glioma" in model.config["prior"]
    region = sphere.array > 0
    lesion = inpaint(case, sphere, "add", model).outputs["t2f"].array
    healthy = inpaint(case, sphere, "add", model, strength=0.0).outputs["t2f"].array
    source = case["t2f"].array
    assert contrast(lesion, source, region) > 0.8  # real gliomas here: +0.8 to +2.6 healthy SDs
    assert abs(contrast(healthy, source, region) - contrast(source, source, region)) < 0.3  # healthy: the tissue it replaced, not a lesion
    only_two = inpaint({"t1c": case["t1c"], "t2f": case["t2f"]}, sphere, "add", model).outputs["t2f"].array
    assert contrast(only_two, source, region) > 0.8  # with T1c and FLAIR alone too


def test_labels_place_the_sub_regions(case, sphere, tiny_inpaint_model):
    """The tiny package learned necrosis (1) dark in T1c and oedema (2) near healthy: the labels decide which the sphere gets."""
    model = load_model(tiny_inpaint_model)
    region = sphere.array > 0
    t1c = {label: inpaint(case, sphere, "add", model, labels=sphere.with_array(sphere.array * label)).outputs["t1c"].array for label in (1, 2)}
    source = case["t1c"].array
    assert contrast(t1c[1], source, region) < contrast(t1c[2], source, region) - 0.5
    in_2023 = inpaint(case, sphere, "add", model, labels=sphere.with_array(sphere.array * 1), labels_convention="brats2023").outputs["t1c"].array
    np.testing.assert_array_equal(in_2023, t1c[1])  # label 1 is necrosis in both conventions


@pytest.fixture(scope="module")
def package_without_glioma(tiny_inpaint_model, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("no-glioma") / "tiny-inpaint-no-glioma"
    shutil.copytree(tiny_inpaint_model, folder)
    config = json.loads((folder / "model.json").read_text())
    config["id"] = folder.name
    del config["prior"]["glioma"]
    (folder / "model.json").write_text(json.dumps(config))
    return folder


def run_cli(brain_cases: Path, model: Path, output: Path, mask: Path, *extra: str) -> int:
    files = [a for name in ("t1c", "t2f") for a in (f"--{name}", str(brain_cases / CASE / f"{name}.nii.gz"))]
    return main(["inpaint", *files, "--mask", str(mask), "--output-dir", str(output), "--model", str(model), "--progress", "none", *extra])


def test_cli_labels_and_their_refusals(brain_cases, sphere, tiny_inpaint_model, package_without_glioma, tmp_path, capsys):
    mask = write_volume(sphere, tmp_path / "sphere.nii.gz")
    labels = write_volume(sphere.with_array(sphere.array * 2), tmp_path / "labels.nii.gz")
    assert run_cli(brain_cases, tiny_inpaint_model, tmp_path / "out", mask, "--mode", "add", "--labels", str(labels)) == 0
    record = read_provenance(tmp_path / "out" / "t2f.nii.gz")
    assert record["synthetic"] and record["labels"] == "labels.nii.gz" and record["labels_convention"] == "brats2013"

    other = Volume(np.ones((8, 8, 8), np.uint8), np.eye(4))
    bad = {
        "remove mode": (tiny_inpaint_model, labels, ["--mode", "remove"], "use it with --mode add"),
        "another grid": (tiny_inpaint_model, write_volume(other, tmp_path / "small.nii.gz"), ["--mode", "add"], "not on the images' grid"),
        "unknown label": (tiny_inpaint_model, write_volume(sphere.with_array(sphere.array * 7), tmp_path / "seven.nii.gz"), ["--mode", "add"], "holds [0, 7]"),
        "3 in brats2017": (
            tiny_inpaint_model,
            write_volume(sphere.with_array(sphere.array * 3), tmp_path / "three.nii.gz"),
            ["--mode", "add", "--labels-convention", "brats2017"],
            "the brats2017 convention has only",
        ),
        "no glioma model": (package_without_glioma, labels, ["--mode", "add"], "has no glioma appearance model"),
    }
    for name, (model, label_file, extra, message) in bad.items():
        output = tmp_path / f"bad-{name.replace(' ', '-')}"
        assert run_cli(brain_cases, model, output, mask, *extra, "--labels", str(label_file)) == 2, name
        error = capsys.readouterr().err.strip().splitlines()[-1]
        assert error.startswith("error: ") and message in error, (name, error)
        assert not output.exists() or not any(output.iterdir()), name
    assert run_cli(brain_cases, package_without_glioma, tmp_path / "old", mask, "--mode", "add") == 0  # an older package still adds its lesion


def test_a_labels_volume_in_the_api_needs_add_mode(case, sphere, tiny_inpaint_model):
    with pytest.raises(InputError, match="--mode add"):
        inpaint(case, sphere, "remove", load_model(tiny_inpaint_model), labels=sphere)
