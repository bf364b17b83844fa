"""Running out of memory falls back to smaller tiles, then to the CPU, with a warning (simulated OOM)."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from DiffusionSynthLib.models import load_model
from DiffusionSynthLib.tasks.mri_to_ct import mri_to_ct
from DiffusionSynthLib.volume import read_volume


def _oom_above(limit: int):
    """A forward pre-hook that fails like CUDA does when a tile is larger than ``limit`` latent voxels."""

    def hook(module, args):
        if max(args[0].shape[2:]) > limit:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (simulated)")

    return hook


def test_out_of_memory_retries_with_smaller_tiles(tiny_model, small_mri, caplog):
    mri = read_volume(small_mri)
    reference = mri_to_ct(mri, load_model(tiny_model), steps=2, seed=3, samples=1).ct.array
    model = load_model(tiny_model)
    model.networks["unet"].register_forward_pre_hook(_oom_above(16))
    with caplog.at_level(logging.WARNING, logger="DiffusionSynthLib"):
        result = mri_to_ct(mri, model, steps=2, seed=3, samples=1)
    assert "smaller tiles" in caplog.text
    assert result.ct.same_grid(mri)
    # tiles blend differently at their seams, but the result is the same pseudo-CT
    assert np.corrcoef(result.ct.array.ravel().astype(float), reference.ravel().astype(float))[0, 1] > 0.9


def test_out_of_memory_at_the_smallest_tile_on_the_cpu_is_raised(tiny_model, small_mri):
    model = load_model(tiny_model)
    model.networks["unet"].register_forward_pre_hook(_oom_above(0))
    with pytest.raises(torch.OutOfMemoryError):
        mri_to_ct(read_volume(small_mri), model, steps=1, samples=1)
