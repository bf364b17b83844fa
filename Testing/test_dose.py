"""``evaluate --dose``: the same plan on a real head CT and on altered copies of it (pyRadPlan, pymedphys gamma).

The plan tests need the optional ``[dose]`` extra (pyRadPlan, pymedphys: a large stack of their own, not in the
test install); without it they skip saying so, and the error a user then gets is tested instead.
"""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

from DiffusionSynthLib.cli import main
from DiffusionSynthLib.volume import read_volume, write_volume

from conftest import HEAD_CT

HAS_DOSE = all(importlib.util.find_spec(name) is not None for name in ("pyRadPlan", "pymedphys"))
needs_dose = pytest.mark.skipif(not HAS_DOSE, reason="the [dose] extra (pyRadPlan, pymedphys) is not installed: pip install -e '.[dose]'")


@pytest.fixture(scope="module")
def cts(tmp_path_factory):
    """The real head CT, the same CT, and the CT with its head as water (bone and air inside the head at 0 HU)."""
    if not HEAD_CT.is_file():
        pytest.skip(f"real data not found at {HEAD_CT}")
    folder = tmp_path_factory.mktemp("dose")
    ct = read_volume(HEAD_CT)
    water = np.where(ct.array > -400, 0, ct.array).astype(ct.array.dtype)
    return {
        "reference": write_volume(ct, folder / "ct.nii.gz"),
        "same": write_volume(ct, folder / "same.nii.gz"),
        "water": write_volume(ct.with_array(water), folder / "water.nii.gz"),
    }


def evaluate(cts, prediction: str, *extra: str) -> int:
    return main(["evaluate", "--kind", "ct", "--prediction", str(cts[prediction]), "--reference", str(cts["reference"]), *extra])


def test_dose_flags_are_checked_before_any_work(cts, capsys):
    assert evaluate(cts, "same", "--target", str(cts["reference"])) == 2  # a target without a plan
    assert "--dose" in capsys.readouterr().err
    assert main(["evaluate", "--kind", "mri", "--prediction", str(cts["same"]), "--reference", str(cts["reference"]), "--dose", "photon"]) == 2
    assert "--kind ct" in capsys.readouterr().err


@pytest.mark.skipif(HAS_DOSE, reason="the [dose] extra is installed: the plans run instead")
def test_without_the_dose_extra_one_clear_error(cts, capsys):
    assert evaluate(cts, "same", "--dose", "photon") == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "pip install -e '.[dose]'" in captured.err


@needs_dose
@pytest.mark.parametrize("modality", ["photon", "proton"])
def test_the_same_ct_passes_and_a_water_head_is_caught(cts, modality, capsys):
    assert evaluate(cts, "same", "--dose", modality) == 0
    same = json.loads(capsys.readouterr().out)
    assert same["mae"] == 0 and same["dose"]["modality"] == modality
    dose = same["dose"]
    assert dose["gamma_pass_2pct_2mm"] == dose["gamma_pass_1pct_1mm"] == 100.0
    assert all(dose[key] == 0 for key in ("dose_mae_pct_rx", "target_dD98_pct", "target_dD95_pct", "target_dD50_pct", "target_dD2_pct", "target_dDmean_pct"))
    assert 12.0 < dose["target_ml"] < 16.0  # the default target: a 3 cm sphere in the brain

    assert evaluate(cts, "water", "--dose", modality) == 0
    water = json.loads(capsys.readouterr().out)["dose"]
    assert water["gamma_pass_1pct_1mm"] < 100.0 and water["dose_mae_pct_rx"] > 0.1
    if modality == "proton":  # no skull in the path: the protons overshoot, the whole distal edge moves
        assert water["gamma_pass_1pct_1mm"] < 95.0 and water["dose_mae_pct_rx"] > 1.0


@needs_dose
def test_a_target_mask_is_the_plans_target(cts, tmp_path, capsys):
    ct = read_volume(cts["reference"])
    target = np.zeros(ct.shape, np.uint8)
    centre = np.array(ct.shape) // 2
    target[centre[0] - 6 : centre[0] + 6, centre[1] - 6 : centre[1] + 6, centre[2] - 2 : centre[2] + 2] = 1
    path = write_volume(ct.with_array(target), tmp_path / "target.nii.gz")
    assert evaluate(cts, "same", "--dose", "proton", "--target", str(path)) == 0
    dose = json.loads(capsys.readouterr().out)["dose"]
    expected = target.sum() * np.prod(ct.spacing) / 1000
    assert abs(dose["target_ml"] - expected) < 0.3 * expected
