"""The regression network over a classical prior: a MONAI ``BasicUNet`` predicting a correction.

Its input is the conditioning images, constant flag channels and the prior; its output is added
to the prior. The last layer starts at zero, so an untrained refiner returns the prior exactly and
training can only move away from it where the data say so (selection by validation decides
whether it ships). Whole volumes run in overlapping windows of the training patch size.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from .device import autocast

REFINER_FEATURES = {"small": (8, 16, 32, 64, 128, 8), "tiny": (4, 4, 8, 8, 16, 4)}


def refiner_spec(preset: str, in_channels: int, out_channels: int) -> dict[str, Any]:
    """A ``BasicUNet`` spec for ``model.json`` (instance norm, as MONAI's default)."""
    return {
        "class": "BasicUNet",
        "args": {"spatial_dims": 3, "in_channels": in_channels, "out_channels": out_channels, "features": list(REFINER_FEATURES[preset])},
    }


def zero_last_layer(network: torch.nn.Module) -> torch.nn.Module:
    """Zero the final 1x1 convolution so the network's output starts at exactly 0."""
    final = network.final_conv
    with torch.no_grad():
        final.weight.zero_()
        if final.bias is not None:
            final.bias.zero_()
    return network


def flag_channels(flags: Sequence[float], shape: Sequence[int]) -> np.ndarray:
    """Each flag as a constant channel of ``shape``."""
    return np.broadcast_to(np.asarray(flags, np.float32)[:, None, None, None], (len(flags), *shape)).copy()


def refine(network: torch.nn.Module, inputs: np.ndarray, window: Sequence[int], device: torch.device, overlap: float = 0.25) -> np.ndarray:
    """The network's correction (out_channels, X, Y, Z) for ``inputs`` (C, X, Y, Z), in Gaussian-blended windows."""
    from monai.inferers import sliding_window_inference

    network = network.to(device).eval()
    tensor = torch.from_numpy(np.ascontiguousarray(inputs, np.float32))[None].to(device)
    with torch.inference_mode(), autocast(device):
        output = sliding_window_inference(
            tensor, roi_size=tuple(int(w) for w in window), sw_batch_size=1, predictor=network, overlap=overlap, mode="gaussian", padding_mode="constant"
        )
    return output.float()[0].cpu().numpy()
