"""``diffusionsynth <command> ...``: a thin command line over the library.

Heavy modules are imported inside each command. A user mistake prints one ``error: ...`` line
and exits non-zero (2 bad input, 3 bad model, 4 unwritable output, 130 cancelled); progress goes
to stderr, and ``--progress json`` makes it machine-readable for the Slicer module.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from . import __version__
from .errors import Cancelled, DiffusionSynthError, InputError, OutputError

# ------------------------------------------------------------------------------------------ progress


class ProgressPrinter:
    """Prints progress to stderr: a bar with time left, or one JSON object per line."""

    line_open = False  # a bar is drawn without its newline; an error message must start on a line of its own

    def __init__(self, style: str) -> None:
        self.style = style
        self.started = time.monotonic()
        self.last_bar = 0.0

    def __call__(self, step: int, total: int, message: str) -> None:
        elapsed = time.monotonic() - self.started
        remaining = elapsed / step * (total - step) if step else None
        if self.style == "json":
            record = {"progress": step, "total": total, "message": message, "elapsed_s": round(elapsed, 2)}
            if remaining is not None:
                record["remaining_s"] = round(remaining, 1)
            print(json.dumps(record), file=sys.stderr, flush=True)
        elif self.style == "bar":
            now = time.monotonic()
            if now - self.last_bar < 0.2 and step < total:
                return
            self.last_bar = now
            width = 30
            filled = int(width * step / max(total, 1))
            left = f" {remaining:5.0f} s left" if remaining is not None else ""
            end = "\n" if step >= total else ""
            print(
                f"\r[{'#' * filled}{'.' * (width - filled)}] {100 * step // max(total, 1):3d}% {message[:40]:40s}{left}", end=end, file=sys.stderr, flush=True
            )
            ProgressPrinter.line_open = not end


def _progress_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--progress", choices=["bar", "json", "none"], default="bar", help="progress on stderr (default: bar)")


def _sequence_arguments(parser: argparse.ArgumentParser, text: str) -> None:
    """``--t1n``, ``--t1c``, ``--t2w``, ``--t2f``, each described as '<sequence> <text>'."""
    for name, label in (("t1n", "T1 native"), ("t1c", "T1 post-contrast"), ("t2w", "T2"), ("t2f", "T2-FLAIR")):
        parser.add_argument(f"--{name}", help=f"{label} {text}")


def _sampling_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help="built-in model id or model package folder (default: the task's built-in model)")
    parser.add_argument("--steps", type=int, help="denoising steps (default: the model's)")
    parser.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives the same result")
    parser.add_argument("--samples", type=int, default=1, help="number of samples to average (K >= 1)")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    _progress_argument(parser)


# ------------------------------------------------------------------------------------------ commands


def cmd_mri_to_ct(args: argparse.Namespace) -> int:
    from .models import resolve_model
    from .provenance import make_provenance
    from .tasks.checks import require_content
    from .tasks.mri_to_ct import mri_to_ct, require_not_ct
    from .volume import check_output_folder, check_writable, read_volume, write_volume

    dicom = args.output_format == "dicom"
    output = check_output_folder(args.output) if dicom else check_writable(args.output)
    if dicom and output.is_dir() and any(output.iterdir()):
        raise OutputError(f"The DICOM output '{output}' is a folder that already holds files; give a new or empty folder for the CT series.")
    uncertainty = check_writable(args.uncertainty) if args.uncertainty else None
    if uncertainty is not None and (args.samples or 0) < 2:
        raise InputError("--uncertainty needs at least two samples; add --samples 2 or more.")
    mri = read_volume(args.mri, "MR image")
    require_content(mri, f"MR image '{args.mri}'")
    require_not_ct(mri, f"MR image '{args.mri}'")
    model = resolve_model(args.model, "mri-to-ct")
    result = mri_to_ct(mri, model, steps=args.steps, seed=args.seed, samples=args.samples, device=args.device, progress=ProgressPrinter(args.progress))
    record = make_provenance("mri-to-ct", model, result.seed, result.steps, result.samples, {"mri": args.mri})
    if dicom:
        from .dicom_write import reference_header, write_ct_series

        write_ct_series(result.ct, output, record, reference_header(args.mri))
    else:
        write_volume(result.ct, output, record)
    if uncertainty is not None and result.std is not None:
        try:
            write_volume(result.std, uncertainty, {**record, "output": "voxel-wise standard deviation of the samples (HU)"})
        except BaseException:
            if dicom:  # both outputs or neither
                shutil.rmtree(output, ignore_errors=True)
            else:
                output.unlink(missing_ok=True)
            raise
    print(f"wrote {output}" + (f" and {uncertainty}" if uncertainty else ""))
    return 0


def _read_sequences(paths: dict[str, str | None], names: list[str]) -> dict:
    """The named sequence files read and checked (one clear error for a bad one)."""
    from .tasks.checks import require_content
    from .volume import read_volume

    volumes = {}
    for name in names:
        volumes[name] = read_volume(paths[name], f"{name} image")
        require_content(volumes[name], f"{name} image '{paths[name]}'")
    return volumes


def _read_mask(path: str, reference, what: str = "mask"):
    """A mask file; a DICOM-SEG (whose frames cover only the segment, on their own grid) is put onto ``reference``'s grid."""
    from .dicom_read import is_segmentation
    from .geometry import resample_like
    from .volume import read_volume

    mask = read_volume(path, what)
    if is_segmentation(path) and not mask.same_grid(reference):
        mask = resample_like(mask.with_array(mask.array.astype("float32")), reference, "nearest")
    return mask


