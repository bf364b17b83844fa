"""``diffusionsynth evaluate``: compare a prediction with a reference; prints one JSON object."""

from __future__ import annotations

import argparse
import json

from ...errors import InputError


def cmd_evaluate(args: argparse.Namespace) -> int:
    from ...metrics import evaluate_files

    if args.dose and args.kind != "ct":
        raise InputError("--dose compares the dose of a plan on two CTs; use it with --kind ct.")
    if args.target and not args.dose:
        raise InputError("--target is the dose plan's target; give it with --dose photon or --dose proton.")
    if args.dose:
        from ...dose import require_dose_extra

        require_dose_extra()  # before the image metrics: one clear error, nothing printed
    values: dict = dict(evaluate_files(args.prediction, args.reference, args.mask, args.kind))
    if args.dose:
        from ...dose import dose_comparison
        from ...volume import read_volume

        prediction, reference = read_volume(args.prediction, "prediction"), read_volume(args.reference, "reference")
        target = None
        if args.target:
            mask = read_volume(args.target, "target")
            if not mask.same_grid(reference):
                raise InputError(f"The target '{args.target}' is on another grid than the reference; give a mask on the reference's grid.")
            target = mask.array != 0
        values["dose"] = dose_comparison(prediction, reference, args.dose, target)
    print(json.dumps(values))
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="compare a prediction with a reference; prints one JSON object")
    p.add_argument("--prediction", required=True)
    p.add_argument("--reference", required=True)
    p.add_argument("--mask")
    p.add_argument("--kind", choices=["ct", "mri"], required=True)
    p.add_argument(
        "--dose",
        choices=["photon", "proton"],
        help="with --kind ct: plan on the reference, recompute on the prediction (pyRadPlan; the [dose] extra); adds a 'dose' object",
    )
    p.add_argument("--target", help="with --dose: the plan's target mask on the reference's grid (default: a 3 cm sphere at the brain's centre)")
    p.set_defaults(run=cmd_evaluate)
