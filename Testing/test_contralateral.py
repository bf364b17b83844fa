"""The removal's contralateral detail: the midline found, the mirrored tissue cloned into a void, nothing without symmetry."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from DiffusionSynthLib.priors.contralateral import MIN_MIDLINE_CORRELATION, contralateral_detail, find_midline, mirror_shift
from DiffusionSynthLib.priors.harmonic import harmonic_fill
from DiffusionSynthLib.sequences import SEQUENCES
from DiffusionSynthLib.tasks.inpaint_prior import removal_detail

SHAPE = (41, 32, 32)
TWICE_CENTRE = 41  # the symmetric head's midline: x = 20.5 (not the array's centre, 20)


def symmetric_head() -> tuple[np.ndarray, np.ndarray]:
    """(image, brain): an ellipsoid brain with structure at every scale, mirror-symmetric about x = 20.5."""
    rng = np.random.default_rng(0)
    x, y, z = np.indices(SHAPE, dtype=np.float32)
    distance = np.abs(x - TWICE_CENTRE / 2)
    texture = rng.standard_normal((21, 32, 32)).astype(np.float32)
    half = texture[np.clip(np.round(distance).astype(int), 0, 20), y.astype(int), z.astype(int)]
    image = np.sin(y / 2.0) * np.cos(z / 3.0) + 0.5 * np.cos(distance / 2.0) + 0.3 * half
    brain = ((x - 20.5) / 19) ** 2 + ((y - 15.5) / 15) ** 2 + ((z - 15.5) / 15) ** 2 <= 1
    return np.where(brain, image, 0.0).astype(np.float32), brain


def test_the_mirrored_tissue_fills_a_void_closer_to_the_truth_than_the_harmonic_fill():
    image, brain = symmetric_head()
    x, y, z = np.indices(SHAPE)
    region = ((x - 10) ** 2 + (y - 16) ** 2 + (z - 16) ** 2 <= 25) & brain
    voided = np.where(region, 0.0, image).astype(np.float32)
    twice, correlation = find_midline(voided, brain & ~region)
    assert twice == TWICE_CENTRE and correlation > 0.9
    harmonic = harmonic_fill(voided, region, brain)
    filled = harmonic + contralateral_detail(voided[None], region, brain, harmonic[None], twice)[0]
    error = {name: float(np.abs(values - image)[region].mean()) for name, values in (("harmonic", harmonic), ("contralateral", filled))}
    assert error["contralateral"] < 0.3 * error["harmonic"]
    assert np.array_equal(filled[~region], voided[~region])  # nothing changes outside the void


def test_a_hemisphere_offset_from_its_mirror_image_is_found_and_followed():
    """The left hemisphere is the right one's mirror image moved by (0, 3, -2) voxels: the shift that makes the mirror
    image meet the ring around a void in the left half is (0, 3, -2), and the moved mirror fills the void far closer to
    the truth than the unmoved one."""
    rng = np.random.default_rng(2)
    x, y, z = np.indices(SHAPE, dtype=np.float32)
    left = x < TWICE_CENTRE / 2
    sy, sz = np.where(left, 3, 0), np.where(left, -2, 0)  # the left half reads the field 3 voxels back in y, 2 on in z
    field = rng.standard_normal((21, 48, 48)).astype(np.float32)
    field = ndimage.gaussian_filter(field, 2.0)  # structure a few voxels wide, as gyri are
    distance = np.clip(np.round(np.abs(x - TWICE_CENTRE / 2)).astype(int), 0, 20)
    image = field[distance, (y - sy + 8).astype(int), (z - sz + 8).astype(int)]
    brain = ((x - 20.5) / 19) ** 2 + ((y - 15.5) / 15) ** 2 + ((z - 15.5) / 15) ** 2 <= 1
    image = np.where(brain, image, 0.0).astype(np.float32)
    region = ((x - 10) ** 2 + (y - 16) ** 2 + (z - 16) ** 2 <= 16) & brain
    voided = np.where(region, 0.0, image).astype(np.float32)
    shift = mirror_shift(voided[None], region, brain & ~region, TWICE_CENTRE)
    assert shift == (0, 3, -2)
    harmonic = harmonic_fill(voided, region, brain)
    error = {}
    for name, moved in (("unmoved", (0, 0, 0)), ("moved", shift)):
        filled = harmonic + contralateral_detail(voided[None], region, brain, harmonic[None], TWICE_CENTRE, moved)[0]
        error[name] = float(np.abs(filled - image)[region].mean())
    assert error["moved"] < 0.3 * error["unmoved"]


def test_a_brain_without_a_mirror_image_gets_no_detail():
    """Noise has no midline: its best mirror correlation stays under the threshold, and the removal adds nothing."""
    _, brain = symmetric_head()
    noise = np.where(brain, np.random.default_rng(1).standard_normal(SHAPE), 0.0).astype(np.float32)
    x, y, z = np.indices(SHAPE)
    region = ((x - 10) ** 2 + (y - 16) ** 2 + (z - 16) ** 2 <= 25) & brain
    assert find_midline(noise, brain & ~region)[1] < MIN_MIDLINE_CORRELATION
    box = (slice(2, 20), slice(8, 25), slice(8, 25))
    fill = np.zeros((len(SEQUENCES), 18, 17, 17), np.float32)
    detail = removal_detail({"t1n": noise}, {"t1n": (0.0, 1.0, 0.0)}, region, brain, fill, box, {"t1n": 1.0})
    assert detail.shape == fill.shape and not detail.any()
