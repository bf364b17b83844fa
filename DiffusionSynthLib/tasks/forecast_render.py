"""A forecast day's images: the inpainting task removes tumour where it receded and adds it where it grew."""

from __future__ import annotations

import numpy as np

from ..engine.progress import CancelCheck, ProgressCallback, never_cancel, no_progress
from ..errors import InputError
from ..models.package import ModelPackage
from ..volume import Volume


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
) -> dict[str, Volume]:
    """Each given sequence with ``remove`` inside (baseline - grown), then ``add`` inside (grown - baseline).

    Where neither region is (beyond the inpainting's blend margin) every voxel is the input's.
    ``progress`` gets ``(step, total, message)`` over both inpainting runs.
    """
    from .inpaint import inpaint

    reference = next(iter(inputs.values()))
    regions = [(mode, region) for mode, region in (("remove", baseline & ~grown), ("add", grown & ~baseline)) if region.any()]
    current = dict(inputs)
    for index, (mode, region) in enumerate(regions):

        def scaled(step: int, total: int, message: str, index: int = index, mode: str = mode) -> None:
            progress(index * total + step, len(regions) * total, f"{mode} {message}")

        try:
            result = inpaint(
                current,
                reference.with_array(region.astype(np.uint8)),
                mode,
                inpaint_model,
                steps=steps,
                seed=seed,
                device=device,
                progress=scaled,
                cancel=cancel,
            )
        except InputError as error:
            raise InputError(f"Rendering the forecast image ({mode} mode) failed: {error}") from None
        current = {name: result.outputs[name] for name in inputs}
    return current
