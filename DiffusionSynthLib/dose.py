"""A pseudo-CT judged by dose: the same plan on the reference CT and on the prediction (pyRadPlan), compared by gamma
(pymedphys) and by the target's dose-volume figures, all in percent of the prescription.

Both CTs go onto one isotropic ``GRID_MM`` grid over the reference's body. The structures are the reference's body
(pyRadPlan zeroes densities outside the structure set, so the body must be one) and the target (a ``TARGET_RADIUS_MM``
sphere at the brain's centre unless given). The fluence is optimised on the reference (pyRadPlan's scipy solver: the
target at the prescription, the body kept low) and the same fluence recomputed on the prediction: a wrong density
moves the dose as it would move a delivered plan. Photons: ``PHOTON_BEAMS`` coplanar beams, pyRadPlan's SVD pencil
beam on its generic machine; protons: two opposed lateral fields (``PROTON_GANTRY``), the Hong pencil beam on its
generic machine. Gamma: 2%/2 mm and 1%/1 mm, global, 10% low-dose cut-off, over voxels where either dose is above it.

Needs the ``[dose]`` extra (``pip install -e ".[dose]"``): pyRadPlan and pymedphys are a large stack of their own.
"""

from __future__ import annotations

import contextlib
import io
import logging
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
from scipy import ndimage

from .errors import InputError
from .geometry import resample_to_spacing
from .intensity import head_mask_ct
from .volume import Volume

GRID_MM = 2.0
TARGET_RADIUS_MM = 15.0
PRESCRIPTION_GY = 2.0
PHOTON_BEAMS = 7
PROTON_GANTRY = (90.0, 270.0)
MARGIN_MM = 10.0
ENGINES = {"photon": "SVDPB", "proton": "HongPB"}  # pyRadPlan's pencil-beam engine per modality
HIGH_DOSE_SHARE = 0.5  # of the prescription: the high-dose region of the dose MAE
DOSE_KEYS = (
    "gamma_pass_2pct_2mm",
    "gamma_pass_1pct_1mm",
    "dose_mae_pct_rx",
    "target_dD98_pct",
    "target_dD95_pct",
    "target_dD50_pct",
    "target_dD2_pct",
    "target_dDmean_pct",
)


def require_dose_extra() -> None:
    """One clear error when pyRadPlan or pymedphys is missing."""
    try:
        import pymedphys  # noqa: F401
        import pyRadPlan  # noqa: F401
    except ImportError as error:
        raise InputError(
            f"evaluate --dose needs the optional dose extra ({error.name} is not installed): pip install -e '.[dose]' "
            "(pyRadPlan and pymedphys; a large stack of their own)."
        ) from None


def default_target(reference: Volume, body: np.ndarray) -> np.ndarray:
    """A ``TARGET_RADIUS_MM`` sphere at the brain's centre: the centroid of the soft tissue (0-80 HU) at least 20 mm
    under the body's surface."""
    spacing = np.asarray(reference.spacing, float)
    depth = ndimage.distance_transform_edt(np.pad(body, 1), sampling=spacing)[1:-1, 1:-1, 1:-1]
    brain = body & (depth >= 20.0) & (reference.array > 0) & (reference.array < 80)
    if brain.sum() < 100:
        raise InputError("No brain was found in the reference CT for the default target; give --target MASK.")
    centre = np.argwhere(brain).mean(axis=0)
    grid = np.indices(reference.shape, dtype=np.float32)
    sphere = sum(((grid[a] - centre[a]) * spacing[a]) ** 2 for a in range(3)) <= TARGET_RADIUS_MM**2
    return sphere & body


def _on_dose_grid(ct: Volume, body: np.ndarray, target: np.ndarray) -> tuple[Volume, np.ndarray, np.ndarray]:
    """``ct`` and the two masks cropped to the body's box (plus ``MARGIN_MM``) and resampled onto ``GRID_MM`` voxels."""
    from .geometry import crop

    margin = np.ceil(MARGIN_MM / np.asarray(ct.spacing, float)).astype(int)
    where = np.argwhere(body)
    low, high = np.maximum(where.min(axis=0) - margin, 0), np.minimum(where.max(axis=0) + margin + 1, ct.shape)
    box = (slice(low[0], high[0]), slice(low[1], high[1]), slice(low[2], high[2]))
    spacing = [GRID_MM] * 3
    resampled = resample_to_spacing(crop(ct.with_array(ct.array.astype(np.float32)), box), spacing)
    masks = [resample_to_spacing(crop(ct.with_array(m.astype(np.float32)), box), spacing).array > 0.5 for m in (body, target)]
    return resampled, masks[0], masks[1]


