"""Quantile matching: an estimate's intensities inside the brain given the distribution of its sequence in real brains.

A regression answers the conditional mean, whose distribution is narrower than that of the images
it estimates (regression dilution): a FLAIR lesion comes out dimmer than it is, relative to the
brain. Matching the estimate's quantiles inside the brain (``skimage.exposure.match_histograms``)
to the mean quantile function of the training cases' real images of that sequence (z-scored
inside the brain, each case weighted equally) restores the spread. The map is monotone: the
order of the voxels is kept, no structure is added. Training keeps it per configuration only
where it raises the validation case's SSIM (``train/impute.py``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from skimage.exposure import match_histograms

LEVELS = 1001  # quantiles stored per sequence (every 0.1 percentile)


def reference_quantiles(values: Sequence[np.ndarray]) -> list[float]:
    """The mean quantile function of several cases' brain intensities (each case weighted equally), ``LEVELS`` values."""
    if not values:
        raise ValueError("no case to take quantiles from")
    levels = np.linspace(0.0, 1.0, LEVELS)
    return [round(float(q), 4) for q in np.mean([np.quantile(v.astype(np.float64), levels) for v in values], axis=0)]


def match_quantiles(image: np.ndarray, mask: np.ndarray, quantiles: Sequence[float]) -> np.ndarray:
    """``image`` with its values inside ``mask`` mapped onto ``quantiles`` (rank for rank); outside unchanged."""
    out = image.astype(np.float32, copy=True)
    if mask.any():
        out[mask] = match_histograms(out[mask], np.asarray(quantiles, np.float32))
    return out


def calibration_entry(quantiles: Mapping[str, list[float]], scores: Mapping[str, Mapping[str, float]], metric: str) -> dict:
    """The ``calibration`` entry of ``model.json``: per sequence its quantiles, per configuration the validation
    scores without and with matching, and the configurations where matching is used (it scored higher)."""
    without, matched = scores["without"], scores["with"]
    return {
        "kind": "quantile matching",
        "space": "z-score inside the brain",
        "quantiles": dict(quantiles),
        "metric": metric,
        "validation": {"without": dict(without), "with": dict(matched)},
        "used": sorted(key for key in without if matched[key] > without[key]),
    }


def calibration_used(config: Mapping, key: str) -> bool:
    """Whether a package matches the quantiles of configuration ``key`` (``"t1c,t2w->t2f"``)."""
    return key in config.get("calibration", {}).get("used", [])
