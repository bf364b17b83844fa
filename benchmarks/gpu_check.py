"""Each task once on CUDA and once on the CPU, on the same real inputs: time, peak GPU memory, agreement.

CUDA runs with bf16 (or fp16) autocast, the CPU in float32, so the two outputs are not bit-equal.
They agree when, for every output volume, the mean absolute difference is at most ``MEAN_TOLERANCE``
(2%) of the CPU output's range and its 99th percentile at most ``P99_TOLERANCE`` (10%); masks from
the growth physics (numpy, device-independent) must be identical. The thresholds bound the drift of
half-precision over 20 sampling steps; a result past them is printed with its numbers, and the exit
status is 1. With ``--devices cpu`` only the CPU half runs (no comparison): what can run without a GPU.

Usage: python benchmarks/gpu_check.py [--devices cpu cuda] [--tasks ...] [--size 181x217x181] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _speed_inputs import TASKS, cli_arguments, output_arrays, task_inputs, task_runner  # noqa: E402

MEAN_TOLERANCE = 0.02
P99_TOLERANCE = 0.10


def run_task(task: str, inputs, device: str) -> tuple[dict[str, np.ndarray], dict]:
    """The task once on ``device``: its output volumes, wall time and (on CUDA) peak GPU memory."""
    import torch

    from DiffusionSynthLib.models import resolve_model

    model = resolve_model(None, task)
    renderer = resolve_model(model.config.get("render", {}).get("inpaint_model"), "inpaint") if task == "forecast" else None
    run = task_runner(task, inputs, model, None, None, renderer, device)
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    result = run(lambda *_: None)
    if device == "cuda":
        torch.cuda.synchronize()
    stats = {"seconds": time.perf_counter() - started}
    if device == "cuda":
        stats["peak_gpu_allocated_mb"] = torch.cuda.max_memory_allocated() / 2**20
        stats["peak_gpu_reserved_mb"] = torch.cuda.max_memory_reserved() / 2**20
    return output_arrays(result), stats


def agreement(cpu: dict[str, np.ndarray], cuda: dict[str, np.ndarray]) -> list[dict]:
    rows = []
    for key, reference in cpu.items():
        other = cuda.get(key)
        if other is None or other.shape != reference.shape:
            rows.append({"output": key, "ok": False, "why": "missing or another shape on CUDA"})
            continue
        a, b = reference.astype(np.float64), other.astype(np.float64)
        gap = np.abs(a - b)
        if key.startswith("masks"):
            rows.append({"output": key, "ok": bool(np.array_equal(a, b)), "differing_voxels": int(np.count_nonzero(gap))})
            continue
        span = max(float(np.ptp(a)), 1e-12)
        mean, p99 = float(gap.mean()) / span, float(np.percentile(gap, 99)) / span
        rows.append(
            {"output": key, "ok": mean <= MEAN_TOLERANCE and p99 <= P99_TOLERANCE, "mean_fraction": mean, "p99_fraction": p99, "max_abs": float(gap.max())}
        )
    return rows


def cli_on_cuda(task: str, inputs) -> dict:
    """The command line itself with ``--device cuda``: exit status and wall time."""
    with tempfile.TemporaryDirectory() as tmp:
        argv = [a if a != "cpu" else "cuda" for a in cli_arguments(task, inputs, Path(tmp))]
        started = time.perf_counter()
        child = subprocess.run([sys.executable, "-m", "DiffusionSynthLib.cli", *argv], capture_output=True, text=True)
        return {"exit": child.returncode, "seconds": time.perf_counter() - started, "stderr_tail": child.stderr.strip().splitlines()[-1:]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", nargs="+", choices=["cpu", "cuda"], default=["cpu", "cuda"])
    parser.add_argument("--tasks", nargs="+", choices=TASKS, default=list(TASKS))
    parser.add_argument("--size", default="181x217x181", help="input size at 1 mm (N or XxYxZ)")
    parser.add_argument("--json", help="write every figure here")
    args = parser.parse_args()
    import torch

    if "cuda" in args.devices and not torch.cuda.is_available():
        print("error: --devices cuda, but torch sees no CUDA GPU (a CPU-only torch build, or no driver); use --devices cpu", file=sys.stderr)
        return 2
    parts = [int(p) for p in args.size.split("x")]
    shape = tuple(parts * 3 if len(parts) == 1 else parts)
    report, failed = {"devices": args.devices, "size": args.size, "torch": torch.__version__, "tasks": {}}, False
    if "cuda" in args.devices:
        report["gpu"] = torch.cuda.get_device_name(0)
    for task in args.tasks:
        inputs = task_inputs(task, shape)
        outputs, entry = {}, {}
        for device in args.devices:
            outputs[device], entry[device] = run_task(task, inputs, device)
            print(
                f"{task} on {device}: {entry[device]['seconds']:.1f} s"
                + (
                    f", peak GPU memory {entry[device]['peak_gpu_allocated_mb']:.0f} MB allocated, {entry[device]['peak_gpu_reserved_mb']:.0f} MB reserved"
                    if device == "cuda"
                    else ""
                ),
                flush=True,
            )
        if len(outputs) == 2:
            entry["agreement"] = agreement(outputs["cpu"], outputs["cuda"])
            entry["cli_cuda"] = cli_on_cuda(task, inputs)
            ok = all(row["ok"] for row in entry["agreement"]) and entry["cli_cuda"]["exit"] == 0
            failed |= not ok
            worst = max((row.get("mean_fraction", 0.0) for row in entry["agreement"]), default=0.0)
            print(
                f"{task}: CUDA and CPU {'agree' if ok else 'DISAGREE'} (worst mean difference {100 * worst:.2f}% of range; "
                f"tolerance {100 * MEAN_TOLERANCE:g}% mean, {100 * P99_TOLERANCE:g}% 99th percentile); command line on CUDA exit "
                f"{entry['cli_cuda']['exit']}",
                flush=True,
            )
        report["tasks"][task] = entry
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
