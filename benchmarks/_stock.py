"""The stock baseline of the speed benchmark: MONAI's ``LatentDiffusionInferer`` with a 1000-step DDPM.

``use_stock_sampler(steps_run)`` swaps the sampling of every task (``TaskRun.sample``) for the
stock inferer on the same networks and the same conditioning (the condition folded onto the
latent grid with its flags, exactly as ``LatentGenerator`` builds it), with one untiled decode.
The rest of each task (preparation, finishing) is unchanged, so a stock run is the same
pipeline end to end. With ``steps_run`` < 1000 only the first steps run; ``STATS`` keeps what
is needed to extrapolate to all 1000 (the time per step and the decode, per sampling call).
The stock path has no RePaint re-injection and no guidance (the benchmark runs none); the DDPM
output of a rectified-flow network is noise, which is fine for timing.
"""

from __future__ import annotations

import time

import numpy as np
import torch

STATS: dict[str, float] = {"calls": 0, "steps_run": 0, "sampling_s": 0.0, "decode_s": 0.0}


def use_stock_sampler(steps_run: int) -> None:
    from monai.inferers import LatentDiffusionInferer
    from monai.networks.schedulers import DDPMScheduler

    from DiffusionSynthLib.engine.latent import pad_to_multiple
    from DiffusionSynthLib.tasks.run import TaskRun

    def stock_sample(self: TaskRun, condition: np.ndarray, flags=None, known=None, guidance=None) -> np.ndarray:
        generator = self.generator
        padded, shape = pad_to_multiple(condition, generator.multiple)
        cond = generator._condition(padded, flags, 1)
        noise = torch.randn((1, generator.latent_channels, *cond.shape[2:]), generator=torch.Generator().manual_seed(self.seeds[0]))
        scheduler = DDPMScheduler(num_train_timesteps=1000)
        scheduler.set_timesteps(1000)
        scheduler.timesteps = scheduler.timesteps[:steps_run]
        inferer = LatentDiffusionInferer(scheduler, scale_factor=generator.scale)
        with torch.inference_mode():
            started = time.perf_counter()
            image = inferer.sample(noise, generator.autoencoder, generator.unet, scheduler, conditioning=cond, mode="concat", verbose=False)
            sampling = time.perf_counter() - started
            started = time.perf_counter()
            generator.autoencoder.decode_stage_2_outputs(noise / generator.scale)  # the decode alone, to split per-step time
            decode = time.perf_counter() - started
        STATS["calls"] += 1
        STATS["steps_run"] = steps_run
        STATS["sampling_s"] += sampling
        STATS["decode_s"] += decode
        return image.float().numpy()[..., : shape[0], : shape[1], : shape[2]]

    TaskRun.sample = stock_sample


def stock_seconds(measured_total_s: float) -> float:
    """The run's time without the extra timing decodes, with every sampling call taken to all 1000 steps."""
    steps_run = int(STATS["steps_run"])
    per_step_all_calls = (STATS["sampling_s"] - STATS["decode_s"]) / max(steps_run, 1)
    return measured_total_s - STATS["decode_s"] + per_step_all_calls * (1000 - steps_run)
