"""A forecast day's images: the inpainting task removes tumour where it receded and adds it, by sub-region, where it grew.

With an inpainting package that holds a glioma appearance (``prior.glioma``) the added tumour is
placed by sub-region (BraTS 2013 labels, ``forecast_subregions``): the enhancing rim (4) on the
advancing front, the outer ``RIM_MM`` of the grown tumour; necrosis (1) behind it, where the tumour
grew deeper than the rim, and the baseline's rim where the front has moved past it; oedema
(2) in a ``OEDEMA_MM`` band ahead of the new front, outside the band the baseline already had. An
older package adds its own lesion in the grown region. Where the mask did not change nothing is
rendered: day 0, or a day with the baseline's mask, is the input, bit for bit.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from ..engine.progress import CancelCheck, ProgressCallback, never_cancel, no_progress
from ..errors import InputError
from ..models.package import ModelPackage
from ..volume import Volume

RIM_MM = 4.0  # the enhancing rim's thickness at the front (the real rims here: 2-6 mm)
OEDEMA_MM = 6.0  # the band of oedema ahead of the front


def forecast_subregions(baseline: np.ndarray, grown: np.ndarray, spacing: Sequence[float]) -> np.ndarray:
    """BraTS 2013 labels of what changes between ``baseline`` and ``grown`` (0 where the image stays as it is)."""
    sampling = [float(s) for s in spacing]
    labels = np.zeros(grown.shape, np.uint8)
    added = grown & ~baseline
    if not added.any():
        return labels
    depth_grown = ndimage.distance_transform_edt(grown, sampling=sampling)
    depth_baseline = ndimage.distance_transform_edt(baseline, sampling=sampling)
    labels[added & (depth_grown <= RIM_MM)] = 4
    labels[added & (depth_grown > RIM_MM)] = 1
    behind = baseline & (depth_baseline <= RIM_MM) & (depth_grown > RIM_MM) & (depth_grown > depth_baseline)
    labels[behind] = 1  # the old rim where the front has moved past it
    ahead = ndimage.distance_transform_edt(~grown, sampling=sampling) <= OEDEMA_MM
    already = ndimage.distance_transform_edt(~baseline, sampling=sampling) <= OEDEMA_MM
    labels[ahead & ~already & ~grown] = 2
    return labels


def _inpaint(current: dict[str, Volume], region: np.ndarray, mode: str, labels: np.ndarray | None, model: ModelPackage, **options) -> dict[str, Volume]:
    from .inpaint import inpaint

    reference = next(iter(current.values()))
    try:
        result = inpaint(
            current, reference.with_array(region.astype(np.uint8)), mode, model, labels=None if labels is None else reference.with_array(labels), **options
        )
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
    """Each given sequence with ``remove`` inside (baseline - grown), then ``add`` where it grew (by sub-region when the
    package can). ``spacing``: the voxel size in mm when the header lost it (as for the physics). Beyond the inpainting's
    blend margin every voxel is the input's. ``progress`` gets ``(step, total, message)`` over both inpainting runs."""
    reference = next(iter(inputs.values()))
    voxel_mm = reference.spacing if spacing is None else spacing
    glioma = "glioma" in inpaint_model.config.get("prior", {})
    labels = forecast_subregions(baseline, grown, voxel_mm) if glioma else None
    added = labels > 0 if labels is not None else grown & ~baseline
    regions = [(mode, region) for mode, region in (("remove", baseline & ~grown), ("add", added)) if region.any()]
    current = dict(inputs)
    for index, (mode, region) in enumerate(regions):

        def scaled(step: int, total: int, message: str, index: int = index, mode: str = mode) -> None:
            progress(index * total + step, len(regions) * total, f"{mode} {message}")

        sub_regions = labels if mode == "add" else None
        current = _inpaint(current, region, mode, sub_regions, inpaint_model, steps=steps, seed=seed, device=device, progress=scaled, cancel=cancel)
    return current
