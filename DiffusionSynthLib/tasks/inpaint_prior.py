"""Inpainting with a prior package: a classical prior, regression network, residual diffusion, inside a box.

prepare: the sequences and the region in the model's axis order and spacing; each sequence
z-scored by the mean and SD of its known brain voxels (outside the region, so a voided or
tumorous region does not bias it). Everything after runs in a box around the region.
prior: ``remove`` the harmonic fill of each sequence inside the region, from the known brain around
it (the brain is the fill's domain); ``add``, in packages that hold a glioma appearance
(``prior.glioma``), the fill moved towards each sub-region's fitted intensity, the sub-regions
from ``labels``, else a real tumour's layout from the package's lesion bank (``prior.lesions``, the
seed picks), else (older packages) laid out in distance layers; packages without a glioma appearance
the fill.
estimate: the prior plus the network's correction for the mode (add mode with a lesion bank: plus the
texture of real gliomas drawn by the seed, after the network, whose posterior mean would smooth it away; remove mode: plus
a share of the other hemisphere's tissue, ``priors.contralateral``, also after the network: its own share when samples
are drawn, which serve realism, and each sequence's sample its share of the diffusion residual);
``strength`` s interpolates the two modes' estimates: remove + s (add - remove) in add mode, and the other way round. With
``samples`` K >= 1, K residual samples from the latent diffusion are added inside the region.
finish: back to each input's own intensities (the inverse of its z-score), onto the input grid,
blended over the margin; beyond it every voxel is the input's, bit for bit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ..engine.refiner import flag_channels, refine
from ..geometry import bounding_box, from_canonical, package_orientation, resample, resample_to_spacing, to_canonical
from ..masks import BLEND_MARGIN_VOXELS, blend_weights, composite
from ..models.package import ModelPackage
from ..priors.contralateral import MIN_MIDLINE_CORRELATION, RING_VOXELS, SHIFT_VOXELS, contralateral_detail, find_midline, mirror_shift
from ..priors.glioma import from_brats2013, glioma_prior, layout_subregions
from ..priors.harmonic import harmonic_fill
from ..priors.lesion_bank import lesion_texture, nearest_label, place_layout
from ..sequences import SEQUENCES
from .inpaint_request import Inpainting, InpaintRequest
from .residual import Estimate, network_weight, refiner_window, with_residual_samples
from .run import TaskRun

CONTEXT_VOXELS = 24  # around the region, at the model's spacing
# each residual sample smoothed by this Gaussian (voxels at the model's spacing) against the autoencoder's 4-voxel
# grid: chosen on the two BraTS 2018 validation cases (a scratch check with inpaint_test.py's removal protocol, not
# committed: the samples' grid peak 0.8-3.1 -> 0.8-1.1, as real tissue's 0.7-1.1; texture lower by 0.01-0.08 of real;
# SSIM as before); the other tasks' samples are not measured with it and keep their raw residual
SAMPLE_ANTI_ALIAS_VOXELS = 0.7
# the share of the contralateral detail (``priors.contralateral``) added to the removal's estimate, per sequence:
# chosen on the two BraTS 2018 validation cases (benchmarks/inpaint_contralateral.py, code 6c5eadf): the deterministic
# estimate's (samples 0: fidelity, the best SSIM) and the samples' (realism: with the most of the diffusion residual
# at which some share gives texture 0.7-1.4 of real at an SSIM within 0.03 of the harmonic fill's, the least such
# share); the samples' share of the diffusion residual chosen with it (FLAIR: its whole residual costs 0.08-0.11 SSIM
# at every share, half of it stays within the margin)
CONTRALATERAL_SHARE = {"t1n": 0.5, "t1c": 0.25, "t2w": 0.75, "t2f": 0.5}
SAMPLE_CONTRALATERAL_SHARE = {"t1n": 0.75, "t1c": 0.75, "t2w": 0.75, "t2f": 0.75}
SAMPLE_RESIDUAL_SHARE = {"t1n": 1.0, "t1c": 1.0, "t2w": 1.0, "t2f": 0.5}


def harmonic_fills(images: Mapping[str, np.ndarray], given: Sequence[str], region: np.ndarray, brain: np.ndarray) -> np.ndarray:
    """(4, ...) each given sequence filled harmonically inside ``region`` from the known brain around it (zeros for the
    others). The brain is the fill's domain: the background beyond it is no boundary value (in z units it would pull
    the fill towards the brain's mean where a region reaches the brain's edge)."""
    fills = np.zeros((len(SEQUENCES),) + region.shape, np.float32)
    channels = [SEQUENCES.index(name) for name in SEQUENCES if name in given]
    if channels:  # one factorisation for all the given sequences
        voided = np.stack([np.where(region, 0.0, images[SEQUENCES[channel]]) for channel in channels]).astype(np.float32)
        fills[channels] = harmonic_fill(voided, region, brain)
    return fills


def inpaint_inputs(images: Mapping[str, np.ndarray], given: Sequence[str], region: np.ndarray, add: float, prior: np.ndarray) -> tuple[np.ndarray, list[float]]:
    """(network input (14, ...): images blanked in the region, the region, flags (given sequences, add), the prior (4, ...); flags)."""
    shape = region.shape
    flags = [1.0 if name in given else 0.0 for name in SEQUENCES] + [float(add)]
    observed = np.stack([np.where(region, 0.0, images[name]) if name in given else np.zeros(shape) for name in SEQUENCES]).astype(np.float32)
    net_input = np.concatenate([observed, region[None].astype(np.float32), flag_channels(flags, shape), prior])
    return net_input.astype(np.float32), flags


def zscore_statistics(values: np.ndarray) -> tuple[float, float, float]:
    """(mean, SD, median in z units) of the known brain voxels of one sequence: its z-score, and the glioma prior's healthy
    reference (median, SD 1) in the z units, over the whole known brain as in training."""
    mean, sd = float(values.mean()), float(max(values.std(), 1e-6))
    return mean, sd, (float(np.median(values)) - mean) / sd


def mode_prior(
    fill: np.ndarray,
    add: bool,
    glioma: Mapping | None,
    placed: np.ndarray | None,
    healthy: Mapping[str, tuple[float, float]],
    spacing: Sequence[float],
) -> np.ndarray:
    """The prior of one mode: the fill, or in add mode with a glioma appearance the glioma on the sub-regions ``placed``."""
    if not add or glioma is None or placed is None:
        return fill
    return glioma_prior(fill, placed, healthy, glioma, SEQUENCES, spacing)


def placed_subregions(region: np.ndarray, labels: np.ndarray | None, prior: Mapping, spacing: Sequence[float], rng: np.random.Generator) -> np.ndarray | None:
    """The added tumour's sub-regions in ``region``: ``labels`` where given; else a real layout from the package's lesion
    bank (the seed picks), or, in a package without one, distance layers with the fitted shares; None without a glioma
    appearance."""
    glioma = prior.get("glioma")
    if glioma is None:
        return None
    if labels is not None:
        return np.where(region, labels, 0).astype(np.uint8)
    if "lesions" in prior:
        return place_layout(region, prior["lesions"], rng)
    return layout_subregions(region, spacing, glioma)


def _mode_estimate(model: ModelPackage, net_input: np.ndarray, prior: np.ndarray, run: TaskRun, mode: str) -> np.ndarray:
    """The prior plus the network's correction, per sequence, times the weight the validation cases chose for this mode
    and sequence (``network_weight``): the prior alone where the network did not beat it (``refiner.prior_only``:
    ``"remove t2f"``, or the whole mode ``"remove"``), and in a package without a network."""
    weights = np.array([network_weight(model, mode) * network_weight(model, f"{mode} {name}") for name in SEQUENCES], np.float32)
    if not weights.any():
        return prior
    correction = refine(model.networks["refiner"], net_input, refiner_window(model), run.device)
    return (prior + correction * weights[:, None, None, None]).astype(np.float32)


def removal_detail(
    small: Mapping[str, np.ndarray],
    stats: Mapping[str, tuple[float, float, float]],
    region: np.ndarray,
    brain: np.ndarray,
    fill: np.ndarray,
    box: tuple[slice, ...],
    shares: Mapping[str, float],
) -> np.ndarray:
    """(4, box) the contralateral detail of each given sequence times its share in ``shares``, in z units; zeros where
    the brain's mirror image does not correlate with it (``MIN_MIDLINE_CORRELATION``). The midline is found on the
    whole brain; the rest runs in the slab of the region's box across the two axes the mirror does not move (widened by
    the local shift's search and ring: ``priors.contralateral.mirror_shift``, on all the given sequences)."""
    detail = np.zeros(fill.shape, np.float32)
    names = list(small)

    def zscored(name: str, part: tuple[slice, ...]) -> np.ndarray:
        mean, sd, _ = stats[name]
        return np.where(brain[part], (small[name][part] - mean) / sd, 0.0).astype(np.float32)

    whole = tuple(slice(None) for _ in region.shape)
    twice, correlation = find_midline(zscored(names[0], whole), brain & ~region)
    if correlation < MIN_MIDLINE_CORRELATION:
        return detail
    slab = (slice(0, region.shape[0]),) + bounding_box(region, 1 + SHIFT_VOXELS + RING_VOXELS)[1:]
    stacked = np.stack([zscored(name, slab) for name in names])
    channels = [SEQUENCES.index(name) for name in names]
    inside = np.nonzero(region[box])  # the region's voxels, in the box and in the slab
    in_slab = tuple(index + outer.start - part.start for index, outer, part in zip(inside, box, slab))
    harmonics = stacked.copy()
    harmonics[(slice(None),) + in_slab] = fill[channels][(slice(None),) + inside]
    shift = mirror_shift(stacked, region[slab], brain[slab] & ~region[slab], twice)
    details = contralateral_detail(stacked, region[slab], brain[slab], harmonics, twice, shift)
    for index, (name, channel) in enumerate(zip(names, channels)):
        detail[channel][inside] = shares.get(name, 0.0) * details[index][in_slab]
    return detail


