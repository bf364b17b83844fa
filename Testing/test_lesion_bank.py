"""Lesions from real gliomas: the lesion bank's layouts and texture, the drawn labels written, ``--dilate``."""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from test_inpaint_glioma import case, sphere  # noqa: F401 - the module fixtures, shared

from DiffusionSynthLib.cli import main
from DiffusionSynthLib.models import load_model
from DiffusionSynthLib.priors.glioma import LabelledCase
from DiffusionSynthLib.priors.lesion_bank import LAYOUT_SIZE, TEXTURE_GAIN, decode_layout, fit_lesion_bank, lesion_texture, place_layout
from DiffusionSynthLib.sequences import SEQUENCES
from DiffusionSynthLib.tasks.inpaint import inpaint
from DiffusionSynthLib.texture import high_pass_rms, radial_r2
from DiffusionSynthLib.volume import Volume, read_provenance, read_volume, write_volume


def ball(shape: tuple[int, int, int], centre: tuple[float, float, float], radii: tuple[float, float, float]) -> np.ndarray:
    grid = np.indices(shape, dtype=np.float32)
    return sum(((grid[i] - centre[i]) / radii[i]) ** 2 for i in range(3)) <= 1.0


def labelled_case(name: str, rng: np.random.Generator, offset: float) -> LabelledCase:
    """A brain with an off-centre tumour: oedema around an enhancing shell around necrosis, noisy images."""
    shape = (64, 64, 48)
    brain = ball(shape, (32, 32, 24), (30, 30, 22))
    oedema = ball(shape, (32 + offset, 30, 24), (16, 12, 10))
    shell = ball(shape, (34 + offset, 30, 24), (9, 8, 7))
    core = ball(shape, (35 + offset, 30, 24), (5, 4, 4))
    labels = np.zeros(shape, np.uint8)
    labels[oedema] = 2
    labels[shell] = 4
    labels[core] = 1
    labels *= brain
    images = {}
    for index, name_ in enumerate(SEQUENCES):
        image = 100.0 + 10.0 * rng.standard_normal(shape) + 30.0 * (labels == 2) + (40.0 + 10 * index) * (labels == 4) - 20.0 * (labels == 1)
        images[name_] = np.where(brain, image, 0.0).astype(np.float32)
    return LabelledCase(name, images, brain, labels)


def test_radial_r2_tells_rings_from_texture():
    region = ball((40, 40, 40), (20, 20, 20), (15, 15, 15))
    depth = ndimage.distance_transform_edt(region)
    rings = np.where(region, np.floor(depth / 3) % 2, 0.0).astype(np.float32)
    noise = np.random.default_rng(0).standard_normal(region.shape).astype(np.float32)
    assert radial_r2(rings, region, [1.0, 1.0, 1.0]) > 0.95
    assert radial_r2(noise, region, [1.0, 1.0, 1.0]) < 0.05


def test_the_bank_keeps_layouts_and_texture_and_places_them_in_any_mask():
    rng = np.random.default_rng(1)
    bank = fit_lesion_bank([labelled_case("a", rng, -6.0), labelled_case("b", rng, 6.0)])
    assert len(bank["layouts"]) == 2 and bank["layout_cases"] == ["a", "b"]
    layout = decode_layout(bank["layouts"][0])
    assert layout.shape == (LAYOUT_SIZE,) * 3 and set(np.unique(layout)) == {0, 1, 2, 4}  # geometry only: labels, no intensities
    assert bank["texture"]["2"]["t1n"]["fine"] > 0.1  # the noise inside the oedema, in healthy SDs

    mask = ball((50, 40, 30), (25, 20, 15), (14, 9, 6))  # another size and shape
    placed = [place_layout(mask, bank, np.random.default_rng(seed)) for seed in range(6)]
    for labels in placed:
        assert np.array_equal(labels > 0, mask)  # every mask voxel labelled, nothing outside
        assert {1, 2, 4} <= set(np.unique(labels[mask]))  # the real layout's sub-regions, stretched into the mask
        edge = mask & ~ndimage.binary_erosion(mask)
        assert (labels[edge] == 2).mean() > 0.95  # warped edge to edge: the oedema wraps the core, which the mask never cuts open
    assert len({labels.tobytes() for labels in placed}) > 1  # the seed picks among layouts and mirrorings

    contrast = {"1": {name: -1.0 for name in SEQUENCES}, "2": {name: 1.0 for name in SEQUENCES}, "4": {name: 2.0 for name in SEQUENCES}}
    texture = lesion_texture(placed[0], bank, contrast, SEQUENCES, np.random.default_rng(0))
    assert texture.shape == (4, *mask.shape) and not texture[:, ~mask].any()
    oedema = placed[0] == 2
    fine = high_pass_rms(texture[0], mask, ndimage.binary_erosion(oedema))
    assert 0.5 < fine / (TEXTURE_GAIN * bank["texture"]["2"]["t1n"]["fine"]) < 2.0  # the fitted amplitude (times the gain), within the sub-region
    for label in (1, 2, 4):
        assert abs(float(texture[0][placed[0] == label].mean())) < 1e-4  # zero-mean: each sub-region keeps its fitted contrast


