"""One patient's growth problem: tissue, tumour and a coarse working grid, prepared once, run for any parameters.

The physics runs on a working grid with the input's axes in RAS order (``to_canonical``: the
tissue classes work slice by slice, so the same head stored in any voxel order must reach them in
one order) and voxels no finer than ``solver_spacing_mm`` (thick slices are kept as they are),
cropped to the brain. The density
starts as the travelling-wave profile of Fisher-Kolmogorov around the segmented tumour (the
visible density at its edge, decaying over sqrt(D/rho) beyond it: the cells a scan does not
show), and comes back to the input grid by linear interpolation. A forecast mask is where the
density reaches the visible threshold, inside brain tissue, less the baseline's necrotic core
(the holes of a ring of enhancement stay holes).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ..geometry import from_canonical, grid_at_spacing, resample, to_canonical
from ..volume import Volume
from . import tissue as tissue_classes
from .fisher_kolmogorov import simulate
from .parameters import GrowthParameters

SOLVER_SPACING_MM = 2.0


@dataclass
class GrowthDomain:
    physical: Volume  # the input's voxels with the spacing the physics uses
    tissue: np.ndarray  # classes on the input grid (see ``tissue``)
    tumour: np.ndarray  # baseline mask (bool, input grid)
    core: np.ndarray  # necrotic core: inside the filled tumour, not in the mask
    allowed: np.ndarray  # where a forecast mask may lie: brain tissue or the filled tumour
    signed_input_mm: np.ndarray  # distance to the filled tumour's edge on the input grid, negative inside
    work_shape: tuple[int, int, int]
    work_matrix: np.ndarray
    crop: tuple[slice, slice, slice]
    white: np.ndarray  # white-matter fraction on the cropped working grid
    grey: np.ndarray
    signed_mm: np.ndarray  # distance to the filled tumour's edge, negative inside (cropped working grid)

    @property
    def work_spacing(self) -> np.ndarray:
        return np.linalg.norm(self.work_matrix[:3, :3], axis=0)

    def diffusivity(self, parameters: GrowthParameters) -> np.ndarray:
        """D (mm^2/day) per working voxel; zero where less than half the voxel is brain tissue."""
        d = self.white * parameters.diffusivity_white + self.grey * parameters.diffusivity_grey
        return np.where(self.white + self.grey >= 0.5, d, 0.0).astype(np.float32)

    def initial_density(self, parameters: GrowthParameters) -> np.ndarray:
        """The travelling-wave profile: ``threshold`` at the edge, towards 1 inside, decaying outside."""
        tail = parameters.tail_mm(floor=float(self.work_spacing.min()))
        c = parameters.threshold
        z = np.clip(self.signed_mm / tail, -50.0, 50.0)
        return (1.0 / (1.0 + (1.0 - c) / c * np.exp(z))).astype(np.float32)

    def densities(self, parameters: GrowthParameters, days: Sequence[int], progress: Callable[[float], None] | None = None) -> dict[int, np.ndarray]:
        """Density on the cropped working grid at each day."""
        return simulate(self.initial_density(parameters), self.diffusivity(parameters), self.work_spacing, parameters.proliferation, days, progress=progress)

    def on_input_grid(self, density: np.ndarray) -> np.ndarray:
        """A cropped working-grid field, linearly interpolated onto the input grid (float32)."""
        full = np.zeros(self.work_shape, np.float32)
        full[self.crop] = density
        work = Volume(full, self.work_matrix)
        return resample(work, self.physical.shape, self.physical.ijk_to_ras).array

    def mask(self, density: np.ndarray, parameters: GrowthParameters) -> np.ndarray:
        """The visible tumour (bool, input grid) for a working-grid density."""
        return (self.on_input_grid(density) >= parameters.threshold) & self.allowed & ~self.core

    def forecast(self, parameters: GrowthParameters, days: Sequence[int], progress: Callable[[float], None] | None = None) -> dict[int, np.ndarray]:
        return {day: self.mask(u, parameters) for day, u in self.densities(parameters, days, progress).items()}

    def moved_front(self, forecast: np.ndarray, fraction: float) -> np.ndarray:
        """The baseline's edge moved ``fraction`` of the way to a forecast's: 0 is the baseline mask, 1 the forecast.

        Interpolates the signed distances (mm, negative inside) to the two edges, the forecast's
        filled with the necrotic core like the baseline's, and keeps the forecast's rules (brain
        tissue or the filled tumour, never the core). A front-movement factor, not a time.
        """
        if fraction <= 0:
            return self.tumour.copy()
        if fraction >= 1:
            return forecast.copy()
        return self._between(self._signed_to(forecast), fraction)

    def _signed_to(self, forecast: np.ndarray) -> np.ndarray:
        """Signed distance (mm, negative inside) to ``forecast``'s edge, filled with the necrotic core like the baseline's."""
        filled = forecast | self.core
        sp = self.physical.spacing
        if filled.any():
            return ndimage.distance_transform_edt(~filled, sampling=sp) - ndimage.distance_transform_edt(filled, sampling=sp)
        return np.full(filled.shape, float(np.linalg.norm(np.asarray(filled.shape) * sp)))  # vanished: its edge is beyond any distance

    def _between(self, after: np.ndarray, fraction: float) -> np.ndarray:
        signed = (1.0 - fraction) * self.signed_input_mm + fraction * after
        return (signed <= 0) & self.allowed & ~self.core

    def front_to_volume(self, forecast: np.ndarray, target_voxels: float, iterations: int = 12) -> tuple[np.ndarray, float]:
        """The front moved towards ``forecast``'s just far enough to hold ``target_voxels`` (bisection on the factor).

        (mask, factor); 0 (the baseline) when the target is no larger than the baseline; when even the forecast holds
        less, the forecast with the baseline (factor 1): the tumour never ends smaller than it started where the curve
        says it grows, and never beyond the physics. Used with ``volume_curve``: the physics gives the direction, the
        curve the volume.
        """
        if target_voxels <= self.tumour.sum():
            return self.tumour.copy(), 0.0
        if forecast.sum() <= target_voxels:
            return forecast | self.tumour, 1.0
        after = self._signed_to(forecast)  # the distances do not depend on the factor: computed once
        low, high = 0.0, 1.0
        for _ in range(iterations):
            middle = (low + high) / 2
            if self._between(after, middle).sum() < target_voxels:
                low = middle
            else:
                high = middle
        return self._between(after, high), high


def prepare_domain(t1c: Volume, tumour: np.ndarray, spacing: Sequence[float] | None = None, solver_spacing_mm: float = SOLVER_SPACING_MM) -> GrowthDomain:
    """Classify tissue and build the working grid for a baseline T1c and its tumour mask (same grid).

    Args:
        spacing: voxel size (mm) for the physics when the header's is wrong; default: the header's.
    """
    from ..growth.longitudinal import with_spacing

    physical = with_spacing(t1c, spacing) if spacing is not None else t1c
    tumour = np.asarray(tumour, bool)
    canonical, tumour_canonical = to_canonical(physical), to_canonical(physical.with_array(tumour)).array

    def on_input(array: np.ndarray) -> np.ndarray:  # a canonical-grid array back on the input grid, exactly
        return from_canonical(canonical.with_array(array), physical).array

    classes = on_input(tissue_classes.classify(canonical, tumour_canonical))
    filled = on_input(tissue_classes.fill_slices(tumour_canonical, canonical.spacing))
    core = filled & ~tumour
    allowed = np.isin(classes, (tissue_classes.GREY, tissue_classes.WHITE)) | filled
    sp = physical.spacing
    signed = ndimage.distance_transform_edt(~filled, sampling=sp) - ndimage.distance_transform_edt(filled, sampling=sp)

    work_spacing = np.maximum(canonical.spacing, solver_spacing_mm)
    shape, matrix = grid_at_spacing(canonical, work_spacing)

    def to_work(array: np.ndarray) -> np.ndarray:
        return resample(physical.with_array(array.astype(np.float32)), shape, matrix).array

    white = to_work(classes == tissue_classes.WHITE)
    grey = to_work(classes == tissue_classes.GREY)
    tissue_work = white + grey >= 0.5
    if not tissue_work.any():
        tissue_work = np.ones(shape, bool)
    nonzero = np.nonzero(ndimage.binary_dilation(tissue_work))
    crop = tuple(slice(int(idx.min()), int(idx.max()) + 1) for idx in nonzero)
    signed_work = resample(physical.with_array(signed.astype(np.float32)), shape, matrix, default=1e3).array
    return GrowthDomain(
        physical=physical,
        tissue=classes,
        tumour=tumour,
        core=core,
        allowed=allowed,
        signed_input_mm=signed.astype(np.float32),
        work_shape=tuple(shape),
        work_matrix=matrix,
        crop=crop,
        white=white[crop],
        grey=grey[crop],
        signed_mm=signed_work[crop],
    )
