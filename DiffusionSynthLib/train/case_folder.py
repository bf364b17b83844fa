"""``diffusionsynth prepare-case``: a brain training case folder from scans as they come (DICOM series included).

The first given sequence (in the order t1n, t1c, t2w, t2f) is the grid; every other one is
registered to it rigidly (Mattes mutual information: sequences of one session are rarely
voxel-aligned) and resampled onto it. The brain is the given mask, or, for scans that are not
skull-stripped, Colin27's brain registered to the first sequence (``atlas.atlas_brain_mask``).
Written as the BraTS cases are: ``<sequence>.nii.gz`` with zeros outside the brain,
``brain_mask.nii.gz``, and the tumour segmentation (a label map or a DICOM-SEG) as
``tumour_mask.nii.gz``: a whole-tumour mask, without sub-region labels. Everything is computed
before the first file is written, so a failure leaves no partial folder.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from ..atlas import atlas_brain_mask
from ..errors import InputError
from ..geometry import resample_like
from ..registration import register_rigid, resample_with_transform
from ..sequences import SEQUENCES
from ..volume import Volume, check_output_folder, write_volume
from .brain_cases import WHOLE_TUMOUR


def prepare_brain_case(
    images: Mapping[str, Volume],
    output: Path,
    tumour: Volume | None = None,
    brain: Volume | None = None,
    log: Callable[[str], None] = lambda m: None,
) -> dict[str, Path]:
    """Write the case folder ``output``; returns the written files by name."""
    given = [name for name in SEQUENCES if name in images]
    if not given:
        raise InputError("Give at least one sequence (--t1n, --t1c, --t2w or --t2f) to prepare a case.")
    check_output_folder(output)
    reference = images[given[0]]
    on_grid = {given[0]: reference.array.astype(np.float32)}
    for name in given[1:]:
        transform = register_rigid(reference, images[name], log, what=f"{name} to {given[0]}")
        on_grid[name] = resample_with_transform(images[name], reference, transform).array
        log(f"{name} registered to {given[0]}")
    if brain is not None:
        mask = resample_like(brain, reference, "nearest").array > 0
    else:
        mask = atlas_brain_mask(reference, log)
        log(f"brain mask from the Colin27 atlas: {mask.sum() * np.prod(reference.spacing) / 1000:.0f} ml")
    if not mask.any():
        raise InputError("The brain mask is empty; give a brain mask that covers the brain.")
    arrays = {f"{name}.nii.gz": np.where(mask, on_grid[name], 0.0).astype(np.float32) for name in given}
    arrays["brain_mask.nii.gz"] = mask.astype(np.uint8)
    if tumour is not None:
        lesion = resample_like(tumour, reference, "nearest").array > 0
        if not (lesion & mask).any():
            raise InputError("The tumour segmentation lies outside the brain mask; check that it belongs to these scans.")
        arrays[WHOLE_TUMOUR] = (lesion & mask).astype(np.uint8)
    output.mkdir(parents=True, exist_ok=True)
    return {name: write_volume(reference.with_array(array), output / name) for name, array in arrays.items()}
