"""Forecast images on the real progression patients: does the grown tumour look like the patient's own, without drawn edges?

For each patient: the built-in forecast (``forecast-gbm-demo``) of the baseline T1c to its follow-up
day, rendered by ``render_day`` (the tumour stretched by the growth, the brain pushed aside; the built-in
inpainting package ``inpaint-brats-demo`` for what a stretch cannot show); spacing assumed 0.86 x 0.86
x 5 mm (the headers lost it). Measured on the rendered T1c, in healthy-brain SDs (healthy: the brain
20 mm or more away from the forecast tumour): the new front (the outer 4 mm of the forecast tumour where it
grew) against the baseline's own rim (its outer 4 mm) in the real T1c; the high-pass RMS (image minus its
blur at 2 voxels) in the changed zone, rendered over real (a drawn rim or line raises it, a blur lowers it);
the volume inpainted (not reachable by the stretch); and the voxels changed outside the changed zone (must be 0).

Usage: python benchmarks/forecast_images.py [--patients 01 05] [--json benchmarks/results/forecast_images.json]
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
from DiffusionSynthLib.growth.longitudinal import ASSUMED_SPACING_MM, load_cases  # noqa: E402
from DiffusionSynthLib.intensity import head_mask_mr  # noqa: E402
from DiffusionSynthLib.models import resolve_model  # noqa: E402
from DiffusionSynthLib.tasks.forecast import forecast  # noqa: E402
from DiffusionSynthLib.tasks.forecast_render import day_plan  # noqa: E402
from DiffusionSynthLib.texture import high_pass_rms  # noqa: E402

from _common import DATA, markdown_table, result_envelope, write_result  # noqa: E402

HEALTHY_AWAY_MM = 20.0
RIM_MM = 4.0


def contrast(image: np.ndarray, region: np.ndarray, healthy: np.ndarray) -> float:
    """Mean in ``region`` minus the healthy median, in healthy SDs (nan for an empty region)."""
    if not region.any():
        return float("nan")
    values = image[healthy].astype(np.float64)
    return (float(image[region].mean()) - float(np.median(values))) / float(values.std())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", nargs="*", help="patient ids (default: all)")
    parser.add_argument("--json", help="write the result here, in the form the model card renderer reads")
    args = parser.parse_args()
    model, inpaint_model = resolve_model("forecast-gbm-demo", "forecast"), resolve_model("inpaint-brats-demo", "inpaint")
    rows = []
    for case in load_cases(DATA / "tumour_progression", spacing=ASSUMED_SPACING_MM):
        if args.patients and case.name not in args.patients:
            continue
        result = forecast({"t1c": case.baseline}, case.baseline_mask, [case.days], model, inpaint_model, spacing=ASSUMED_SPACING_MM)
        image = result.images[case.days]["t1c"].array.astype(np.float32)
        source = case.baseline.array.astype(np.float32)
        baseline, grown = case.baseline_mask.array > 0, result.masks[case.days].array > 0
        plan = day_plan(baseline, grown, ASSUMED_SPACING_MM)
        zone = plan.changed(baseline.shape)
        brain = head_mask_mr(case.baseline) & (source > 0)
        healthy = brain & (ndimage.distance_transform_edt(~(grown | baseline), sampling=ASSUMED_SPACING_MM) >= HEALTHY_AWAY_MM)
        depth = ndimage.distance_transform_edt(baseline, sampling=ASSUMED_SPACING_MM)
        front = grown & ~baseline & (ndimage.distance_transform_edt(grown, sampling=ASSUMED_SPACING_MM) <= RIM_MM)
        scale = float(source[healthy].std())
        voxel_ml = float(np.prod(ASSUMED_SPACING_MM)) / 1000
        row = {
            "patient": case.name,
            "days": case.days,
            "grown ml": float((grown & ~baseline).sum() * voxel_ml),
            "front": contrast(image, front, healthy),
            "baseline rim (real)": contrast(source, baseline & (depth <= RIM_MM), healthy),
            "high-pass, rendered / real": high_pass_rms(image / scale, brain, zone & brain) / max(high_pass_rms(source / scale, brain, zone & brain), 1e-6),
            "inpainted ml": float((plan.add | plan.remove).sum() * voxel_ml),
            "changed outside the zone": int((image != source)[~zone].sum()),
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    columns = ["patient", "days", "grown ml", "front", "baseline rim (real)", "high-pass, rendered / real", "inpainted ml", "changed outside the zone"]
    print(markdown_table(rows, columns))
    if args.json:
        table = {
            "title": "Forecast T1c at the follow-up day: the front's contrast against healthy brain (healthy-brain SDs), texture, inpainting",
            "columns": [[c, c, ".2f"] if c not in ("patient", "days", "changed outside the zone") else [c, c] for c in columns],
            "rows": rows,
        }
        models = {m.id: fingerprint(m.config) for m in (model, inpaint_model)}
        notes = [
            "Front: the outer 4 mm of the forecast tumour where it grew; baseline rim: the outer 4 mm of the baseline tumour in the real T1c.",
            "High-pass: RMS of the image minus its blur at 2 voxels in the brain of the changed zone (the deformation's reach and the"
            " inpainting's blend margin), the rendered image over the real one; 1 means the same amount of edges and texture.",
        ]
        result = result_envelope(
            "forecast-images",
            "Forecast images: the grown tumour against the patient's own",
            "python benchmarks/forecast_images.py " + " ".join(sys.argv[1:]),
            models,
            [table],
            notes,
        )
        write_result(args.json, result)


if __name__ == "__main__":
    main()
