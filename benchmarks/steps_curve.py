"""Quality against the number of denoising steps, on real held-out data, in one run.

MRI->CT: MAE / PSNR / SSIM / bone Dice of the built-in model on the held-out slab of the real
head pair for each step count, with the wall time of each run.

Usage: python benchmarks/steps_curve.py [--task mri-to-ct] [--steps 1 2 5 10 20 50] [--seed 0]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, markdown_table  # noqa: E402
from mri_to_ct_quality import held_out_pair  # noqa: E402

from DiffusionSynthLib.metrics import ct_metrics  # noqa: E402
from DiffusionSynthLib.models import resolve_model  # noqa: E402
from DiffusionSynthLib.tasks.mri_to_ct import mri_to_ct  # noqa: E402


def mri_to_ct_curve(steps_list: list[int], seed: int, model_name: str | None) -> list[dict]:
    model = resolve_model(model_name, "mri-to-ct")
    mr, ct_hu, _, test = held_out_pair(model)
    rows = []
    for steps in steps_list:
        started = time.perf_counter()
        result = mri_to_ct(mr, model, steps=steps, seed=seed)
        seconds = time.perf_counter() - started
        values = ct_metrics(ct_hu, result.ct.array.astype("float32"), test)
        rows.append({"steps": steps, **{k: round(v, 3) for k, v in values.items()}, "seconds": round(seconds, 2)})
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=["mri-to-ct"], default="mri-to-ct")
    parser.add_argument("--model")
    parser.add_argument("--steps", type=int, nargs="+", default=[1, 2, 5, 10, 20, 50])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rows = mri_to_ct_curve(args.steps, args.seed, args.model)
    print(f"\n# {args.task}: quality against steps (held-out slab), seed {args.seed}; {machine()}\n")
    print(markdown_table(rows, ["steps", "mae", "me", "psnr", "ssim", "bone_dice", "seconds"]))


if __name__ == "__main__":
    main()
