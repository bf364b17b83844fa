"""``diffusionsynth prepare-case``: register a brain case's sequences (DICOM series included) into a training case folder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..common import (
    sequence_arguments,
)


def cmd_prepare_case(args: argparse.Namespace) -> int:
    from ...sequences import SEQUENCES
    from ...train.case_folder import prepare_brain_case
    from ...volume import read_volume

    images = {name: read_volume(getattr(args, name), f"{name} image") for name in SEQUENCES if getattr(args, name)}
    tumour = read_volume(args.tumour, "tumour segmentation") if args.tumour else None
    brain = read_volume(args.brain_mask, "brain mask") if args.brain_mask else None
    paths = prepare_brain_case(images, Path(args.output), tumour, brain, log=lambda m: print(m, file=sys.stderr))
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("prepare-case", help="register a brain case's sequences (DICOM series included) into a training case folder")
    sequence_arguments(p, "image (a file, or a folder holding one DICOM series); the first given is the grid")
    p.add_argument("--tumour", help="the tumour's segmentation (label map or DICOM-SEG), written as tumour_mask.nii.gz")
    p.add_argument("--brain-mask", help="the brain mask (default: Colin27's brain registered to the first sequence)")
    p.add_argument("--output", required=True, help="case folder to write <sequence>.nii.gz, brain_mask.nii.gz into")
    p.set_defaults(run=cmd_prepare_case)
