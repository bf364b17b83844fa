"""Training of the regression network over a classical prior, with selection by validation.

The network starts at exactly the prior (zero last layer). Every ``validate_seconds`` (and at
step 0, which scores the prior itself) a task-supplied validation function scores the current
weights on a case kept out of training; the best weights are kept, so the network that ships is
never worse on that case than the prior. A checkpoint (weights, optimiser, best weights, history)
is written at each validation; ``resume`` continues from it, time already spent included, after
scoring the prior and the best weights so far again (either may have changed meaning since: a new
prior, new validation data); the selection restarts from those two scores.

The learning rate follows a cosine from its initial value down to ``FINAL_RATE_SHARE`` of it over
the time budget (time, not steps: the budget is minutes); a run resumed with a larger budget goes
on from where the larger budget's curve is at the time already spent.
"""

from __future__ import annotations

import copy
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..engine.networks import build_network
from ..engine.refiner import zero_last_layer
from .loop import load_checkpoint

# -> (inputs (B, C, X, Y, Z), target correction (B, O, X, Y, Z), loss weights (B, O, X, Y, Z))
RefinerBatch = Callable[[np.random.Generator], tuple[np.ndarray, np.ndarray, np.ndarray]]
Validate = Callable[[torch.nn.Module], float]  # lower is better
Log = Callable[[str], None]
FINAL_RATE_SHARE = 0.05


@dataclass
class RefinerSettings:
    minutes: float = 30.0
    max_steps: int | None = None  # for tests and smoke runs
    learning_rate: float = 1e-3
    validate_seconds: float = 300.0
    seed: int = 0


@dataclass
class RefinerResult:
    network: torch.nn.Module  # the best weights, in eval mode, on the CPU
    prior_score: float
    best_score: float
    best_step: int
    steps: int
    seconds: float
    history: list[dict] = field(default_factory=list)


def learning_rate(settings: RefinerSettings, seconds: float) -> float:
    """The rate after ``seconds`` of the budget: cosine decay to ``FINAL_RATE_SHARE`` of the initial rate at its end."""
    fraction = min(max(seconds / max(settings.minutes * 60.0, 1e-9), 0.0), 1.0)
    return settings.learning_rate * (FINAL_RATE_SHARE + (1.0 - FINAL_RATE_SHARE) * 0.5 * (1.0 + math.cos(math.pi * fraction)))


def _load(path: Path) -> dict | None:
    return load_checkpoint(path) if path.exists() else None


def _save(path: Path, state: dict) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(path)


def _rescore_on_resume(
    spec: dict, network: torch.nn.Module, best_weights: dict[str, torch.Tensor], validate: Validate, state: dict[str, Any], device: torch.device, log: Log
) -> dict[str, torch.Tensor]:
    """The prior and the best weights so far scored again (the prior or the validation data may have changed since they were
    scored); the comparison restarts from these two entries (``state["window"]``). Returns the better of the two weights."""
    prior_network = zero_last_layer(build_network(spec)).to(device).eval()
    best_network = build_network(spec).to(device)
    best_network.load_state_dict(best_weights)
    state["window"] = len(state["history"])
    entries = {"the prior": (prior_network, 0), f"the best weights so far (step {state['best_step']})": (best_network.eval(), state["best_step"])}
    chosen, chosen_score = best_weights, float("inf")
    for note, (candidate, step) in entries.items():
        score = validate(candidate)
        state["history"].append({"step": state["steps"], "seconds": round(state["seconds"]), "validation": score, "note": f"resumed: {note}"})
        log(json.dumps({"stage": "refiner", "step": state["steps"], "validation": round(score, 5), "note": f"resumed: {note}"}))
        if score < chosen_score:
            chosen, chosen_score, state["best_step"] = copy.deepcopy(candidate.state_dict()), score, step
    return chosen


