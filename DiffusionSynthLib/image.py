"""The image type every module shares: a 3D array and its voxel-to-RAS matrix (no file formats here: ``volume``)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


@dataclass
class Volume:
    """A 3D scalar image: ``array[i, j, k]`` and the matrix mapping ``(i, j, k, 1)`` to RAS millimetres (and, for a
    model's output, its provenance record)."""

    array: np.ndarray
    ijk_to_ras: np.ndarray
    # the synthetic-data record of a model's output (``provenance.make_provenance``): ``volume.write_volume`` writes it
    # into the file's header unless given another; a new array on the grid (``with_array``) carries none
    provenance: dict | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        self.ijk_to_ras = np.asarray(self.ijk_to_ras, dtype=np.float64).reshape(4, 4)
        if self.array.ndim != 3:
            raise ValueError(f"Volume arrays are 3D, got shape {self.array.shape}")

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(int(s) for s in self.array.shape)  # type: ignore[return-value]

    @property
    def spacing(self) -> np.ndarray:
        return np.linalg.norm(self.ijk_to_ras[:3, :3], axis=0)

    @property
    def direction(self) -> np.ndarray:
        """3x3 RAS direction cosines, one column per array axis."""
        return self.ijk_to_ras[:3, :3] / self.spacing

    @property
    def origin(self) -> np.ndarray:
        """RAS position of voxel (0, 0, 0)."""
        return self.ijk_to_ras[:3, 3].copy()

    def with_array(self, array: np.ndarray) -> Volume:
        """Same grid, new voxels."""
        if array.shape != self.array.shape:
            raise ValueError(f"shape {array.shape} does not match the grid {self.array.shape}")
        return Volume(array, self.ijk_to_ras.copy())

    def same_grid(self, other: Volume, tolerance_mm: float = 1e-3) -> bool:
        """True when both volumes have the same size and the same voxel positions."""
        return self.shape == other.shape and bool(np.allclose(self.ijk_to_ras, other.ijk_to_ras, atol=tolerance_mm))

    def describe_grid(self) -> str:
        sp = "x".join(f"{s:g}" for s in np.round(self.spacing, 4))
        return f"{'x'.join(map(str, self.shape))} voxels at {sp} mm"