def _plan_sequences(outputs, names: list[str], samples: int) -> None:
    for name in names:
        outputs.plan(f"{name}.nii.gz")
        if samples > 1:
            outputs.plan(f"{name}_std.nii.gz")


def _add_sequences(outputs, images: dict, std: dict, record: dict) -> None:
    """``<name>.nii.gz`` for each image and ``<name>_std.nii.gz`` for each standard deviation map."""
    for name, volume in images.items():
        outputs.add(f"{name}.nii.gz", volume, {**record, "output": name})
        if name in std:
            outputs.add(f"{name}_std.nii.gz", std[name], {**record, "output": f"{name} voxel-wise standard deviation"})


def cmd_impute(args: argparse.Namespace) -> int:
    from .outputs import OutputSet
    from .pipeline import Pipeline
    from .provenance import make_provenance
    from .sequences import SEQUENCES
    from .tasks.impute import split_inputs

    paths = {name: getattr(args, name) for name in SEQUENCES}
    given, missing = split_inputs(paths)
    outputs = OutputSet(args.output_dir)
    _plan_sequences(outputs, missing, args.samples or 0)
    volumes = _read_sequences(paths, given)
    pipe = Pipeline.from_package(args.model, task="impute", device=args.device)
    result = pipe(volumes, steps=args.steps, seed=args.seed, samples=args.samples, progress=ProgressPrinter(args.progress))
    record = make_provenance("impute", pipe.model, result.seed, result.steps, result.samples, paths, {"grid": f"{result.reference} (the first given input)"})
    _add_sequences(outputs, result.outputs, result.std, record)
    written = outputs.commit()
    print(f"wrote {', '.join(str(p) for p in written)} on the grid of --{result.reference}")
    return 0


