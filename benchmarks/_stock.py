"""The stock baseline of the speed benchmark: MONAI's ``LatentDiffusionInferer`` with a 1000-step DDPM.

``use_stock_sampler(steps_run)`` swaps the sampling of every task (``TaskRun.sample``) for the
stock inferer on the same networks and the same conditioning (the condition folded onto the
latent grid with its flags, exactly as ``LatentGenerator`` builds it), with one untiled decode.
The rest of each task (preparation, finishing) is unchanged, so a stock run is the same
pipeline end to end. With ``steps_run`` < 1000 only the first steps run and the rest are
extrapolated with the median time of one UNet call (robust to bursts of load on a shared
machine; a mean over 20 steps multiplied by 49 is not).
The stock path has no RePaint re-injection and no guidance (the benchmark runs none); the DDPM
output of a rectified-flow network is noise, which is fine for timing.
"""

from __future__ import annotations

import time

import numpy as np
import torch

STATS: dict = {"calls": 0, "steps_run": 0, "decode_s": 0.0, "decode_cpu_s": 0.0, "step_s": [], "step_cpu_s": []}


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
        clock: list[float] = []

        def before(*_) -> None:
            clock[:] = [time.perf_counter(), time.process_time()]

        def after(*_) -> None:  # returns None, so the output is left alone
            STATS["step_s"].append(time.perf_counter() - clock[0])
            STATS["step_cpu_s"].append(time.process_time() - clock[1])

        hooks = [generator.unet.register_forward_pre_hook(before), generator.unet.register_forward_hook(after)]
        with torch.inference_mode():
            image = inferer.sample(noise, generator.autoencoder, generator.unet, scheduler, conditioning=cond, mode="concat", verbose=False)
            for hook in hooks:
                hook.remove()
            started, cpu = time.perf_counter(), time.process_time()
            generator.autoencoder.decode_stage_2_outputs(noise / generator.scale)  # the decode alone, to split per-step time
            STATS["decode_s"] += time.perf_counter() - started
            STATS["decode_cpu_s"] += time.process_time() - cpu
        STATS["calls"] += 1
        STATS["steps_run"] = steps_run
        return image.float().numpy()[..., : shape[0], : shape[1], : shape[2]]

    TaskRun.sample = stock_sample


def stock_seconds(measured_total_s: float, kind: str = "") -> float:
    """The run's time without the extra timing decodes, with every sampling call taken to all 1000 steps.

    ``kind`` "" for wall time, "cpu_" for the process's CPU time (all threads).
    """
    steps_run, calls = int(STATS["steps_run"]), int(STATS["calls"])
    per_step = float(np.median(STATS[f"step_{kind}s"])) if STATS[f"step_{kind}s"] else 0.0
    return measured_total_s - STATS[f"decode_{kind}s"] + calls * per_step * (1000 - steps_run)
