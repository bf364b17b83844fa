"""Input checks shared by the tasks: each failure is one ``InputError`` sentence."""

from __future__ import annotations

from ..errors import InputError
from ..volume import Volume


def require_content(volume: Volume, what: str) -> None:
    """Refuse images without usable signal (constant, or no foreground)."""
    array = volume.array
    if array.size == 0 or array.min() == array.max():  # not np.ptp: it overflows on extreme values
        raise InputError(f"The {what} is constant (every voxel has the same value); give a real image.")
