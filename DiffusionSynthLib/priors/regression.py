"""Per-voxel polynomial regression: each missing MR sequence from whichever sequences are given.

Every image is z-scored inside the brain. For each subset of given sequences and each target,
ridge least squares fits the target from the given sequences' values, their squares and pairwise
products (``quadratic``), optionally with each sequence smoothed at a few scales
(``multiscale``: local context, which helps most targets and hurts some), optionally with each
sequence's local standard deviation at two scales (``texture``: oedema is bright but smooth, cortex and
sulci bright and busy: what lets a FLAIR regression find a tumour), optionally followed by an
intensity map (``+map``): the polynomial's remaining error tabulated as a function of the given
sequences' values (a binned, smoothed conditional mean: Nadaraya-Watson on a grid), which a
polynomial cannot bend into, e.g. a T1c's long bright tail mapped to a FLAIR. The candidate is
chosen per target on a validation case. Fitted in seconds on the training cases; the coefficients
and tables live in ``model.json``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import combinations_with_replacement

import numpy as np
from scipy import ndimage

from ..sequences import SEQUENCES

FEATURE_SETS = ("quadratic", "multiscale", "texture")
MAP = "+map"  # a candidate's suffix: the polynomial followed by the intensity map of its residual
CANDIDATES = (*FEATURE_SETS, *(kind + MAP for kind in FEATURE_SETS))
SCALES_MM = (2.0, 5.0)
TEXTURE_SCALES_MM = (3.0, 8.0)  # local standard deviation (``texture`` adds it to ``multiscale``)
MAP_RANGE = (-4.0, 6.0)  # z units tabulated (values beyond are clipped): brain tissue, bright lesions and vessels
MAP_BINS = {1: 32, 2: 32, 3: 20}  # bins per axis by the number of given sequences (20**3 = 8,000 values)
MAP_SMOOTHING = 1.0  # Gaussian SD of the table's smoothing, in bins
MAP_PRIOR_COUNT = 5.0  # a bin with few samples is shrunk towards no correction
RIDGE = 1e-3
VOXELS_PER_CASE = 150_000
VOXELS_IN_ALL = 3_000_000  # over many cases each gives fewer (fifty cases: 60,000 each): the fit's time stays minutes
TRUNCATE = 3.0  # Gaussian kernels cut at 3 SD


def zscore(array: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean 0, SD 1 inside ``mask``; 0 outside (float32)."""
    values = array[mask].astype(np.float64)
    if values.size < 2:
        return np.zeros(array.shape, np.float32)
    mean, sd = float(values.mean()), float(values.std())
    return np.where(mask, (array.astype(np.float32) - mean) / max(sd, 1e-6), 0.0).astype(np.float32)


def subset_key(given: Sequence[str], target: str) -> str:
    """``"t1c,t2w->t2f"``: the given sequences in canonical order, then the target."""
    ordered = [name for name in SEQUENCES if name in given]
    return f"{','.join(ordered)}->{target}"


def smoothed(image: np.ndarray, mask: np.ndarray, sigma_voxels: Sequence[float], weight: np.ndarray | None = None) -> np.ndarray:
    """Gaussian smoothing inside the mask only (normalised convolution: the outside does not leak in). Zeros beyond the
    array (not a mirror image of it): a case cropped to its brain's box smooths as it does on its whole grid.

    ``weight`` is the smoothed mask, when already computed.
    """
    if weight is None:
        weight = ndimage.gaussian_filter(mask.astype(np.float32), sigma_voxels, truncate=TRUNCATE, mode="constant")
    blurred = ndimage.gaussian_filter(np.where(mask, image, 0.0).astype(np.float32), sigma_voxels, truncate=TRUNCATE, mode="constant")
    return np.where(mask, blurred / np.maximum(weight, 1e-3), 0.0).astype(np.float32)


