"""The Colin27 head and its brain (Debian's ``mricron-data``): a head no training set holds, and an atlas brain mask.

``atlas_brain_mask`` gives a coarse brain mask of a head MR that is not skull-stripped: Colin27's T1
head registered to it (similarity: rotation, one scale, shift; Mattes mutual information, so any
contrast), its brain (``ch2bet``) resampled onto the scan, kept inside the scan's head. Coarse: it
is for z-scoring and the training loss of such cases, not for measuring a brain.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from .errors import InputError
from .geometry import resample_to_spacing
from .intensity import head_mask_mr
from .registration import register_rigid, resample_with_transform
from .volume import Volume, read_volume

COLIN27 = Path("/usr/share/mricron/templates/ch2.nii.gz")  # Debian mricron-data: a head not in any training set
COLIN27_BRAIN = COLIN27.with_name("ch2bet.nii.gz")
REGISTRATION_SPACING_MM = 2.0


def atlas_brain_mask(head: Volume, log: Callable[[str], None] = lambda m: None) -> np.ndarray:
    """A coarse brain mask (bool, on ``head``'s grid) of a head MR that is not skull-stripped."""
    if not (COLIN27.is_file() and COLIN27_BRAIN.is_file()):
        raise InputError(
            f"The atlas brain mask needs Colin27 ({COLIN27} and {COLIN27_BRAIN.name}): install Debian's mricron-data "
            "(apt-get install mricron-data), or give a brain mask."
        )
    atlas, brain = read_volume(COLIN27, "Colin27 head"), read_volume(COLIN27_BRAIN, "Colin27 brain")
    coarse = [REGISTRATION_SPACING_MM] * 3  # a coarse mask needs no finer registration; the transform is in millimetres
    transform = register_rigid(resample_to_spacing(head, coarse), resample_to_spacing(atlas, coarse), log, scale=True, what="the Colin27 atlas to the scan")
    warped = resample_with_transform(brain.with_array((brain.array > 0).astype(np.float32)), head, transform)
    return (warped.array > 0.5) & head_mask_mr(head)
