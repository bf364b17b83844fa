"""Inpainting quality on left-out cases (BraTS local-inpainting protocol) beside two baselines.

For each case with a fold model (trained without it: ``diffusionsynth train --task inpaint
--exclude-case CASE --autoencoder-from <imputation fold without CASE>``):
- remove: healthy regions are masked (the case's challenge mask where it has one, plus random
  ellipsoid unions away from the tumour, seeded) and filled from the four sequences; SSIM, PSNR,
  MSE inside the mask against the truth (``metrics.inpaint_metrics``), beside a mean-intensity
  fill (mean of the brain outside the mask) and a harmonic fill (Laplace equation inside the
  mask, the surrounding voxels as boundary values), all computed in this run;
- add: a tumour is added in a random healthy mask; reported: voxels changed beyond the blend
  margin (must be 0), the share of the absolute change outside the mask, and the lesion's
  contrast against a 2-6 voxel shell around it in T1c and FLAIR, before and after.

Usage: python benchmarks/inpaint_quality.py [--folds runs/inpaint-folds] [--masks 2] [--steps N]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from scipy import ndimage, sparse
from scipy.sparse.linalg import cg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from DiffusionSynthLib.masks import blend_weights  # noqa: E402
from DiffusionSynthLib.metrics import inpaint_metrics  # noqa: E402
from DiffusionSynthLib.models import load_model  # noqa: E402
from DiffusionSynthLib.sequences import SEQUENCES  # noqa: E402
from DiffusionSynthLib.tasks.inpaint import inpaint  # noqa: E402
from DiffusionSynthLib.volume import read_volume  # noqa: E402

from _common import DATA, machine, markdown_table  # noqa: E402

BRAIN = DATA / "brain_tumour_mri"


def harmonic_fill(image: np.ndarray, region: np.ndarray) -> np.ndarray:
    """Solve Laplace's equation inside ``region`` with the image outside as boundary values."""
    box = tuple(slice(max(s.start - 1, 0), s.stop + 1) for s in ndimage.find_objects(region.astype(np.uint8))[0])
    sub, inside = image[box].astype(np.float64), region[box]
    index = -np.ones(sub.shape, np.int64)
    index[inside] = np.arange(int(inside.sum()))
    rows, cols, vals, rhs = [], [], [], np.zeros(int(inside.sum()))
    points = np.argwhere(inside)
    for axis in range(3):
        for step in (-1, 1):
            neighbour = points.copy()
            neighbour[:, axis] += step
            valid = (neighbour[:, axis] >= 0) & (neighbour[:, axis] < sub.shape[axis])
            n_idx = np.full(len(points), -1)
            n_idx[valid] = index[tuple(neighbour[valid].T)]
            own = np.arange(len(points))
            known = valid & (n_idx < 0)
            rhs[known] += sub[tuple(neighbour[known].T)]
            unknown = n_idx >= 0
            rows += [own[valid]]
            cols += [own[valid]]
            vals += [np.ones(int(valid.sum()))]
            rows += [own[unknown]]
            cols += [n_idx[unknown]]
            vals += [-np.ones(int(unknown.sum()))]
    matrix = sparse.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(len(points),) * 2)
    solution, _ = cg(matrix, rhs, x0=np.full(len(points), sub[~inside].mean()), maxiter=2000)
    out = image.astype(np.float32).copy()
    out[box][inside] = solution
    return out


