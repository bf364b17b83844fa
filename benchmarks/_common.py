"""Shared helpers for the benchmark scripts: where the data is, peak memory, measured child processes, tables, results."""

from __future__ import annotations

import datetime
import json
import os
import platform
import resource
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("DIFFUSIONSYNTH_DATA", REPO.parent / "shared" / "data"))


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}"


def markdown_table(rows: list[dict], columns: list[str]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        cells = []
        for column in columns:
            value = row.get(column, "")
            cells.append(f"{value:.3f}" if isinstance(value, float) else str(value))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


@dataclass
class Measured:
    """One child process: exit status, output, wall time, CPU time (user + system, all threads) and peak RSS."""

    returncode: int
    stdout: str
    stderr: str
    wall_s: float
    cpu_s: float
    peak_rss_mb: float


def run_measured(command: list[str], env: dict[str, str] | None = None) -> Measured:
    """Run ``command`` to its end; its own resource usage from ``wait4`` (output through files, so no pipe can block)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=err, text=True, env=env)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        return Measured(os.waitstatus_to_exitcode(status), out.read(), err.read(), wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024.0)


def utc_now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


# what a benchmark measures besides the code: a retrained package's weights and results (identified by their fingerprint
# in the result), its card, the results themselves, the prose
NOT_CODE = ("DiffusionSynthLib/models/builtin/", "benchmarks/results/", "benchmarks/pictures/")


def changed_code() -> list[str]:
    """Tracked code files that differ from the commit (``NOT_CODE`` and Markdown aside)."""
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    paths = [line[3:].strip() for line in status.splitlines() if line.strip()]
    return [p for p in paths if not p.startswith(NOT_CODE) and not p.endswith(".md")]


def code_version() -> str:
    """The commit measured, and whether its code differed from it (a retrained package's files do not count)."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()
        changed = changed_code()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return commit + (" with uncommitted changes" if changed else "")


def result_envelope(name: str, title: str, command: str, models: dict[str, dict], tables: list[dict], notes: list[str], **extra) -> dict:
    """A benchmark result in the form ``DiffusionSynthLib.cards`` renders into model cards."""
    return {
        "benchmark": name,
        "title": title,
        "command": command,
        "date": utc_now(),
        "code": code_version(),
        "machine": machine_details(),
        "models": models,
        "tables": tables,
        "notes": notes,
        **extra,
    }


def machine_details() -> str:
    """CPU model, cores, memory, GPU or not; and that the numbers are from a possibly shared machine (load average)."""
    model = ""
    try:
        model = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    try:
        memory = next(int(line.split()[1]) for line in open("/proc/meminfo") if line.startswith("MemTotal")) / 1024**2
    except (OSError, StopIteration):
        memory = float("nan")
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    return f"{model or platform.processor() or platform.machine()}, {os.cpu_count()} cores, {memory:.0f} GiB, no GPU used, load average {load}"


def train_fold(task: str, case: str, workdir: Path, minutes: float, data: list[Path] | None = None) -> Path:
    """A leave-one-case-out fold package trained by the project's own command on ``data`` (default ``DATA``; cached,
    resumed when interrupted)."""
    import sys

    output = workdir / f"fold-{case}"
    if (output / "model.json").is_file():
        return output
    folders = [str(d) for d in data or [DATA]]
    command = [sys.executable, "-m", "DiffusionSynthLib.cli", "train", "--task", task, "--data", *folders, "--exclude-case", case]
    command += ["--time-budget", str(minutes), "--output", str(output)]
    if (workdir / f".fold-{case}.training").is_dir():
        command.append("--resume")
    subprocess.run(command, check=True)
    return output


def case_brain(folder: Path, volumes: dict) -> np.ndarray:
    """A benchmark case's brain: its ``brain_mask.nii.gz`` when it has one (as training reads it), else the images'
    foreground (``intensity.brain_mask``: the voxels off the background value, 0 or a z-scored image's constant)."""
    from DiffusionSynthLib.intensity import brain_mask
    from DiffusionSynthLib.volume import read_volume

    if (folder / "brain_mask.nii.gz").is_file():
        return np.asarray(read_volume(folder / "brain_mask.nii.gz").array) > 0
    return brain_mask([volume.array for volume in volumes.values()])


def check_held_out(config: dict, case: str) -> None:
    """Stop unless the package never trained on ``case`` (its training record lists the cases it read, validation aside)."""
    training = config.get("training", {})
    if "cases" not in training:
        raise SystemExit(f"{config['id']} records no training cases: nothing says it never saw {case}.")
    trained = {str(entry).split(" (")[0] for entry in training["cases"]} - {training.get("validation_case")}
    if case in trained:
        raise SystemExit(f"{config['id']} trained on {case}; score it only on cases it never saw (its validation case, or new ones).")


def test_groups(config: dict) -> dict[str, list[str]]:
    """The package's test split as its training recorded it (group -> cases); empty for a package without one."""
    return {str(g): list(names) for g, names in (config.get("training", {}).get("split") or {}).get("test", {}).items()}


def check_test_case(config: dict, case: str) -> None:
    """Stop unless ``case`` is in the package's recorded test split: only such a case was kept from every choice."""
    if case not in {name for names in test_groups(config).values() for name in names}:
        raise SystemExit(f"{config['id']} does not list {case} in its test split; figures called held-out come from its test cases only.")


def high_pass_rms(image: np.ndarray, brain: np.ndarray, sigma: float = 2.0) -> float:
    """Texture: the RMS inside ``brain`` (eroded by 2 voxels) of the image (z-scored inside the brain) minus its Gaussian
    blur at ``sigma`` voxels, the blur computed inside the brain only (``DiffusionSynthLib.texture``)."""
    from DiffusionSynthLib.priors.regression import zscore
    from DiffusionSynthLib.texture import high_pass_rms as rms

    return rms(zscore(image, brain), brain, sigma=sigma)


def write_result(path: str | Path, result: dict) -> None:
    """Write a benchmark result (JSON) to ``path``, making its folder, and say so. A result measured on code that is not
    committed is refused (a shipped figure must be reproducible from a commit); DIFFUSIONSYNTH_ALLOW_DIRTY=1 writes it
    anyway, marked so, for trials."""
    if str(result.get("code", "")).endswith("with uncommitted changes") and os.environ.get("DIFFUSIONSYNTH_ALLOW_DIRTY") != "1":
        raise SystemExit(f"error: not writing {path}: the code measured has uncommitted changes ({', '.join(changed_code()[:5])}); commit, then run again.")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {target}")
