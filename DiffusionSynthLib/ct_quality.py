"""The quality check of every pseudo-CT before it is written: figures that real head CTs bound, a warning for each
figure outside its range, and the record kept in provenance (and so in a DICOM series' ``ImageComments``).

Figures (``LIMITS`` holds each one's plausible range and where it comes from):

- ``intracranial_air_ml``: air (below -500 HU) at least 20 mm under the head's surface where the MR shows tissue
  (signal above half the head's median): air where the MR sees brain. Sinuses, airways and mastoid cells are dark in
  every MR sequence, so they do not count. A real CT has none; the registered real pair (5 mm slices, partial volume
  at the sinuses' walls) gives 1.8 ml with its own MR.
- ``skull_layer_bone_share``: the share of bone (above 300 HU) in the layer 3-12 mm under the head's surface. Real head
  CTs here: 26-47%; a thick scalp (Colin27's puts the skull 8-19 mm deep) lowers it, so the warning is below 15%. A
  field of view that cuts the head, or an MR with missing slices, puts brain under a false surface and lowers it too.
- ``head_hu_p99``: the 99th percentile of HU in the head: the skull's dense bone. Real head CTs here: 1360-1520 HU.
- ``head_cut_share``: the share of the head's surface lying on the edge of the MR's field of view (its data, zero
  padding cut away) other than the feet-side end (every head MR ends at the neck): a field of view that cuts the
  vertex, the face or the sides, where the skull cannot be known. Whole heads here: Colin27 0.03, ReMIND-022's T1c
  0.04 and T2 0.00; the registered pair's MR, cut at the vertex, 0.26.
- ``prior_network_disagreement_share``: the share of the head where the network's estimate and the deterministic
  prior differ by more than 300 HU, when both are known: about a tenth of any head (the skull's edges, where the
  prior is blurred: the training pair's own MR 0.10, Colin27 0.09); twice that means the network is outside what it
  learned.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from .geometry import data_box, to_canonical
from .metrics import SKULL_BONE_HU, SKULL_LAYER_MM, ct_head_depth
from .volume import Volume

AIR_HU = -500.0
DEEP_MM = 20.0
MR_TISSUE_SHARE = 0.5  # of the head's median MR signal: tissue, not air
DISAGREEMENT_HU = 300.0

# figure: (lowest plausible, highest plausible, what the range rests on); None: no bound on that side
LIMITS: dict[str, tuple[float | None, float | None, str]] = {
    "intracranial_air_ml": (None, 2.0, "real CTs have none; the registered real pair 1.8 ml (partial volume at the sinuses)"),
    "skull_layer_bone_share": (0.15, None, "real head CTs here 0.26-0.47; a thick scalp lowers it"),
    "head_hu_p99": (800.0, 2500.0, "real head CTs here 1360-1520 HU"),
    "head_cut_share": (None, 0.10, "the field of view cuts the head: whole heads here 0.00-0.04"),
    "prior_network_disagreement_share": (None, 0.20, "twice the training pair's own MR (0.10; Colin27 0.09)"),
}
UNITS = {"intracranial_air_ml": " ml", "skull_layer_bone_share": "", "head_hu_p99": " HU", "head_cut_share": "", "prior_network_disagreement_share": ""}


@dataclass(frozen=True)
class QualityCheck:
    """A pseudo-CT's figures and the warnings for those outside ``LIMITS`` (empty: it passed)."""

    figures: dict[str, float | None]
    warnings: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.warnings

    def record(self) -> dict:
        """JSON-safe, for the provenance record."""
        return {
            "passed": self.passed,
            "figures": {key: round(float(value), 4) if value is not None and np.isfinite(value) else None for key, value in self.figures.items()},
            "limits": {key: [low, high] for key, (low, high, _) in LIMITS.items()},
            "warnings": list(self.warnings),
        }

    def summary(self) -> str:
        """One line: each figure with its range, then PASSED or the number of warnings."""
        parts = []
        for key, value in self.figures.items():
            if value is None:
                continue
            low, high, _ = LIMITS[key]
            bound = " to ".join(f"{v:g}" for v in (low, high) if v is not None)
            side = "at least " if high is None else "at most " if low is None else ""
            parts.append(f"{key} {_number(value)}{UNITS[key]} ({side}{bound})")
        verdict = "passed" if self.passed else f"{len(self.warnings)} warning(s)"
        return f"quality check {verdict}: " + "; ".join(parts)


def check_pseudo_ct(ct: Volume, mri: Volume, head: np.ndarray, disagreement_share: float | None = None) -> QualityCheck:
    """The quality check of ``ct`` (HU) made from ``mri`` on the same grid, ``head`` the head mask the pseudo-CT used."""
    values = np.asarray(ct.array, np.float32)
    spacing = [float(s) for s in ct.spacing]
    # air: depth under the MR's head (the array's edge counts as surface: nothing beyond it is known)
    depth = ndimage.distance_transform_edt(np.pad(head, 1), sampling=spacing)[1:-1, 1:-1, 1:-1]
    signal = np.asarray(mri.array, np.float32)
    median = float(np.median(signal[head])) if head.any() else 0.0
    deep_air = head & (depth >= DEEP_MM) & (values < AIR_HU) & (signal > MR_TISSUE_SHARE * median)
    # bone: the layer under the CT's own surface, as on the real CTs the range comes from (metrics.head_ct_plausibility)
    ct_head, ct_depth = ct_head_depth(ct)
    layer = ct_head & (ct_depth >= SKULL_LAYER_MM[0]) & (ct_depth <= SKULL_LAYER_MM[1])
    figures: dict[str, float | None] = {
        "intracranial_air_ml": float(deep_air.sum() * np.prod(spacing) / 1000.0),
        "skull_layer_bone_share": float(np.mean(values[layer] > SKULL_BONE_HU)) if layer.any() else float("nan"),
        "head_hu_p99": float(np.percentile(values[head], 99)) if head.any() else float("nan"),
        "head_cut_share": head_cut_share(mri, head),
        "prior_network_disagreement_share": disagreement_share,
    }
    return QualityCheck(figures, warnings_for(figures))


def head_cut_share(mri: Volume, head: np.ndarray) -> float:
    """The share of ``head``'s surface on the faces of ``mri``'s field of view, its feet-side face left out."""
    canonical = to_canonical(mri)
    box = data_box(canonical)
    inside = np.asarray(to_canonical(mri.with_array(head)).array)[box]
    surface = inside & ~ndimage.binary_erosion(inside, border_value=0)
    faces = np.zeros(inside.shape, bool)
    faces[0], faces[-1], faces[:, 0], faces[:, -1], faces[:, :, -1] = True, True, True, True, True  # R/L, P/A, superior
    return float((surface & faces).sum() / max(int(surface.sum()), 1))


def _number(value: float) -> str:
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}"


def warnings_for(figures: Mapping[str, float | None]) -> list[str]:
    """A sentence for each figure outside its plausible range (a figure that could not be measured is one too)."""
    warnings = []
    for key, value in figures.items():
        if value is None:
            continue
        low, high, basis = LIMITS[key]
        if not np.isfinite(value):
            warnings.append(f"{key} could not be measured (no head found in the pseudo-CT)")
        elif (low is not None and value < low) or (high is not None and value > high):
            bound = f"below {low:g}" if low is not None and value < low else f"above {high:g}"
            warnings.append(f"{key} {_number(value)}{UNITS[key]} is {bound} ({basis})")
    return warnings
