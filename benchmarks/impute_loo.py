"""Imputation quality by leave-one-case-out on the real brain tumour cases, beside two baselines.

For each case: a model is trained with the same recipe on the other cases under a fixed budget
(``diffusionsynth train --task impute --exclude-case CASE --time-budget MINUTES``; cached in
``--workdir`` so an interrupted run resumes), then each single missing sequence is imputed from
the other three and scored with ``mri_metrics`` (BraSyn normalisation, inside the brain). In the
same run, two baselines fitted on the training cases only:
- most similar sequence: the available sequence best correlated with the missing one on the
  training cases, z-scored inside the brain;
- linear regression: the missing sequence as a per-voxel linear function of the available ones
  (z-scored), least squares over the training cases' brain voxels.

Usage: python benchmarks/impute_loo.py [--fold-minutes 15] [--steps 20] [--workdir runs/impute-loo]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from DiffusionSynthLib.metrics import mri_metrics  # noqa: E402
from DiffusionSynthLib.models import load_model  # noqa: E402
from DiffusionSynthLib.sequences import SEQUENCES  # noqa: E402
from DiffusionSynthLib.tasks.impute import impute  # noqa: E402
from DiffusionSynthLib.volume import read_volume  # noqa: E402

from _common import DATA, machine, markdown_table  # noqa: E402

BRAIN = DATA / "brain_tumour_mri"


def zscore(array: np.ndarray, mask: np.ndarray) -> np.ndarray:
    values = array[mask]
    return np.where(mask, (array - values.mean()) / max(values.std(), 1e-6), 0.0)


def load_case(case: str) -> tuple[dict, np.ndarray]:
    volumes = {s: read_volume(BRAIN / case / f"{s}.nii.gz") for s in SEQUENCES}
    mask = np.zeros(volumes["t1n"].shape, bool)
    for volume in volumes.values():
        mask |= volume.array != 0
    return volumes, mask


def fit_baselines(train_cases: list[str], missing: str, given: list[str]) -> tuple[str, np.ndarray]:
    """(most similar available sequence, regression weights over [given z-scores, 1])."""
    correlations = {g: [] for g in given}
    rows, targets = [], []
    for case in train_cases:
        volumes, mask = load_case(case)
        z = {s: zscore(volumes[s].array.astype(np.float32), mask)[mask] for s in SEQUENCES}
        for g in given:
            correlations[g].append(np.corrcoef(z[g], z[missing])[0, 1])
        rows.append(np.stack([z[g] for g in given] + [np.ones_like(z[missing])], axis=1)[::7])
        targets.append(z[missing][::7])
    best = max(given, key=lambda g: np.mean(correlations[g]))
    weights, *_ = np.linalg.lstsq(np.concatenate(rows), np.concatenate(targets), rcond=None)
    return best, weights


def train_fold(case: str, workdir: Path, minutes: float, spacing: float) -> Path:
    output = workdir / f"fold-{case}"
    if (output / "model.json").is_file():
        return output
    command = [
        sys.executable,
        "-m",
        "DiffusionSynthLib.cli",
        "train",
        "--task",
        "impute",
        "--data",
        str(BRAIN),
        "--exclude-case",
        case,
        "--time-budget",
        str(minutes),
        "--spacing",
        str(spacing),
        "--output",
        str(output),
    ]
    if (workdir / f".fold-{case}.training" / "checkpoint.pt").is_file():
        command.append("--resume")
    subprocess.run(command, check=True)
    return output


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fold-minutes", type=float, default=15.0)
    parser.add_argument("--spacing", type=float, default=2.0)
    parser.add_argument("--steps", type=int)
    parser.add_argument("--workdir", default="runs/impute-loo")
    parser.add_argument("--cases", nargs="+", help="folds to run (default: every case)")
    args = parser.parse_args()
    cases = sorted(p.name for p in BRAIN.iterdir() if (p / "t1n.nii.gz").is_file())
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    rows = []
    for case in args.cases or cases:
        model = load_model(train_fold(case, workdir, args.fold_minutes, args.spacing), "impute")
        train_cases = [c for c in cases if c != case]
        volumes, mask = load_case(case)
        for missing in SEQUENCES:
            given = [s for s in SEQUENCES if s != missing]
            truth = volumes[missing].array.astype(np.float32)
            result = impute({s: (volumes[s] if s in given else None) for s in SEQUENCES}, model, steps=args.steps, seed=0)
            best, weights = fit_baselines(train_cases, missing, given)
            z = [zscore(volumes[g].array.astype(np.float32), mask) for g in given]
            regression = np.where(mask, sum(w * zi for w, zi in zip(weights[:-1], z)) + weights[-1], 0.0)
            candidates = {"DiffusionSynth": result.outputs[missing].array, f"most similar ({best})": z[given.index(best)], "linear regression": regression}
            for method, prediction in candidates.items():
                values = mri_metrics(truth, prediction, mask)
                rows.append(
                    {"case": case, "missing": missing, "method": method.split(" (")[0], "detail": method, **{k: round(v, 4) for k, v in values.items()}}
                )
                print(json.dumps(rows[-1]), flush=True)
    print(f"\n# Imputation, leave-one-case-out ({args.fold_minutes} min per fold, spacing {args.spacing} mm); {machine()}\n")
    print(markdown_table(rows, ["case", "missing", "detail", "ssim", "psnr", "mae"]))
    print("\nMeans over folds and sequences:")
    for method in ("DiffusionSynth", "most similar", "linear regression"):
        chosen = [r for r in rows if r["method"] == method]
        print(
            f"- {method}: SSIM {np.mean([r['ssim'] for r in chosen]):.4f}, PSNR {np.mean([r['psnr'] for r in chosen]):.2f} dB, MAE {np.mean([r['mae'] for r in chosen]):.4f}"
        )


if __name__ == "__main__":
    main()
