"""``diffusionsynth prepare-pairs``: register an MR to its CT and write a SynthRAD-style case folder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def cmd_prepare_pairs(args: argparse.Namespace) -> int:
    from ...registration import prepare_pair
    from ...volume import read_volume

    paths = prepare_pair(read_volume(args.mri, "MR image"), read_volume(args.ct, "CT image"), Path(args.output), log=lambda m: print(m, file=sys.stderr))
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("prepare-pairs", help="register an MR to its CT and write a SynthRAD-style case folder")
    p.add_argument("--mri", required=True)
    p.add_argument("--ct", required=True)
    p.add_argument("--output", required=True, help="case folder to write mr.nii.gz, ct.nii.gz, mask.nii.gz into")
    p.set_defaults(run=cmd_prepare_pairs)
