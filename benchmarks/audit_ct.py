"""Memorisation audit of a pseudo-CT model, written in the form the model card renderer reads.

``diffusionsynth audit-memorization`` (``DiffusionSynthLib.audit.run_audit``) on the Colin27 T1 head
(a person in no training set), seeds 0..N-1, against the paired training CTs; the CT-only scans
the prior's statistics came from serve as the inter-subject reference.

Usage: python benchmarks/audit_ct.py [--model mri-to-ct-head-demo] [--pairs runs/pairs] [--seeds 3] [--json benchmarks/results/audit_mri_to_ct.json]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from DiffusionSynthLib.audit import run_audit  # noqa: E402
from DiffusionSynthLib.cards import fingerprint  # noqa: E402
from DiffusionSynthLib.models import resolve_model  # noqa: E402

from _common import DATA, result_envelope, write_result  # noqa: E402

REFERENCE_CTS = [DATA / "head_mr_ct/cmtk-cad001/ct.nii.gz", DATA / "head_ct_dicom/ge_hispeed_tilt"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="mri-to-ct-head-demo")
    parser.add_argument("--pairs", default="runs/pairs", help="the paired training cases (<case>/ct.nii.gz, as prepare-pairs writes)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--json", help="write the result here, in the form the model card renderer reads")
    args = parser.parse_args()
    model = resolve_model(args.model, "mri-to-ct")
    report = run_audit(model, args.pairs, samples=args.seeds, reference_cts=[p for p in REFERENCE_CTS if p.exists()], device="cpu")
    print(report.table())
    if args.json:
        rows = [
            {"input": r.input, "seed": r.seed, "nearest": r.nearest_case, "ncc": r.ncc, "ssim": r.ssim, "verdict": "LIKELY COPY" if r.flagged else "ok"}
            for r in report.rows
        ]
        reference = f"{report.reference_ncc:.3f} ({' vs '.join(report.reference_pair or [])})" if report.reference_ncc is not None else "n/a"
        result = result_envelope(
            "audit-mri-to-ct",
            "Memorisation audit: pseudo-CTs of a person in no training set (Colin27), against every training CT",
            "python benchmarks/audit_ct.py " + " ".join(sys.argv[1:]),
            {model.id: fingerprint(model.config)},
            [
                {
                    "title": f"{len(rows)} outputs (one diffusion sample each, seeds 0-{args.seeds - 1}); {report.flagged} flagged",
                    "columns": [
                        ["input", "input"],
                        ["seed", "seed"],
                        ["nearest", "nearest training CT"],
                        ["ncc", "NCC", ".3f"],
                        ["ssim", "SSIM", ".3f"],
                        ["verdict", "verdict"],
                    ],
                    "rows": rows,
                }
            ],
            [f"{report.method}; inter-subject reference NCC {reference}; threshold NCC > {report.threshold:.3f} ({report.threshold_source})."],
        )
        write_result(args.json, result)


if __name__ == "__main__":
    main()
