"""Inputs of the speed benchmark: real images centre-cropped or zero-padded to a size; one run per task.

- mri-to-ct: the Colin27 T1 head (Debian's mricron-data, 1 mm);
- impute: a real brain case (1 mm, SRI24 space) with T1n, T1c, T2w given and T2-FLAIR missing;
- inpaint: the same case's four sequences, remove inside a 12 mm-radius ball at the grid centre;
- forecast: the same case's T1c with that ball as the baseline tumour, forecast at day 90
  (growth physics, then the inpainting renders of that day).

``task_runner`` reads the inputs and the model first, then returns the timed part; ``cli_arguments``
writes the same inputs as files for a whole ``diffusionsynth`` command.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from DiffusionSynthLib.geometry import resample_to_spacing
from DiffusionSynthLib.volume import Volume, read_volume, write_volume

from _common import DATA

COLIN = Path("/usr/share/mricron/templates/ch2.nii.gz")
BRAIN_CASE = DATA / "brain_tumour_mri" / "BraTS-GLI-00001-000"
BALL_RADIUS_MM = 12.0
FORECAST_DAYS = [90]
TASKS = ("mri-to-ct", "impute", "inpaint", "forecast")
MODEL_TASK = {"mri-to-ct": "mri-to-ct", "impute": "impute", "inpaint": "inpaint", "forecast": "inpaint"}  # whose sampler runs
SEQUENCES = {"mri-to-ct": (), "impute": ("t1n", "t1c", "t2w"), "inpaint": ("t1n", "t1c", "t2w", "t2f"), "forecast": ("t1c",)}


@dataclasses.dataclass
class Inputs:
    """What one task reads: images by name (``mri`` for MRI->CT) and, for inpaint and forecast, a mask."""

    images: dict[str, Volume]
    mask: Volume | None = None


def crop_or_pad(volume: Volume, shape: Sequence[int]) -> Volume:
    """Centre-crop or zero-pad to ``shape``, keeping the voxels' positions in space."""
    out = np.zeros(tuple(shape), volume.array.dtype)
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


def task_inputs(task: str, shape: Sequence[int], spacing_mm: float | None = None) -> Inputs:
    """The task's real inputs at ``shape`` (resampled first to ``spacing_mm`` when given)."""

    def sized(path: Path, label: str) -> Volume:
        volume = read_volume(path, label)
        if spacing_mm:
            volume = resample_to_spacing(volume, [spacing_mm] * 3)
        return crop_or_pad(volume, shape)

    if task == "mri-to-ct":
        return Inputs({"mri": sized(COLIN, "Colin27")})
    images = {name: sized(BRAIN_CASE / f"{name}.nii.gz", name) for name in SEQUENCES[task]}
    return Inputs(images, ball(next(iter(images.values()))) if task in ("inpaint", "forecast") else None)


def task_runner(
    task: str, inputs: Inputs, model: Any, steps: int | None, samples: int | None = None, renderer: Any = None, device: str = "cpu"
) -> Callable[[Callable], Any]:
    """``run(progress)`` that does the whole task once on ``inputs`` with ``model`` (and a forecast's ``renderer``), already loaded."""
    options: dict[str, Any] = {"steps": steps, "device": device}
    if samples is not None:
        options["samples"] = samples
    if task == "mri-to-ct":
        from DiffusionSynthLib.tasks.mri_to_ct import mri_to_ct

        return lambda progress: mri_to_ct(inputs.images["mri"], model, progress=progress, **options)
    if task == "impute":
        from DiffusionSynthLib.tasks.impute import impute

        return lambda progress: impute(inputs.images, model, progress=progress, **options)
    if task == "inpaint":
        from DiffusionSynthLib.tasks.inpaint import inpaint

        return lambda progress: inpaint(inputs.images, inputs.mask, "remove", model, progress=progress, **options)
    if task == "forecast":
        from DiffusionSynthLib.tasks.forecast import forecast

        return lambda progress: forecast(inputs.images, inputs.mask, FORECAST_DAYS, model, renderer, progress=progress, **options)
    raise ValueError(f"unknown task {task}")


def output_arrays(result: Any, prefix: str = "") -> dict[str, np.ndarray]:
    """Every volume a task returned, by its path in the result (``ct``, ``outputs.t2f``, ``images.90.t1c``...)."""
    if isinstance(result, Volume):
        return {prefix.strip("."): np.asarray(result.array)}
    if dataclasses.is_dataclass(result) and not isinstance(result, type):
        items = {field.name: getattr(result, field.name) for field in dataclasses.fields(result)}
    elif isinstance(result, dict):
        items = {str(key): value for key, value in result.items()}
    else:
        return {}
    arrays: dict[str, np.ndarray] = {}
    for name, value in items.items():
        arrays.update(output_arrays(value, f"{prefix}{name}."))
    return arrays


def cli_arguments(task: str, inputs: Inputs, folder: Path) -> list[str]:
    """Write ``inputs`` as NIfTI files in ``folder``; the ``diffusionsynth`` arguments that run the task on them."""
    files = {name: str(write_volume(volume, folder / f"{name}.nii.gz")) for name, volume in inputs.images.items()}
    common = ["--device", "cpu", "--progress", "none"]
    if task == "mri-to-ct":
        return ["mri-to-ct", "--mri", files["mri"], "--output", str(folder / "out.nii.gz"), *common]
    given = [arg for name, path in files.items() for arg in (f"--{name}", path)]
    out = ["--output-dir", str(folder / "out")]
    if task == "impute":
        return ["impute", *given, *out, *common]
    assert inputs.mask is not None
    mask = str(write_volume(inputs.mask, folder / "mask.nii.gz"))
    if task == "inpaint":
        return ["inpaint", *given, "--mask", mask, "--mode", "remove", *out, *common]
    return ["forecast", *given, "--tumour-mask", mask, "--days", *map(str, FORECAST_DAYS), *out, *common]
