"""Rigid mutual-information registration (SimpleITK) and SynthRAD-style pair preparation."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from .errors import InputError
from .intensity import head_mask_ct
from .volume import Volume, from_sitk, to_sitk, write_volume


def register_rigid(fixed: Volume, moving: Volume, log: Callable[[str], None] = lambda m: None):
    """Euler3D transform mapping fixed-space points into ``moving`` (Mattes MI, multi-resolution)."""
    import SimpleITK as sitk

    fixed_image = to_sitk(fixed, np.float32)
    moving_image = to_sitk(moving, np.float32)
    initial = sitk.CenteredTransformInitializer(
        fixed_image, moving_image, sitk.Euler3DTransform(), sitk.CenteredTransformInitializerFilter.MOMENTS
    )
    method = sitk.ImageRegistrationMethod()
    method.SetMetricAsMattesMutualInformation(numberOfHistogramBins=32)
    method.SetMetricSamplingStrategy(method.RANDOM)
    method.SetMetricSamplingPercentage(0.25, seed=7)
    method.SetInterpolator(sitk.sitkLinear)
    method.SetOptimizerAsRegularStepGradientDescent(learningRate=2.0, minStep=1e-4, numberOfIterations=300, relaxationFactor=0.6)
    method.SetOptimizerScalesFromPhysicalShift()
    method.SetShrinkFactorsPerLevel([4, 2, 1])
    method.SetSmoothingSigmasPerLevel([2.0, 1.0, 0.0])
    method.SmoothingSigmasAreSpecifiedInPhysicalUnitsOn()
    method.SetInitialTransform(initial, inPlace=False)
    transform = method.Execute(fixed_image, moving_image)
    log(f"registration: metric {method.GetMetricValue():.4f} after {method.GetOptimizerIteration()} iterations")
    return transform


def resample_with_transform(moving: Volume, reference: Volume, transform, default: float = 0.0) -> Volume:
    import SimpleITK as sitk

    out = sitk.Resample(to_sitk(moving, np.float32), to_sitk(reference), transform, sitk.sitkLinear, default, sitk.sitkFloat32)
    return from_sitk(out)


def prepare_pair(mri: Volume, ct: Volume, output_dir: Path, log: Callable[[str], None] = lambda m: None) -> dict[str, Path]:
    """Register the MR to the CT and write ``mr.nii.gz``, ``ct.nii.gz``, ``mask.nii.gz`` on the CT grid.

    The mask is the CT body where the registered MR has data (their overlap).
    """
    if not np.ptp(mri.array) or not np.ptp(ct.array):
        raise InputError("The MR or CT image is constant; a pair needs two real images.")
    transform = register_rigid(ct, mri, log)
    mr_on_ct = resample_with_transform(mri, ct, transform)
    coverage = resample_with_transform(mri.with_array(np.ones(mri.shape, np.float32)), ct, transform)
    mask = head_mask_ct(ct) & (coverage.array > 0.99)
    if not mask.any():
        raise InputError("After registration the MR and CT do not overlap; check that they show the same patient.")
    output_dir.mkdir(parents=True, exist_ok=True)
    return {
        "mr": write_volume(mr_on_ct, output_dir / "mr.nii.gz"),
        "ct": write_volume(ct.with_array(ct.array.astype(np.int16)), output_dir / "ct.nii.gz"),
        "mask": write_volume(ct.with_array(mask.astype(np.uint8)), output_dir / "mask.nii.gz"),
    }
