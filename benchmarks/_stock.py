"""MONAI's stock path on the same networks: ``LatentDiffusionInferer.sample`` with the package's own scheduler and steps.

``use_stock_sampler()`` swaps the sampling of every task (``TaskRun.sample``) for the inferer: the
same scheduler (a fresh one from ``model.json``, its timesteps set exactly as our loop sets them),
the same number of steps, the same seeded noise and the same conditioning (the condition folded
onto the latent grid with its flags, as ``LatentGenerator`` builds it), then one untiled decode.
The rest of each task (preparation, finishing) is unchanged, so the outputs of the two paths can be
compared voxel for voxel.
"""

from __future__ import annotations

import numpy as np
import torch


def use_stock_sampler() -> None:
    from monai.inferers import LatentDiffusionInferer

    from DiffusionSynthLib.engine.latent import pad_to_multiple
    from DiffusionSynthLib.engine.sampling import sample_noise, timesteps
    from DiffusionSynthLib.tasks.run import TaskRun

    def stock_sample(self: TaskRun, condition: np.ndarray, flags=None) -> np.ndarray:
        generator = self.generator
        padded, shape = pad_to_multiple(condition, generator.multiple)
        outputs = []
        for seed in self.seeds:
            cond = generator._condition(padded, flags, 1)
            noise = sample_noise((1, generator.latent_channels, *cond.shape[2:]), seed, generator.device)
            scheduler = generator.package.scheduler()
            timesteps(scheduler, self.steps, int(noise[0, 0].numel()))  # sets the scheduler's timesteps as our loop does
            inferer = LatentDiffusionInferer(scheduler, scale_factor=generator.scale)
            with torch.inference_mode():
                image = inferer.sample(noise, generator.autoencoder, generator.unet, scheduler, conditioning=cond, mode="concat", verbose=False)
            outputs.append(image.float().cpu().numpy())
        return np.concatenate(outputs)[..., : shape[0], : shape[1], : shape[2]]

    TaskRun.sample = stock_sample  # type: ignore[method-assign]
