"""Wall time and peak memory of one pseudo-CT, DiffusionSynth against MONAI's stock inferer.

Each measurement runs in its own child process (so its peak RSS is its own), alternating
between the two methods, in one run of this script:
- ours: the whole ``mri_to_ct`` (resampling, head mask, rectified-flow sampling with the
  model's default steps, tiled decoding, back to the input grid);
- stock: ``monai.inferers.LatentDiffusionInferer`` with a 1000-step ``DDPMScheduler`` on the
  same networks and the same conditioning (sampling and one untiled decode only). On a CPU the
  stock run times 20 steps plus one decode and extrapolates to 1000 steps (marked as such),
  except at 64 cubed where all 1000 steps run.
Inputs are the Colin27 T1 head (1 mm; Debian's mricron-data) cropped or padded to each size.

Usage: python benchmarks/speed.py [--sizes 64 128 181x217x181] [--full-stock-up-to 64]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, markdown_table, peak_rss_mb  # noqa: E402

COLIN = Path("/usr/share/mricron/templates/ch2.nii.gz")


def _input(shape: tuple[int, int, int]):
    """Colin27 at 1 mm, centre-cropped or zero-padded to ``shape`` (grid origin kept consistent)."""
    from DiffusionSynthLib.volume import Volume, read_volume

    colin = read_volume(COLIN, "Colin27")
    out = np.zeros(shape, np.float32)
    src, dst, offset = [], [], []
    for n, s in zip(colin.shape, shape):
        start = (n - s) // 2
        src.append(slice(max(start, 0), max(start, 0) + min(n, s)))
        dst.append(slice(max(-start, 0), max(-start, 0) + min(n, s)))
        offset.append(start)
    out[tuple(dst)] = colin.array[tuple(src)]
    matrix = colin.ijk_to_ras.copy()
    matrix[:3, 3] = (colin.ijk_to_ras @ np.array([*offset, 1.0]))[:3]
    return Volume(out, matrix)


def worker_ours(shape, steps):
    from DiffusionSynthLib.models import resolve_model
    from DiffusionSynthLib.tasks.mri_to_ct import mri_to_ct

    mri = _input(shape)
    model = resolve_model(None, "mri-to-ct")
    started = time.perf_counter()
    last = []
    result = mri_to_ct(mri, model, steps=steps, device="cpu", progress=lambda s, t, m: last.append((s, t)))
    seconds = time.perf_counter() - started
    assert result.ct.same_grid(mri) and last[-1][0] == last[-1][1]
    return {"seconds": seconds, "steps": result.steps, "extrapolated": False}


def worker_stock(shape, stock_steps_run):
    import torch
    from monai.inferers import LatentDiffusionInferer
    from monai.networks.schedulers import DDPMScheduler

    from DiffusionSynthLib.engine.latent import pad_to_multiple, space_to_depth
    from DiffusionSynthLib.geometry import resample_to_spacing
    from DiffusionSynthLib.intensity import head_mask_mr, normalise_mr
    from DiffusionSynthLib.models import resolve_model

    model = resolve_model(None, "mri-to-ct")
    autoencoder, unet = model.networks["autoencoder"], model.networks["unet"]
    small = resample_to_spacing(_input(shape), model.config["spacing_mm"])
    condition = normalise_mr(small.array, head_mask_mr(small))
    factor = int(model.config["latent_downsample"])
    padded, _ = pad_to_multiple(condition[None], factor * 2 ** (len(model.config["networks"]["unet"]["args"]["channels"]) - 1))
    cond = space_to_depth(torch.from_numpy(padded)[None], factor)
    noise = torch.randn((1, 4, *cond.shape[2:]), generator=torch.Generator().manual_seed(0))
    scheduler = DDPMScheduler(num_train_timesteps=1000)
    scheduler.set_timesteps(1000)
    scheduler.timesteps = scheduler.timesteps[:stock_steps_run]
    inferer = LatentDiffusionInferer(scheduler, scale_factor=float(model.config["latent_scale_factor"]))
    with torch.inference_mode():
        started = time.perf_counter()
        inferer.sample(noise, autoencoder, unet, scheduler, conditioning=cond, mode="concat", verbose=False)
        total = time.perf_counter() - started
        started = time.perf_counter()
        autoencoder.decode_stage_2_outputs(noise)
        decode = time.perf_counter() - started
    per_step = (total - decode) / stock_steps_run
    seconds = per_step * 1000 + decode
    return {"seconds": seconds, "steps": 1000, "extrapolated": stock_steps_run < 1000, "measured_steps": stock_steps_run}


def run_child(method: str, shape, extra: int) -> dict:
    command = [sys.executable, __file__, "--worker", method, "--shape", "x".join(map(str, shape)), "--extra", str(extra)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(process.pid, 0)
    out, err = process.stdout.read(), process.stderr.read()
    if status != 0:
        return {"error": err.strip().splitlines()[-1] if err.strip() else f"exit status {status}", "peak_rss_mb": usage.ru_maxrss / 1024}
    result = json.loads(out.strip().splitlines()[-1])
    result["peak_rss_mb"] = usage.ru_maxrss / 1024
    return result


def parse_shape(text: str) -> tuple[int, int, int]:
    parts = [int(p) for p in text.split("x")]
    return tuple(parts * 3) if len(parts) == 1 else tuple(parts)  # type: ignore[return-value]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["64", "128", "181x217x181"])
    parser.add_argument("--steps", type=int, help="our denoising steps (default: the model's)")
    parser.add_argument("--full-stock-up-to", type=int, default=64, help="run all 1000 stock steps up to this edge length")
    parser.add_argument("--worker", choices=["ours", "stock"])
    parser.add_argument("--shape")
    parser.add_argument("--extra", type=int, default=0)
    args = parser.parse_args()
    if args.worker:
        import torch

        torch.set_num_threads(os.cpu_count() or 1)
        shape = parse_shape(args.shape)
        result = worker_ours(shape, args.extra or None) if args.worker == "ours" else worker_stock(shape, args.extra)
        result["peak_rss_self_mb"] = peak_rss_mb()
        print(json.dumps(result))
        return
    rows = []
    for size in args.sizes:
        shape = parse_shape(size)
        stock_steps = 1000 if max(shape) <= args.full_stock_up_to else 20
        ours = run_child("ours", shape, args.steps or 0)
        stock = run_child("stock", shape, stock_steps)
        row = {"input": "x".join(map(str, shape)), "ours_s": ours.get("seconds", float("nan")), "ours_steps": ours.get("steps", ""),
               "ours_peak_mb": ours["peak_rss_mb"], "stock_s": stock.get("seconds", float("nan")),
               "stock": ("extrapolated from 20 steps" if stock.get("extrapolated") else "all 1000 steps") if "error" not in stock else stock["error"],
               "stock_peak_mb": stock["peak_rss_mb"]}
        row["time_ratio_stock_over_ours"] = row["stock_s"] / row["ours_s"]
        row["memory_ratio_stock_over_ours"] = row["stock_peak_mb"] / row["ours_peak_mb"]
        rows.append(row)
        print(json.dumps(row), flush=True)
    voxels = [np.prod(parse_shape(s)) for s in args.sizes]
    if len(rows) >= 2:
        time_exponent = np.polyfit(np.log(voxels), np.log([r["ours_s"] for r in rows]), 1)[0]
        memory_exponent = np.polyfit(np.log(voxels), np.log([r["ours_peak_mb"] for r in rows]), 1)[0]
    else:
        time_exponent = memory_exponent = float("nan")
    print(f"\n# Speed and memory, one pseudo-CT, CPU; {machine()}\n")
    print(markdown_table(rows, ["input", "ours_s", "ours_steps", "ours_peak_mb", "stock_s", "stock", "stock_peak_mb", "time_ratio_stock_over_ours", "memory_ratio_stock_over_ours"]))
    print(f"\nGrowth with voxel count (ours): time ~ N^{time_exponent:.2f}, peak memory ~ N^{memory_exponent:.2f}")


if __name__ == "__main__":
    main()
