"""Synthetic MR from a head CT: pairs for the heads that have no MR (domain randomisation).

As SynthSeg and SynthSR do (Billot et al. 2023, Iglesias et al. 2023), a CT's tissue classes
(from Hounsfield units: air, fat, fluid, brain and soft tissue, marrow, dense bone) are painted with
random MR intensities, then blurred (partial volume), given a smooth random bias field and voxel
noise. Air and dense (cortical) bone stay dark, as in every clinical MR contrast; the skull's
marrow (the diploe, 300-700 HU, with the bone's partial-volume rim) is fatty, so it takes any
brightness from dark to that of fat (bright between two dark tables in a T1, as in the Colin27
head). Half of the contrasts are drawn T1-weighted (fluid darker than brain, fat brightest,
marrow bright): the one real pair is a T2, and a random order alone makes a T1's bright diploe
between two dark tables rare; in the other half the bright classes take any order, so T2-like
and other images occur too. The regression network then sees the anatomy of every head CT (the crown of the
head, which the one real pair never shows), under many contrasts, paired with the real CT.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

CLASS_EDGES_HU = (-400.0, -30.0, 20.0, 300.0, 700.0)  # air | fat | fluid | brain and soft tissue | marrow | dense bone
AIR, FAT, FLUID, SOFT, MARROW, DENSE_BONE = 0, 1, 2, 3, 4, 5
DARK_CLASSES = (AIR, DENSE_BONE)  # no MR signal in any contrast
DARK_RANGE = (0.0, 0.12)
BRIGHT_RANGE = (0.15, 1.0)
T1_SHARE = 0.5  # of the contrasts: T1-weighted order (fluid < brain and soft tissue < marrow <= fat)


def tissue_classes(ct_hu: np.ndarray, spacing: Sequence[float]) -> np.ndarray:
    """0 air, 1 fat, 2 fluid, 3 brain and soft tissue, 4 marrow, 5 dense bone, from the CT lightly smoothed (1 mm) against its noise."""
    sigma = [1.0 / float(s) for s in spacing]
    return np.digitize(ndimage.gaussian_filter(ct_hu.astype(np.float32), sigma), CLASS_EDGES_HU).astype(np.uint8)


def bias_field(shape: Sequence[int], rng: np.random.Generator, strength: float) -> np.ndarray:
    """A smooth multiplicative field: exp of a 4x4x4 Gaussian grid, cubic-interpolated to ``shape``."""
    coarse = rng.normal(0.0, strength, size=(4, 4, 4))
    zoom = [s / 4.0 for s in shape]
    field = ndimage.zoom(coarse, zoom, order=3, mode="nearest")[: shape[0], : shape[1], : shape[2]]
    return np.exp(field).astype(np.float32)


def class_means(rng: np.random.Generator) -> np.ndarray:
    """Each tissue class's MR intensity: T1-weighted order with probability ``T1_SHARE``, else any order of the bright classes."""
    means = np.array([rng.uniform(*(DARK_RANGE if c in DARK_CLASSES else BRIGHT_RANGE)) for c in range(len(CLASS_EDGES_HU) + 1)], np.float32)
    if rng.random() < T1_SHARE:
        means[FAT] = rng.uniform(0.7, 1.0)
        means[SOFT] = rng.uniform(0.3, 0.6)
        means[FLUID] = rng.uniform(DARK_RANGE[1], means[SOFT] - 0.1)
        means[MARROW] = rng.uniform(means[SOFT], means[FAT])
    else:
        means[MARROW] = rng.uniform(DARK_RANGE[0], means[FAT])
    return means


def synthetic_mr(classes: np.ndarray, head: np.ndarray, spacing: Sequence[float], rng: np.random.Generator) -> np.ndarray:
    """One random MR contrast of the anatomy in ``classes`` (values roughly in [0, 1], zero outside ``head``)."""
    means = class_means(rng)
    image = means[classes]
    image = image + rng.normal(0.0, rng.uniform(0.01, 0.04), size=image.shape).astype(np.float32)  # within-tissue texture
    blur = rng.uniform(0.5, 1.5)  # mm: partial volume of a scanner's point-spread function
    image = ndimage.gaussian_filter(image, [blur / float(s) for s in spacing])
    image = image * bias_field(image.shape, rng, rng.uniform(0.0, 0.2))
    image = image + rng.normal(0.0, rng.uniform(0.0, 0.02), size=image.shape).astype(np.float32)  # acquisition noise
    return np.where(head, np.clip(image, 0.0, None), 0.0).astype(np.float32)
