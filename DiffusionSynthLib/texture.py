"""Texture and layout measures of MR images: high-pass energy and how much of a lesion a distance to its edge explains.

The realism figures of the benchmarks and the lesion bank's fitted texture use the same definitions:
- high-pass: the image minus its Gaussian blur at ``sigma`` voxels, the blur computed inside a domain only
  (normalised convolution, so the background makes no edge);
- radial R²: the share of a lesion's intensity variance explained by the distance to its edge alone (the mean per
  1 mm distance band): about 1 for a target of flat concentric rings, 0-0.25 for real gliomas.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from .priors.regression import smoothed

HIGH_PASS_SIGMA = 2.0  # voxels


def blur_inside(image: np.ndarray, domain: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of ``image`` over ``domain`` only (normalised convolution; 0 outside it)."""
    return smoothed(image, domain, [sigma] * image.ndim)


def high_pass(image: np.ndarray, domain: np.ndarray, sigma: float = HIGH_PASS_SIGMA) -> np.ndarray:
    """The image minus its blur inside ``domain`` (0 outside it)."""
    return np.where(domain, image - blur_inside(image, domain, sigma), 0.0).astype(np.float32)


def high_pass_rms(image: np.ndarray, domain: np.ndarray, region: np.ndarray | None = None, sigma: float = HIGH_PASS_SIGMA) -> float:
    """RMS of the high-pass image over ``region`` (default: ``domain`` eroded by 2 voxels), NaN when it is empty."""
    inner = ndimage.binary_erosion(domain, iterations=2) if region is None else region & domain
    if not inner.any():
        return float("nan")
    return float(np.sqrt(np.mean(high_pass(image, domain, sigma)[inner].astype(np.float64) ** 2)))


def radial_r2(image: np.ndarray, region: np.ndarray, spacing: Sequence[float], band_mm: float = 1.0) -> float:
    """Share of the variance of ``image`` inside ``region`` explained by the mean per ``band_mm`` band of distance to the
    region's edge (NaN for a region under 10 voxels or of constant intensity)."""
    if region.sum() < 10:
        return float("nan")
    depth = ndimage.distance_transform_edt(region, sampling=[float(s) for s in spacing])[region]
    values = image[region].astype(np.float64)
    total = float(((values - values.mean()) ** 2).sum())
    if total <= 0:
        return float("nan")
    bands = np.floor(depth / band_mm).astype(np.int64)
    sums = np.bincount(bands, weights=values)
    counts = np.bincount(bands)
    means = sums[bands] / counts[bands]
    return float(1.0 - ((values - means) ** 2).sum() / total)
