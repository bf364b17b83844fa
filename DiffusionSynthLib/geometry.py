"""Resampling between grids. Every output grid is derived from an input grid; nothing is guessed."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .volume import Volume, from_sitk, to_sitk


def grid_at_spacing(volume: Volume, spacing: Sequence[float]) -> tuple[tuple[int, int, int], np.ndarray]:
    """Shape and IJK->RAS of a grid covering the same box as ``volume`` with new ``spacing``, same axes."""
    spacing = np.asarray(spacing, dtype=np.float64)
    old_spacing = volume.spacing
    extent = np.array(volume.shape) * old_spacing
    shape = tuple(int(max(1, round(e / s))) for e, s in zip(extent, spacing))
    matrix = np.eye(4)
    matrix[:3, :3] = volume.direction * spacing
    # keep the outer corner of the box fixed: voxel centres move by half the change in spacing
    matrix[:3, 3] = volume.origin + volume.direction @ ((spacing - old_spacing) / 2)
    return shape, matrix  # type: ignore[return-value]


def resample(
    volume: Volume,
    shape: Sequence[int],
    ijk_to_ras: np.ndarray,
    interpolation: str = "linear",
    default: float = 0.0,
) -> Volume:
    """Resample ``volume`` onto the grid ``(shape, ijk_to_ras)`` (float32 out, ``default`` outside)."""
    import SimpleITK as sitk

    interpolators = {
        "linear": sitk.sitkLinear,
        "nearest": sitk.sitkNearestNeighbor,
        "bspline": sitk.sitkBSpline,
    }
    reference = to_sitk(Volume(np.zeros(tuple(shape), dtype=np.uint8), ijk_to_ras))
    image = to_sitk(volume, np.float32)
    out = sitk.Resample(image, reference, sitk.Transform(), interpolators[interpolation], float(default), sitk.sitkFloat32)
    return from_sitk(out)


def resample_to_spacing(volume: Volume, spacing: Sequence[float], interpolation: str = "linear") -> Volume:
    shape, matrix = grid_at_spacing(volume, spacing)
    return resample(volume, shape, matrix, interpolation)


def resample_like(volume: Volume, reference: Volume, interpolation: str = "linear", default: float = 0.0) -> Volume:
    """``volume`` on ``reference``'s grid (returned unchanged, as float32, when the grids already match)."""
    if volume.same_grid(reference):
        return volume.with_array(volume.array.astype(np.float32, copy=False))
    return resample(volume, reference.shape, reference.ijk_to_ras, interpolation, default)
