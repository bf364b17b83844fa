"""Choose the removal's contralateral shares on the validation cases (never on test cases).

For each validation case of the package's recorded split with four sequences and expert labels, the test protocol's
voided healthy sphere (``inpaint_test.healthy_sphere``, on the tumour's side) is removed with the contralateral detail
left out and with all of it (``tasks.inpaint_prior.CONTRALATERAL_SHARE``); the deterministic removal at each share is
the first plus that share of the difference (the detail is added after the network, so the output is linear in it).
One sample (``--samples 1``, seeds 0 and 1) is drawn at each share (the diffusion is conditioned on the estimate, so
each share is its own run), with the whole diffusion residual and with half of it (``SAMPLE_RESIDUAL_SHARE``; none of it
is the deterministic estimate at that share). Printed per sequence: SSIM inside the sphere and texture relative to the
real tissue's at each share, averaged over the cases (and seeds); the deterministic share with the best SSIM
(``CONTRALATERAL_SHARE``) and the samples' share and residual share (``SAMPLE_CONTRALATERAL_SHARE``,
``SAMPLE_RESIDUAL_SHARE``, ``sample_choice``): the most residual at which some share gives a sample texture 0.7-1.4 of
real at an SSIM within 0.03 of the harmonic fill's (the issue's realism bar), and the least such share; if none does,
the whole residual and the most share within that SSIM margin, else the deterministic share.
Usage: python benchmarks/inpaint_contralateral.py --package inpaint-brats-demo --data ../shared/data runs/brats2018 runs/cases
       [--json benchmarks/results/inpaint_contralateral.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from inpaint_test import healthy_sphere  # noqa: E402

from DiffusionSynthLib.cards import fingerprint  # noqa: E402
from DiffusionSynthLib.metrics import inpaint_metrics  # noqa: E402
from DiffusionSynthLib.models import resolve_model  # noqa: E402
from DiffusionSynthLib.priors.glioma import to_brats2013  # noqa: E402
from DiffusionSynthLib.priors.harmonic import harmonic_fill  # noqa: E402
from DiffusionSynthLib.priors.regression import zscore  # noqa: E402
from DiffusionSynthLib.sequences import SEQUENCES  # noqa: E402
from DiffusionSynthLib.tasks import inpaint_prior  # noqa: E402
from DiffusionSynthLib.tasks.inpaint import inpaint  # noqa: E402
from DiffusionSynthLib.texture import high_pass_rms  # noqa: E402
from DiffusionSynthLib.train.brain_cases import EXPERT_LABELS, find_cases  # noqa: E402
from DiffusionSynthLib.volume import read_volume  # noqa: E402

from _common import DATA, case_brain, result_envelope, test_groups, write_result  # noqa: E402

SHARES = (0.0, 0.25, 0.5, 0.75, 1.0)
SEEDS = (0, 1)
RESIDUAL_SHARES = (1.0, 0.5, 0.0)  # of the diffusion residual in a sample, most preferred first (0: the deterministic estimate)
DRAWN_RESIDUALS = tuple(r for r in RESIDUAL_SHARES if r)  # those that need samples drawn
SAMPLE_SSIM_MARGIN = 0.03  # a sample's SSIM at most this far below the harmonic fill's (the bar)
MIN_TEXTURE, MAX_TEXTURE = 0.7, 1.4  # the realism bar for a sample's texture


def removal(volumes: dict, mask, model, share: float, samples: int = 0, seed: int = 0, residual: float = 1.0) -> dict[str, np.ndarray]:
    """``inpaint --mode remove`` with every sequence's contralateral share set to ``share`` (for the deterministic
    estimate and for samples alike) and its samples' residual share to ``residual``."""
    tables = (inpaint_prior.CONTRALATERAL_SHARE, inpaint_prior.SAMPLE_CONTRALATERAL_SHARE, inpaint_prior.SAMPLE_RESIDUAL_SHARE)
    saved = [dict(table) for table in tables]
    try:
        for table, value in zip(tables, (share, share, residual)):
            table.update({name: value for name in SEQUENCES})
        result = inpaint(volumes, mask, "remove", model, samples=samples, seed=seed)
        return {s: v.array.astype(np.float32) for s, v in result.outputs.items()}
    finally:
        for table, before in zip(tables, saved):
            table.clear()
            table.update(before)


def sample_keys(share: float, residual: float) -> tuple[str, str]:
    """The row's (SSIM, texture) keys of one sample at ``share`` with ``residual`` of the diffusion residual."""
    if residual == 0.0:
        return f"ssim {share:g}", f"texture {share:g}"
    tail = "" if residual == 1.0 else f" residual {residual:g}"
    return f"sample ssim {share:g}{tail}", f"sample texture {share:g}{tail}"