def inpaint_with_prior(request: InpaintRequest) -> Inpainting:
    """Prior + the network's correction for the mode (+ residual samples), composited onto the inputs."""
    volumes, given, model, brain, inside = request.volumes, request.given, request.model, request.brain, request.inside
    mode, seed, strength = request.mode, request.seed, request.strength
    reference = volumes[given[0]]
    run = request.task_run()
    order = package_orientation(model.config)
    spacing = [float(s) for s in model.config["spacing_mm"]]
    oriented = {name: to_canonical(volume, order) for name, volume in volumes.items()}
    frame = oriented[given[0]]
    small = {name: resample_to_spacing(volume, spacing) for name, volume in oriented.items()}
    grid = small[given[0]]

    def onto_grid(array: np.ndarray, interpolation: str = "linear") -> np.ndarray:
        volume = to_canonical(reference.with_array(array.astype(np.float32)), order)
        return resample(volume, grid.shape, grid.ijk_to_ras, interpolation).array

    region = onto_grid(inside) > 1e-3  # every model voxel the mask touches (as in training: not dilated further)
    brain_small = (onto_grid(brain) > 0.5) | region
    known = brain_small & ~region
    stats = {name: zscore_statistics(small[name].array[known].astype(np.float64)) for name in given}
    box = bounding_box(region, CONTEXT_VOXELS)
    images = {name: np.where(brain_small[box], (small[name].array[box] - stats[name][0]) / stats[name][1], 0.0).astype(np.float32) for name in given}
    fill = harmonic_fills(images, given, region[box], brain_small[box])
    prior_config = model.config["prior"]
    glioma = prior_config.get("glioma")
    labels = None if request.labels is None else np.rint(onto_grid(request.labels, "nearest")[box]).astype(np.uint8)
    healthy = {name: (stats[name][2], 1.0) for name in given}
    rng = np.random.default_rng(seed)
    placed = placed_subregions(region[box], labels, prior_config, spacing, rng) if mode == "add" or strength != 1.0 else None
    texture = None
    if placed is not None and "lesions" in prior_config:
        texture = lesion_texture(placed, prior_config["lesions"], glioma["contrast"], SEQUENCES, rng)

    def estimate_for(add: bool) -> tuple[np.ndarray, list[float]]:
        prior = mode_prior(fill, add, glioma, placed, healthy, spacing)
        net_input, flags = inpaint_inputs(images, given, region[box], float(add), prior)
        estimate = _mode_estimate(model, net_input, prior, run, "add" if add else "remove")
        if add and texture is not None:  # after the network: a posterior mean would smooth it away
            estimate = (estimate + texture).astype(np.float32)
        if not add:  # the other hemisphere's tissue, after the network (trained on the harmonic prior)
            shares = CONTRALATERAL_SHARE if run.samples == 0 else SAMPLE_CONTRALATERAL_SHARE
            detail = removal_detail({n: small[n].array for n in given}, stats, region, brain_small, fill, box, shares)
            estimate = (estimate + detail).astype(np.float32)
        return estimate, flags

    run.prepared()
    estimate, flags = estimate_for(mode == "add")
    if strength != 1.0:
        other, _ = estimate_for(mode != "add")
        estimate = (other + strength * (estimate - other)).astype(np.float32)
    residual_shares = [SAMPLE_RESIDUAL_SHARE[name] for name in SEQUENCES] if mode == "remove" else None
    sampled = with_residual_samples(model, estimate, flags, run, region[box][None].astype(np.float32), SAMPLE_ANTI_ALIAS_VOXELS, residual_shares)
    inside_box = region[box][None]
    observed = np.stack([images.get(name, np.zeros(region[box].shape, np.float32)) for name in SEQUENCES])
    # outside the region the input itself: the network is trained inside the region only, so its correction outside
    # it is unconstrained, and the blend over the margin would carry it in
    sampled = Estimate(np.where(inside_box, sampled.mean, observed), None if sampled.std is None else sampled.std * inside_box)

    weights = blend_weights(inside, BLEND_MARGIN_VOXELS) * (brain | inside)  # the background stays background
    result = Inpainting(outputs={}, reference=given[0], steps=run.steps, seed=seed, mask_voxels=int(inside.sum()), samples=run.samples)

    def back(values_box: np.ndarray, base: np.ndarray, interpolation: str = "linear") -> np.ndarray:
        values = base.astype(np.float32, copy=True)
        values[box] = values_box
        full = resample(grid.with_array(values), frame.shape, frame.ijk_to_ras, interpolation).array
        return from_canonical(frame.with_array(full), reference).array

    if placed is not None and mode == "add" and request.labels is None:
        drawn = np.rint(back(placed.astype(np.float32), np.zeros(grid.shape, np.float32), "nearest")).astype(np.uint8)
        # a mask voxel whose nearest model voxel lies just outside the region takes the nearest drawn label
        drawn = np.where(inside > 0, nearest_label(drawn * (inside > 0)), 0).astype(np.uint8)
        result.labels = reference.with_array(from_brats2013(drawn, request.labels_convention))
    for name in given:
        channel = SEQUENCES.index(name)
        mean, sd, _ = stats[name]
        generated = back(mean + sd * sampled.mean[channel], small[name].array)
        result.outputs[name] = reference.with_array(composite(volumes[name].array, generated, weights))
        if sampled.std is not None:
            std = back(sd * sampled.std[channel], np.zeros(grid.shape, np.float32))
            result.std[name] = reference.with_array((std * weights).astype(np.float32))
    run.done()
    return result
