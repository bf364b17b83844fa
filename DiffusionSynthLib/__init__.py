"""DiffusionSynth: 3D latent diffusion for medical volumes (pseudo-CT, imputation, inpainting, forecasting).

The library never imports Slicer, VTK or Qt; heavy modules (torch, MONAI) are imported by the
modules that need them, so ``import DiffusionSynthLib`` stays cheap.
"""

__version__ = "0.1.0"
GENERATOR_NAME = "DiffusionSynth"


def __getattr__(name: str):
    """``from DiffusionSynthLib import Pipeline`` without importing torch at ``import DiffusionSynthLib``."""
    if name == "Pipeline":
        from .pipeline import Pipeline

        return Pipeline
    raise AttributeError(f"module 'DiffusionSynthLib' has no attribute {name!r}")
