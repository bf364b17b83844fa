"""``MriToCtPipeline``: a head MR in, a pseudo-CT in Hounsfield units on its grid out."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..engine.progress import CancelCheck, ProgressCallback, never_cancel, no_progress
from ..tasks.mri_to_ct import PseudoCt, mri_to_ct
from ..volume import Volume
from .base import Pipeline, only, required


class MriToCtPipeline(Pipeline):
    task_name = "mri-to-ct"

    def __call__(
        self,
        mri: Volume | Mapping[str, Volume | None],
        *,
        steps: int | None = None,
        seed: int = 0,
        samples: int | None = None,
        progress: ProgressCallback = no_progress,
        cancel: CancelCheck = never_cancel,
        **options: Any,
    ) -> PseudoCt:
        """``mri``: the MR Volume (or ``{"mri": V}``); the result's ``ct`` (and ``std`` with K >= 2 samples)."""
        only(options)
        volume = mri if isinstance(mri, Volume) else required(mri, "mri")
        result = mri_to_ct(volume, self.model, samples=samples, **self._common(steps, seed, progress, cancel))
        outputs = [result.ct] + ([result.std] if result.std is not None else [])
        extra = {"quality_check": result.quality.record()} if result.quality is not None else None
        return self._mark(result, outputs, result.seed, result.steps, result.samples, extra)
