"""Network size presets. ``small`` is what the built-in models use; ``tiny`` is for tests."""

from __future__ import annotations

from typing import Any


def autoencoder_spec(preset: str, in_channels: int = 1, latent_channels: int = 4) -> dict[str, Any]:
    channels, groups = {"small": ((16, 32, 32), 16), "tiny": ((8, 8, 8), 4)}[preset]
    return {
        "class": "AutoencoderKL",
        "args": {
            "spatial_dims": 3,
            "in_channels": in_channels,
            "out_channels": in_channels,
            "channels": list(channels),
            "latent_channels": latent_channels,
            "num_res_blocks": [1] * len(channels),
            "attention_levels": [False] * len(channels),
            "with_encoder_nonlocal_attn": False,
            "with_decoder_nonlocal_attn": False,
            "norm_num_groups": groups,
        },
    }


def unet_spec(preset: str, in_channels: int, out_channels: int) -> dict[str, Any]:
    channels, groups, attention = {"small": ((32, 64, 64), 16, (False, False, True)), "tiny": ((8, 8), 4, (False, False))}[preset]
    return {
        "class": "DiffusionModelUNet",
        "args": {
            "spatial_dims": 3,
            "in_channels": in_channels,
            "out_channels": out_channels,
            "channels": list(channels),
            "attention_levels": list(attention),
            "num_res_blocks": 1,
            "num_head_channels": 32 if preset == "small" else 8,
            "norm_num_groups": groups,
        },
    }


def scheduler_spec(name: str = "RFlowScheduler") -> dict[str, Any]:
    if name == "RFlowScheduler":
        return {
            "class": name,
            "args": {
                "num_train_timesteps": 1000,
                "use_discrete_timesteps": True,
                "sample_method": "logit-normal",
                "use_timestep_transform": True,
                "base_img_size_numel": 16 * 16 * 8,
                "spatial_dim": 3,
            },
        }
    if name == "DDIMScheduler":
        return {
            "class": name,
            "args": {"num_train_timesteps": 1000, "schedule": "scaled_linear_beta", "beta_start": 0.0015, "beta_end": 0.0195, "clip_sample": False},
        }
    raise ValueError(f"unknown scheduler {name}")


def latent_downsample(autoencoder: dict[str, Any]) -> int:
    return 2 ** (len(autoencoder["args"]["channels"]) - 1)
