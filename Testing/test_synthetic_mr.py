"""Synthetic MR contrasts of real head CTs (the pseudo-CT network's extra pairs) and the patches' mirroring."""

from __future__ import annotations

import json
from collections.abc import Iterator

import numpy as np
import pytest
from scipy import ndimage

from DiffusionSynthLib.geometry import resample_to_spacing, to_canonical
from DiffusionSynthLib.intensity import head_mask_ct, normalise_mr
from DiffusionSynthLib.priors.head_ct import HeadCt
from DiffusionSynthLib.train import mri_to_ct as train_mri_to_ct
from DiffusionSynthLib.train import synthetic_mr as synthetic_mr_module
from DiffusionSynthLib.train.mri_to_ct import CtExamples, PairCase, synthetic_pairs
from DiffusionSynthLib.train.patches import random_flip
from DiffusionSynthLib.train.synthetic_mr import (
    AIR,
    CAVITY,
    DENSE_BONE,
    ENHANCING,
    FAT,
    FLUID,
    LESION_SHARE,
    MARROW,
    NECROSIS,
    OEDEMA,
    SOFT,
    T1_SHARE,
    class_means,
    paint_lesions,
    synthetic_mr,
    tissue_classes,
)
from DiffusionSynthLib.volume import read_volume

from conftest import DATA


@pytest.fixture(scope="module")
def head_ct() -> HeadCt:
    path = DATA / "head_mr_ct" / "cmtk-cad001" / "ct.nii.gz"
    if not path.is_file():
        pytest.skip(f"head CT not found at {path} (set DIFFUSIONSYNTH_DATA)")
    volume = resample_to_spacing(to_canonical(read_volume(path)), [2.0, 2.0, 2.0])
    return HeadCt(volume.array.astype(np.float32), head_mask_ct(volume), list(volume.spacing))


@pytest.fixture(scope="module")
def classes(head_ct) -> np.ndarray:
    return tissue_classes(head_ct.ct_hu, head_ct.spacing)


def contrasts(head_ct: HeadCt, classes: np.ndarray, seed: int, count: int) -> Iterator[np.ndarray]:
    """``count`` random synthetic MR contrasts of the head, drawn from ``seed``."""
    rng = np.random.default_rng(seed)
    return (synthetic_mr(classes, head_ct.head, head_ct.spacing, rng) for _ in range(count))


def test_tissue_classes_of_a_real_ct_put_the_skull_in_bone_and_the_outside_in_air(head_ct, classes):
    bone = head_ct.head & (head_ct.ct_hu > 900)
    assert (classes[bone] == DENSE_BONE).mean() > 0.9
    marrow = head_ct.head & (head_ct.ct_hu > 350) & (head_ct.ct_hu < 650)
    assert (classes[marrow] == MARROW).mean() > 0.5  # the diploe, and the bone's partial-volume rim
    assert (classes[~head_ct.head] == 0).mean() > 0.95
    brain = head_ct.head & (np.abs(head_ct.ct_hu - 35) < 10)
    assert np.isin(classes[brain], (FLUID, SOFT)).mean() > 0.9


def test_every_synthetic_contrast_keeps_air_and_bone_dark_and_orders_the_other_tissues_freely(head_ct, classes):
    fluid_brighter = []
    for mr in contrasts(head_ct, classes, seed=0, count=12):
        assert np.isfinite(mr).all() and (mr[~head_ct.head] == 0).all()
        inside = head_ct.head & (classes == SOFT)
        skull = head_ct.head & (head_ct.ct_hu > 700)
        assert np.median(mr[skull]) < np.median(mr[inside])
        fluid_brighter.append(np.median(mr[head_ct.head & (classes == FLUID)]) > np.median(mr[inside]))
    assert 0 < sum(fluid_brighter) < len(fluid_brighter)  # T2-like and T1-like both occur


def test_the_skulls_marrow_ranges_from_dark_to_as_bright_as_fat_while_dense_bone_stays_dark(head_ct, classes):
    deep = ndimage.binary_erosion(head_ct.head, iterations=2)  # the blur mixes the outline with the outside
    marrow_share_of_fat = []
    for mr in contrasts(head_ct, classes, seed=1, count=20):
        fat, marrow, dense = (np.median(mr[deep & (classes == c)]) for c in (FAT, MARROW, DENSE_BONE))
        assert dense < fat
        marrow_share_of_fat.append(marrow / fat)
    assert min(marrow_share_of_fat) < 0.5 < max(marrow_share_of_fat)  # dark in some contrasts, bright (T1's diploe) in others


def test_half_of_the_contrasts_are_t1_weighted_with_the_diploe_bright_between_dark_tables():
    rng = np.random.default_rng(3)
    draws = [class_means(rng) for _ in range(400)]
    t1 = [m for m in draws if m[FLUID] < m[SOFT] < m[MARROW] <= m[FAT] and m[FAT] >= 0.7]
    assert abs(len(t1) / len(draws) - T1_SHARE) < 0.1
    assert all(m[DENSE_BONE] < 0.15 and m[AIR] < 0.15 for m in draws)  # air and cortical bone dark in every contrast
    assert any(m[FLUID] > m[SOFT] for m in draws)  # T2-like orders still occur


