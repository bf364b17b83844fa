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


@pytest.mark.parametrize("size", [12, 32])  # the direct solver's and the iterative one's
def test_a_stack_of_images_is_filled_as_each_image_alone(size: int):
    """Several sequences share one matrix (and one factorisation): each is filled exactly as on its own, orphans
    included (a domain-less island takes its own image's domain mean)."""
    rng = np.random.default_rng(2)
    stack = rng.standard_normal((3, size + 8, size + 8, size + 8)).astype(np.float32)
    region = np.zeros(stack.shape[1:], bool)
    region[4 : 4 + size, 4 : 4 + size, 4 : 4 + size] = True
    brain = np.zeros(region.shape, bool)
    brain[2:-2, 2:-2, 2:-2] = True
    region[0, 0, 0] = True  # an island outside the domain
    filled = harmonic_fill(stack, region, brain)
    for image, together in zip(stack, filled):
        assert np.allclose(together, harmonic_fill(image, region, brain), atol=1e-5)
    assert not np.allclose(filled[0][region], filled[1][region])


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


def test_features_sampled_at_voxels_and_a_case_cropped_to_its_brain_equal_the_whole_case():
    """Fitting over fifty cases keeps each case's features at its sampled voxels only (``CaseFeatures.at``), and training
    crops each case to its brain's box: both must give exactly the design the whole case gives (smoothing sees zeros
    beyond the array, not a mirror of the brain)."""
    from DiffusionSynthLib.priors.regression import CaseFeatures

    rng = np.random.default_rng(3)
    shape = (40, 36, 30)
    brain = np.zeros(shape, bool)
    brain[2:38, 4:34, 1:29] = True  # reaches within a voxel or two of the array's faces
    images = {name: zscore(rng.normal(size=shape).astype(np.float32), brain) for name in ("t1n", "t2f")}
    spacing = [1.0, 1.2, 1.5]
    whole = CaseFeatures(images, brain, spacing)
    where = brain & (rng.random(shape) < 0.05)
    for kind in ("quadratic", "multiscale", "texture"):
        expected = whole.design(["t1n", "t2f"], kind, where)
        assert np.allclose(whole.at(where, [kind]).design(["t1n", "t2f"], kind), expected, atol=1e-6)
    padded_brain = np.pad(brain, 12)
    padded = CaseFeatures({n: np.pad(v, 12) for n, v in images.items()}, padded_brain, spacing)
    inner = (slice(12, -12),) * 3
    for kind in ("multiscale", "texture"):
        assert np.allclose(padded.design(["t1n", "t2f"], kind, np.pad(where, 12)), whole.design(["t1n", "t2f"], kind, where), atol=1e-5)
    assert np.array_equal(padded.mask[inner], brain)


def test_the_prior_is_chosen_on_the_mean_error_over_several_validation_cases():
    """With two validation cases, each candidate's score is the mean of its brain MAE on each case that has the
    sequences."""
    rng = np.random.default_rng(5)
    shape = (20, 20, 20)
    mask = np.ones(shape, bool)

    def case(bend: float) -> tuple[dict, np.ndarray]:
        a = rng.normal(size=shape).astype(np.float32)
        return {"t1n": a, "t2w": (a + bend * a**2).astype(np.float32)}, mask

    training = {"a": case(0.5), "b": case(0.5)}
    held = [case(0.5), case(0.0)]
    prior = fit_all(training, [1.0] * 3, validation=held, kinds=("quadratic", "multiscale"), log=lambda m: None)
    fit = prior["fits"]["t1n->t2w"]
    for kind, score in fit["validation_mae"].items():
        candidate = fit_all(training, [1.0] * 3, kinds=(kind,), log=lambda m: None)["fits"]["t1n->t2w"]
        errors = [np.abs(predict(images, ["t1n"], m, candidate, [1.0] * 3)[m] - images["t2w"][m]).mean() for images, m in held]
        assert score == pytest.approx(float(np.mean(errors)), rel=1e-5)
    assert fit["features"] == min(fit["validation_mae"], key=fit["validation_mae"].get)


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


def test_a_split_file_is_read_and_a_case_in_both_parts_or_a_bad_file_is_one_clear_error(tmp_path):
    from DiffusionSynthLib.errors import InputError
    from DiffusionSynthLib.train.split import read_split

    path = tmp_path / "split.json"
    path.write_text(json.dumps({"validation": ["a", "b"], "test": {"one": ["c"], "other": ["d", "e"]}}))
    split = read_split(path)
    assert split.validation == ["a", "b"] and split.test == ["c", "d", "e"] and split.record()["test"] == {"one": ["c"], "other": ["d", "e"]}
    path.write_text(json.dumps({"validation": ["a"], "test": ["a"]}))
    with pytest.raises(InputError, match="in both the validation and the test cases"):
        read_split(path)
    path.write_text("{not json")
    with pytest.raises(InputError, match="could not be read as JSON"):
        read_split(path)
    with pytest.raises(InputError, match="does not exist"):
        read_split(tmp_path / "missing.json")
    path.write_text(json.dumps({"validation": "a", "test": {}}))
    with pytest.raises(InputError, match="is not"):
        read_split(path)


def test_the_committed_fifty_glioma_split_keeps_the_twin_patients_together_and_eight_four_sequence_cases_for_test():
    """benchmarks/splits/brats50.json: at least 8 BraTS 2018 (four-sequence) test cases; Brats18_2013_3_1 and
    brats_2013_pat0003 (probably one patient) never on two sides; no case both validation and test."""
    from pathlib import Path

    from DiffusionSynthLib.train.split import read_split

    split = read_split(Path(__file__).resolve().parents[1] / "benchmarks" / "splits" / "brats50.json")
    assert len(split.test_groups["BraTS 2018"]) >= 8
    twins = {"Brats18_2013_3_1", "brats_2013_pat0003"}
    assert not twins & set(split.test) and not twins & set(split.validation)
    assert not set(split.test) & set(split.validation)
