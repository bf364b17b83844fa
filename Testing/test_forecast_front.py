"""The calibrated front-movement factor of growth forecasting: its two ends, its use by the task, its selection per fold."""

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