class CaseFeatures:
    """One case's z-scored images and brain mask, with each smoothed image computed once.

    ``scales``: a fitted prior (``model.json``'s entry), whose smoothing scales are used; default: this module's.
    """

    def __init__(self, images: Mapping[str, np.ndarray], mask: np.ndarray, spacing: Sequence[float], scales: Mapping | None = None) -> None:
        self.images, self.mask, self.spacing = images, mask, [float(s) for s in spacing]
        scales = scales or {}
        self.scales_mm = [float(s) for s in scales.get("scales_mm", SCALES_MM)]
        self.texture_scales_mm = [float(s) for s in scales.get("texture_scales_mm", TEXTURE_SCALES_MM)]
        self._smoothed: dict[tuple[str, float], np.ndarray] = {}

    def smoothed(self, name: str, scale: float) -> np.ndarray:
        if (name, scale) not in self._smoothed:
            sigma = [scale / s for s in self.spacing]
            if ("mask", scale) not in self._smoothed:
                self._smoothed["mask", scale] = ndimage.gaussian_filter(self.mask.astype(np.float32), sigma, truncate=TRUNCATE, mode="constant")
            self._smoothed[name, scale] = smoothed(self.images[name], self.mask, sigma, self._smoothed["mask", scale])
        return self._smoothed[name, scale]

    def local_sd(self, name: str, scale: float) -> np.ndarray:
        """The standard deviation of ``name`` in a Gaussian neighbourhood of SD ``scale`` mm, inside the mask."""
        key = (f"{name} sd", scale)
        if key not in self._smoothed:
            mean = self.smoothed(name, scale)
            square = smoothed(self.images[name] ** 2, self.mask, [scale / s for s in self.spacing], self._smoothed["mask", scale])
            self._smoothed[key] = np.where(self.mask, np.sqrt(np.maximum(square - mean**2, 0.0)), 0.0).astype(np.float32)
        return self._smoothed[key]

    def at(self, where: np.ndarray, kinds: Sequence[str] = FEATURE_SETS) -> CaseFeatures:
        """The features ``kinds`` need of every sequence, sampled at the voxels ``where`` only: a 1-D case whose
        ``design`` and ``_given_values`` (at its all-true mask) equal this case's at ``where``. Fitting over many cases
        keeps these samples, not each case's whole smoothed volumes (about 1 GB a case at 1 mm)."""
        sampled = CaseFeatures({n: v[where] for n, v in self.images.items()}, np.ones(int(where.sum()), bool), self.spacing)
        sampled.scales_mm, sampled.texture_scales_mm = self.scales_mm, self.texture_scales_mm
        smooth, texture = any(k in ("multiscale", "texture") for k in kinds), "texture" in kinds
        for name in self.images:
            scales = [*(self.scales_mm if smooth else []), *(self.texture_scales_mm if texture else [])]
            for scale in dict.fromkeys(scales):
                sampled._smoothed[name, scale] = self.smoothed(name, scale)[where]
            for scale in self.texture_scales_mm if texture else []:
                sampled._smoothed[f"{name} sd", scale] = self.local_sd(name, scale)[where]
        return sampled

    def design(self, given: Sequence[str], kind: str, where: np.ndarray | None = None) -> np.ndarray:
        """(voxels, features) at ``where`` (default: the mask): 1, each given value, their products, smoothed values,
        local standard deviations."""
        where = self.mask if where is None else where
        ordered = [name for name in SEQUENCES if name in given]
        values = [self.images[name][where].astype(np.float32) for name in ordered]
        columns = [np.ones_like(values[0])] + values
        columns += [values[i] * values[j] for i, j in combinations_with_replacement(range(len(values)), 2)]
        if kind in ("multiscale", "texture"):
            columns += [self.smoothed(name, scale)[where] for scale in self.scales_mm for name in ordered]
        if kind == "texture":
            columns += [self.local_sd(name, scale)[where] for scale in self.texture_scales_mm for name in ordered]
        elif kind not in ("quadratic", "multiscale"):
            raise ValueError(f"unknown feature set {kind}")
        return np.stack(columns, axis=1)


def fit_coefficients(rows: list[np.ndarray], targets: list[np.ndarray]) -> np.ndarray:
    """Ridge least squares over the stacked rows (float64 normal equations)."""
    x = np.concatenate(rows).astype(np.float64)
    y = np.concatenate(targets).astype(np.float64)
    gram = x.T @ x
    gram[np.diag_indices_from(gram)] += RIDGE * len(x)
    gram[0, 0] -= RIDGE * len(x)  # the intercept is not shrunk
    return np.linalg.solve(gram, x.T @ y)


