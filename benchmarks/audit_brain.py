"""Memorisation audit of a brain model (imputation or inpainting): do its outputs copy a training case?

As ``diffusionsynth audit-memorization`` does for pseudo-CTs, with MR normalisation. The input is
the skull-stripped Colin27 T1 (Debian's mricron-data ``ch2bet``, a person in no training set),
alone; seeds 0..N-1, each output one diffusion sample (``--samples-per-output``, default 1: the
generative part is what could copy) or the deterministic estimate (0).
- impute: each imputed sequence against every training case's same sequence;
- inpaint: ``remove`` and ``add`` in a 20 mm sphere of the brain, the sphere's content against the
  same region of every training case's T1n.
Images are scaled by their 0.5-99.5 brain percentiles and resampled onto a 2 mm cube of 128 voxels
centred on the brain's centre of mass; NCC over the union of both brains (inpainting: over the
sphere). An output is flagged when its NCC with the nearest training case exceeds the threshold:
halfway between the highest NCC of two different training subjects (same sequence, same region) and 1.

Usage: python benchmarks/audit_brain.py [--model impute-brats-demo] [--seeds 3] [--data DIR ...] [--json benchmarks/results/audit_impute.json]
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from DiffusionSynthLib.audit import GRID_SIZE, GRID_SPACING_MM, ncc  # noqa: E402
from DiffusionSynthLib.cards import fingerprint  # noqa: E402
from DiffusionSynthLib.geometry import resample  # noqa: E402
from DiffusionSynthLib.models import resolve_model  # noqa: E402
from DiffusionSynthLib.sequences import SEQUENCES  # noqa: E402
from DiffusionSynthLib.tasks.impute import impute  # noqa: E402
from DiffusionSynthLib.tasks.inpaint import inpaint  # noqa: E402
from DiffusionSynthLib.train.brain_cases import find_cases  # noqa: E402
from DiffusionSynthLib.volume import Volume, read_volume  # noqa: E402

from _common import DATA, result_envelope, write_result  # noqa: E402

COLIN_BRAIN = Path("/usr/share/mricron/templates/ch2bet.nii.gz")
SPHERE_MM = 20.0
SPHERE_OFFSET_MM = (25.0, 10.0, 10.0)  # from the brain's centre of mass: right hemisphere, white matter and cortex


def cube(volume: Volume, brain: np.ndarray) -> np.ndarray:
    """The 2 mm cube's ijk->RAS, centred on the brain's centre of mass."""
    centre = (volume.ijk_to_ras @ np.append(np.argwhere(brain).mean(axis=0), 1.0))[:3]
    matrix = np.diag([GRID_SPACING_MM] * 3 + [1.0])
    matrix[:3, 3] = centre - GRID_SPACING_MM * (GRID_SIZE - 1) / 2
    return matrix


def centre_brain(volume: Volume, brain: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(scaled image, brain mask) on the common cube centred on the brain's centre of mass."""
    brain = volume.array != 0 if brain is None else brain
    lo, hi = np.percentile(volume.array[brain], [0.5, 99.5])
    scaled = volume.with_array(np.where(brain, np.clip((volume.array - lo) / max(hi - lo, 1e-6), 0, 1), 0).astype(np.float32))
    matrix = cube(volume, brain)
    image = resample(scaled, (GRID_SIZE,) * 3, matrix).array
    mask = resample(volume.with_array(brain.astype(np.float32)), (GRID_SIZE,) * 3, matrix, "nearest").array > 0.5
    return image, mask


def sphere_on_cube() -> np.ndarray:
    grid = (np.indices((GRID_SIZE,) * 3) - (GRID_SIZE - 1) / 2) * GRID_SPACING_MM
    return sum((grid[i] - SPHERE_OFFSET_MM[i]) ** 2 for i in range(3)) <= SPHERE_MM**2


def sphere_on(volume: Volume, brain: np.ndarray) -> np.ndarray:
    """The audit sphere on ``volume``'s own grid (the same place in the brain as on the cube)."""
    centre = (volume.ijk_to_ras @ np.append(np.argwhere(brain).mean(axis=0), 1.0))[:3] + np.asarray(SPHERE_OFFSET_MM)
    ijk = np.indices(volume.shape).reshape(3, -1)
    ras = (volume.ijk_to_ras[:3, :3] @ ijk + volume.ijk_to_ras[:3, 3:]).T
    return (np.linalg.norm(ras - centre, axis=1) <= SPHERE_MM).reshape(volume.shape) & brain


