"""``diffusionsynth train`` under torchrun: two CPU ranks (gloo) finish with identical weights, and resume."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys


def _torchrun(args: list[str], tmp_path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MASTER_ADDR": "127.0.0.1"}
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_addr",
        "127.0.0.1",
        "--master_port",
        str(29500 + os.getpid() % 1000),
        "-m",
        "DiffusionSynthLib.cli",
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)


def test_two_ranks_train_identically_and_resume(tiny_model, tmp_path):
    data = tiny_model.parent / "pairs"
    output = tmp_path / "ddp-model"
    args = [
        "train",
        "--task",
        "mri-to-ct",
        "--data",
        str(data),
        "--output",
        str(output),
        "--preset",
        "tiny",
        "--patch",
        "32",
        "32",
        "32",
        "--batch",
        "1",
        "--device",
        "cpu",
    ]
    first = _torchrun([*args, "--max-steps", "2"], tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    prints = re.findall(r"rank (\d) final weights fingerprint (.+)", first.stderr)
    assert sorted(rank for rank, _ in prints) == ["0", "1"]
    assert prints[0][1] == prints[1][1]  # DDP kept the ranks' weights identical
    assert first.stdout.count("wrote model package") == 1  # rank 0 alone writes
    second = _torchrun([*args, "--max-steps", "4", "--resume"], tmp_path)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "resumed at stage done" in second.stderr or "resumed at stage" in second.stderr
    steps = json.loads((output / "model.json").read_text())["training"]["diffusion"]["steps"]
    assert steps == {"autoencoder": 2, "unet": 4}
    prints = re.findall(r"rank (\d) final weights fingerprint (.+)", second.stderr)
    assert len(prints) == 2 and prints[0][1] == prints[1][1]