def _map_coordinates(values: np.ndarray, bins: int, low: float, high: float) -> np.ndarray:
    """(voxels, given) values -> fractional bin coordinates (bin centres at integers), clipped to the table."""
    return (np.clip(values, low, high) - low) / (high - low) * bins - 0.5


def fit_map(values: np.ndarray, residuals: np.ndarray) -> dict:
    """The intensity map of ``residuals`` over the given sequences' ``values`` (voxels, given): per bin the smoothed
    mean residual, shrunk towards 0 where samples are few."""
    bins = MAP_BINS[values.shape[1]]
    low, high = MAP_RANGE
    edges = [np.linspace(low, high, bins + 1)] * values.shape[1]
    clipped = np.clip(values, low, np.nextafter(high, low))
    total, _ = np.histogramdd(clipped, bins=edges, weights=residuals.astype(np.float64))
    count, _ = np.histogramdd(clipped, bins=edges)
    total, count = ndimage.gaussian_filter(total, MAP_SMOOTHING), ndimage.gaussian_filter(count, MAP_SMOOTHING)
    table = total / (count + MAP_PRIOR_COUNT)
    return {"range": list(MAP_RANGE), "bins": bins, "table": np.round(table, 4).tolist()}


def apply_map(values: np.ndarray, table: Mapping) -> np.ndarray:
    """The map's correction at (voxels, given) values (multilinear between bin centres)."""
    grid = np.asarray(table["table"], np.float32)
    coordinates = _map_coordinates(values, int(table["bins"]), *table["range"])  # the stored range, not today's
    return ndimage.map_coordinates(grid, coordinates.T, order=1, mode="nearest").astype(np.float32)


def _given_values(features: CaseFeatures, given: Sequence[str], where: np.ndarray) -> np.ndarray:
    return np.stack([features.images[name][where] for name in SEQUENCES if name in given], axis=1)


def _estimate(features: CaseFeatures, given: Sequence[str], fit: Mapping, where: np.ndarray) -> np.ndarray:
    """The fit's estimate at the voxels ``where``: polynomial, then the intensity map where the fit has one."""
    values = features.design(given, fit["features"], where) @ np.asarray(fit["coefficients"], np.float32)
    if "map" in fit:
        values = values + apply_map(_given_values(features, given, where), fit["map"])
    return values


def predict(
    images: Mapping[str, np.ndarray], given: Sequence[str], mask: np.ndarray, fit: Mapping, spacing: Sequence[float], prior: Mapping | None = None
) -> np.ndarray:
    """The target's z-scored estimate inside ``mask`` (0 outside), from one stored fit of ``prior`` (its scales)."""
    return predict_features(CaseFeatures(images, mask, spacing, prior), given, fit)


def predict_box(features: CaseFeatures, given: Sequence[str], fit: Mapping, box: tuple[slice, ...]) -> np.ndarray:
    """``predict`` inside a box of the case only (smoothing still sees the whole case)."""
    where = np.zeros(features.mask.shape, bool)
    where[box] = features.mask[box]
    out = np.zeros(features.mask.shape, np.float32)[box]
    if where.any():
        out[where[box]] = _estimate(features, given, fit, where)
    return out


def predict_features(features: CaseFeatures, given: Sequence[str], fit: Mapping) -> np.ndarray:
    """``predict`` on precomputed case features."""
    out = np.zeros(features.mask.shape, np.float32)
    if features.mask.any():
        out[features.mask] = _estimate(features, given, fit, features.mask)
    return out


def _sample(mask: np.ndarray, rng: np.random.Generator, count: int = VOXELS_PER_CASE) -> np.ndarray:
    """A random subset of the mask's voxels (at most ``count``)."""
    chosen = np.zeros(mask.shape, bool)
    points = np.flatnonzero(mask)
    chosen.flat[rng.choice(points, size=min(count, points.size), replace=False)] = True
    return chosen


