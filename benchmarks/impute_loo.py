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

from _common import (  # noqa: E402
    DATA,
    case_brain,
    check_held_out,
    check_test_case,
    high_pass_rms,
    markdown_table,
    result_envelope,
    test_groups,
    train_fold,
    write_result,
)

METHODS = ("most similar", "quadratic regression", "prior", "prior + network", "prior + network + matching", "prior + network + diffusion")
MEAN_COLUMNS = [
    ["group", "test group"],
    ["given", "given"],
    ["target", "missing"],
    ["method", "method"],
    ["cases", "cases"],
    ["ssim", "SSIM", ".3f"],
    ["beats regression", "SSIM above regression"],
    ["beats most similar", "SSIM above most similar"],
    ["psnr", "PSNR (dB)", ".2f"],
    ["texture", "texture / real", ".2f"],
    ["tumour contrast", "tumour (brain SDs)", ".2f"],
    ["real tumour contrast", "real", ".2f"],
]

CASE_COLUMNS = [
    ["case", "case"],
    ["given", "given"],
    ["target", "missing"],
    ["method", "method"],
    ["ssim", "SSIM", ".3f"],
    ["psnr", "PSNR", ".2f"],
    ["texture", "texture / real", ".2f"],
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


def summarise(rows: list[dict], group: str | None = None) -> list[dict]:
    """Mean over held-out cases per (given, target, method), with the cases where the method's SSIM beats the
    quadratic regression's and the most similar sequence's on the same case (a mean can hide one case where a baseline
    collapses)."""
    summary = []
    baseline = {(r["case"], r["given"], r["target"]): r["ssim"] for r in rows if r["method"] == "quadratic regression"}
    copied = {(r["case"], r["given"], r["target"]): r["ssim"] for r in rows if r["method"] == "most similar"}
    for given_target in sorted({(r["given"], r["target"]) for r in rows}):
        chosen = [r for r in rows if (r["given"], r["target"]) == given_target]
        for method in METHODS:
            scored = [r for r in chosen if r["method"] == method]
            if not scored:
                continue
            entry = {
                **({"group": group} if group else {}),
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
            if method != "most similar":
                wins = sum(r["ssim"] > copied[r["case"], r["given"], r["target"]] for r in scored if (r["case"], r["given"], r["target"]) in copied)
                entry["beats most similar"] = f"{wins} of {len(scored)}"
            if all("texture" in r for r in scored):
                entry["texture"] = float(np.mean([r["texture"] for r in scored]))
            contrasts = [(r["tumour contrast"], r["real tumour contrast"]) for r in scored if r.get("tumour contrast") is not None]
            if contrasts:
                entry["tumour contrast"] = float(np.mean([c[0] for c in contrasts]))
                entry["real tumour contrast"] = float(np.mean([c[1] for c in contrasts]))
            summary.append(entry)
    return summary


def trained_case_names(config: dict) -> list[str]:
    """The cases a package's prior and network learned from (``training.cases``, 'name (t1n+t1c)' entries)."""
    return [str(entry).split(" (")[0] for entry in config.get("training", {}).get("cases", [])]


def baselines_for(cases: list) -> tuple[dict, dict]:
    """The quadratic regression fitted on ``cases`` and, per (given, target), the correlation of each sequence with
    the target on them (the 'most similar' copy takes the best correlated given sequence)."""
    baseline = fit_all({c.name: (c.images, c.brain) for c in cases}, [1.0] * 3, kinds=("quadratic",), log=lambda message: None)
    correlations: dict[tuple[str, str], float] = {}
    for g in SEQUENCES:
        for t in SEQUENCES:
            pairs = [np.corrcoef(c.images[g][c.brain], c.images[t][c.brain])[0, 1] for c in cases if g in c.images and t in c.images and g != t]
            if pairs:
                correlations[g, t] = float(np.mean(pairs))
    return baseline, correlations


def summary_by_group(rows: list[dict]) -> list[dict]:
    """``summarise`` for each test group in turn (rows without a group: one summary)."""
    return [entry for group in dict.fromkeys(r.get("group") for r in rows) for entry in summarise([r for r in rows if r.get("group") == group], group)]


def rows_from_logs(logs: list[str], package_name: str | None, output: str | None) -> None:
    """The result of runs of ``package_name`` from the rows their logs hold (one JSON object a line), complete cases only."""
    if package_name is None:
        raise SystemExit("error: --rows-from needs --package (the package the runs measured).")
    package = resolve_model(package_name, "impute")
    rows = [json.loads(line) for log in logs for line in Path(log).read_text().splitlines() if line.startswith('{"case"')]
    rows = list({(r["case"], r["given"], r["target"], r["method"]): r for r in reversed(rows)}.values())[::-1]  # a row scored twice: the first
    complete = []
    for case in dict.fromkeys(r["case"] for r in rows):
        scored = {(r["given"], r["target"]) for r in rows if r["case"] == case}
        available = [s for s in SEQUENCES if any(s in (r["target"], *r["given"].split("+")) for r in rows if r["case"] == case)]
        if scored == {("+".join(g), t) for g, t in configurations(available)}:
            complete.append(case)
    rows = [r for r in rows if r["case"] in complete]
    summary = summary_by_group(rows)
    print(markdown_table(summary, [c[0] for c in MEAN_COLUMNS]))
    stopped = sorted({r["case"] for r in rows} ^ set(complete))
    result = result_envelope(
        "impute-heldout",
        f"Imputation by {package_name} on its test split (cases no choice saw)",
        f"python benchmarks/impute_loo.py --package {package_name} --rows-from {' '.join(logs)}",
        {package.id: fingerprint(package.config)},
        [{"title": "Mean over test cases, per group", "columns": MEAN_COLUMNS, "rows": summary}, {"title": "Each case", "columns": CASE_COLUMNS, "rows": rows}],
        [
            f"The package {package_name}, on the test cases its training recorded (never read by training; no choice made on them), "
            f"{len(complete)} cases whose every configuration the runs finished" + (f" (left out, unfinished: {', '.join(stopped)})" if stopped else "") + "; "
            "both baselines refitted on the package's own training cases. Texture: high-pass RMS (image minus its Gaussian blur at 2 voxels, "
            "brain-z units) relative to the real image's."
        ],
    )
    if output:
        write_result(output, result)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fold-minutes", type=float, default=10.0)
    parser.add_argument("--samples", type=int, default=4, help="diffusion samples averaged for the last method (0 skips it)")
    parser.add_argument("--steps", type=int)
    parser.add_argument("--workdir", default="runs/impute-loo")
    parser.add_argument("--cases", nargs="+", help="cases to score (default: every case; with --package, its recorded test split)")
    parser.add_argument("--data", nargs="+", type=Path, default=[DATA], help="data folders, as train --data takes them (default: the shared data)")
    parser.add_argument(
        "--package", help="score this package (built-in id or folder) on its recorded test split (or --cases from it), instead of training folds"
    )
    parser.add_argument("--no-ablation", action="store_true", help="skip the prior alone and prior + network rows (each a whole imputation more)")
    parser.add_argument(
        "--prior-rows",
        action="store_true",
        help="with --no-ablation: still score the prior alone (no network pass: cheap), to check the default never falls below it",
    )
    parser.add_argument("--sample-cases", type=int, help="draw the diffusion samples on the first N scored cases only (each sample is a whole imputation more)")
    parser.add_argument("--json", help="write the result here, in the form the model card renderer reads")
    parser.add_argument(
        "--rows-from",
        nargs="+",
        metavar="LOG",
        help="build the result (into --json) from the rows that runs of --package printed (their logs), keeping only the cases whose every "
        "configuration is there: a run stopped before its end still counts for the cases it finished",
    )
    args = parser.parse_args()
    if args.rows_from:
        rows_from_logs(args.rows_from, args.package, args.json)
        return
    folders = {p.name: p for p in find_cases(args.data, minimum=2)}
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    rows, models = [], {}
    fixed = resolve_model(args.package, "impute") if args.package else None
    groups = test_groups(fixed.config) if fixed is not None else {}
    group_of = {case: group for group, names in groups.items() for case in names}
    chosen = args.cases or ([c for c in group_of if c in folders] if fixed is not None else sorted(folders))
    missing = [c for c in (args.cases or group_of) if c not in folders]
    if missing:
        print(f"not found in the data folders, not scored: {', '.join(missing)}", file=sys.stderr)
    shared = None
    if fixed is not None:  # the baselines refitted once on the package's own training cases
        trained = set(trained_case_names(fixed.config))
        others = load_brain_cases(args.data, [1.0] * 3, exclude=[n for n in folders if n not in trained], minimum=2, log=lambda m: None, crop=True)
        shared = baselines_for(others)
    for case in chosen:
        folder = folders[case]
        package = fixed if fixed is not None else resolve_model(str(train_fold("impute", case, workdir, args.fold_minutes, args.data)), "impute")
        if fixed is not None:
            check_test_case(package.config, case)
        else:
            check_held_out(package.config, case)
        models[package.id] = fingerprint(package.config)
        unmatched = dataclasses.replace(package, config={k: v for k, v in package.config.items() if k != "calibration"})
        prior_only = unmatched.without("refiner")
        if shared is None:
            others = load_brain_cases(args.data, [1.0, 1.0, 1.0], exclude=[case], minimum=2, log=lambda message: None, crop=True)
            baseline, correlations = baselines_for(others)
        else:
            baseline, correlations = shared
        volumes = {s: read_volume(folder / f"{s}.nii.gz") for s in SEQUENCES if (folder / f"{s}.nii.gz").is_file()}
        brain = case_brain(folder, volumes)
        tumour_file = next((folder / f for f in TUMOUR_FILES if (folder / f).is_file()), None)
        tumour = (read_volume(tumour_file).array > 0) & brain if tumour_file else None
        z = {s: zscore(v.array, brain) for s, v in volumes.items()}
        for given, target in configurations(list(volumes)):
            inputs = {s: volumes[s] for s in given}
            similar = max(given, key=lambda g: correlations.get((g, target), -1.0))
            predictions = {
                "most similar": z[similar],
                "quadratic regression": predict(z, given, brain, baseline["fits"][subset_key(given, target)], [1.0] * 3),
            }
            if not args.no_ablation or args.prior_rows:
                predictions["prior"] = impute(inputs, prior_only, samples=0).outputs[target].array
            if not args.no_ablation:
                has_network = "refiner" in package.networks  # a prior-only fold (--fold-minutes 0) has none: the same output
                predictions["prior + network"] = impute(inputs, unmatched, samples=0).outputs[target].array if has_network else predictions["prior"]
            predictions["prior + network + matching"] = impute(inputs, package, samples=0).outputs[target].array
            sampled = args.sample_cases is None or chosen.index(case) < args.sample_cases
            if args.samples > 0 and sampled and {"autoencoder", "unet"} <= set(package.networks):
                predictions["prior + network + diffusion"] = impute(inputs, package, samples=args.samples, steps=args.steps).outputs[target].array
            truth = volumes[target].array.astype(np.float32)
            real_texture = high_pass_rms(truth, brain)
            for method, prediction in predictions.items():
                scores = mri_metrics(truth, prediction, brain)
                row = {"case": case, "given": "+".join(given), "target": target, "method": method, **{k: round(float(v), 4) for k, v in scores.items()}}
                row["texture"] = round(high_pass_rms(prediction, brain) / real_texture, 4)
                if case in group_of:
                    row["group"] = group_of[case]
                if target == "t2f":
                    row["tumour contrast"] = tumour_contrast(prediction, tumour, brain)
                    row["real tumour contrast"] = tumour_contrast(truth, tumour, brain)
                rows.append(row)
                print(json.dumps(row), flush=True)
    summary = summary_by_group(rows)
    print(
        markdown_table(
            summary,
            [
                "group",
                "given",
                "target",
                "method",
                "cases",
                "ssim",
                "beats regression",
                "beats most similar",
                "psnr",
                "texture",
                "tumour contrast",
                "real tumour contrast",
            ],
        )
    )
    if args.json:
        command = "python benchmarks/impute_loo.py " + " ".join(sys.argv[1:])
        result = result_envelope(
            "impute-heldout" if args.package else "impute-loo",
            f"Imputation by {args.package} on its test split (cases no choice saw)" if args.package else "Leave-one-case-out imputation (every brain case)",
            command,
            models,
            [
                {
                    "title": "Mean over test cases, per group" if args.package else "Mean over held-out cases",
                    "columns": MEAN_COLUMNS,
                    "rows": summary,
                },
                {
                    "title": "Each case",
                    "columns": CASE_COLUMNS,
                    "rows": rows,
                },
            ],
            [
                f"The package {args.package}, on the test cases its training recorded (never read by training; no choice made on them); "
                "both baselines refitted on the package's own training cases. Texture: high-pass RMS (image minus its Gaussian blur at 2 voxels, "
                "brain-z units) relative to the real image's."
                if args.package
                else f"Fold packages trained {args.fold_minutes:g} min each by the train command on every other case; the built-in package is trained on all but its validation case, so these figures describe the recipe, not its weights."
            ],
        )
        write_result(args.json, result)


if __name__ == "__main__":
    main()
