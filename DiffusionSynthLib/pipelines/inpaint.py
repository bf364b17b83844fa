"""``InpaintPipeline``: remove a lesion to healthy tissue, or add one, inside a mask."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..engine.progress import CancelCheck, ProgressCallback, never_cancel, no_progress
from ..tasks.inpaint import Inpainting, inpaint
from ..volume import Volume
from .base import Pipeline, images_of, only, required


class InpaintPipeline(Pipeline):
    task_name = "inpaint"

    def __call__(
        self,
        images: Mapping[str, Volume | None],
        mask: Volume | None = None,
        *,
        mode: str = "remove",
        strength: float = 1.0,
        labels: Volume | None = None,
        labels_convention: str = "brats2013",
        dilate_mm: float = 0.0,
        steps: int | None = None,
        seed: int = 0,
        samples: int | None = None,
        progress: ProgressCallback = no_progress,
        cancel: CancelCheck = never_cancel,
        **options: Any,
    ) -> Inpainting:
        """``images``: the sequences by name (the mask and labels may sit in it as ``"mask"``, ``"labels"``); the
        result's ``outputs`` (and ``std``) by sequence; in add mode without ``labels``, ``labels`` holds the sub-region
        map drawn (in ``labels_convention``)."""
        only(options, ("mode", "strength", "labels_convention", "dilate_mm"))
        region = required(images, "mask", mask)
        sub_regions = labels if labels is not None else images.get("labels")
        result = inpaint(
            images_of(images),
            region,
            mode,
            self.model,
            samples=samples,
            strength=strength,
            labels=sub_regions,
            labels_convention=labels_convention,
            dilate_mm=dilate_mm,
            **self._common(steps, seed, progress, cancel),
        )
        outputs = [*result.outputs.values(), *result.std.values(), *([result.labels] if result.labels is not None else [])]
        extra = {"mode": mode, "strength": strength, "mask_voxels": result.mask_voxels, **({"dilate_mm": dilate_mm} if dilate_mm else {})}
        return self._mark(result, outputs, result.seed, result.steps, result.samples, extra)
