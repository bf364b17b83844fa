"""Inpainting on real cases: voxel-exact outside the mask, both modes, subsets, seeds, bad masks."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import ndimage

from DiffusionSynthLib.cli import main
from DiffusionSynthLib.errors import InputError
from DiffusionSynthLib.masks import BLEND_MARGIN_VOXELS, blend_weights, composite
from DiffusionSynthLib.models import load_model
from DiffusionSynthLib.sequences import SEQUENCES
from DiffusionSynthLib.tasks import inpaint_prior
from DiffusionSynthLib.tasks.inpaint import inpaint
from DiffusionSynthLib.volume import Volume, read_provenance, read_volume, write_volume

from conftest import gated_variants, rotation

CASE = "TCGA-DU-7294"


def case_volumes(brain_cases: Path, case: str = CASE) -> dict[str, Volume]:
    return {name: read_volume(brain_cases / case / f"{name}.nii.gz") for name in SEQUENCES}


def blob_mask(reference: Volume, centre: tuple[int, int, int], radius: float = 4.0) -> Volume:
    grid = np.indices(reference.shape)
    distance = np.sqrt(sum((grid[i] - centre[i]) ** 2 for i in range(3)))
    return reference.with_array((distance <= radius).astype(np.uint8))


def brain_centre(volume: Volume) -> tuple[int, int, int]:
    return tuple(int(c) for c in np.round(np.argwhere(volume.array != 0).mean(axis=0)))


# ------------------------------------------------------------------------------ engine pieces


def test_blend_weights_reach_zero_beyond_the_margin_and_composite_keeps_dtype():
    inside = np.zeros((20, 20, 20), bool)
    inside[8:12, 8:12, 8:12] = True
    weights = blend_weights(inside)
    assert np.all(weights[inside] == 1.0)
    assert weights[12 + BLEND_MARGIN_VOXELS, 10, 10] == 0.0 and weights[12, 10, 10] > 0
    original = np.arange(8000, dtype=np.int16).reshape(20, 20, 20)
    out = composite(original, np.full(original.shape, 1e9, np.float32), weights)
    assert out.dtype == np.int16 and out[inside].max() == np.iinfo(np.int16).max
    assert np.array_equal(out[weights == 0], original[weights == 0])


# ------------------------------------------------------------------------------ the task on real cases


@pytest.mark.parametrize("mode", ["remove", "add"])
def test_outside_the_margin_every_voxel_is_the_input(brain_cases, tiny_inpaint_model, mode):
    volumes = case_volumes(brain_cases)
    volumes["t1c"] = volumes["t1c"].with_array(np.rint(volumes["t1c"].array).astype(np.int16))  # an integer input keeps its type
    mask = read_volume(brain_cases / CASE / "tumour_seg_predicted.nii.gz")
    before = {name: v.array.copy() for name, v in volumes.items()}
    result = inpaint(volumes, mask, mode, load_model(tiny_inpaint_model), steps=2, seed=0)
    inside = mask.array != 0
    outside = blend_weights(inside) == 0
    for name in SEQUENCES:
        out = result.outputs[name]
        assert out.same_grid(volumes[name]) and out.array.dtype == volumes[name].array.dtype
        assert np.array_equal(out.array[outside], volumes[name].array[outside])
        assert not np.array_equal(out.array[inside], volumes[name].array[inside])
        assert np.array_equal(volumes[name].array, before[name])  # inputs untouched


@pytest.mark.parametrize("given", [("t1c",), ("t2w", "t2f"), ("t1n", "t1c", "t2w")])
def test_any_subset_of_sequences_is_inpainted_and_only_those(brain_cases, tiny_inpaint_model, given):
    volumes = case_volumes(brain_cases)
    mask = blob_mask(volumes["t1n"], brain_centre(volumes["t1n"]))
    result = inpaint({name: volumes[name] for name in given}, mask, "remove", load_model(tiny_inpaint_model), steps=2)
    assert sorted(result.outputs) == sorted(given) and result.reference == given[0]


def test_same_seed_same_result_other_seed_differs_and_strength_matters(brain_cases, tiny_inpaint_model):
    """Seeds fix the diffusion samples; strength interpolates the add and remove estimates (their network corrections are
    made to differ here: the tiny package may ship its prior, whose correction is zero in both modes)."""

    volumes = case_volumes(brain_cases)
    mask = blob_mask(volumes["t1n"], brain_centre(volumes["t1n"]), 5)
    model = load_model(tiny_inpaint_model)
    with torch.no_grad():
        model.networks["refiner"].final_conv.weight.add_(0.05)
    runs = [
        inpaint(volumes, mask, "add", model, steps=2, seed=s, samples=1, strength=g).outputs["t2f"].array for s, g in ((3, 1.0), (3, 1.0), (4, 1.0), (3, 2.5))
    ]
    assert np.array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])
    assert not np.array_equal(runs[0], runs[3])


def test_samples_give_a_std_map_zero_outside_the_blend(brain_cases, tiny_inpaint_model):
    volumes = case_volumes(brain_cases)
    mask = blob_mask(volumes["t1n"], brain_centre(volumes["t1n"]))
    result = inpaint({"t1c": volumes["t1c"]}, mask, "add", load_model(tiny_inpaint_model), steps=2, samples=2)
    std = result.std["t1c"].array
    assert std[blend_weights(mask.array != 0) == 0].max() == 0 and std[mask.array != 0].max() > 0


def test_oblique_grid_is_kept(brain_cases, tiny_inpaint_model):
    volumes = case_volumes(brain_cases)
    matrix = volumes["t1n"].ijk_to_ras.copy()
    matrix[:3, :3] = rotation(2, 17) @ rotation(0, -11) @ matrix[:3, :3]
    oblique = {name: Volume(v.array, matrix) for name, v in volumes.items()}
    mask = blob_mask(oblique["t1n"], brain_centre(oblique["t1n"]))
    result = inpaint(oblique, mask, "remove", load_model(tiny_inpaint_model), steps=1)
    assert all(np.array_equal(out.ijk_to_ras, matrix) for out in result.outputs.values())


def test_sequences_on_different_grids_are_refused(brain_cases, tiny_inpaint_model):
    volumes = case_volumes(brain_cases)
    shifted = volumes["t2w"].ijk_to_ras.copy()
    shifted[0, 3] += 1.5
    volumes["t2w"] = Volume(volumes["t2w"].array, shifted)
    with pytest.raises(InputError, match="not on the grid"):
        inpaint(volumes, blob_mask(volumes["t1n"], brain_centre(volumes["t1n"])), "remove", load_model(tiny_inpaint_model), steps=1)


def test_the_default_is_the_deterministic_estimate_and_voided_inputs_are_accepted(brain_cases, tiny_inpaint_model):
    """The BraTS inpainting challenge hands images out voided (zero) inside the region: they are inpainted, not refused."""
    volumes = case_volumes(brain_cases)
    mask = blob_mask(volumes["t1n"], brain_centre(volumes["t1n"]), 5)
    inside = mask.array != 0
    voided = {name: v.with_array(np.where(inside, 0, v.array).astype(v.array.dtype)) for name, v in volumes.items()}
    model = load_model(tiny_inpaint_model)
    first = inpaint(voided, mask, "remove", model, seed=1)
    second = inpaint(voided, mask, "remove", model, seed=2)
    assert first.samples == 0 and first.steps == 0
    for name, out in first.outputs.items():
        np.testing.assert_array_equal(out.array, second.outputs[name].array)  # no sampling: the seed plays no part
        assert np.abs(out.array[inside]).min() > 0  # the voided region is filled
        assert np.array_equal(out.array[blend_weights(inside) == 0], voided[name].array[blend_weights(inside) == 0])


def test_a_mode_whose_network_lost_to_the_prior_is_answered_by_the_prior(brain_cases, tiny_inpaint_model):
    """``refiner.prior_only: ["remove"]`` (training found the network below the prior there): remove gives the prior
    alone, add still the network's correction."""
    volumes = case_volumes(brain_cases)
    mask = blob_mask(volumes["t1n"], brain_centre(volumes["t1n"]), 5)
    model, gated, prior_alone = gated_variants(load_model(tiny_inpaint_model), ["remove"])
    for mode, answered_by in (("remove", prior_alone), ("add", model)):
        other = prior_alone if answered_by is model else model
        expected, got, differs = (inpaint(volumes, mask, mode, package).outputs["t1n"].array for package in (answered_by, gated, other))
        np.testing.assert_array_equal(got, expected)
        assert not np.array_equal(got, differs)


