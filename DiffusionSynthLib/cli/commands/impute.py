"""``diffusionsynth impute``: synthesise missing MR sequences from any subset of T1n, T1c, T2w, T2-FLAIR."""

from __future__ import annotations

import argparse

from ..common import (
    ProgressPrinter,
    add_sequences,
    notice_unused_sampling,
    overwrite_argument,
    plan_sequences,
    read_sequences,
    samples_help,
    sampling_arguments,
    sequence_arguments,
)


def cmd_impute(args: argparse.Namespace) -> int:
    from ...models import resolve_model
    from ...outputs import OutputSet
    from ...pipelines import ImputePipeline
    from ...provenance import make_provenance
    from ...sequences import SEQUENCES
    from ...tasks.impute import split_inputs

    paths = {name: getattr(args, name) for name in SEQUENCES}
    given, missing = split_inputs(paths)
    outputs = OutputSet(args.output_dir, overwrite=args.overwrite)
    plan_sequences(outputs, missing, args.samples or 0)
    volumes = read_sequences(paths, given)
    pipe = ImputePipeline(resolve_model(args.model, "impute"), args.device)
    result = pipe(volumes, steps=args.steps, seed=args.seed, samples=args.samples, progress=ProgressPrinter(args.progress))
    notice_unused_sampling(args, result.samples)
    record = make_provenance("impute", pipe.model, result.seed, result.steps, result.samples, paths, {"grid": f"{result.reference} (the first given input)"})
    add_sequences(outputs, result.outputs, result.std, record)
    written = outputs.commit()
    print(f"wrote {', '.join(str(p) for p in written)} on the grid of --{result.reference}")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("impute", help="synthesise missing MR sequences from any subset of T1n, T1c, T2w, T2-FLAIR")
    sequence_arguments(p, "image (give at least one; the others are imputed)")
    p.add_argument("--output-dir", required=True, help="folder for <sequence>.nii.gz of each missing sequence")
    overwrite_argument(p)
    sampling_arguments(p)
    p.set_defaults(run=cmd_impute, samples=None)
    samples_help(p, "diffusion samples to average, writing <sequence>_std.nii.gz from 2 (default 0: the deterministic posterior-mean estimate)")