def fit_all(
    cases: Mapping[str, tuple[Mapping[str, np.ndarray], np.ndarray]],
    spacing: Sequence[float],
    validation: tuple[Mapping[str, np.ndarray], np.ndarray] | Sequence[tuple[Mapping[str, np.ndarray], np.ndarray]] | None = None,
    seed: int = 0,
    log=print,
    kinds: Sequence[str] = CANDIDATES,
) -> dict:
    """Fit every (given subset -> target) pair that some case can teach; the candidate (feature set, with or without
    the intensity map) chosen on ``validation`` (one case or several) by mean absolute error.

    ``cases``: name -> (z-scored images by sequence (any subset of the four), brain mask).
    Returns the ``prior`` entry of ``model.json``.
    """
    rng = np.random.default_rng(seed)
    per_case = min(VOXELS_PER_CASE, VOXELS_IN_ALL // max(len(cases), 1))
    samples = {name: _sample(mask, rng, per_case) for name, (_, mask) in cases.items()}
    # each case's features at its sampled voxels only, computed one case at a time (whole smoothed volumes of fifty
    # cases do not fit in memory); the validation cases' in full (every voxel of their brains is scored)
    feature_sets = [k.removesuffix(MAP) for k in kinds]
    features = {name: CaseFeatures(images, mask, spacing).at(samples[name], feature_sets) for name, (images, mask) in cases.items()}
    held_cases = [] if validation is None else [validation] if isinstance(validation, tuple) else list(validation)
    held = [CaseFeatures(images, mask, spacing) for images, mask in held_cases]
    fits: dict[str, dict] = {}
    for size in range(1, len(SEQUENCES)):
        for code in range(1, 2 ** len(SEQUENCES)):
            given = [name for i, name in enumerate(SEQUENCES) if code >> i & 1]
            if len(given) != size:
                continue
            for target in (name for name in SEQUENCES if name not in given):
                teach = [n for n, (images, _) in cases.items() if all(s in images for s in [*given, target])]
                if not teach:
                    continue
                candidates = {}
                truths = [cases[n][0][target][samples[n]] for n in teach]
                for kind in dict.fromkeys(k.removesuffix(MAP) for k in kinds):
                    rows = [features[n].design(given, kind) for n in teach]
                    coefficients = fit_coefficients(rows, truths)
                    polynomial = {"features": kind, "coefficients": [float(c) for c in coefficients], "cases": len(teach)}
                    if kind in kinds:
                        candidates[kind] = polynomial
                    if kind + MAP in kinds:
                        residuals = np.concatenate(truths) - np.concatenate(rows) @ coefficients
                        values = np.concatenate([_given_values(features[n], given, features[n].mask) for n in teach])
                        candidates[kind + MAP] = {**polynomial, "map": fit_map(values, residuals)}
                chosen, scores = kinds[0], {}
                judges = [h for h in held if all(s in h.images for s in [*given, target])]
                if judges:  # the mean over the validation cases that have these sequences of each case's brain MAE
                    for kind, fit in candidates.items():
                        errors = [np.abs(predict_features(h, given, fit)[h.mask] - h.images[target][h.mask]).mean() for h in judges]
                        scores[kind] = float(np.mean(errors))
                    chosen = min(scores, key=lambda kind: scores[kind])
                fits[subset_key(given, target)] = {**candidates[chosen], "validation_mae": scores}
    chose = {kind: sum(candidate_name(f) == kind for f in fits.values()) for kind in kinds}
    log(f"prior: {len(fits)} regressions fitted (" + ", ".join(f"{n} chose {kind}" for kind, n in chose.items() if n) + ")")
    return {
        "kind": "polynomial-regression",
        "space": "z-score inside the brain",
        "scales_mm": list(SCALES_MM),
        "texture_scales_mm": list(TEXTURE_SCALES_MM),
        "fits": fits,
    }


def candidate_name(fit: Mapping) -> str:
    """``"multiscale+map"``: the feature set, with the suffix where the fit carries an intensity map."""
    return str(fit["features"]) + (MAP if "map" in fit else "")
