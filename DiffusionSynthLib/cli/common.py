"""What the commands share: the progress printer, argument groups, reading inputs and writing output sets."""

from __future__ import annotations

import argparse
import json
import sys
import time


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


def overwrite_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="accept an output folder that already holds files: this run's files replace theirs, and this command's earlier outputs it does not write again are removed",
    )


def progress_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--progress", choices=["bar", "json", "none"], default="bar", help="progress on stderr (default: bar)")


def sequence_arguments(parser: argparse.ArgumentParser, text: str) -> None:
    """``--t1n``, ``--t1c``, ``--t2w``, ``--t2f``, each described as '<sequence> <text>'."""
    for name, label in (("t1n", "T1 native"), ("t1c", "T1 post-contrast"), ("t2w", "T2"), ("t2f", "T2-FLAIR")):
        parser.add_argument(f"--{name}", help=f"{label} {text}")


def sampling_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help="built-in model id or model package folder (default: the task's built-in model)")
    parser.add_argument("--steps", type=int, help="denoising steps of each diffusion sample (default: the model's); no effect without a sample")
    parser.add_argument(
        "--seed", type=int, help="random seed of the diffusion samples (default 0); the same seed gives the same result; no effect without a sample"
    )
    parser.add_argument("--samples", type=int, default=1, help="number of samples to average (K >= 1)")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    progress_argument(parser)


def read_sequences(paths: dict[str, str | None], names: list[str]) -> dict:
    """The named sequence files read and checked (one clear error for a bad one)."""
    from ..tasks.checks import require_content
    from ..volume import read_volume

    volumes = {}
    for name in names:
        volumes[name] = read_volume(paths[name], f"{name} image")
        require_content(volumes[name], f"{name} image '{paths[name]}'")
    return volumes


def read_mask(path: str, reference, what: str = "mask"):
    """A mask file; a DICOM-SEG (whose frames cover only the segment, on their own grid) is put onto ``reference``'s grid."""
    from ..dicom_read import is_segmentation
    from ..geometry import resample_like
    from ..volume import read_volume

    mask = read_volume(path, what)
    if is_segmentation(path) and not mask.same_grid(reference):
        mask = resample_like(mask.with_array(mask.array.astype("float32")), reference, "nearest")
    return mask


def plan_sequences(outputs, names: list[str], samples: int) -> None:
    for name in names:
        outputs.plan(f"{name}.nii.gz")
        if samples > 1:
            outputs.plan(f"{name}_std.nii.gz")


def add_sequences(outputs, images: dict, std: dict, record: dict) -> None:
    """``<name>.nii.gz`` for each image and ``<name>_std.nii.gz`` for each standard deviation map."""
    for name, volume in images.items():
        outputs.add(f"{name}.nii.gz", volume, {**record, "output": name})
        if name in std:
            outputs.add(f"{name}_std.nii.gz", std[name], {**record, "output": f"{name} voxel-wise standard deviation"})


def samples_help(parser: argparse.ArgumentParser, text: str) -> None:
    for action in parser._actions:
        if action.dest == "samples":
            action.help = text


def notify(args: argparse.Namespace, level: str, text: str) -> None:
    """A ``note`` or ``warning`` on stderr: ``level: text``, or one JSON object ``{"level": text}`` under
    ``--progress json`` (whose stderr stays one JSON object per line)."""
    line = json.dumps({level: text}) if getattr(args, "progress", None) == "json" else f"{level.upper() if level == 'warning' else level}: {text}"
    print(line, file=sys.stderr, flush=True)


def notice_unused_sampling(args: argparse.Namespace, samples_drawn: int, seed_used: bool = False) -> None:
    """One line when --steps or --seed was given but no diffusion sample was drawn: they changed nothing (``seed_used``:
    the seed picked something else, an added tumour's layout)."""
    seed = None if seed_used else getattr(args, "seed_given", None)
    given = [flag for flag, value in (("--steps", getattr(args, "steps", None)), ("--seed", seed)) if value]
    if given and samples_drawn == 0:
        notify(
            args,
            "note",
            f"{' and '.join(given)} only shape diffusion samples; none was drawn (--samples 0, the model's default), "
            "so the output is the deterministic estimate and they had no effect.",
        )
