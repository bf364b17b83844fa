"""Tumour inpainting: remove a lesion to healthy tissue, or add one inside a drawn mask.

prepare: every given sequence and the mask on one grid (that of the first given, order t1n, t1c,
t2w, t2f); each sequence scaled by its brain percentiles; the model's condition is the images
with the mask blanked, the mask itself, and flags (which sequences are present, add or remove).
sample: mask-conditioned latent diffusion; with all four sequences the known latent is put back
outside the mask after every step (RePaint-style); ``strength`` is classifier-free guidance on
the add/remove flag (1 the trained mode, larger more pronounced, 0 the opposite mode).
finish: the decoded intensities harmonised with the input's by an affine fit over the known brain
voxels (per sample and sequence), back onto the input grid, blended over ``BLEND_MARGIN_VOXELS`` outside the mask; beyond
that every voxel is the input's, bit for bit, in the input's data type.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from ..engine.latent import Guidance, KnownRegion
from ..engine.progress import CancelCheck, ProgressCallback, never_cancel, no_progress
from ..errors import InputError
from ..geometry import resample, resample_to_spacing
from ..intensity import brain_mask, fit_affine, head_mask_mr, percentile_range
from ..masks import BLEND_MARGIN_VOXELS, blend_weights, composite, inside_mask
from ..models.package import ModelPackage
from ..priors.glioma import LABEL_MAPS, to_brats2013
from ..sequences import SEQUENCES
from ..sequences import given_sequences as sequence_names
from ..volume import Volume
from .checks import require_content
from .run import TaskRun

MODES = ("remove", "add")
MAX_STRENGTH = 3.0
UNIT_CEILING = 1.5  # decoded values above the 99.5th percentile are kept (enhancement), up to this


@dataclass
class Inpainting:
    outputs: dict[str, Volume]  # each given sequence, on the reference grid, in its input dtype
    std: dict[str, Volume] = field(default_factory=dict)  # when samples > 1 (zero where nothing changed)
    reference: str = ""
    steps: int = 0
    seed: int = 0
    mask_voxels: int = 0
    samples: int = 0


@dataclass
class InpaintRequest:
    """One checked inpainting call: the given sequences on one grid, the brain and the region to fill (``inside``) on it."""

    volumes: dict[str, Volume]
    given: list[str]
    mode: str
    model: ModelPackage
    steps: int | None
    seed: int
    samples: int | None
    strength: float
    device: str
    progress: ProgressCallback
    cancel: CancelCheck
    brain: np.ndarray
    inside: np.ndarray
    labels: np.ndarray | None = None  # sub-regions of an added tumour, BraTS 2013 labels on the grid (add mode only)

    def task_run(self) -> TaskRun:
        return TaskRun(self.model, "inpaint", self.steps, self.seed, self.samples, self.device, self.progress, self.cancel)


def given_sequences(inputs: dict) -> list[str]:
    """The given sequence names in canonical order; at least one."""
    return sequence_names(inputs, "image to inpaint")


def check_options(mode: str, strength: float) -> None:
    if mode not in MODES:
        raise InputError(f"--mode must be 'remove' or 'add', not '{mode}'.")
    if not (np.isfinite(strength) and 0.0 <= strength <= MAX_STRENGTH):
        raise InputError(f"--strength must be between 0 and {MAX_STRENGTH:g} (1 is the default), not {strength}.")


def checked_labels(labels: Volume | None, convention: str, mode: str, model: ModelPackage, reference: Volume) -> np.ndarray | None:
    """The sub-region labels in the BraTS 2013 convention on the reference grid, or None; one ``InputError`` for a misuse."""
    if labels is None:
        return None
    if mode != "add":
        raise InputError("--labels places the sub-regions of an added tumour: use it with --mode add.")
    if "glioma" not in model.config.get("prior", {}):
        raise InputError(
            f"The model '{model.id}' has no glioma appearance model, so it cannot place sub-regions from --labels; use a package trained since it learned one (the built-in inpaint-brats-demo) or leave --labels out."
        )
    if convention not in LABEL_MAPS:
        raise InputError(f"--labels-convention must be one of {', '.join(LABEL_MAPS)}, not '{convention}'.")
    if not labels.same_grid(reference):
        raise InputError(
            f"The --labels map ({labels.describe_grid()}) is not on the images' grid ({reference.describe_grid()}); resample them onto it (nearest neighbour)."
        )
    values = np.asarray(labels.array)
    found = sorted({int(v) for v in np.unique(values)})
    allowed = {0, *LABEL_MAPS[convention]}
    if not np.all(np.isin(values, list(allowed))):
        raise InputError(
            f"The --labels map holds {found}; the {convention} convention has only {sorted(allowed)} (1 necrosis, 2 oedema, ...). Give --labels-convention to match the file."
        )
    return to_brats2013(np.rint(values).astype(np.int16), convention)


def _to_unit(array: np.ndarray, low: float, high: float, brain: np.ndarray) -> np.ndarray:
    scaled = (array.astype(np.float32) - low) / max(high - low, 1e-6)
    return np.where(brain, np.clip(scaled, 0.0, 1.0), 0.0).astype(np.float32)


RAW_SCAN_RATIO = 1.3  # non-zero voxels over the head's foreground: about 1 for a skull-stripped brain, 1.8 for a raw scan
VOIDED_SHARE = 0.95  # of the mask's voxels zero in every given sequence: the images were voided there
VOIDED_SHELL_SHARE = 0.5  # of the voxels just outside a voided mask that must be brain


def inpainting_brain(volumes: Mapping[str, Volume], given: Sequence[str], mask: Volume) -> np.ndarray:
    """The brain: voxels off the background in any sequence (within the head's foreground when the background is not one
    constant: a scan that is not skull-stripped; never for normalised images, whose negative values the head mask would
    cut), holes filled; plus the mask where the images were voided to zero inside it (as the BraTS inpainting challenge
    hands them out) and the mask sits in the brain (most voxels just outside it are brain)."""
    nonzero = brain_mask([volumes[name].array for name in given])
    normalised = any(float(np.min(volumes[name].array)) < 0 for name in given)  # z-scored (BraTS 2013): its foreground is the brain
    if not normalised:
        head = head_mask_mr(volumes[given[0]])
        if nonzero.sum() > RAW_SCAN_RATIO * head.sum():  # not skull-stripped, noise around the head: the head, not the field of view
            nonzero &= head
    brain = ndimage.binary_fill_holes(nonzero)
    if not mask.same_grid(volumes[given[0]]):
        return brain  # refused with its own error by the mask check
    region = np.asarray(mask.array) != 0
    if region.any() and (~nonzero[region]).mean() >= VOIDED_SHARE:
        shell = ndimage.binary_dilation(region) & ~region
        if shell.any() and nonzero[shell].mean() >= VOIDED_SHELL_SHARE:
            brain |= region
    return brain


def inpaint(
    inputs: Mapping[str, Volume | None],
    mask: Volume,
    mode: str,
    model: ModelPackage,
    steps: int | None = None,
    seed: int = 0,
    samples: int | None = None,
    strength: float = 1.0,
    device: str = "auto",
    progress: ProgressCallback = no_progress,
    cancel: CancelCheck = never_cancel,
    labels: Volume | None = None,
    labels_convention: str = "brats2013",
) -> Inpainting:
    """Inpaint every given sequence consistently inside ``mask`` (inputs are not modified).

    ``labels``: optional sub-regions of the added tumour (add mode, packages with a glioma appearance); mask voxels
    labelled 0 are filled with healthy tissue, labels outside the mask are ignored."""
    check_options(mode, strength)
    given = given_sequences(inputs)
    volumes = {name: inputs[name] for name in given}
    reference = volumes[given[0]]
    for name, volume in volumes.items():
        require_content(volume, f"{name} image")
        if not volume.same_grid(reference):
            raise InputError(
                f"The {name} image ({volume.describe_grid()}) is not on the grid of the {given[0]} image "
                f"({reference.describe_grid()}); inpainting keeps every voxel outside the mask, so give all sequences on one grid."
            )
    sub_regions = checked_labels(labels, labels_convention, mode, model, reference)
    brain = inpainting_brain(volumes, given, mask)
    inside = inside_mask(mask, reference, brain)
    request = InpaintRequest(volumes, given, mode, model, steps, seed, samples, strength, device, progress, cancel, brain, inside, sub_regions)
    if "prior" in model.config:
        from .inpaint_prior import inpaint_with_prior

        return inpaint_with_prior(request)
    return _inpaint_latent(request)


def _inpaint_latent(request: InpaintRequest) -> Inpainting:
    """The older packages' path: mask-conditioned latent diffusion from noise, RePaint-style."""
    inputs, given, model, brain, inside = request.volumes, request.given, request.model, request.brain, request.inside
    mode, seed, strength = request.mode, request.seed, request.strength
    reference = inputs[given[0]]
    run = request.task_run()

    ranges = {name: percentile_range(inputs[name].array, brain) for name in given}
    spacing = model.config["spacing_mm"]
    small = {name: resample_to_spacing(inputs[name], spacing) for name in given}
    grid = small[given[0]]
    brain_small = brain_mask([volume.array for volume in small.values()])
    free = resample(reference.with_array(inside.astype(np.float32)), grid.shape, grid.ijk_to_ras).array > 1e-3
    image = np.zeros((len(SEQUENCES), *grid.shape), np.float32)
    for name in given:
        image[SEQUENCES.index(name)] = _to_unit(small[name].array, *ranges[name], brain_small)
    condition = np.concatenate([image * ~free, free[None].astype(np.float32)])
    presence = [1.0 if name in given else 0.0 for name in SEQUENCES]
    add = 1.0 if mode == "add" else 0.0
    guidance = Guidance(presence + [1.0 - add], strength) if strength != 1.0 else None
    known = KnownRegion(image, free) if len(given) == len(SEQUENCES) else None  # the latent mixes all four
    run.prepared()

    units = run.sample(condition, presence + [add], known=known, guidance=guidance)

    weights = blend_weights(inside, BLEND_MARGIN_VOXELS) * (brain | inside)  # the background stays background
    result = Inpainting(outputs={}, reference=given[0], steps=run.steps, seed=seed, mask_voxels=int(inside.sum()), samples=run.samples)
    known_voxels = brain_small & ~free
    for name in given:
        low, high = ranges[name]
        channel = SEQUENCES.index(name)
        # intensity harmonisation: each sample's decoded values are mapped onto the input's by the
        # affine fit over the known brain voxels, which removes the autoencoder's intensity bias
        fits = [fit_affine(sample, image[channel], known_voxels) for sample in units[:, channel]]
        unit = np.stack([a * sample + b for (a, b), sample in zip(fits, units[:, channel])])
        values = low + np.clip(unit, 0.0, UNIT_CEILING) * (high - low)
        mean = resample(grid.with_array(values.mean(axis=0)), reference.shape, reference.ijk_to_ras).array
        result.outputs[name] = reference.with_array(composite(inputs[name].array, mean, weights))
        if run.samples > 1:
            std = resample(grid.with_array(values.std(axis=0)), reference.shape, reference.ijk_to_ras).array
            result.std[name] = reference.with_array((std * weights).astype(np.float32))
    run.done()
    return result
