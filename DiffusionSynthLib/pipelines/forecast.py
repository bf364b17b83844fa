"""``ForecastPipeline``: the tumour mask and images at given days after a baseline T1c and its tumour mask."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..engine.progress import CancelCheck, ProgressCallback, never_cancel, no_progress
from ..errors import InputError
from ..models.package import ModelPackage
from ..tasks.forecast import Forecast, forecast
from ..volume import Volume
from .base import Pipeline, images_of, only, required


class ForecastPipeline(Pipeline):
    task_name = "forecast"

    def __call__(
        self,
        images: Mapping[str, Volume | None],
        tumour_mask: Volume | None = None,
        *,
        days: Sequence[object] | None = None,
        inpaint_model: ModelPackage | None = None,
        spacing: Sequence[float] | None = None,
        steps: int | None = None,
        seed: int = 0,
        samples: int | None = None,
        progress: ProgressCallback = no_progress,
        cancel: CancelCheck = never_cancel,
        **options: Any,
    ) -> Forecast:
        """``images``: the T1c and any other sequences (the mask may sit in it as ``"tumour_mask"``); ``samples``:
        growth runs with drawn parameters (K >= 2 adds each day's tumour probability); ``inpaint_model`` renders
        each day's images (None: masks only)."""
        only(options, ("days", "inpaint_model", "spacing"))
        if days is None:
            raise InputError("A forecast needs days=[...] (days after the baseline scan).")
        result = forecast(
            images_of(images),
            required(images, "tumour_mask", tumour_mask),
            days,
            self.model,
            inpaint_model,
            samples=1 if samples is None else samples,
            spacing=spacing,
            **self._common(steps, seed, progress, cancel),
        )
        outputs = [*result.masks.values(), *result.probability.values(), *(v for day in result.images.values() for v in day.values())]
        extra = {"inpaint_model": result.inpaint_model, "physics_spacing_mm": list(result.physics_spacing)}
        return self._mark(result, outputs, seed, result.steps, 1 if samples is None else samples, extra)
