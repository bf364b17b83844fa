"""Inpainting with a prior package: harmonic fill, regression network, residual diffusion, inside a box.

prepare: the sequences and the region in the model's axis order and spacing; each sequence
z-scored by the mean and SD of its known brain voxels (outside the region, so a voided or
tumorous region does not bias it). Everything after runs in a box around the region.
estimate: the harmonic fill of each sequence inside the region (the prior), plus the network's
correction for the mode (``strength`` s mixes the two modes' corrections: alt + s (main - alt));
with ``samples`` K >= 1, K residual samples from the latent diffusion are added inside the region.
finish: back to each input's own intensities (the inverse of its z-score), onto the input grid,
blended over the margin; beyond it every voxel is the input's, bit for bit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from scipy import ndimage

from ..engine.refiner import flag_channels, refine
from ..geometry import from_canonical, package_orientation, resample, resample_to_spacing, to_canonical
from ..masks import BLEND_MARGIN_VOXELS, blend_weights, composite
from ..models.package import ModelPackage
from ..priors.harmonic import harmonic_fill
from ..sequences import SEQUENCES
from .inpaint import Inpainting, InpaintRequest
from .residual import Estimate, refiner_window, with_residual_samples
from .run import TaskRun

CONTEXT_VOXELS = 24  # around the region, at the model's spacing


def inpaint_inputs(images: Mapping[str, np.ndarray], given: Sequence[str], region: np.ndarray, add: float) -> tuple[np.ndarray, np.ndarray, list[float]]:
    """(network input (14, ...): images blanked in the region, the region, flags, the harmonic fill; the fill (4, ...); flags)."""
    shape = region.shape
    flags = [1.0 if name in given else 0.0 for name in SEQUENCES] + [float(add)]
    observed = np.stack([np.where(region, 0.0, images[name]) if name in given else np.zeros(shape) for name in SEQUENCES]).astype(np.float32)
    fill = np.stack([harmonic_fill(observed[i], region) if name in given else np.zeros(shape, np.float32) for i, name in enumerate(SEQUENCES)])
    net_input = np.concatenate([observed, region[None].astype(np.float32), flag_channels(flags, shape), fill])
    return net_input.astype(np.float32), fill.astype(np.float32), flags


def region_box(region: np.ndarray, margin: int) -> tuple[slice, ...]:
    (box,) = ndimage.find_objects(region.astype(np.uint8))
    return tuple(slice(max(s.start - margin, 0), min(s.stop + margin, n)) for s, n in zip(box, region.shape))


def _network_estimate(model: ModelPackage, net_input: np.ndarray, fill: np.ndarray, strength: float, run: TaskRun) -> np.ndarray:
    if "refiner" not in model.networks:
        return fill
    network, window = model.networks["refiner"], refiner_window(model)
    main = refine(network, net_input, window, run.device)
    if strength != 1.0:
        alt_input = net_input.copy()
        alt_input[len(SEQUENCES) + 1 + len(SEQUENCES)] = 1.0 - alt_input[len(SEQUENCES) + 1 + len(SEQUENCES)]  # the add/remove flag
        alt = refine(network, alt_input, window, run.device)
        main = alt + strength * (main - alt)
    return (fill + main).astype(np.float32)


def inpaint_with_prior(request: InpaintRequest) -> Inpainting:
    """Prior (harmonic fill) + the network's correction for the mode (+ residual samples), composited onto the inputs."""
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

    def onto_grid(array: np.ndarray) -> np.ndarray:
        volume = to_canonical(reference.with_array(array.astype(np.float32)), order)
        return resample(volume, grid.shape, grid.ijk_to_ras).array

    region = ndimage.binary_dilation(onto_grid(inside) > 1e-3)
    brain_small = (onto_grid(brain) > 0.5) | region
    known = brain_small & ~region
    stats = {}
    for name in given:
        values = small[name].array[known].astype(np.float64)
        stats[name] = (float(values.mean()), float(max(values.std(), 1e-6)))
    box = region_box(region, CONTEXT_VOXELS)
    images = {name: np.where(brain_small[box], (small[name].array[box] - stats[name][0]) / stats[name][1], 0.0).astype(np.float32) for name in given}
    net_input, fill, flags = inpaint_inputs(images, given, region[box], 1.0 if mode == "add" else 0.0)
    run.prepared()

    estimate = _network_estimate(model, net_input, fill, strength, run)
    sampled = with_residual_samples(model, estimate, flags, run, region[box][None].astype(np.float32))
    inside_box = region[box][None]
    sampled = Estimate(np.where(inside_box, sampled.mean, estimate), None if sampled.std is None else sampled.std * inside_box)

    weights = blend_weights(inside, BLEND_MARGIN_VOXELS) * (brain | inside)  # the background stays background
    result = Inpainting(outputs={}, reference=given[0], steps=run.steps, seed=seed, mask_voxels=int(inside.sum()), samples=run.samples)

    def back(values_box: np.ndarray, base: np.ndarray) -> np.ndarray:
        values = base.astype(np.float32, copy=True)
        values[box] = values_box
        full = resample(grid.with_array(values), frame.shape, frame.ijk_to_ras).array
        return from_canonical(frame.with_array(full), reference).array

    for name in given:
        channel = SEQUENCES.index(name)
        mean, sd = stats[name]
        generated = back(mean + sd * sampled.mean[channel], small[name].array)
        result.outputs[name] = reference.with_array(composite(volumes[name].array, generated, weights))
        if sampled.std is not None:
            std = back(sd * sampled.std[channel], np.zeros(grid.shape, np.float32))
            result.std[name] = reference.with_array((std * weights).astype(np.float32))
    run.done()
    return result
