"""Build MONAI networks and schedulers from the plain specs stored in ``model.json``."""

from __future__ import annotations

from typing import Any

import torch

from ..errors import ModelError


def _network_classes() -> dict[str, type]:
    from monai.networks.nets import AutoencoderKL, BasicUNet, DiffusionModelUNet

    return {"AutoencoderKL": AutoencoderKL, "DiffusionModelUNet": DiffusionModelUNet, "BasicUNet": BasicUNet}


def _scheduler_classes() -> dict[str, type]:
    from monai.networks.schedulers import DDIMScheduler, DDPMScheduler, RFlowScheduler

    return {"DDIMScheduler": DDIMScheduler, "DDPMScheduler": DDPMScheduler, "RFlowScheduler": RFlowScheduler}


def build_network(spec: dict[str, Any]) -> torch.nn.Module:
    """``{"class": "AutoencoderKL", "args": {...}}`` -> the MONAI network (MONAI classes only)."""
    classes = _network_classes()
    name = spec.get("class")
    if name not in classes:
        raise ModelError(f"Unknown network class {name!r}; expected one of {sorted(classes)}.")
    try:
        return classes[name](**spec.get("args", {}))
    except (TypeError, ValueError, AssertionError) as error:
        raise ModelError(f"The {name} arguments in model.json are invalid: {error}") from None


def build_scheduler(spec: dict[str, Any]):
    """``{"class": "RFlowScheduler", "args": {...}}`` -> the MONAI scheduler."""
    classes = _scheduler_classes()
    name = spec.get("class")
    if name not in classes:
        raise ModelError(f"Unknown scheduler class {name!r}; expected one of {sorted(classes)}.")
    return classes[name](**spec.get("args", {}))
