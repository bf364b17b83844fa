"""Growth as a deformation: the baseline tumour stretched onto the grown mask, the brain around it pushed aside.

A forecast day's tumour is, where it grew outwards, the patient's own tumour at a larger size: ``growth_warp``
maps every voxel of the day's image to a point of the baseline image, radially from the baseline tumour's deepest
point. Along each direction the baseline tumour's extent ``r_b`` lands on the grown mask's ``r_g``
(``r_g >= r_b``: where the tumour receded it is removed, not pulled in): its outer ``RIM_KEEP_MM`` (at most half its
extent) moves out unstretched, so an enhancing rim stays as thin as it was at the advancing front, and the interior
behind it (necrosis, the rest of the core) is stretched to fill; the tissue in the ``MASS_EFFECT_MM`` beyond
is compressed from ``[r_b, r_g + MASS_EFFECT_MM]`` into ``[r_g, r_g + MASS_EFFECT_MM]`` (mass effect), and nothing
moves further out. The extents are smoothed over neighbouring directions and the displacement over
``SMOOTH_MM``, so no direction's ray draws an edge. The tumour keeps its own rim, core and texture, only larger:
no drawn rim, band or line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ..priors.lesion_bank import fibonacci_directions, first_exit, nearest_direction

MASS_EFFECT_MM = 15.0  # the brain pushed aside within this distance of the grown tumour
RIM_KEEP_MM = 4.0  # the tumour's outer layer (an enhancing rim is 2-6 mm) keeps its thickness at the new front
SMOOTH_MM = 1.0  # the displacement field's smoothing (more would round the kink at the tumour's edge and shrink it)
DIRECTIONS = 2000
NEIGHBOUR_COS = float(np.cos(0.12))  # directions averaged together for each extent (about 7 degrees)


@dataclass
class GrowthWarp:
    """Per voxel of ``box`` (a sub-box of the grid), the baseline point (voxel coordinates of the whole grid) it shows."""

    box: tuple[slice, slice, slice]
    source: np.ndarray  # (3, *box shape)
    moved: np.ndarray  # box-shaped: voxels whose source is not themselves

    def apply(self, array: np.ndarray, order: int = 1) -> np.ndarray:
        """``array`` deformed (linear interpolation; ``order=0`` for labels); voxels that do not move keep their values."""
        out = array.copy()
        values = ndimage.map_coordinates(array, self.source[:, self.moved], order=order, mode="nearest")
        view = out[self.box]
        view[self.moved] = values.astype(array.dtype) if np.issubdtype(array.dtype, np.floating) else np.rint(values).astype(array.dtype)
        return out

    def zone(self, shape: Sequence[int]) -> np.ndarray:
        """The grid's voxels that move."""
        out = np.zeros(tuple(shape), bool)
        out[self.box] = self.moved
        return out


def extents_mm(mask: np.ndarray, centre: np.ndarray, directions: np.ndarray, spacing: np.ndarray) -> np.ndarray:
    """Per direction (unit vectors in mm), the distance (mm) from ``centre`` (voxels) to where the ray first leaves
    ``mask`` (halfway between its last sample inside and its first outside; 0 when the centre is outside)."""
    step = float(spacing.min()) / 2.0
    reach = float(np.linalg.norm(np.array(mask.shape) * spacing))
    steps = np.arange(step, reach + step, step)
    first_out = first_exit(mask, centre, directions / spacing, steps)
    return np.where(first_out > 0, steps[first_out] - step / 2.0, 0.0)


def _smoothed(values: np.ndarray, directions: np.ndarray) -> np.ndarray:
    near = (directions @ directions.T) >= NEIGHBOUR_COS
    return (near @ values) / near.sum(axis=1)


def growth_warp(baseline: np.ndarray, grown: np.ndarray, spacing: Sequence[float]) -> GrowthWarp | None:
    """The deformation of the module's text (None when the tumour did not grow outwards anywhere)."""
    if not baseline.any() or not (grown & ~baseline).any():
        return None
    sp = np.array([float(s) for s in spacing])
    depth = ndimage.distance_transform_edt(np.pad(baseline, 1), sampling=sp)[1:-1, 1:-1, 1:-1]
    centre = np.array(np.unravel_index(int(np.argmax(depth)), baseline.shape), np.float64)
    directions = fibonacci_directions(DIRECTIONS)
    r_b = _smoothed(extents_mm(baseline, centre, directions, sp), directions)
    r_g = np.maximum(_smoothed(extents_mm(grown, centre, directions, sp), directions), r_b)
    if not (r_g > r_b + 0.5 * sp.min()).any():
        return None
    reach = float(r_g.max()) + MASS_EFFECT_MM + 4.0 * SMOOTH_MM
    low = np.maximum(np.floor(centre - reach / sp).astype(int), 0)
    high = np.minimum(np.ceil(centre + reach / sp).astype(int) + 1, baseline.shape)
    box = tuple(slice(int(a), int(b)) for a, b in zip(low, high))
    grid = np.stack(np.meshgrid(*[np.arange(a, b, dtype=np.float64) for a, b in zip(low, high)], indexing="ij"))
    offset_mm = (grid - centre[:, None, None, None]) * sp[:, None, None, None]
    rho = np.sqrt((offset_mm**2).sum(axis=0))
    unit = offset_mm / np.maximum(rho, 1e-6)
    nearest = nearest_direction(unit.reshape(3, -1).T, directions, chunk=8192).reshape(rho.shape)
    rb, rg = r_b[nearest], r_g[nearest]
    band_end = rg + MASS_EFFECT_MM
    rim = np.minimum(RIM_KEEP_MM, rb / 2.0)  # the outer layer moved out unstretched, the interior stretched behind it
    inner_g, inner_b = rg - rim, rb - rim
    source_rho = np.select(
        [rho <= inner_g, rho <= rg, rho < band_end],  # the stretched interior, the rim moved out, the pushed-aside brain
        [rho * inner_b / np.maximum(inner_g, 1e-6), rho - (rg - rb), rb + (rho - rg) * (band_end - rb) / MASS_EFFECT_MM],
        default=rho,
    )
    displacement = unit * (source_rho - rho)[None] / sp[:, None, None, None]  # voxels
    sigma = [SMOOTH_MM / float(s) for s in sp]
    displacement = np.stack([ndimage.gaussian_filter(d, sigma, mode="nearest") for d in displacement])
    moved = np.abs(displacement).max(axis=0) > 1e-3
    return GrowthWarp(box, (grid + displacement).astype(np.float32), moved)
