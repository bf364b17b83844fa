"""Device choice and mixed precision: CUDA with autocast when present, float32 on the CPU."""

from __future__ import annotations

import contextlib

import torch

from ..errors import InputError

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA when available; asking for CUDA without one is a clear error."""
    if name not in DEVICE_CHOICES and not name.startswith("cuda:"):
        raise InputError(f"Unknown device {name!r}; use one of {', '.join(DEVICE_CHOICES)}.")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise InputError("--device cuda was asked for but no CUDA GPU is available; use --device cpu or auto.")
    return torch.device(name)


def autocast(device: torch.device):
    """bf16 (or fp16) autocast on CUDA; a no-op context on the CPU, which stays float32."""
    if device.type == "cuda":
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.autocast("cuda", dtype=dtype)
    return contextlib.nullcontext()