def cmd_inpaint(args: argparse.Namespace) -> int:
    from .outputs import OutputSet
    from .pipeline import Pipeline
    from .provenance import make_provenance
    from .sequences import SEQUENCES
    from .tasks.inpaint import check_options, given_sequences

    check_options(args.mode, args.strength)
    paths = {name: getattr(args, name) for name in SEQUENCES}
    given = given_sequences(paths)
    outputs = OutputSet(args.output_dir)
    _plan_sequences(outputs, given, args.samples or 0)
    volumes = _read_sequences(paths, given)
    mask = _read_mask(args.mask, volumes[given[0]])
    labels = None if args.labels is None else _read_mask(args.labels, volumes[given[0]], "labels")
    pipe = Pipeline.from_package(args.model, task="inpaint", device=args.device)
    result = pipe(
        {**volumes, "mask": mask, "labels": labels},
        mode=args.mode,
        strength=args.strength,
        labels_convention=args.labels_convention,
        steps=args.steps,
        seed=args.seed,
        samples=args.samples,
        progress=ProgressPrinter(args.progress),
    )
    extra = {"mode": args.mode, "strength": args.strength, "mask": Path(args.mask).name, "mask_voxels": result.mask_voxels}
    if labels is not None:
        extra.update(labels=Path(args.labels).name, labels_convention=args.labels_convention)
    record = make_provenance("inpaint", pipe.model, result.seed, result.steps, result.samples, paths, extra)
    _add_sequences(outputs, result.outputs, result.std, record)
    written = outputs.commit()
    print(f"wrote {', '.join(str(p) for p in written)} ({args.mode}, {result.mask_voxels} voxels in the mask)")
    return 0