def test_a_sequence_whose_network_lost_to_the_prior_is_answered_by_the_prior(brain_cases, tiny_inpaint_model):
    """``refiner.prior_only: ["remove t2f"]``: the removal's FLAIR is the prior alone, its T1c still the network's."""
    volumes = case_volumes(brain_cases)
    mask = blob_mask(volumes["t1n"], brain_centre(volumes["t1n"]), 5)
    model, gated, prior_alone = gated_variants(load_model(tiny_inpaint_model), ["remove t2f"])
    got, network, prior = (inpaint(volumes, mask, "remove", package).outputs for package in (gated, model, prior_alone))
    np.testing.assert_array_equal(got["t2f"].array, prior["t2f"].array)
    np.testing.assert_array_equal(got["t1c"].array, network["t1c"].array)
    assert not np.array_equal(got["t1c"].array, prior["t1c"].array)


def test_a_shrunken_correction_is_that_share_of_the_network_s_correction(brain_cases, tiny_inpaint_model):
    """``refiner.weights: {"remove t2f": 0.5}`` (validation found half the correction best): the FLAIR is halfway
    between the prior's and the network's, the T1c the network's whole correction."""
    volumes = case_volumes(brain_cases)
    mask = blob_mask(volumes["t1n"], brain_centre(volumes["t1n"]), 5)
    model, _, prior_alone = gated_variants(load_model(tiny_inpaint_model), [])
    halved = dataclasses.replace(model, config={**model.config, "refiner": {**model.config["refiner"], "weights": {"remove t2f": 0.5}}})
    got, network, prior = (inpaint(volumes, mask, "remove", package).outputs for package in (halved, model, prior_alone))
    flair, whole, none = (np.asarray(o["t2f"].array, np.float64) for o in (got, network, prior))
    assert np.abs(whole - none).max() > 1.0  # the correction is visible
    np.testing.assert_allclose(flair, (whole + none) / 2, atol=1.0)  # integer images round each output
    np.testing.assert_array_equal(got["t1c"].array, network["t1c"].array)


