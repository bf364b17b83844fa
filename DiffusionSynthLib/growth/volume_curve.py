"""How far a tumour's volume moves by a given day, calibrated on the patients: growth that levels off.

In the progression collection the follow-up is the scan at which progression was declared, so
its volume change does not grow with the interval (27 to 157 days: -30% to +218%; 415 days:
+10%), and a physics run long enough overgrows it. The curve ln(V(t) / V0) = rate x min(t, plateau)
grows exponentially, then levels off. The plateau is chosen on the patients by the mean absolute
volume error of the curve's forecast (``PLATEAU_DAYS``; ties: the longer plateau); the rate, at
each plateau, is the median over the patients of ln(V1 / V0) / min(days, plateau), so that one
fast grower does not set it. The forecast then moves the tumour's edge towards the physics' edge
until the mask holds that volume (``GrowthDomain.front_to_volume``): the physics says where the
tumour goes, the curve how much.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

PLATEAU_DAYS: tuple[float | None, ...] = (15.0, 30.0, 60.0, 90.0, 120.0, 180.0, 365.0, None)  # None: no plateau


@dataclass(frozen=True)
class VolumeCurve:
    rate_per_day: float
    plateau_days: float | None  # None: exponential growth at every interval

    def ratio(self, days: float) -> float:
        """V(days) / V0."""
        effective = float(days) if self.plateau_days is None else min(float(days), self.plateau_days)
        return math.exp(self.rate_per_day * effective)

    def to_dict(self) -> dict[str, Any]:
        return {"rate_per_day": self.rate_per_day, "plateau_days": self.plateau_days}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VolumeCurve:
        plateau = data.get("plateau_days")
        return cls(float(data["rate_per_day"]), None if plateau is None else float(plateau))


def _error_pct(curve: VolumeCurve, before: float, after: float, days: int) -> float:
    return 100.0 * abs(before * curve.ratio(days) - after) / max(after, 1e-9)


def fit_volume_curve(patients: Sequence[tuple[float, float, int]], plateaus: Sequence[float | None] = PLATEAU_DAYS) -> tuple[VolumeCurve, dict[str, float]]:
    """The curve for (volume before, volume after, days) of each patient, and each plateau's mean abs volume error (%)."""
    if not patients:
        raise ValueError("A volume curve needs at least one patient.")
    table: dict[str, float] = {}
    best: tuple[float, int, VolumeCurve] | None = None
    for order, plateau in enumerate(plateaus):
        rates = [math.log(max(after, 1e-9) / max(before, 1e-9)) / max(days if plateau is None else min(days, plateau), 1.0) for before, after, days in patients]
        curve = VolumeCurve(float(np.median(rates)), plateau)
        error = float(np.mean([_error_pct(curve, *patient) for patient in patients]))
        table["none" if plateau is None else f"{plateau:g}"] = error
        key = (round(error, 9), -order)  # ties: the longer plateau (later in the list)
        if best is None or key < best[:2]:
            best = (key[0], key[1], curve)
    assert best is not None
    return best[2], table