def cmd_forecast(args: argparse.Namespace) -> int:
    from .models import resolve_model
    from .outputs import OutputSet
    from .provenance import make_provenance
    from .sequences import SEQUENCES
    from .tasks.checks import require_content
    from .tasks.forecast import (
        MAX_SAMPLES,
        check_days,
        check_spacing,
        check_tumour_mask,
        day_name,
        forecast,
        given_inputs,
        spacing_warning,
    )
    from .volume import read_volume

    days = check_days(args.days)
    spacing = check_spacing(args.assume_spacing)
    if args.samples > MAX_SAMPLES:
        raise InputError(f"--samples must be at most {MAX_SAMPLES} for a forecast (each sample is one growth simulation).")
    if args.t1c is None:
        raise InputError("Forecasting needs the contrast-enhanced T1 (--t1c): the growth model reads tissue from it.")
    paths = {name: getattr(args, name) for name in SEQUENCES}
    given = [name for name in SEQUENCES if paths[name] is not None]
    outputs = OutputSet(args.output_dir)
    for day in days:
        for name in ["tumour_mask", *given] + (["tumour_probability"] if args.samples > 1 else []):
            outputs.plan(f"{name}_{day_name(day)}.nii.gz")
    volumes = {}
    for name in given:
        volumes[name] = read_volume(paths[name], f"{name} image")
        require_content(volumes[name], f"{name} image '{paths[name]}'")
    mask = _read_mask(args.tumour_mask, given_inputs(volumes)[1], "tumour mask")
    check_tumour_mask(mask, given_inputs(volumes)[1])  # input errors before any model is loaded
    if spacing is None and (warning := spacing_warning(volumes["t1c"], f"T1c image '{paths['t1c']}'")):
        print(f"warning: {warning}", file=sys.stderr, flush=True)
    model = resolve_model(args.model, "forecast")
    inpaint_name = args.inpaint_model or model.config.get("render", {}).get("inpaint_model")
    inpaint_model = resolve_model(inpaint_name, "inpaint")
    result = forecast(
        volumes,
        mask,
        days,
        model,
        inpaint_model,
        samples=args.samples,
        seed=args.seed,
        steps=args.steps,
        device=args.device,
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
        record = make_provenance("forecast", model, args.seed, result.steps, args.samples, inputs, {**extra, "day": day})
        outputs.add(f"tumour_mask_{day_name(day)}.nii.gz", result.masks[day], {**record, "output": "forecast tumour mask"})
        for name, volume in result.images[day].items():
            outputs.add(f"{name}_{day_name(day)}.nii.gz", volume, {**record, "output": f"{name} at the forecast day"})
        if day in result.probability:
            outputs.add(
                f"tumour_probability_{day_name(day)}.nii.gz",
                result.probability[day],
                {**record, "output": f"voxel-wise probability of tumour over {args.samples} parameter draws"},
            )
    written = outputs.commit()
    print(f"wrote {len(written)} files for days {', '.join(map(str, days))} in {args.output_dir}")
    return 0


def cmd_augment(args: argparse.Namespace) -> int:
    from .models import resolve_model
    from .tasks.augment import augment, find_sources
    from .volume import check_output_folder

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


def cmd_prepare_pairs(args: argparse.Namespace) -> int:
    from .registration import prepare_pair
    from .volume import read_volume

    paths = prepare_pair(read_volume(args.mri, "MR image"), read_volume(args.ct, "CT image"), Path(args.output), log=lambda m: print(m, file=sys.stderr))
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0


def cmd_prepare_case(args: argparse.Namespace) -> int:
    from .sequences import SEQUENCES
    from .train.case_folder import prepare_brain_case
    from .volume import read_volume

    images = {name: read_volume(getattr(args, name), f"{name} image") for name in SEQUENCES if getattr(args, name)}
    tumour = read_volume(args.tumour, "tumour segmentation") if args.tumour else None
    brain = read_volume(args.brain_mask, "brain mask") if args.brain_mask else None
    paths = prepare_brain_case(images, Path(args.output), tumour, brain, log=lambda m: print(m, file=sys.stderr))
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from .train.loop import LoopSettings

    folders = [Path(d) for d in args.data]
    for folder in folders:
        if not folder.is_dir():
            raise InputError(f"The training data folder '{folder}' does not exist.")
    if len(folders) > 1 and args.task not in ("impute", "inpaint"):
        raise InputError(f"--task {args.task} trains on one data folder; {len(folders)} were given ({', '.join(args.data)}).")
    data = folders[0]
    from .models.package import check_package_output

    check_package_output(args.output)  # before hours of training, not after
    from .cards import stored_results

    kept = list(stored_results(Path(args.output)).values())  # held-out results of the package being replaced
    settings = LoopSettings(minutes=args.time_budget, max_steps=args.max_steps, seed=args.seed, autoencoder_fraction=args.autoencoder_fraction)

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    if args.task == "mri-to-ct":
        from .train.mri_to_ct import train_mri_to_ct

        path = train_mri_to_ct(
            data,
            Path(args.output),
            preset=args.preset,
            spacing=args.spacing or 2.0,
            patch=tuple(args.patch or (64, 64, 32)),
            batch=args.batch,
            ct_scans=[Path(p) for p in args.ct_data or []],
            holdout_fraction=args.holdout_slab,
            validation_fraction=args.validation_slab,
            synthetic_per_scan=args.synthetic_mr,
            settings=settings,
            refiner_fraction=args.refiner_fraction,
            resume=args.resume,
            scheduler=args.scheduler,
            device=args.device,
            log=log,
        )
    elif args.task in ("impute", "inpaint"):  # the prior packages: one recipe, two tasks
        from .train.impute import train_impute
        from .train.inpaint import train_inpaint

        if args.tumour_weight != 1.0 and args.task != "impute":
            raise InputError(f"--tumour-weight is for --task impute; --task {args.task} was given.")
        trainer = train_impute if args.task == "impute" else train_inpaint
        extra = {"tumour_weight": args.tumour_weight} if args.task == "impute" else {}
        path = trainer(
            folders,
            Path(args.output),
            preset=args.preset,
            spacing=args.spacing or 1.0,
            patch=tuple(args.patch or (64, 64, 64)),
            batch=args.batch,
            exclude=args.exclude_case or [],
            validation_case=args.validation_case,
            settings=settings,
            refiner_fraction=args.refiner_fraction,
            resume=args.resume,
            scheduler=args.scheduler,
            device=args.device,
            log=log,
            **extra,
        )
    elif args.task == "forecast":
        from .train.forecast import train_forecast

        path = train_forecast(data, Path(args.output), exclude=args.exclude_case or [], log=log)
    else:
        raise InputError(f"Training for the task '{args.task}' is not available yet.")
    if int(os.environ.get("RANK", "0")) == 0:
        from .cards import render_card, store_results
        from .train.terms import data_terms, write_terms

        write_terms(path, args.licence, " | ".join(dict.fromkeys(data_terms(folder, args.data_terms) for folder in folders)))
        store_results(path, kept)
        render_card(path)
        print(f"wrote model package {path}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .metrics import evaluate_files

    print(json.dumps(evaluate_files(args.prediction, args.reference, args.mask, args.kind)))
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from .models import builtin_models

    rows = builtin_models()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'id':32s} {'task':12s} {'size':>9s}  card")
    for row in rows:
        print(f"{row['id']:32s} {row['task']:12s} {row['size_bytes'] / 1e6:7.1f} MB  {row['card']}")
    return 0


def cmd_provenance(args: argparse.Namespace) -> int:
    from .volume import read_provenance

    if not Path(args.file).is_file():
        raise InputError(f"'{args.file}' does not exist or is not a file.")
    record = read_provenance(args.file)
    if record is None:
        print(f"'{args.file}' carries no DiffusionSynth provenance record (not marked synthetic by this tool).", file=sys.stderr)
        return 1
    print(json.dumps(record, indent=2))
    return 0


def cmd_audit_memorization(args: argparse.Namespace) -> int:
    """Exit 0 when no output looks like a copy of a training case, 1 when one does."""
    from .audit import load_audit_model, run_audit

    model = load_audit_model(args.model)
    report = run_audit(
        model,
        args.training_data,
        inputs=args.inputs,
        samples=args.samples,
        steps=args.steps,
        threshold=args.threshold,
        reference_cts=args.reference_ct or (),
        device=args.device,
        progress=ProgressPrinter(args.progress),
    )
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.table())
    return 1 if report.flagged else 0


