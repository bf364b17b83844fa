"""What a user would run instead: one plain regression network of the same size, one forward pass.

``use_regression_network()`` swaps the sampling of every task (``TaskRun.sample``) for a MONAI
``BasicUNet`` in image space at the model's spacing (condition channels and flags in, the
autoencoder's channels out), its widths chosen so that its parameter count is closest to the
package's denoising UNet plus autoencoder. The weights are random: this measures time and memory,
not quality. Preparation and finishing of each task are unchanged.
"""

from __future__ import annotations

import time

import numpy as np
import torch

STATS: dict[str, float] = {}  # parameters, target_parameters, build_s and build_cpu_s (kept out of the timed run, like our loading)


def features(f: int) -> tuple[int, ...]:
    return (f, f, 2 * f, 4 * f, 8 * f, f)


def matched_width(out_channels: int, target_parameters: int) -> int:
    """The width f whose ``BasicUNet`` is closest in parameter count to the target (input channels barely matter)."""
    from monai.networks.nets import BasicUNet

    def size(f: int) -> int:
        return sum(p.numel() for p in BasicUNet(spatial_dims=3, in_channels=1, out_channels=out_channels, features=features(f)).parameters())

    return min(range(4, 49, 2), key=lambda f: abs(size(f) - target_parameters))


def use_regression_network(model) -> None:
    """Swap ``TaskRun.sample`` for one forward pass of a ``BasicUNet`` about as large as ``model``'s networks."""
    from monai.networks.nets import BasicUNet

    from DiffusionSynthLib.engine.latent import pad_to_multiple
    from DiffusionSynthLib.tasks.run import TaskRun

    target = sum(p.numel() for name in ("unet", "autoencoder") for p in model.networks[name].parameters())
    out_channels = int(model.config["networks"]["autoencoder"]["args"]["out_channels"])
    width = matched_width(out_channels, target)

    def regress(self: TaskRun, condition: np.ndarray, flags=None) -> np.ndarray:
        started, cpu = time.perf_counter(), time.process_time()
        channels = condition.shape[0] + (len(flags) if flags is not None else 0)
        network = BasicUNet(spatial_dims=3, in_channels=channels, out_channels=out_channels, features=features(width)).eval()
        STATS.update(parameters=sum(p.numel() for p in network.parameters()), target_parameters=target)
        STATS["build_s"] = STATS.get("build_s", 0.0) + time.perf_counter() - started
        STATS["build_cpu_s"] = STATS.get("build_cpu_s", 0.0) + time.process_time() - cpu
        padded, shape = pad_to_multiple(condition, 16)  # four poolings
        image = torch.from_numpy(np.ascontiguousarray(padded, dtype=np.float32))[None]
        if flags is not None:
            values = torch.as_tensor(list(flags), dtype=torch.float32)[None, :, None, None, None]
            image = torch.cat([image, values.expand(1, -1, *image.shape[2:])], dim=1)
        with torch.inference_mode():
            output = network(image)
        return np.repeat(output.numpy(), len(self.seeds), axis=0)[..., : shape[0], : shape[1], : shape[2]]

    TaskRun.sample = regress  # type: ignore[method-assign]
