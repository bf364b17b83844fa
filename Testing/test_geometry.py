"""Resampling keeps the physical box and the axes of the input grid; reorientation is lossless and exactly undone."""

from __future__ import annotations

import numpy as np
import pytest

from DiffusionSynthLib.errors import ModelError
from DiffusionSynthLib.geometry import (
    crop,
    data_box,
    from_canonical,
    grid_at_spacing,
    package_orientation,
    resample,
    resample_like,
    resample_to_spacing,
    to_canonical,
)
from DiffusionSynthLib.volume import Volume, read_volume

from conftest import HEAD_MR, oblique
from reoriented import WORLD_AXIS, stored_as


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


# ------------------------------------------------------------------------------ voxel order

ALL_ORDERS = [a + b + c for a in "RLAPSI" for b in "RLAPSI" for c in "RLAPSI" if len({WORLD_AXIS[a][0], WORLD_AXIS[b][0], WORLD_AXIS[c][0]}) == 3]


def test_every_voxel_order_of_a_real_head_gives_the_same_canonical_volume(shared_data):
    head = read_volume(HEAD_MR)
    ras = stored_as(head, "RAS")
    assert len(ALL_ORDERS) == 48
    for codes in ALL_ORDERS:
        stored = stored_as(head, codes)
        canonical = to_canonical(stored)
        np.testing.assert_array_equal(canonical.array, ras.array)
        np.testing.assert_allclose(canonical.ijk_to_ras, ras.ijk_to_ras, atol=1e-9)
        back = from_canonical(canonical, stored)  # the inverse: bit for bit, the same matrix
        np.testing.assert_array_equal(back.array, stored.array)
        assert back.array.dtype == stored.array.dtype
        np.testing.assert_array_equal(back.ijk_to_ras, stored.ijk_to_ras)


def test_reorientation_keeps_every_voxel_in_its_world_position_on_an_oblique_grid(shared_data):
    head = oblique(stored_as(read_volume(HEAD_MR), "SPL"))
    lps = to_canonical(head, "LPS")
    assert np.argmax(np.abs(lps.direction), axis=0).tolist() == [0, 1, 2] and (np.sign(np.diag(lps.direction)) == [-1, -1, 1]).all()
    rng = np.random.default_rng(0)
    for index in rng.integers(0, head.shape, size=(50, 3)):
        world = head.ijk_to_ras @ [*index, 1]
        found = np.linalg.solve(lps.ijk_to_ras, world)[:3]
        np.testing.assert_allclose(found, np.rint(found), atol=1e-6)
        assert lps.array[tuple(np.rint(found).astype(int))] == head.array[tuple(index)]
    assert to_canonical(lps, "LPS") is lps  # already in that order: untouched


def test_the_inverse_refuses_a_volume_on_another_grid():
    volume = Volume(np.zeros((4, 5, 6), np.float32), np.diag([-1.0, 1.0, 2.0, 1.0]))
    with pytest.raises(ValueError, match="not on a reorientation"):
        from_canonical(Volume(np.zeros((4, 5, 7), np.float32), np.eye(4)), volume)


def test_package_orientation_reads_model_json():
    assert package_orientation({}) == "RAS" and package_orientation({"orientation": "LPS"}) == "LPS"
    for bad in ("RAR", "XYZ", "RA", 3):
        with pytest.raises(ModelError, match="orientation"):
            package_orientation({"orientation": bad})


def test_data_box_cuts_zero_planes_at_the_ends_only_and_crop_keeps_each_voxel_in_place():
    array = np.zeros((10, 12, 8), np.float32)
    array[2:7, 3, 1] = 1.0
    array[4, 9, 6] = 2.0
    volume = oblique(Volume(array, np.eye(4)))
    box = data_box(volume)
    assert box == (slice(2, 7), slice(3, 10), slice(1, 7))  # the zero planes between (z 2-5) stay
    cropped = crop(volume, box)
    assert cropped.shape == (5, 7, 6) and cropped.array.sum() == array.sum()
    corner = volume.ijk_to_ras @ np.array([2, 3, 1, 1.0])
    np.testing.assert_allclose(cropped.ijk_to_ras @ np.array([0, 0, 0, 1.0]), corner)
    np.testing.assert_allclose(cropped.ijk_to_ras[:3, :3], volume.ijk_to_ras[:3, :3])
    empty = Volume(np.zeros((4, 5, 6), np.float32), np.eye(4))
    assert data_box(empty) == (slice(0, 4), slice(0, 5), slice(0, 6))