def train_refiner(
    spec: dict,
    batch: RefinerBatch,
    validate: Validate,
    settings: RefinerSettings,
    checkpoint: Path,
    resume: bool,
    log: Log,
    device: torch.device,
) -> RefinerResult:
    """Masked-L1 training of ``spec`` for ``settings.minutes``; returns the best weights by ``validate``."""
    torch.manual_seed(settings.seed)
    network = zero_last_layer(build_network(spec)).to(device)
    optimiser = torch.optim.AdamW(network.parameters(), lr=settings.learning_rate, weight_decay=1e-5)
    state: dict[str, Any] = {"steps": 0, "seconds": 0.0, "loss": None, "history": [], "best_step": 0}
    best_weights: dict[str, torch.Tensor]
    saved = _load(checkpoint) if resume else None
    if saved is not None:
        network.load_state_dict(saved["network"])
        if saved["optimiser"] is not None:  # None when resumed from a package's weights alone
            optimiser.load_state_dict(saved["optimiser"])
        best_weights, state = saved["best"], json.loads(saved["state"])
        log(f"refiner resumed after {state['steps']} steps and {state['seconds']:.0f} s (best so far at step {state['best_step']})")
        best_weights = _rescore_on_resume(spec, network, best_weights, validate, state, device, log)
    else:
        network.eval()
        score = validate(network)
        best_weights = copy.deepcopy(network.state_dict())
        state["history"].append({"step": 0, "seconds": 0.0, "validation": score})
        log(json.dumps({"stage": "refiner", "step": 0, "validation": round(score, 5), "note": "the prior alone"}))
    rng = np.random.default_rng([settings.seed, state["steps"]])
    started = time.monotonic() - state["seconds"]
    last_validation = time.monotonic()

    def scores() -> list[float]:
        return [entry["validation"] for entry in state["history"][state.get("window", 0) :]]

    def checkpoint_now() -> None:
        nonlocal best_weights
        network.eval()
        score = validate(network)
        state["history"].append({"step": state["steps"], "seconds": round(state["seconds"]), "validation": score, "loss": state["loss"]})
        if score < min(scores()[:-1], default=float("inf")):
            best_weights, state["best_step"] = copy.deepcopy(network.state_dict()), state["steps"]
        rate = learning_rate(settings, state["seconds"])
        log(
            json.dumps(
                {
                    "stage": "refiner",
                    "step": state["steps"],
                    "loss": state["loss"],
                    "lr": float(f"{rate:.3g}"),
                    "validation": round(score, 5),
                    "best_step": state["best_step"],
                }
            )
        )
        if int(os.environ.get("RANK", "0")) == 0:  # under torchrun each rank trains its own refiner (not data-parallel); rank 0's is kept
            _save(checkpoint, {"network": network.state_dict(), "optimiser": optimiser.state_dict(), "best": best_weights, "state": json.dumps(state)})
        network.train()

    network.train()
    budget = settings.minutes * 60.0
    while state["seconds"] < budget and (settings.max_steps is None or state["steps"] < settings.max_steps):
        inputs, target, weight = (torch.from_numpy(a).to(device) for a in batch(rng))
        prediction = network(inputs)
        loss = (weight * (prediction - target).abs()).sum() / weight.sum().clamp_min(1.0)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(network.parameters(), 1.0)
        for group in optimiser.param_groups:
            group["lr"] = learning_rate(settings, state["seconds"])
        optimiser.step()
        state["steps"] += 1
        state["seconds"] = time.monotonic() - started
        value = float(loss.item())
        state["loss"] = round(value if state["loss"] is None else 0.98 * state["loss"] + 0.02 * value, 5)
        if time.monotonic() - last_validation > settings.validate_seconds:
            checkpoint_now()
            last_validation = time.monotonic()
    if not state["history"] or state["history"][-1]["step"] != state["steps"]:
        checkpoint_now()
    network.load_state_dict(best_weights)
    window = state["history"][state.get("window", 0) :]
    best = min(window, key=lambda entry: entry["validation"])
    return RefinerResult(
        network=network.eval().cpu(),
        prior_score=float(window[0]["validation"]),
        best_score=float(best["validation"]),
        best_step=int(state["best_step"]),
        steps=int(state["steps"]),
        seconds=float(state["seconds"]),
        history=list(state["history"]),
    )
