"""``ImputePipeline``: any subset of T1n, T1c, T2w, FLAIR in, the missing sequences out."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..engine.progress import CancelCheck, ProgressCallback, never_cancel, no_progress
from ..tasks.impute import Imputation, impute
from ..volume import Volume
from .base import Pipeline, images_of, only


class ImputePipeline(Pipeline):
    task_name = "impute"

    def __call__(
        self,
        images: Mapping[str, Volume | None],
        *,
        steps: int | None = None,
        seed: int = 0,
        samples: int | None = None,
        progress: ProgressCallback = no_progress,
        cancel: CancelCheck = never_cancel,
        **options: Any,
    ) -> Imputation:
        """``images``: the given sequences by name; the result's ``outputs`` (and ``std``) by missing sequence, on the
        first given input's grid."""
        only(options)
        result = impute(images_of(images), self.model, samples=samples, **self._common(steps, seed, progress, cancel))
        outputs = [*result.outputs.values(), *result.std.values()]
        return self._mark(result, outputs, result.seed, result.steps, result.samples, {"grid": f"{result.reference} (the first given input)"})
