"""Quantile matching of an estimate's brain intensities to real brains' (``priors/quantile_matching.py``)."""

from __future__ import annotations

import numpy as np

from DiffusionSynthLib.priors.quantile_matching import LEVELS, calibration_entry, match_quantiles, reference_quantiles
from DiffusionSynthLib.volume import read_volume

from conftest import BRAIN


def test_the_reference_is_the_mean_quantile_function_of_the_cases():
    rng = np.random.default_rng(0)
    narrow, wide = rng.normal(0.0, 1.0, 40_000), rng.normal(2.0, 3.0, 10_000)  # unequal sizes: each case counts once
    quantiles = np.array(reference_quantiles([narrow, wide]))
    assert quantiles.shape == (LEVELS,) and (np.diff(quantiles) >= 0).all()
    levels = np.linspace(0.0, 1.0, LEVELS)
    np.testing.assert_allclose(quantiles, (np.quantile(narrow, levels) + np.quantile(wide, levels)) / 2, atol=1e-4)
    assert abs(quantiles[LEVELS // 2] - 1.0) < 0.05  # the medians 0 and 2, averaged


def test_matching_gives_the_reference_quantiles_in_the_estimate_s_own_order():
    """A real FLAIR's brain, squeezed as a regression squeezes it, matched back to the FLAIR's own quantiles: the
    values come back (a monotone map), the order of the voxels is kept, the outside and the input untouched."""
    flair = read_volume(BRAIN / "TCGA-DU-7294" / "t2f.nii.gz").array.astype(np.float32)
    brain = flair > 0
    squeezed = np.where(brain, np.sqrt(np.maximum(flair, 0.0)) - 3.0, 7.0).astype(np.float32)
    before = squeezed.copy()
    matched = match_quantiles(squeezed, brain, reference_quantiles([flair[brain]]))
    np.testing.assert_array_equal(squeezed, before)
    assert (matched[~brain] == 7.0).all()
    levels = np.linspace(0.01, 0.99, 99)
    np.testing.assert_allclose(
        np.quantile(matched[brain], levels), np.quantile(flair[brain], levels), rtol=0.01, atol=1.5
    )  # integer intensities: ties move a quantile by a unit
    order = np.argsort(squeezed[brain], kind="stable")
    assert (np.diff(matched[brain][order]) >= 0).all()


def test_matching_is_used_only_where_it_scored_higher():
    entry = calibration_entry({"t2f": [0.0, 1.0]}, {"without": {"a->t2f": 0.5, "b->t2f": 0.5}, "with": {"a->t2f": 0.6, "b->t2f": 0.5}}, "SSIM")
    assert entry["used"] == ["a->t2f"] and entry["validation"]["with"]["b->t2f"] == 0.5
