"""``DiffusionSynthLib.pipeline.Pipeline``, kept for scripts that import it from here: the pipelines are in
``DiffusionSynthLib.pipelines`` (one class per task)."""

from __future__ import annotations

from .pipelines import TASKS, ForecastPipeline, ImputePipeline, InpaintPipeline, MriToCtPipeline, Pipeline

__all__ = ["TASKS", "ForecastPipeline", "ImputePipeline", "InpaintPipeline", "MriToCtPipeline", "Pipeline"]
