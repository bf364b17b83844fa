"""How far the forecast moves the tumour's edge: the front factor and the volume curve, their use by the task, their fit per fold."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from DiffusionSynthLib.errors import ModelError
from DiffusionSynthLib.growth.calibrate import GridScores, PhysicsMasks, PreparedCase, select_front_fraction
from DiffusionSynthLib.growth.domain import GrowthDomain, prepare_domain
from DiffusionSynthLib.growth.longitudinal import load_case
from DiffusionSynthLib.growth.loo import against_baselines, leave_one_out, summary
from DiffusionSynthLib.growth.parameters import GrowthParameters
from DiffusionSynthLib.growth.volume_curve import VolumeCurve, fit_volume_curve
from DiffusionSynthLib.models.package import ModelPackage
from DiffusionSynthLib.tasks.forecast import forecast

from conftest import DATA

PATIENT = DATA / "tumour_progression" / "02"  # small tumour, 63 days to its follow-up
PARAMETERS = GrowthParameters(0.1, 0.01)  # grows the front by a few voxels in 63 days


@pytest.fixture(scope="module")
def case():
    if not (PATIENT / "Pre_Scan_T1.nii.gz").is_file():
        pytest.skip(f"longitudinal data not found at {PATIENT} (set DIFFUSIONSYNTH_DATA)")
    return load_case(PATIENT, 63)


@pytest.fixture(scope="module")
def domain(case) -> GrowthDomain:
    return prepare_domain(case.baseline, case.baseline_mask.array > 0)


@pytest.fixture(scope="module")
def physics(domain) -> np.ndarray:
    return domain.forecast(PARAMETERS, [63])[63]


def package(fraction: float | None) -> ModelPackage:
    growth: dict = {"parameters": PARAMETERS.to_dict(), "spread": {}}
    if fraction is not None:
        growth["front_fraction"] = fraction
    return ModelPackage(path=Path("."), config={"id": "front", "task": "forecast", "networks": {}, "growth": growth})


def test_the_ends_are_no_change_and_the_physics(domain, physics):
    assert physics.sum() > domain.tumour.sum() * 1.2  # the physics moves the front
    assert np.array_equal(domain.moved_front(physics, 0.0), domain.tumour)
    assert np.array_equal(domain.moved_front(physics, 1.0), physics)
    volumes = [int(domain.moved_front(physics, f).sum()) for f in (0.0, 0.25, 0.5, 0.75, 1.0)]
    assert volumes == sorted(volumes) and volumes[0] < volumes[2] < volumes[-1]  # in between, the front moves part way
    half = domain.moved_front(physics, 0.5)
    assert not np.any(half & domain.core) and not np.any(half & ~domain.allowed)


def test_the_task_uses_the_factor_of_model_json(case, domain, physics):
    def mask(fraction: float | None) -> np.ndarray:
        return forecast({"t1c": case.baseline}, case.baseline_mask, [63], package(fraction)).masks[63].array > 0

    assert np.array_equal(mask(None), physics)  # without the field: the physics as before
    assert np.array_equal(mask(0.0), case.baseline_mask.array > 0)  # 0: exactly no change
    assert np.array_equal(mask(0.5), domain.moved_front(physics, 0.5))
    with pytest.raises(ModelError, match="front_fraction"):
        mask(1.5)


def prepared(name: str, domain: GrowthDomain, target: np.ndarray) -> PreparedCase:
    return PreparedCase(name, 63, domain, target, np.ones_like(target), voxel_ml=0.001)


def test_each_fold_selects_the_factor_on_the_other_patients_only(domain, physics):
    grown = [prepared(name, domain, physics) for name in ("a", "b")]  # grew as the physics says
    still = prepared("still", domain, domain.tumour)  # did not change
    cases = [*grown, still]
    masks = PhysicsMasks({(c.name, PARAMETERS): physics for c in cases})  # no simulation
    assert select_front_fraction([still], PARAMETERS, masks).fraction == 0.0
    assert select_front_fraction(grown, PARAMETERS, masks).fraction > 0.5
    scores = GridScores([c.name for c in cases], (PARAMETERS.diffusivity_white,), (PARAMETERS.proliferation,), np.ones((3, 1, 1)), np.ones((3, 1, 1)))
    rows = {r["patient"]: r for r in leave_one_out(cases, scores, masks)}
    assert rows["still"]["front_fraction"] > 0.5  # chosen on a and b, which grew: no peeking at the held-out patient
    assert rows["still"]["calibrated_dice"] < rows["still"]["no_change_dice"] == 1.0
    assert rows["a"]["calibrated_dice"] <= 1.0 and rows["a"]["physics_dice"] == 1.0
    verdict = against_baselines(summary(list(rows.values())))
    assert set(verdict) == {"mean_dice", "mean_abs_volume_error_pct"} and verdict["mean_dice"]["better_baseline"] in ("no_change", "isotropic")


def test_the_volume_curve_levels_off_where_the_patients_say_and_uses_their_median_rate():
    # three patients that grew 30% whatever the interval, and one fast grower
    patients = [(10.0, 13.0, 30), (10.0, 13.0, 60), (10.0, 13.0, 400), (10.0, 40.0, 50)]
    curve, errors = fit_volume_curve(patients)
    assert curve.plateau_days is not None and curve.plateau_days <= 60  # a plateau fits them better than exponential growth
    assert errors["none"] > errors[f"{curve.plateau_days:g}"]
    assert curve.ratio(0) == 1.0 and curve.ratio(curve.plateau_days) == curve.ratio(10 * curve.plateau_days)
    assert 1.2 < curve.ratio(400) < 1.6  # the median, not the fast grower, sets the rate
    exponential, _ = fit_volume_curve([(10.0, 20.0, 100), (10.0, 40.0, 200)])
    assert exponential.plateau_days in (None, 365.0) and abs(exponential.ratio(100) - 2.0) < 1e-6
    assert VolumeCurve.from_dict(curve.to_dict()) == curve
    with pytest.raises(ValueError):
        fit_volume_curve([])


def test_the_front_moves_until_the_tumour_holds_the_target_volume(domain, physics):
    before, after = int(domain.tumour.sum()), int(physics.sum())
    target = before + 0.5 * (after - before)
    mask, fraction = domain.front_to_volume(physics, target)
    assert 0.0 < fraction < 1.0 and abs(int(mask.sum()) - target) < 0.05 * (after - before)
    assert np.array_equal(mask, domain.moved_front(physics, fraction))
    assert np.array_equal(domain.front_to_volume(physics, before * 0.5)[0], domain.tumour)  # no shrinking by the curve
    short, fraction = domain.front_to_volume(physics, after * 1.5)  # the physics falls short: it goes no further
    assert fraction == 1.0 and np.array_equal(short, physics | domain.tumour)  # and the tumour never ends smaller than it was


def test_the_task_moves_each_day_to_the_volume_curve_of_model_json(case, domain, physics):
    curve = VolumeCurve(float(np.log(1.3)) / 30.0, 30.0)  # +30% by day 30, flat after
    config = package(0.5).config
    config["growth"]["volume_curve"] = curve.to_dict()
    result = forecast({"t1c": case.baseline}, case.baseline_mask, [63], ModelPackage(path=Path("."), config=config)).masks[63].array > 0
    assert np.array_equal(result, domain.front_to_volume(physics, domain.tumour.sum() * 1.3)[0])  # the curve, not the factor
    config["growth"]["volume_curve"] = {"rate_per_day": "fast", "plateau_days": -1}
    with pytest.raises(ModelError, match="volume_curve"):
        forecast({"t1c": case.baseline}, case.baseline_mask, [63], ModelPackage(path=Path("."), config=config))


def test_each_fold_fits_the_volume_curve_on_the_other_patients_only(domain, physics):
    grown = [prepared(name, domain, physics) for name in ("a", "b")]
    still = prepared("still", domain, domain.tumour)
    cases = [*grown, still]
    masks = PhysicsMasks({(c.name, PARAMETERS): physics for c in cases})
    scores = GridScores([c.name for c in cases], (PARAMETERS.diffusivity_white,), (PARAMETERS.proliferation,), np.ones((3, 1, 1)), np.ones((3, 1, 1)))
    rows = {r["patient"]: r for r in leave_one_out(cases, scores, masks)}
    assert rows["still"]["curve_rate_per_day"] > 0 and rows["still"]["volume_matched_fraction"] > 0  # a and b grew
    assert abs(rows["still"]["volume_matched_volume_error_pct"]) > 10
    assert rows["a"]["volume_matched_dice"] < 1.0  # a's fold includes "still": the median rate is half-way
    verdict = against_baselines(summary(list(rows.values())), "volume_matched")
    assert "volume_matched" in verdict["mean_dice"]