def test_synthetic_contrasts_get_a_random_gamma_but_no_random_lookup_table_on_top(head_ct, classes, monkeypatch):
    monkeypatch.setattr(train_mri_to_ct, "SYNTHETIC_SHARE", 1.0)  # every patch from the synthetic pair
    deep = ndimage.binary_erosion(head_ct.head, iterations=2)
    mr = next(
        m for m in contrasts(head_ct, classes, seed=4, count=50) if np.median(m[deep & (classes == FAT)]) > 1.5 * np.median(m[deep & (classes == SOFT)])
    )  # fat clearly brighter
    pair = PairCase(
        "s", mr, normalise_mr(mr, head_ct.head), head_ct.ct_hu, head_ct.head, head_ct.head, np.zeros(mr.shape, bool), list(head_ct.spacing), head_ct.ct_hu
    )
    examples = CtExamples([], list(head_ct.head.shape), [pair])  # the whole head: the tissues' order can be read off the patch
    for seed in range(12):
        example = examples.random(np.random.default_rng(seed))
        patch_classes = tissue_classes(example.truth[0] * 1000.0, head_ct.spacing)  # mirrored as the MR is
        inside = ndimage.binary_erosion(example.inputs[0] > 0, iterations=2)
        fat, soft = (np.median(example.inputs[0][inside & (patch_classes == c)]) for c in (FAT, SOFT))
        assert fat > soft  # a gamma keeps the order; a random lookup table would swap it in some patches


def test_synthetic_pairs_give_training_patches_and_no_validation_voxels(head_ct, tiny_model):
    prior = json.loads((tiny_model / "model.json").read_text())["prior"]
    pairs = synthetic_pairs([head_ct], prior, 3, seed=1)
    assert [p.name for p in pairs] == ["ct-0-synthetic-0", "ct-0-synthetic-1", "ct-0-synthetic-2"]
    for pair in pairs:
        assert pair.prior is not None and not pair.validation.any() and pair.train.sum() == head_ct.head.sum()
        skull = head_ct.head & (head_ct.ct_hu > 700)
        assert np.median(pair.prior[skull]) > np.median(pair.prior[head_ct.head & (np.abs(head_ct.ct_hu - 35) < 10)]) + 200
    example = CtExamples(pairs, [32, 32, 16]).random(np.random.default_rng(0))
    assert example.inputs.shape == (2, 32, 32, 16) and example.weight.any()


def test_the_trained_package_records_its_synthetic_pairs(tiny_model):
    record = json.loads((tiny_model / "model.json").read_text())["training"]["synthetic_mr"]
    assert record == {"per_ct_scan": 6, "share_of_patches": 0.5, "painted_lesions_share": LESION_SHARE, "validation_per_ct_scan": 2}
    card = (tiny_model / "MODEL_CARD.md").read_text()
    assert "tumour-like lesions painted" in card and "2 more contrasts of each" in card


def test_painted_lesions_are_tissue_or_fluid_in_the_ct_inside_the_brain_and_change_nothing_else(head_ct, classes):
    rng = np.random.default_rng(4)
    brain = np.isin(classes, (FLUID, SOFT))
    painted_any = 0
    for _ in range(6):
        painted, ct = paint_lesions(classes, head_ct.ct_hu, head_ct.head, head_ct.spacing, rng)
        lesion = painted >= OEDEMA
        painted_any += int(lesion.any())
        assert brain[lesion].all()  # never skull, scalp or air
        assert (ct[lesion] > -30).all() and (ct[lesion] < 100).all()  # tissue and fluid densities
        assert np.array_equal(ct[~lesion], head_ct.ct_hu[~lesion]) and np.array_equal(painted[~lesion], classes[~lesion])
    assert painted_any >= 5
    assert not np.shares_memory(painted, classes)  # the healthy classes stay as they were


def test_an_enhancing_rim_is_brighter_than_brain_in_every_t1_weighted_contrast(monkeypatch):
    rng = np.random.default_rng(2)
    monkeypatch.setattr(synthetic_mr_module, "T1_SHARE", 1.0)  # every draw in the T1-weighted order
    for _ in range(200):
        means = class_means(rng)
        assert means[ENHANCING] >= means[SOFT] and means[NECROSIS] <= means[OEDEMA] <= means[SOFT]
        assert means[CAVITY] == means[FLUID]


def test_validation_contrasts_are_drawn_apart_and_score_the_whole_head(head_ct, tiny_model):
    prior = json.loads((tiny_model / "model.json").read_text())["prior"]
    train = synthetic_pairs([head_ct], prior, 2, seed=0)
    held = synthetic_pairs([head_ct], prior, 2, seed=0, validation=True)
    assert [p.name for p in held] == ["ct-0-validation-0", "ct-0-validation-1"]
    for pair in held:
        assert not pair.train.any() and pair.validation.sum() == head_ct.head.sum()
        assert not any(np.array_equal(pair.mr, other.mr) for other in train)


def test_patches_are_mirrored_along_every_axis_together():
    image = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)
    rng = np.random.default_rng(0)
    for _ in range(10):
        flipped, same = random_flip([image, image.copy()], rng)
        assert np.array_equal(flipped, same) and sorted(flipped.ravel()) == sorted(image.ravel())
    corners = set()
    for _ in range(40):
        corners.add(float(random_flip([image], rng)[0][0, 0, 0]))
    assert len(corners) == 8  # each of the eight corners comes first: all three axes flip, in every combination
