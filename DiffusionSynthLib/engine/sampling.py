"""The one sampling loop shared by every task, for DDIM, DDPM and rectified-flow schedulers.

Tasks differ in what they feed the denoiser (conditioning), never in this loop.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

Denoiser = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (noisy latent, timestep) -> model output
Report = Callable[[int, str], None]


def _step_rflow(scheduler, output, t, t_next, z, generator):
    return scheduler.step(output, t, z, t_next)[0]


def _step_ddim(scheduler, output, t, t_next, z, generator):
    return scheduler.step(output, t, z)[0]


def _step_ddpm(scheduler, output, t, t_next, z, generator):
    """DDPM adds fresh noise each step: drawn from ``generator``, on the generator's device (the CPU for a seeded run)."""
    if generator is None or generator.device == z.device:
        return scheduler.step(output, t, z, generator)[0]
    return scheduler.step(output.to(generator.device), t.to(generator.device), z.to(generator.device), generator)[0].to(z.device)


STEP_FUNCTIONS = {"RFlowScheduler": _step_rflow, "DDIMScheduler": _step_ddim, "DDPMScheduler": _step_ddpm}


def timesteps(scheduler, steps: int, latent_numel: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Pairs ``(t, t_next)`` for ``steps`` inference steps; the last ``t_next`` is 0."""
    if type(scheduler).__name__ == "RFlowScheduler":
        scheduler.set_timesteps(steps, input_img_size_numel=latent_numel)
    else:
        scheduler.set_timesteps(steps)
    ts = list(scheduler.timesteps)
    nexts = ts[1:] + [torch.zeros_like(ts[0])]
    return list(zip(ts, nexts))


def sample_noise(shape: tuple[int, ...], seed: int, device: torch.device) -> torch.Tensor:
    """Seeded Gaussian noise drawn on the CPU, so a seed gives the same result on any device."""
    generator = torch.Generator().manual_seed(int(seed))
    return torch.randn(shape, generator=generator).to(device)


def denoise(
    denoiser: Denoiser,
    noise: torch.Tensor,
    scheduler,
    steps: int,
    report: Report,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Run the reverse process from ``noise``; ``report(step, message)`` after each step.

    ``report`` is where cancellation happens (it raises ``Cancelled``), so a cancel is honoured
    within one step. A stochastic scheduler (DDPM) draws its noise from ``generator``: give a
    seeded one for a reproducible result (without it, the global random state is used).
    """
    step_function = STEP_FUNCTIONS[type(scheduler).__name__]
    schedule = timesteps(scheduler, steps, int(noise[0, 0].numel()))
    z = noise
    for index, (t, t_next) in enumerate(schedule):
        t_batch = t.reshape(1).expand(z.shape[0]).to(z.device)
        output = denoiser(z, t_batch).float()
        z = step_function(scheduler, output, t.to(z.device), t_next.to(z.device), z, generator)
        report(index + 1, f"denoising {index + 1}/{len(schedule)}")
    return z
