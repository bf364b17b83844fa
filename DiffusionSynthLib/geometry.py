"""Resampling between grids, lossless reorientation, and boxes of voxels (bounding boxes, crops). Every output grid is derived from an input grid; nothing is guessed.

Networks see voxels in one fixed axis order whatever order a file stores them in: ``to_canonical``
permutes and flips the axes into the order closest to RAS (axis 0 runs towards the patient's
right, axis 1 anterior, axis 2 superior), or to the order a model package names in its
``orientation`` key (``package_orientation``); ``from_canonical`` puts a result back onto the
input's own grid, bit for bit. Both only reorder voxels: no interpolation, every voxel keeps its
position in the world.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from .errors import ModelError
from .volume import Volume, from_sitk, to_sitk

CANONICAL = "RAS"


def grid_at_spacing(volume: Volume, spacing: Sequence[float]) -> tuple[tuple[int, int, int], np.ndarray]:
    """Shape and IJK->RAS of a grid covering the same box as ``volume`` with new ``spacing``, same axes."""
    new_spacing = np.asarray(spacing, dtype=np.float64)
    old_spacing = volume.spacing
    extent = np.array(volume.shape) * old_spacing
    shape = tuple(int(max(1, round(e / s))) for e, s in zip(extent, new_spacing))
    matrix = np.eye(4)
    matrix[:3, :3] = volume.direction * new_spacing
    # keep the outer corner of the box fixed: voxel centres move by half the change in spacing
    matrix[:3, 3] = volume.origin + volume.direction @ ((new_spacing - old_spacing) / 2)
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


# --------------------------------------------------------------------------------------------- orientation


def _orientation(ijk_to_ras: np.ndarray) -> np.ndarray:
    """nibabel's orientation of a grid's axes: per axis, the world axis (0 R, 1 A, 2 S) it is closest to and its sign."""
    from nibabel.orientations import io_orientation

    return io_orientation(ijk_to_ras)


def _reoriented(volume: Volume, transform: np.ndarray) -> Volume:
    """``volume`` with its axes permuted and flipped by a nibabel orientation ``transform``; the affine follows."""
    from nibabel.orientations import apply_orientation, inv_ornt_aff

    array = np.ascontiguousarray(apply_orientation(volume.array, transform))
    return Volume(array, volume.ijk_to_ras @ inv_ornt_aff(transform, volume.shape))


def to_canonical(volume: Volume, axcodes: str = CANONICAL) -> Volume:
    """The same voxels with the axes permuted and flipped into the order closest to ``axcodes`` (default RAS).

    Lossless: no interpolation, and the IJK->RAS matrix is updated so that every voxel keeps its
    position in the world. An oblique grid stays oblique (each axis goes to the world axis it is
    closest to). A volume already in that order comes back unchanged (the same object).
    """
    from nibabel.orientations import axcodes2ornt, ornt_transform

    transform = ornt_transform(_orientation(volume.ijk_to_ras), axcodes2ornt(tuple(axcodes)))
    if np.array_equal(transform, [[0, 1], [1, 1], [2, 1]]):
        return volume
    return _reoriented(volume, transform)


def from_canonical(canonical: Volume, original: Volume) -> Volume:
    """The inverse of ``to_canonical``: a volume on ``to_canonical(original)``'s grid, on ``original``'s own grid.

    Exact: the voxels are reordered bit for bit and the matrix is ``original``'s. A ``ValueError``
    when ``canonical`` is not on a reorientation of ``original``'s grid.
    """
    from nibabel.orientations import ornt_transform

    transform = ornt_transform(_orientation(canonical.ijk_to_ras), _orientation(original.ijk_to_ras))
    back = _reoriented(canonical, transform)
    if not back.same_grid(original):
        raise ValueError(f"a volume of {canonical.describe_grid()} is not on a reorientation of the grid of {original.describe_grid()}")
    return Volume(back.array, original.ijk_to_ras.copy())


def package_orientation(config: dict) -> str:
    """The axis order a model package's networks were trained in: its ``orientation`` (RAS when absent)."""
    codes = config.get("orientation", CANONICAL)
    axes = [{"L": 0, "R": 0, "P": 1, "A": 1, "I": 2, "S": 2}.get(c) for c in str(codes)]
    if len(axes) != 3 or sorted(a for a in axes if a is not None) != [0, 1, 2]:
        raise ModelError(f"The model's 'orientation' is '{codes}'; it must be three axis letters such as RAS or LPS.")
    return str(codes)


def bounding_box(mask: np.ndarray, margin: int = 0) -> tuple[slice, ...]:
    """The bounding box of ``mask``'s true voxels widened by ``margin`` voxels (inside the array); the whole array when none is."""
    boxes = ndimage.find_objects(np.asarray(mask).astype(np.uint8))
    if not boxes:
        return tuple(slice(0, n) for n in mask.shape)
    return tuple(slice(max(s.start - margin, 0), min(s.stop + margin, n)) for s, n in zip(boxes[0], mask.shape))


def data_box(volume: Volume) -> tuple[slice, slice, slice]:
    """The box of ``volume``'s voxels outside which every plane at the array's ends is exactly zero.

    A registered or resampled image is padded with zeros where the scanner recorded nothing: such
    planes lie outside the field of view, not in air (a scanner's air has noise). The whole grid when
    nothing is zero-padded or everything is zero.
    """
    box = bounding_box(np.asarray(volume.array) != 0)
    return (box[0], box[1], box[2])


def crop(volume: Volume, box: tuple[slice, slice, slice]) -> Volume:
    """The voxels of ``box`` (unit-step slices) with the matrix that keeps each of them where it is in the world."""
    start = np.array([s.start for s in box], float)
    ijk_to_ras = volume.ijk_to_ras.copy()
    ijk_to_ras[:3, 3] = volume.ijk_to_ras[:3, :3] @ start + volume.ijk_to_ras[:3, 3]
    return Volume(np.ascontiguousarray(np.asarray(volume.array)[box]), ijk_to_ras)
