"""``train --task forecast``: calibrate the growth model on longitudinal patients and write its package.

The data folder is laid out as ``tumour_progression/``: ``scans.csv`` (patient id, scan dates)
and one folder per patient with ``Pre_Scan_T1``, ``Pre_Mask``, ``Post_Scan_T1``, ``Post_Mask``.
Every follow-up is registered to its baseline, the parameter grid is scored on every patient,
the parameters with the best mean Dice are kept, then the volume curve (how much the tumour's
volume changes by a given day, ``growth.volume_curve``: the forecast moves the physics' front until
it holds that volume), the older front-movement factor (how far of the way to the physics' edge,
0 being no change) with the best mean Dice at those parameters, and a leave-one-patient-out table (both re-selected without each patient, beside the
unscaled physics and the no-change and isotropic-growth baselines) goes into the model card. No network: the package is ``model.json`` and ``MODEL_CARD.md``.
"""

from __future__ import annotations

import csv
import platform
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from ..growth.calibrate import (
    DIFFUSIVITY_GRID,
    FRONT_FRACTIONS,
    PROLIFERATION_GRID,
    PhysicsMasks,
    mean_growth_rate,
    prepare_case,
    score_grid,
    select,
    select_front_fraction,
    volume_curve_of,
)
from ..growth.domain import SOLVER_SPACING_MM
from ..growth.longitudinal import ASSUMED_SPACING_MM, load_cases
from ..growth.loo import leave_one_out, summary
from ..models.package import save_model
from ..version import __version__
from .forecast_card import forecast_card
from .record import command_line

DEFAULT_INPAINT_MODEL = "inpaint-brats-demo"


def data_notes(data: Path, patients: Sequence[str]) -> dict[str, str]:
    """What ``scans.csv`` says of each patient beyond dates: its notes and the slices the data's provider removed."""
    with open(data / "scans.csv", newline="") as handle:  # its lists escape their commas with a backslash
        table = [[cell.strip() for cell in row] for row in csv.reader(handle, skipinitialspace=True, escapechar="\\") if row]
    rows = {row[0]: dict(zip(table[0], row)) for row in table[1:]}
    notes = {}
    for patient in patients:
        row = rows.get(patient, {})
        said = [f"slices removed {row['slices_removed']}" if row.get("slices_removed") else "", row.get("notes", "")]
        if any(said):
            notes[patient] = "; ".join(text for text in said if text)
    return notes


def train_forecast(
    data: Path,
    output: Path,
    exclude: Sequence[str] = (),
    spacing: Sequence[float] = ASSUMED_SPACING_MM,
    solver_spacing_mm: float = SOLVER_SPACING_MM,
    inpaint_model: str = DEFAULT_INPAINT_MODEL,
    log: Callable[[str], None] = lambda m: None,
) -> Path:
    """Calibrate on every patient of ``data`` but ``exclude`` and write the package to ``output``."""
    started = time.monotonic()
    cases = load_cases(data, exclude, spacing)
    log(f"{len(cases)} patients; spacing assumed {list(spacing)} mm (the headers say 1x1x1)")
    prepared = [prepare_case(case, solver_spacing_mm, log) for case in cases]
    scores = score_grid(prepared, DIFFUSIVITY_GRID, PROLIFERATION_GRID, log=log)
    calibration = select(scores)
    masks = PhysicsMasks()  # shared: the folds and the full calibration often select the same parameters
    front = select_front_fraction(prepared, calibration.parameters, masks, FRONT_FRACTIONS)
    curve, curve_errors = volume_curve_of(prepared)
    rows = leave_one_out(prepared, scores, masks, FRONT_FRACTIONS)
    log(
        f"calibrated D={calibration.parameters.diffusivity_white} mm^2/day, rho={calibration.parameters.proliferation}/day, "
        f"mean Dice {calibration.mean_dice:.3f}; front factor {front.fraction:g} (mean Dice {front.mean_dice:.3f})"
    )
    config = {
        "id": output.name,
        "task": "forecast",
        "description": "Fisher-Kolmogorov tumour growth (white > grey matter, no flux across skull and ventricles), "
        "parameters calibrated on longitudinal glioblastoma patients; images rendered by inpainting.",
        "networks": {},
        "inputs": ["t1c", "tumour_mask"],
        "optional_inputs": ["t1n", "t2w", "t2f"],
        "outputs": ["tumour_mask_dayNNN", "<sequence>_dayNNN", "tumour_probability_dayNNN (with --samples K >= 2)"],
        "growth": {
            "model": "fisher-kolmogorov",
            "parameters": calibration.parameters.to_dict(),
            "spread": calibration.spread,
            "solver_spacing_mm": solver_spacing_mm,
            "assumed_spacing_mm": [float(s) for s in spacing],
            "mean_volume_growth_rate_per_day": mean_growth_rate(prepared),
            "calibration_mean_dice": calibration.mean_dice,
            "front_fraction": front.fraction,
            "front_calibration_mean_dice": front.mean_dice,
            "volume_curve": curve.to_dict(),
        },
        "render": {"inpaint_model": inpaint_model},
        "training": {
            "command": command_line(),
            "data": [c.name for c in prepared],
            "data_folder": str(data),
            "data_notes": data_notes(data, [c.name for c in prepared]),
            "excluded": list(exclude),
            "intervals_days": {c.name: c.days for c in prepared},
            "registration": {c.name: c.registration for c in prepared},
            "grid": {"diffusivity_white": list(DIFFUSIVITY_GRID), "proliferation": list(PROLIFERATION_GRID)},
            "front_fractions": front.table,
            "volume_curve_errors_pct": curve_errors,
            "per_patient_best": calibration.per_patient,
            "leave_one_out": rows,
            "leave_one_out_summary": summary(rows),
            "seconds": round(time.monotonic() - started),
            "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
            "diffusionsynth_version": __version__,
        },
    }
    return save_model(config, {}, output, forecast_card(config))