def cmd_serve(args: argparse.Namespace) -> int:
    """The browser front end (``DiffusionSynthWeb``, the ``web`` extra), imported only here."""
    try:
        from DiffusionSynthWeb import missing_requirements
    except ImportError:
        missing = ["DiffusionSynthWeb"]
    else:
        missing = missing_requirements()
    if missing:
        raise InputError(
            f"'diffusionsynth serve' needs the web extra ({', '.join(missing)} not installed); install it with: pip install \"DiffusionSynth[web]\""
        )
    if args.data is not None and not Path(args.data).is_dir():
        raise InputError(f"--data '{args.data}' is not a folder; give the folder that holds the volumes to show.")
    if not 0 <= args.port <= 65535:
        raise InputError(f"--port {args.port} is not a port number (0 to 65535).")
    for folder in args.models_dir or ():
        if not Path(folder).is_dir():
            raise InputError(f"--models-dir '{folder}' is not a folder; give a model package or a folder of packages.")
    from DiffusionSynthWeb.access import new_token, token_problem

    token = args.token or os.environ.get("DIFFUSIONSYNTH_TOKEN") or new_token()
    if token_problem(token):
        raise InputError(token_problem(token))
    from DiffusionSynthWeb.server import serve

    return serve(args.host, args.port, args.data, token=token, models_dirs=args.models_dir or ())


