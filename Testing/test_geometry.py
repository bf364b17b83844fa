"""Resampling keeps the physical box and the axes of the input grid."""

from __future__ import annotations

import numpy as np

from conftest import oblique
from DiffusionSynthLib.geometry import grid_at_spacing, resample, resample_like, resample_to_spacing
from DiffusionSynthLib.volume import Volume


def test_grid_at_spacing_covers_the_same_box():
    volume = oblique(Volume(np.zeros((40, 30, 12), np.float32), np.eye(4)))
    shape, matrix = grid_at_spacing(volume, [2.0, 2.0, 2.0])
    assert shape == (18, 20, 16)
    np.testing.assert_allclose(np.linalg.norm(matrix[:3, :3], axis=0), [2, 2, 2])
    np.testing.assert_allclose(matrix[:3, :3] / 2.0, volume.direction, atol=1e-12)
    # the outer corner (voxel -0.5) is the same physical point
    corner_old = volume.ijk_to_ras @ [-0.5, -0.5, -0.5, 1]
    corner_new = matrix @ [-0.5, -0.5, -0.5, 1]
    np.testing.assert_allclose(corner_old, corner_new, atol=1e-9)


def test_resample_round_trip_of_a_smooth_image_is_close():
    i, j, k = np.meshgrid(np.arange(40), np.arange(30), np.arange(12), indexing="ij")
    array = (np.sin(i / 6.0) + np.cos(j / 5.0) + k / 12.0).astype(np.float32)
    volume = oblique(Volume(array, np.eye(4)))
    coarse = resample_to_spacing(volume, [1.5, 1.5, 1.5])
    back = resample(coarse, volume.shape, volume.ijk_to_ras)
    inner = (slice(3, -3), slice(3, -3), slice(2, -2))
    assert np.abs(back.array[inner] - array[inner]).mean() < 0.05


def test_resample_like_on_the_same_grid_is_identity():
    volume = oblique(Volume(np.random.default_rng(1).random((5, 6, 7)).astype(np.float32), np.eye(4)))
    same = resample_like(volume, volume)
    np.testing.assert_array_equal(same.array, volume.array)
