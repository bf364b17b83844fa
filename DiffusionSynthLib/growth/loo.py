"""Leave-one-patient-out: calibrate on the others, forecast the held-out follow-up day, beside two baselines.

The grid scores do not depend on which patients are held out, so each fold re-selects parameters
from the other patients' rows of one ``GridScores``: exactly what ``train --task forecast
--exclude-case P`` computes, without simulating the grid again. The front-movement factor is then re-selected on the same
other patients (``select_front_fraction``), and the held-out patient's physics front is moved by
it: the calibrated forecast. The volume-matched forecast moves the same physics front until the
mask holds the volume that the other patients' volume curve gives for the held-out interval
(``volume_curve``). Both beside the unscaled physics and the baselines.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from . import baselines
from .calibrate import (
    FRONT_FRACTIONS,
    GridScores,
    PhysicsMasks,
    PreparedCase,
    mean_growth_rate,
    select,
    select_front_fraction,
    volume_curve_of,
)

METHODS = ("volume_matched", "calibrated", "physics", "no_change", "isotropic")
BASELINES = ("no_change", "isotropic")


def leave_one_out(
    cases: Sequence[PreparedCase], scores: GridScores, masks: PhysicsMasks | None = None, fractions: Sequence[float] = FRONT_FRACTIONS
) -> list[dict]:
    """One row per held-out patient: the fold's parameters and factor (both from the others only) and each method's
    Dice and volume error."""
    masks = masks or PhysicsMasks()
    rows = []
    for held in cases:
        train = [c for c in cases if c.name != held.name]
        calibration = select(scores.subset([c.name for c in train]))
        front = select_front_fraction(train, calibration.parameters, masks, fractions)
        rate = mean_growth_rate(train)
        curve, _ = volume_curve_of(train)
        physics = masks.get(held, calibration.parameters)
        matched, matched_fraction = held.domain.front_to_volume(physics, held.domain.tumour.sum() * curve.ratio(held.days))
        forecasts = {
            "volume_matched": matched,
            "calibrated": held.domain.moved_front(physics, front.fraction),
            "physics": physics,
            "no_change": baselines.no_change(held.domain),
            "isotropic": baselines.isotropic(held.domain, rate, held.days),
        }
        row = {
            "patient": held.name,
            "days": held.days,
            "volume_before_ml": held.volume_before_ml,
            "volume_after_ml": held.volume_after_ml,
            "diffusivity_white": calibration.parameters.diffusivity_white,
            "proliferation": calibration.parameters.proliferation,
            "front_fraction": front.fraction,
            "growth_rate_per_day": rate,
            "curve_rate_per_day": curve.rate_per_day,
            "curve_plateau_days": curve.plateau_days,
            "volume_matched_fraction": matched_fraction,
        }
        for method, mask in forecasts.items():
            for key, value in held.score(mask).items():
                row[f"{method}_{key}"] = value
        rows.append(row)
    return rows


def summary(rows: Sequence[dict]) -> dict[str, dict[str, float]]:
    """Per method: mean and median Dice, mean absolute volume error (%), patients where it has the best Dice
    and where its Dice is above the no-change baseline's."""
    result = {}
    methods = [m for m in METHODS if rows and f"{m}_dice" in rows[0]]
    for method in methods:
        dice = np.array([r[f"{method}_dice"] for r in rows])
        errors = np.abs([r[f"{method}_volume_error_pct"] for r in rows])
        wins = sum(1 for r in rows if r[f"{method}_dice"] >= max(r[f"{m}_dice"] for m in methods))
        above = sum(1 for r in rows if r[f"{method}_dice"] > r["no_change_dice"])
        result[method] = {
            "mean_dice": float(dice.mean()),
            "median_dice": float(np.median(dice)),
            "mean_abs_volume_error_pct": float(errors.mean()),
            "best_dice_patients": wins,
            "above_no_change_patients": above,
        }
    return result


def against_baselines(means: dict[str, dict[str, float]], method: str = "calibrated", tolerance: float = 1e-9) -> dict[str, dict]:
    """For mean Dice (higher is better) and mean abs volume error (lower is better): the better baseline, its value,
    the method's, and whether the method ties or beats it (within ``tolerance``)."""
    result = {}
    for key, sign in (("mean_dice", 1.0), ("mean_abs_volume_error_pct", -1.0)):
        best = max(BASELINES, key=lambda b: sign * means[b][key])
        ours, theirs = means[method][key], means[best][key]
        result[key] = {"better_baseline": best, "baseline": theirs, method: ours, "ties_or_beats": bool(sign * (ours - theirs) >= -tolerance)}
    return result


LABELS = {
    "volume_matched": "Fisher-Kolmogorov, front moved to the calibrated volume (ours)",
    "calibrated": "Fisher-Kolmogorov, front factor calibrated",
    "physics": "Fisher-Kolmogorov, unscaled",
    "no_change": "no change",
    "isotropic": "isotropic growth at mean rate",
}
SHORT = {"volume_matched": "volume-matched", "calibrated": "calibrated", "physics": "physics", "no_change": "no change", "isotropic": "isotropic"}


def package_method(rows: Sequence[dict]) -> str:
    """The forecast a package's table was made for: the newest method its rows hold."""
    return next((m for m in ("volume_matched", "calibrated") if rows and f"{m}_dice" in rows[0]), "physics")


def markdown(rows: Sequence[dict]) -> str:
    """The per-patient table and the summary table, as Markdown."""
    methods = [m for m in METHODS if rows and f"{m}_dice" in rows[0]]
    extra = [("front_fraction", "fold factor"), ("curve_plateau_days", "fold plateau (days)")]
    extra = [(key, title) for key, title in extra if rows and key in rows[0]]
    head = "| patient | days | volume before (ml) | after (ml) | " + " | ".join(f"Dice {SHORT[m]}" for m in methods)
    head += " | " + " | ".join(f"vol. error {SHORT[m]}" for m in methods) + " | fold D (mm²/day) | fold ρ (1/day) |"
    head += "".join(f" {title} |" for _, title in extra)
    lines = [head, "|" + "---|" * head.count(" |")]
    for r in rows:
        dice = " | ".join(f"{r[f'{m}_dice']:.3f}" for m in methods)
        errors = " | ".join(f"{r[f'{m}_volume_error_pct']:+.0f}%" for m in methods)
        tail = "".join(" none |" if r[key] is None else f" {r[key]:g} |" for key, _ in extra)
        lines.append(
            f"| {r['patient']} | {r['days']} | {r['volume_before_ml']:.1f} | {r['volume_after_ml']:.1f} | {dice} | {errors} | "
            f"{r['diffusivity_white']:g} | {r['proliferation']:g} |{tail}"
        )
    best = f"best Dice of the {len(methods)}"
    lines += ["", f"| method | mean Dice | median Dice | mean abs. volume error | {best} | Dice above no change |", "|---|---|---|---|---|---|"]
    for method, s in summary(rows).items():
        above = "-" if method == "no_change" else f"{s['above_no_change_patients']} of {len(rows)}"
        lines.append(
            f"| {LABELS[method]} | {s['mean_dice']:.3f} | {s['median_dice']:.3f} | {s['mean_abs_volume_error_pct']:.0f}% | "
            f"{s['best_dice_patients']} of {len(rows)} | {above} |"
        )
    return "\n".join(lines)
