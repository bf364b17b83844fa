"""The classical priors and the regression network over them: exact behaviour on small real and made-up arrays."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from DiffusionSynthLib.engine.networks import build_network
from DiffusionSynthLib.engine.refiner import refine, refiner_spec, zero_last_layer
from DiffusionSynthLib.priors.harmonic import harmonic_fill
from DiffusionSynthLib.priors.regression import MAP_BINS, candidate_name, fit_all, predict, subset_key, zscore
from DiffusionSynthLib.train.refiner_loop import FINAL_RATE_SHARE, RefinerSettings, learning_rate, train_refiner


def test_harmonic_fill_reproduces_a_linear_ramp_and_keeps_the_outside():
    x, y, z = np.indices((30, 28, 26), dtype=np.float32)
    image = 2.0 * x - 0.5 * y + 3.0 * z + 7.0
    region = np.zeros(image.shape, bool)
    region[8:20, 6:18, 5:15] = True
    region[22:26, 20:25, 18:22] = True  # a second component
    voided = np.where(region, 0.0, image)
    filled = harmonic_fill(voided, region)
    assert np.abs(filled[region] - image[region]).max() < 1e-3  # a linear function is harmonic
    assert np.array_equal(filled[~region], voided[~region])


def test_harmonic_fill_in_a_domain_ignores_the_background_beyond_its_edge():
    """A region reaching the brain's edge: with the brain as domain the background (0) is no boundary value, so a
    constant brain is filled with that constant; without it the fill sags towards 0 near the edge."""
    image = np.zeros((30, 30, 30), np.float32)
    brain = np.zeros(image.shape, bool)
    brain[5:25, 5:25, 5:25] = True
    image[brain] = 10.0
    region = np.zeros(image.shape, bool)
    region[5:12, 10:20, 10:20] = True  # touches the brain's face at x = 5
    assert np.allclose(harmonic_fill(image, region, brain)[region], 10.0, atol=1e-4)
    assert harmonic_fill(image, region)[region].min() < 6.0
    island = np.zeros(image.shape, bool)
    island[1:3, 1:3, 1:3] = True  # outside the brain, nothing known around it in the domain: the domain's mean
    assert np.allclose(harmonic_fill(image, island, brain)[island], 10.0)


def test_harmonic_fill_of_a_large_region_uses_the_iterative_solver():
    image = np.indices((40, 40, 40), dtype=np.float32).sum(axis=0)
    region = np.zeros(image.shape, bool)
    region[5:35, 5:35, 5:35] = True  # 27,000 unknowns: above the direct-solver limit
    filled = harmonic_fill(np.where(region, 0.0, image), region)
    assert np.abs(filled[region] - image[region]).max() < 1e-2


def test_polynomial_regression_recovers_a_quadratic_relation_and_chooses_by_validation():
    rng = np.random.default_rng(0)

    def case() -> tuple[dict[str, np.ndarray], np.ndarray]:
        shape = (24, 24, 24)
        brain = np.zeros(shape, bool)
        brain[3:21, 3:21, 3:21] = True
        t1n = rng.normal(size=shape).astype(np.float32)
        t1c = rng.normal(size=shape).astype(np.float32)
        t2w = 1.0 + 2.0 * t1n - 0.5 * t1c**2 + 0.3 * t1n * t1c
        return {"t1n": t1n, "t1c": t1c, "t2w": t2w.astype(np.float32)}, brain

    cases = {f"c{i}": case() for i in range(3)}
    held = case()
    prior = fit_all(cases, [1.0, 1.0, 1.0], validation=held, log=lambda message: None)
    fit = prior["fits"][subset_key(["t1c", "t1n"], "t2w")]
    estimate = predict(held[0], ["t1n", "t1c"], held[1], fit, [1.0, 1.0, 1.0])
    assert np.abs(estimate[held[1]] - held[0]["t2w"][held[1]]).max() < 0.02  # exact but for the small ridge shrinkage
    assert fit["features"] == "quadratic"  # the smoothed features add nothing here, and validation sees it
    assert set(fit["validation_mae"]) == {"quadratic", "multiscale", "texture", "quadratic+map", "multiscale+map", "texture+map"}
    assert subset_key(["t2w"], "t1n") in prior["fits"] and subset_key(["t2f"], "t1n") not in prior["fits"]  # no case has FLAIR


def test_the_intensity_map_bends_where_the_polynomial_cannot_and_is_chosen_by_validation():
    """A target that is a step in the given sequence (0 below z = 1, 3 above: a lesion bright in one sequence, a
    relation no quadratic follows): the map's table recovers the step away from the smoothed edge, and validation
    picks it; the tables round-trip through JSON (model.json)."""
    rng = np.random.default_rng(3)

    def case() -> tuple[dict[str, np.ndarray], np.ndarray]:
        shape = (30, 30, 30)
        brain = np.zeros(shape, bool)
        brain[2:28, 2:28, 2:28] = True
        t1c = rng.normal(size=shape).astype(np.float32) * 1.5
        return {"t1c": t1c, "t2f": np.where(t1c > 1.0, 3.0, 0.0).astype(np.float32)}, brain

    cases = {f"c{i}": case() for i in range(3)}
    held = case()
    prior = json.loads(json.dumps(fit_all(cases, [1.0, 1.0, 1.0], validation=held, log=lambda message: None)))
    fit = prior["fits"][subset_key(["t1c"], "t2f")]
    assert candidate_name(fit).endswith("+map")
    assert fit["validation_mae"][candidate_name(fit)] < 0.5 * fit["validation_mae"]["quadratic"]
    estimate = predict(held[0], ["t1c"], held[1], fit, [1.0, 1.0, 1.0])
    away = held[1] & (np.abs(held[0]["t1c"] - 1.0) > 0.8)  # the table is smoothed over about a bin around the step
    assert np.abs(estimate[away] - held[0]["t2f"][away]).mean() < 0.15
    without = predict(held[0], ["t1c"], held[1], {k: v for k, v in fit.items() if k != "map"}, [1.0, 1.0, 1.0])
    assert np.abs(without[away] - held[0]["t2f"][away]).mean() > 0.25  # the polynomial alone: 0.30
    assert np.array(fit["map"]["table"]).shape == (MAP_BINS[1],)


def test_texture_features_tell_a_smooth_bright_region_from_a_busy_one_of_the_same_brightness():
    """Two regions with the same values in the given sequence, one smooth (an oedema), one busy (cortex and sulci);
    the target is bright only in the smooth one. Per-voxel values cannot tell them apart, the local standard
    deviation can: validation picks ``texture`` and its estimate separates the two regions."""
    rng = np.random.default_rng(4)

    def case() -> tuple[dict[str, np.ndarray], np.ndarray]:
        shape = (40, 40, 40)
        brain = np.zeros(shape, bool)
        brain[2:38, 2:38, 2:38] = True
        smooth, busy = np.zeros(shape, bool), np.zeros(shape, bool)
        smooth[2:20, 2:38, 2:38], busy[20:38, 2:38, 2:38] = True, True
        ramp = np.broadcast_to(np.linspace(-1.5, 1.5, 36, dtype=np.float32), (18, 36, 36))  # smooth: a slow ramp
        t2w = rng.normal(scale=0.1, size=shape).astype(np.float32)
        t2w[smooth] += ramp.ravel()
        t2w[busy] += rng.permutation(ramp.ravel())  # busy: the same values, shuffled
        return {"t2w": t2w, "t2f": np.where(smooth, 2.0, 0.0).astype(np.float32)}, brain

    cases = {f"c{i}": case() for i in range(2)}
    held = case()
    fit = fit_all(cases, [1.0, 1.0, 1.0], validation=held, log=lambda message: None)["fits"][subset_key(["t2w"], "t2f")]
    assert fit["features"] == "texture"
    assert fit["validation_mae"][candidate_name(fit)] < 0.5 * min(fit["validation_mae"][k] for k in ("quadratic", "multiscale"))
    estimate = predict(held[0], ["t2w"], held[1], fit, [1.0, 1.0, 1.0])
    inner = np.zeros(held[1].shape, bool)
    inner[2:14, 8:32, 8:32] = True  # the smooth region away from the boundary between the two
    assert estimate[inner].mean() > 1.5 and estimate[np.roll(inner, 24, axis=0)].mean() < 0.5


def test_prediction_smooths_at_the_scales_the_prior_was_fitted_with():
    """A stored prior's ``scales_mm`` and ``texture_scales_mm`` are what prediction uses (not this release's defaults):
    the same fit read with other scales gives another estimate."""
    rng = np.random.default_rng(5)
    brain = np.zeros((24, 24, 24), bool)
    brain[2:22, 2:22, 2:22] = True
    images = {"t2w": rng.normal(size=brain.shape).astype(np.float32)}
    fit = {"features": "texture", "coefficients": [0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0]}  # 1, value, square; two smoothed, two local SDs
    stored = {"scales_mm": [2.0, 5.0], "texture_scales_mm": [3.0, 8.0]}
    other = {"scales_mm": [1.0, 3.0], "texture_scales_mm": [2.0, 4.0]}
    as_stored = predict(images, ["t2w"], brain, fit, [1.0, 1.0, 1.0], stored)
    assert np.array_equal(as_stored, predict(images, ["t2w"], brain, fit, [1.0, 1.0, 1.0]))  # today's defaults are these
    assert np.abs(as_stored - predict(images, ["t2w"], brain, fit, [1.0, 1.0, 1.0], other))[brain].mean() > 0.05


def test_zscore_is_zero_outside_the_mask():
    array = np.arange(1000, dtype=np.float32).reshape(10, 10, 10)
    mask = array > 500
    z = zscore(array, mask)
    assert abs(float(z[mask].mean())) < 1e-4 and abs(float(z[mask].std()) - 1.0) < 1e-4 and (z[~mask] == 0).all()


def test_an_untrained_refiner_returns_exactly_zero():
    network = zero_last_layer(build_network(refiner_spec("tiny", 5, 2)))
    inputs = np.random.default_rng(1).normal(size=(5, 40, 36, 20)).astype(np.float32)
    assert np.array_equal(refine(network, inputs, [32, 32, 16], torch.device("cpu")), np.zeros((2, 40, 36, 20), np.float32))


def test_training_keeps_the_prior_when_validation_says_the_network_is_worse(tmp_path):
    """A network trained towards noise scores worse than zero on validation: the shipped weights are step 0's."""
    probe = torch.from_numpy(np.random.default_rng(2).normal(size=(1, 3, 32, 32, 32)).astype(np.float32))

    def batch(rng: np.random.Generator):
        inputs = rng.normal(size=(1, 3, 32, 32, 32)).astype(np.float32)
        return inputs, rng.normal(size=(1, 1, 32, 32, 32)).astype(np.float32) * 5 + 3, np.ones((1, 1, 32, 32, 32), np.float32)

    def validate(network: torch.nn.Module) -> float:
        with torch.no_grad():
            return float(network(probe).abs().mean())  # the truth is the prior: any correction is an error

    settings = RefinerSettings(minutes=5, max_steps=6, validate_seconds=0.0, learning_rate=1e-2)
    result = train_refiner(refiner_spec("tiny", 3, 1), batch, validate, settings, tmp_path / "refiner.pt", False, lambda m: None, torch.device("cpu"))
    assert result.steps == 6 and len(result.history) == 7  # step 0 (the prior) and every step
    assert result.best_step == 0 and result.best_score == result.prior_score == 0.0
    assert max(entry["validation"] for entry in result.history[1:]) > 0.0
    with torch.no_grad():
        assert float(result.network(probe).abs().max()) == 0.0


def test_the_learning_rate_decays_over_the_time_budget_and_a_larger_budget_resumes_higher():
    settings = RefinerSettings(minutes=10, learning_rate=1e-3)
    rates = [learning_rate(settings, seconds) for seconds in range(0, 700, 30)]
    assert rates[0] == pytest.approx(1e-3) and all(a >= b for a, b in zip(rates, rates[1:]))
    assert learning_rate(settings, 600) == learning_rate(settings, 650) == pytest.approx(FINAL_RATE_SHARE * 1e-3)
    assert learning_rate(settings, 300) == pytest.approx((FINAL_RATE_SHARE + 1) / 2 * 1e-3)  # half way: half way down
    assert learning_rate(RefinerSettings(minutes=20, learning_rate=1e-3), 600) > learning_rate(settings, 600)
