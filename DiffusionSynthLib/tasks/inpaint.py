"""Tumour inpainting: remove a lesion to healthy tissue, or add one inside a drawn mask.

This module checks the call (sequences on one grid, the mask, the sub-region labels, the brain) and hands it to the
prior package's method (``inpaint_prior``: classical prior, regression network, residual diffusion); beyond the blend
margin (``BLEND_MARGIN_VOXELS``) outside the mask every voxel is the input's, bit for bit, in the input's data type.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from scipy import ndimage

from ..engine.progress import CancelCheck, ProgressCallback, never_cancel, no_progress
from ..errors import InputError, ModelError
from ..intensity import brain_mask, head_mask_mr
from ..masks import dilated_region, inside_mask
from ..models.package import ModelPackage
from ..priors.glioma import LABEL_MAPS, to_brats2013
from ..sequences import given_sequences as sequence_names
from ..volume import Volume
from .checks import require_content, require_not_ct
from .inpaint_prior import inpaint_with_prior
from .inpaint_request import Inpainting as Inpainting  # re-exported: the result type callers import from here
from .inpaint_request import InpaintRequest

MODES = ("remove", "add")
MAX_STRENGTH = 3.0


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
    dilate_mm: float = 0.0,
) -> Inpainting:
    """Inpaint every given sequence consistently inside ``mask`` (inputs are not modified).

    ``labels``: optional sub-regions of the added tumour (add mode, packages with a glioma appearance); mask voxels
    labelled 0 are filled with healthy tissue, labels outside the mask are ignored. ``dilate_mm``: the mask grown by
    this many millimetres (within the brain) before filling, for a segmentation tighter than the visible abnormality."""
    check_options(mode, strength)
    if model.task == "inpaint" and "prior" not in model.config:
        raise ModelError(f"The inpainting model '{model.id}' has no prior (an older package format); retrain it with 'diffusionsynth train --task inpaint'.")
    given = given_sequences(inputs)
    volumes = {name: inputs[name] for name in given}
    reference = volumes[given[0]]
    for name, volume in volumes.items():
        require_content(volume, f"{name} image")
        require_not_ct(volume, f"{name} image", "inpainting edits MR images")
        if not volume.same_grid(reference):
            raise InputError(
                f"The {name} image ({volume.describe_grid()}) is not on the grid of the {given[0]} image "
                f"({reference.describe_grid()}); inpainting keeps every voxel outside the mask, so give all sequences on one grid."
            )
    sub_regions = checked_labels(labels, labels_convention, mode, model, reference)
    brain = inpainting_brain(volumes, given, mask)
    inside = dilated_region(inside_mask(mask, reference, brain), reference.spacing, dilate_mm, brain)
    request = InpaintRequest(
        volumes, given, mode, model, steps, seed, samples, strength, device, progress, cancel, brain, inside, sub_regions, labels_convention
    )
    return inpaint_with_prior(request)
