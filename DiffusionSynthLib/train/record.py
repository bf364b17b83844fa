"""What every trained package records: inference presets and how it was trained."""

from __future__ import annotations

import platform
import shlex
import sys
from typing import Any

from .. import __version__
from .loop import LoopResult

# latent voxels per tile, as MAISI keeps presets per GPU memory; CPU tiles keep peak RSS low
TILE_PRESETS = {
    "cpu": {"denoise_latent": [32, 32, 32], "decode_latent": [24, 24, 24]},
    "cuda": {"denoise_latent": [48, 48, 48], "decode_latent": [32, 32, 32]},
    "cuda-24GB": {"denoise_latent": [64, 64, 64], "decode_latent": [48, 48, 48]},
    "cuda-80GB": {"denoise_latent": [96, 96, 96], "decode_latent": [64, 64, 64]},
}


def inference_settings(default_steps: int = 20) -> dict[str, Any]:
    return {"default_steps": default_steps, "overlap": 0.25, "tiles": TILE_PRESETS}


def command_line() -> str:
    """The command that is running, as a user would type it."""
    return " ".join(shlex.quote(a) for a in ["diffusionsynth", *sys.argv[1:]])


def training_record(result: LoopResult, **details: Any) -> dict[str, Any]:
    return {
        "command": command_line(),
        **details,
        "steps": result.steps,
        "final_losses": result.losses,
        "seconds": round(result.seconds),
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "diffusionsynth_version": __version__,
    }
