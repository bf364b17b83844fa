"""Glioma appearance prior: sub-regions (BraTS labels) laid out in a mask, each with its contrast per sequence.

Fitted on labelled tumours (``fit_glioma_appearance``): for each sub-region and sequence the mean
intensity relative to healthy tissue, in units of the healthy brain's SD (so it applies to raw and
z-scored images alike), and each sub-region's share of the lesion. Without a label map a mask is
laid out in distance layers with those shares (``layout_subregions``), outermost first: oedema,
non-enhancing tumour, the enhancing rim, the necrotic core. ``glioma_contrast`` turns a label map
into per-sequence offsets to add to a healthy fill.

Labels follow BraTS 2013 (1 necrosis, 2 oedema, 3 non-enhancing, 4 enhancing); ``LABEL_MAPS``
translates the other conventions found in the data (BraTS 2023 uses 3 for enhancing).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage

KIND = "glioma-appearance"
NAMES = {1: "necrosis", 2: "oedema", 3: "non-enhancing", 4: "enhancing"}
LAYERS_OUTSIDE_IN = (2, 3, 4, 1)
LABEL_MAPS = {"brats2013": {1: 1, 2: 2, 3: 3, 4: 4}, "brats2017": {1: 1, 2: 2, 4: 4}, "brats2023": {1: 1, 2: 2, 3: 4}}
MIN_VOXELS = 50
HEALTHY_MARGIN_VOXELS = 3


@dataclass
class LabelledCase:
    """One case: images (any intensity scale, one grid), its brain, and its tumour labels in the BraTS 2013 convention."""

    name: str
    images: Mapping[str, np.ndarray]
    brain: np.ndarray
    labels: np.ndarray


def to_brats2013(labels: np.ndarray, convention: str) -> np.ndarray:
    """``labels`` in the BraTS 2013 convention (labels the convention does not know become 0)."""
    mapping = LABEL_MAPS[convention]
    out = np.zeros(labels.shape, np.uint8)
    for source, target in mapping.items():
        out[labels == source] = target
    return out


def healthy_reference(image: np.ndarray, brain: np.ndarray, lesion: np.ndarray) -> tuple[float, float]:
    """Median and SD of the brain away from the lesion (``HEALTHY_MARGIN_VOXELS`` around it excluded)."""
    healthy = brain & ~ndimage.binary_dilation(lesion, iterations=HEALTHY_MARGIN_VOXELS)
    values = image[healthy].astype(np.float64)
    return float(np.median(values)), float(max(values.std(), 1e-6))


def subregion_contrast(case: LabelledCase) -> dict[int, dict[str, float]]:
    """Each sub-region's mean intensity minus healthy tissue's median, in healthy SDs, per sequence (sub-regions under MIN_VOXELS left out)."""
    lesion = case.labels > 0
    out: dict[int, dict[str, float]] = {}
    for name, image in case.images.items():
        median, sd = healthy_reference(image, case.brain, lesion)
        for label in NAMES:
            region = case.labels == label
            if region.sum() >= MIN_VOXELS:
                out.setdefault(label, {})[name] = (float(image[region].mean()) - median) / sd
    return out


def fit_glioma_appearance(cases: Sequence[LabelledCase]) -> dict[str, Any]:
    """Median contrast of each sub-region per sequence over the cases, and the mean share of each sub-region."""
    contrasts: dict[int, dict[str, list[float]]] = {}
    shares: dict[int, list[float]] = {label: [] for label in NAMES}
    for case in cases:
        lesion = case.labels > 0
        if lesion.sum() < MIN_VOXELS:
            continue
        for label, values in subregion_contrast(case).items():
            for name, value in values.items():
                contrasts.setdefault(label, {}).setdefault(name, []).append(value)
        for label in NAMES:
            shares[label].append(float((case.labels == label).sum() / lesion.sum()))
    if not any(shares.values()):
        raise ValueError("No labelled tumour to fit the glioma appearance on.")
    mean_shares = {label: float(np.mean(values)) for label, values in shares.items()}
    total = sum(mean_shares.values())
    return {
        "kind": KIND,
        "units": "mean intensity minus healthy tissue's median, in healthy-brain SDs",
        "contrast": {str(label): {name: round(float(np.median(v)), 3) for name, v in per.items()} for label, per in sorted(contrasts.items())},
        "cases_per_value": {str(label): {name: len(v) for name, v in per.items()} for label, per in sorted(contrasts.items())},
        "shares": {str(label): round(share / total, 4) for label, share in mean_shares.items()},
        "cases": sum(1 for case in cases if (case.labels > 0).sum() >= MIN_VOXELS),
    }


def normalised_depth(mask: np.ndarray, spacing: Sequence[float]) -> np.ndarray:
    """Distance to the mask's edge over its largest value: 0 at the edge, 1 at the deepest voxel (0 outside)."""
    depth = ndimage.distance_transform_edt(mask, sampling=[float(s) for s in spacing])
    top = float(depth.max())
    return (depth / top).astype(np.float32) if top > 0 else depth.astype(np.float32)


