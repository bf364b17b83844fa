"""Random patches and augmentation for 3D training on a handful of cases."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def random_crop(arrays: Sequence[np.ndarray], patch: Sequence[int], rng: np.random.Generator, pad_values: Sequence[float]) -> list[np.ndarray]:
    """The same random crop of every array (last three axes), padding arrays smaller than the patch."""
    shape = arrays[0].shape[-3:]
    out = []
    starts = [int(rng.integers(0, max(s - p, 0) + 1)) for s, p in zip(shape, patch)]
    for array, value in zip(arrays, pad_values):
        crop = array[..., starts[0] : starts[0] + patch[0], starts[1] : starts[1] + patch[1], starts[2] : starts[2] + patch[2]]
        pads = [(0, 0)] * (crop.ndim - 3) + [(0, p - c) for p, c in zip(patch, crop.shape[-3:])]
        out.append(np.pad(crop, pads, constant_values=value) if any(p[1] for p in pads) else crop.copy())
    return out


def random_flip(arrays: Sequence[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
    """Each spatial axis mirrored half of the time, all arrays together (nnU-Net's mirroring)."""
    axes = tuple(axis for axis in (-3, -2, -1) if rng.random() < 0.5)
    return [np.ascontiguousarray(np.flip(a, axes)) for a in arrays] if axes else list(arrays)


def randomise_contrast(image: np.ndarray, mask: np.ndarray, rng: np.random.Generator, probability: float = 0.5) -> np.ndarray:
    """A random smooth intensity remapping inside the mask (so T1 and T2 look alike to the model).

    Half of the time (by default) the image keeps its contrast apart from a random gamma; otherwise a
    random piecewise-linear lookup table with five control points remaps [0, 1].
    """
    gamma = float(np.exp(rng.normal(0.0, 0.25)))
    out = np.clip(image, 0.0, 1.0) ** gamma
    if rng.random() < probability:
        knots_x = np.linspace(0.0, 1.0, 6)
        knots_y = np.concatenate([[0.0], rng.uniform(0.05, 1.0, size=5)])
        out = np.interp(out, knots_x, knots_y)
    out = out * float(rng.uniform(0.9, 1.1)) + rng.normal(0.0, 0.01, size=out.shape)
    return np.where(mask, np.clip(out, 0.0, 1.0), 0.0).astype(np.float32)
