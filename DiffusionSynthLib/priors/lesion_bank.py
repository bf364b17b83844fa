"""Gliomas from real ones: expert-labelled sub-region layouts and the texture of real tumours, placed in a drawn mask.

``fit_lesion_bank`` keeps, for each labelled training tumour, its BraTS 2013 label map cropped to the lesion's box
and resampled (nearest neighbour) onto ``LAYOUT_SIZE``³ voxels: the sub-regions' geometry only, no image intensity
(stored in ``model.json``, zlib-compressed); and, per sub-region and sequence, the median texture of the real tumours
in healthy-brain SDs: ``fine``, the high-pass RMS (image minus its blur at 2 voxels) inside the sub-region, and
``coarse``, the SD of that blur (slow variation across the sub-region).

``place_layout`` draws a real layout into a user's mask: the layouts whose whole-tumour shape, stretched onto the
mask's box (and mirrored along any axis), overlaps the mask best are the candidates, the seed picks one of them;
that layout is then warped radially from its deepest point so that its edge lands on the mask's edge along every
direction (CarveMix / TumorCP style, with the tumour reshaped to the mask rather than the mask to the tumour): the
sub-regions keep their order from the edge inwards (oedema outside, a core never cut open by the mask's edge), and mask
voxels the warp leaves unlabelled (a mask that is not star-shaped) take the nearest label. ``lesion_texture`` draws the texture: per
sub-region and sequence a fine and a coarse Gaussian random field with the fitted amplitudes, the coarse one shared
by the sequences (signed as the sub-region's contrast: where a sub-region holds more water it is brighter in T2 and
FLAIR and darker in T1 together), at ``TEXTURE_GAIN`` of the fitted amplitudes, zero-mean in each sub-region.
"""

from __future__ import annotations

import base64
import functools
import zlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy import ndimage

from ..texture import HIGH_PASS_SIGMA, blur_inside, high_pass
from .glioma import NAMES, LabelledCase, healthy_reference

KIND = "glioma-lesion-bank"
LAYOUT_SIZE = 32
MIN_LESION_VOXELS = 100  # a layout is only its shape: a small tumour (at a coarse model spacing) still has one
CANDIDATES = 5  # best-overlapping (layout, mirroring) pairs the seed chooses among
FINE_SIGMA = 0.8  # voxels: the fine field's correlation
COARSE_SIGMA = 4.0  # voxels: the coarse field's correlation
TEXTURE_GAIN = 0.5  # of the fitted amplitudes: a real layout shrunk into a mask brings its own edges, whose high-pass
# energy the interiors' fit does not count (chosen on the validation cases: the added FLAIR's texture then matches the
# real gliomas' there, 0.46-0.49 against 0.28 and 0.68 brain-z; at 1.0 it was 0.68-0.74)
MIRRORINGS = [(fx, fy, fz) for fx in (False, True) for fy in (False, True) for fz in (False, True)]


def encode_layout(layout: np.ndarray) -> str:
    return base64.b64encode(zlib.compress(layout.astype(np.uint8).tobytes(), 9)).decode("ascii")


def decode_layout(text: str) -> np.ndarray:
    flat = np.frombuffer(zlib.decompress(base64.b64decode(text)), np.uint8)
    if flat.size != LAYOUT_SIZE**3:
        raise ValueError(f"a stored lesion layout holds {flat.size} voxels, not {LAYOUT_SIZE}³")
    return flat.reshape((LAYOUT_SIZE,) * 3).copy()


