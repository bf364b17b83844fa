"""Inpainting on the test split: lesions added beside real gliomas, removals against the harmonic fill (realism measured).

For each four-sequence test case with expert tumour labels of the package's recorded split (never read by its
training, no choice made on it):
- real glioma: its T1c radial R² (share of the lesion's variance the distance to its edge explains), FLAIR texture
  (high-pass RMS inside the lesion, image minus its blur at 2 voxels, brain-z units), FLAIR contrast (lesion mean
  minus healthy median, healthy SDs) and the T1c enhancing rim (label 4) minus the core (label 1);
- add: ``inpaint --mode add`` (all sequences given, deterministic estimate, ``--seeds`` layouts) in a sphere of
  ``SPHERE_RADIUS_MM`` of contralateral healthy brain; the same four figures on the sub-regions it drew
  (``labels.nii.gz``), the FLAIR texture relative to the real gliomas' median, and the voxels changed beyond the
  blend margin (must be 0);
- remove (the BraTS inpainting protocol): a sphere of healthy brain voided (zeros) in every sequence, filled by
  ``--mode remove`` (``--samples 0``, and ``--samples 1`` where the package has diffusion) and by the harmonic fill
  (Laplace, the brain as its domain); SSIM and PSNR inside the sphere against the real image (``inpaint_metrics``),
  and the texture inside the sphere relative to the real tissue's; beside them the bound ``with_random_texture``: the
  SSIM that the deterministic removal keeps with random texture added up to the bar's 0.7 of real; and the grid peak
  (``grid_peak``) of each fill's change over the harmonic fill: tiling or checkerboard at the latent grid.

Usage: python benchmarks/inpaint_test.py --package inpaint-brats-demo --data ../shared/data runs/brats2018 runs/cases
       [--cases CASE ...] [--seeds 2] [--json benchmarks/results/inpaint_test.json] [--pictures benchmarks/pictures]
"""

from __future__ import annotations

import argparse
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
from DiffusionSynthLib.priors.glioma import healthy_reference, to_brats2013  # noqa: E402
from DiffusionSynthLib.priors.harmonic import harmonic_fill  # noqa: E402
from DiffusionSynthLib.priors.regression import zscore  # noqa: E402
from DiffusionSynthLib.sequences import SEQUENCES  # noqa: E402
from DiffusionSynthLib.tasks.inpaint import inpaint  # noqa: E402
from DiffusionSynthLib.texture import high_pass, high_pass_rms, radial_r2  # noqa: E402
from DiffusionSynthLib.train.brain_cases import EXPERT_LABELS, find_cases  # noqa: E402
from DiffusionSynthLib.volume import read_volume  # noqa: E402

from _common import DATA, case_brain, check_test_case, markdown_table, result_envelope, test_groups, write_result  # noqa: E402

SPHERE_RADIUS_MM = 12.0
TEXTURE_BAR = 0.7  # the lowest texture (relative to real tissue) the issue accepts for one removal sample
BOUND_METHOD = f"bound: deterministic + random texture to {TEXTURE_BAR:g} of real"


def sphere_at(shape: tuple[int, ...], centre: np.ndarray, spacing: np.ndarray, radius: float) -> np.ndarray:
    grid = np.indices(shape, dtype=np.float32)
    return sum(((grid[i] - centre[i]) * spacing[i]) ** 2 for i in range(3)) <= radius**2


def healthy_sphere(brain: np.ndarray, tumour: np.ndarray, spacing: np.ndarray, mirror: bool) -> np.ndarray:
    """A sphere of healthy brain: mirrored across the midline (first axis) from the tumour, or (``mirror`` False) on the
    tumour's side in front of it; inside the brain by 3 mm and 10 mm from the tumour."""
    inside = ndimage.distance_transform_edt(brain, sampling=spacing) >= SPHERE_RADIUS_MM + 3
    away = ndimage.distance_transform_edt(~tumour, sampling=spacing) >= SPHERE_RADIUS_MM + 10
    candidates = np.argwhere(inside & away)
    centre_of_brain = np.argwhere(brain).mean(axis=0)
    target = np.argwhere(tumour).mean(axis=0)
    if mirror:
        target[0] = 2 * centre_of_brain[0] - target[0]
    else:
        target[1] = 2 * centre_of_brain[1] - target[1]
    centre = candidates[np.argmin(((candidates - target) * spacing) ** 2 @ np.ones(3))]
    return sphere_at(brain.shape, centre, spacing, SPHERE_RADIUS_MM) & brain


