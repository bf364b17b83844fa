"""``diffusionsynth models``: list the built-in models."""

from __future__ import annotations

import argparse
import json


def cmd_models(args: argparse.Namespace) -> int:
    from ...models import builtin_models

    rows = builtin_models()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'id':32s} {'task':12s} {'size':>9s}  {'use':15s} card")
    for row in rows:
        use = "non-commercial" if row["non_commercial"] else "any"
        print(f"{row['id']:32s} {row['task']:12s} {row['size_bytes'] / 1e6:7.1f} MB  {use:15s} {row['card']}")
    if any(row["non_commercial"] for row in rows):
        print("non-commercial: the weights learned from data under a non-commercial licence (CC BY-NC-SA); research use only (see each card).")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list the built-in models")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_models)
