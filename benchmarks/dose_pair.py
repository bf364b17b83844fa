"""Pseudo-CTs judged by dose on the registered real pair: the same photon and proton plans on the real CT and on each
method's CT (water, bulk density, the model's prior, the model), by ``DiffusionSynthLib.dose``.

The pair (../shared/data/head_mr_ct/cmtk-pat002) is the model's training pair; its held-out slab (recorded in the
package) is the crown. The target is a 3 cm sphere at the centre of the brain in that slab, so the coplanar beams
cross mostly slices the model never saw (scatter and the sphere's edges reach the slices below). Each method's CT is
the one ``mri_to_ct_quality.py`` scores: water (0 HU in the pair's head), bulk density (two classes by MR darkness,
fitted on the training slices; in the pair's own outline and in the outline found in the MR), the prior alone and
prior + network (the default output).

Usage: python benchmarks/dose_pair.py [--model M] [--json benchmarks/results/dose_pair.json]   (needs the [dose] extra)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mri_to_ct_quality import BulkDensity, held_out_pair, method_outputs  # noqa: E402

from DiffusionSynthLib.cards import fingerprint  # noqa: E402
from DiffusionSynthLib.dose import DOSE_KEYS, TARGET_RADIUS_MM, DosePlan  # noqa: E402
from DiffusionSynthLib.intensity import normalise_mr  # noqa: E402
from DiffusionSynthLib.models import resolve_model  # noqa: E402

from _common import markdown_table, result_envelope, write_result  # noqa: E402


def slab_target(ct, test: np.ndarray) -> np.ndarray:
    """A ``TARGET_RADIUS_MM`` sphere at the centre of the brain (0-80 HU, 20 mm or more under the head's surface) in the
    held-out slab, kept inside the head."""
    spacing = np.asarray(ct.spacing, float)
    head = ct.array > -400
    depth = ndimage.distance_transform_edt(np.pad(head, 1), sampling=spacing)[1:-1, 1:-1, 1:-1]
    brain = test & (depth >= 20.0) & (ct.array > 0) & (ct.array < 80)
    centre = np.argwhere(brain).mean(axis=0)
    grid = np.indices(ct.shape, dtype=np.float32)
    return (sum(((grid[a] - centre[a]) * spacing[a]) ** 2 for a in range(3)) <= TARGET_RADIUS_MM**2) & head


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model")
    parser.add_argument("--json", help="write the result here, in the form the model card renderer reads")
    args = parser.parse_args()
    model = resolve_model(args.model, "mri-to-ct")
    slabs = model.config["training"]["held_out_slices"]
    held = slabs.get("cmtk-pat002") or slabs["pat002"]
    mr, ct_hu, train, test = held_out_pair(held)
    reference = mr.with_array(ct_hu)
    head = train | test
    norm = normalise_mr(mr.array, head)
    bulk = BulkDensity.fit(norm, ct_hu, train)
    ours, found = method_outputs(model, mr, 0)
    predictions = {
        "water": np.where(head, 0.0, -1000.0),
        "bulk density": bulk.predict(norm, head),
        "bulk density, head found in the MR": bulk.predict(norm, found),
        **ours,
    }
    target = slab_target(reference, test)
    rows = []
    for modality in ("photon", "proton"):
        plan = DosePlan(reference, modality, target)
        for name, hu in predictions.items():
            figures = plan.compare(reference.with_array(np.asarray(hu, np.float32)))
            rows.append({"plan": modality, "method": name, **{k: figures[k] for k in DOSE_KEYS}, "seconds": figures["seconds"]})
            print(json.dumps(rows[-1]), flush=True)
        setup = {key: figures[key] for key in ("engine", "gantry_angles", "grid_mm", "prescription_gy", "target_ml")}
        print(json.dumps({"plan": modality, **setup, "plan_seconds": round(plan.seconds, 1)}), flush=True)

    columns = [
        ["plan", "plan"],
        ["method", "method"],
        ["gamma_pass_2pct_2mm", "gamma 2%/2 mm (%)", ".1f"],
        ["gamma_pass_1pct_1mm", "gamma 1%/1 mm (%)", ".1f"],
        ["dose_mae_pct_rx", "dose MAE (% Rx, >= 50% Rx)", ".2f"],
        ["target_dD98_pct", "target dD98 (% Rx)", "+.2f"],
        ["target_dD50_pct", "target dD50 (% Rx)", "+.2f"],
        ["target_dD2_pct", "target dD2 (% Rx)", "+.2f"],
        ["target_dDmean_pct", "target dDmean (% Rx)", "+.2f"],
    ]
    print(markdown_table(rows, [c[0] for c in columns]))
    result = result_envelope(
        "dose-pair",
        f"Dose on the registered pair: {model.id} against water and bulk density (one plan per modality on the real CT, recomputed on each)",
        "python benchmarks/dose_pair.py" + (f" --model {args.model}" if args.model else "") + (f" --json {args.json}" if args.json else ""),
        {model.id: fingerprint(model.config)},
        [
            {
                "title": "Photon (7 coplanar beams, SVD pencil beam) and proton (2 lateral fields, Hong pencil beam) plans, 2 mm grid",
                "columns": columns,
                "rows": rows,
            }
        ],
        [
            f"The target: a {2 * TARGET_RADIUS_MM / 10:g} cm sphere at the centre of the brain in the held-out slab (slices {held}); the pair is "
            "the model's training pair, and the beams' scatter and the sphere's edges reach its training slices: not a held-out figure.",
            "Fluence optimised on the real CT (pyRadPlan 0.5, scipy solver), recomputed on each CT with the real CT's body contour; gamma by "
            "pymedphys, global, 10% low-dose cut-off; differences in percent of the prescription (the real CT's target median).",
        ],
    )
    if args.json:
        write_result(args.json, result)


if __name__ == "__main__":
    main()
