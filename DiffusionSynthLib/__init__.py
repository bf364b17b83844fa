"""DiffusionSynth: 3D latent diffusion for medical volumes (pseudo-CT, imputation, inpainting, forecasting).

The library never imports Slicer, VTK or Qt; heavy modules (torch, MONAI) are imported by the
modules that need them, so ``import DiffusionSynthLib`` stays cheap.
"""

from .version import GENERATOR_NAME as GENERATOR_NAME
from .version import __version__ as __version__


def __getattr__(name: str):
    """``from DiffusionSynthLib import Pipeline`` (and the task pipelines) without importing torch at ``import DiffusionSynthLib``."""
    if name in ("Pipeline", "MriToCtPipeline", "ImputePipeline", "InpaintPipeline", "ForecastPipeline"):
        from . import pipelines

        return getattr(pipelines, name)
    raise AttributeError(f"module 'DiffusionSynthLib' has no attribute {name!r}")
