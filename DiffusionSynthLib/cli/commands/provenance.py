"""``diffusionsynth provenance``: print a file's synthetic-data provenance record (exit 1 if none)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ...errors import InputError


def cmd_provenance(args: argparse.Namespace) -> int:
    from ...dicom_read import dicom_provenance, looks_like_dicom
    from ...volume import read_provenance

    path = Path(args.file)
    if not (path.is_file() or path.is_dir()):
        raise InputError(f"'{args.file}' does not exist; give an output file, or a DICOM series' folder or file.")
    record = dicom_provenance(path) if looks_like_dicom(path) else read_provenance(path)
    if record is None:
        print(f"'{args.file}' carries no DiffusionSynth provenance record (not marked synthetic by this tool).", file=sys.stderr)
        return 1
    print(json.dumps(record, indent=2))
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("provenance", help="print a file's synthetic-data provenance record (exit 1 if none)")
    p.add_argument("file", help="an output file (NIfTI, NRRD, MHA) or a DICOM series (its folder or one of its files)")
    p.set_defaults(run=cmd_provenance)
