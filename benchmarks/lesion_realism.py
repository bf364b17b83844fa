"""Lesion realism: sub-region contrasts of real labelled gliomas beside lesions that ``inpaint --mode add`` makes.

Real: every brain case with tumour labels in a known convention (BraTS 2013 expert labels of
``brats2013_flair_t1c``; TCGA-DU-7294's fused prediction, BraTS 2017 convention). For each
sub-region and sequence: mean intensity minus healthy tissue's median, in healthy-brain SDs
(``priors.glioma.subregion_contrast``). The issue's two figures: the lesion's FLAIR against healthy
tissue, and the T1c enhancing shell (label 4) against the core (label 1).
Layout: each labelled case's tumour mask laid out in distance layers with the shares fitted on the
other cases (``layout_subregions``), Dice per sub-region against its real labels.
Added: with ``--model``, a lesion added in a sphere (radius 12 mm) of contralateral healthy tissue
of each labelled case, all its sequences given and (four-sequence cases) T1c and FLAIR alone,
deterministic estimate; the same two figures, with the sphere laid out as the package lays it out
(its own glioma appearance) as shell and core; whether the case was left out of the package's
training; and the voxels changed beyond the blend margin (must be 0).

Usage: python benchmarks/lesion_realism.py [--model inpaint-brats-demo] [--json benchmarks/results/lesion_realism.json]
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
from DiffusionSynthLib.models import resolve_model  # noqa: E402
from DiffusionSynthLib.priors.glioma import (  # noqa: E402
    NAMES,
    LabelledCase,
    fit_glioma_appearance,
    healthy_reference,
    layout_subregions,
    subregion_contrast,
    to_brats2013,
)
from DiffusionSynthLib.sequences import SEQUENCES  # noqa: E402
from DiffusionSynthLib.tasks.inpaint import inpaint  # noqa: E402
from DiffusionSynthLib.volume import Volume, read_volume  # noqa: E402

from _common import DATA, markdown_table, result_envelope, write_result  # noqa: E402

LABELLED = {
    **{f"brats2013_flair_t1c/brats_2013_pat000{i}": ("tumour_labels.nii.gz", "brats2013", "expert") for i in range(1, 5)},
    "brain_tumour_mri/TCGA-DU-7294": ("tumour_seg_predicted.nii.gz", "brats2017", "predicted"),
}
SPHERE_RADIUS_MM = 12.0


def load_labelled(relative: str) -> tuple[LabelledCase, dict[str, Volume], str]:
    folder = DATA / relative
    labels_file, convention, kind = LABELLED[relative]
    volumes = {s: read_volume(folder / f"{s}.nii.gz") for s in SEQUENCES if (folder / f"{s}.nii.gz").is_file()}
    if (folder / "brain_mask.nii.gz").is_file():
        brain = read_volume(folder / "brain_mask.nii.gz").array > 0
    else:
        brain = np.any([v.array != 0 for v in volumes.values()], axis=0)
    labels = to_brats2013(np.rint(read_volume(folder / labels_file).array).astype(int), convention) * brain
    return LabelledCase(folder.name, {s: v.array.astype(np.float32) for s, v in volumes.items()}, brain, labels), volumes, kind


def shell_and_lesion(images: dict[str, np.ndarray], brain: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """FLAIR of the whole lesion against healthy tissue; T1c of the enhancing shell (4) minus the core (1); healthy SDs."""
    lesion = labels > 0
    out = {}
    if "t2f" in images:
        median, sd = healthy_reference(images["t2f"], brain, lesion)
        out["flair_lesion"] = (float(images["t2f"][lesion].mean()) - median) / sd
    if "t1c" in images and (labels == 4).any() and (labels == 1).any():
        _, sd = healthy_reference(images["t1c"], brain, lesion)
        out["t1c_shell_minus_core"] = (float(images["t1c"][labels == 4].mean()) - float(images["t1c"][labels == 1].mean())) / sd
    return out


def contralateral_sphere(brain: np.ndarray, tumour: np.ndarray, spacing: np.ndarray) -> np.ndarray:
    """A sphere of healthy brain mirrored across the midline from the tumour (first axis), kept inside the brain and away from the tumour."""
    inside = ndimage.distance_transform_edt(brain, sampling=spacing) >= SPHERE_RADIUS_MM + 3
    away = ndimage.distance_transform_edt(~tumour, sampling=spacing) >= SPHERE_RADIUS_MM + 10
    candidates = np.argwhere(inside & away)
    centre_of_brain = np.argwhere(brain).mean(axis=0)
    target = np.argwhere(tumour).mean(axis=0)
    target[0] = 2 * centre_of_brain[0] - target[0]
    centre = candidates[np.argmin(((candidates - target) * spacing) ** 2 @ np.ones(3))]
    grid = np.indices(brain.shape, dtype=np.float32)
    return (sum(((grid[i] - centre[i]) * spacing[i]) ** 2 for i in range(3)) <= SPHERE_RADIUS_MM**2) & brain


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="inpainting model for the added lesions (default: none, real lesions and layout only)")
    parser.add_argument("--json", help="write the result here, in the form the model card renderer reads")
    args = parser.parse_args()
    cases = {relative: load_labelled(relative) for relative in LABELLED}
    real_rows, layout_rows, added_rows = [], [], []
    for relative, (case, _, kind) in cases.items():
        contrast = subregion_contrast(case)
        row = {"case": case.name, "labels": kind, **shell_and_lesion(dict(case.images), case.brain, case.labels)}
        for label, per in contrast.items():
            for sequence, value in per.items():
                row[f"{NAMES[label]} {sequence}"] = value
        real_rows.append(row)
        print(json.dumps(row), flush=True)

        others = [c for r, (c, _, _) in cases.items() if r != relative]
        appearance = fit_glioma_appearance(others)
        laid = layout_subregions(case.labels > 0, [1.0, 1.0, 1.0], appearance)
        dice = {}
        for label in NAMES:
            a, b = laid == label, case.labels == label
            if a.any() or b.any():
                dice[f"dice {NAMES[label]}"] = float(2 * (a & b).sum() / max(a.sum() + b.sum(), 1))
        layout_rows.append({"case": case.name, **dice})
        print(json.dumps(layout_rows[-1]), flush=True)

    models = {}
    if args.model:
        model = resolve_model(args.model, "inpaint")
        models[model.id] = fingerprint(model.config)
        trained_on = {text.split(" (")[0] for text in model.config.get("training", {}).get("cases", [])}
        glioma = model.config.get("prior", {}).get("glioma")
        for relative, (case, volumes, _) in cases.items():
            first = next(iter(volumes.values()))
            sphere = contralateral_sphere(case.brain, case.labels > 0, np.asarray(first.spacing, float))
            appearance = glioma or fit_glioma_appearance([c for r, (c, _, _) in cases.items() if r != relative])
            layout = layout_subregions(sphere, first.spacing, appearance)  # what the package lays out (its own appearance)
            beyond = blend_weights(sphere) == 0
            subsets = [list(volumes)] + ([["t1c", "t2f"]] if len(volumes) > 2 else [])
            for given in subsets:
                chosen = {s: volumes[s] for s in given}
                added = inpaint(chosen, first.with_array(sphere.astype(np.uint8)), "add", model, samples=0).outputs
                images = {s: v.array.astype(np.float32) for s, v in added.items()}
                row = {
                    "case": case.name,
                    "left out": "no" if case.name in trained_on else "yes",
                    "given": "+".join(given),
                    "sphere voxels": int(sphere.sum()),
                    **shell_and_lesion(images, case.brain, layout),
                    "changed beyond margin": int(sum((added[s].array != chosen[s].array)[beyond].sum() for s in added)),
                }
                added_rows.append(row)
                print(json.dumps(row), flush=True)

    print(markdown_table(real_rows, ["case", "labels", "flair_lesion", "t1c_shell_minus_core"]))
    print(markdown_table(layout_rows, ["case", *(f"dice {n}" for n in NAMES.values())]))
    if added_rows:
        print(markdown_table(added_rows, ["case", "left out", "given", "sphere voxels", "flair_lesion", "t1c_shell_minus_core", "changed beyond margin"]))
    if args.json:
        real_columns = sorted({k for r in real_rows for k in r} - {"case", "labels", "flair_lesion", "t1c_shell_minus_core"})
        tables = [
            {
                "title": "Real gliomas: contrast against healthy tissue (healthy-brain SDs)",
                "columns": [
                    ["case", "case"],
                    ["labels", "labels"],
                    ["flair_lesion", "FLAIR, lesion", ".2f"],
                    ["t1c_shell_minus_core", "T1c, enhancing minus core", ".2f"],
                    *[[c, c, ".2f"] for c in real_columns],
                ],
                "rows": real_rows,
            },
            {
                "title": "Layout from the mask (distance layers, shares fitted on the other cases) against the real labels: Dice",
                "columns": [["case", "case"], *[[f"dice {n}", n, ".3f"] for n in NAMES.values()]],
                "rows": layout_rows,
            },
        ]
        if added_rows:
            tables.append(
                {
                    "title": f"Added lesions (radius {SPHERE_RADIUS_MM:g} mm, contralateral healthy tissue), healthy-brain SDs",
                    "columns": [
                        ["case", "case"],
                        ["left out", "left out of training"],
                        ["given", "sequences given"],
                        ["sphere voxels", "voxels"],
                        ["flair_lesion", "FLAIR, lesion", ".2f"],
                        ["t1c_shell_minus_core", "T1c, shell minus core", ".2f"],
                        ["changed beyond margin", "changed beyond the margin"],
                    ],
                    "rows": added_rows,
                }
            )
        result = result_envelope(
            "lesion-realism",
            "Lesion realism: real labelled gliomas and added lesions",
            "python benchmarks/lesion_realism.py " + " ".join(sys.argv[1:]),
            models,
            tables,
            ["Real BraTS 2013 gliomas are expert-labelled; TCGA-DU-7294's labels are a fusion of model predictions."],
        )
        write_result(args.json, result)


if __name__ == "__main__":
    main()
