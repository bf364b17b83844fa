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

Tumour-like lesions (``paint_lesions``) are painted into the brain of most contrasts, into the CT as
well as the MR: an irregular oedema around an enhancing rim around a necrotic core, or a resection
cavity, at the CT densities of tissue and fluid (never air, never bone) and with MR intensities of any
brightness (an enhancing rim often the brightest thing in a contrast-enhanced T1), so that a
planner's T1c with a tumour gives tissue where the tumour is.
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
OEDEMA, ENHANCING, NECROSIS, CAVITY = 6, 7, 8, 9  # painted lesion classes (MR only; their CT is tissue or fluid)
LESION_HU = {OEDEMA: (20.0, 35.0), ENHANCING: (30.0, 60.0), NECROSIS: (5.0, 25.0), CAVITY: (0.0, 15.0)}
LESION_SHARE = 0.7  # of the contrasts: with one or two painted lesions
LESION_DEPTH_MM = 25.0  # lesion centres at least this deep under the head's surface (inside the brain)


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
    """Each tissue class's MR intensity: T1-weighted order with probability ``T1_SHARE``, else any order of the bright classes.

    The lesion classes: in the T1-weighted order oedema between fluid and brain, necrosis and cavity as dark as fluid,
    the enhancing rim from brain to brighter than fat (contrast); otherwise any bright value, the cavity as fluid."""
    means = np.array([rng.uniform(*(DARK_RANGE if c in DARK_CLASSES else BRIGHT_RANGE)) for c in range(CAVITY + 1)], np.float32)
    if rng.random() < T1_SHARE:
        means[FAT] = rng.uniform(0.7, 1.0)
        means[SOFT] = rng.uniform(0.3, 0.6)
        means[FLUID] = rng.uniform(DARK_RANGE[1], means[SOFT] - 0.1)
        means[MARROW] = rng.uniform(means[SOFT], means[FAT])
        means[OEDEMA] = rng.uniform(means[FLUID], means[SOFT])
        means[NECROSIS] = rng.uniform(DARK_RANGE[1], means[OEDEMA])
        means[ENHANCING] = rng.uniform(means[SOFT], 1.1)
    else:
        means[MARROW] = rng.uniform(DARK_RANGE[0], means[FAT])
    means[CAVITY] = means[FLUID]
    return means


def _blob(shape: Sequence[int], centre: np.ndarray, radii_vox: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """An irregular ellipsoidal field: 1 at ``centre``, 0 at the radii (< 0 beyond), its edge roughened by smooth noise."""
    low = np.maximum(np.floor(centre - 1.6 * radii_vox).astype(int), 0)
    high = np.minimum(np.ceil(centre + 1.6 * radii_vox).astype(int) + 1, shape)
    grid = np.meshgrid(*[np.arange(lo, hi) for lo, hi in zip(low, high)], indexing="ij")
    distance = np.sqrt(sum(((g - c) / r) ** 2 for g, c, r in zip(grid, centre, radii_vox)))
    noise = ndimage.gaussian_filter(rng.normal(size=distance.shape), 2.0)
    noise /= max(float(noise.std()), 1e-6)
    field = np.full(tuple(shape), -1.0, np.float32)
    field[tuple(slice(lo, hi) for lo, hi in zip(low, high))] = 1.0 - distance + 0.15 * noise
    return field


def paint_lesions(
    classes: np.ndarray, ct_hu: np.ndarray, head: np.ndarray, spacing: Sequence[float], rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """One or two tumour-like lesions painted inside the brain: (classes, CT) copies with the lesions' classes and HU.

    A tumour: oedema around an enhancing rim around a necrotic core (each part present at random); a cavity: fluid.
    Only brain (soft tissue and fluid classes) is painted; the CT gets tissue or fluid densities, never air or bone."""
    classes, ct_hu = classes.copy(), ct_hu.copy()
    spacing_mm = np.array([float(s) for s in spacing])
    depth = ndimage.distance_transform_edt(head, sampling=spacing_mm)
    brain = np.isin(classes, (FLUID, SOFT))
    centres = np.argwhere(brain & (depth > LESION_DEPTH_MM))
    if not len(centres):
        return classes, ct_hu
    for _ in range(int(rng.integers(1, 3))):
        centre = centres[int(rng.integers(len(centres)))].astype(float)
        radius_mm = rng.uniform(6.0, 25.0) * rng.uniform(0.7, 1.3, size=3)
        field = _blob(classes.shape, centre, radius_mm / spacing_mm, rng)
        parts = [(CAVITY, 0.0)] if rng.random() < 0.25 else [(OEDEMA, 0.0), (ENHANCING, rng.uniform(0.3, 0.6)), (NECROSIS, rng.uniform(0.6, 0.85))]
        for label, level in parts:
            if label != CAVITY and rng.random() < 0.2:
                continue  # not every tumour has every part
            region = (field > level) & brain
            classes[region] = label
            ct_hu[region] = rng.uniform(*LESION_HU[label]) + rng.normal(0.0, 4.0, size=int(region.sum()))
    return classes, ct_hu


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
