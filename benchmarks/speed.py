"""Wall time and peak memory of each task, DiffusionSynth against MONAI's stock inferer, in one run.

Each measurement runs in its own child process (so its peak RSS is its own), alternating
between the two methods:
- ours: the whole task function (``mri_to_ct``, ``impute``, ``inpaint``, ``forecast``:
  resampling, masks, rectified-flow sampling with the model's default steps, tiled decoding,
  back to the input grid), after the inputs and the model are loaded;
- stock: the same task with its sampling swapped for ``monai.inferers.LatentDiffusionInferer``
  with a 1000-step ``DDPMScheduler`` on the same networks and conditioning, one untiled decode
  (``_stock.py``). On a CPU the stock run times 20 steps and extrapolates to 1000 (marked as
  such), except up to ``--full-stock-up-to`` (64 cubed) where all 1000 steps run.
Inputs (``_speed_inputs.py``): Colin27 for MRI->CT, a real brain case for the others, centre-
cropped or padded to each size. Wall time and the process's CPU time (all threads; steadier on a
shared machine) are both reported. The growth exponents fit them and peak RSS against the voxel
count over all sizes.

Usage: python benchmarks/speed.py [--tasks mri-to-ct impute inpaint forecast] [--sizes 64 128 181x217x181]
                                  [--full-stock-up-to 64] [--steps N] [--threads T]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, markdown_table, peak_rss_mb  # noqa: E402
from _speed_inputs import TASKS, task_runner  # noqa: E402

COLUMNS = ["task", "input", "ours_s", "ours_cpu_s", "ours_peak_mb", "stock_s", "stock_cpu_s", "stock", "stock_peak_mb",
           "time_ratio_stock_over_ours", "cpu_ratio_stock_over_ours", "memory_ratio_stock_over_ours"]


def worker_ours(task: str, shape, steps: int | None) -> dict:
    run = task_runner(task, shape, steps)
    last = []
    started, cpu = time.perf_counter(), time.process_time()
    run(lambda step, total, message: last.append((step, total)))
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    assert last and last[-1][0] == last[-1][1], f"progress ended at {last[-1] if last else None}"
    return {"seconds": seconds, "cpu_s": cpu, "progress_end": f"{last[-1][0]}/{last[-1][1]}"}


def worker_stock(task: str, shape, steps_run: int) -> dict:
    from _stock import STATS, stock_seconds, use_stock_sampler

    use_stock_sampler(steps_run)
    run = task_runner(task, shape, None)
    started, cpu = time.perf_counter(), time.process_time()
    run(lambda *_: None)
    measured, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {"seconds": stock_seconds(measured), "cpu_s": stock_seconds(cpu, "cpu_"), "extrapolated": steps_run < 1000,
            "measured_steps": steps_run, "sampling_calls": int(STATS["calls"]), "measured_s": measured}


def run_child(method: str, task: str, shape, extra: int, threads: int) -> dict:
    """One measurement in a fresh process; its peak RSS from ``wait4`` (output through files, so no pipe can block)."""
    command = [sys.executable, __file__, "--worker", method, "--tasks", task, "--shape", "x".join(map(str, shape)), "--extra", str(extra),
               "--threads", str(threads)]
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen(command, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    peak = usage.ru_maxrss / 1024
    if process.returncode != 0:
        return {"error": stderr.strip().splitlines()[-1] if stderr.strip() else f"exit status {process.returncode}", "peak_rss_mb": peak}
    result = json.loads(stdout.strip().splitlines()[-1])
    result["peak_rss_mb"] = peak
    return result


def parse_shape(text: str) -> tuple[int, int, int]:
    parts = [int(p) for p in text.split("x")]
    return tuple(parts * 3) if len(parts) == 1 else tuple(parts)  # type: ignore[return-value]


def growth_exponents(rows: list[dict]) -> dict[str, float]:
    """Least-squares slopes of log(wall time), log(CPU time), log(peak RSS) against log(voxels), ours."""
    good = [r for r in rows if np.isfinite(r["ours_s"])]
    keys = {"time": "ours_s", "cpu": "ours_cpu_s", "memory": "ours_peak_mb"}
    if len(good) < 2:
        return {name: float("nan") for name in keys}
    voxels = np.log([np.prod(parse_shape(r["input"])) for r in good])
    return {name: float(np.polyfit(voxels, np.log([r[key] for r in good]), 1)[0]) for name, key in keys.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", choices=TASKS, default=list(TASKS))
    parser.add_argument("--sizes", nargs="+", default=["64", "128", "181x217x181"])
    parser.add_argument("--steps", type=int, help="our denoising steps (default: the model's)")
    parser.add_argument("--full-stock-up-to", type=int, default=64, help="run all 1000 stock steps up to this edge length")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                        help="torch threads per measurement (default: every core; 1 gives steadier CPU times on a shared machine)")
    parser.add_argument("--worker", choices=["ours", "stock"])
    parser.add_argument("--shape")
    parser.add_argument("--extra", type=int, default=0)
    args = parser.parse_args()
    if args.worker:
        import torch

        torch.set_num_threads(args.threads)
        shape, task = parse_shape(args.shape), args.tasks[0]
        result = worker_ours(task, shape, args.extra or None) if args.worker == "ours" else worker_stock(task, shape, args.extra)
        result["peak_rss_self_mb"] = peak_rss_mb()
        print(json.dumps(result))
        return
    summary = []
    for task in args.tasks:
        rows = []
        for size in args.sizes:
            shape = parse_shape(size)
            stock_steps = 1000 if max(shape) <= args.full_stock_up_to else 20
            ours = run_child("ours", task, shape, args.steps or 0, args.threads)
            stock = run_child("stock", task, shape, stock_steps, args.threads)
            row = {"task": task, "input": "x".join(map(str, shape)), "ours_s": ours.get("seconds", float("nan")),
                   "ours_cpu_s": ours.get("cpu_s", float("nan")), "ours_peak_mb": ours["peak_rss_mb"], "stock_s": stock.get("seconds", float("nan")),
                   "stock_cpu_s": stock.get("cpu_s", float("nan")), "stock_peak_mb": stock["peak_rss_mb"],
                   "stock": stock["error"] if "error" in stock else ("extrapolated from 20 steps" if stock["extrapolated"] else "all 1000 steps")}
            if "error" in ours:
                row["stock"] += f" (ours failed: {ours['error']})"
            row["time_ratio_stock_over_ours"] = row["stock_s"] / row["ours_s"]
            row["cpu_ratio_stock_over_ours"] = row["stock_cpu_s"] / row["ours_cpu_s"]
            row["memory_ratio_stock_over_ours"] = row["stock_peak_mb"] / row["ours_peak_mb"]
            rows.append(row)
            print(json.dumps({**row, "ours_detail": ours, "stock_detail": stock}), flush=True)
        summary.append((task, rows, growth_exponents(rows)))
    print(f"\n# Speed and memory, CPU, {args.threads} torch thread(s) per measurement; {machine()}\n")
    print(markdown_table([row for _, rows, _ in summary for row in rows], COLUMNS))
    print()
    for task, _, exponents in summary:
        print(f"Growth with voxel count, {task} (ours): wall time ~ N^{exponents['time']:.2f}, CPU time ~ N^{exponents['cpu']:.2f}, "
              f"peak memory ~ N^{exponents['memory']:.2f}")


if __name__ == "__main__":
    main()
