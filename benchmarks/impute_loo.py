"""Imputation by leave-one-case-out over every brain case: prior, prior + network, + diffusion, beside the baselines.

For each held-out case a fold package is trained by the project's own command on all the other
cases (``diffusionsynth train --task impute --data DATA --exclude-case CASE --time-budget M``;
cached in ``--workdir``, resumed when interrupted; ``--fold-minutes 0`` gives the prior alone).
Scored configurations: a four-sequence case loses each sequence in turn (the other three given);
a two-sequence case (FLAIR and T1c) is imputed in both directions. Methods, all on the held-out
case's own grid, scored by ``mri_metrics`` (BraSyn normalisation, inside the brain):
- most similar sequence: the given sequence best correlated with the target on the other cases;
- quadratic regression: per-voxel quadratic regression from the given sequences, fitted on all the
  other cases (the issue's baseline);
- prior: the fold package's own regression alone (feature set chosen on its validation case);
- prior + network: the prior plus the regression network's correction (where training kept it);
- prior + network + matching: the package's default, deterministic output: the above with its quantiles in
  the brain matched to the training cases' where training kept that (``priors/quantile_matching.py``);
- prior + network + diffusion: the mean of ``--samples`` residual samples, matched as the default (when the fold
  has diffusion).
For FLAIR targets of cases with a tumour segmentation the tumour's contrast (its mean in brain SDs
above the brain's mean) is reported for the truth and each method.

Usage: python benchmarks/impute_loo.py [--fold-minutes 10] [--samples 4] [--data ../shared/data runs/cases]
       [--json benchmarks/results/impute_loo.json]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from DiffusionSynthLib.cards import fingerprint  # noqa: E402
from DiffusionSynthLib.metrics import mri_metrics  # noqa: E402
from DiffusionSynthLib.models import resolve_model  # noqa: E402
from DiffusionSynthLib.priors.regression import fit_all, predict, subset_key, zscore  # noqa: E402
from DiffusionSynthLib.sequences import SEQUENCES  # noqa: E402
from DiffusionSynthLib.tasks.impute import impute  # noqa: E402
from DiffusionSynthLib.train.brain_cases import TUMOUR_FILES, find_cases, load_brain_cases  # noqa: E402
from DiffusionSynthLib.volume import read_volume  # noqa: E402

from _common import DATA, case_brain, check_held_out, markdown_table, result_envelope, train_fold, write_result  # noqa: E402

METHODS = ("most similar", "quadratic regression", "prior", "prior + network", "prior + network + matching", "prior + network + diffusion")
MEAN_COLUMNS = [
    ["given", "given"],
    ["target", "missing"],
    ["method", "method"],
    ["cases", "cases"],
    ["ssim", "SSIM", ".3f"],
    ["beats regression", "SSIM above regression"],
    ["psnr", "PSNR (dB)", ".2f"],
    ["tumour contrast", "tumour (brain SDs)", ".2f"],
    ["real tumour contrast", "real", ".2f"],
]


def configurations(available: list[str]) -> list[tuple[list[str], str]]:
    """(given, target) pairs scored for a case with these sequences: each one missing in turn (the others given)."""
    if len(available) < 2:
        return []
    return [([s for s in available if s != target], target) for target in available]


def tumour_contrast(image: np.ndarray, tumour: np.ndarray | None, brain: np.ndarray) -> float | None:
    """The tumour's mean in brain SDs above the brain's mean (the image z-scored inside the brain): the same for
    methods that answer in z units and in scanner units, and for cases stored z-scored (BraTS 2013)."""
    if tumour is None or not tumour.any():
        return None
    return float(zscore(image, brain)[tumour].mean())


def summarise(rows: list[dict]) -> list[dict]:
    """Mean over held-out cases per (given, target, method), with the cases where the method's SSIM beats the
    quadratic regression's on the same case (a mean can hide one case where the baseline collapses)."""
    summary = []
    baseline = {(r["case"], r["given"], r["target"]): r["ssim"] for r in rows if r["method"] == "quadratic regression"}
    for given_target in sorted({(r["given"], r["target"]) for r in rows}):
        chosen = [r for r in rows if (r["given"], r["target"]) == given_target]
        for method in METHODS:
            scored = [r for r in chosen if r["method"] == method]
            if not scored:
                continue
            entry = {
                "given": given_target[0],
                "target": given_target[1],
                "method": method,
                "cases": len(scored),
                "ssim": float(np.mean([r["ssim"] for r in scored])),
                "psnr": float(np.mean([r["psnr"] for r in scored])),
            }
            if method != "quadratic regression":
                wins = sum(r["ssim"] > baseline[r["case"], r["given"], r["target"]] for r in scored if (r["case"], r["given"], r["target"]) in baseline)
                entry["beats regression"] = f"{wins} of {len(scored)}"
            contrasts = [(r["tumour contrast"], r["real tumour contrast"]) for r in scored if r.get("tumour contrast") is not None]
            if contrasts:
                entry["tumour contrast"] = float(np.mean([c[0] for c in contrasts]))
                entry["real tumour contrast"] = float(np.mean([c[1] for c in contrasts]))
            summary.append(entry)
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fold-minutes", type=float, default=10.0)
    parser.add_argument("--samples", type=int, default=4, help="diffusion samples averaged for the last method (0 skips it)")
    parser.add_argument("--steps", type=int)
    parser.add_argument("--workdir", default="runs/impute-loo")
    parser.add_argument("--cases", nargs="+", help="folds to run (default: every case)")
    parser.add_argument("--data", nargs="+", type=Path, default=[DATA], help="data folders, as train --data takes them (default: the shared data)")
    parser.add_argument("--package", help="score this package (built-in id or folder) on --cases it never trained on, instead of training folds")
    parser.add_argument("--json", help="write the result here, in the form the model card renderer reads")
    args = parser.parse_args()
    folders = {p.name: p for p in find_cases(args.data, minimum=2)}
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    rows, models = [], {}
    for case in args.cases or sorted(folders):
        folder = folders[case]
        package = resolve_model(args.package or str(train_fold("impute", case, workdir, args.fold_minutes, args.data)), "impute")
        check_held_out(package.config, case)
        models[package.id] = fingerprint(package.config)
        unmatched = dataclasses.replace(package, config={k: v for k, v in package.config.items() if k != "calibration"})
        prior_only = dataclasses.replace(unmatched, networks={k: v for k, v in package.networks.items() if k != "refiner"})
        others = load_brain_cases(args.data, [1.0, 1.0, 1.0], exclude=[case], minimum=2, log=lambda message: None)
        baseline = fit_all({c.name: (c.images, c.brain) for c in others}, [1.0] * 3, kinds=("quadratic",), log=lambda message: None)
        volumes = {s: read_volume(folder / f"{s}.nii.gz") for s in SEQUENCES if (folder / f"{s}.nii.gz").is_file()}
        brain = case_brain(folder, volumes)
        tumour_file = next((folder / f for f in TUMOUR_FILES if (folder / f).is_file()), None)
        tumour = (read_volume(tumour_file).array > 0) & brain if tumour_file else None
        z = {s: zscore(v.array, brain) for s, v in volumes.items()}
        for given, target in configurations(list(volumes)):
            inputs = {s: volumes[s] for s in given}
            correlations = {
                g: np.mean([np.corrcoef(c.images[g][c.brain], c.images[target][c.brain])[0, 1] for c in others if g in c.images and target in c.images])
                for g in given
            }
            similar = max(given, key=lambda g: correlations[g])
            predictions = {
                "most similar": z[similar],
                "quadratic regression": predict(z, given, brain, baseline["fits"][subset_key(given, target)], [1.0] * 3),
                "prior": impute(inputs, prior_only, samples=0).outputs[target].array,
            }
            has_network = "refiner" in package.networks  # a prior-only fold (--fold-minutes 0) has none: the same output
            predictions["prior + network"] = impute(inputs, unmatched, samples=0).outputs[target].array if has_network else predictions["prior"]
            predictions["prior + network + matching"] = impute(inputs, package, samples=0).outputs[target].array
            if args.samples > 0 and {"autoencoder", "unet"} <= set(package.networks):
                predictions["prior + network + diffusion"] = impute(inputs, package, samples=args.samples, steps=args.steps).outputs[target].array
            truth = volumes[target].array.astype(np.float32)
            for method, prediction in predictions.items():
                scores = mri_metrics(truth, prediction, brain)
                row = {"case": case, "given": "+".join(given), "target": target, "method": method, **{k: round(float(v), 4) for k, v in scores.items()}}
                if target == "t2f":
                    row["tumour contrast"] = tumour_contrast(prediction, tumour, brain)
                    row["real tumour contrast"] = tumour_contrast(truth, tumour, brain)
                rows.append(row)
                print(json.dumps(row), flush=True)
    summary = summarise(rows)
    print(markdown_table(summary, ["given", "target", "method", "cases", "ssim", "beats regression", "psnr", "tumour contrast", "real tumour contrast"]))
    if args.json:
        command = "python benchmarks/impute_loo.py " + " ".join(sys.argv[1:])
        result = result_envelope(
            "impute-heldout" if args.package else "impute-loo",
            f"Imputation by {args.package} on cases it never saw" if args.package else "Leave-one-case-out imputation (every brain case)",
            command,
            models,
            [
                {
                    "title": "Mean over held-out cases",
                    "columns": MEAN_COLUMNS,
                    "rows": summary,
                },
                {
                    "title": "Each case",
                    "columns": [
                        ["case", "case"],
                        ["given", "given"],
                        ["target", "missing"],
                        ["method", "method"],
                        ["ssim", "SSIM", ".3f"],
                        ["psnr", "PSNR", ".2f"],
                        ["tumour contrast", "tumour (brain SDs)", ".2f"],
                        ["real tumour contrast", "real", ".2f"],
                    ],
                    "rows": rows,
                },
            ],
            [
                f"The package {args.package}, on cases it never trained on."
                if args.package
                else f"Fold packages trained {args.fold_minutes:g} min each by the train command on every other case; the built-in package is trained on all but its validation case, so these figures describe the recipe, not its weights."
            ],
        )
        write_result(args.json, result)


if __name__ == "__main__":
    main()
