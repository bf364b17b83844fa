"""Leave-one-patient-out: calibrate on the others, forecast the held-out follow-up day, beside two baselines.

The grid scores do not depend on which patients are held out, so each fold re-selects parameters
from the other patients' rows of one ``GridScores``: exactly what ``train --task forecast
--exclude-case P`` computes, without simulating the grid again.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from . import baselines
from .calibrate import GridScores, PreparedCase, mean_growth_rate, select

METHODS = ("physics", "no_change", "isotropic")


def leave_one_out(cases: Sequence[PreparedCase], scores: GridScores) -> list[dict]:
    """One row per held-out patient: the fold's parameters and each method's Dice and volume error."""
    rows = []
    for held in cases:
        train = [c for c in cases if c.name != held.name]
        calibration = select(scores.subset([c.name for c in train]))
        rate = mean_growth_rate(train)
        forecasts = {
            "physics": held.domain.forecast(calibration.parameters, [held.days])[held.days],
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
            "growth_rate_per_day": rate,
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
    for method in METHODS:
        dice = np.array([r[f"{method}_dice"] for r in rows])
        errors = np.abs([r[f"{method}_volume_error_pct"] for r in rows])
        wins = sum(1 for r in rows if r[f"{method}_dice"] >= max(r[f"{m}_dice"] for m in METHODS))
        above = sum(1 for r in rows if r[f"{method}_dice"] > r["no_change_dice"])
        result[method] = {
            "mean_dice": float(dice.mean()),
            "median_dice": float(np.median(dice)),
            "mean_abs_volume_error_pct": float(errors.mean()),
            "best_dice_patients": wins,
            "above_no_change_patients": above,
        }
    return result


LABELS = {"physics": "Fisher-Kolmogorov (ours)", "no_change": "no change", "isotropic": "isotropic growth at mean rate"}


def markdown(rows: Sequence[dict]) -> str:
    """The per-patient table and the summary table, as Markdown."""
    lines = [
        "| patient | days | volume before (ml) | after (ml) | Dice ours | Dice no change | Dice isotropic | vol. error ours | no change | isotropic | fold D (mm²/day) | fold ρ (1/day) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['patient']} | {r['days']} | {r['volume_before_ml']:.1f} | {r['volume_after_ml']:.1f} | {r['physics_dice']:.3f} | "
            f"{r['no_change_dice']:.3f} | {r['isotropic_dice']:.3f} | {r['physics_volume_error_pct']:+.0f}% | "
            f"{r['no_change_volume_error_pct']:+.0f}% | {r['isotropic_volume_error_pct']:+.0f}% | {r['diffusivity_white']:g} | {r['proliferation']:g} |"
        )
    lines += ["", "| method | mean Dice | median Dice | mean abs. volume error | best Dice of the three | Dice above no change |", "|---|---|---|---|---|---|"]
    for method, s in summary(rows).items():
        above = "-" if method == "no_change" else f"{s['above_no_change_patients']} of {len(rows)}"
        lines.append(
            f"| {LABELS[method]} | {s['mean_dice']:.3f} | {s['median_dice']:.3f} | {s['mean_abs_volume_error_pct']:.0f}% | "
            f"{s['best_dice_patients']} of {len(rows)} | {above} |"
        )
    return "\n".join(lines)
