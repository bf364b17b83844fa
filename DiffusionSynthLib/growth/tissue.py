"""Tissue classes for the growth model from a contrast-enhanced T1 alone (the only sequence the data has).

Classes: 0 outside the brain (air, scalp, skull: no tumour cell crosses), 1 CSF (ventricles,
sulci: a barrier too), 2 grey matter, 3 white matter. The brain is found without a skull-stripping
network (``brain_mask_t1c``), slice by slice across the thickest axis, holes filled so that the
ventricles fall inside the brain, as CSF; a skull-stripped input's brain is its non-zero voxels.
Inside the tumour (and its necrotic core) the tissue is set to white matter: infiltrated tissue,
where the model lets cells move fastest.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..intensity import head_mask_mr
from ..volume import Volume

OUTSIDE, CSF, GREY, WHITE = 0, 1, 2, 3
NAMES = {OUTSIDE: "outside", CSF: "CSF", GREY: "grey matter", WHITE: "white matter"}


def kmeans_1d(values: np.ndarray, k: int, iterations: int = 30) -> np.ndarray:
    """Sorted cluster centres of 1D ``values`` (Lloyd's algorithm from quantile starts)."""
    centres = np.quantile(values, (np.arange(k) + 0.5) / k).astype(np.float64)
    for _ in range(iterations):
        edges = (centres[1:] + centres[:-1]) / 2
        labels = np.searchsorted(edges, values)
        updated = np.array([values[labels == c].mean() if np.any(labels == c) else centres[c] for c in range(k)])
        if np.allclose(updated, centres):
            break
        centres = np.sort(updated)
    return centres


def _disk(radius_voxels: np.ndarray) -> np.ndarray:
    """An in-plane ellipse (one slice thick) of the given radii in voxels along i and j."""
    ri, rj = (max(int(np.floor(r)), 0) for r in radius_voxels[:2])
    ii, jj = np.mgrid[-ri : ri + 1, -rj : rj + 1]
    inside = (ii / max(radius_voxels[0], 1e-6)) ** 2 + (jj / max(radius_voxels[1], 1e-6)) ** 2 <= 1.0
    return inside[:, :, None]


def slice_axis(spacing: np.ndarray) -> int:
    """The axis of thickest voxels (the slice direction of a 2D acquisition); the last one on ties."""
    spacing = np.asarray(spacing)
    return int(np.flatnonzero(spacing >= spacing.max() - 1e-6)[-1])


def _fill_slices(mask: np.ndarray) -> np.ndarray:
    filled = mask.copy()
    for k in range(mask.shape[2]):
        filled[:, :, k] = ndimage.binary_fill_holes(mask[:, :, k])
    return filled


def fill_slices(mask: np.ndarray, spacing: np.ndarray) -> np.ndarray:
    """Holes filled slice by slice across the slice axis (a ring of enhancement becomes a disc)."""
    axis = slice_axis(spacing)
    return np.moveaxis(_fill_slices(np.moveaxis(mask, axis, 2)), 2, axis)


def is_skull_stripped(image: np.ndarray) -> bool:
    """True when the background is exactly zero (more than 10% zeros in the slices that hold data)."""
    nonzero = image != 0
    with_data = np.any(nonzero, axis=(0, 1))
    return bool(with_data.any()) and float(nonzero[:, :, with_data].mean()) < 0.9


def brain_mask_t1c(t1c: Volume, scalp_mm: float = 7.0, opening_mm: float = 2.5) -> np.ndarray:
    """The brain of an axial T1c (slices along the last axis), skull-stripped or not.

    Skull-stripped: its non-zero voxels. Otherwise: brain-like brightness (between the darkest
    and the brightest of four clusters inside the head), deeper than ``scalp_mm`` below the head's
    outline in each slice, opened in-plane by ``opening_mm`` (cutting bridges through the skull);
    the largest component, grown back by the same distance inside the brain-like voxels. Holes
    are filled slice by slice.
    """
    image = np.asarray(t1c.array, dtype=np.float32)
    if is_skull_stripped(image):
        return _fill_slices(image != 0)
    head = head_mask_mr(t1c) & (image != 0)
    values = image[head]
    if values.size < 100:
        return np.zeros(image.shape, bool)
    low, high = np.percentile(values, [1.0, 99.0])
    centres = kmeans_1d(np.clip(values, low, high)[:: max(1, values.size // 200_000)], 4)
    # dark (air, bone, CSF) < grey < white < bright (fat, vessels, enhancement)
    edges = (centres[1:] + centres[:-1]) / 2
    candidate = head & (image > edges[0]) & (image < edges[2])
    depth = np.stack([ndimage.distance_transform_edt(head[:, :, k], sampling=t1c.spacing[:2]) for k in range(image.shape[2])], axis=2)
    radius = opening_mm / t1c.spacing
    opened = ndimage.binary_opening(candidate & (depth >= scalp_mm), structure=_disk(radius))
    labels, count = ndimage.label(opened)
    if count == 0:
        return np.zeros(image.shape, bool)
    brain = labels == (np.argmax(np.bincount(labels.ravel())[1:]) + 1)
    for _ in range(max(1, round(opening_mm / float(np.min(t1c.spacing[:2]))))):
        brain = ndimage.binary_dilation(brain, structure=_disk(np.ones(2))) & candidate
    return _fill_slices(brain)


def flatten_bias(image: np.ndarray, brain: np.ndarray, spacing: np.ndarray, sigma_mm: float = 20.0) -> np.ndarray:
    """``image`` divided by its smooth brain-average brightness (a coarse bias-field correction)."""
    sigma = sigma_mm / np.asarray(spacing)
    weight = ndimage.gaussian_filter(brain.astype(np.float32), sigma)
    local = ndimage.gaussian_filter(np.where(brain, image, 0.0).astype(np.float32), sigma)
    return np.where(brain, image / np.maximum(local / np.maximum(weight, 1e-3), 1e-6), 0.0).astype(np.float32)


def classify(t1c: Volume, tumour: np.ndarray | None = None) -> np.ndarray:
    """uint8 tissue classes (``OUTSIDE``, ``CSF``, ``GREY``, ``WHITE``) on the T1c's grid.

    Works slice-wise across the thickest axis. Inside the brain the brightness is flattened
    (``flatten_bias``) and split in four clusters: CSF, grey, white, and enhancing vessels and
    dura (counted as grey: they lie in sulci and on the cortex).
    """
    axis = slice_axis(t1c.spacing)
    order = [a for a in range(3) if a != axis] + [axis]
    moved = Volume(np.moveaxis(np.asarray(t1c.array), axis, 2), np.eye(4))
    moved.ijk_to_ras[:3, :3] = np.diag(t1c.spacing[order])
    tumour_moved = np.moveaxis(tumour, axis, 2) if tumour is not None else None
    return np.moveaxis(_classify_axial(moved, tumour_moved), 2, axis)


def _classify_axial(t1c: Volume, tumour: np.ndarray | None) -> np.ndarray:
    image = np.asarray(t1c.array, dtype=np.float32)
    brain = brain_mask_t1c(t1c)
    tissue = np.full(image.shape, OUTSIDE, np.uint8)
    if brain.sum() < 100:
        return tissue
    core = _fill_slices(tumour) if tumour is not None and tumour.any() else np.zeros(image.shape, bool)
    flat = flatten_bias(image, brain & ~core, t1c.spacing)
    values = flat[brain & ~core]
    low, high = np.percentile(values, [0.5, 99.5])
    centres = kmeans_1d(np.clip(values, low, high)[:: max(1, values.size // 200_000)], 4)
    csf_grey, grey_white, white_bright = (centres[1:] + centres[:-1]) / 2
    tissue[brain & (flat <= csf_grey)] = CSF
    tissue[brain & (flat > csf_grey)] = GREY
    tissue[brain & (flat > grey_white) & (flat <= white_bright)] = WHITE  # brighter: enhancing vessels, dura
    tissue[core] = WHITE
    return tissue
