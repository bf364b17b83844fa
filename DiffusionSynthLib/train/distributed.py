"""Data-parallel training under ``torchrun`` (DistributedDataParallel); a no-op in a single process.

Each rank draws its own random patches (the role a ``DistributedSampler`` plays for a finite
dataset), gradients are averaged by DDP, rank 0 decides when a stage ends, logs and checkpoints.
"""

from __future__ import annotations

import os

import torch


class Distributed:
    def __init__(self, device: torch.device) -> None:
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.device = device
        if self.world > 1 and not torch.distributed.is_initialized():
            backend = "nccl" if device.type == "cuda" else "gloo"
            if device.type == "cuda":
                local = int(os.environ.get("LOCAL_RANK", "0"))
                torch.cuda.set_device(local)
                self.device = torch.device("cuda", local)
            torch.distributed.init_process_group(backend)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def wrap(self, module: torch.nn.Module) -> torch.nn.Module:
        if self.world == 1:
            return module
        ids = [self.device.index] if self.device.type == "cuda" else None
        return torch.nn.parallel.DistributedDataParallel(module, device_ids=ids)

    def broadcast_flag(self, flag: bool) -> bool:
        """Rank 0's ``flag`` on every rank (so all ranks stop at the same step)."""
        if self.world == 1:
            return flag
        tensor = torch.tensor([1.0 if flag else 0.0], device=self.device)
        torch.distributed.broadcast(tensor, src=0)
        return bool(tensor.item())

    def broadcast_float(self, value: float) -> float:
        if self.world == 1:
            return value
        tensor = torch.tensor([value], dtype=torch.float64, device=self.device)
        torch.distributed.broadcast(tensor, src=0)
        return float(tensor.item())

    def close(self) -> None:
        if self.world > 1 and torch.distributed.is_initialized():
            torch.distributed.barrier()
            torch.distributed.destroy_process_group()
