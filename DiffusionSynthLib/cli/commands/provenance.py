"""``diffusionsynth provenance``: print a file's synthetic-data provenance record (exit 1 if none)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ...errors import InputError


def cmd_provenance(args: argparse.Namespace) -> int:
    from ...volume import read_provenance

    if not Path(args.file).is_file():
        raise InputError(f"'{args.file}' does not exist or is not a file.")
    record = read_provenance(args.file)
    if record is None:
        print(f"'{args.file}' carries no DiffusionSynth provenance record (not marked synthetic by this tool).", file=sys.stderr)
        return 1
    print(json.dumps(record, indent=2))
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("provenance", help="print a file's synthetic-data provenance record (exit 1 if none)")
    p.add_argument("file")
    p.set_defaults(run=cmd_provenance)
