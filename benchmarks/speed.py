"""Speed and memory of every task against the alternatives, all measured in one run, nothing extrapolated.

Each measurement is a child process of its own (its peak RSS is its own), on the same inputs:
- ours: the whole task function (``mri_to_ct``, ``impute``, ``inpaint``, ``forecast``: resampling,
  masks, the package's sampler with its default steps, tiled decoding, back to the input grid),
  timed after the inputs and the model are loaded; for a prior package one residual sample
  (``samples=1``: its default, 0, draws none);
- stock: the same task with its sampling done by MONAI's ``LatentDiffusionInferer`` on the same
  networks, with the package's own scheduler, the same steps, noise and conditioning, one untiled
  decode (``_stock.py``); its outputs are compared voxel for voxel with ours;
- regression: what a user would run instead, a plain MONAI ``BasicUNet`` about as large as the
  package's networks, one forward pass in image space (``_regression.py``; random weights: time and
  memory only);
- prior: a prior package's deterministic estimate (``samples=0``: prior + network, no diffusion; ``_priors.py``).
Tiling: ours with the CPU tile preset and with tiling off, on a volume whose latent is larger than
the preset (peak memory of each, and how far the two outputs differ). End to end: the whole
``diffusionsynth`` command in a child process (imports, reading, writing), with its wall time, CPU
time (user + system, all threads: steadier than wall time on a shared machine) and peak RSS.

Each run of a task is the first in a fresh process (one-time set-up of the CPU kernels included, as a
command-line user gets it), so small inputs are dominated by it.

Usage: python benchmarks/speed.py [--tasks mri-to-ct impute inpaint forecast] [--sizes 181x217x181 ...]
         [--methods ours stock regression prior] [--steps N] [--threads T] [--tiling-task mri-to-ct]
         [--tiling-size 144] [--tiling-steps 1] [--no-tiling] [--no-cli] [--json PATH]
The default (MRI->CT and imputation at 181x217x181, the tiling comparison, the two commands) takes
about 10 minutes on 2 shared cores; all four tasks about twice that.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _priors import prior_available  # noqa: E402

from _common import markdown_table, result_envelope, run_measured  # noqa: E402
from _speed_inputs import BRAIN_CASE, COLIN, MODEL_TASK, TASKS, cli_arguments, output_arrays, task_inputs, task_runner  # noqa: E402

METHODS = ("ours", "stock", "regression", "prior")
EQUAL_WITHIN = 1e-3  # of the output's range: stock and ours "equal" when no voxel differs by more
METHOD_COLUMNS = [
    ["task", "task"],
    ["input", "input"],
    ["method", "method"],
    ["steps", "steps"],
    ["wall_s", "wall (s)", ".1f"],
    ["cpu_s", "CPU (s)", ".1f"],
    ["peak_rss_mb", "peak RSS (MB)", ".0f"],
    ["vs_ours", "max abs. difference from ours"],
    ["note", "note"],
]
WARM_COLUMNS = [["warm_wall_s", "warm wall (s)", ".1f"], ["warm_cpu_s", "warm CPU (s)", ".1f"]]
TILING_COLUMNS = [
    ["task", "task"],
    ["input", "input"],
    ["latent", "latent"],
    ["tiles", "tiles"],
    ["steps", "steps"],
    ["wall_s", "wall (s)", ".1f"],
    ["cpu_s", "CPU (s)", ".1f"],
    ["peak_rss_mb", "peak RSS (MB)", ".0f"],
    ["vs_tiled", "max abs. difference from tiled"],
]
CLI_COLUMNS = [
    ["task", "task"],
    ["input", "input"],
    ["exit", "exit"],
    ["wall_s", "wall (s)", ".1f"],
    ["cpu_s", "CPU (s)", ".1f"],
    ["peak_rss_mb", "peak RSS (MB)", ".0f"],
]


def parse_shape(text: str) -> tuple[int, int, int]:
    parts = [int(p) for p in text.split("x")]
    return tuple(parts * 3) if len(parts) == 1 else tuple(parts)  # type: ignore[return-value]


def shape_name(shape) -> str:
    return "x".join(map(str, shape))


# ------------------------------------------------------------------------------ in the child process


def record_tiling() -> list[dict]:
    """Every distinct (latent size, tile) our engine tiles over, recorded as the run goes."""
    import DiffusionSynthLib.engine.latent as latent

    original, seen = latent.tiled, []

    def tiled(function, tensor, tile, overlap=0.25):
        spatial = list(tensor.shape[2:])
        entry = {"latent": spatial, "tile": list(tile) if tile else None, "tiled": bool(tile) and any(s > t for s, t in zip(spatial, tile))}
        if entry not in seen:
            seen.append(entry)
        return original(function, tensor, tile, overlap)

    latent.tiled = tiled
    return seen


def worker(method: str, task: str, shape, spacing: float | None, steps: int | None, untiled: bool, threads: int, save: str, repeats: int = 1) -> dict:
    """Load, then run the task ``repeats`` times by ``method``; the first run's outputs saved to ``save`` (.npz) for comparison.

    The first run is cold (one-time set-up of the CPU kernels included, as a command-line user gets
    it); the best of the others, when there are others, is the warm figure.
    """
    import torch

    from DiffusionSynthLib.models import resolve_model

    torch.set_num_threads(threads)
    inputs = task_inputs(task, shape, spacing)
    model = resolve_model(None, task)
    renderer = resolve_model(model.config.get("render", {}).get("inpaint_model"), "inpaint") if task == "forecast" else None
    sampler = renderer or model
    if untiled:
        sampler.config.setdefault("inference", {})["tiles"] = {}
    extra: dict = {}
    if method == "stock":
        from _stock import use_stock_sampler

        use_stock_sampler()
    elif method == "regression":
        from _regression import STATS, use_regression_network

        use_regression_network(sampler)
        extra = STATS
    tiling = record_tiling()
    # the sampler is what ours, stock and regression compare: a prior package draws one residual sample for them
    # (its default, samples 0, is the prior method's row and the end-to-end command's)
    samples = 0 if method == "prior" else 1 if task != "forecast" and "prior" in model.config else None
    run = task_runner(task, inputs, model, steps, samples, renderer)
    last: list = []
    times = []
    for repeat in range(repeats):
        if method == "regression":
            extra.update(build_s=0.0, build_cpu_s=0.0)
        started, cpu = time.perf_counter(), time.process_time()
        result = run(lambda step, total, message: last.append((step, total)))
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        # a network built, not loaded, is excluded like our loading
        times.append((seconds - extra.get("build_s", 0.0), cpu - extra.get("build_cpu_s", 0.0)))
        if repeat == 0:
            np.savez(save, **output_arrays(result))
    warm = {"warm_seconds": min(t[0] for t in times[1:]), "warm_cpu_s": min(t[1] for t in times[1:])} if repeats > 1 else {}
    return {
        "seconds": times[0][0],
        "cpu_s": times[0][1],
        **warm,
        "steps": getattr(result, "steps", None),
        "progress_end": list(last[-1]) if last else None,
        "tiling": tiling,
        **extra,
    }


# ------------------------------------------------------------------------------ in the parent


def measure(method: str, task: str, shape, args, save: Path, spacing: float | None = None, steps: int | None = None, untiled: bool = False) -> dict:
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        method,
        "--tasks",
        task,
        "--shape",
        shape_name(shape),
        "--threads",
        str(args.threads),
        "--save",
        str(save),
    ]
    command += (["--spacing", str(spacing)] if spacing else []) + (["--steps", str(steps)] if steps else []) + (["--untiled"] if untiled else [])
    command += ["--repeats", str(1 if spacing else args.repeats)]  # the tiling comparison runs once
    child = run_measured(command)
    if child.returncode != 0:
        lines = child.stderr.strip().splitlines()
        return {"error": lines[-1] if lines else f"exit status {child.returncode}", "peak_rss_mb": child.peak_rss_mb}
    return {**json.loads(child.stdout.strip().splitlines()[-1]), "peak_rss_mb": child.peak_rss_mb}


def difference(reference: Path, other: Path) -> dict:
    """Largest absolute voxel difference over the outputs both runs returned, and as a fraction of the reference's range."""
    worst, relative, compared = 0.0, 0.0, 0
    with np.load(reference) as a, np.load(other) as b:
        for key in a.files:
            if key in b.files and a[key].shape == b[key].shape:
                x, y = a[key].astype(np.float64), b[key].astype(np.float64)
                gap = float(np.max(np.abs(x - y))) if x.size else 0.0
                worst, relative = max(worst, gap), max(relative, gap / max(float(np.ptp(x)) if x.size else 0.0, 1e-12))
                compared += 1
    return {"max_abs": worst, "max_rel": relative, "arrays": compared}


