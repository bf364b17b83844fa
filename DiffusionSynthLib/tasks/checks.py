"""Input checks shared by the tasks: each failure is one ``InputError`` sentence."""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from ..volume import Volume


def require_content(volume: Volume, what: str) -> None:
    """Refuse images without usable signal (constant, or no foreground)."""
    array = volume.array
    if array.size == 0 or array.min() == array.max():  # not np.ptp: it overflows on extreme values
        raise InputError(f"The {what} is constant (every voxel has the same value); give a real image.")


def require_seeds(seed: int, samples: int) -> list[int]:
    if samples < 1:
        raise InputError("The number of samples must be 1 or more.")
    return [int(seed) + k for k in range(samples)]
