"""A forecast day's images: the patient's own tumour grown by deformation, inpainting for what a deformation cannot show.

``day_plan`` splits the change from the baseline mask to the day's mask in three:
- where the tumour grew outwards from its centre, ``growth_warp`` stretches the baseline tumour onto the grown mask
  and pushes the brain around it aside (mass effect): the tumour keeps its own rim, core and texture;
- where the stretched tumour lies outside the day's mask (it receded), ``inpaint --mode remove`` fills healthy tissue;
- where the day's mask reaches beyond the stretched tumour (a new focus, a shape the radial stretch cannot reach),
  ``inpaint --mode add`` places a glioma whose sub-region layout is drawn from the real ones (the lesion bank of an
  inpainting package that has one).
Slivers of the day's mask thinner than about two voxels (in-plane; one slice) are not added, so no one-voxel rim or
speck is drawn; every voxel of the baseline tumour the day's mask no longer holds is removed, so no old rim is left
standing (a stretch's own overshoot of a voxel past the day's mask is not worth an inpainting run). Where the mask
did not change nothing is rendered: day 0, or a day with the baseline's mask, is the input, bit for bit; beyond the
deformation's reach and the inpainting's blend margin every voxel is the input's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ..engine.progress import CancelCheck, ProgressCallback, never_cancel, no_progress
from ..errors import InputError
from ..masks import BLEND_MARGIN_VOXELS
from ..models.package import ModelPackage
from ..volume import Volume
from .forecast_warp import GrowthWarp, growth_warp

SLIVER_MM = 2.0  # axes with voxels up to this size are opened by one voxel (coarser axes: not at all)


@dataclass
class DayPlan:
    """How a day's images are made from the baseline's (see the module's text)."""

    warp: GrowthWarp | None
    remove: np.ndarray
    add: np.ndarray

    def changed(self, shape: Sequence[int]) -> np.ndarray:
        """Voxels that may differ from the input: the deformation's zone and the inpainted regions with their blend margin."""
        inpainted = self.remove | self.add
        zone = ndimage.distance_transform_edt(~inpainted) <= BLEND_MARGIN_VOXELS if inpainted.any() else np.zeros(tuple(shape), bool)
        if self.warp is not None:
            zone |= self.warp.zone(shape)
        return zone


def _without_slivers(region: np.ndarray, spacing: Sequence[float]) -> np.ndarray:
    radius = [1 if float(s) <= SLIVER_MM else 0 for s in spacing]
    structure = np.ones([2 * r + 1 for r in radius], bool)
    return ndimage.binary_opening(region, structure) if region.any() else region


def day_plan(baseline: np.ndarray, grown: np.ndarray, spacing: Sequence[float]) -> DayPlan:
    """The deformation and the regions to remove and add for the day whose mask is ``grown``."""
    if np.array_equal(baseline, grown):
        empty = np.zeros(baseline.shape, bool)
        return DayPlan(None, empty, empty)
    warp = growth_warp(baseline, grown, spacing)
    stretched = baseline if warp is None else warp.apply(baseline.astype(np.float32)) > 0.5
    beyond = stretched & ~grown
    remove = (beyond & baseline) | _without_slivers(beyond & ~baseline, spacing)  # not the stretch's own one-voxel overshoot
    return DayPlan(warp, remove, _without_slivers(grown & ~stretched, spacing))


def _inpaint(current: dict[str, Volume], region: np.ndarray, mode: str, model: ModelPackage, **options) -> dict[str, Volume]:
    from .inpaint import inpaint

    reference = next(iter(current.values()))
    try:
        result = inpaint(current, reference.with_array(region.astype(np.uint8)), mode, model, **options)
    except InputError as error:
        raise InputError(f"Rendering the forecast image ({mode} mode) failed: {error}") from None
    return {name: result.outputs[name] for name in current}


def render_day(
    inputs: dict[str, Volume],
    baseline: np.ndarray,
    grown: np.ndarray,
    inpaint_model: ModelPackage,
    steps: int | None = None,
    seed: int = 0,
    device: str = "auto",
    progress: ProgressCallback = no_progress,
    cancel: CancelCheck = never_cancel,
    spacing: Sequence[float] | None = None,
) -> dict[str, Volume]:
    """Each given sequence deformed by the day's growth, then ``remove`` and ``add`` where the deformation cannot show
    the day's mask (``day_plan``). ``spacing``: the voxel size in mm when the header lost it (as for the physics).
    ``progress`` gets ``(step, total, message)`` over the inpainting runs."""
    reference = next(iter(inputs.values()))
    plan = day_plan(baseline, grown, reference.spacing if spacing is None else spacing)
    current = dict(inputs)
    if plan.warp is not None:
        warp = plan.warp
        current = {name: volume.with_array(warp.apply(np.asarray(volume.array))) for name, volume in current.items()}
    regions = [(mode, region) for mode, region in (("remove", plan.remove), ("add", plan.add)) if region.any()]
    for index, (mode, region) in enumerate(regions):

        def scaled(step: int, total: int, message: str, index: int = index, mode: str = mode) -> None:
            progress(index * total + step, len(regions) * total, f"{mode} {message}")

        current = _inpaint(current, region, mode, inpaint_model, steps=steps, seed=seed, device=device, progress=scaled, cancel=cancel)
    return current