def _sitk(volume: Volume, array: np.ndarray):
    from .volume import to_sitk

    return to_sitk(volume.with_array(array))


def _plan(modality: str):
    from pyRadPlan import IonPlan, PhotonPlan

    if modality == "photon":
        plan = PhotonPlan(machine="Generic")
        angles = np.linspace(0.0, 360.0, PHOTON_BEAMS, endpoint=False)
    else:
        plan = IonPlan(radiation_mode="protons", machine="Generic")
        angles = np.array(PROTON_GANTRY)
    plan.prop_dose_calc = {"engine": ENGINES[modality]}
    plan.prop_stf = {"gantry_angles": angles, "couch_angles": np.zeros_like(angles)}
    plan.prop_opt = {"solver": "scipy", "max_iter": 200}
    return plan


def _dose_and_structures(ct_volume: Volume, body: np.ndarray, target: np.ndarray):
    from pyRadPlan.cst import ExternalVOI, StructureSet, Target
    from pyRadPlan.ct import create_ct
    from pyRadPlan.optimization.objectives import MeanDose, SquaredDeviation, SquaredOverdosing

    ct = create_ct(cube_hu=_sitk(ct_volume, ct_volume.array.astype(np.float32)))
    ptv = Target(name="PTV", mask=_sitk(ct_volume, target.astype(np.uint8)), ct_image=ct, overlap_priority=1)
    outline = ExternalVOI(name="BODY", mask=_sitk(ct_volume, body.astype(np.uint8)), ct_image=ct, overlap_priority=10)
    ptv.objectives = [SquaredDeviation(priority=100.0, d_ref=PRESCRIPTION_GY)]
    outline.objectives = [SquaredOverdosing(priority=10.0, d_max=0.6 * PRESCRIPTION_GY), MeanDose(priority=1.0, d_ref=0.0)]
    return ct, StructureSet(ct_image=ct, vois=[ptv, outline])


def _array(image) -> np.ndarray:
    """A SimpleITK image (pyRadPlan's results, on the dose grid) as an array in this project's (i, j, k) order."""
    from .volume import from_sitk

    return np.asarray(from_sitk(image).array, np.float64)


def _gamma_pass(reference: np.ndarray, evaluated: np.ndarray, spacing_mm: float, percent: float, distance_mm: float) -> float:
    import pymedphys

    axes = tuple(np.arange(n, dtype=float) * spacing_mm for n in reference.shape)
    gamma = pymedphys.gamma(axes, reference, axes, evaluated, percent, distance_mm, lower_percent_dose_cutoff=10, max_gamma=1.1, quiet=True)
    valid = np.isfinite(gamma)
    return float(100.0 * np.mean(gamma[valid] <= 1.0)) if valid.any() else float("nan")


