"""The two-stage latent diffusion training loop shared by every task.

Stage 1 trains the ``AutoencoderKL`` on target patches (L1 + small KL); stage 2 trains the
``DiffusionModelUNet`` on latents, conditioned by space-to-depth of the condition patch.
A checkpoint is written every minute and at each stage's end; ``resume`` continues from it,
including the time already spent. Tasks supply two batch functions and nothing else.
"""

from __future__ import annotations

import contextlib
import json
import pickle
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..engine.device import autocast
from ..engine.latent import space_to_depth, with_flags
from ..engine.networks import build_network, build_scheduler
from ..errors import ModelError
from .distributed import Distributed

TargetBatch = Callable[[np.random.Generator], np.ndarray]  # -> (B, C, X, Y, Z) target patches
# -> (condition image, target, per-sample flags (B, F) or None)
PairBatch = Callable[[np.random.Generator], tuple[np.ndarray, np.ndarray, np.ndarray | None]]
Log = Callable[[str], None]


@dataclass
class LoopSettings:
    minutes: float = 40.0
    autoencoder_fraction: float = 0.35
    max_steps: int | None = None  # per stage; for tests and smoke runs
    autoencoder_learning_rate: float = 1e-3
    unet_learning_rate: float = 3e-4
    kl_weight: float = 1e-6
    seed: int = 0
    checkpoint_seconds: float = 60.0
    restart_diffusion: bool = False  # --resume from a package: keep its network, train the residual diffusion afresh


@dataclass
class LoopResult:
    networks: dict[str, torch.nn.Module]
    latent_scale_factor: float
    steps: dict[str, int]
    losses: dict[str, float]
    seconds: float
    is_main: bool = True


def _training_target(scheduler, latents: torch.Tensor, noise: torch.Tensor, generator: torch.Generator):
    """Noisy latents, timesteps and the regression target for the scheduler's objective."""
    name = type(scheduler).__name__
    if name == "RFlowScheduler":
        t = scheduler.sample_timesteps(latents).to(latents.device)
        return scheduler.add_noise(latents, noise, t), t, latents - noise
    t = torch.randint(0, scheduler.num_train_timesteps, (latents.shape[0],), generator=generator).to(latents.device)
    noisy = scheduler.add_noise(latents, noise, t)
    if scheduler.prediction_type == "v_prediction":
        return noisy, t, scheduler.get_velocity(latents, noise, t)
    return noisy, t, noise


def load_checkpoint(path: Path) -> dict:
    """A training checkpoint (tensors and plain data only); one clear error for a file that holds anything else or is
    damaged (truncated, not a checkpoint), never a traceback."""
    try:
        return torch.load(path, weights_only=True)
    except pickle.UnpicklingError as error:
        if "weights_only" in str(error) or "Unsupported global" in str(error):
            raise ModelError(
                f"The checkpoint '{path}' holds more than tensors and plain data, so it was not loaded (unpickling it could run code); "
                "delete it, or train without --resume."
            ) from None
        raise ModelError(f"The checkpoint '{path}' is damaged ({error}); delete it, or train without --resume.") from None
    except (RuntimeError, EOFError, ValueError, OSError) as error:
        raise ModelError(
            f"The checkpoint '{path}' is damaged or not a checkpoint ({str(error).splitlines()[0]}); delete it, or train without --resume."
        ) from None


