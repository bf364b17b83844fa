"""Rigid mutual-information registration (SimpleITK) and SynthRAD-style pair preparation."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from .errors import InputError, OutputError
from .intensity import head_mask_ct
from .volume import Volume, check_output_folder, from_sitk, to_sitk, write_volume


def register_rigid(fixed: Volume, moving: Volume, log: Callable[[str], None] = lambda m: None, scale: bool = False, what: str = "the two images"):
    """Euler3D transform mapping fixed-space points into ``moving`` (Mattes MI, multi-resolution); with ``scale``, a
    Similarity3D transform (one isotropic scale more: another person's head). When ITK gives up (too few overlapping
    samples, degenerate images), an ``InputError`` naming ``what`` was registered."""
    import SimpleITK as sitk

    fixed_image = to_sitk(fixed, np.float32)
    moving_image = to_sitk(moving, np.float32)
    kind = sitk.Similarity3DTransform() if scale else sitk.Euler3DTransform()
    initial = sitk.CenteredTransformInitializer(fixed_image, moving_image, kind, sitk.CenteredTransformInitializerFilter.MOMENTS)
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
    try:
        transform = method.Execute(fixed_image, moving_image)
    except RuntimeError as error:
        reason = str(error).strip().splitlines()[-1][:200]
        raise InputError(f"Registering {what} failed ({reason}); check that they show the same head.") from None
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
    check_output_folder(output_dir)
    transform = register_rigid(ct, mri, log, what="the MR to the CT")
    mr_on_ct = resample_with_transform(mri, ct, transform)
    coverage = resample_with_transform(mri.with_array(np.ones(mri.shape, np.float32)), ct, transform)
    mask = head_mask_ct(ct) & (coverage.array > 0.99)
    if not mask.any():
        raise InputError("After registration the MR and CT do not overlap; check that they show the same patient.")
    volumes = {"mr": mr_on_ct, "ct": ct.with_array(ct.array.astype(np.int16)), "mask": ct.with_array(mask.astype(np.uint8))}
    created = not output_dir.exists()
    written: dict[str, Path] = {}
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        for name, volume in volumes.items():
            written[name] = write_volume(volume, output_dir / f"{name}.nii.gz")
    except BaseException as error:  # all three files or none
        for path in written.values():
            path.unlink(missing_ok=True)
        if created and output_dir.is_dir() and not any(output_dir.iterdir()):
            output_dir.rmdir()
        if isinstance(error, OSError):
            raise OutputError(f"The case folder '{output_dir}' could not be written ({error.strerror or error}).") from None
        raise
    return written
