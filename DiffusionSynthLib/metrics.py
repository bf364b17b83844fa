"""Image metrics as the challenges compute them.

CT (SynthRAD2023 ``image_metrics.py``): MAE inside the mask on raw HU; PSNR over masked voxels
after clipping to -1024..3000 HU (dynamic range 4024); SSIM (scikit-image defaults: 7-voxel
uniform window, sample covariance) on clipped images with the outside of the mask set to -1024,
its map averaged over the mask after cropping 3 voxels at the border. ME is the masked mean of
prediction minus reference; ``bone_dice`` the Dice of voxels above 250 HU inside the mask;
``mae_air``, ``mae_soft_tissue``, ``mae_bone`` the MAE where the reference is below -200 HU,
-200 to 300 HU, and 300 HU or more. Without a mask, the body of the reference CT (dilated 5 mm).

MRI (BraSyn): each image clipped to its 0.5-99.5 percentiles inside the mask and scaled to 0..1;
SSIM map averaged over the mask, PSNR with data range 1, MAE, over masked voxels.
"""

from __future__ import annotations

import numpy as np

from .errors import InputError
from .volume import Volume, read_volume

CT_DYNAMIC_RANGE = (-1024.0, 3000.0)
BONE_HU = 250.0


def ssim_map(reference: np.ndarray, prediction: np.ndarray, data_range: float, window: int = 7) -> np.ndarray:
    """The SSIM map exactly as ``skimage.metrics.structural_similarity(..., full=True)`` computes it."""
    from scipy.ndimage import uniform_filter

    x = reference.astype(np.float64)
    y = prediction.astype(np.float64)
    ndim = x.ndim
    count = window**ndim
    cov_norm = count / (count - 1)
    ux, uy = uniform_filter(x, window), uniform_filter(y, window)
    uxx, uyy, uxy = uniform_filter(x * x, window), uniform_filter(y * y, window), uniform_filter(x * y, window)
    vx, vy, vxy = cov_norm * (uxx - ux * ux), cov_norm * (uyy - uy * uy), cov_norm * (uxy - ux * uy)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    return ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux**2 + uy**2 + c1) * (vx + vy + c2))


def _masked_ssim(reference: np.ndarray, prediction: np.ndarray, mask: np.ndarray, data_range: float) -> float:
    full = ssim_map(reference, prediction, data_range)
    pad = 3
    inner = tuple(slice(pad, s - pad) for s in full.shape)
    selected = full[inner][mask[inner]]
    return float(selected.mean(dtype=np.float64)) if selected.size else float("nan")