def test_add_draws_a_real_layout_writes_it_and_is_not_rings(brain_cases, sphere, tiny_inpaint_model, tmp_path, capsys):  # noqa: F811
    model = load_model(tiny_inpaint_model)
    assert "lesions" in model.config["prior"]  # the tiny package learned TCGA-DU-7294's layout
    inputs = {}
    for name in ("t1c", "t2f"):
        inputs[name] = tmp_path / f"{name}.nii.gz"
        inputs[name].write_bytes((brain_cases / "BraTS-GLI-00001-000" / f"{name}.nii.gz").read_bytes())
    mask = write_volume(sphere, tmp_path / "mask.nii.gz")
    out = tmp_path / "out"
    argv = ["inpaint", "--t1c", inputs["t1c"], "--t2f", inputs["t2f"], "--mask", mask, "--mode", "add", "--model", tiny_inpaint_model, "--seed", "3"]
    assert main([str(a) for a in [*argv, "--output-dir", out, "--labels-convention", "brats2023"]]) == 0
    assert "had no effect" not in capsys.readouterr().err  # the seed picked the layout
    labels = read_volume(out / "labels.nii.gz")
    region = sphere.array > 0
    assert labels.same_grid(sphere) and np.array_equal(labels.array > 0, region)
    assert set(np.unique(labels.array[region])) <= {1, 2, 3} and len(np.unique(labels.array[region])) > 1  # BraTS 2023 codes; a layout, not one class
    record = read_provenance(out / "labels.nii.gz")
    assert record["synthetic"] is True and "sub-region labels" in record["output"] and record["labels_convention"] == "brats2023"
    t1c = read_volume(out / "t1c.nii.gz").array.astype(np.float32)
    assert radial_r2(t1c, region, sphere.spacing) < 0.5  # not a target of concentric rings

    # given labels place the sub-regions: nothing drawn, nothing written beside the images
    given = write_volume(labels.with_array(np.where(region, 2, 0).astype(np.uint8)), tmp_path / "given.nii.gz")
    assert main([str(a) for a in [*argv, "--output-dir", tmp_path / "given", "--labels", given]]) == 0
    assert not (tmp_path / "given" / "labels.nii.gz").exists()


def test_dilate_grows_the_filled_region_and_nothing_beyond_its_margin_changes(case, sphere, tiny_inpaint_model, tmp_path, capsys):  # noqa: F811
    model = load_model(tiny_inpaint_model)
    plain = inpaint(case, sphere, "remove", model)
    grown = inpaint(case, sphere, "remove", model, dilate_mm=4.0)
    assert grown.mask_voxels > 1.3 * plain.mask_voxels
    reach = ndimage.distance_transform_edt(sphere.array == 0, sampling=sphere.spacing) > 4.0 + 3 * max(sphere.spacing) + 0.01
    for name in SEQUENCES:
        assert np.array_equal(grown.outputs[name].array[reach], case[name].array[reach])
    mask = write_volume(sphere, tmp_path / "mask.nii.gz")
    flair = write_volume(case["t2f"], tmp_path / "t2f.nii.gz")
    argv = ["inpaint", "--t2f", flair, "--mask", mask, "--mode", "remove", "--model", tiny_inpaint_model, "--output-dir", tmp_path / "out", "--dilate"]
    assert main([str(a) for a in [*argv, "25"]]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --dilate must be between 0 and 20 mm") and len(err.splitlines()) == 1 and not (tmp_path / "out").exists()


def test_a_volume_api_result_carries_the_drawn_labels(case, sphere, tiny_inpaint_model):  # noqa: F811
    from DiffusionSynthLib.pipelines import InpaintPipeline

    result = InpaintPipeline(load_model(tiny_inpaint_model))(case, sphere, mode="add", seed=0)
    assert isinstance(result.labels, Volume) and result.labels.provenance["synthetic"] is True
    assert result.provenance["task"] == "inpaint"
