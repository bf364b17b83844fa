"""The growth model's parameters, and draws from their calibrated spread between patients."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ..errors import ModelError

GREY_TO_WHITE = 0.1  # D in grey matter / D in white matter (Swanson et al. 2000 use 1/5 to 1/100; 1/10 is usual)
VISIBLE_DENSITY = 0.5  # density at the edge of the segmented (enhancing) tumour


@dataclass(frozen=True)
class GrowthParameters:
    """Fisher-Kolmogorov parameters: white-matter diffusivity (mm^2/day) and proliferation (1/day)."""

    diffusivity_white: float
    proliferation: float
    grey_ratio: float = GREY_TO_WHITE
    threshold: float = VISIBLE_DENSITY

    @property
    def diffusivity_grey(self) -> float:
        return self.diffusivity_white * self.grey_ratio

    @property
    def speed_mm_per_day(self) -> float:
        """Asymptotic front speed in white matter, 2 sqrt(D rho) (0 without proliferation)."""
        return float(2.0 * np.sqrt(self.diffusivity_white * max(self.proliferation, 0.0)))

    def tail_mm(self, floor: float, ceiling: float = 20.0) -> float:
        """Decay length of the invisible infiltration beyond the edge, sqrt(D / rho), within [floor, ceiling]."""
        if self.proliferation <= 0:
            return floor
        return float(np.clip(np.sqrt(self.diffusivity_white / self.proliferation), floor, ceiling))

    def to_dict(self) -> dict[str, float]:
        return {key: float(value) for key, value in asdict(self).items()}

    @classmethod
    def from_dict(cls, values: dict) -> GrowthParameters:
        try:
            parameters = cls(**{key: float(values[key]) for key in ("diffusivity_white", "proliferation", "grey_ratio", "threshold")})
        except (KeyError, TypeError, ValueError) as error:
            raise ModelError(f"The growth parameters in model.json are incomplete or not numbers ({error}).") from None
        if not (parameters.diffusivity_white > 0 and np.isfinite(parameters.proliferation) and 0 < parameters.grey_ratio <= 1 and 0 < parameters.threshold < 1):
            raise ModelError(f"The growth parameters in model.json are out of range: {parameters.to_dict()}.")
        return parameters


def draw_parameters(centre: GrowthParameters, spread: dict, count: int, seed: int) -> list[GrowthParameters]:
    """``count`` parameter sets: log10 D and rho drawn around ``centre`` with the spread's standard deviations.

    ``spread`` holds ``log10_diffusivity_sd`` and ``proliferation_sd`` (from the per-patient best
    fits in calibration); rho is kept at 0 or above, D within the calibrated ``diffusivity_range``.
    """
    rng = np.random.default_rng(seed)
    low, high = spread.get("diffusivity_range", [centre.diffusivity_white, centre.diffusivity_white])
    draws = []
    for _ in range(count):
        log_d = np.log10(centre.diffusivity_white) + rng.normal() * float(spread.get("log10_diffusivity_sd", 0.0))
        rho = centre.proliferation + rng.normal() * float(spread.get("proliferation_sd", 0.0))
        draws.append(GrowthParameters(float(np.clip(10**log_d, low, high)), float(max(rho, 0.0)), centre.grey_ratio, centre.threshold))
    return draws