def training_cases(data: list[Path], names: set[str] | None = None) -> dict[str, dict[str, Volume]]:
    """The brain cases' sequences in the data folders (case name -> sequence -> volume, brain zeroed outside); only
    ``names`` where given (the cases a package learned from: its test cases are not what it could copy)."""
    out = {}
    for folder in find_cases(data, minimum=1):
        if names is not None and folder.name not in names:
            continue
        volumes = {s: read_volume(folder / f"{s}.nii.gz") for s in SEQUENCES if (folder / f"{s}.nii.gz").is_file()}
        if (folder / "brain_mask.nii.gz").is_file():
            brain = read_volume(folder / "brain_mask.nii.gz").array > 0
            volumes = {s: v.with_array(np.where(brain, v.array, 0).astype(np.float32)) for s, v in volumes.items()}
        out[folder.name] = volumes
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="impute-brats-demo")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--samples-per-output", type=int, default=1, help="diffusion samples per output (0: the deterministic estimate)")
    parser.add_argument("--steps", type=int)
    parser.add_argument("--data", nargs="+", type=Path, default=[DATA], help="data folders, as train --data takes them (default: the shared data)")
    parser.add_argument("--json", help="write the result here, in the form the model card renderer reads")
    args = parser.parse_args()
    model = resolve_model(args.model, None)
    if model.task not in ("impute", "inpaint"):
        raise SystemExit(f"{model.id} is a {model.task} model; this audit is for impute and inpaint models.")
    record = model.config.get("training", {})
    learned = {str(entry).split(" (")[0] for entry in record.get("cases", [])} | set(record.get("validation_cases", []))
    cases = training_cases(args.data, learned or None)  # a package that records its cases: those; else every case found
    colin = read_volume(COLIN_BRAIN, "Colin27 brain")
    region = sphere_on_cube() if model.task == "inpaint" else None
    if model.task == "impute":
        outputs_of = {(seed, s): None for seed in range(args.seeds) for s in SEQUENCES if s != "t1n"}
    else:
        outputs_of = {(seed, f"t1n ({mode})"): None for seed in range(args.seeds) for mode in ("remove", "add")}
    for seed in range(args.seeds):
        if model.task == "impute":
            result = impute({"t1n": colin}, model, steps=args.steps, seed=seed, samples=args.samples_per_output).outputs
            for s in result:
                outputs_of[seed, s] = result[s]
        else:
            mask = colin.with_array(sphere_on(colin, colin.array != 0).astype(np.uint8))
            for mode in ("remove", "add"):
                outputs_of[seed, f"t1n ({mode})"] = inpaint(
                    {"t1n": colin}, mask, mode, model, steps=args.steps, seed=seed, samples=args.samples_per_output
                ).outputs["t1n"]

    rows, flagged = [], 0
    reference_cache: dict[str, tuple[float, float]] = {}
    for (seed, label), output in outputs_of.items():
        sequence = label.split(" ")[0]
        training = {c: centre_brain(v[sequence]) for c, v in cases.items() if sequence in v}
        image, brain = centre_brain(output)
        where = (lambda a, b: region) if region is not None else (lambda a, b: a | b)
        if sequence not in reference_cache:
            reference = max(ncc(training[a][0], training[b][0], where(training[a][1], training[b][1])) for a, b in itertools.combinations(training, 2))
            reference_cache[sequence] = (reference, (1.0 + max(reference, 0.0)) / 2)
        reference, cut = reference_cache[sequence]
        scores = {c: ncc(image, training[c][0], where(brain, training[c][1])) for c in training}
        nearest = max(scores, key=lambda c: scores[c])
        verdict = "LIKELY COPY" if scores[nearest] > cut else "ok"
        flagged += verdict != "ok"
        rows.append(
            {
                "seed": seed,
                "output": label,
                "nearest": nearest,
                "ncc": scores[nearest],
                "reference": reference,
                "threshold": cut,
                "verdict": verdict,
                "training_cases": len(training),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    print(f"\n{flagged} of {len(rows)} outputs flagged.")
    if args.json:
        kind = (
            "one diffusion sample each"
            if args.samples_per_output == 1
            else f"{args.samples_per_output} samples each"
            if args.samples_per_output
            else "the deterministic estimate"
        )
        result = result_envelope(
            f"audit-{model.task}",
            "Memorisation audit: outputs for a person in no training set (Colin27), against every training case",
            "python benchmarks/audit_brain.py " + " ".join(sys.argv[1:]),
            {model.id: fingerprint(model.config)},
            [
                {
                    "title": f"{len(rows)} outputs ({kind}) from the Colin27 T1 brain alone; {flagged} flagged",
                    "columns": [
                        ["seed", "seed"],
                        ["output", "output"],
                        ["nearest", "nearest training case"],
                        ["ncc", "NCC", ".3f"],
                        ["reference", "highest NCC of two training subjects", ".3f"],
                        ["threshold", "threshold", ".3f"],
                        ["verdict", "verdict"],
                    ],
                    "rows": rows,
                }
            ],
            [
                "NCC on a 2 mm cube centred on each brain's centre of mass, images scaled by their 0.5-99.5 brain percentiles"
                + ("; inpainting: inside a 20 mm sphere of the brain." if region is not None else "; over the union of both brains.")
            ],
        )
        write_result(args.json, result)


if __name__ == "__main__":
    main()
