"""Lesion masks for inpainting: checks with one clear error each, and the blend at the border."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from .errors import InputError
from .volume import Volume

BLEND_MARGIN_VOXELS = 3  # outside the mask, beyond this many voxels, every voxel is the input's
MAX_BRAIN_FRACTION = 0.5  # a mask over more of the brain than this leaves too little context


def checked_region(
    mask: Volume,
    reference: Volume,
    allowed: np.ndarray,
    max_fraction: float,
    what: str,
    place: str,
    reference_name: str,
    empty_hint: str,
    too_big_hint: str,
) -> np.ndarray:
    """A mask's non-zero voxels on ``reference``'s grid (bool), or one ``InputError`` saying what is wrong.

    Refused: another grid; no voxel set; less than half of it inside ``allowed`` (named ``place``);
    more of it inside ``allowed`` than ``max_fraction`` of ``allowed``.
    """
    if not mask.same_grid(reference):
        raise InputError(
            f"The {what} is on another grid ({mask.describe_grid()}) than the {reference_name} ({reference.describe_grid()}); "
            f"draw or resample it on the {reference_name}'s grid (in 3D Slicer: a segmentation exported with it as reference)."
        )
    inside = np.asarray(mask.array) != 0
    count = int(inside.sum())
    if count == 0:
        raise InputError(f"The {what} {empty_hint}")
    allowed_voxels = max(int(allowed.sum()), 1)
    within = int((inside & allowed).sum())
    if within < 0.5 * count:
        raise InputError(f"The {what} lies mostly outside the {place} ({within} of its {count} voxels inside); draw it inside the {place}.")
    if within > max_fraction * allowed_voxels:
        raise InputError(f"The {what} covers {100 * within / allowed_voxels:.0f}% of the {place}; {too_big_hint}")
    return inside


def inside_mask(mask: Volume, reference: Volume, brain: np.ndarray, what: str = "mask") -> np.ndarray:
    """The inpainting mask as a bool array on ``reference``'s grid, or one ``InputError``."""
    return checked_region(
        mask,
        reference,
        brain,
        MAX_BRAIN_FRACTION,
        what,
        "brain",
        "images",
        "is empty (no non-zero voxel); draw the region to inpaint.",
        f"inpainting needs surrounding tissue as context (at most {100 * MAX_BRAIN_FRACTION:.0f}%): draw a smaller region.",
    )


MAX_DILATE_MM = 20.0


def dilated_region(inside: np.ndarray, spacing: np.ndarray, millimetres: float, brain: np.ndarray) -> np.ndarray:
    """``inside`` grown by ``millimetres`` (Euclidean, in mm on the voxel grid's spacing) within the brain; one
    ``InputError`` for a distance out of range or a region that then covers too much of the brain."""
    if not (np.isfinite(millimetres) and 0.0 <= millimetres <= MAX_DILATE_MM):
        raise InputError(f"--dilate must be between 0 and {MAX_DILATE_MM:g} mm, not {millimetres}.")
    if millimetres == 0:
        return inside
    grown = (ndimage.distance_transform_edt(~inside, sampling=[float(s) for s in spacing]) <= millimetres) & (brain | inside)
    if grown.sum() > MAX_BRAIN_FRACTION * brain.sum():
        raise InputError(
            f"The mask grown by --dilate {millimetres:g} mm covers {100 * grown.sum() / max(brain.sum(), 1):.0f}% of the brain; inpainting needs "
            f"surrounding tissue as context (at most {100 * MAX_BRAIN_FRACTION:.0f}%): dilate less or draw a smaller region."
        )
    return grown


def blend_weights(inside: np.ndarray, margin: int = BLEND_MARGIN_VOXELS) -> np.ndarray:
    """1 inside the mask, falling linearly with the Euclidean distance (voxels) outside it; 0 beyond ``margin`` (float32).

    The ramp reaches 0 at sqrt(margin^2 + 1), the first distance beyond ``margin`` a voxel can
    have, so every voxel at a distance up to ``margin`` is blended (at 3: weight 0.05) and none
    further away (at sqrt(10) = 3.16: weight 0), without a step in the weights.
    """
    distance = ndimage.distance_transform_edt(~inside)
    weights = np.clip(1.0 - distance / np.sqrt(margin**2 + 1), 0.0, 1.0)
    return np.where(distance <= margin, weights, 0.0).astype(np.float32)


def composite(original: np.ndarray, generated: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Blend ``generated`` into ``original`` by ``weights``; where a weight is 0 the voxel is the original, bit for bit.

    The result keeps the original's dtype (integers rounded and clipped to the type's range).
    """
    mixed = weights * generated.astype(np.float32) + (1.0 - weights) * original.astype(np.float32)
    if np.issubdtype(original.dtype, np.integer):
        info = np.iinfo(original.dtype)
        mixed = np.clip(np.rint(mixed), info.min, info.max)
    return np.where(weights > 0, mixed.astype(original.dtype), original)