def sample_choice(row: dict) -> tuple[float, float]:
    """The samples' (contralateral share, residual share): the most residual at which some share reaches the realism
    floor (texture ``MIN_TEXTURE`` of real, at most ``MAX_TEXTURE``) with an SSIM within the margin of the harmonic
    fill's, and the least such share; else the whole residual and the largest share within the margin (the most
    texture it allows); else the deterministic share."""

    def within(share: float, residual: float) -> bool:
        return row[sample_keys(share, residual)[0]] >= row["harmonic ssim"] - SAMPLE_SSIM_MARGIN

    for residual in RESIDUAL_SHARES:
        realistic = [share for share in SHARES if within(share, residual) and MIN_TEXTURE <= row[sample_keys(share, residual)[1]] <= MAX_TEXTURE]
        if realistic:
            return min(realistic), residual
    margin = [share for share in SHARES if within(share, 1.0)]
    return (max(margin) if margin else row["chosen share"]), 1.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--package", required=True)
    parser.add_argument("--data", nargs="+", type=Path, default=[DATA])
    parser.add_argument("--json")
    args = parser.parse_args()
    model = resolve_model(args.package, "inpaint")
    test = {c for names in test_groups(model.config).values() for c in names}
    validation = [c for c in model.config["training"].get("validation_cases", []) if c not in test]
    folders = {p.name: p for p in find_cases(args.data, minimum=2)}
    rows = []
    for case in validation:
        folder = folders.get(case)
        if folder is None or not (folder / EXPERT_LABELS).is_file() or not all((folder / f"{s}.nii.gz").is_file() for s in SEQUENCES):
            print(f"{case}: not four sequences with expert labels, skipped", file=sys.stderr)
            continue
        volumes = {s: read_volume(folder / f"{s}.nii.gz") for s in SEQUENCES}
        first = volumes["t1n"]
        brain = case_brain(folder, volumes)
        labels = to_brats2013(np.rint(read_volume(folder / EXPERT_LABELS).array).astype(int), "brats2013") * brain
        hole = healthy_sphere(brain, labels > 0, np.asarray(first.spacing, float), mirror=False)
        voided = {s: v.with_array(np.where(hole, 0, v.array).astype(v.array.dtype)) for s, v in volumes.items()}
        mask = first.with_array(hole.astype(np.uint8))
        without, whole = removal(voided, mask, model, 0.0), removal(voided, mask, model, 1.0)
        drawn = {(share, seed, r): removal(voided, mask, model, share, 1, seed, r) for share in SHARES for seed in SEEDS for r in DRAWN_RESIDUALS}
        for s in SEQUENCES:
            truth = zscore(volumes[s].array.astype(np.float32), brain)
            real = high_pass_rms(truth, brain, hole)
            harmonic = harmonic_fill(np.where(hole, 0.0, truth).astype(np.float32), hole, brain | hole)
            row = {"case": case, "sequence": s, "harmonic ssim": inpaint_metrics(truth, harmonic, hole, brain)["ssim"]}
            for share in SHARES:
                image = zscore(without[s] + share * (whole[s] - without[s]), brain)
                row[f"ssim {share:g}"] = inpaint_metrics(truth, image, hole, brain)["ssim"]
                row[f"texture {share:g}"] = high_pass_rms(image, brain, hole) / real
                for residual in DRAWN_RESIDUALS:
                    samples = [zscore(drawn[share, seed, residual][s], brain) for seed in SEEDS]
                    ssim_key, texture_key = sample_keys(share, residual)
                    row[ssim_key] = float(np.mean([inpaint_metrics(truth, image, hole, brain)["ssim"] for image in samples]))
                    row[texture_key] = float(np.mean([high_pass_rms(image, brain, hole) / real for image in samples]))
            rows.append(row)
            print(json.dumps(row), flush=True)
    keys = [k for k in rows[0] if k not in ("case", "sequence")] if rows else []
    summary = [
        {"sequence": s, "cases": sum(r["sequence"] == s for r in rows), **{k: float(np.mean([r[k] for r in rows if r["sequence"] == s])) for k in keys}}
        for s in SEQUENCES
    ]
    for row in summary:
        row["chosen share"] = max(SHARES, key=lambda share: row[f"ssim {share:g}"])
        row["sample share"], row["residual share"] = sample_choice(row)
    columns = [("sequence", "sequence"), ("cases", "cases"), ("harmonic ssim", "harmonic SSIM", ".3f")]
    columns += [(f"ssim {share:g}", f"SSIM {share:g}", ".3f") for share in SHARES] + [(f"texture {share:g}", f"texture {share:g}", ".2f") for share in SHARES]
    columns += [("chosen share", "chosen share", "g")]
    table = {"title": "Contralateral share of the deterministic estimate on the validation cases (mean over cases)", "columns": columns, "rows": summary}
    sample_tables = []
    for residual in DRAWN_RESIDUALS:
        sample_columns = [("sequence", "sequence"), ("cases", "cases"), ("harmonic ssim", "harmonic SSIM", ".3f")]
        sample_columns += [(sample_keys(share, residual)[0], f"SSIM {share:g}", ".3f") for share in SHARES]
        sample_columns += [(sample_keys(share, residual)[1], f"texture {share:g}", ".2f") for share in SHARES]
        sample_columns += [("sample share", "chosen share", "g"), ("residual share", "chosen residual", "g")]
        whose = "the whole diffusion residual" if residual == 1.0 else f"{residual:g} of the diffusion residual"
        sample_tables.append(
            {
                "title": f"Contralateral share of one sample with {whose} on the validation cases (mean over cases and seeds {', '.join(map(str, SEEDS))})",
                "columns": sample_columns,
                "rows": summary,
            }
        )
    for row in summary:
        print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}))
    if args.json:
        result = result_envelope(
            "inpaint-contralateral",
            "Inpainting: the removal's contralateral shares chosen on the validation cases",
            "python benchmarks/inpaint_contralateral.py " + " ".join(sys.argv[1:]),
            {model.id: fingerprint(model.config)},
            [table, *sample_tables],
            [f"Validation cases of the package's split: {', '.join(sorted({r['case'] for r in rows}))}; no test case is read."],
        )
        write_result(args.json, result)


if __name__ == "__main__":
    main()