def method_row(task: str, model_id: str, shape, method: str, child: dict, versus: dict | None) -> dict:
    steps = {"regression": "1 pass", "prior": "0"}.get(method, child.get("steps"))
    row = {
        "model": model_id,
        "task": task,
        "input": shape_name(shape),
        "method": method,
        "steps": steps,
        "wall_s": child.get("seconds", float("nan")),
        "cpu_s": child.get("cpu_s", float("nan")),
        "peak_rss_mb": child["peak_rss_mb"],
    }
    if "warm_seconds" in child:
        row.update(warm_wall_s=child["warm_seconds"], warm_cpu_s=child["warm_cpu_s"])
    row["vs_ours"] = "-" if versus is None else f"{versus['max_abs']:.4g} ({100 * versus['max_rel']:.3g}% of range)"
    notes = {
        "ours": "",
        "stock": "MONAI LatentDiffusionInferer, same scheduler and steps",
        "prior": "samples 0: the deterministic estimate (prior + network), no diffusion",
        "regression": f"BasicUNet, {child.get('parameters', 0) / 1e6:.2f} M parameters (ours {child.get('target_parameters', 0) / 1e6:.2f} M), "
        "one pass, random weights",
    }
    row["note"] = child["error"] if "error" in child else notes[method]
    if method == "stock" and versus is not None:
        row["stock_equal"] = versus["max_rel"] <= EQUAL_WITHIN
        row["note"] += "; outputs equal to ours" if row["stock_equal"] else "; outputs differ from ours"
        if task == "inpaint" and not row["stock_equal"]:
            row["note"] += " (the inferer has no RePaint re-injection of the known region, which ours runs with four sequences)"
    if child.get("tiling"):
        row["tiled"] = any(entry["tiled"] for entry in child["tiling"])
    return row