def test_samples_take_their_own_contralateral_share(brain_cases, tiny_inpaint_model, monkeypatch):
    """The deterministic removal adds ``CONTRALATERAL_SHARE`` of the other hemisphere's tissue, a sample
    ``SAMPLE_CONTRALATERAL_SHARE`` (realism): each ignores the other's."""
    volumes = case_volumes(brain_cases)
    centre = brain_centre(volumes["t1n"])
    mask = blob_mask(volumes["t1n"], (centre[0] + 15,) + centre[1:], 5)  # off the midline: its mirror is known brain
    model = load_model(tiny_inpaint_model)

    def removal(deterministic: float, sampled: float, samples: int) -> np.ndarray:
        monkeypatch.setattr(inpaint_prior, "CONTRALATERAL_SHARE", dict.fromkeys(SEQUENCES, deterministic))
        monkeypatch.setattr(inpaint_prior, "SAMPLE_CONTRALATERAL_SHARE", dict.fromkeys(SEQUENCES, sampled))
        return inpaint(volumes, mask, "remove", model, steps=2, seed=3, samples=samples).outputs["t1n"].array

    np.testing.assert_array_equal(removal(0.0, 1.0, 0), removal(0.0, 0.0, 0))
    np.testing.assert_array_equal(removal(1.0, 0.0, 1), removal(0.0, 0.0, 1))
    assert not np.array_equal(removal(0.0, 1.0, 1), removal(0.0, 0.0, 1))


def test_a_sequence_whose_residual_share_is_zero_keeps_the_estimate_in_a_sample(brain_cases, tiny_inpaint_model, monkeypatch):
    """``SAMPLE_RESIDUAL_SHARE``: a removal sample's FLAIR with none of the diffusion residual is the deterministic
    estimate (at the same contralateral share), while its T1 still takes the residual."""
    volumes = case_volumes(brain_cases)
    mask = blob_mask(volumes["t1n"], brain_centre(volumes["t1n"]), 5)
    model = load_model(tiny_inpaint_model)
    monkeypatch.setattr(inpaint_prior, "SAMPLE_CONTRALATERAL_SHARE", dict(inpaint_prior.CONTRALATERAL_SHARE))
    monkeypatch.setattr(inpaint_prior, "SAMPLE_RESIDUAL_SHARE", {**dict.fromkeys(SEQUENCES, 1.0), "t2f": 0.0})
    sampled, estimate = (inpaint(volumes, mask, "remove", model, steps=2, seed=3, samples=k).outputs for k in (1, 0))
    np.testing.assert_array_equal(sampled["t2f"].array, estimate["t2f"].array)
    assert not np.array_equal(sampled["t1n"].array, estimate["t1n"].array)


