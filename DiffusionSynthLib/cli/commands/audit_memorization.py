"""``diffusionsynth audit-memorization``: privacy audit: do outputs copy training subjects? (exit 1 if one is flagged)."""

from __future__ import annotations

import argparse
import json

from ..common import (
    ProgressPrinter,
    progress_argument,
)


def cmd_audit_memorization(args: argparse.Namespace) -> int:
    """Exit 0 when no output looks like a copy of a training case, 1 when one does."""
    from ...audit import load_audit_model, run_audit

    model = load_audit_model(args.model)
    report = run_audit(
        model,
        args.training_data,
        inputs=args.inputs,
        samples=args.samples,
        steps=args.steps,
        threshold=args.threshold,
        reference_cts=args.reference_ct or (),
        device=args.device,
        progress=ProgressPrinter(args.progress),
    )
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.table())
    return 1 if report.flagged else 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("audit-memorization", help="privacy audit: do outputs copy training subjects? (exit 1 if one is flagged)")
    p.add_argument("--model", required=True, help="built-in model id or model package folder")
    p.add_argument("--training-data", required=True, help="the model's training cases (<case>/ct.nii.gz)")
    p.add_argument("--samples", type=int, default=4, help="outputs per conditioning input, seeds 0..N-1 (default 4)")
    p.add_argument("--inputs", nargs="+", help="conditioning images of people not in the training data (default: Colin27)")
    p.add_argument("--reference-ct", nargs="+", help="extra real CTs of other people, for the inter-subject reference NCC")
    p.add_argument("--threshold", type=float, help="NCC above which an output is a likely copy (default: derived from the data)")
    p.add_argument("--steps", type=int, help="denoising steps (default: the model's)")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    progress_argument(p)
    p.set_defaults(run=cmd_audit_memorization)
