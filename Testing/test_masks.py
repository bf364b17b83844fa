"""The inpainting blend keeps its promise: beyond 3 voxels (Euclidean) outside the mask, the weight is 0."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import cKDTree

from DiffusionSynthLib.masks import BLEND_MARGIN_VOXELS, blend_weights
from DiffusionSynthLib.volume import read_volume


def test_the_weight_is_zero_exactly_beyond_three_voxels_including_diagonals():
    assert BLEND_MARGIN_VOXELS == 3
    inside = np.zeros((15, 15, 15), bool)
    inside[7, 7, 7] = True
    weights = blend_weights(inside)
    within = {(3, 0, 0): 3.0, (2, 2, 1): 3.0, (2, 2, 0): 8**0.5, (1, 1, 1): 3**0.5}  # offset: Euclidean distance
    beyond = {(3, 1, 0): 10**0.5, (2, 2, 2): 12**0.5, (3, 1, 1): 11**0.5, (4, 0, 0): 4.0}
    for offset, distance in {**within, **beyond}.items():
        assert np.isclose(np.linalg.norm(offset), distance)
        for signs in ((1, 1, 1), (-1, 1, -1)):
            voxel = tuple(7 + s * o for s, o in zip(signs, offset))
            assert (weights[voxel] > 0) == (distance <= 3), (offset, weights[voxel])
    assert weights[7, 7, 7] == 1.0
    # the ramp falls with the distance and is at its smallest at 3 voxels
    ramp = [weights[7 + d, 7, 7] for d in range(4)]
    assert ramp[0] > ramp[1] > ramp[2] > ramp[3] > 0


def test_on_a_real_mask_the_blend_covers_exactly_the_voxels_within_three_voxels(brain_cases):
    mask = read_volume(brain_cases / "BraTS-GLI-00001-000" / "inpainting_mask.nii.gz").array != 0
    assert mask.sum() > 50
    weights = blend_weights(mask)
    everywhere = np.indices(mask.shape).reshape(3, -1).T
    distance = cKDTree(np.argwhere(mask)).query(everywhere)[0].reshape(mask.shape)  # brute force, not the EDT
    assert np.array_equal(weights > 0, distance <= 3 + 1e-9)
    assert np.all(weights[mask] == 1.0)
    shell = (distance > 2.9) & (distance < 3.2)  # both sides of the boundary occur on this mask
    assert (weights[shell] > 0).any() and (weights[shell] == 0).any()


@pytest.mark.parametrize("margin", [1, 2, 5])
def test_other_margins_keep_the_same_rule(margin):
    inside = np.zeros((17, 17, 17), bool)
    inside[8, 8, 8] = True
    distance = np.sqrt(((np.indices(inside.shape) - 8) ** 2).sum(axis=0))
    assert np.array_equal(blend_weights(inside, margin) > 0, distance <= margin)
