"""One pipeline per task, diffusers-style: ``XPipeline.from_package(id, device=...)``, then ``pipe(...)`` on Volumes.

    from DiffusionSynthLib import Pipeline
    from DiffusionSynthLib.volume import read_volume, write_volume

    pipe = Pipeline.from_package("impute-brats-demo", device="cpu")  # an ImputePipeline (the package's task)
    result = pipe({"t1n": read_volume("t1n.nii.gz")})
    write_volume(result.outputs["t2f"], "t2f.nii.gz")  # marked synthetic: the Volume carries its provenance

The command line, the Slicer module (through the command line) and the web page run every task through these.
"""

from __future__ import annotations

from .base import TASKS, Pipeline, UnknownTaskPipeline
from .forecast import ForecastPipeline
from .impute import ImputePipeline
from .inpaint import InpaintPipeline
from .mri_to_ct import MriToCtPipeline

__all__ = ["TASKS", "ForecastPipeline", "ImputePipeline", "InpaintPipeline", "MriToCtPipeline", "Pipeline", "UnknownTaskPipeline"]
