"""Contralateral detail: the other hemisphere's tissue, mirrored across the brain's midline and Poisson-blended in.

A harmonic fill is the smoothest answer; the mirrored hemisphere carries what a brain has there (grey and white
matter, sulci, the ventricles' shape), not the voided tissue itself but its counterpart. Seamless cloning (Pérez et
al. 2003): the mirrored image plus the harmonic fill of the difference on the region's boundary, so the fill meets
every known voxel around the region. What it adds over the harmonic fill (``contralateral_detail``) is added, at a
share chosen on validation cases, to the removal's estimate.

The midline is found, not assumed: the reflection across a plane normal to the first (left-right) axis that
correlates best with the known brain; a brain whose mirror image correlates less than ``MIN_MIDLINE_CORRELATION``
(tilted in its grid, or no symmetry to use) gets no detail. No brain is symmetric to the millimetre: the mirror image
is then moved locally (``mirror_shift``, up to ``SHIFT_VOXELS`` along each axis) to the translation under which it
correlates best with the known tissue in a ring around the region, the tissue the fill has to continue.
"""

from __future__ import annotations

from functools import cache

import numpy as np
from scipy import ndimage

from ..geometry import bounding_box
from .harmonic import harmonic_fill

MIN_MIDLINE_CORRELATION = 0.3  # the BraTS 2018 validation cases: 0.51 and 0.53 at 1 mm
SEARCH_VOXELS = 12  # around the brain's centre of mass along the left-right axis
# the mirror image's local translation: searched within SHIFT_VOXELS along each axis, judged on the known tissue within
# RING_VOXELS of the region; chosen on ten BraTS 2018 training cases at 1 mm (runs of the test protocol's healthy
# sphere, prior only: the detail's correlation with the voided truth 0.11 unshifted, 0.30 / 0.35 / 0.34 searching 5 /
# 8 / 12 voxels with a 4-voxel ring, 0.34 with a 3-voxel and 0.26 with a 6-voxel ring)
SHIFT_VOXELS = 8
RING_VOXELS = 4
MAX_RING_VOXELS = 5_000  # a larger ring is subsampled evenly for the search


def mirror(values: np.ndarray, twice_centre: int) -> np.ndarray:
    """``values`` reflected along the first axis about ``twice_centre / 2`` (positions off the array read 0)."""
    source = twice_centre - np.arange(values.shape[0])
    inside = (source >= 0) & (source < values.shape[0])
    out = np.zeros_like(values)
    out[inside] = values[source[inside]]
    return out


def shifted(values: np.ndarray, shift: tuple[int, ...]) -> np.ndarray:
    """``values`` moved by ``shift`` along its last axes (``out[p] = values[p - shift]``; 0 where that is off the array)."""
    out = np.zeros_like(values)
    shape = values.shape[-len(shift) :]
    target = tuple(slice(max(d, 0), n + min(d, 0)) for d, n in zip(shift, shape))
    source = tuple(slice(max(-d, 0), n - max(d, 0)) for d, n in zip(shift, shape))
    out[(Ellipsis,) + target] = values[(Ellipsis,) + source]
    return out


def find_midline(image: np.ndarray, known: np.ndarray) -> tuple[int, float]:
    """(twice the reflection centre along the first axis, the correlation of the known brain with its mirror image)."""
    if not known.any():
        return image.shape[0], -1.0
    centre = float(np.argwhere(known)[:, 0].mean())
    best = (int(round(2 * centre)), -1.0)
    box = bounding_box(known)
    offset = 2 * box[0].start  # the search runs inside the known brain's box: nothing outside it counts
    # every second voxel across: the same answer, 4x faster
    sample = (box[0], slice(box[1].start, box[1].stop, 2), slice(box[2].start, box[2].stop, 2))
    image, known = image[sample], known[sample]
    for twice in range(int(round(2 * centre)) - 2 * SEARCH_VOXELS, int(round(2 * centre)) + 2 * SEARCH_VOXELS + 1):
        both = known & mirror(known, twice - offset)
        if both.sum() < 100:
            continue
        correlation = float(np.corrcoef(image[both], mirror(image, twice - offset)[both])[0, 1])
        if np.isfinite(correlation) and correlation > best[1]:
            best = (twice, correlation)
    return best


