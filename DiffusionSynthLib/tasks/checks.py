"""Input checks shared by the tasks: each failure is one ``InputError`` sentence."""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from ..volume import Volume

CT_AIR_HU = (-1100, -900)  # a CT's air, whatever its rescale (-1000 or -1024)
CT_AIR_SHARE = 0.05  # a head CT has far more air around the head than this; an MR has no voxel at -1000
CT_BONE_HU = 1000
CT_BONE_SHARE = 0.001


def require_content(volume: Volume, what: str) -> None:
    """Refuse images without usable signal (constant, or no foreground)."""
    array = volume.array
    if array.size == 0 or array.min() == array.max():  # not np.ptp: it overflows on extreme values
        raise InputError(f"The {what} is constant (every voxel has the same value); give a real image.")


def require_not_ct(volume: Volume, what: str, task: str = "this task makes a CT from an MR") -> None:
    """Refuse a CT given as an MR: Hounsfield units, air at about -1000 (a large share) and bone above 1000. ``task``
    says what the task does, in the sentence that tells the user what to give instead."""
    sample = np.asarray(volume.array).ravel()[:: max(1, volume.array.size // 1_000_000)]
    air = float(np.mean((sample >= CT_AIR_HU[0]) & (sample <= CT_AIR_HU[1])))
    bone = float(np.mean(sample > CT_BONE_HU))
    if air >= CT_AIR_SHARE and bone >= CT_BONE_SHARE:
        raise InputError(
            f"The {what} looks like a CT in Hounsfield units ({100 * air:.0f}% of its voxels are air at about -1000, "
            f"{100 * bone:.1f}% bone above {CT_BONE_HU}): {task}; give the head's MR image{'' if 'CT from' in task else 's'} (T1- or T2-weighted)."
        )
