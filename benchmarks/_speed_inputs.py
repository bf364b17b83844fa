"""Inputs of the speed benchmark: real images centre-cropped or zero-padded to a size, and one run per task.

- mri-to-ct: the Colin27 T1 head (Debian's mricron-data, 1 mm);
- impute: a real brain case (1 mm, SRI24 space) with T1n, T1c, T2w given and T2-FLAIR missing;
- inpaint: the same case's four sequences, remove inside a 12 mm-radius ball at the grid centre;
- forecast: the same case's T1c with that ball as the baseline tumour, forecast at day 90
  (growth physics, then the inpainting renders of that day).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from _common import DATA

from DiffusionSynthLib.volume import Volume, read_volume

COLIN = "/usr/share/mricron/templates/ch2.nii.gz"
BRAIN_CASE = DATA / "brain_tumour_mri" / "BraTS-GLI-00001-000"
BALL_RADIUS_MM = 12.0
FORECAST_DAYS = [90]
TASKS = ("mri-to-ct", "impute", "inpaint", "forecast")
MODEL_TASK = {"mri-to-ct": "mri-to-ct", "impute": "impute", "inpaint": "inpaint", "forecast": "inpaint"}  # whose sampler runs


def crop_or_pad(volume: Volume, shape: tuple[int, int, int]) -> Volume:
    """Centre-crop or zero-pad to ``shape``, keeping the voxels' positions in space."""
    out = np.zeros(shape, volume.array.dtype)
    src, dst, offset = [], [], []
    for n, s in zip(volume.shape, shape):
        start = (n - s) // 2
        src.append(slice(max(start, 0), max(start, 0) + min(n, s)))
        dst.append(slice(max(-start, 0), max(-start, 0) + min(n, s)))
        offset.append(start)
    out[tuple(dst)] = volume.array[tuple(src)]
    matrix = volume.ijk_to_ras.copy()
    matrix[:3, 3] = (volume.ijk_to_ras @ np.array([*offset, 1.0]))[:3]
    return Volume(out, matrix)


def ball(reference: Volume, radius_mm: float = BALL_RADIUS_MM) -> Volume:
    grid = np.indices(reference.shape, dtype=np.float32)
    centre = (np.array(reference.shape) - 1) / 2.0
    distance = np.sqrt(sum(((grid[a] - centre[a]) * reference.spacing[a]) ** 2 for a in range(3)))
    return reference.with_array((distance <= radius_mm).astype(np.uint8))


def brain_inputs(shape: tuple[int, int, int], names: tuple[str, ...]) -> dict[str, Volume]:
    return {name: crop_or_pad(read_volume(BRAIN_CASE / f"{name}.nii.gz"), shape) for name in names}


def task_runner(task: str, shape: tuple[int, int, int], steps: int | None) -> Callable[[Callable], object]:
    """Read the inputs and models now; return ``run(progress)`` that does the whole task once."""
    from DiffusionSynthLib.models import resolve_model

    if task == "mri-to-ct":
        from DiffusionSynthLib.tasks.mri_to_ct import mri_to_ct

        mri, model = crop_or_pad(read_volume(COLIN, "Colin27"), shape), resolve_model(None, "mri-to-ct")
        return lambda progress: mri_to_ct(mri, model, steps=steps, device="cpu", progress=progress)
    if task == "impute":
        from DiffusionSynthLib.tasks.impute import impute

        volumes, model = brain_inputs(shape, ("t1n", "t1c", "t2w")), resolve_model(None, "impute")
        return lambda progress: impute(volumes, model, steps=steps, device="cpu", progress=progress)
    if task == "inpaint":
        from DiffusionSynthLib.tasks.inpaint import inpaint

        volumes, model = brain_inputs(shape, ("t1n", "t1c", "t2w", "t2f")), resolve_model(None, "inpaint")
        mask = ball(volumes["t1n"])
        return lambda progress: inpaint(volumes, mask, "remove", model, steps=steps, device="cpu", progress=progress)
    if task == "forecast":
        from DiffusionSynthLib.tasks.forecast import forecast

        volumes = brain_inputs(shape, ("t1c",))
        model = resolve_model(None, "forecast")
        renderer = resolve_model(model.config.get("render", {}).get("inpaint_model"), "inpaint")
        tumour = ball(volumes["t1c"])
        return lambda progress: forecast(volumes, tumour, FORECAST_DAYS, model, renderer, steps=steps, device="cpu", progress=progress)
    raise ValueError(f"unknown task {task}")
