"""Intensity maps and masks shared by inference, training and benchmarks."""

from __future__ import annotations

import numpy as np

from DiffusionSynthLib.intensity import CT_KNOTS, ct_knots, head_mask_ct, hu_to_unit, normalise_mr, unit_to_hu
from DiffusionSynthLib.volume import read_volume

from conftest import HEAD_CT


def test_hu_map_round_trips_and_favours_soft_tissue():
    hu = np.linspace(-1024, 2000, 3025, dtype=np.float32)
    np.testing.assert_allclose(unit_to_hu(hu_to_unit(hu)), hu, atol=0.05)
    unit = hu_to_unit(np.array([-1024.0, -200.0, 0.0, 200.0, 2000.0, 3000.0]))
    np.testing.assert_allclose(unit, [-1.0, -0.6, -0.2, 0.2, 1.0, 1.0])  # clipped above 2000 HU
    # 100 HU of soft tissue span more units than 100 HU of bone
    assert hu_to_unit(np.array([100.0]))[0] - hu_to_unit(np.array([0.0]))[0] > 2 * (hu_to_unit(np.array([1100.0]))[0] - hu_to_unit(np.array([1000.0]))[0])


def test_packages_without_knots_keep_their_linear_map():
    assert ct_knots({"intensity": {"output": {"kind": "hu_linear", "range": [-1024.0, 2000.0]}}}) == {"hu": [-1024.0, 2000.0], "unit": [-1.0, 1.0]}
    assert ct_knots({"intensity": {"output": {"kind": "hu_piecewise_linear", **CT_KNOTS}}}) == CT_KNOTS


def test_normalise_mr_uses_the_mask_and_zeroes_outside():
    rng = np.random.default_rng(0)
    image = rng.normal(100, 20, (20, 20, 20)).astype(np.float32)
    mask = np.zeros(image.shape, bool)
    mask[5:15, 5:15, 5:15] = True
    out = normalise_mr(image, mask)
    assert out[~mask].max() == 0 and 0 <= out[mask].min() and out[mask].max() <= 1
    assert 0.4 < np.median(out[mask]) < 0.6


def test_ct_head_mask_on_the_real_ct(shared_data):
    ct = read_volume(HEAD_CT)
    mask = head_mask_ct(ct)
    assert 0.4 < mask.mean() < 0.8
    assert np.median(ct.array[mask]) > -100  # tissue, not air
    assert (ct.array[~mask] < -300).mean() > 0.9  # outside is mostly air