def lesion_figures(images: dict[str, np.ndarray], brain: np.ndarray, labels: np.ndarray, spacing: np.ndarray) -> dict[str, float]:
    """T1c radial R², FLAIR texture (brain-z), FLAIR contrast and T1c rim minus core (healthy SDs) of one lesion."""
    lesion = labels > 0
    out: dict[str, float] = {}
    if "t1c" in images:
        out["t1c radial r2"] = radial_r2(images["t1c"], lesion, spacing)
        if (labels == 4).sum() >= 10 and (labels == 1).sum() >= 10:
            _, sd = healthy_reference(images["t1c"], brain, lesion)
            out["t1c rim minus core"] = (float(images["t1c"][labels == 4].mean()) - float(images["t1c"][labels == 1].mean())) / sd
    if "t2f" in images:
        out["flair texture"] = high_pass_rms(zscore(images["t2f"], brain), brain, lesion)
        median, sd = healthy_reference(images["t2f"], brain, lesion)
        out["flair contrast"] = (float(images["t2f"][lesion].mean()) - median) / sd
    return out


def with_random_texture(image: np.ndarray, truth: np.ndarray, domain: np.ndarray, region: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``image`` plus a random high-pass field inside ``region``, scaled so the texture there is ``TEXTURE_BAR`` of the truth's.

    Not a method (it reads the truth's texture level): the SSIM that any fill pays for texture independent of the
    truth, as a voided region's must be, at the texture the bar asks for."""
    noise = high_pass(ndimage.gaussian_filter(rng.standard_normal(image.shape).astype(np.float32), 0.7), domain)
    have, want = high_pass_rms(image, domain, region), TEXTURE_BAR * high_pass_rms(truth, domain, region)
    amplitude = np.sqrt(max(want**2 - have**2, 0.0)) / float(np.sqrt(np.mean(noise[region].astype(np.float64) ** 2)))
    return np.where(region, image + amplitude * noise, image).astype(np.float32)


def grid_peak(change: np.ndarray, region: np.ndarray, period: int) -> float:
    """Tiling or checkerboard at the latent grid: the power of ``change`` (inside ``region``'s bounding box, 0 outside
    the region) at the grid's frequencies (k / ``period`` cycles per voxel along each axis) over the median power of
    the frequencies around them; about 1 without a grid pattern (NaN for no change)."""
    box = tuple(slice(int(a.min()), int(a.max()) + 1) for a in np.nonzero(region))
    values = np.where(region[box], change[box], 0.0).astype(np.float64)
    if not np.any(values):
        return float("nan")
    ratios = []
    for axis in range(values.ndim):
        power = (np.abs(np.fft.rfft(values, axis=axis)) ** 2).mean(axis=tuple(a for a in range(values.ndim) if a != axis))
        size = values.shape[axis]
        for k in range(1, period // 2 + 1):
            peak = int(round(k * size / period))
            around = [power[i] for i in range(max(peak - 3, 1), min(peak + 4, power.size)) if abs(i - peak) >= 2]
            if peak < power.size and around:
                ratios.append(power[peak] / max(float(np.median(around)), 1e-30))
    return float(max(ratios)) if ratios else float("nan")


def grey(image: np.ndarray, reference: np.ndarray) -> np.ndarray:
    values = reference[reference > 0]
    low, high = np.percentile(values, [1, 99.5]) if values.size else (0.0, 1.0)
    return np.rot90((np.clip((image - low) / max(high - low, 1e-6), 0, 1) * 255).astype(np.uint8))


def picture(path: Path, rows: list[list[np.ndarray]]) -> None:
    import imageio.v2 as imageio

    imageio.imwrite(path, np.concatenate([np.concatenate(row, axis=1) for row in rows], axis=0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--package", required=True, help="inpainting package (built-in id or folder) with a recorded test split")
    parser.add_argument("--data", nargs="+", type=Path, default=[DATA])
    parser.add_argument("--cases", nargs="+", help="test cases to score (default: every four-sequence labelled case of the split)")
    parser.add_argument("--seeds", type=int, default=2, help="added lesions per case (each seed draws a layout)")
    parser.add_argument("--json")
    parser.add_argument("--pictures", type=Path, help="write inpaint_add.png and inpaint_remove.png of the first case here")
    args = parser.parse_args()
    model = resolve_model(args.package, "inpaint")
    groups = test_groups(model.config)
    folders = {p.name: p for p in find_cases(args.data, minimum=2)}
    names = args.cases or [c for names in groups.values() for c in names if c in folders]
    has_diffusion = {"autoencoder", "unet"} <= set(model.config.get("networks", {}))
    period = int(model.config.get("latent_downsample", 4))  # the latent grid, in voxels at the model's spacing
    real_rows, added_rows, removed_rows = [], [], []
    pictures_done = False
    for case in names:
        check_test_case(model.config, case)
        folder = folders[case]
        volumes = {s: read_volume(folder / f"{s}.nii.gz") for s in SEQUENCES if (folder / f"{s}.nii.gz").is_file()}
        if len(volumes) < 4 or not (folder / EXPERT_LABELS).is_file():
            print(f"{case}: not four sequences with expert labels, skipped", file=sys.stderr)
            continue
        first = next(iter(volumes.values()))
        spacing = np.asarray(first.spacing, float)
        brain = case_brain(folder, volumes)
        labels = to_brats2013(np.rint(read_volume(folder / EXPERT_LABELS).array).astype(int), "brats2013") * brain
        arrays = {s: v.array.astype(np.float32) for s, v in volumes.items()}
        real = {"case": case, **lesion_figures(arrays, brain, labels, spacing)}
        real_rows.append(real)
        print(json.dumps(real), flush=True)

        sphere = healthy_sphere(brain, labels > 0, spacing, mirror=True)
        beyond = blend_weights(sphere) == 0
        for seed in range(args.seeds):
            result = inpaint(volumes, first.with_array(sphere.astype(np.uint8)), "add", model, seed=seed, samples=0)
            drawn = np.asarray(result.labels.array) if result.labels is not None else sphere.astype(np.uint8)
            images = {s: v.array.astype(np.float32) for s, v in result.outputs.items()}
            row = {
                "case": case,
                "seed": seed,
                **lesion_figures(images, brain, drawn, spacing),
                "sub-regions": "+".join(str(v) for v in sorted(set(np.unique(drawn)) - {0})),
                "changed beyond margin": int(sum((images[s] != arrays[s])[beyond].sum() for s in images)),
            }
            added_rows.append(row)
            print(json.dumps(row), flush=True)
            if args.pictures and not pictures_done and seed == 0:
                z = int(np.argwhere(sphere)[:, 2].mean())
                tumour_z = int(np.argmax((labels > 0).sum(axis=(0, 1))))
                rows_add = []
                for name in ("t1c", "t2f"):
                    before = arrays[name][:, :, z]
                    real_slice = arrays[name][:, :, tumour_z]
                    rows_add.append([grey(before, before), grey(images[name][:, :, z], before), grey(real_slice, real_slice)])
                args.pictures.mkdir(parents=True, exist_ok=True)
                picture(args.pictures / "inpaint_add.png", rows_add)

        hole = healthy_sphere(brain, labels > 0, spacing, mirror=False)
        voided = {s: v.with_array(np.where(hole, 0, v.array).astype(v.array.dtype)) for s, v in volumes.items()}
        truth_z = {s: zscore(arrays[s], brain) for s in arrays}
        outputs: dict[str, dict[str, np.ndarray]] = {}
        outputs["harmonic fill"] = {
            s: harmonic_fill(np.where(hole, 0.0, truth_z[s]).astype(np.float32), hole, brain | hole) for s in arrays
        }  # z units: SSIM and PSNR scale each image by its own range, texture is in brain-z units
        mask_volume = first.with_array(hole.astype(np.uint8))
        for method, samples in (("remove, deterministic", 0), *((("remove, one sample", 1),) if has_diffusion else ())):
            result = inpaint(voided, mask_volume, "remove", model, seed=0, samples=samples)
            outputs[method] = {s: zscore(v.array.astype(np.float32), brain) for s, v in result.outputs.items()}
        rng = np.random.default_rng(0)
        outputs[BOUND_METHOD] = {s: with_random_texture(outputs["remove, deterministic"][s], truth_z[s], brain | hole, hole, rng) for s in arrays}
        for s in arrays:  # the real tissue's own grid peak: what a fill without a grid pattern measures
            row = {"case": case, "method": "real image", "sequence": s, "grid peak": grid_peak(truth_z[s] - outputs["harmonic fill"][s], hole, period)}
            removed_rows.append(row)
        for method, images in outputs.items():
            for s in arrays:
                scores = inpaint_metrics(truth_z[s], images[s], hole, brain)
                texture = high_pass_rms(images[s], brain, hole) / high_pass_rms(truth_z[s], brain, hole)
                row = {"case": case, "method": method, "sequence": s, "ssim": scores["ssim"], "psnr": scores["psnr"], "texture": texture}
                if method != "harmonic fill":
                    row["grid peak"] = grid_peak(images[s] - outputs["harmonic fill"][s], hole, period)
                removed_rows.append(row)
                print(json.dumps(row), flush=True)
        if args.pictures and not pictures_done:
            z = int(np.argwhere(hole)[:, 2].mean())
            rows_remove = []
            for s in ("t1c", "t2f"):
                truth = truth_z[s][:, :, z]
                rows_remove.append([grey(truth, truth), *(grey(outputs[m][s][:, :, z], truth) for m in outputs if m != BOUND_METHOD)])
            picture(args.pictures / "inpaint_remove.png", rows_remove)
            pictures_done = True

    real_texture = float(np.nanmedian([r.get("flair texture", np.nan) for r in real_rows]))
    for row in added_rows:
        row["flair texture / real"] = row.get("flair texture", np.nan) / real_texture
    figures = ["t1c radial r2", "flair texture", "flair contrast", "t1c rim minus core"]
    summary = [
        {"lesions": "real gliomas", "n": len(real_rows), **{f: float(np.nanmean([r.get(f, np.nan) for r in real_rows])) for f in figures}},
        {
            "lesions": "added (deterministic)",
            "n": len(added_rows),
            **{f: float(np.nanmean([r.get(f, np.nan) for r in added_rows])) for f in [*figures, "flair texture / real"]},
            "changed beyond margin": int(sum(r["changed beyond margin"] for r in added_rows)),
        },
    ]
    removal = []
    for method in dict.fromkeys(r["method"] for r in removed_rows):
        for s in SEQUENCES:
            rows = [r for r in removed_rows if r["method"] == method and r["sequence"] == s]
            if rows:
                keys = [k for k in ("ssim", "psnr", "texture", "grid peak") if k in rows[0]]
                removal.append({"method": method, "sequence": s, "cases": len(rows), **{k: float(np.nanmean([r[k] for r in rows])) for k in keys}})
    lesion_columns = [
        ["lesions", "lesions"],
        ["n", "n"],
        *[[f, f, ".2f"] for f in figures],
        ["flair texture / real", "FLAIR texture / real", ".2f"],
        ["changed beyond margin", "changed beyond the margin"],
    ]
    removal_columns = [
        ["method", "method"],
        ["sequence", "sequence"],
        ["cases", "cases"],
        ["ssim", "SSIM", ".3f"],
        ["psnr", "PSNR", ".2f"],
        ["texture", "texture / real", ".2f"],
        ["grid peak", "grid peak", ".2f"],
    ]
    print(markdown_table(summary, [c[0] for c in lesion_columns]))
    print(markdown_table(removal, [c[0] for c in removal_columns]))
    if args.json:
        result = result_envelope(
            "inpaint-test",
            f"Inpainting by {args.package} on its test split (cases no choice saw): added lesions and removals",
            "python benchmarks/inpaint_test.py " + " ".join(sys.argv[1:]),
            {model.id: fingerprint(model.config)},
            [
                {"title": "Added lesions beside the real gliomas of the same cases (mean)", "columns": lesion_columns, "rows": summary},
                {
                    "title": "Removal of a voided healthy sphere: against the real image, inside the sphere (mean over cases)",
                    "columns": removal_columns,
                    "rows": removal,
                },
                {"title": "Each real glioma", "columns": [["case", "case"], *[[f, f, ".2f"] for f in figures]], "rows": real_rows},
                {
                    "title": "Each added lesion",
                    "columns": [
                        ["case", "case"],
                        ["seed", "seed"],
                        ["sub-regions", "sub-regions"],
                        *[[f, f, ".2f"] for f in figures],
                        ["changed beyond margin", "changed beyond the margin"],
                    ],
                    "rows": added_rows,
                },
            ],
            [
                f"Test cases of {args.package}'s recorded split with four sequences and expert labels; spheres of {SPHERE_RADIUS_MM:g} mm radius in healthy "
                "brain (add: mirrored across the midline from the tumour; remove: on the tumour's side, voided to zeros as in the BraTS inpainting "
                "challenge). Texture: high-pass RMS (image minus its Gaussian blur at 2 voxels) in brain-z units; radial R²: share of the T1c "
                "variance in the lesion explained by the mean per 1 mm band of distance to its edge; contrasts in healthy-brain SDs.",
                f"'{BOUND_METHOD}' is no method (it reads the real texture's level): the deterministic removal plus a random high-pass field "
                f"raising its texture to {TEXTURE_BAR:g} of the real tissue's, i.e. the SSIM any fill pays for that much texture independent of "
                "the voided truth. A sample held to the bar (texture >= 0.7 at an SSIM at most 0.03 below the harmonic fill's) needs this row's "
                "SSIM within 0.03 of the harmonic fill's.",
                "Grid peak: the power of the change over the harmonic fill inside the sphere at the latent grid's frequencies (k / "
                "the autoencoder's downsampling, along each axis) over the median power of the frequencies around them, the largest; "
                "about 1 without a tiling or checkerboard pattern ('real image': the real tissue's own, its high frequencies beyond the fill).",
            ],
        )
        write_result(args.json, result)


if __name__ == "__main__":
    main()
