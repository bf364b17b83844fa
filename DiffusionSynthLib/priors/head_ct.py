"""Anatomical pseudo-CT prior: Hounsfield units from depth under the scalp and how dark the MR is there.

A head's tissues are layered: scalp (fat, soft tissue), the skull (dark in every MR contrast),
then brain and CSF, with air cavities dark and deep. Two features carry most of this whatever the
MR's contrast: the depth of a voxel under the head's surface (mm, Euclidean distance to the
outside) and its darkness (the rank of its MR intensity among the head's voxels, 0 darkest, 1
brightest). The prior is a lookup table of the median HU in each (depth, darkness) cell, learned
from registered MR/CT pairs; cells the pairs leave empty take the median HU at that depth over
every head CT given (pairs and CT-only scans), the skull's depth statistics. Outside the head: air.

Fitted in seconds (``fit_head_ct_prior``), stored in ``model.json`` as plain lists, applied with
``predict_head_ct``. Figures against water and bulk density: ``benchmarks/mri_to_ct_quality.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage

KIND = "head-anatomy"
AIR_HU = -1000.0
HU_PER_UNIT = 1000.0  # what the networks see: HU / 1000 (linear, so a sample SD converts exactly)
DEPTH_EDGES_MM = (0.0, 2.0, 4.0, 6.0, 8.0, 10.0, 12.0, 14.0, 17.0, 20.0, 25.0)  # the last bin is open: everything deeper
DARKNESS_BINS = 10
MIN_CELL_VOXELS = 20


@dataclass
class HeadPair:
    """One registered MR/CT pair on a common grid (any voxel order; ``spacing`` in mm per array axis)."""

    mr: np.ndarray
    ct_hu: np.ndarray
    head: np.ndarray  # bool: the head in the MR (``intensity.head_mask_mr``)
    fit: np.ndarray  # bool: voxels the table may learn from (a held-out slab excluded)
    spacing: Sequence[float]


@dataclass
class HeadCt:
    """One CT without an MR: only its depth profile is learned."""

    ct_hu: np.ndarray
    head: np.ndarray  # bool (``intensity.head_mask_ct``)
    spacing: Sequence[float]


def depth_below_surface(head: np.ndarray, spacing: Sequence[float]) -> np.ndarray:
    """Millimetres from each head voxel to the nearest voxel outside the head (0 outside).

    The array's border is not a surface: a head cut by the field of view keeps its depth.
    """
    return ndimage.distance_transform_edt(head, sampling=[float(s) for s in spacing]).astype(np.float32)


def darkness(mr: np.ndarray, head: np.ndarray) -> np.ndarray:
    """Rank of each voxel's MR intensity among the head's voxels, in [0, 1) (0 outside the head)."""
    values = np.sort(mr[head].astype(np.float32))
    if values.size == 0:
        return np.zeros(mr.shape, np.float32)
    ranks = np.searchsorted(values, mr.astype(np.float32), side="left") / values.size
    return np.where(head, ranks, 0.0).astype(np.float32)


def _cells(depth: np.ndarray, dark: np.ndarray, depth_edges: Sequence[float], bins: int) -> tuple[np.ndarray, np.ndarray]:
    depth_index = np.clip(np.digitize(depth, depth_edges) - 1, 0, len(depth_edges) - 1)
    dark_index = np.clip((dark * bins).astype(int), 0, bins - 1)
    return depth_index, dark_index


def fit_head_ct_prior(
    pairs: Sequence[HeadPair],
    cts: Sequence[HeadCt] = (),
    depth_edges: Sequence[float] = DEPTH_EDGES_MM,
    bins: int = DARKNESS_BINS,
) -> dict[str, Any]:
    """The prior's table, as ``model.json`` stores it. Needs at least one pair."""
    if not pairs:
        raise ValueError("The anatomical CT prior needs at least one registered MR/CT pair.")
    rows = len(depth_edges)
    profile_values: list[list[np.ndarray]] = [[] for _ in range(rows)]
    for scan in [HeadCt(p.ct_hu, p.head & p.fit, p.spacing) for p in pairs] + list(cts):
        depth_index, _ = _cells(depth_below_surface(scan.head, scan.spacing), np.zeros(scan.head.shape, np.float32), depth_edges, bins)
        for row in range(rows):
            profile_values[row].append(scan.ct_hu[scan.head & (depth_index == row)].astype(np.float32))
    profile: list[float] = []
    for row in range(rows):
        at_depth = np.concatenate(profile_values[row])
        profile.append(float(np.median(at_depth)) if at_depth.size else (profile[-1] if profile else 0.0))

    indices: list[np.ndarray] = []
    values: list[np.ndarray] = []
    for pair in pairs:
        depth_index, dark_index = _cells(depth_below_surface(pair.head, pair.spacing), darkness(pair.mr, pair.head), depth_edges, bins)
        use = pair.head & pair.fit
        indices.append((depth_index * bins + dark_index)[use])
        values.append(pair.ct_hu[use].astype(np.float32))
    flat_index, flat_values = np.concatenate(indices), np.concatenate(values)
    counts = np.bincount(flat_index, minlength=rows * bins)
    table = np.repeat(np.asarray(profile, np.float32)[:, None], bins, axis=1).ravel()
    order = np.argsort(flat_index, kind="stable")
    cells, starts = np.unique(flat_index[order], return_index=True)
    for cell, group in zip(cells, np.split(flat_values[order], starts[1:])):
        if group.size >= MIN_CELL_VOXELS:
            table[cell] = float(np.median(group))
    return {
        "kind": KIND,
        "features": "depth under the head's surface (mm) x darkness (rank of the MR intensity in the head)",
        "depth_edges_mm": [float(e) for e in depth_edges],
        "darkness_bins": int(bins),
        "table_hu": np.round(table.reshape(rows, bins), 1).tolist(),
        "depth_profile_hu": [round(v, 1) for v in profile],
        "cell_voxels": counts.reshape(rows, bins).tolist(),
        "pairs": len(pairs),
        "ct_scans": len(pairs) + len(cts),
    }


def predict_head_ct(prior: dict[str, Any], mr: np.ndarray, head: np.ndarray, spacing: Sequence[float]) -> np.ndarray:
    """The prior's pseudo-CT in HU (float32): the table's value in each head voxel, air outside."""
    if prior.get("kind") != KIND:
        raise ValueError(f"Not an anatomical CT prior: kind {prior.get('kind')!r}.")
    table = np.asarray(prior["table_hu"], np.float32)
    depth_index, dark_index = _cells(depth_below_surface(head, spacing), darkness(mr, head), prior["depth_edges_mm"], int(prior["darkness_bins"]))
    return np.where(head, table[depth_index, dark_index], AIR_HU).astype(np.float32)
