"""What every trained package records: inference presets and how it was trained."""

from __future__ import annotations

import platform
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ..models.package import save_model
from ..version import __version__
from .loop import LoopResult, LoopSettings, PairBatch, TargetBatch, train_latent_diffusion

# latent voxels per tile, as MAISI keeps presets per GPU memory. The decoder's GroupNorm sees only
# its tile, so tiles cost accuracy at their seams: a 32^3 latent tile (128^3 voxels) holds a whole
# head at 2 mm and stays near 1 GB of RSS on a CPU
TILE_PRESETS = {
    "cpu": {"denoise_latent": [32, 32, 32], "decode_latent": [32, 32, 32]},
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


def train_and_package(
    output: Path,
    specs: dict[str, dict],
    downsample: int,
    target_batch: TargetBatch,
    pair_batch: PairBatch,
    settings: LoopSettings,
    resume: bool,
    device: torch.device,
    log: Callable[[str], None],
    describe: Callable[[LoopResult], dict[str, Any]],
    card: Callable[[dict[str, Any]], str],
    pretrained_autoencoder: tuple[dict[str, torch.Tensor], float] | None = None,
) -> Path:
    """Train both stages (checkpoints beside ``output``) and write the package; rank 0 alone writes.

    ``describe(result)`` gives the task's own ``model.json`` keys (task, inputs, intensity,
    training record...); ``card(config)`` the model card.
    """
    workdir = output.parent / f".{output.name}.training"
    workdir.mkdir(parents=True, exist_ok=True)
    result = train_latent_diffusion(specs, target_batch, pair_batch, downsample, settings, workdir, resume, log, device, pretrained_autoencoder)
    if not result.is_main:
        return output
    config = {
        "id": output.name,
        "networks": {"autoencoder": specs["autoencoder"], "unet": specs["unet"]},
        "scheduler": specs["scheduler"],
        "latent_scale_factor": result.latent_scale_factor,
        "latent_downsample": downsample,
        "inference": inference_settings(),
        **describe(result),
    }
    return save_model(config, result.networks, output, card(config))