def _psnr(reference: np.ndarray, prediction: np.ndarray, data_range: float) -> float:
    mse = float(np.mean((reference.astype(np.float64) - prediction.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else float(10 * np.log10(data_range**2 / mse))


def dice(a: np.ndarray, b: np.ndarray) -> float:
    total = int(a.sum()) + int(b.sum())
    return 1.0 if total == 0 else float(2 * np.logical_and(a, b).sum() / total)


def ct_metrics(reference: np.ndarray, prediction: np.ndarray, mask: np.ndarray | None = None) -> dict[str, float]:
    mask = np.ones(reference.shape, bool) if mask is None else mask.astype(bool)
    if not mask.any():
        raise InputError("The evaluation mask is empty.")
    ref, pred = reference.astype(np.float64), prediction.astype(np.float64)
    lo, hi = CT_DYNAMIC_RANGE
    ref_c, pred_c = np.clip(ref, lo, hi), np.clip(pred, lo, hi)
    shifted_ref = np.where(mask, ref_c, lo) - lo
    shifted_pred = np.where(mask, pred_c, lo) - lo
    return {
        "mae": float(np.abs(ref[mask] - pred[mask]).mean()),
        "me": float((pred[mask] - ref[mask]).mean()),
        "psnr": _psnr(ref_c[mask], pred_c[mask], hi - lo),
        "ssim": _masked_ssim(shifted_ref, shifted_pred, mask, hi - lo),
        "bone_dice": dice((ref > BONE_HU) & mask, (pred > BONE_HU) & mask),
    }


CT_TISSUES = {"air": (-np.inf, -200.0), "soft_tissue": (-200.0, 300.0), "bone": (300.0, np.inf)}  # reference HU, [low, high)
BODY_DILATION_MM = 5.0


def body_mask_ct(reference: Volume) -> np.ndarray:
    """The body of a reference CT, as the evaluation mask when none is given: above -400 HU, largest component,
    holes filled (``intensity.head_mask_ct``), dilated by 5 mm so the skin edge is scored (SynthRAD's body contour)."""
    from scipy import ndimage

    from .intensity import head_mask_ct

    body = head_mask_ct(reference)
    radius = np.maximum(np.rint(BODY_DILATION_MM / reference.spacing).astype(int), 1)
    ball = np.ones(2 * radius + 1, bool)
    grid = np.indices(ball.shape) - radius[:, None, None, None]
    ball &= (((grid / radius[:, None, None, None]) ** 2).sum(axis=0)) <= 1.0
    return ndimage.binary_dilation(body, structure=ball)


def ct_tissue_maes(reference: np.ndarray, prediction: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    """MAE inside the mask separately where the reference is air (< -200 HU), soft tissue (-200..300) and bone (>= 300); absent tissues left out."""
    out = {}
    for name, (low, high) in CT_TISSUES.items():
        region = mask & (reference >= low) & (reference < high)
        if region.any():  # a tissue absent from the reference is left out, not reported as a number
            out[f"mae_{name}"] = float(np.abs(reference[region].astype(np.float64) - prediction[region]).mean())
    return out


def _unit_scale(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    lo, hi = np.percentile(image[mask], [0.5, 99.5])
    scaled = (np.clip(image, lo, hi) - lo) / max(hi - lo, 1e-12)
    return np.where(mask, scaled, 0.0)


def mri_metrics(reference: np.ndarray, prediction: np.ndarray, mask: np.ndarray | None = None) -> dict[str, float]:
    mask = reference != 0 if mask is None else mask.astype(bool)
    if not mask.any():
        raise InputError("The evaluation mask is empty (the reference has no non-zero voxel).")
    ref, pred = _unit_scale(reference.astype(np.float64), mask), _unit_scale(prediction.astype(np.float64), mask)
    return {
        "ssim": _masked_ssim(ref, pred, mask, 1.0),
        "psnr": _psnr(ref[mask], pred[mask], 1.0),
        "mae": float(np.abs(ref[mask] - pred[mask]).mean()),
    }


def inpaint_metrics(reference: np.ndarray, prediction: np.ndarray, region: np.ndarray, brain: np.ndarray | None = None) -> dict[str, float]:
    """SSIM, PSNR and MSE inside the inpainted ``region``, both images scaled by the reference's brain percentiles.

    As the BraTS local-inpainting challenge: only the filled voxels count; one intensity scale
    (0.5-99.5 percentiles of the reference inside ``brain``, non-zero voxels by default) for both.
    """
    region = region.astype(bool)
    brain = reference != 0 if brain is None else brain.astype(bool)
    if not region.any():
        raise InputError("The inpainting region is empty.")
    lo, hi = np.percentile(reference[brain | region], [0.5, 99.5])
    ref, pred = ((np.clip(a.astype(np.float64), lo, hi) - lo) / max(hi - lo, 1e-12) for a in (reference, prediction))
    mse = float(np.mean((ref[region] - pred[region]) ** 2))
    return {"ssim": _masked_ssim(ref, pred, region, 1.0), "psnr": _psnr(ref[region], pred[region], 1.0), "mse": mse}


def evaluate_files(prediction: str, reference: str, mask: str | None, kind: str) -> dict[str, float]:
    pred = read_volume(prediction, "prediction")
    ref = read_volume(reference, "reference")
    if not pred.same_grid(ref):
        raise InputError(
            f"The prediction ({pred.describe_grid()}) and the reference ({ref.describe_grid()}) are on different grids; resample one onto the other first."
        )
    mask_array = None
    if mask is not None:
        mask_volume = read_volume(mask, "mask")
        if not mask_volume.same_grid(ref):
            raise InputError(f"The mask '{mask}' is on another grid than the reference; give a mask on the reference's grid.")
        mask_array = mask_volume.array != 0
    if kind == "ct":
        if mask_array is None:
            mask_array = body_mask_ct(ref)
        values = {**ct_metrics(ref.array, pred.array, mask_array), **ct_tissue_maes(ref.array, pred.array, mask_array)}
    else:
        values = mri_metrics(ref.array, pred.array, mask_array)
    # JSON has no infinity: identical images (infinite PSNR) and undefined values print as null
    return {key: round(value, 6) if np.isfinite(value) else None for key, value in values.items()}


SKULL_LAYER_MM = (3.0, 12.0)
SKULL_BONE_HU = 300.0  # the pseudo-CT issue's bone for plausibility (bone Dice uses BONE_HU)


def ct_head_depth(ct: Volume) -> tuple[np.ndarray, np.ndarray]:
    """The (pseudo-)CT's head (``head_mask_ct``) and each voxel's depth under its surface in mm (the array's own
    edge is not a surface)."""
    from scipy import ndimage

    from .intensity import head_mask_ct

    head = head_mask_ct(ct)
    return head, ndimage.distance_transform_edt(head, sampling=[float(s) for s in ct.spacing])


def head_ct_plausibility(ct: Volume, brain: np.ndarray | None = None, ventricles: np.ndarray | None = None) -> dict[str, float]:
    """Anatomy checks of a (pseudo-)CT without a reference: the share of bone (> 300 HU) in the layer 3-12 mm under
    the head's surface (real head CTs here: 32-41%), and, when masks are given, the share of the brain above 300 HU and
    the median HU of brain and ventricles."""
    head, depth = ct_head_depth(ct)
    layer = head & (depth >= SKULL_LAYER_MM[0]) & (depth <= SKULL_LAYER_MM[1])
    values = np.asarray(ct.array, np.float32)
    out = {"bone_share_under_scalp": float(np.mean(values[layer] > SKULL_BONE_HU)) if layer.any() else float("nan")}
    if brain is not None and brain.any():
        out["brain_share_above_300"] = float(np.mean(values[brain] > SKULL_BONE_HU))
        out["brain_median_hu"] = float(np.median(values[brain]))
    if ventricles is not None and ventricles.any():
        out["ventricles_median_hu"] = float(np.median(values[ventricles]))
    return out