# ------------------------------------------------------------------------------ command line


def run_cli(brain_cases, model, output, mask_path, *extra) -> int:
    files = [a for name in ("t1c", "t2f") for a in (f"--{name}", str(brain_cases / CASE / f"{name}.nii.gz"))]
    return main(["inpaint", *files, "--mask", str(mask_path), "--output-dir", str(output), "--model", str(model), "--steps", "2", "--progress", "none", *extra])


def test_cli_writes_each_given_sequence_marked_synthetic(brain_cases, tiny_inpaint_model, tmp_path):
    mask_path = brain_cases / CASE / "tumour_seg_predicted.nii.gz"
    before = (brain_cases / CASE / "t1c.nii.gz").read_bytes()
    assert run_cli(brain_cases, tiny_inpaint_model, tmp_path / "out", mask_path, "--mode", "remove", "--samples", "2") == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["t1c.nii.gz", "t1c_std.nii.gz", "t2f.nii.gz", "t2f_std.nii.gz"]
    record = read_provenance(tmp_path / "out" / "t1c.nii.gz")
    assert record["synthetic"] and record["task"] == "inpaint" and record["mode"] == "remove"
    assert (brain_cases / CASE / "t1c.nii.gz").read_bytes() == before


def bad_masks(brain_cases: Path, folder: Path) -> dict[str, tuple[Path, str]]:
    reference = read_volume(brain_cases / CASE / "t1c.nii.gz")
    brain = reference.array != 0
    other = Volume(np.zeros((10, 10, 10), np.uint8), np.eye(4))
    other.array[2:5, 2:5, 2:5] = 1
    cases = {
        "empty": (reference.with_array(np.zeros(reference.shape, np.uint8)), "empty"),
        "all-brain": (reference.with_array(brain.astype(np.uint8)), "covers"),
        "another grid": (other, "another grid"),
        "outside the brain": (
            reference.with_array((~brain).astype(np.uint8) * np.pad(np.ones((4, 4, 4), np.uint8), [(0, s - 4) for s in reference.shape])),
            "outside the brain",
        ),
    }
    paths = {}
    for name, (volume, message) in cases.items():
        paths[name] = (write_volume(volume, folder / f"{name.replace(' ', '_')}.nii.gz"), message)
    not_image = folder / "notes.nii.gz"
    not_image.write_text("this is not an image")
    paths["not an image"] = (not_image, "mask")
    return paths


def test_bad_masks_give_one_clear_error_and_no_output(brain_cases, tiny_inpaint_model, tmp_path, capsys):
    for name, (path, message) in bad_masks(brain_cases, tmp_path).items():
        output = tmp_path / f"out-{name.replace(' ', '_')}"
        assert run_cli(brain_cases, tiny_inpaint_model, output, path, "--mode", "add") == 2, name
        error = capsys.readouterr().err.strip().splitlines()[-1]
        assert error.startswith("error: ") and message in error, (name, error)
        assert not output.exists() or not any(output.iterdir()), name


def test_a_package_without_a_prior_is_refused_as_an_older_format(brain_cases, tiny_inpaint_model):
    """The from-noise path of older packages is gone: such a package gets one ModelError naming the retraining."""
    import dataclasses

    from DiffusionSynthLib.errors import ModelError
    from DiffusionSynthLib.models import load_model

    model = load_model(tiny_inpaint_model, "inpaint")
    older = dataclasses.replace(model, config={k: v for k, v in model.config.items() if k != "prior"})
    volumes = case_volumes(brain_cases)
    mask = volumes["t1c"].with_array((np.indices(volumes["t1c"].shape)[0] == 40).astype(np.uint8))
    with pytest.raises(ModelError, match="has no prior \\(an older package format\\); retrain it"):
        inpaint(volumes, mask, "remove", older)


