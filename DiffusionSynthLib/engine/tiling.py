"""Apply a network to a large tensor in overlapping tiles (MONAI sliding windows, Gaussian blending).

Peak memory is then set by the tile, not the volume. A tensor no larger than the tile is
processed in one call.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch


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
    return sliding_window_inference(
        tensor, roi_size=roi, sw_batch_size=1, predictor=function, overlap=overlap, mode="gaussian", progress=False
    )
