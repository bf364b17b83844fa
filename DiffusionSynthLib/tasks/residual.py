"""Prior -> regression network -> residual diffusion: the estimate every prior package makes.

``refined``: the prior plus the regression network's correction (the posterior-mean estimate,
deterministic). ``with_residual_samples``: K samples of what the estimate misses, drawn by the
package's latent diffusion (conditioned on the estimate and flags), added to it; their mean and
voxel-wise standard deviation. Everything here is on the model's grid, in the task's own units.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ..engine.refiner import refine
from ..models.package import ModelPackage
from .run import TaskRun


@dataclass
class Estimate:
    mean: np.ndarray  # (C, X, Y, Z)
    std: np.ndarray | None  # (C, X, Y, Z) when two or more samples were drawn


def refiner_window(model: ModelPackage) -> list[int]:
    return [int(w) for w in model.config["refiner"]["window"]]


def network_weight(model: ModelPackage, key: str) -> float:
    """How much of the network's correction answers ``key`` (an imputation configuration ``"t1c,t2w->t2f"``, an
    inpainting mode and sequence ``"remove t2f"``), as chosen on the validation cases: 0 where the network did not beat
    the prior (``refiner.prior_only``), the chosen shrinkage where one was (``refiner.weights``), else 1."""
    refiner = model.config.get("refiner", {})
    if "refiner" not in model.networks or key in refiner.get("prior_only", []):
        return 0.0
    return float(refiner.get("weights", {}).get(key, 1.0))


def network_used(model: ModelPackage, key: str) -> bool:
    """Whether the package's network answers ``key`` at all (``network_weight`` above 0)."""
    return network_weight(model, key) > 0.0


def refined(model: ModelPackage, inputs: np.ndarray, prior: np.ndarray, run: TaskRun) -> np.ndarray:
    """``prior`` (C, X, Y, Z) plus the network's correction for ``inputs``; the prior itself when the package has no network."""
    if "refiner" not in model.networks:
        return prior.astype(np.float32)
    return (prior + refine(model.networks["refiner"], inputs, refiner_window(model), run.device)).astype(np.float32)


def without_grid_aliasing(residuals: np.ndarray, sigma_voxels: float) -> np.ndarray:
    """``residuals`` (K, C, X, Y, Z) smoothed by a Gaussian of ``sigma_voxels`` in space: the decoder's blocks at the
    latent grid (4 voxels) show as power at a quarter and half a cycle per voxel, whose amplitude 0.7 voxels damps to
    55% and 9%, while texture near 0.1 cycles per voxel keeps 91%."""
    if sigma_voxels <= 0:
        return residuals
    return ndimage.gaussian_filter(residuals, (0, 0, sigma_voxels, sigma_voxels, sigma_voxels)).astype(residuals.dtype)


def with_residual_samples(
    model: ModelPackage,
    estimate: np.ndarray,
    flags: Sequence[float],
    run: TaskRun,
    extra_condition: np.ndarray | None = None,
    anti_alias_voxels: float = 0.0,
    channel_shares: Sequence[float] | None = None,
) -> Estimate:
    """``estimate`` alone (no samples asked), or the mean and SD of ``estimate`` + K residual samples.

    The diffusion is conditioned on the estimate (plus ``extra_condition`` channels, such as an inpainting region) and ``flags``;
    ``anti_alias_voxels`` > 0 smooths each residual sample by that Gaussian (``without_grid_aliasing``);
    ``channel_shares`` (one per channel of ``estimate``) scales each channel's residual (0: that channel keeps the estimate).
    """
    if run.samples == 0:
        return Estimate(estimate, None)
    scale = float(model.config["residual"]["scale"])
    condition = estimate if extra_condition is None else np.concatenate([estimate, extra_condition])
    residuals = without_grid_aliasing(run.sample(condition, list(flags) or None) * scale, anti_alias_voxels)  # (K, C, X, Y, Z)
    if channel_shares is not None:
        residuals = residuals * np.asarray(channel_shares, np.float32).reshape((1, -1) + (1,) * (residuals.ndim - 2))
    samples = estimate[None] + residuals
    return Estimate(samples.mean(axis=0), samples.std(axis=0) if run.samples > 1 else None)
