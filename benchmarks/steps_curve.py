"""Quality against the number of denoising steps, on real held-out data, in one run.

MRI->CT: MAE / PSNR / SSIM / bone Dice of the built-in model on the held-out slab of the real
head pair for each step count, with the wall time of each run.
impute: T2-FLAIR imputed from T1n, T1c, T2w of a real brain case, SSIM / PSNR / MAE inside the
brain (``metrics.mri_metrics``).
inpaint: remove inside the case's BraTS inpainting-challenge mask (healthy tissue), from all four
sequences; SSIM / PSNR / MSE inside the mask (``metrics.inpaint_metrics``), T1n and the mean of
the four sequences. Give ``--model`` a leave-one-out fold model for an out-of-sample curve (the
built-in brain models saw every case).

Usage: python benchmarks/steps_curve.py [--task mri-to-ct|impute|inpaint] [--steps 1 2 5 10 20 50] [--seed 0]
                                        [--model M] [--case BraTS-GLI-00001-000]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mri_to_ct_quality import held_out_pair  # noqa: E402

from DiffusionSynthLib.metrics import ct_metrics, inpaint_metrics, mri_metrics  # noqa: E402
from DiffusionSynthLib.models import resolve_model  # noqa: E402
from DiffusionSynthLib.sequences import SEQUENCES  # noqa: E402
from DiffusionSynthLib.tasks.impute import impute  # noqa: E402
from DiffusionSynthLib.tasks.inpaint import inpaint  # noqa: E402
from DiffusionSynthLib.tasks.mri_to_ct import mri_to_ct  # noqa: E402
from DiffusionSynthLib.volume import read_volume  # noqa: E402

from _common import DATA, machine, markdown_table  # noqa: E402

BRAIN = DATA / "brain_tumour_mri"
COLUMNS = {
    "mri-to-ct": ["steps", "mae", "me", "psnr", "ssim", "bone_dice", "seconds"],
    "impute": ["steps", "ssim", "psnr", "mae", "seconds"],
    "inpaint": ["steps", "t1n_ssim", "t1n_psnr", "t1n_mse", "mean_ssim", "mean_psnr", "seconds"],
}


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


def brain_curve(task: str, steps_list: list[int], seed: int, model_name: str | None, case: str) -> list[dict]:
    """Imputation (T2-FLAIR from the other three) or inpainting (remove in the challenge mask) on one real case."""
    model = resolve_model(model_name, task)
    volumes = {name: read_volume(BRAIN / case / f"{name}.nii.gz") for name in SEQUENCES}
    brain = sum(volume.array != 0 for volume in volumes.values()) > 0
    if task == "inpaint":
        region = read_volume(BRAIN / case / "inpainting_mask.nii.gz", "inpainting mask")
        inside = region.array != 0
    rows = []
    for steps in steps_list:
        started = time.perf_counter()
        if task == "impute":
            result = impute({name: volumes[name] for name in ("t1n", "t1c", "t2w")}, model, steps=steps, seed=seed)
            values = mri_metrics(volumes["t2f"].array, result.outputs["t2f"].array, brain)
        else:
            result = inpaint(volumes, region, "remove", model, steps=steps, seed=seed)
            scores = {name: inpaint_metrics(volumes[name].array, result.outputs[name].array, inside, brain) for name in SEQUENCES}
            values = {
                **{f"t1n_{key}": value for key, value in scores["t1n"].items()},
                "mean_ssim": sum(v["ssim"] for v in scores.values()) / 4,
                "mean_psnr": sum(v["psnr"] for v in scores.values()) / 4,
            }
        seconds = time.perf_counter() - started
        rows.append({"steps": steps, **{k: round(float(v), 4) for k, v in values.items()}, "seconds": round(seconds, 2)})
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=list(COLUMNS), default="mri-to-ct")
    parser.add_argument("--case", default="BraTS-GLI-00001-000", help="brain case for impute and inpaint (inpaint needs its inpainting_mask)")
    parser.add_argument("--model")
    parser.add_argument("--steps", type=int, nargs="+", default=[1, 2, 5, 10, 20, 50])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.task == "mri-to-ct":
        rows, where = mri_to_ct_curve(args.steps, args.seed, args.model), "held-out slab"
    else:
        rows, where = brain_curve(args.task, args.steps, args.seed, args.model, args.case), f"case {args.case}, model {args.model or 'built-in'}"
    print(f"\n# {args.task}: quality against steps ({where}), seed {args.seed}; {machine()}\n")
    print(markdown_table(rows, COLUMNS[args.task]))


if __name__ == "__main__":
    main()
