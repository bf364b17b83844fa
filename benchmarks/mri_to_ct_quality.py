"""Pseudo-CT quality on the real head pair and plausibility on a head no model saw, beside classical baselines.

The pair (../shared/data/head_mr_ct/cmtk-pat002) is registered with ``prepare_pair``. Figures inside
the pair's mask on the slices the model never saw (the held-out slab recorded in its model.json),
on its training slices, and on the whole head; each method in the same run:
- water: 0 HU everywhere in the head;
- bulk density: dark MR voxels inside the head -> one class, the rest -> another (class means in HU,
  threshold chosen on the training slices), once inside the pair's mask (the outline of the real CT)
  and once inside the head the model found in the MR (the outline ours has);
- intensity regression: a cubic polynomial from normalised MR intensity to HU (training slices);
- a prior package's steps: its prior alone, prior + network (the default output), and + the mean of
  ``--samples`` residual diffusion samples; an older package: its samples (seeds 0..N-1).
Plausibility on the Colin27 T1 head (Debian mricron-data; brain from its ``ch2bet``): the share of
bone (> 300 HU) in the layer 3-12 mm under the head's surface, the share of the brain above 300 HU,
median HU of brain and ventricles; the same layer measured on every real head CT here for reference.
A planner's MR as it comes: ReMIND-022's T1c and T2 DICOM series (oblique, defaced, a tumour), the quality check's
figures (``ct_quality``) for the prior and prior + network, and the median HU in the tumour (its DICOM-SEG).

Usage: python benchmarks/mri_to_ct_quality.py [--model M] [--samples 4] [--json benchmarks/results/mri_to_ct_quality.json]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from DiffusionSynthLib.audit import COLIN27  # noqa: E402
from DiffusionSynthLib.cards import fingerprint  # noqa: E402
from DiffusionSynthLib.geometry import resample, resample_like  # noqa: E402
from DiffusionSynthLib.intensity import normalise_mr  # noqa: E402
from DiffusionSynthLib.metrics import ct_metrics, ct_tissue_maes, head_ct_plausibility  # noqa: E402
from DiffusionSynthLib.models import resolve_model  # noqa: E402
from DiffusionSynthLib.registration import prepare_pair  # noqa: E402
from DiffusionSynthLib.tasks.mri_to_ct import mri_to_ct  # noqa: E402
from DiffusionSynthLib.volume import Volume, read_volume  # noqa: E402

from _common import DATA, markdown_table, result_envelope, write_result  # noqa: E402

PAIR = DATA / "head_mr_ct" / "cmtk-pat002"
REAL_CTS = {
    "cmtk-pat002": PAIR / "ct.nii.gz",
    "cmtk-cad001": DATA / "head_mr_ct/cmtk-cad001/ct.nii.gz",
    "ge_hispeed_tilt": DATA / "head_ct_dicom/ge_hispeed_tilt",
    "ge_revolution_skull": DATA / "head_ct_dicom/ge_revolution_skull",
}
COLIN_BRAIN = COLIN27.with_name("ch2bet.nii.gz")
REMIND = DATA / "remind_022"
REMIND_SERIES = {"ReMIND-022 T1c": REMIND / "t1c_dicom", "ReMIND-022 T2": REMIND / "t2w_dicom"}
REMIND_SEG = REMIND / "tumour_seg.dcm"


@dataclasses.dataclass
class BulkDensity:
    """Two classes inside the head by a threshold on the normalised MR, chosen on the training slices to minimise MAE."""

    threshold: float
    dark_hu: float
    bright_hu: float

    @classmethod
    def fit(cls, norm: np.ndarray, ct: np.ndarray, train: np.ndarray) -> BulkDensity:
        best: tuple[float, BulkDensity] | None = None
        for threshold in np.linspace(0.05, 0.5, 19):
            dark = norm < threshold
            if not (train & dark).any() or not (train & ~dark).any():
                continue
            model = cls(float(threshold), float(ct[train & dark].mean()), float(ct[train & ~dark].mean()))
            mae = float(np.abs(model.predict(norm, train)[train] - ct[train]).mean())
            if best is None or mae < best[0]:
                best = (mae, model)
        assert best is not None
        return best[1]

    def predict(self, norm: np.ndarray, head: np.ndarray) -> np.ndarray:
        return np.where(head, np.where(norm < self.threshold, self.dark_hu, self.bright_hu), -1000.0).astype(np.float32)


def held_out_pair(held: list[int]) -> tuple[Volume, np.ndarray, np.ndarray, np.ndarray]:
    """The registered real pair: (MR on the CT grid, CT in HU, training-slice mask, held-out mask)."""
    with tempfile.TemporaryDirectory() as tmp:
        paths = prepare_pair(read_volume(PAIR / "mr_t2.nii.gz"), read_volume(PAIR / "ct.nii.gz"), Path(tmp))
        mr, ct, mask_volume = (read_volume(paths[k]) for k in ("mr", "ct", "mask"))
    mask = mask_volume.array > 0
    slab = np.zeros(mask.shape, bool)
    slab[:, :, held[0] : held[1]] = True
    return mr, ct.array.astype(np.float32), mask & ~slab, mask & slab


def colin27_masks(colin: Volume) -> tuple[np.ndarray, np.ndarray]:
    """Brain (Colin27's own brain extraction) and ventricles (the darkest fifth of the brain at least 20 mm inside it)."""
    from scipy import ndimage

    brain_volume = read_volume(COLIN_BRAIN)
    brain = resample(brain_volume, colin.shape, colin.ijk_to_ras, "nearest", 0.0).array > 0
    inside = ndimage.distance_transform_edt(brain, sampling=[float(s) for s in colin.spacing])
    values = colin.array[brain]
    ventricles = brain & (inside >= 20.0) & (colin.array < np.percentile(values, 20))
    return brain, ventricles


def prior_only(model):
    """The package without its network: the prior alone (samples 0)."""
    return model.without("refiner")


def method_outputs(model, mr: Volume, samples: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The model's own steps on ``mr`` (HU on its grid), and the head it found in the MR."""
    if "prior" in model.config:
        result = mri_to_ct(mr, model, samples=0)
        out = {"prior": mri_to_ct(mr, prior_only(model), samples=0).ct.array, "prior + network": result.ct.array}
        if samples and {"autoencoder", "unet"} <= set(model.networks):
            out[f"prior + network + diffusion (mean of {samples})"] = mri_to_ct(mr, model, samples=samples).ct.array
        return {k: v.astype(np.float32) for k, v in out.items()}, result.head_mask
    result = mri_to_ct(mr, model, samples=samples or 1)
    return {f"{model.id} (mean of {samples or 1} samples)": result.ct.array.astype(np.float32)}, result.head_mask


def remind_quality(model) -> list[dict]:
    """The quality check's figures of the prior and of prior + network on ReMIND-022's T1c and T2 DICOM series, and the
    median HU in its tumour (the DICOM-SEG, drawn on the T1c, resampled onto each series: one session, one frame)."""
    seg = read_volume(REMIND_SEG, "mask")
    rows = []
    for series, folder in REMIND_SERIES.items():
        mr = read_volume(folder, "MR")
        tumour = resample_like(seg, mr, "nearest").array > 0
        for method, package in (("prior", prior_only(model)), ("prior + network", model)):
            result = mri_to_ct(mr, package, samples=0)
            assert result.quality is not None
            figures = {k: (None if v is None else round(float(v), 4)) for k, v in result.quality.figures.items()}
            median = float(np.median(result.ct.array[tumour])) if tumour.any() else None
            rows.append({"series": series, "method": method, **figures, "tumour_median_hu": median, "warnings": len(result.quality.warnings)})
            print(json.dumps(rows[-1]), flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model")
    parser.add_argument("--samples", type=int, default=4, help="diffusion samples averaged for the last step (0 skips it)")
    parser.add_argument("--json", help="write the result here, in the form the model card renderer reads")
    args = parser.parse_args()
    model = resolve_model(args.model, "mri-to-ct")
    slabs = model.config["training"]["held_out_slices"]
    held = slabs.get("cmtk-pat002") or slabs["pat002"]  # older packages named the pair folder pat002
    mr, ct_hu, train, test = held_out_pair(held)
    head = train | test
    norm = normalise_mr(mr.array, head)
    bulk = BulkDensity.fit(norm, ct_hu, train)
    coefficients = np.polyfit(norm[train], ct_hu[train], deg=3)
    ours, found = method_outputs(model, mr, args.samples)
    predictions = {
        "water": np.where(head, 0.0, -1000.0).astype(np.float32),
        "bulk density": bulk.predict(norm, head),
        "bulk density, head found in the MR": bulk.predict(norm, found),  # the outline ours has; the row above is given the pair's
        "intensity regression (cubic)": np.where(head, np.polyval(coefficients, norm), -1000.0).astype(np.float32),
        **ours,
    }
    rows = []
    for name, prediction in predictions.items():
        for region, region_mask in (("held-out slab", test), ("training slices", train), ("whole head", head)):
            values = {**ct_metrics(ct_hu, prediction, region_mask), **ct_tissue_maes(ct_hu, prediction, region_mask)}
            rows.append({"method": name, "region": region, **{k: round(v, 3) for k, v in values.items()}})
            print(json.dumps(rows[-1]), flush=True)
    per_slice = []  # where on the held-out slab each method gains or loses (the crown, the MR's last slices)
    for k in np.nonzero(test.any(axis=(0, 1)))[0]:
        inside = test[:, :, k]
        row = {
            "slice": int(k),
            "voxels": int(inside.sum()),
            "predicted air": round(float((predictions.get("prior", predictions["water"])[:, :, k][inside] < -900).mean()), 3),
        }
        row.update({name: round(float(np.abs(p[:, :, k][inside] - ct_hu[:, :, k][inside]).mean()), 1) for name, p in predictions.items()})
        per_slice.append(row)

    plausibility = []
    for name, path in REAL_CTS.items():
        plausibility.append({"method": f"real CT: {name}", **head_ct_plausibility(read_volume(path))})
    if COLIN27.is_file() and COLIN_BRAIN.is_file():
        colin = read_volume(COLIN27)
        brain, ventricles = colin27_masks(colin)
        colin_ours, colin_head = method_outputs(model, colin, args.samples)  # every method gets the head ours found
        colin_norm = normalise_mr(colin.array, colin_head)
        colin_outputs = {
            "water": np.where(colin_head, 0.0, -1000.0).astype(np.float32),
            "bulk density": bulk.predict(colin_norm, colin_head),
            **colin_ours,
        }
        for name, hu in colin_outputs.items():
            plausibility.append({"method": f"Colin27: {name}", **head_ct_plausibility(colin.with_array(hu), brain, ventricles)})
    for row in plausibility:
        print(json.dumps(row), flush=True)
    planner = remind_quality(model) if REMIND_SEG.is_file() else []

    print(f"\n# MRI->CT, model {model.id}; held-out slices {held} of the CT grid ({int(test.sum())} voxels in the mask)\n")
    print(markdown_table(rows, ["method", "region", "mae", "me", "bone_dice", "ssim", "mae_air", "mae_soft_tissue", "mae_bone"]))
    print()
    print(markdown_table(plausibility, ["method", "bone_share_under_scalp", "brain_share_above_300", "brain_median_hu", "ventricles_median_hu"]))
    print()
    print(markdown_table(per_slice, list(per_slice[0]) if per_slice else []))
    if args.json:
        result = result_envelope(
            "mri-to-ct-quality",
            "Pseudo-CT on the held-out slab of the real pair, and plausibility on a head no model saw",
            "python benchmarks/mri_to_ct_quality.py " + " ".join(sys.argv[1:]),
            {model.id: fingerprint(model.config)},
            [
                {
                    "title": f"cmtk-pat002 (T2 MR), held-out slab = CT slices {held[0]}-{held[1] - 1}; MAE in HU, bone Dice at > 250 HU",
                    "columns": [
                        ["method", "method"],
                        ["region", "region"],
                        ["mae", "MAE", ".1f"],
                        ["me", "mean error", ".1f"],
                        ["bone_dice", "bone Dice", ".3f"],
                        ["mae_air", "MAE air", ".0f"],
                        ["mae_soft_tissue", "MAE soft tissue", ".0f"],
                        ["mae_bone", "MAE bone", ".0f"],
                    ],
                    "rows": rows,
                },
                {
                    "title": "Plausibility: real head CTs, and pseudo-CTs of the Colin27 T1 head (a person in no training set)",
                    "columns": [
                        ["method", "CT"],
                        ["bone_share_under_scalp", "bone in 3-12 mm under the surface", ".3f"],
                        ["brain_share_above_300", "brain > 300 HU", ".4f"],
                        ["brain_median_hu", "brain median HU", ".0f"],
                        ["ventricles_median_hu", "ventricles median HU", ".0f"],
                    ],
                    "rows": plausibility,
                },
                {
                    "title": "A planner's MR as it comes: ReMIND-022's DICOM series (oblique, defaced, a tumour; no model saw them), the quality check's figures and the tumour's median HU",
                    "columns": [
                        ["series", "MR series"],
                        ["method", "method"],
                        ["skull_layer_bone_share", "bone in 3-12 mm under the surface", ".3f"],
                        ["intracranial_air_ml", "air 20 mm deep (ml)", ".2f"],
                        ["head_hu_p99", "head p99 HU", ".0f"],
                        ["head_cut_share", "head cut", ".3f"],
                        ["prior_network_disagreement_share", "prior/network disagree", ".3f"],
                        ["tumour_median_hu", "tumour median HU", ".0f"],
                        ["warnings", "warnings"],
                    ],
                    "rows": planner,
                },
                {
                    "title": "Held-out slab, slice by slice (CT grid): MAE in HU; 'predicted air' is the share of the pair's mask the prior leaves as air (the head found in the MR)",
                    "columns": [["slice", "slice"], ["voxels", "voxels"], ["predicted air", "predicted air", ".2f"]]
                    + [[name, name, ".0f"] for name in predictions],
                    "rows": per_slice,
                },
            ],
            [f"bulk density threshold {bulk.threshold:.3f} of the normalised MR: {bulk.dark_hu:.0f} HU below, {bulk.bright_hu:.0f} HU above."],
        )
        write_result(args.json, result)


if __name__ == "__main__":
    main()
