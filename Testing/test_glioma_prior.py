"""The glioma appearance prior: label conventions, contrasts, layouts; fitted on the real expert labels."""

from __future__ import annotations

import numpy as np
import pytest

from DiffusionSynthLib.priors.glioma import (
    LabelledCase,
    fit_glioma_appearance,
    glioma_contrast,
    glioma_prior,
    label_convention,
    layout_subregions,
    normalised_depth,
    subregion_contrast,
    to_brats2013,
)
from DiffusionSynthLib.volume import read_volume

from conftest import DATA

BRATS2013 = DATA / "brats2013_flair_t1c"


def sphere(shape: tuple[int, int, int], centre: tuple[float, float, float], radius: float) -> np.ndarray:
    grid = np.indices(shape, dtype=np.float32)
    return sum((grid[i] - centre[i]) ** 2 for i in range(3)) <= radius**2


def synthetic_case(rng: np.random.Generator) -> LabelledCase:
    """A brain with a lesion whose oedema shell is +2 SD in FLAIR and whose enhancing layer is +3 SD in T1c over a -1 SD core."""
    shape = (48, 48, 48)
    brain = sphere(shape, (24, 24, 24), 22)
    lesion = sphere(shape, (24, 24, 24), 10)
    core = sphere(shape, (24, 24, 24), 4)
    enhancing = sphere(shape, (24, 24, 24), 7) & ~core
    labels = np.select([core, enhancing, lesion], [1, 4, 2], 0).astype(np.uint8)
    flair = rng.normal(0.0, 1.0, shape).astype(np.float32) + 2.0 * (labels == 2) + 1.5 * (labels == 4)
    t1c = rng.normal(0.0, 1.0, shape).astype(np.float32) + 3.0 * (labels == 4) - 1.0 * (labels == 1)
    return LabelledCase("phantom", {"t2f": flair * brain, "t1c": t1c * brain}, brain, labels * brain)


def test_label_conventions_map_onto_brats_2013():
    labels = np.array([0, 1, 2, 3, 4])
    assert to_brats2013(labels, "brats2023").tolist() == [0, 1, 2, 4, 0]  # 3 is enhancing in 2023; 4 is unknown there
    assert to_brats2013(labels, "brats2017").tolist() == [0, 1, 2, 0, 4]
    assert to_brats2013(labels, "brats2013").tolist() == [0, 1, 2, 3, 4]


def test_contrasts_are_recovered_in_healthy_sds_whatever_the_intensity_scale():
    case = synthetic_case(np.random.default_rng(0))
    scaled = LabelledCase(case.name, {name: 300.0 + 80.0 * image for name, image in case.images.items()}, case.brain, case.labels)
    for which in (case, scaled):
        contrast = subregion_contrast(which)
        assert contrast[2]["t2f"] == pytest.approx(2.0, abs=0.15)
        assert contrast[4]["t1c"] == pytest.approx(3.0, abs=0.15)
        assert contrast[1]["t1c"] == pytest.approx(-1.0, abs=0.2)
        assert 3 not in contrast  # no non-enhancing voxels


def test_a_layout_puts_oedema_outside_and_the_core_inside_with_the_fitted_shares():
    appearance = fit_glioma_appearance([synthetic_case(np.random.default_rng(1))])
    mask = sphere((40, 40, 40), (20, 20, 20), 12)
    labels = layout_subregions(mask, (1.0, 1.0, 1.0), appearance)
    assert set(np.unique(labels[mask])) <= {1, 2, 4} and (labels[~mask] == 0).all()
    depth = normalised_depth(mask, (1.0, 1.0, 1.0))
    assert depth[labels == 2].mean() < depth[labels == 4].mean() < depth[labels == 1].mean()
    for label in (1, 2, 4):
        assert (labels == label).sum() / mask.sum() == pytest.approx(appearance["shares"][str(label)], abs=0.02)
    offsets = glioma_contrast(labels, appearance, ["t1n", "t1c", "t2f"])
    assert (offsets[0] == 0).all()  # a sequence no case had
    assert offsets[1][labels == 4].mean() == pytest.approx(appearance["contrast"]["4"]["t1c"])
    assert (offsets[:, ~mask] == 0).all()


