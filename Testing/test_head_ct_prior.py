"""The anatomical pseudo-CT prior: depth under the scalp x MR darkness, on layered phantoms and the real pair."""

from __future__ import annotations

import numpy as np
import pytest

from DiffusionSynthLib.metrics import ct_metrics
from DiffusionSynthLib.models import load_model
from DiffusionSynthLib.priors.head_ct import HeadCt, HeadPair, darkness, depth_below_surface, fit_head_ct_prior, predict_head_ct
from DiffusionSynthLib.registration import prepare_pair
from DiffusionSynthLib.tasks.mri_to_ct import mri_to_ct
from DiffusionSynthLib.volume import read_volume

from conftest import HEAD_CT, HEAD_MR

SCALP_MM, SKULL_MM = 4.0, 6.0


def layered_head(radius_mm: float, spacing: float, brain_mr: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A sphere: scalp (MR 0.7, 0 HU), skull (MR 0.05, 1200 HU), brain (MR ``brain_mr``, 40 HU); (mr, ct, head)."""
    n = int(2 * radius_mm / spacing) + 8
    grid = (np.indices((n, n, n)) - (n - 1) / 2) * spacing
    depth = radius_mm - np.sqrt((grid**2).sum(axis=0))
    head = depth > 0
    skull = head & (depth > SCALP_MM) & (depth <= SCALP_MM + SKULL_MM)
    brain = head & (depth > SCALP_MM + SKULL_MM)
    mr = np.where(head, 0.7, 0.0) + np.where(skull, -0.65, 0.0) + np.where(brain, brain_mr - 0.7, 0.0)
    ct = np.where(head, 0.0, -1000.0) + np.where(skull, 1200.0, 0.0) + np.where(brain, 40.0, 0.0)
    return mr.astype(np.float32), ct.astype(np.float32), head


def test_depth_is_millimetres_to_the_outside_and_the_array_border_is_no_surface():
    head = np.zeros((10, 10, 6), bool)
    head[2:8, 2:8, :] = True  # a column cut by the field of view at both ends of the last axis
    depth = depth_below_surface(head, (1.0, 1.0, 4.0))
    assert depth[0, 0, 0] == 0
    assert depth[2, 5, 3] == pytest.approx(1.0)
    assert depth[4, 4, 0] == pytest.approx(3.0)  # in-plane distance: the slab's end is not air


def test_darkness_ranks_the_head_and_ignores_the_outside():
    mr = np.arange(27, dtype=np.float32).reshape(3, 3, 3)
    head = mr >= 9
    ranks = darkness(mr, head)
    assert ranks[~head].max() == 0
    assert ranks[head].min() == 0 and ranks[head].max() == pytest.approx(17 / 18)
    assert np.all(np.diff(ranks[head]) > 0)


def test_the_prior_puts_the_skull_in_the_dark_shell_of_a_head_it_never_saw_in_another_contrast():
    mr, ct, head = layered_head(60.0, 2.0, brain_mr=0.6)  # T2-like: brain nearly as bright as scalp
    prior = fit_head_ct_prior([HeadPair(mr, ct, head, head, (2.0, 2.0, 2.0))])
    other_mr, other_ct, other_head = layered_head(75.0, 1.5, brain_mr=0.35)  # larger, finer grid, darker brain (T1-like)
    predicted = predict_head_ct(prior, other_mr * 3.0 + 10.0, other_head, (1.5, 1.5, 1.5))  # any intensity scale
    scores = ct_metrics(other_ct, predicted, other_head)
    assert scores["bone_dice"] > 0.85
    assert scores["mae"] < 150.0
    assert (predicted[~other_head] == -1000).all()
    water = ct_metrics(other_ct, np.where(other_head, 0.0, -1000.0), other_head)
    assert scores["mae"] < 0.5 * water["mae"]


def test_cells_the_pairs_leave_empty_take_the_depth_profile_of_every_ct():
    mr, ct, head = layered_head(40.0, 2.0, brain_mr=0.6)
    shallow = head & (depth_below_surface(head, (2.0,) * 3) < 12.0)  # the pair teaches only the outer 12 mm
    extra_mr, extra_ct, extra_head = layered_head(60.0, 2.0, brain_mr=0.6)
    with_scans = fit_head_ct_prior([HeadPair(mr, ct, head, shallow, (2.0,) * 3)], [HeadCt(extra_ct, extra_head, (2.0,) * 3)])
    deep = predict_head_ct(with_scans, extra_mr, extra_head, (2.0,) * 3)[depth_below_surface(extra_head, (2.0,) * 3) > 30.0]
    assert np.allclose(deep, 40.0)  # brain, learned from the CT-only scan's depth statistics
    assert with_scans["ct_scans"] == 2 and with_scans["pairs"] == 1


def test_the_prior_refuses_a_config_of_another_kind_and_a_fit_without_pairs():
    with pytest.raises(ValueError, match="Not an anatomical CT prior"):
        predict_head_ct({"kind": "polynomial-regression"}, np.zeros((4, 4, 4)), np.ones((4, 4, 4), bool), (1, 1, 1))
    with pytest.raises(ValueError, match="at least one"):
        fit_head_ct_prior([])


@pytest.fixture(scope="module")
def real_pair(tmp_path_factory):
    paths = prepare_pair(read_volume(HEAD_MR), read_volume(HEAD_CT), tmp_path_factory.mktemp("pair") / "pat002")
    return {name: read_volume(path) for name, path in paths.items()}


def test_the_prior_of_a_package_trained_on_the_real_pair_beats_water_and_finds_the_skull_on_its_held_out_slab(tiny_model, real_pair):
    model = load_model(tiny_model)
    assert model.config["prior"]["kind"] == "head-anatomy"
    held = model.config["training"]["held_out_slices"]["pat002"]
    mask = real_pair["mask"].array > 0
    slab = np.zeros(mask.shape, bool)
    slab[:, :, held[0] : held[1]] = True
    prior_only = model.without("refiner")
    estimate = mri_to_ct(real_pair["mr"], prior_only, samples=0).ct.array
    truth = real_pair["ct"].array
    prior_scores = ct_metrics(truth, estimate, mask & slab)
    water_scores = ct_metrics(truth, np.where(mask, 0, -1000), mask & slab)
    assert prior_scores["mae"] < water_scores["mae"]
    assert prior_scores["bone_dice"] > 0.5  # water has none
    seen = mask & ~slab
    assert ct_metrics(truth, estimate, seen)["mae"] < ct_metrics(truth, np.where(mask, 0, -1000), seen)["mae"] - 30.0