def test_bad_mode_and_strength_are_refused(brain_cases, tiny_inpaint_model, tmp_path, capsys):
    mask_path = brain_cases / CASE / "tumour_seg_predicted.nii.gz"
    with pytest.raises(SystemExit) as exit_info:
        run_cli(brain_cases, tiny_inpaint_model, tmp_path / "out", mask_path, "--mode", "grow")
    assert exit_info.value.code == 2
    assert run_cli(brain_cases, tiny_inpaint_model, tmp_path / "out", mask_path, "--mode", "add", "--strength", "7") == 2
    assert "--strength must be between 0 and 3" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_scan_with_noise_around_the_head_takes_the_head_as_the_brain(brain_cases):
    """A raw scan (not skull-stripped: noise in the background) is not all brain: the head's foreground is."""
    from DiffusionSynthLib.tasks.inpaint import inpainting_brain

    t1c = read_volume(brain_cases / CASE / "t1c.nii.gz")
    stripped = t1c.array != 0
    noise = np.random.default_rng(0).uniform(1.0, 0.02 * float(t1c.array.max()), t1c.shape).astype(np.float32)
    raw = t1c.with_array(np.where(stripped, t1c.array, noise).astype(np.float32))
    mask = blob_mask(t1c, brain_centre(t1c))
    assert np.array_equal(inpainting_brain({"t1c": t1c}, ["t1c"], mask), ndimage.binary_fill_holes(stripped))
    brain = inpainting_brain({"t1c": raw}, ["t1c"], mask)
    assert (brain & stripped).sum() > 0.95 * stripped.sum() and (brain & ~stripped).sum() < 0.05 * stripped.sum()


def test_a_z_scored_case_keeps_all_its_brain(shared_data, tiny_inpaint_model):
    """BraTS 2013 cases are stored z-scored: negative values, and a background that is one constant (-4.76), not 0. The
    brain is what differs from that constant (the head mask of such an image kept only its bright part, and a mask in
    healthy tissue was refused as outside the brain)."""
    from DiffusionSynthLib.tasks.inpaint import inpainting_brain

    folder = shared_data / "brats2013_flair_t1c" / "brats_2013_pat0001"
    volumes = {name: read_volume(folder / f"{name}.nii.gz") for name in ("t1c", "t2f")}
    expert = read_volume(folder / "brain_mask.nii.gz").array > 0
    labels = read_volume(folder / "tumour_labels.nii.gz").array > 0
    healthy = ndimage.binary_erosion(expert, iterations=10) & ~ndimage.binary_dilation(labels, iterations=10)
    centre = tuple(int(c) for c in np.argwhere(healthy)[len(np.argwhere(healthy)) // 2])
    mask = blob_mask(volumes["t1c"], centre, 5.0)
    brain = inpainting_brain(volumes, ["t1c", "t2f"], mask)
    assert 2 * (brain & expert).sum() / (brain.sum() + expert.sum()) > 0.95  # the case's own brain mask
    outputs = inpaint(volumes, mask, "remove", load_model(tiny_inpaint_model), samples=0).outputs
    changed = outputs["t2f"].array != volumes["t2f"].array
    assert changed[mask.array > 0].mean() > 0.9 and not changed[blend_weights(mask.array > 0) == 0].any()


def test_residual_samples_lose_the_latent_grid_s_blocks_and_keep_coarser_texture():
    """The anti-aliasing of inpainting's residual samples: 4-voxel blocks (the decoder's grid) lose most of their power
    at a quarter and half a cycle per voxel; a 16-voxel wave keeps its amplitude."""
    from DiffusionSynthLib.tasks.inpaint_prior import SAMPLE_ANTI_ALIAS_VOXELS
    from DiffusionSynthLib.tasks.residual import without_grid_aliasing

    rng = np.random.default_rng(0)
    tile = rng.standard_normal((4, 4, 4))  # what a latent voxel decodes to, scaled by its value
    blocks = np.kron(1.0 + 0.5 * rng.standard_normal((8, 8, 8)), tile - tile.mean())
    wave = np.sin(2 * np.pi * np.arange(32) / 16)[:, None, None] * np.ones((32, 32, 32))
    residual = (blocks + wave)[None, None].astype(np.float32)
    smoothed = without_grid_aliasing(residual, SAMPLE_ANTI_ALIAS_VOXELS)

    def power(values: np.ndarray, cycles_per_voxel: float) -> float:
        spectrum = np.abs(np.fft.rfft(values[0, 0], axis=0)) ** 2  # the wave has no power there
        return float(spectrum[int(cycles_per_voxel * 32)].mean())

    for frequency in (0.25, 0.5):
        assert power(smoothed, frequency) < 0.4 * power(residual, frequency)
    kept = np.abs(np.fft.rfft(smoothed[0, 0], axis=0))[2].mean() / np.abs(np.fft.rfft(residual[0, 0], axis=0))[2].mean()
    assert kept > 0.85
    assert without_grid_aliasing(residual, 0.0) is residual
