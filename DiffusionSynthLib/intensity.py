"""Head masks and intensity normalisation, shared by inference, training and benchmarks."""

from __future__ import annotations

import numpy as np

from .geometry import bounding_box
from .volume import Volume, to_sitk

CT_RANGE = (-1024.0, 2000.0)
# HU onto [-1, 1], piecewise linear: soft tissue (-200..200 HU) gets 40% of the range, so a given
# error in network units costs three times more HU-accuracy there than a linear map would allow
CT_KNOTS = {"hu": [-1024.0, -200.0, 200.0, 2000.0], "unit": [-1.0, -0.6, 0.2, 1.0]}


def _largest_component_filled(binary) -> np.ndarray:
    import SimpleITK as sitk

    components = sitk.ConnectedComponent(binary)
    relabelled = sitk.RelabelComponent(components, sortByObjectSize=True)
    largest = sitk.GetArrayFromImage(relabelled == 1).astype(np.uint8)  # [k, j, i]
    # the closing (radius 2) and the fills run in the component's box widened by 3 voxels: nothing beyond it can
    # change, and the ring of background around the box joins the outside as the rest of the image would
    box = bounding_box(largest, 3)
    closed = sitk.BinaryMorphologicalClosing(sitk.GetImageFromArray(largest[box]), [2, 2, 2])
    filled = sitk.GetArrayFromImage(sitk.BinaryFillhole(closed)).astype(bool)
    # holes open to a slab edge survive a 3D fill: fill slice by slice along the last axis too
    from scipy.ndimage import binary_fill_holes

    for k in range(filled.shape[0]):
        filled[k] = binary_fill_holes(filled[k])
    array = np.zeros(largest.shape, bool)
    array[box] = filled
    return array.transpose(2, 1, 0)


def head_mask_mr(volume: Volume, smoothing_mm: float | None = None, otsu_share: float = 0.5) -> np.ndarray:
    """Foreground (head) of an MR image: ``otsu_share`` of the Otsu threshold, largest component, holes filled.

    Otsu alone splits bright tissue from dark (the skull is dark in T1 and T2); half of its
    threshold keeps skull and scalp (Dice 0.97 against the registered CT's head mask on the real
    pair, 0.78 for Otsu alone). The image is first smoothed against noise by a Gaussian of
    ``smoothing_mm`` (default: the largest voxel spacing). On thick slices that default blurs the
    outline in-plane by a slice thickness: the pseudo-CT, where a voxel of head left as air costs
    about 1000 HU, passes its own settings (``tasks.mri_to_ct.mr_head``).
    """
    import SimpleITK as sitk

    if min(volume.shape) < 4:  # the recursive Gaussian needs four voxels per axis; no head fits in fewer
        return np.zeros(volume.shape, dtype=bool)
    image = to_sitk(volume, np.float32)
    sigma = float(np.max(volume.spacing)) if smoothing_mm is None else float(smoothing_mm)
    smooth = sitk.SmoothingRecursiveGaussian(image, sigma)
    otsu = sitk.OtsuThresholdImageFilter()
    otsu.SetInsideValue(0)
    otsu.SetOutsideValue(1)
    otsu.Execute(smooth)
    binary = smooth > otsu_share * otsu.GetThreshold()
    if not sitk.GetArrayViewFromImage(binary).any():
        return np.zeros(volume.shape, dtype=bool)
    return _largest_component_filled(binary)


def head_mask_ct(volume: Volume, threshold_hu: float = -400.0) -> np.ndarray:
    """Body of a CT image: above ``threshold_hu``, largest component, holes filled."""
    import SimpleITK as sitk

    binary = sitk.BinaryThreshold(to_sitk(volume, np.float32), threshold_hu, 1e9, 1, 0)
    if not sitk.GetArrayViewFromImage(binary).any():
        return np.zeros(volume.shape, dtype=bool)
    return _largest_component_filled(binary)


def percentile_range(array: np.ndarray, mask: np.ndarray, low: float = 0.5, high: float = 99.5) -> tuple[float, float]:
    values = array[mask] if mask.any() else array.ravel()
    lo, hi = np.percentile(values, [low, high])
    return float(lo), float(hi)


def normalise_mr(array: np.ndarray, mask: np.ndarray, low: float = 0.5, high: float = 99.5) -> np.ndarray:
    """Robust percentiles inside the mask onto [0, 1]; zero outside the mask (float32)."""
    lo, hi = percentile_range(array, mask, low, high)
    scaled = (array.astype(np.float32) - lo) / max(hi - lo, 1e-6)
    return np.where(mask, np.clip(scaled, 0.0, 1.0), 0.0).astype(np.float32)


def fit_affine(source: np.ndarray, target: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    """Least-squares ``(a, b)`` with ``a * source + b`` close to ``target`` over ``mask`` ((1, 0) if degenerate)."""
    x, y = source[mask].astype(np.float64), target[mask].astype(np.float64)
    if x.size < 2 or x.std() < 1e-9:
        return 1.0, 0.0
    a, b = np.polyfit(x, y, 1)
    return float(a), float(b)


def hu_to_unit(hu: np.ndarray, knots: dict | None = None) -> np.ndarray:
    """Hounsfield units onto [-1, 1] through piecewise-linear knots (see ``CT_KNOTS``)."""
    knots = knots or CT_KNOTS
    return np.interp(hu, knots["hu"], knots["unit"]).astype(np.float32)


def unit_to_hu(unit: np.ndarray, knots: dict | None = None) -> np.ndarray:
    """The inverse of ``hu_to_unit``."""
    knots = knots or CT_KNOTS
    return np.interp(unit, knots["unit"], knots["hu"]).astype(np.float32)


def ct_knots(config: dict) -> dict:
    """The HU <-> unit knots a model package was trained with (older packages: linear -1024..2000)."""
    output = config.get("intensity", {}).get("output", {})
    if "hu" in output:
        return {"hu": output["hu"], "unit": output["unit"]}
    low, high = output.get("range", CT_RANGE)
    return {"hu": [low, high], "unit": [-1.0, 1.0]}


def background_value(array: np.ndarray) -> float:
    """The value of a skull-stripped image's background: its eight corners' value when they all agree (0, or the
    constant a z-scored image such as BraTS 2013's gives the background), else 0."""
    corners = np.asarray(array)[np.ix_(*[[0, n - 1] for n in array.shape])]
    return float(corners.flat[0]) if np.all(corners == corners.flat[0]) else 0.0


def brain_mask(arrays: list[np.ndarray]) -> np.ndarray:
    """Foreground of skull-stripped MR images: voxels differing from the background value in any of them.

    Images that are not skull-stripped (a background that is rarely one constant) fall back to
    the Otsu head mask of the first image.
    """
    foreground = np.zeros(arrays[0].shape, bool)
    for array in arrays:
        foreground |= array != background_value(array)
    if foreground.mean() < 0.9:
        return foreground
    return head_mask_mr(Volume(arrays[0], np.eye(4)))