def resample_box(array: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """``array`` stretched (nearest neighbour, voxel centres) onto ``shape``."""
    index = np.ix_(*[np.minimum(((np.arange(n) + 0.5) * array.shape[a] / n).astype(np.int64), array.shape[a] - 1) for a, n in enumerate(shape)])
    return array[index]


def layout_of(labels: np.ndarray) -> np.ndarray:
    """The label map cropped to its lesion's box, on ``LAYOUT_SIZE``³."""
    box = ndimage.find_objects((labels > 0).astype(np.int32))[0]
    return resample_box(labels[box], (LAYOUT_SIZE,) * 3).astype(np.uint8)


def subregion_texture(image: np.ndarray, brain: np.ndarray, lesion: np.ndarray, region: np.ndarray) -> tuple[float, float] | None:
    """(fine, coarse) texture of one sub-region in healthy-brain SDs, from its interior (eroded by one voxel; None when
    under 50 voxels): the RMS of the high-pass image and the SD of the blur, both inside the sub-region only."""
    interior = ndimage.binary_erosion(region)
    if interior.sum() < 50:
        return None
    _, sd = healthy_reference(image, brain, lesion)
    scaled = (image / sd).astype(np.float32)
    fine = float(np.sqrt(np.mean(high_pass(scaled, region, HIGH_PASS_SIGMA)[interior].astype(np.float64) ** 2)))
    coarse = float(blur_inside(scaled, region, HIGH_PASS_SIGMA)[interior].std())
    return fine, coarse


def fit_lesion_bank(cases: Sequence[LabelledCase]) -> dict[str, Any]:
    """The layouts of the labelled tumours (``MIN_LESION_VOXELS`` or more) and the median texture per sub-region and sequence."""
    layouts, names = [], []
    textures: dict[int, dict[str, list[tuple[float, float]]]] = {}
    for case in cases:
        lesion = case.labels > 0
        if lesion.sum() < MIN_LESION_VOXELS:
            continue
        layouts.append(encode_layout(layout_of(case.labels)))
        names.append(case.name)
        for label in NAMES:
            region = case.labels == label
            for sequence, image in case.images.items():
                measured = subregion_texture(image, case.brain, lesion, region)
                if measured is not None:
                    textures.setdefault(label, {}).setdefault(sequence, []).append(measured)
    if not layouts:
        raise ValueError(f"No labelled tumour of {MIN_LESION_VOXELS} voxels or more to learn lesion layouts from.")
    return {
        "kind": KIND,
        "layout_size": LAYOUT_SIZE,
        "layouts": layouts,
        "layout_cases": names,
        "units": "texture in healthy-brain SDs: fine = high-pass RMS (sigma 2 voxels), coarse = SD of the blur, inside each sub-region",
        "texture": {
            str(label): {
                sequence: {"fine": round(float(np.median([v[0] for v in values])), 3), "coarse": round(float(np.median([v[1] for v in values])), 3)}
                for sequence, values in sorted(per.items())
            }
            for label, per in sorted(textures.items())
        },
    }


def _mirrored(layout: np.ndarray, mirroring: Sequence[bool]) -> np.ndarray:
    axes = tuple(axis for axis, flip in enumerate(mirroring) if flip)
    return np.flip(layout, axes) if axes else layout


def nearest_label(labels: np.ndarray) -> np.ndarray:
    """Every voxel given the label of the nearest labelled (non-zero) voxel (``labels`` itself when none is labelled)."""
    if not labels.any():
        return labels
    nearest = ndimage.distance_transform_edt(labels == 0, return_distances=False, return_indices=True)
    return labels[tuple(nearest)]


def fibonacci_directions(count: int = 1000) -> np.ndarray:
    """``count`` unit vectors spread evenly over the sphere (a Fibonacci lattice)."""
    index = np.arange(count) + 0.5
    polar = np.arccos(1.0 - 2.0 * index / count)
    azimuth = np.pi * (1.0 + 5.0**0.5) * index
    return np.stack([np.cos(polar), np.sin(polar) * np.cos(azimuth), np.sin(polar) * np.sin(azimuth)], axis=1)


def _deepest_point(shape: np.ndarray) -> np.ndarray:
    depth = ndimage.distance_transform_edt(np.pad(shape, 1))[1:-1, 1:-1, 1:-1]
    return np.array(np.unravel_index(int(np.argmax(depth)), shape.shape), np.float64)


def first_exit(mask: np.ndarray, centre: np.ndarray, directions: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """Per ray from ``centre`` (voxels) along ``directions`` (voxels per unit of ``steps``), the index of its first
    sample at ``steps`` outside ``mask`` (every ray leaves: let the last step reach beyond the array)."""
    points = np.rint(centre[None, None, :] + steps[None, :, None] * directions[:, None, :]).astype(np.int64)
    inside = np.all((points >= 0) & (points < np.array(mask.shape)), axis=2)
    clipped = np.clip(points, 0, np.array(mask.shape) - 1)
    inside &= mask[clipped[..., 0], clipped[..., 1], clipped[..., 2]]
    return np.argmin(inside, axis=1)


def nearest_direction(units: np.ndarray, directions: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """For each row of ``units`` (N, 3), the index of the closest of ``directions`` (in chunks: N x directions at once is large)."""
    return np.concatenate([np.argmax(part @ directions.T, axis=1) for part in np.array_split(units, max(1, len(units) // chunk))])


def _radii(shape: np.ndarray, centre: np.ndarray, directions: np.ndarray, step: float = 0.5) -> np.ndarray:
    """Per direction, the distance from ``centre`` of the ray's last sample inside ``shape`` before it first leaves it
    (voxels; ``step`` where even the first sample is outside)."""
    steps = np.arange(step, float(np.linalg.norm(shape.shape)) + step, step)
    return steps[np.maximum(first_exit(shape, centre, directions, steps) - 1, 0)]


def warp_to_mask(layout: np.ndarray, target: np.ndarray) -> np.ndarray:
    """``layout`` (labels on the same grid as the boolean ``target``) warped radially so that its edge lands on the
    target's edge along every direction; labels only inside ``target`` (0 where the warp finds none)."""
    warped = np.zeros(target.shape, np.uint8)
    whole = layout > 0
    if not whole.any() or not target.any():
        return warped
    directions = fibonacci_directions()
    centre_t, centre_l = _deepest_point(target), _deepest_point(whole)
    radius_t, radius_l = _radii(target, centre_t, directions), _radii(whole, centre_l, directions)
    voxels = np.argwhere(target).astype(np.float64)
    offset = voxels - centre_t
    distance = np.linalg.norm(offset, axis=1)
    unit = offset / np.maximum(distance, 1e-6)[:, None]
    nearest = nearest_direction(unit, directions)
    depth = np.minimum(distance / radius_t[nearest], 1.0)  # 1 on the target's edge, whatever the ray's sampling missed
    source = centre_l + unit * (depth * radius_l[nearest])[:, None]
    source = np.clip(np.rint(source).astype(np.int64), 0, np.array(layout.shape) - 1)
    target_index = tuple(np.argwhere(target).T)
    warped[target_index] = layout[source[:, 0], source[:, 1], source[:, 2]]
    return warped


def place_layout(mask: np.ndarray, bank: Mapping[str, Any], rng: np.random.Generator) -> np.ndarray:
    """BraTS 2013 labels inside ``mask`` from a real layout (see the module's text); every mask voxel gets a label."""
    labels = np.zeros(mask.shape, np.uint8)
    if not mask.any():
        return labels
    box = ndimage.find_objects(mask.astype(np.int32))[0]
    shape = mask[box].shape
    target = resample_box(mask[box], (LAYOUT_SIZE,) * 3)
    layouts = [decode_layout(text) for text in bank["layouts"]]
    scored = []
    for index, layout in enumerate(layouts):
        for mirroring in MIRRORINGS:
            whole = _mirrored(layout, mirroring) > 0
            overlap = 2.0 * float((whole & target).sum()) / max(float(whole.sum() + target.sum()), 1.0)
            scored.append((overlap, index, mirroring))
    scored.sort(key=lambda item: -item[0])
    _, index, mirroring = scored[int(rng.integers(min(CANDIDATES, len(scored))))]
    warped = warp_to_mask(_mirrored(layouts[index], mirroring), target)
    filled = nearest_label(warped)  # every voxel of the box: the label of the nearest labelled voxel
    labels[box] = np.where(mask[box], resample_box(filled, shape), 0)
    return labels


def _unit_field(shape: Sequence[int], sigma: float, rng: np.random.Generator) -> np.ndarray:
    field = ndimage.gaussian_filter(rng.standard_normal(shape).astype(np.float32), sigma, mode="wrap")
    return (field / max(float(field.std()), 1e-6)).astype(np.float32)


@functools.cache
def fine_gain() -> float:
    """High-pass RMS of a unit-SD fine field (its fine amplitude per unit of SD), measured once (on first use) on a 48³ cube."""
    field = _unit_field((48, 48, 48), FINE_SIGMA, np.random.default_rng(0))
    return float(np.sqrt(np.mean(high_pass(field, np.ones(field.shape, bool), HIGH_PASS_SIGMA)[8:-8, 8:-8, 8:-8] ** 2)))


def lesion_texture(
    labels: np.ndarray, bank: Mapping[str, Any], contrast: Mapping[str, Mapping[str, float]], sequences: Sequence[str], rng: np.random.Generator
) -> np.ndarray:
    """(len(sequences), ...) texture in healthy-brain SDs inside the labelled voxels (0 elsewhere): per sub-region a fine
    field (its own per sequence) and a coarse one (shared, signed by the sub-region's contrast in each sequence)."""
    out = np.zeros((len(sequences), *labels.shape), np.float32)
    lesion = labels > 0
    if not lesion.any():
        return out
    box = ndimage.find_objects(lesion.astype(np.int32))[0]
    shape = lesion[box].shape
    coarse_field = _unit_field(shape, COARSE_SIGMA, rng)
    for label_text, per_sequence in bank["texture"].items():
        region = labels[box] == int(label_text)
        if not region.any():
            continue
        for channel, name in enumerate(sequences):
            stats = per_sequence.get(name)
            if stats is None:
                continue
            sign = 1.0 if float(contrast.get(label_text, {}).get(name, 1.0)) >= 0 else -1.0
            fine, coarse = TEXTURE_GAIN * stats["fine"], TEXTURE_GAIN * stats["coarse"]
            values = fine / fine_gain() * _unit_field(shape, FINE_SIGMA, rng) + sign * coarse * coarse_field
            out[channel][box][region] = values[region] - float(values[region].mean())  # the sub-region keeps its fitted contrast
    return out
