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

from ..engine.refiner import refine
from ..models.package import ModelPackage
from .run import TaskRun


@dataclass
class Estimate:
    mean: np.ndarray  # (C, X, Y, Z)
    std: np.ndarray | None  # (C, X, Y, Z) when two or more samples were drawn


def refiner_window(model: ModelPackage) -> list[int]:
    return [int(w) for w in model.config["refiner"]["window"]]


def network_used(model: ModelPackage, key: str) -> bool:
    """Whether the package's network answers ``key`` (an imputation configuration ``"t1c,t2w->t2f"``, an inpainting
    mode): training leaves it out where it did not beat the prior on the validation case (``refiner.prior_only``)."""
    return "refiner" in model.networks and key not in model.config.get("refiner", {}).get("prior_only", [])


def refined(model: ModelPackage, inputs: np.ndarray, prior: np.ndarray, run: TaskRun) -> np.ndarray:
    """``prior`` (C, X, Y, Z) plus the network's correction for ``inputs``; the prior itself when the package has no network."""
    if "refiner" not in model.networks:
        return prior.astype(np.float32)
    return (prior + refine(model.networks["refiner"], inputs, refiner_window(model), run.device)).astype(np.float32)


def with_residual_samples(
    model: ModelPackage, estimate: np.ndarray, flags: Sequence[float], run: TaskRun, extra_condition: np.ndarray | None = None
) -> Estimate:
    """``estimate`` alone (no samples asked), or the mean and SD of ``estimate`` + K residual samples.

    The diffusion is conditioned on the estimate (plus ``extra_condition`` channels, such as an inpainting region) and ``flags``.
    """
    if run.samples == 0:
        return Estimate(estimate, None)
    scale = float(model.config["residual"]["scale"])
    condition = estimate if extra_condition is None else np.concatenate([estimate, extra_condition])
    residuals = run.sample(condition, list(flags) or None) * scale  # (K, C, X, Y, Z)
    samples = estimate[None] + residuals
    return Estimate(samples.mean(axis=0), samples.std(axis=0) if run.samples > 1 else None)
