"""``diffusionsynth forecast``: tumour growth: the tumour mask and images after N days, from a baseline T1c and its mask."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ...errors import InputError
from ..common import (
    ProgressPrinter,
    overwrite_argument,
    read_mask,
    samples_help,
    sampling_arguments,
    sequence_arguments,
)


def cmd_forecast(args: argparse.Namespace) -> int:
    from ...models import resolve_model
    from ...outputs import OutputSet
    from ...pipelines import ForecastPipeline
    from ...provenance import make_provenance
    from ...sequences import SEQUENCES
    from ...tasks.checks import require_content
    from ...tasks.forecast import (
        MAX_SAMPLES,
        check_days,
        check_spacing,
        check_tumour_mask,
        day_name,
        given_inputs,
        spacing_warning,
    )
    from ...volume import read_volume

    days = check_days(args.days)
    spacing = check_spacing(args.assume_spacing)
    runs = growth_runs(args)
    if not 1 <= runs <= MAX_SAMPLES:
        raise InputError(f"--growth-runs must be between 1 and {MAX_SAMPLES} (each run is one growth simulation).")
    if args.t1c is None:
        raise InputError("Forecasting needs the contrast-enhanced T1 (--t1c): the growth model reads tissue from it.")
    paths = {name: getattr(args, name) for name in SEQUENCES}
    given = [name for name in SEQUENCES if paths[name] is not None]
    outputs = OutputSet(args.output_dir, overwrite=args.overwrite)
    for day in days:
        for name in ["tumour_mask", *given] + (["tumour_probability"] if runs > 1 else []):
            outputs.plan(f"{name}_{day_name(day)}.nii.gz")
    volumes = {}
    for name in given:
        volumes[name] = read_volume(paths[name], f"{name} image")
        require_content(volumes[name], f"{name} image '{paths[name]}'")
    mask = read_mask(args.tumour_mask, given_inputs(volumes)[1], "tumour mask")
    check_tumour_mask(mask, given_inputs(volumes)[1])  # input errors before any model is loaded
    if spacing is None and (warning := spacing_warning(volumes["t1c"], f"T1c image '{paths['t1c']}'")):
        print(f"warning: {warning}", file=sys.stderr, flush=True)
    model = resolve_model(args.model, "forecast")
    inpaint_name = args.inpaint_model or model.config.get("render", {}).get("inpaint_model")
    inpaint_model = resolve_model(inpaint_name, "inpaint")
    result = ForecastPipeline(model, args.device)(
        volumes,
        mask,
        days=days,
        inpaint_model=inpaint_model,
        samples=runs,
        seed=args.seed,
        steps=args.steps,
        spacing=spacing,
        progress=ProgressPrinter(args.progress),
    )
    extra = {
        "tumour_mask": Path(args.tumour_mask).name,
        "growth_parameters": result.parameters.to_dict(),
        "physics_spacing_mm": list(result.physics_spacing),
        "inpaint_model": result.inpaint_model,
    }
    inputs = {**paths, "tumour_mask": args.tumour_mask}
    for day in days:
        record = make_provenance("forecast", model, args.seed, result.steps, 0, inputs, {**extra, "day": day, "growth_runs": runs})
        outputs.add(f"tumour_mask_{day_name(day)}.nii.gz", result.masks[day], {**record, "output": "forecast tumour mask"})
        for name, volume in result.images[day].items():
            outputs.add(f"{name}_{day_name(day)}.nii.gz", volume, {**record, "output": f"{name} at the forecast day"})
        if day in result.probability:
            outputs.add(
                f"tumour_probability_{day_name(day)}.nii.gz",
                result.probability[day],
                {**record, "output": f"voxel-wise probability of tumour over {runs} parameter draws"},
            )
    written = outputs.commit()
    print(f"wrote {len(written)} files for days {', '.join(map(str, days))} in {args.output_dir}")
    return 0


def growth_runs(args: argparse.Namespace) -> int:
    """``--growth-runs``; ``--samples`` still counts growth runs in this release, with a one-line notice (it counts
    diffusion samples in every other command)."""
    if args.samples is not None:
        print(
            "note: forecast --samples is deprecated: it counts growth runs in this release only; use --growth-runs "
            f"{args.samples} (--samples will count the images' diffusion samples, as in inpaint).",
            file=sys.stderr,
            flush=True,
        )
        if args.growth_runs is None:
            return int(args.samples)
    return 1 if args.growth_runs is None else int(args.growth_runs)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("forecast", help="tumour growth: the tumour mask and images after N days, from a baseline T1c and its mask")
    sequence_arguments(p, "baseline image, on the T1c's grid (the T1c is required)")
    p.add_argument("--tumour-mask", required=True, help="baseline tumour segmentation on the T1c's grid; any non-zero voxel is tumour")
    p.add_argument("--days", required=True, nargs="+", help="days after the baseline to forecast, whole numbers from 1 to 3650")
    p.add_argument("--output-dir", required=True, help="folder for tumour_mask_dayNNN, <sequence>_dayNNN (and tumour_probability_dayNNN)")
    overwrite_argument(p)
    p.add_argument("--inpaint-model", help="inpainting model that renders the images (default: the one the forecast model names)")
    p.add_argument(
        "--assume-spacing", nargs=3, metavar=("X", "Y", "Z"), help="voxel size in mm for the physics when the header lost it (outputs stay on the input grid)"
    )
    p.add_argument(
        "--growth-runs",
        type=int,
        help="growth simulations with parameters drawn from their calibrated spread (default 1; 2 or more add tumour_probability_dayNNN)",
    )
    sampling_arguments(p)
    p.set_defaults(run=cmd_forecast, samples=None)
    samples_help(p, "deprecated for forecast: counts growth runs in this release (use --growth-runs)")