# ------------------------------------------------------------------------------------------ parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="diffusionsynth", description="3D latent diffusion for medical volumes. Outputs are synthetic: not for diagnosis.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")

    p = sub.add_parser("mri-to-ct", help="pseudo-CT in Hounsfield units from a head MRI")
    p.add_argument("--mri", required=True, help="input MR image (NIfTI, NRRD, MHA)")
    p.add_argument("--output", required=True, help="output pseudo-CT file (int16 HU, on the MR's grid)")
    p.add_argument("--uncertainty", help="also write the samples' voxel-wise standard deviation (needs --samples >= 2)")
    p.add_argument(
        "--output-format",
        choices=["nifti", "dicom"],
        default="nifti",
        help="nifti (default; NRRD/MHA by the --output extension) or dicom: --output is a new folder for a CT series beside the MR",
    )
    _sampling_arguments(p)
    p.set_defaults(run=cmd_mri_to_ct, samples=None)
    _samples_help(p, "diffusion samples to average (default: the model's; 0 for prior packages: the deterministic estimate; 2 or more for --uncertainty)")

    p = sub.add_parser("impute", help="synthesise missing MR sequences from any subset of T1n, T1c, T2w, T2-FLAIR")
    _sequence_arguments(p, "image (give at least one; the others are imputed)")
    p.add_argument("--output-dir", required=True, help="folder for <sequence>.nii.gz of each missing sequence")
    _sampling_arguments(p)
    p.set_defaults(run=cmd_impute, samples=None)
    _samples_help(p, "diffusion samples to average, writing <sequence>_std.nii.gz from 2 (default 0: the deterministic posterior-mean estimate)")

    p = sub.add_parser("inpaint", help="remove a lesion to healthy tissue, or add one inside a mask")
    _sequence_arguments(p, "image (give one or more, all on one grid; each is inpainted)")
    p.add_argument("--mask", required=True, help="label map or segmentation on the images' grid; any non-zero voxel is inside")
    p.add_argument("--mode", required=True, choices=["remove", "add"], help="remove: healthy tissue in the mask; add: a tumour in it")
    p.add_argument("--strength", type=float, default=1.0, help="how pronounced the change is, 0-3 (default 1)")
    p.add_argument("--labels", help="add mode: label map of the tumour's sub-regions on the images' grid (default: laid out from the mask in layers)")
    p.add_argument(
        "--labels-convention",
        default="brats2013",
        choices=["brats2013", "brats2017", "brats2023"],
        help="labels of --labels: brats2013 (default; 1 necrosis, 2 oedema, 3 non-enhancing, 4 enhancing), brats2017 (1, 2, 4), brats2023 (3 enhancing)",
    )
    p.add_argument("--output-dir", required=True, help="folder for <sequence>.nii.gz of each given sequence")
    _sampling_arguments(p)
    p.set_defaults(run=cmd_inpaint, samples=None)
    _samples_help(
        p, "diffusion samples to average, writing <sequence>_std.nii.gz from 2 (default: the model's; 0 for prior packages: the deterministic estimate)"
    )

    p = sub.add_parser("forecast", help="tumour growth: the tumour mask and images after N days, from a baseline T1c and its mask")
    _sequence_arguments(p, "baseline image, on the T1c's grid (the T1c is required)")
    p.add_argument("--tumour-mask", required=True, help="baseline tumour segmentation on the T1c's grid; any non-zero voxel is tumour")
    p.add_argument("--days", required=True, nargs="+", help="days after the baseline to forecast, whole numbers from 1 to 3650")
    p.add_argument("--output-dir", required=True, help="folder for tumour_mask_dayNNN, <sequence>_dayNNN (and tumour_probability_dayNNN)")
    p.add_argument("--inpaint-model", help="inpainting model that renders the images (default: the one the forecast model names)")
    p.add_argument(
        "--assume-spacing", nargs=3, metavar=("X", "Y", "Z"), help="voxel size in mm for the physics when the header lost it (outputs stay on the input grid)"
    )
    _sampling_arguments(p)
    p.set_defaults(run=cmd_forecast)

    p = sub.add_parser("augment", help="synthetic training cases: lesions added to healthy scans, with their labels")
    p.add_argument("--input-dir", required=True, help="folder of healthy cases, one sub-folder each with any of t1n/t1c/t2w/t2f.nii.gz")
    p.add_argument("--count", type=int, required=True, help="number of synthetic cases to make")
    p.add_argument("--output-dir", required=True, help="folder for case_NNNN/<sequence>.nii.gz, label.nii.gz and manifest.csv")
    p.add_argument("--model", help="inpainting model: built-in id or package folder (default: the built-in one)")
    p.add_argument("--steps", type=int, help="denoising steps (default: the model's)")
    p.add_argument("--seed", type=int, default=0, help="case i uses seed + i, so each case is reproducible")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    _progress_argument(p)
    p.set_defaults(run=cmd_augment)

    p = sub.add_parser("prepare-pairs", help="register an MR to its CT and write a SynthRAD-style case folder")
    p.add_argument("--mri", required=True)
    p.add_argument("--ct", required=True)
    p.add_argument("--output", required=True, help="case folder to write mr.nii.gz, ct.nii.gz, mask.nii.gz into")
    p.set_defaults(run=cmd_prepare_pairs)

    p = sub.add_parser("prepare-case", help="register a brain case's sequences (DICOM series included) into a training case folder")
    _sequence_arguments(p, "image (a file, or a folder holding one DICOM series); the first given is the grid")
    p.add_argument("--tumour", help="the tumour's segmentation (label map or DICOM-SEG), written as tumour_mask.nii.gz")
    p.add_argument("--brain-mask", help="the brain mask (default: Colin27's brain registered to the first sequence)")
    p.add_argument("--output", required=True, help="case folder to write <sequence>.nii.gz, brain_mask.nii.gz into")
    p.set_defaults(run=cmd_prepare_case)

    p = sub.add_parser("train", help="train a model package on a folder of cases")
    p.add_argument("--task", required=True, choices=["mri-to-ct", "impute", "inpaint", "forecast"])
    p.add_argument("--data", required=True, nargs="+", help="folder of case folders; impute and inpaint take several (for example ../shared/data runs/cases)")
    p.add_argument("--output", required=True, help="model package folder to write")
    p.add_argument("--time-budget", type=float, default=40.0, metavar="MINUTES", help="total training time (default 40)")
    p.add_argument("--max-steps", type=int, help="stop each stage after this many steps (smoke tests)")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint beside --output")
    p.add_argument("--preset", choices=["small", "tiny"], default="small", help="network size")
    p.add_argument("--spacing", type=float, help="isotropic model spacing in mm (default: impute and inpaint 1, mri-to-ct 2)")
    p.add_argument("--patch", type=int, nargs=3, help="training patch in voxels, multiples of 16 (default: impute and inpaint 64 64 64, mri-to-ct 64 64 32)")
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--holdout-slab", type=float, default=0.25, help="mri-to-ct: fraction of each pair's slices (top slab) never read, for the benchmark")
    p.add_argument("--validation-slab", type=float, default=0.2, help="mri-to-ct: fraction of each pair's slices (below the held-out slab) kept for validation")
    p.add_argument("--exclude-case", action="append", help="leave this case folder out (leave-one-out folds); repeatable")
    p.add_argument(
        "--validation-case", help="impute, inpaint: the case kept out for validation and checkpoint selection (default: the last case with the most sequences)"
    )
    p.add_argument(
        "--refiner-fraction",
        type=float,
        default=0.7,
        help="share of the time budget for the regression network; the rest trains the residual diffusion",
    )
    p.add_argument(
        "--ct-data",
        nargs="+",
        help="mri-to-ct: CT scans without an MR (NIfTI files, folders holding ct.nii.gz, DICOM series folders) for the prior's depth statistics",
    )
    p.add_argument(
        "--synthetic-mr",
        type=int,
        default=6,
        help="mri-to-ct: random MR contrasts painted on each --ct-data head to train the network on (0: the real pairs only)",
    )
    p.add_argument(
        "--tumour-weight",
        type=float,
        default=1.0,
        help="impute: weight of the voxels inside a case's tumour segmentation in the network's loss and validation (default 1: no extra weight)",
    )
    p.add_argument("--autoencoder-fraction", type=float, default=0.35, help="share of the time budget for the autoencoder")
    p.add_argument("--scheduler", choices=["RFlowScheduler", "DDIMScheduler"], default="RFlowScheduler")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda; under torchrun each rank takes its LOCAL_RANK GPU")
    p.add_argument("--licence", help="the licence you release the package under (recorded in model.json and the card)")
    p.add_argument("--data-terms", help="the training data's terms (default: read from a licence file or README in --data)")
    p.set_defaults(run=cmd_train)

    p = sub.add_parser("evaluate", help="compare a prediction with a reference; prints one JSON object")
    p.add_argument("--prediction", required=True)
    p.add_argument("--reference", required=True)
    p.add_argument("--mask")
    p.add_argument("--kind", choices=["ct", "mri"], required=True)
    p.set_defaults(run=cmd_evaluate)

    p = sub.add_parser("audit-memorization", help="privacy audit: do outputs copy training subjects? (exit 1 if one is flagged)")
    p.add_argument("--model", required=True, help="built-in model id or model package folder")
    p.add_argument("--training-data", required=True, help="the model's training cases (<case>/ct.nii.gz)")
    p.add_argument("--samples", type=int, default=4, help="outputs per conditioning input, seeds 0..N-1 (default 4)")
    p.add_argument("--inputs", nargs="+", help="conditioning images of people not in the training data (default: Colin27)")
    p.add_argument("--reference-ct", nargs="+", help="extra real CTs of other people, for the inter-subject reference NCC")
    p.add_argument("--threshold", type=float, help="NCC above which an output is a likely copy (default: derived from the data)")
    p.add_argument("--steps", type=int, help="denoising steps (default: the model's)")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    _progress_argument(p)
    p.set_defaults(run=cmd_audit_memorization)

    p = sub.add_parser("models", help="list the built-in models")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_models)

    p = sub.add_parser("provenance", help="print a file's synthetic-data provenance record (exit 1 if none)")
    p.add_argument("file")
    p.set_defaults(run=cmd_provenance)

    p = sub.add_parser("serve", help="the browser front end: views, segment editor and every task (needs the web extra)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this computer only)")
    p.add_argument("--port", type=int, default=8080, help="port to listen on (default 8080)")
    p.add_argument("--data", help="folder of volumes (NIfTI, NRRD, MHA) to load and show at start; *seg*/*mask*/*label* files become segmentations")
    p.add_argument("--token", help="login token (at least 32 of A-Z a-z 0-9 - _; default: $DIFFUSIONSYNTH_TOKEN, else a new random one at every start)")
    p.add_argument("--models-dir", action="append", metavar="DIR", help="a model package, or a folder of them, that the page may offer (repeatable)")
    p.set_defaults(run=cmd_serve)
    return parser


