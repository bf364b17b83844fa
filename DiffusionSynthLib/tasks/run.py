"""The frame every task shares: model check, seeds, generator, and one progress scale.

Progress runs from 0 to ``2 + steps + samples``: 0 preparing, 1 prepared, one unit per
denoising step, one per decoded sample, and the last when the outputs are ready.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..engine.device import resolve_device
from ..engine.latent import Guidance, KnownRegion, LatentGenerator
from ..engine.progress import CancelCheck, ProgressCallback, Stage
from ..errors import InputError
from ..models.package import ModelPackage


class TaskRun:
    def __init__(
        self,
        model: ModelPackage,
        task: str,
        steps: int | None,
        seed: int,
        samples: int,
        device: str,
        progress: ProgressCallback,
        cancel: CancelCheck,
    ) -> None:
        if model.task != task:
            raise InputError(f"The model '{model.id}' is for the task '{model.task}', not '{task}'.")
        if samples < 1:
            raise InputError("The number of samples must be 1 or more.")
        self.seeds = [int(seed) + k for k in range(samples)]
        self.generator = LatentGenerator(model, resolve_device(device))
        self.steps = int(steps or self.generator.default_steps())
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
        known: KnownRegion | None = None,
        guidance: Guidance | None = None,
    ) -> np.ndarray:
        """(K, channels, X, Y, Z) decoded samples; device memory is released afterwards."""
        try:
            stage = Stage(self.progress, self.cancel, 1, self.total)
            return self.generator.generate(condition, self.seeds, self.steps, stage, flags=flags, known=known, guidance=guidance)
        finally:
            self.generator.release()

    def done(self) -> None:
        self._stage.report(self.total, "done")
