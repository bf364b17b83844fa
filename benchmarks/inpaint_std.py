"""Does ``_std`` point at the error? ``inpaint --mode remove --samples K`` on the test split's voided healthy spheres:
the rank correlation (Spearman) of the K samples' per-voxel SD with the absolute error of their mean, inside the sphere.

The spheres and voiding are those of ``inpaint_test.py`` (on the tumour's side, voided to zeros). A correlation near 0
says the SD is not an error map; above 0.3 it ranks voxels usefully.

Usage: python benchmarks/inpaint_std.py --package inpaint-brats-demo --data ../shared/data runs/brats2018 runs/cases
       [--cases N] [--samples 2] [--json benchmarks/results/inpaint_std.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent))
from inpaint_test import healthy_sphere  # noqa: E402

from DiffusionSynthLib.cards import fingerprint  # noqa: E402
from DiffusionSynthLib.models import resolve_model  # noqa: E402
from DiffusionSynthLib.priors.glioma import to_brats2013  # noqa: E402
from DiffusionSynthLib.sequences import SEQUENCES  # noqa: E402
from DiffusionSynthLib.tasks.inpaint import inpaint  # noqa: E402
from DiffusionSynthLib.train.brain_cases import EXPERT_LABELS, find_cases  # noqa: E402
from DiffusionSynthLib.volume import read_volume  # noqa: E402

from _common import DATA, case_brain, check_test_case, markdown_table, result_envelope, test_groups, write_result  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--package", required=True)
    parser.add_argument("--data", nargs="+", type=Path, default=[DATA])
    parser.add_argument("--cases", type=int, default=4, help="the first N four-sequence labelled test cases")
    parser.add_argument("--samples", type=int, default=2)
    parser.add_argument("--json")
    args = parser.parse_args()
    model = resolve_model(args.package, "inpaint")
    folders = {p.name: p for p in find_cases(args.data, minimum=2)}
    names = [c for group in test_groups(model.config).values() for c in group if c in folders]
    rows = []
    for case in names:
        if len({r["case"] for r in rows}) >= args.cases:
            break
        check_test_case(model.config, case)
        folder = folders[case]
        volumes = {s: read_volume(folder / f"{s}.nii.gz") for s in SEQUENCES if (folder / f"{s}.nii.gz").is_file()}
        if len(volumes) < 4 or not (folder / EXPERT_LABELS).is_file():
            continue
        first = next(iter(volumes.values()))
        brain = case_brain(folder, volumes)
        labels = to_brats2013(np.rint(read_volume(folder / EXPERT_LABELS).array).astype(int), "brats2013") * brain
        hole = healthy_sphere(brain, labels > 0, np.asarray(first.spacing, float), mirror=False)
        voided = {s: v.with_array(np.where(hole, 0, v.array).astype(v.array.dtype)) for s, v in volumes.items()}
        result = inpaint(voided, first.with_array(hole.astype(np.uint8)), "remove", model, seed=0, samples=args.samples)
        for s, volume in result.outputs.items():
            error = np.abs(volume.array.astype(np.float64) - volumes[s].array.astype(np.float64))[hole]
            sd = result.std[s].array.astype(np.float64)[hole]
            rho = float(stats.spearmanr(sd, error).statistic)
            rows.append({"case": case, "sequence": s, "spearman": round(rho, 3), "voxels": int(hole.sum())})
            print(json.dumps(rows[-1]), flush=True)
    summary = [
        {"sequence": s, "cases": len(per), "spearman": round(float(np.mean([r["spearman"] for r in per])), 3)}
        for s in SEQUENCES
        if (per := [r for r in rows if r["sequence"] == s])
    ]
    columns = [["sequence", "sequence"], ["cases", "cases"], ["spearman", "rank correlation of SD and |error|", ".2f"]]
    print(markdown_table(summary, [c[0] for c in columns]))
    if args.json:
        write_result(
            args.json,
            result_envelope(
                "inpaint-std",
                f"Does _std point at the error? {args.package}, remove with --samples {args.samples} on its test split",
                "python benchmarks/inpaint_std.py " + " ".join(sys.argv[1:]),
                {model.id: fingerprint(model.config)},
                [
                    {
                        "title": "Spearman correlation of the samples' per-voxel SD with the absolute error of their mean, inside the voided sphere (mean over cases)",
                        "columns": columns,
                        "rows": summary,
                    },
                    {"title": "Each case", "columns": [["case", "case"], ["sequence", "sequence"], ["spearman", "Spearman", ".2f"]], "rows": rows},
                ],
                [
                    f"The first {args.cases} four-sequence test cases of the package's split; the voided spheres of inpaint_test.py (12 mm, on the tumour's side)."
                ],
            ),
        )


if __name__ == "__main__":
    main()