def _samples_help(parser: argparse.ArgumentParser, text: str) -> None:
    for action in parser._actions:
        if action.dest == "samples":
            action.help = text


def _validate_common(args: argparse.Namespace) -> None:
    samples = getattr(args, "samples", 1)
    minimum = 0 if getattr(args, "command", None) in ("mri-to-ct", "impute", "inpaint") else 1
    if samples is not None and samples < minimum:
        raise InputError(f"--samples must be {minimum} or more.")
    steps = getattr(args, "steps", None)
    if steps is not None and not 1 <= steps <= 1000:
        raise InputError("--steps must be between 1 and 1000.")


OUT_OF_MEMORY = ("out of memory", "can't allocate memory")  # CUDA's message; torch's CPU allocator's (a plain RuntimeError)


def _print_error(message: str) -> None:
    """One ``error: ...`` line on stderr, on a line of its own even after a progress bar."""
    if ProgressPrinter.line_open:
        print(file=sys.stderr)
        ProgressPrinter.line_open = False
    print(f"error: {message}", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(Cancelled("Stopped by SIGTERM; nothing was written.")))
    if getattr(args, "progress", None) == "json":  # before the heavy imports, so a front end sees life at once
        print(json.dumps({"progress": 0, "total": 1, "message": "loading", "elapsed_s": 0.0}), file=sys.stderr, flush=True)
    try:
        _validate_common(args)
        return int(args.run(args))
    except DiffusionSynthError as error:
        _print_error(str(error))
        return error.exit_code
    except KeyboardInterrupt:
        _print_error("interrupted; nothing was written.")
        return 130
    except MemoryError:
        _print_error("out of memory; try a smaller volume, --samples 1, or a machine with more memory.")
        return 5
    except RuntimeError as error:  # torch.OutOfMemoryError (CUDA) and torch's CPU allocator failures are RuntimeErrors
        if not any(text in str(error).lower() for text in OUT_OF_MEMORY):
            raise
        _print_error("out of memory (a GPU run has already retried with the smallest tiles); try --samples 1, a smaller volume, or a machine with more memory.")
        return 5


if __name__ == "__main__":
    sys.exit(main())
