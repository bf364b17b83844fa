"""MRI -> pseudo-CT: resample to the model's spacing, head mask, percentile normalisation (prepare);
conditional latent diffusion (sample); back onto the MR's exact grid in int16 HU with air outside
the head (finish)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..engine.progress import CancelCheck, ProgressCallback, never_cancel, no_progress
from ..errors import InputError
from ..geometry import resample, resample_to_spacing
from ..intensity import ct_knots, head_mask_mr, normalise_mr, unit_to_hu
from ..models.package import ModelPackage
from ..volume import Volume
from .checks import require_content
from .run import TaskRun

AIR_HU = -1000


@dataclass
class PseudoCt:
    ct: Volume  # int16 HU on the MR's grid
    std: Volume | None  # float32 HU, when samples > 1
    head_mask: np.ndarray  # bool, MR grid
    steps: int
    seed: int


def mri_to_ct(
    mri: Volume,
    model: ModelPackage,
    steps: int | None = None,
    seed: int = 0,
    samples: int = 1,
    device: str = "auto",
    progress: ProgressCallback = no_progress,
    cancel: CancelCheck = never_cancel,
) -> PseudoCt:
    """A pseudo-CT in Hounsfield units on exactly ``mri``'s grid (the input is not modified)."""
    require_content(mri, "MR image")
    run = TaskRun(model, "mri-to-ct", steps, seed, samples, device, progress, cancel)

    # prepare
    small = resample_to_spacing(mri, model.config["spacing_mm"])
    mask_small = head_mask_mr(small)
    if mask_small.sum() < 100:
        raise InputError("No head could be found in the MR image (the foreground is too small); check the file.")
    condition = normalise_mr(small.array, mask_small)[None]
    run.prepared()

    # sample
    units = run.sample(condition)
    hu = unit_to_hu(units[:, 0], ct_knots(model.config))  # (K, X, Y, Z)

    # finish: back to the MR grid, air outside the head
    head = head_mask_mr(mri)
    mean = resample(small.with_array(hu.mean(axis=0)), mri.shape, mri.ijk_to_ras, "linear", AIR_HU).array
    ct = np.where(head, np.rint(mean), AIR_HU).astype(np.int16)
    std_volume = None
    if samples > 1:
        std = resample(small.with_array(hu.std(axis=0)), mri.shape, mri.ijk_to_ras, "linear", 0.0).array
        std_volume = mri.with_array(np.where(head, std, 0.0).astype(np.float32))
    run.done()
    return PseudoCt(ct=mri.with_array(ct), std=std_volume, head_mask=head, steps=run.steps, seed=seed)
