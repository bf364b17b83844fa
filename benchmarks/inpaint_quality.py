"""Inpainting on left-out cases: prior, prior + network, + diffusion, beside mean and harmonic fills.

For each held-out case a fold package is trained by the project's own command on every other case
(``diffusionsynth train --task inpaint --data DATA --exclude-case CASE --time-budget M``; cached in
``--workdir``; ``--fold-minutes 0`` gives the prior alone).
- remove: healthy regions are masked (the case's challenge mask where it has one, plus ``--masks``
  random ellipsoid unions away from the tumour, seeded) and filled from all the case's sequences;
  SSIM, PSNR, MSE inside the mask against the truth (``metrics.inpaint_metrics``), beside a mean
  fill (mean of the brain outside the mask) and the harmonic fill (Laplace inside the mask), all in
  this run. The package also runs on the images voided (zero) inside the mask, as the BraTS
  inpainting challenge hands them out.
- add: a tumour is added in the last random mask; reported: voxels changed beyond the blend margin
  (must be 0) and the lesion's contrast against a 2-6 voxel shell around it in T1c and FLAIR, in brain SDs.

Usage: python benchmarks/inpaint_quality.py [--fold-minutes 10] [--masks 2] [--samples 4] [--data ../shared/data runs/cases]
       [--json benchmarks/results/inpaint_quality.json]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parent))
from DiffusionSynthLib.cards import fingerprint  # noqa: E402
from DiffusionSynthLib.masks import blend_weights  # noqa: E402
from DiffusionSynthLib.metrics import inpaint_metrics  # noqa: E402
from DiffusionSynthLib.models import resolve_model  # noqa: E402
from DiffusionSynthLib.priors.harmonic import harmonic_fill  # noqa: E402
from DiffusionSynthLib.sequences import SEQUENCES  # noqa: E402
from DiffusionSynthLib.tasks.inpaint import inpaint  # noqa: E402
from DiffusionSynthLib.train.brain_cases import TUMOUR_FILES, find_cases  # noqa: E402
from DiffusionSynthLib.volume import read_volume  # noqa: E402

from _common import DATA, case_brain, check_held_out, markdown_table, result_envelope, train_fold, write_result  # noqa: E402

METHODS = ("mean fill", "harmonic fill", "prior", "prior + network", "prior + network (voided input)", "prior + network + diffusion")


def random_healthy_mask(brain: np.ndarray, avoid: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A union of 1-3 ellipsoids (radii 6-16 voxels) inside the brain and away from the tumour."""
    allowed = brain & ~avoid
    core = ndimage.binary_erosion(allowed, iterations=8)
    centre = np.argwhere(core)[int(rng.integers(int(core.sum())))]
    grid = np.indices(brain.shape, dtype=np.float32)
    mask = np.zeros(brain.shape, bool)
    for _ in range(int(rng.integers(1, 4))):
        offset = centre + rng.normal(0.0, 5.0, size=3)
        radii = rng.uniform(6.0, 16.0, size=3)
        mask |= sum(((grid[i] - offset[i]) / radii[i]) ** 2 for i in range(3)) <= 1.0
    return mask & allowed


