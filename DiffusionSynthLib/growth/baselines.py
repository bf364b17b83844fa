"""The two reference forecasts a growth model must beat: no change, and isotropic growth at a mean rate."""

from __future__ import annotations

import numpy as np

from .domain import GrowthDomain


def no_change(domain: GrowthDomain) -> np.ndarray:
    """The baseline mask itself."""
    return domain.tumour.copy()


def volume_growth_rate(volume_before: float, volume_after: float, days: int) -> float:
    """Exponential volume growth rate per day, ln(V1 / V0) / days."""
    return float(np.log(max(volume_after, 1.0) / max(volume_before, 1.0)) / max(days, 1))


def isotropic(domain: GrowthDomain, rate_per_day: float, days: int) -> np.ndarray:
    """The tumour grown (or shrunk) by the same distance in mm in every direction until its volume is V0 exp(rate days).

    Same rules as the physics for where a mask may lie (brain tissue, not the necrotic core).
    """
    target = domain.tumour.sum() * float(np.exp(rate_per_day * days))
    signed = domain.signed_input_mm
    usable = domain.allowed & ~domain.core

    def grown(radius: float) -> np.ndarray:
        return (signed <= radius) & usable

    low, high = float(signed.min()), float(signed.max())
    for _ in range(40):  # bisection on the radius: the volume grows with it
        middle = (low + high) / 2
        if grown(middle).sum() < target:
            low = middle
        else:
            high = middle
    return grown(high)