def compare_methods(task: str, shape, args, model, folder: Path) -> list[dict]:
    rows, saved = [], {}
    for method in args.methods:
        if task == "forecast" and method in ("stock", "regression"):  # no sampler runs: nothing for them to replace
            note = "not measured: the forecast renders its images with the inpainting's deterministic estimate, so no sampler runs"
            rows.append({"model": model.id, "task": task, "input": shape_name(shape), "method": method, "note": note})
            continue
        if method == "prior" and prior_available(task, model) is None:
            rows.append({"model": model.id, "task": task, "input": shape_name(shape), "method": "prior", "note": "no prior for this task's package"})
            continue
        saved[method] = folder / f"{task}-{shape_name(shape)}-{method}.npz"
        child = measure(method, task, shape, args, saved[method], steps=args.steps)
        comparable = method in ("stock", "prior") and "ours" in saved and saved[method].is_file()  # the regression's weights are random
        versus = difference(saved["ours"], saved[method]) if comparable else None
        rows.append(method_row(task, model.id, shape, method, child, versus))
        print(json.dumps({**rows[-1], "detail": child}), flush=True)
    return rows


def compare_tiling(args, model, folder: Path) -> list[dict]:
    """Ours with the CPU tile preset and with tiling off, where the latent exceeds the preset."""
    shape, rows = parse_shape(args.tiling_size), []
    tiled_path = folder / "tiling-tiled.npz"
    for untiled in (False, True):
        save = folder / ("tiling-untiled.npz" if untiled else "tiling-tiled.npz")
        child = measure("ours", args.tiling_task, shape, args, save, spacing=args.tiling_spacing, steps=args.tiling_steps, untiled=untiled)
        tiling = child.get("tiling", [])
        denoise = tiling[0] if tiling else {}
        row = {
            "model": model.id,
            "task": args.tiling_task,
            "input": f"{shape_name(shape)} at {args.tiling_spacing:g} mm",
            "steps": child.get("steps"),
            "latent": shape_name(denoise.get("latent", [])),
            "tiles": "off" if untiled else f"{shape_name(denoise.get('tile') or [])} latent",
            "tiled": any(entry["tiled"] for entry in tiling),
            "wall_s": child.get("seconds", float("nan")),
            "cpu_s": child.get("cpu_s", float("nan")),
            "peak_rss_mb": child["peak_rss_mb"],
            "error": child.get("error"),
        }
        versus = difference(tiled_path, save) if untiled and tiled_path.is_file() and save.is_file() else None
        row["vs_tiled"] = "-" if versus is None else f"{versus['max_abs']:.4g} ({100 * versus['max_rel']:.3g}% of range)"
        rows.append(row)
        print(json.dumps({**row, "detail": child}), flush=True)
    return rows


