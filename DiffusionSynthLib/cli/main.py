"""``main``: parse, check the options every command shares, run the command, turn a user's mistake into one line."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Sequence

from ..errors import Cancelled, DiffusionSynthError, InputError
from .common import ProgressPrinter
from .parser import build_parser


def _validate_common(args: argparse.Namespace) -> None:
    if hasattr(args, "seed") and args.command in ("mri-to-ct", "impute", "inpaint", "forecast"):
        args.seed_given = args.seed is not None
        args.seed = 0 if args.seed is None else args.seed
    samples = getattr(args, "samples", 1)
    minimum = 0 if getattr(args, "command", None) in ("mri-to-ct", "impute", "inpaint") else 1
    if samples is not None and samples < minimum:
        raise InputError(f"--samples must be {minimum} or more.")
    steps = getattr(args, "steps", None)
    if steps is not None and not 1 <= steps <= 1000:
        raise InputError("--steps must be between 1 and 1000.")


OUT_OF_MEMORY = ("out of memory", "can't allocate memory")  # CUDA's message; torch's CPU allocator's (a plain RuntimeError)
# each diffusion sample holds its own latents and decoded volume: fewer samples, or none (--samples 0, the deterministic
# estimate of prior packages), need less memory, never more
MEMORY_ADVICE = "try fewer diffusion samples (--samples 0, the deterministic estimate, needs the least), a smaller volume, or a machine with more memory."


def _print_error(message: str) -> None:
    """One ``error: ...`` line on stderr, on a line of its own even after a progress bar."""
    if ProgressPrinter.line_open:
        print(file=sys.stderr)
        ProgressPrinter.line_open = False
    print(f"error: {message}", file=sys.stderr, flush=True)


def _one_line_notices(as_json: bool = False) -> None:
    """The library's notices as one line each on stderr: a non-commercial package loaded (``note:``, once per run), a
    DICOM series resampled onto a regular grid (``WARNING:``); one JSON object each under ``--progress json``."""
    import warnings

    def show(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001 - warnings' signature
        level = {"NonCommercialWeights": "note", "ResampledSeries": "warning"}.get(category.__name__)  # not imported here: torch
        if level is not None:
            text = json.dumps({level: str(message)}) if as_json else f"{'WARNING' if level == 'warning' else level}: {message}"
            print(text, file=sys.stderr, flush=True)
        else:
            print(warnings.formatwarning(message, category, filename, lineno, line).rstrip(), file=sys.stderr, flush=True)

    warnings.showwarning = show
    warnings.filterwarnings("once", message=".*is for non-commercial research only")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _one_line_notices(getattr(args, "progress", None) == "json")
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
        _print_error(f"out of memory; {MEMORY_ADVICE}")
        return 5
    except RuntimeError as error:  # torch.OutOfMemoryError (CUDA) and torch's CPU allocator failures are RuntimeErrors
        if not any(text in str(error).lower() for text in OUT_OF_MEMORY):
            raise
        _print_error(f"out of memory (a GPU run has already retried with the smallest tiles); {MEMORY_ADVICE}")
        return 5