def random_healthy_mask(brain: np.ndarray, avoid: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A union of 1-3 ellipsoids (radii 6-16 voxels) inside the brain and away from the tumour."""
    allowed = brain & ~avoid
    allowed_core = ndimage.binary_erosion(allowed, iterations=8)
    centre = np.argwhere(allowed_core)[int(rng.integers(int(allowed_core.sum())))]
    grid = np.indices(brain.shape, dtype=np.float32)
    mask = np.zeros(brain.shape, bool)
    for _ in range(int(rng.integers(1, 4))):
        offset = centre + rng.normal(0.0, 5.0, size=3)
        radii = rng.uniform(6.0, 16.0, size=3)
        mask |= sum(((grid[i] - offset[i]) / radii[i]) ** 2 for i in range(3)) <= 1.0
    return mask & allowed


def shell_contrast(image: np.ndarray, region: np.ndarray, brain: np.ndarray) -> float:
    """Mean inside ``region`` over the mean of a 2-6 voxel shell around it, minus 1."""
    shell = ndimage.binary_dilation(region, iterations=6) & ~ndimage.binary_dilation(region, iterations=2) & brain
    return float(image[region].mean() / max(image[shell].mean(), 1e-6) - 1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", default="runs/inpaint-folds")
    parser.add_argument("--masks", type=int, default=2, help="random healthy masks per case (besides a challenge mask)")
    parser.add_argument("--steps", type=int)
    args = parser.parse_args()
    folds = sorted(Path(args.folds).glob("fold-*/model.json"))
    if not folds:
        sys.exit(f"error: no fold models in {args.folds}; train them first (see the docstring)")
    remove_rows, add_rows = [], []
    for fold in folds:
        case = fold.parent.name.removeprefix("fold-")
        model = load_model(fold.parent, "inpaint")
        volumes = {s: read_volume(BRAIN / case / f"{s}.nii.gz") for s in SEQUENCES}
        brain = np.zeros(volumes["t1n"].shape, bool)
        for volume in volumes.values():
            brain |= volume.array != 0
        tumour_path = BRAIN / case / "tumour_seg_predicted.nii.gz"
        tumour = read_volume(tumour_path).array != 0 if tumour_path.is_file() else np.zeros_like(brain)
        avoid = ndimage.binary_dilation(tumour, iterations=3)
        rng = np.random.default_rng(0)
        masks = {}
        if (BRAIN / case / "inpainting_mask.nii.gz").is_file():
            masks["challenge"] = read_volume(BRAIN / case / "inpainting_mask.nii.gz").array != 0
        for k in range(args.masks):
            masks[f"random {k + 1}"] = random_healthy_mask(brain, avoid, rng)
        for mask_name, region in masks.items():
            filled = inpaint(volumes, volumes["t1n"].with_array(region.astype(np.uint8)), "remove", model, steps=args.steps, seed=0).outputs
            outside_mean = {s: float(volumes[s].array[brain & ~region].mean()) for s in SEQUENCES}
            candidates = {
                "DiffusionSynth": {s: filled[s].array for s in SEQUENCES},
                "mean fill": {s: np.where(region, outside_mean[s], volumes[s].array) for s in SEQUENCES},
                "harmonic fill": {s: harmonic_fill(volumes[s].array, region) for s in SEQUENCES},
            }
            for method, images in candidates.items():
                scores = {s: inpaint_metrics(volumes[s].array, images[s], region, brain) for s in SEQUENCES}
                row = {
                    "case": case,
                    "mask": f"{mask_name} ({int(region.sum())} vox)",
                    "method": method,
                    **{f"t1n {k}": scores["t1n"][k] for k in ("ssim", "psnr", "mse")},
                    "mean ssim": float(np.mean([v["ssim"] for v in scores.values()])),
                    "mean psnr": float(np.mean([v["psnr"] for v in scores.values()])),
                }
                remove_rows.append(row)
                print(json.dumps(row), flush=True)
        region = masks[f"random {args.masks}"] if args.masks else next(iter(masks.values()))
        added = inpaint(volumes, volumes["t1n"].with_array(region.astype(np.uint8)), "add", model, steps=args.steps, seed=0).outputs
        beyond = blend_weights(region) == 0
        change = sum(np.abs(added[s].array.astype(np.float64) - volumes[s].array) for s in SEQUENCES)
        row = {
            "case": case,
            "mask voxels": int(region.sum()),
            "changed beyond margin": int(sum((added[s].array != volumes[s].array)[beyond].sum() for s in SEQUENCES)),
            "change outside mask": float(change[~region].sum() / max(change.sum(), 1e-9)),
        }
        for s in ("t1c", "t2f"):
            row[f"{s} contrast before"] = shell_contrast(volumes[s].array, region, brain)
            row[f"{s} contrast after"] = shell_contrast(added[s].array, region, brain)
        add_rows.append(row)
        print(json.dumps(row), flush=True)
    print(f"\n# Inpainting on left-out cases (remove), inside the mask; {machine()}\n")
    print(markdown_table(remove_rows, list(remove_rows[0])))
    print("\nMeans over cases and masks:")
    for method in ("DiffusionSynth", "mean fill", "harmonic fill"):
        chosen = [r for r in remove_rows if r["method"] == method]
        print(
            f"- {method}: t1n SSIM {np.mean([r['t1n ssim'] for r in chosen]):.4f}, PSNR {np.mean([r['t1n psnr'] for r in chosen]):.2f} dB, "
            f"MSE {np.mean([r['t1n mse'] for r in chosen]):.5f}; four-sequence SSIM {np.mean([r['mean ssim'] for r in chosen]):.4f}"
        )
    print("\n# Add mode: locality and contrast\n")
    print(markdown_table(add_rows, list(add_rows[0])))


if __name__ == "__main__":
    main()