def test_the_fit_needs_a_labelled_tumour():
    case = synthetic_case(np.random.default_rng(2))
    empty = LabelledCase("no tumour", case.images, case.brain, np.zeros_like(case.labels))
    with pytest.raises(ValueError, match="No labelled tumour"):
        fit_glioma_appearance([empty])


def test_the_real_expert_labels_give_bright_flair_oedema_and_an_enhancing_rim_above_its_core():
    if not (BRATS2013 / "brats_2013_pat0001" / "tumour_labels.nii.gz").is_file():
        pytest.skip(f"BraTS 2013 data not found at {BRATS2013}")
    cases = []
    for folder in sorted(BRATS2013.iterdir())[:2]:
        brain = read_volume(folder / "brain_mask.nii.gz").array > 0
        images = {s: read_volume(folder / f"{s}.nii.gz").array.astype(np.float32) for s in ("t1c", "t2f")}
        labels = to_brats2013(np.rint(read_volume(folder / "tumour_labels.nii.gz").array).astype(int), "brats2013") * brain
        cases.append(LabelledCase(folder.name, images, brain, labels))
    appearance = fit_glioma_appearance(cases)
    assert appearance["contrast"]["2"]["t2f"] > 0.8
    assert appearance["contrast"]["4"]["t1c"] - appearance["contrast"]["1"]["t1c"] > 0.8
    assert sum(appearance["shares"].values()) == pytest.approx(1.0, abs=1e-3)


def test_the_add_prior_moves_the_fill_to_each_sub_regions_intensity():
    appearance = {"contrast": {"1": {"t1c": -1.0}, "4": {"t1c": 3.0, "t2f": 2.0}}, "shares": {}}
    shape = (40, 40, 40)
    labels = np.select([sphere(shape, (20, 20, 20), 5), sphere(shape, (20, 20, 20), 12)], [1, 4], 0).astype(np.uint8)
    fill = np.full((4, *shape), 0.5, np.float32)
    healthy = {"t1c": (0.2, 2.0), "t2f": (0.0, 1.0)}  # t1n, t2w not given: they keep the fill
    prior = glioma_prior(fill, labels, healthy, appearance, ["t1n", "t1c", "t2w", "t2f"], (1.0, 1.0, 1.0))
    assert prior[1][20, 20, 20] == pytest.approx(0.2 - 1.0 * 2.0, abs=1e-3)  # core: healthy median + contrast x healthy SD
    assert prior[1][20, 20, 28] == pytest.approx(0.2 + 3.0 * 2.0, abs=1e-3)  # in the rim, away from its borders (4 mm deep)
    assert 0.5 < prior[1][20, 20, 31] < 0.2 + 3.0 * 2.0 - 1.0  # 1 mm under the lesion's edge: the change still rising
    assert prior[3][20, 20, 20] == pytest.approx(0.0, abs=1e-3)  # necrosis has no FLAIR contrast fitted: the healthy median
    assert np.array_equal(prior[0], fill[0]) and np.array_equal(prior[2], fill[2])
    assert np.array_equal(prior[:, labels == 0], fill[:, labels == 0])  # outside the lesion: the fill
    half = glioma_prior(fill, labels, healthy, appearance, ["t1n", "t1c", "t2w", "t2f"], (1.0, 1.0, 1.0), strength=0.5)
    np.testing.assert_allclose(half, fill + 0.5 * (prior - fill), atol=1e-5)


def test_label_conventions_of_the_data():
    assert label_convention(np.array([0, 1, 2, 3, 4]), expert=True) == "brats2013"
    assert label_convention(np.array([0, 1, 2, 4]), expert=False) == "brats2017"
    assert label_convention(np.array([0, 1, 2, 3]), expert=False) == "brats2023"
    assert label_convention(np.array([0, 1, 2]), expert=False) == "brats2023"  # 1 and 2 mean the same in both