class Checkpoint:
    """The training state on disk: tensors and plain data (numbers, strings, lists, dicts) only."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict | None:
        """The saved state, or ``None`` when there is none; a file holding anything else is refused, never run."""
        if not self.path.exists():
            return None
        return load_checkpoint(self.path)

    def save(self, state: dict) -> None:
        tmp = self.path.with_suffix(".tmp")
        torch.save(state, tmp)
        tmp.replace(self.path)


def _fingerprint(module: torch.nn.Module) -> str:
    """A short hash of the weights, logged by every rank so equality across ranks can be checked."""
    import hashlib

    digest = hashlib.sha256()
    for name, value in sorted(module.state_dict().items()):
        digest.update(name.encode())
        digest.update(value.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def train_latent_diffusion(
    specs: dict[str, dict],
    target_batch: TargetBatch,
    pair_batch: PairBatch,
    downsample: int,
    settings: LoopSettings,
    workdir: Path,
    resume: bool,
    log: Log,
    device: torch.device | None = None,
    pretrained_autoencoder: tuple[dict[str, torch.Tensor], float] | None = None,
) -> LoopResult:
    """Train both stages within ``settings.minutes`` (shared out by ``autoencoder_fraction``).

    ``pretrained_autoencoder`` (weights, latent scale factor) skips stage 1: another task's
    autoencoder of the same images is reused and the whole budget goes to the UNet.

    Runs unchanged under ``torchrun`` (see ``distributed.py``): only rank 0 logs and checkpoints.
    """
    dist = Distributed(device or torch.device("cpu"))
    device = dist.device
    say: Log = log if dist.is_main else (lambda message: None)
    torch.manual_seed(settings.seed)  # the same initial weights on every rank
    autoencoder = build_network(specs["autoencoder"]).to(device)
    unet = build_network(specs["unet"]).to(device)
    scheduler = build_scheduler(specs["scheduler"])
    optimisers = {
        "autoencoder": torch.optim.AdamW(autoencoder.parameters(), lr=settings.autoencoder_learning_rate),
        "unet": torch.optim.AdamW(unet.parameters(), lr=settings.unet_learning_rate),
    }
    checkpoint = Checkpoint(workdir / "checkpoint.pt")
    state: dict[str, Any] = {"stage": "autoencoder", "steps": {"autoencoder": 0, "unet": 0}, "seconds": 0.0, "scale": 1.0, "losses": {}}
    if resume and (saved := checkpoint.load()) is not None:
        autoencoder.load_state_dict(saved["autoencoder"])
        unet.load_state_dict(saved["unet"])
        for name, optimiser in optimisers.items():
            if saved.get("optimisers"):  # None when resumed from a package's weights alone
                optimiser.load_state_dict(saved["optimisers"][name])
        state = saved["state"]
        say(f"resumed at stage {state['stage']} after {state['steps']} steps and {state['seconds']:.0f} s")
    elif pretrained_autoencoder is not None:
        autoencoder.load_state_dict(pretrained_autoencoder[0])
        state.update(stage="unet", scale=float(pretrained_autoencoder[1]))
        say(f"autoencoder reused (latent scale factor {state['scale']:.4f}); training the UNet only")
    # random streams depend on the seed, the rank and how far training got, so a resumed run
    # does not replay the patches it already saw and ranks never draw the same patches
    progress_key = state["steps"]["autoencoder"] + state["steps"]["unet"]
    rng = np.random.default_rng([settings.seed, dist.rank, progress_key])
    generator = torch.Generator().manual_seed(settings.seed * 1_000_003 + dist.rank * 7919 + progress_key)
    precision = autocast(device) if device.type == "cuda" and torch.cuda.is_bf16_supported() else contextlib.nullcontext()

    def save() -> None:
        if not dist.is_main:
            return
        checkpoint.save(
            {
                "autoencoder": autoencoder.state_dict(),
                "unet": unet.state_dict(),
                "optimisers": {n: o.state_dict() for n, o in optimisers.items()},
                "state": state,
                "settings": asdict(settings),
            }
        )

    budget = settings.minutes * 60.0
    stage_budget = {"autoencoder": budget * settings.autoencoder_fraction, "unet": budget}
    started = time.monotonic() - state["seconds"]
    last_save = time.monotonic()

    def stage_done(stage: str) -> bool:
        over_time = state["seconds"] >= stage_budget[stage]
        over_steps = settings.max_steps is not None and state["steps"][stage] >= settings.max_steps
        return dist.broadcast_flag(over_time or over_steps)

    def tick(stage: str, loss: float) -> None:
        nonlocal last_save
        state["steps"][stage] += 1
        state["seconds"] = time.monotonic() - started
        running = state["losses"].get(stage, loss)
        state["losses"][stage] = 0.98 * running + 0.02 * loss
        step = state["steps"][stage]
        if step % 25 == 0 or step == 1:
            say(json.dumps({"stage": stage, "step": step, "loss": round(state["losses"][stage], 5), "seconds": round(state["seconds"])}))
        if time.monotonic() - last_save > settings.checkpoint_seconds:
            save()
            last_save = time.monotonic()

    def batch(array: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(array).to(device)

    if state["stage"] == "autoencoder":
        trainer = dist.wrap(autoencoder.train())
        while not stage_done("autoencoder"):
            x = batch(target_batch(rng))
            with precision:
                reconstruction, mu, sigma = trainer(x)
            reconstruction, mu, sigma = reconstruction.float(), mu.float(), sigma.float()
            kl = 0.5 * torch.mean(mu.pow(2) + sigma.pow(2) - torch.log(sigma.pow(2) + 1e-8) - 1)
            loss = torch.nn.functional.l1_loss(reconstruction, x) + settings.kl_weight * kl
            optimisers["autoencoder"].zero_grad(set_to_none=True)
            loss.backward()
            optimisers["autoencoder"].step()
            tick("autoencoder", loss.item())
        autoencoder.eval()
        with torch.no_grad():
            latents = torch.cat([autoencoder.encode_stage_2_inputs(batch(target_batch(rng))) for _ in range(8)])
        state["scale"] = dist.broadcast_float(float(1.0 / max(latents.std().item(), 1e-6)))
        state["stage"] = "unet"
        say(f"autoencoder done; latent scale factor {state['scale']:.4f}")
        save()

    autoencoder.eval()
    trainer = dist.wrap(unet.train())
    while not stage_done("unet"):
        condition, target, flags = pair_batch(rng)
        with torch.no_grad(), precision:
            latents = autoencoder.encode_stage_2_inputs(batch(target)).float() * state["scale"]
        cond = with_flags(space_to_depth(batch(condition), downsample), None if flags is None else batch(flags))
        noise = torch.randn(latents.shape, generator=generator).to(device)
        noisy, t, goal = _training_target(scheduler, latents, noise, generator)
        with precision:
            prediction = trainer(torch.cat([noisy, cond], dim=1), t.to(device)).float()
        loss = torch.nn.functional.mse_loss(prediction, goal)
        optimisers["unet"].zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
        optimisers["unet"].step()
        tick("unet", loss.item())
    state["stage"] = "done"
    save()
    log(f"rank {dist.rank} final weights fingerprint autoencoder {_fingerprint(autoencoder)} unet {_fingerprint(unet)}")
    dist.close()
    return LoopResult(
        networks={"autoencoder": autoencoder.eval().cpu(), "unet": unet.eval().cpu()},
        latent_scale_factor=state["scale"],
        steps=dict(state["steps"]),
        losses={k: float(v) for k, v in state["losses"].items()},
        seconds=float(state["seconds"]),
        is_main=dist.is_main,
    )