def mirror_shift(images: np.ndarray, region: np.ndarray, known: np.ndarray, twice_centre: int) -> tuple[int, int, int]:
    """The translation (voxels, at most ``SHIFT_VOXELS`` along each axis) of the mirror image of ``images`` (C, ...)
    under which it correlates best (mean over the images) with the known tissue within ``RING_VOXELS`` of ``region``.
    A grid of every fourth shift, then its best's neighbours at 2 and at 1 voxel; (0, 0, 0) where no shift sees enough
    of the ring."""
    box = bounding_box(region, RING_VOXELS)
    near = np.zeros(region.shape, bool)
    near[box] = ndimage.distance_transform_edt(~region[box]) <= RING_VOXELS
    points = np.argwhere(near & known)
    points = points[:: max(1, len(points) // MAX_RING_VOXELS)]
    source = np.stack([mirror(np.where(known, image, 0.0), twice_centre) for image in images])
    source_known = mirror(known, twice_centre)
    targets = images[(slice(None),) + tuple(points.T)]
    shape = np.asarray(region.shape)

    @cache  # the coarse-to-fine steps revisit their centre
    def score(shift: tuple[int, int, int]) -> float:
        at = points - np.asarray(shift)
        usable = np.all((at >= 0) & (at < shape), axis=1)
        usable[usable] = source_known[tuple(at[usable].T)]
        if usable.sum() < 50:
            return -np.inf
        a, b = source[(slice(None),) + tuple(at[usable].T)], targets[:, usable]
        a, b = a - a.mean(axis=1, keepdims=True), b - b.mean(axis=1, keepdims=True)
        norms = np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))
        valid = norms > 0
        return float(((a * b).sum(axis=1)[valid] / norms[valid]).mean()) if valid.any() else -np.inf

    coarse = range(-SHIFT_VOXELS, SHIFT_VOXELS + 1, 4)
    chosen = max(((dx, dy, dz) for dx in coarse for dy in coarse for dz in coarse), key=score)
    for step in (2, 1):  # then the best's neighbours, at half the step and again
        around = {tuple(int(np.clip(c + step * (d - 1), -SHIFT_VOXELS, SHIFT_VOXELS)) for c, d in zip(chosen, offset)) for offset in np.ndindex(3, 3, 3)}
        best = max(sorted(around), key=score)
        chosen = (best[0], best[1], best[2])
    return (0, 0, 0) if score(chosen) == -np.inf else chosen


def contralateral_detail(
    images: np.ndarray, region: np.ndarray, brain: np.ndarray, harmonics: np.ndarray, twice_centre: int, shift: tuple[int, int, int] = (0, 0, 0)
) -> np.ndarray:
    """(C, ...) inside ``region``, per image of ``images`` (C, ...): the Poisson-blended mirror image (moved by
    ``shift``) minus its harmonic fill ``harmonics`` (0 outside, and where the mirror's source is not known brain: the
    region itself, or outside the brain). The mirror moves voxels along the first axis (and ``shift`` a few voxels
    along each): a slab of the region's box across the other two, widened by the shift, is all it needs."""
    known = brain & ~region
    source_known = shifted(mirror(known, twice_centre), shift)
    sources = shifted(np.stack([mirror(np.where(known, image, 0.0), twice_centre) for image in images]), shift)
    mirrored = np.where(source_known, sources, harmonics)
    difference = np.where(region, 0.0, np.where(known, images - mirrored, 0.0)).astype(np.float32)
    cloned = mirrored + harmonic_fill(difference, region, brain)  # one factorisation for all the images
    return np.where(region & source_known, cloned - harmonics, 0.0).astype(np.float32)
