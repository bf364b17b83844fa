"""Growth forecasting, leave one patient out, on the real longitudinal glioblastoma patients.

For each patient: the growth parameters are calibrated on the other eight (the grid is scored once
for all patients; each fold re-selects on the others' rows, which is what ``diffusionsynth train
--task forecast --exclude-case P`` computes: ``--check-fold P`` runs that command and compares),
then the volume curve and the front-movement factor are re-fitted on the same eight, and the
held-out baseline is forecast to its follow-up day through the task itself
(``tasks.forecast.forecast``, masks only, with the fold's parameters and curve, and again with its
factor alone, as older packages run) and scored against the registered follow-up mask where both
scans have real slices: Dice and signed volume error. In the same run, the unscaled physics
(factor 1) and two baselines: no change (the baseline mask) and isotropic growth at the other
patients' mean volume growth rate. The summary says whether the volume-matched forecast (and the
calibrated factor) tie or beat the better baseline in mean Dice and in mean absolute volume error.
Also timed: one forecast of five days (7 to 3650) with the calibrated parameters.

Usage: python benchmarks/forecast_loo.py [--output runs/forecast-loo] [--json PATH] [--check-fold 07]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from DiffusionSynthLib.growth.calibrate import PhysicsMasks, dice, prepare_case, score_grid, select, select_front_fraction, volume_curve_of
from DiffusionSynthLib.growth.longitudinal import ASSUMED_SPACING_MM, load_cases
from DiffusionSynthLib.growth.loo import against_baselines, leave_one_out, markdown, summary
from DiffusionSynthLib.growth.volume_curve import VolumeCurve
from DiffusionSynthLib.models.package import ModelPackage
from DiffusionSynthLib.tasks.forecast import forecast

from _common import DATA, machine, write_result

PROGRESSION = DATA / "tumour_progression"


def package_for(parameters, spread: dict, fraction: float = 1.0, curve: VolumeCurve | None = None) -> ModelPackage:
    """An in-memory forecast package holding one fold's parameters, front factor and (optionally) volume curve."""
    growth = {"parameters": parameters.to_dict(), "spread": spread, "front_fraction": fraction}
    if curve is not None:
        growth["volume_curve"] = curve.to_dict()
    config = {"id": "fold", "task": "forecast", "networks": {}, "growth": growth}
    return ModelPackage(path=Path("."), config=config)


def task_dice(case, prepared, parameters, spread, fraction: float, curve: VolumeCurve | None = None) -> float:
    """The held-out forecast through the task (as the command line runs it), scored like the grid."""
    result = forecast({"t1c": case.baseline}, case.baseline_mask, [case.days], package_for(parameters, spread, fraction, curve))
    return prepared.score(result.masks[case.days].array > 0)["dice"]


def check_fold(patient: str, expected) -> dict:
    """Run ``train --task forecast --exclude-case patient`` and compare its parameters with the fold's."""
    with tempfile.TemporaryDirectory() as folder:
        output = Path(folder) / "fold"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "DiffusionSynthLib.cli",
                "train",
                "--task",
                "forecast",
                "--data",
                str(PROGRESSION),
                "--output",
                str(output),
                "--exclude-case",
                patient,
            ],
            check=True,
        )
        trained = json.loads((output / "model.json").read_text())["growth"]["parameters"]
    same = all(abs(trained[k] - v) < 1e-12 for k, v in expected.to_dict().items())
    return {"patient": patient, "trained": trained, "fold": expected.to_dict(), "same": same}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default="runs/forecast-loo", help="folder for results.json")
    parser.add_argument("--json", help="also write the rows and the summary to this file")
    parser.add_argument("--check-fold", help="also run train --exclude-case for this patient and compare parameters")
    args = parser.parse_args()
    started = time.monotonic()
    cases = load_cases(PROGRESSION, spacing=ASSUMED_SPACING_MM)
    prepared = [prepare_case(case, log=print) for case in cases]
    scores = score_grid(prepared, log=print)
    masks = PhysicsMasks()
    rows = leave_one_out(prepared, scores, masks)
    for case, held, row in zip(cases, prepared, rows):
        others = scores.subset([c.name for c in prepared if c.name != held.name])
        calibration = select(others)
        row["calibrated_dice_via_task"] = task_dice(case, held, calibration.parameters, calibration.spread, row["front_fraction"])
        assert abs(row["calibrated_dice_via_task"] - row["calibrated_dice"]) < 1e-9, row
        curve = VolumeCurve(row["curve_rate_per_day"], row["curve_plateau_days"])
        row["volume_matched_dice_via_task"] = task_dice(case, held, calibration.parameters, calibration.spread, row["front_fraction"], curve)
        assert abs(row["volume_matched_dice_via_task"] - row["volume_matched_dice"]) < 1e-9, row
    full = select(scores)
    front = select_front_fraction(prepared, full.parameters, masks)
    full_curve, _ = volume_curve_of(prepared)
    timed_case = cases[0]
    tick = time.monotonic()
    package = package_for(full.parameters, full.spread, front.fraction, full_curve)
    result = forecast({"t1c": timed_case.baseline}, timed_case.baseline_mask, [7, 90, 365, 1200, 3650], package)
    seconds = time.monotonic() - tick
    volumes = {day: float(mask.array.sum() * np.prod(ASSUMED_SPACING_MM) / 1000) for day, mask in result.masks.items()}
    report = {
        "machine": machine(),
        "seconds": round(time.monotonic() - started),
        "rows": rows,
        "summary": summary(rows),
        "volume_matched_against_better_baseline": against_baselines(summary(rows), "volume_matched"),
        "calibrated_against_better_baseline": against_baselines(summary(rows)),
        "calibration_all_patients": {
            "parameters": full.parameters.to_dict(),
            "spread": full.spread,
            "mean_dice": full.mean_dice,
            "front_fraction": front.fraction,
            "front_fractions": front.table,
            "volume_curve": full_curve.to_dict(),
        },
        "five_day_forecast": {
            "patient": timed_case.name,
            "seconds": round(seconds, 1),
            "volume_ml": volumes,
            "day7_dice_with_baseline": dice(result.masks[7].array > 0, timed_case.baseline_mask.array > 0),
        },
    }
    if args.check_fold:
        fold = select(scores.subset([c.name for c in prepared if c.name != args.check_fold])).parameters
        report["check_fold"] = check_fold(args.check_fold, fold)
    Path(args.output).mkdir(parents=True, exist_ok=True)
    (Path(args.output) / "results.json").write_text(json.dumps(report, indent=2))
    print(markdown(rows))
    if args.json:
        keys = (
            "machine",
            "seconds",
            "rows",
            "summary",
            "volume_matched_against_better_baseline",
            "calibrated_against_better_baseline",
            "calibration_all_patients",
            "check_fold",
        )
        write_result(args.json, {k: report[k] for k in keys if k in report})
    print(
        json.dumps(
            {
                k: report[k]
                for k in (
                    "summary",
                    "volume_matched_against_better_baseline",
                    "calibrated_against_better_baseline",
                    "calibration_all_patients",
                    "five_day_forecast",
                    "seconds",
                )
            },
            indent=2,
        )
    )
    if "check_fold" in report:
        print(json.dumps(report["check_fold"]))


if __name__ == "__main__":
    main()
