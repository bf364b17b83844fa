"""Plausible random lesion masks for augmentation: smooth random blobs of tumour-like size in the brain.

A blob is an ellipsoid (equivalent diameter ``DIAMETER_MM``, axis ratios up to 1.6) whose surface
is perturbed by Gaussian-smoothed noise, kept inside the brain, as one connected piece. Sizes are
in millimetres, so the same settings give similar lesions at any voxel spacing. Everything comes
from the ``numpy`` generator passed in: the same seed gives the same mask.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

DIAMETER_MM = (12.0, 40.0)  # equivalent-sphere diameter range of the ellipsoid before clipping to the brain
MAX_BRAIN_FRACTION = 0.25  # a blob larger than this share of the brain is shrunk
MIN_VOXELS = 8


def _largest_component(mask: np.ndarray) -> np.ndarray:
    labels, count = ndimage.label(mask)
    if count <= 1:
        return mask
    sizes = ndimage.sum(mask, labels, range(1, count + 1))
    return labels == (1 + int(np.argmax(sizes)))


def _blob(shape: tuple[int, ...], centre: np.ndarray, radii_vox: np.ndarray, rng: np.random.Generator, roughness: float) -> np.ndarray:
    """Ellipsoid at ``centre`` with radii in voxels, its level set perturbed by smooth noise (in a box around it)."""
    reach = np.ceil(radii_vox * (1.0 + roughness) + 2).astype(int)
    low = np.maximum(np.floor(centre).astype(int) - reach, 0)
    high = np.minimum(np.floor(centre).astype(int) + reach + 1, shape)
    grid = np.meshgrid(*[np.arange(lo, hi, dtype=np.float32) for lo, hi in zip(low, high)], indexing="ij")
    level = sum(((grid[a] - centre[a]) / radii_vox[a]) ** 2 for a in range(3))
    noise = ndimage.gaussian_filter(rng.standard_normal(level.shape).astype(np.float32), sigma=np.maximum(radii_vox / 2.5, 0.8))
    noise /= max(float(noise.std()), 1e-6)
    mask = np.zeros(shape, bool)
    mask[tuple(slice(lo, hi) for lo, hi in zip(low, high))] = np.sqrt(level) + roughness * noise <= 1.0
    return mask


def random_lesion_mask(
    brain: np.ndarray,
    spacing_mm: np.ndarray | tuple[float, float, float],
    rng: np.random.Generator,
    diameter_mm: tuple[float, float] = DIAMETER_MM,
    roughness: float = 0.25,
) -> np.ndarray:
    """A bool mask (one connected blob, inside ``brain``) of tumour-like size; ``brain`` must be non-empty."""
    brain = np.asarray(brain, bool)
    if not brain.any():
        raise ValueError("The brain mask is empty; no lesion can be placed.")
    spacing = np.asarray(spacing_mm, dtype=np.float64)
    brain_voxels = int(brain.sum())
    diameter = float(rng.uniform(*diameter_mm))
    ratios = rng.uniform(1.0, 1.6, size=3)
    ratios /= np.prod(ratios) ** (1.0 / 3.0)  # same volume as the sphere of that diameter
    radii_vox = np.maximum(diameter / 2.0 * ratios / spacing, 1.0)
    # a centre deep enough in the brain that most of the blob stays inside it
    stride = 2 if brain.size > 2_000_000 else 1  # depth on every other voxel: 8x cheaper at 1 mm, still mm-accurate enough
    coarse = brain[::stride, ::stride, ::stride]
    depth = ndimage.distance_transform_edt(coarse, sampling=spacing * stride)
    for fraction in (0.6, 0.4, 0.2, 0.0):
        candidates = np.argwhere(depth > fraction * diameter / 2.0) if fraction else np.argwhere(coarse)
        if len(candidates):
            break
    point = candidates[int(rng.integers(len(candidates)))] * stride  # a brain voxel
    centre = point.astype(np.float64) + rng.uniform(-0.5, 0.5, size=3)
    for _ in range(8):
        mask = _largest_component(_blob(brain.shape, centre, radii_vox, rng, roughness) & brain)
        if mask.sum() <= MAX_BRAIN_FRACTION * brain_voxels:
            break
        radii_vox = np.maximum(radii_vox * 0.7, 1.0)
    if mask.sum() < MIN_VOXELS or mask.sum() > MAX_BRAIN_FRACTION * brain_voxels:  # a tiny or odd brain: a small ball
        seed = np.zeros(brain.shape, bool)
        seed[tuple(point)] = True  # a brain voxel
        mask = ndimage.binary_dilation(seed, iterations=2) & brain
    return mask
