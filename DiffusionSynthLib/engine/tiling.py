"""Apply a network to a large tensor in overlapping tiles (MONAI sliding windows, Gaussian blending).

Peak memory is then set by the tile, not the volume. A tensor no larger than the tile is
processed in one call.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import torch


def select_tile_preset(presets: dict[str, Any], device: torch.device) -> dict[str, Any]:
    """The tile preset for ``device``, as MAISI keeps presets per GPU memory.

    Keys are ``cpu``, ``cuda`` (any GPU) and ``cuda-<N>GB`` (GPUs with at least N GB); on a GPU
    the largest ``cuda-<N>GB`` that fits its memory wins, then ``cuda``, then ``cpu``.
    """
    if device.type != "cuda":
        return dict(presets.get("cpu", {}))
    total_gb = torch.cuda.get_device_properties(device).total_memory / 1024**3
    sized = sorted((int(match.group(1)), key) for key in presets if (match := re.fullmatch(r"cuda-(\d+)GB", key)))
    fitting = [key for gb, key in sized if gb <= total_gb + 0.5]
    if fitting:
        return dict(presets[fitting[-1]])
    return dict(presets.get("cuda", presets.get("cpu", {})))


def tiled(
    function: Callable[[torch.Tensor], torch.Tensor],
    tensor: torch.Tensor,
    tile: Sequence[int] | None,
    overlap: float = 0.25,
) -> torch.Tensor:
    """``function(tensor)`` computed tile by tile when ``tensor`` is larger than ``tile``.

    The output may have another spatial size than the input (a decoder); MONAI's sliding window
    infers the scale from the first tile.
    """
    spatial = tuple(tensor.shape[2:])
    if tile is None or all(s <= t for s, t in zip(spatial, tile)):
        return function(tensor)
    from monai.inferers import sliding_window_inference

    roi = tuple(int(t) for t in tile)
    output = sliding_window_inference(tensor, roi_size=roi, sw_batch_size=1, predictor=function, overlap=overlap, mode="gaussian", progress=False)
    assert isinstance(output, torch.Tensor)  # one tensor in, one out (MONAI types the general case: tuples and dicts)
    return output
