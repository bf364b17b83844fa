"""The frame every task shares: model check, seeds, generator, and one progress scale.

Progress runs from 0 to ``2 + steps + samples``: 0 preparing, 1 prepared, one unit per
denoising step, one per decoded sample, and the last when the outputs are ready. With no
diffusion samples (a package's posterior-mean estimate) it runs from 0 to 2.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..engine.device import resolve_device
from ..engine.latent import LatentGenerator
from ..engine.progress import CancelCheck, ProgressCallback, Stage
from ..errors import InputError, ModelError
from ..models.package import ModelPackage


def has_diffusion(model: ModelPackage) -> bool:
    """Whether the package can sample (it holds an autoencoder and a denoising UNet)."""
    return {"autoencoder", "unet"} <= set(model.networks)


def default_samples(model: ModelPackage) -> int:
    """The package's default number of samples: 0 (the deterministic estimate) for prior packages, else 1."""
    return int(model.config.get("inference", {}).get("default_samples", 1))


class TaskRun:
    def __init__(
        self,
        model: ModelPackage,
        task: str,
        steps: int | None,
        seed: int,
        samples: int | None,
        device: str,
        progress: ProgressCallback,
        cancel: CancelCheck,
    ) -> None:
        if model.task != task:
            raise InputError(f"The model '{model.id}' is for the task '{model.task}', not '{task}'.")
        samples = default_samples(model) if samples is None else int(samples)
        minimum = 0 if "prior" in model.config else 1
        if samples < minimum:
            raise InputError(f"The number of samples must be {minimum} or more.")
        if samples > 0 and not has_diffusion(model):
            raise ModelError(f"The model '{model.id}' has no diffusion networks, so it cannot draw samples; use --samples 0 (its deterministic estimate).")
        self.model = model
        self.device = resolve_device(device)
        self.samples = samples
        self.seeds = [int(seed) + k for k in range(samples)]
        self.generator = LatentGenerator(model, self.device) if samples > 0 else None
        default = self.generator.default_steps() if self.generator is not None else int(model.config.get("inference", {}).get("default_steps", 0))
        self.steps = int(steps or default) if samples > 0 else 0
        self.total = 2 + self.steps + samples
        self.progress, self.cancel = progress, cancel
        self._stage = Stage(progress, cancel, 0, self.total)
        self._stage.report(0, "preparing")

    def prepared(self) -> None:
        self._stage.report(1, "prepared")

    def sample(
        self,
        condition: np.ndarray,
        flags: Sequence[float] | None = None,
    ) -> np.ndarray:
        """(K, channels, X, Y, Z) decoded samples; device memory is released afterwards."""
        if self.generator is None:
            raise ValueError("sample() needs samples > 0")
        try:
            stage = Stage(self.progress, self.cancel, 1, self.total)
            return self.generator.generate(condition, self.seeds, self.steps, stage, flags=flags)
        finally:
            self.generator.release()

    def done(self) -> None:
        self._stage.report(self.total, "done")