def end_to_end(task: str, shape, args, model, folder: Path) -> dict:
    """The whole command line in a child process: imports, reading, the task, writing."""
    workdir = folder / f"cli-{task}"
    workdir.mkdir()
    argv = cli_arguments(task, task_inputs(task, shape), workdir)
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads)}
    child = run_measured([sys.executable, "-m", "DiffusionSynthLib.cli", *argv], env=env)
    row = {
        "model": model.id,
        "task": task,
        "input": shape_name(shape),
        "exit": child.returncode,
        "wall_s": child.wall_s,
        "cpu_s": child.cpu_s,
        "peak_rss_mb": child.peak_rss_mb,
        "command": "diffusionsynth " + " ".join(argv),
    }
    if child.returncode != 0:
        row["error"] = child.stderr.strip().splitlines()[-1:]
    print(json.dumps(row), flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", choices=TASKS, default=["mri-to-ct", "impute"])
    parser.add_argument("--sizes", nargs="+", default=["181x217x181"], help="input sizes at 1 mm (N or XxYxZ)")
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument("--steps", type=int, help="denoising steps for ours and stock (default: the model's)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch threads per measurement (default: every core)")
    parser.add_argument("--tiling-task", choices=TASKS, default="mri-to-ct")
    parser.add_argument("--tiling-spacing", type=float, default=2.0, help="mm; the input is resampled to this first")
    parser.add_argument("--tiling-size", default="144", help="input size at --tiling-spacing; its latent must exceed the CPU tile preset")
    parser.add_argument("--tiling-steps", type=int, default=1, help="steps of the tiling comparison (peak memory does not depend on them)")
    parser.add_argument("--repeats", type=int, default=1, help="runs per method and size: the first is cold, the best of the others warm")
    parser.add_argument("--no-tiling", action="store_true")
    parser.add_argument("--no-cli", action="store_true")
    parser.add_argument("--json", help="write the result here (the form DiffusionSynthLib.cards renders into model cards)")
    parser.add_argument("--worker", choices=METHODS, help=argparse.SUPPRESS)
    parser.add_argument("--shape", help=argparse.SUPPRESS)
    parser.add_argument("--spacing", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--untiled", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--save", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        shape = parse_shape(args.shape)
        print(json.dumps(worker(args.worker, args.tasks[0], shape, args.spacing, args.steps, args.untiled, args.threads, args.save, args.repeats)))
        return
    missing = [str(path) for path in (COLIN, BRAIN_CASE) if not path.exists()]
    if missing:
        sys.exit(f"error: the benchmark's inputs are missing: {', '.join(missing)} (Debian's mricron-data; the real data, $DIFFUSIONSYNTH_DATA)")

    from DiffusionSynthLib.cards import fingerprint
    from DiffusionSynthLib.models import resolve_model

    started = time.perf_counter()
    models = {task: resolve_model(None, task) for task in {*args.tasks, args.tiling_task}}
    used = {model.id: fingerprint(model.config) for model in models.values()}
    if "forecast" in models:
        renderer = resolve_model(models["forecast"].config.get("render", {}).get("inpaint_model"), MODEL_TASK["forecast"])
        used[renderer.id] = fingerprint(renderer.config)
    methods, tiling, cli = [], [], []
    with tempfile.TemporaryDirectory(prefix="speed-") as tmp:
        folder = Path(tmp)
        for task in args.tasks:
            for size in args.sizes:
                methods += compare_methods(task, parse_shape(size), args, models[task], folder)
        if not args.no_tiling:
            tiling = compare_tiling(args, models[args.tiling_task], folder)
        if not args.no_cli:
            cli = [end_to_end(task, parse_shape(args.sizes[-1]), args, models[task], folder) for task in args.tasks]
    command = "python benchmarks/speed.py " + " ".join(sys.argv[1:])
    notes = [
        f"CPU, {args.threads} torch thread(s) per measurement; each measurement a child process, its peak RSS its own. CPU time is "
        "user + system over all threads: on a shared machine it moves far less with the load than wall time.",
        f"Stock and ours are called equal when no output voxel differs by more than {100 * EQUAL_WITHIN:g}% of the output's range.",
        f"Whole run: {time.perf_counter() - started:.0f} s.",
    ]
    columns = METHOD_COLUMNS if args.repeats == 1 else METHOD_COLUMNS[:6] + WARM_COLUMNS + METHOD_COLUMNS[6:]
    title = "Each method on the same input (the task function timed after loading; cold: the first run in a fresh process"
    title += ")" if args.repeats == 1 else f"; warm: the best of {args.repeats - 1} more)"
    tables = [{"title": title, "columns": columns, "rows": methods, "filter": "model"}]
    if tiling:
        tables.append(
            {
                "title": "Peak memory with and without tiles, on a volume whose latent exceeds the CPU tile preset",
                "columns": TILING_COLUMNS,
                "rows": tiling,
                "filter": "model",
            }
        )
    if cli:
        tables.append(
            {"title": "End to end: the whole command (imports, reading, writing) in a child process", "columns": CLI_COLUMNS, "rows": cli, "filter": "model"}
        )
    result = result_envelope("speed", "Speed and memory (CPU), measured", command, used, tables, notes, threads=args.threads)
    for table in tables:
        print(f"\n## {table['title']}\n")
        print(markdown_table(table["rows"], [column[0] for column in table["columns"]]))
    print("\n" + " ".join(notes) + f"\nMachine: {result['machine']}; {result['date']}.")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
