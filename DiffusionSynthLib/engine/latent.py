"""Conditional latent diffusion with a model package: condition image in, decoded image out.

The condition (one or more image channels at the model's spacing) is folded into the latent
grid by space-to-depth (lossless, no extra encoder), concatenated to the noisy latent, and the
UNet denoises; the autoencoder decodes. ``K`` samples run as one batch.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import torch
from einops import rearrange

from ..models.package import ModelPackage
from .device import autocast
from .progress import Stage
from .sampling import denoise, sample_noise
from .tiling import select_tile_preset, tiled

LOG = logging.getLogger("DiffusionSynthLib")
MIN_TILE = 8  # latent voxels; below this tiles cost more in overlap than they save


def space_to_depth(image: torch.Tensor, factor: int) -> torch.Tensor:
    return rearrange(image, "b c (x p) (y q) (z r) -> b (c p q r) x y z", p=factor, q=factor, r=factor)


def with_flags(condition: torch.Tensor, flags: Sequence[float] | torch.Tensor | None) -> torch.Tensor:
    """Append per-sample ``flags`` (F values, or a (B, F) tensor) as constant channels."""
    if flags is None:
        return condition
    values = torch.as_tensor(flags, dtype=condition.dtype, device=condition.device)
    values = values.reshape(-1, values.shape[-1]).expand(condition.shape[0], -1)
    return torch.cat([condition, values[:, :, None, None, None].expand(-1, -1, *condition.shape[2:])], dim=1)


def pad_to_multiple(array: np.ndarray, multiple: int, value: float = 0.0) -> tuple[np.ndarray, tuple[int, ...]]:
    """Pad the last three axes at their ends up to a multiple; return the padded array and the old shape."""
    shape = array.shape[-3:]
    pads = [(-s) % multiple for s in shape]
    width = [(0, 0)] * (array.ndim - 3) + [(0, p) for p in pads]
    return np.pad(array, width, constant_values=value), tuple(shape)


class LatentGenerator:
    """Runs one model package's conditional latent diffusion on a device."""

    def __init__(self, package: ModelPackage, device: torch.device) -> None:
        self.package = package
        self.device = device
        self.config = package.config
        self.autoencoder = package.networks["autoencoder"].to(device)
        self.unet = package.networks["unet"].to(device)
        if device.type == "cuda":
            self.unet = self.unet.to(memory_format=torch.channels_last_3d)
        self.factor = int(self.config["latent_downsample"])
        self.latent_channels = int(self.config["networks"]["autoencoder"]["args"]["latent_channels"])
        levels = len(self.config["networks"]["unet"]["args"]["channels"])
        self.multiple = self.factor * 2 ** (levels - 1)
        self.scale = float(self.config.get("latent_scale_factor", 1.0))
        preset = select_tile_preset(self.config.get("inference", {}).get("tiles", {}), device)
        self.denoise_tile = preset.get("denoise_latent")
        self.decode_tile = preset.get("decode_latent")
        self.overlap = float(self.config.get("inference", {}).get("overlap", 0.25))

    def default_steps(self) -> int:
        return int(self.config.get("inference", {}).get("default_steps", 20))

    def generate(
        self,
        condition: np.ndarray,
        seeds: list[int],
        steps: int,
        stage: Stage,
        flags: Sequence[float] | None = None,
    ) -> np.ndarray:
        """Decode ``len(seeds)`` samples conditioned on ``condition`` (C, X, Y, Z) -> (K, out, X, Y, Z).

        ``flags`` (for example which MR sequences are present) join the condition as constant
        latent-grid channels.

        ``stage.report`` is called ``steps + len(seeds)`` times (denoising, then one decode per sample).
        Out of memory, the run restarts with tiles half the size, then on the CPU, with a warning.
        """
        while True:
            try:
                return self._generate(condition, seeds, steps, stage, flags)
            except torch.OutOfMemoryError:
                if self.device.type == "cuda":
                    torch.cuda.empty_cache()
                latent_shape = [s // self.factor for s in pad_to_multiple(condition, self.multiple)[0].shape[-3:]]
                if self._shrink_tiles(latent_shape):
                    LOG.warning("Out of memory: retrying with smaller tiles (denoise %s, decode %s).", self.denoise_tile, self.decode_tile)
                elif self.device.type != "cpu":
                    LOG.warning("Out of GPU memory even with the smallest tiles: falling back to the CPU (slower).")
                    self._move_to(torch.device("cpu"))
                else:
                    raise

    def _shrink_tiles(self, latent_shape: list[int]) -> bool:
        """Halve both tiles (a missing tile starts from the latent size); False when already minimal."""
        step = self.multiple // self.factor

        def half(tile: list[int] | None) -> list[int]:
            current = tile or latent_shape
            return [max(MIN_TILE, (int(t) // 2) // step * step) for t in current]

        new_denoise, new_decode = half(self.denoise_tile), half(self.decode_tile)
        if new_denoise == list(self.denoise_tile or latent_shape) and new_decode == list(self.decode_tile or latent_shape):
            return False
        self.denoise_tile, self.decode_tile = new_denoise, new_decode
        return True

    def _move_to(self, device: torch.device) -> None:
        self.device = device
        self.autoencoder = self.autoencoder.to(device)
        self.unet = self.unet.to(device=device, memory_format=torch.contiguous_format)

    def _condition(self, padded: np.ndarray, flags: Sequence[float] | None, samples: int) -> torch.Tensor:
        cond = torch.from_numpy(np.ascontiguousarray(padded))[None].float().to(self.device)
        cond = with_flags(space_to_depth(cond, self.factor), flags)
        return cond.expand(samples, *cond.shape[1:])

    def _generate(self, condition, seeds, steps, stage, flags) -> np.ndarray:
        padded, shape = pad_to_multiple(condition, self.multiple)
        cond = self._condition(padded, flags, len(seeds))
        latent_shape = (len(seeds), self.latent_channels, *cond.shape[2:])
        noise = torch.cat([sample_noise((1, *latent_shape[1:]), seed, self.device) for seed in seeds])
        scheduler = self.package.scheduler()

        def denoiser(z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            def predict(x: torch.Tensor) -> torch.Tensor:
                return self.unet(x, t[:1].expand(x.shape[0]))

            return tiled(predict, torch.cat([z, cond], dim=1), self.denoise_tile, self.overlap)

        with torch.inference_mode(), autocast(self.device):
            stochastic = torch.Generator().manual_seed(int(seeds[0]) + 3_333_333)  # DDPM's per-step noise, seeded on the CPU
            z = denoise(denoiser, noise, scheduler, steps, stage.report, generator=stochastic)
            outputs = []
            for index in range(len(seeds)):
                decoded = tiled(self.autoencoder.decode_stage_2_outputs, z[index : index + 1] / self.scale, self.decode_tile, self.overlap)
                outputs.append(decoded.float().cpu())
                stage.report(steps + index + 1, f"decoding sample {index + 1}/{len(seeds)}")
        result = torch.cat(outputs).numpy()
        return result[..., : shape[0], : shape[1], : shape[2]]

    def release(self) -> None:
        """Free device memory held by this run."""
        if self.device.type == "cuda":
            self.package.networks["autoencoder"].cpu()
            self.package.networks["unet"].cpu()
            torch.cuda.empty_cache()