def layout_subregions(mask: np.ndarray, spacing: Sequence[float], appearance: Mapping[str, Any]) -> np.ndarray:
    """BraTS 2013 labels inside ``mask`` in distance layers with the fitted shares, outermost first (oedema ... necrotic core)."""
    labels = np.zeros(mask.shape, np.uint8)
    if not mask.any():
        return labels
    depth = normalised_depth(mask, spacing)
    order = np.argsort(depth[mask], kind="stable")  # edge first
    shares = [float(appearance["shares"].get(str(label), 0.0)) for label in LAYERS_OUTSIDE_IN]
    bounds = np.rint(np.cumsum(shares) / max(sum(shares), 1e-9) * order.size).astype(int)
    values = np.empty(order.size, np.uint8)
    start = 0
    for label, stop in zip(LAYERS_OUTSIDE_IN, bounds):
        values[order[start:stop]] = label
        start = stop
    values[order[start:]] = LAYERS_OUTSIDE_IN[-1]
    labels[mask] = values
    return labels


def glioma_contrast(labels: np.ndarray, appearance: Mapping[str, Any], sequences: Sequence[str]) -> np.ndarray:
    """(len(sequences), ...) offsets in healthy-brain SDs: each sub-region's fitted contrast where it lies (0 elsewhere, and
    for a sequence no labelled case had)."""
    out = np.zeros((len(sequences), *labels.shape), np.float32)
    for label_text, per_sequence in appearance["contrast"].items():
        region = labels == int(label_text)
        if region.any():
            for channel, name in enumerate(sequences):
                out[channel][region] = float(per_sequence.get(name, 0.0))
    return out


def from_brats2013(labels: np.ndarray, convention: str) -> np.ndarray:
    """BraTS 2013 labels in ``convention`` (a sub-region the convention lacks, non-enhancing tumour in BraTS 2017 and
    2023, takes the convention's necrosis / non-enhancing core label 1)."""
    out = np.zeros(labels.shape, np.uint8)
    for source, target in LABEL_MAPS[convention].items():
        out[labels == target] = source
    if 3 not in LABEL_MAPS[convention].values():
        out[labels == 3] = 1
    return out


def label_convention(labels: np.ndarray, expert: bool) -> str:
    """The convention of a label map found in the data: expert ``tumour_labels`` files are BraTS 2013; a predicted map
    with label 4 is BraTS 2017, one without BraTS 2023 (for maps of 1 and 2 only the two agree: necrosis, oedema)."""
    if expert:
        return "brats2013"
    return "brats2017" if bool((labels == 4).any()) else "brats2023"


SMOOTHING_MM = 0.5  # soft borders between the sub-regions of the prior
EDGE_RAMP_MM = 4.0  # the lesion's change rises over this depth from its outer edge: oedema fades into healthy tissue
# (chosen on the validation cases of benchmarks/splits/brats50.json: with a step at the edge an added 12 mm lesion's
# FLAIR had 1.6-2x the high-pass energy of real gliomas, with 4 mm about theirs; 0 keeps the old step)


def edge_ramp(lesion: np.ndarray, spacing: Sequence[float]) -> np.ndarray:
    """1 in the lesion deeper than ``EDGE_RAMP_MM`` from its edge, rising linearly from the edge (all 1 when 0)."""
    if EDGE_RAMP_MM <= 0:
        return np.ones(lesion.shape, np.float32)
    depth = ndimage.distance_transform_edt(lesion, sampling=[float(s) for s in spacing])
    return np.clip(depth / EDGE_RAMP_MM, 0.0, 1.0).astype(np.float32)


def glioma_prior(
    fill: np.ndarray,
    labels: np.ndarray,
    healthy: Mapping[str, tuple[float, float]],
    appearance: Mapping[str, Any],
    sequences: Sequence[str],
    spacing: Sequence[float],
    strength: float = 1.0,
) -> np.ndarray:
    """The add-mode prior: inside the labelled voxels each given sequence moves from the healthy ``fill`` towards its
    sub-region's fitted intensity (healthy median + contrast x healthy SD, from ``healthy[name]`` in the images' units)
    by ``strength`` (0 the fill, 1 the fitted glioma); borders softened over ``SMOOTHING_MM``. Channels follow
    ``sequences``; a sequence missing from ``healthy`` keeps its fill."""
    lesion = labels > 0
    out = fill.astype(np.float32, copy=True)
    if not lesion.any():
        return out
    sigma = [SMOOTHING_MM / float(s) for s in spacing]
    weight = ndimage.gaussian_filter(lesion.astype(np.float32), sigma)
    offsets = glioma_contrast(labels, appearance, sequences)
    ramp = edge_ramp(lesion, spacing)
    for channel, name in enumerate(sequences):
        if name not in healthy:
            continue
        median, sd = healthy[name]
        target = np.where(lesion, median + offsets[channel] * sd, 0.0).astype(np.float32)
        smoothed = ndimage.gaussian_filter(target, sigma) / np.maximum(weight, 1e-6)
        out[channel] = np.where(lesion, fill[channel] + strength * ramp * (smoothed - fill[channel]), fill[channel])
    return out
