"""The sampling loop: determinism under a seed, both scheduler families, cancel, tiling."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from DiffusionSynthLib.engine.networks import build_network, build_scheduler
from DiffusionSynthLib.engine.progress import CancelToken, Stage
from DiffusionSynthLib.engine.sampling import denoise, sample_noise
from DiffusionSynthLib.engine.tiling import tiled
from DiffusionSynthLib.errors import Cancelled
from DiffusionSynthLib.train.architectures import autoencoder_spec, scheduler_spec, unet_spec


@pytest.fixture(scope="module")
def unet():
    torch.manual_seed(0)
    return build_network(unet_spec("tiny", 4, 4)).eval()


def _run(unet, scheduler_name: str, seed: int, steps: int = 4, report=lambda step, message: None):
    noise = sample_noise((1, 4, 8, 8, 8), seed, torch.device("cpu"))
    with torch.inference_mode():
        return denoise(lambda z, t: unet(z, t), noise, build_scheduler(scheduler_spec(scheduler_name)), steps, report)


@pytest.mark.parametrize("scheduler", ["RFlowScheduler", "DDIMScheduler"])
def test_same_seed_same_result_other_seed_other_result(unet, scheduler):
    a, b, c = _run(unet, scheduler, 1), _run(unet, scheduler, 1), _run(unet, scheduler, 2)
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)
    assert torch.isfinite(a).all()


def test_progress_is_reported_every_step(unet):
    seen = []
    _run(unet, "RFlowScheduler", 0, steps=5, report=lambda step, message: seen.append(step))
    assert seen == [1, 2, 3, 4, 5]


def test_cancel_stops_within_one_step(unet):
    token = CancelToken()
    seen = []

    def progress(step, total, message):
        seen.append(step)
        if step == 2:
            token.cancel()

    stage = Stage(progress, token.is_set, 0, 10)
    with pytest.raises(Cancelled):
        _run(unet, "RFlowScheduler", 0, steps=10, report=stage.report)
    assert seen == [1, 2]


def test_tiled_decoding_matches_whole_decoding():
    torch.manual_seed(0)
    autoencoder = build_network(autoencoder_spec("tiny")).eval()
    z = torch.randn(1, 4, 12, 12, 12)
    with torch.inference_mode():
        whole = autoencoder.decode_stage_2_outputs(z)
        parts = tiled(autoencoder.decode_stage_2_outputs, z, [8, 8, 8], overlap=0.5)
    assert parts.shape == whole.shape == (1, 1, 48, 48, 48)
    inner = (slice(None), slice(None), slice(8, -8), slice(8, -8), slice(8, -8))
    correlation = np.corrcoef(parts[inner].flatten().numpy(), whole[inner].flatten().numpy())[0, 1]
    assert correlation > 0.95


def test_tile_presets_fall_back_to_the_cpu_preset_off_gpu():
    from DiffusionSynthLib.engine.tiling import select_tile_preset

    presets = {"cpu": {"decode_latent": [8, 8, 8]}, "cuda-24GB": {"decode_latent": [48, 48, 48]}}
    assert select_tile_preset(presets, torch.device("cpu")) == {"decode_latent": [8, 8, 8]}
    assert select_tile_preset({}, torch.device("cpu")) == {}