def shell_contrast(image: np.ndarray, region: np.ndarray, brain: np.ndarray) -> float:
    """Mean inside ``region`` minus the mean of a 2-6 voxel shell around it, in SDs of the brain outside the region (the
    same for scanner units and z-scored cases, whose brain mean is 0)."""
    shell = ndimage.binary_dilation(region, iterations=6) & ~ndimage.binary_dilation(region, iterations=2) & brain
    return float((image[region].mean() - image[shell].mean()) / max(float(image[brain & ~region].std()), 1e-6))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fold-minutes", type=float, default=10.0)
    parser.add_argument("--masks", type=int, default=2, help="random healthy masks per case (besides a challenge mask)")
    parser.add_argument("--samples", type=int, default=4, help="diffusion samples averaged for the last method (0 skips it)")
    parser.add_argument("--steps", type=int)
    parser.add_argument("--workdir", default="runs/inpaint-loo")
    parser.add_argument("--cases", nargs="+", help="folds to run (default: every brain case)")
    parser.add_argument("--data", nargs="+", type=Path, default=[DATA], help="data folders, as train --data takes them (default: the shared data)")
    parser.add_argument("--package", help="score this package (built-in id or folder) on --cases it never trained on, instead of training folds")
    parser.add_argument("--json", help="write the result here, in the form the model card renderer reads")
    parser.add_argument("--add-only", action="store_true", help="re-measure only the add table of the --json result (same masks, same folds)")
    args = parser.parse_args()
    folders = {p.name: p for p in find_cases(args.data, minimum=1)}
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    remove_rows, add_rows, models = [], [], {}
    for case in args.cases or sorted(folders):
        folder = folders[case]
        package = resolve_model(args.package or str(train_fold("inpaint", case, workdir, args.fold_minutes, args.data)), "inpaint")
        check_held_out(package.config, case)
        models[package.id] = fingerprint(package.config)
        prior_only = dataclasses.replace(package, networks={k: v for k, v in package.networks.items() if k != "refiner"})
        volumes = {s: read_volume(folder / f"{s}.nii.gz") for s in SEQUENCES if (folder / f"{s}.nii.gz").is_file()}
        given = list(volumes)
        brain = case_brain(folder, volumes)
        tumour_file = next((folder / f for f in TUMOUR_FILES if (folder / f).is_file()), None)
        tumour = read_volume(tumour_file).array != 0 if tumour_file else np.zeros_like(brain)
        rng = np.random.default_rng(0)
        masks = {}
        if (folder / "inpainting_mask.nii.gz").is_file():
            masks["challenge"] = read_volume(folder / "inpainting_mask.nii.gz").array != 0
        for k in range(args.masks):
            masks[f"random {k + 1}"] = random_healthy_mask(brain, ndimage.binary_dilation(tumour, iterations=3), rng)
        for mask_name, region in masks.items() if not args.add_only else []:
            mask = volumes[given[0]].with_array(region.astype(np.uint8))
            voided = {s: v.with_array(np.where(region, 0, v.array).astype(v.array.dtype)) for s, v in volumes.items()}
            candidates = {
                "mean fill": {s: np.where(region, float(v.array[brain & ~region].mean()), v.array) for s, v in volumes.items()},
                "harmonic fill": {s: harmonic_fill(v.array, region) for s, v in volumes.items()},
                "prior": {s: v.array for s, v in inpaint(volumes, mask, "remove", prior_only, samples=0).outputs.items()},
                "prior + network (voided input)": {s: v.array for s, v in inpaint(voided, mask, "remove", package, samples=0).outputs.items()},
            }
            has_network = "refiner" in package.networks  # a prior-only fold (--fold-minutes 0) has none: the same output
            candidates["prior + network"] = (
                {s: v.array for s, v in inpaint(volumes, mask, "remove", package, samples=0).outputs.items()} if has_network else candidates["prior"]
            )
            if args.samples > 0 and {"autoencoder", "unet"} <= set(package.networks):
                outputs = inpaint(volumes, mask, "remove", package, samples=args.samples, steps=args.steps).outputs
                candidates["prior + network + diffusion"] = {s: v.array for s, v in outputs.items()}
            for method, images in candidates.items():
                scores = {s: inpaint_metrics(volumes[s].array, images[s], region, brain) for s in given}
                row = {
                    "case": case,
                    "mask": f"{mask_name} ({int(region.sum())} vox)",
                    "method": method,
                    "ssim": float(np.mean([v["ssim"] for v in scores.values()])),
                    "psnr": float(np.mean([v["psnr"] for v in scores.values()])),
                }
                remove_rows.append(row)
                print(json.dumps(row), flush=True)
        region = masks[f"random {args.masks}"] if args.masks else next(iter(masks.values()))
        added = inpaint(volumes, volumes[given[0]].with_array(region.astype(np.uint8)), "add", package, samples=0).outputs
        beyond = blend_weights(region) == 0
        row = {
            "case": case,
            "mask voxels": int(region.sum()),
            "changed beyond margin": int(sum((added[s].array != volumes[s].array)[beyond].sum() for s in given)),
        }
        for s in ("t1c", "t2f"):
            if s in volumes:
                row[f"{s} contrast before"] = shell_contrast(volumes[s].array, region, brain)
                row[f"{s} contrast after"] = shell_contrast(added[s].array, region, brain)
        add_rows.append(row)
        print(json.dumps(row), flush=True)
    add_columns = [[key, key, ".2f" if "contrast" in key else ""] for key in add_rows[0]] if add_rows else []
    add_table = {"title": "add", "columns": [[c[0], c[1], c[2]] if c[2] else [c[0], c[1]] for c in add_columns], "rows": add_rows}
    if args.add_only:
        stored = json.loads(Path(args.json).read_text())
        stored["tables"] = [t for t in stored["tables"] if t["title"] != "add"] + [add_table]
        stored["notes"] = [*stored["notes"], f"The add table re-measured by: python benchmarks/inpaint_quality.py {' '.join(sys.argv[1:])}"]
        write_result(args.json, stored)
        return
    summary = []
    for method in METHODS:
        chosen = [r for r in remove_rows if r["method"] == method]
        if chosen:
            summary.append(
                {
                    "method": method,
                    "masks": len(chosen),
                    "ssim": float(np.mean([r["ssim"] for r in chosen])),
                    "psnr": float(np.mean([r["psnr"] for r in chosen])),
                }
            )
    print(markdown_table(summary, ["method", "masks", "ssim", "psnr"]))
    if args.json:
        command = "python benchmarks/inpaint_quality.py " + " ".join(sys.argv[1:])
        result = result_envelope(
            "inpaint-heldout" if args.package else "inpaint-loo",
            f"Inpainting by {args.package} on cases it never saw (remove inside the mask; add-mode locality)"
            if args.package
            else "Inpainting on left-out cases (remove inside the mask; add-mode locality)",
            command,
            models,
            [
                {
                    "title": "remove, mean over cases and masks (SSIM and PSNR inside the mask, mean over the given sequences)",
                    "columns": [["method", "method"], ["masks", "masks"], ["ssim", "SSIM", ".3f"], ["psnr", "PSNR (dB)", ".2f"]],
                    "rows": summary,
                },
                {
                    "title": "remove, each case and mask",
                    "columns": [["case", "case"], ["mask", "mask"], ["method", "method"], ["ssim", "SSIM", ".3f"], ["psnr", "PSNR", ".2f"]],
                    "rows": remove_rows,
                },
                add_table,
            ],
            [
                f"The package {args.package}, on cases it never trained on."
                if args.package
                else f"Fold packages trained {args.fold_minutes:g} min each by the train command on every other case: the figures describe the recipe, not the built-in weights."
            ],
        )
        write_result(args.json, result)


if __name__ == "__main__":
    main()