class DosePlan:
    """A plan optimised on ``reference`` (HU) for ``target`` (default: ``default_target``); ``compare`` recomputes its
    fluence on a prediction on the same grid. ``reference_dose`` is in Gy with the target's median at the prescription."""

    def __init__(self, reference: Volume, modality: str, target: np.ndarray | None = None) -> None:
        if modality not in ENGINES:
            raise InputError(f"Unknown --dose '{modality}'; choose {' or '.join(ENGINES)}.")
        require_dose_extra()
        from pyRadPlan import calc_dose_influence, fluence_optimization, generate_stf

        started = time.perf_counter()
        self.reference, self.modality = reference, modality
        self.body = head_mask_ct(reference)
        target = default_target(reference, self.body) if target is None else (target & self.body)
        if target.sum() < 10:
            raise InputError("The target lies outside the reference CT's body (or is empty); give a --target inside the head.")
        self.target = target
        with _quiet():
            ref_volume, self.body_grid, self.target_grid = _on_dose_grid(reference, self.body, target)
            ref_ct, ref_cst = _dose_and_structures(ref_volume, self.body_grid, self.target_grid)
            self.plan = _plan(modality)
            self.stf = generate_stf(ref_ct, ref_cst, self.plan)
            dij = calc_dose_influence(ref_ct, ref_cst, self.stf, self.plan)
            self.fluence = fluence_optimization(ref_ct, ref_cst, self.stf, dij, self.plan)
            dose = _array(dij.compute_result_ct_grid(self.fluence)["physical_dose"])
        self.scale = PRESCRIPTION_GY / max(float(np.median(dose[self.target_grid])), 1e-9)
        self.reference_dose = dose * self.scale
        self.seconds = time.perf_counter() - started

    def compare(self, prediction: Volume) -> dict[str, Any]:
        """The ``dose`` object of ``prediction``: this plan's fluence recomputed on it, against the reference's dose."""
        from pyRadPlan import calc_dose_forward

        if not prediction.same_grid(self.reference):
            raise InputError("The prediction is on another grid than the reference; resample one onto the other first.")
        started = time.perf_counter()
        with _quiet():
            volume, _, _ = _on_dose_grid(prediction, self.body, self.target)
            ct, cst = _dose_and_structures(volume, self.body_grid, self.target_grid)
            dose = _array(calc_dose_forward(ct, cst, self.stf, self.plan, self.fluence)["physical_dose"]) * self.scale
        figures = dose_figures(self.reference_dose, dose, self.target_grid, GRID_MM)
        return {
            "modality": self.modality,
            "engine": ENGINES[self.modality],
            "gantry_angles": [round(float(a), 1) for a in self.plan.prop_stf["gantry_angles"]],
            "grid_mm": GRID_MM,
            "prescription_gy": PRESCRIPTION_GY,
            "target_ml": round(float(self.target_grid.sum()) * GRID_MM**3 / 1000.0, 2),
            **figures,
            "seconds": round(self.seconds + time.perf_counter() - started, 1),
        }


def dose_comparison(prediction: Volume, reference: Volume, modality: str, target: np.ndarray | None = None) -> dict[str, Any]:
    """The plan optimised on ``reference`` and recomputed on ``prediction`` (same grid, HU); the ``dose`` figures."""
    return DosePlan(reference, modality, target).compare(prediction)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """pyRadPlan's progress bars and log lines kept off the terminal (the command prints one JSON object)."""
    logger = logging.getLogger("pyRadPlan")
    level = logger.level
    logger.setLevel(logging.ERROR)  # its notes on defaults chosen (the stf generator, the planning problem) included
    try:
        with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        logger.setLevel(level)


def dose_figures(reference: np.ndarray, prediction: np.ndarray, target: np.ndarray, spacing_mm: float) -> dict[str, float]:
    """Gamma pass rates, the dose MAE in the high-dose region and the target's DVH differences (percent of the
    prescription) of ``prediction`` against ``reference`` (both in Gy, the reference's target median at the prescription)."""
    high = reference >= HIGH_DOSE_SHARE * PRESCRIPTION_GY
    out = {
        "gamma_pass_2pct_2mm": _gamma_pass(reference, prediction, spacing_mm, 2.0, 2.0),
        "gamma_pass_1pct_1mm": _gamma_pass(reference, prediction, spacing_mm, 1.0, 1.0),
        "dose_mae_pct_rx": float(100.0 * np.mean(np.abs(prediction - reference)[high]) / PRESCRIPTION_GY),
    }
    for name, percentile in (("D98", 2), ("D95", 5), ("D50", 50), ("D2", 98)):
        difference = np.percentile(prediction[target], percentile) - np.percentile(reference[target], percentile)
        out[f"target_d{name}_pct"] = float(100.0 * difference / PRESCRIPTION_GY)
    out["target_dDmean_pct"] = float(100.0 * (prediction[target].mean() - reference[target].mean()) / PRESCRIPTION_GY)
    return {key: round(value, 3) for key, value in out.items()}
