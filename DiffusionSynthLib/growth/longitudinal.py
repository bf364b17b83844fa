"""Longitudinal pairs (baseline and follow-up scan of one patient): spacing, real slices, registration.

Written for the TCIA Brain-Tumor-Progression files as redistributed in ``tumour_progression/``:
headers that say 1x1x1 mm (the true spacing was lost), 20 real slices padded with empty ones,
and follow-ups that are only roughly aligned with their baseline. Each follow-up is registered
rigidly to its baseline (in millimetres, under the assumed spacing) before any comparison.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..volume import Volume, read_volume

# In-plane: the heads measure a median 183 x 233 pixels (breadth x length, scalp included) against
# about 150 x 190 mm for adults, i.e. 0.82 mm; 220 mm field of view / 256 = 0.86 mm. Slices: the
# collection's usual 5 mm (the README's figure; the true slice distance, gap included, may be larger).
ASSUMED_SPACING_MM = (0.86, 0.86, 5.0)


@dataclass
class LongitudinalCase:
    """One patient: baseline and follow-up image and mask, and the days between the two scans."""

    name: str
    baseline: Volume
    baseline_mask: Volume
    followup: Volume
    followup_mask: Volume
    days: int


def with_spacing(volume: Volume, spacing: Sequence[float]) -> Volume:
    """The same voxels and axes with ``spacing`` in mm (for headers that lost it); voxel (0,0,0) stays put."""
    millimetres = np.asarray(spacing, dtype=np.float64)
    if millimetres.shape != (3,) or not np.all(np.isfinite(millimetres)) or np.any(millimetres <= 0):
        raise InputError(f"An assumed spacing is three positive numbers in mm, not {list(millimetres)}.")
    matrix = volume.ijk_to_ras.copy()
    matrix[:3, :3] = volume.direction * millimetres
    return Volume(volume.array, matrix)


def data_slices(volume: Volume, axis: int = 2) -> np.ndarray:
    """Bool per slice along ``axis``: True where the slice holds any non-zero voxel (padding is all zero)."""
    other = tuple(a for a in range(3) if a != axis)
    return np.any(np.asarray(volume.array) != 0, axis=other)


def read_scans_csv(path: Path) -> dict[str, dict[str, str]]:
    """``scans.csv`` rows by patient id, keys and values stripped."""
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle, skipinitialspace=True))
    header = [h.strip() for h in rows[0]]
    return {row[0].strip(): {k: v.strip() for k, v in zip(header, row)} for row in rows[1:] if row}


def interval_days(row: dict[str, str]) -> int:
    start = dt.date.fromisoformat(row["initialDate"])
    end = dt.date.fromisoformat(row["endDate"])
    return (end - start).days


def load_case(folder: Path, days: int, spacing: Sequence[float] | None = ASSUMED_SPACING_MM) -> LongitudinalCase:
    """A patient folder (``Pre_Scan_T1``, ``Pre_Mask``, ``Post_Scan_T1``, ``Post_Mask``), spacing assumed when given."""
    volumes = {}
    for name in ("Pre_Scan_T1", "Pre_Mask", "Post_Scan_T1", "Post_Mask"):
        volume = read_volume(folder / f"{name}.nii.gz", name.replace("_", " "))
        volumes[name] = with_spacing(volume, spacing) if spacing is not None else volume
    return LongitudinalCase(folder.name, volumes["Pre_Scan_T1"], volumes["Pre_Mask"], volumes["Post_Scan_T1"], volumes["Post_Mask"], days)


def load_cases(data: Path, exclude: Sequence[str] = (), spacing: Sequence[float] | None = ASSUMED_SPACING_MM) -> list[LongitudinalCase]:
    """Every patient listed in ``data/scans.csv`` except ``exclude``; one ``InputError`` when the layout is wrong."""
    table = data / "scans.csv"
    if not table.is_file():
        raise InputError(f"'{data}' has no scans.csv; a longitudinal folder holds scans.csv and one folder per patient.")
    rows = read_scans_csv(table)
    unknown = sorted(set(exclude) - set(rows))
    if unknown:
        raise InputError(f"--exclude-case {unknown} is not a patient of '{table}' (patients: {', '.join(rows)}).")
    cases = [load_case(data / pid, interval_days(row), spacing) for pid, row in rows.items() if pid not in exclude]
    if len(cases) < 2:
        raise InputError(f"Calibration needs at least two patients; '{data}' leaves {len(cases)}.")
    return cases


def _cropped(volume: Volume, keep: np.ndarray) -> Volume:
    """The slab of slices ``keep`` (contiguous) along k, with its origin moved accordingly."""
    first, last = int(np.argmax(keep)), int(len(keep) - np.argmax(keep[::-1]))
    matrix = volume.ijk_to_ras.copy()
    matrix[:3, 3] = (volume.ijk_to_ras @ np.array([0.0, 0.0, first, 1.0]))[:3]
    return Volume(np.ascontiguousarray(volume.array[:, :, first:last]), matrix)


@dataclass
class Registered:
    """The follow-up image and mask on the baseline grid, and how far registration moved them."""

    image: Volume
    mask: Volume
    rotation_deg: float
    translation_mm: float
    overlap: np.ndarray  # baseline voxels that the follow-up covers (its real slices)


def register_followup(case: LongitudinalCase, log: Callable[[str], None] = lambda m: None) -> Registered:
    """Rigid mutual-information registration of the follow-up onto the baseline (padding slices left out).

    The follow-up mask goes through the same transform (linear, then >= 0.5).
    """
    import SimpleITK as sitk

    from ..registration import register_rigid, resample_with_transform

    fixed = _cropped(case.baseline, data_slices(case.baseline))
    moving = _cropped(case.followup, data_slices(case.followup))
    try:
        transform = register_rigid(fixed, moving, log)
    except RuntimeError as error:
        raise InputError(f"Registering the follow-up of '{case.name}' to its baseline failed ({str(error).strip()[-200:]}).") from None
    euler = (
        sitk.Euler3DTransform(sitk.CompositeTransform(transform).GetNthTransform(0))
        if transform.GetName() == "CompositeTransform"
        else sitk.Euler3DTransform(transform)
    )
    angles = np.degrees(np.abs(euler.GetAngleX()) + np.abs(euler.GetAngleY()) + np.abs(euler.GetAngleZ()))
    image = resample_with_transform(case.followup, case.baseline, transform)
    mask = resample_with_transform(case.followup_mask.with_array((case.followup_mask.array > 0).astype(np.float32)), case.baseline, transform)
    cover = data_slices(case.followup)
    coverage = resample_with_transform(case.followup.with_array(np.broadcast_to(cover, case.followup.shape).astype(np.float32)), case.baseline, transform)
    overlap = (coverage.array > 0.99) & np.broadcast_to(data_slices(case.baseline), case.baseline.shape)
    return Registered(
        image=image,
        mask=mask.with_array((mask.array >= 0.5).astype(np.uint8)),
        rotation_deg=float(angles),
        translation_mm=float(np.linalg.norm(euler.GetTranslation())),
        overlap=overlap,
    )
