"""``diffusionsynth evaluate``: compare a prediction with a reference; prints one JSON object."""

from __future__ import annotations

import argparse
import json


def cmd_evaluate(args: argparse.Namespace) -> int:
    from ...metrics import evaluate_files

    print(json.dumps(evaluate_files(args.prediction, args.reference, args.mask, args.kind)))
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="compare a prediction with a reference; prints one JSON object")
    p.add_argument("--prediction", required=True)
    p.add_argument("--reference", required=True)
    p.add_argument("--mask")
    p.add_argument("--kind", choices=["ct", "mri"], required=True)
    p.set_defaults(run=cmd_evaluate)
