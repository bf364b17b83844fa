"""``diffusionsynth augment``: synthetic training cases: lesions added to healthy scans, with their labels."""

from __future__ import annotations

import argparse

from ...errors import InputError
from ..common import (
    ProgressPrinter,
    progress_argument,
)


def cmd_augment(args: argparse.Namespace) -> int:
    from ...models import resolve_model
    from ...tasks.augment import augment, find_sources
    from ...volume import check_output_folder

    if args.count < 1:
        raise InputError(f"--count must be 1 or more, not {args.count}.")
    find_sources(args.input_dir)  # input and output errors before any model is loaded
    check_output_folder(args.output_dir)
    model = resolve_model(args.model, "inpaint")
    result = augment(
        args.input_dir, args.count, args.output_dir, model, steps=args.steps, seed=args.seed, device=args.device, progress=ProgressPrinter(args.progress)
    )
    print(f"wrote {len(result.written)} cases, skipped {len(result.skipped)} already done; manifest {result.manifest}")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("augment", help="synthetic training cases: lesions added to healthy scans, with their labels")
    p.add_argument("--input-dir", required=True, help="folder of healthy cases, one sub-folder each with any of t1n/t1c/t2w/t2f.nii.gz")
    p.add_argument("--count", type=int, required=True, help="number of synthetic cases to make")
    p.add_argument("--output-dir", required=True, help="folder for case_NNNN/<sequence>.nii.gz, label.nii.gz and manifest.csv")
    p.add_argument("--model", help="inpainting model: built-in id or package folder (default: the built-in one)")
    p.add_argument("--steps", type=int, help="denoising steps (default: the model's)")
    p.add_argument("--seed", type=int, default=0, help="case i uses seed + i, so each case is reproducible")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    progress_argument(p)
    p.set_defaults(run=cmd_augment)
