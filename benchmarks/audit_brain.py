"""Memorisation audit of a brain imputation model: do its outputs copy a training case?

As ``diffusionsynth audit-memorization`` does for pseudo-CTs, with MR normalisation: outputs are
imputed from the skull-stripped Colin27 T1 (Debian's mricron-data ``ch2bet``, a person in no
training set) as the only input, seeds 0..N-1; each imputed sequence and each training case's
same sequence are scaled by their 0.5-99.5 brain percentiles and resampled onto a 2 mm cube of
128 voxels centred on the brain's centre of mass; NCC over the union of both brains. An output is
flagged when its NCC with the nearest training case exceeds the threshold: halfway between the
highest NCC of two different training subjects (same sequence) and 1.

Usage: python benchmarks/audit_brain.py [--model impute-brats-demo] [--samples 3] [--steps N]
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from DiffusionSynthLib.audit import GRID_SIZE, GRID_SPACING_MM, ncc  # noqa: E402
from DiffusionSynthLib.geometry import resample  # noqa: E402
from DiffusionSynthLib.models import resolve_model  # noqa: E402
from DiffusionSynthLib.sequences import SEQUENCES  # noqa: E402
from DiffusionSynthLib.tasks.impute import impute  # noqa: E402
from DiffusionSynthLib.volume import Volume, read_volume  # noqa: E402

from _common import DATA, machine  # noqa: E402

COLIN_BRAIN = Path("/usr/share/mricron/templates/ch2bet.nii.gz")
BRAIN = DATA / "brain_tumour_mri"


def centre_brain(volume: Volume) -> tuple[np.ndarray, np.ndarray]:
    """(scaled image, brain mask) on the common cube centred on the brain's centre of mass."""
    brain = volume.array != 0
    lo, hi = np.percentile(volume.array[brain], [0.5, 99.5])
    scaled = volume.with_array(np.where(brain, np.clip((volume.array - lo) / max(hi - lo, 1e-6), 0, 1), 0).astype(np.float32))
    centre = (volume.ijk_to_ras @ np.append(np.argwhere(brain).mean(axis=0), 1.0))[:3]
    cube = np.diag([GRID_SPACING_MM] * 3 + [1.0])
    cube[:3, 3] = centre - GRID_SPACING_MM * (GRID_SIZE - 1) / 2
    image = resample(scaled, (GRID_SIZE,) * 3, cube).array
    mask = resample(volume.with_array(brain.astype(np.float32)), (GRID_SIZE,) * 3, cube, "nearest").array > 0.5
    return image, mask


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="impute-brats-demo")
    parser.add_argument("--samples", type=int, default=3)
    parser.add_argument("--steps", type=int)
    args = parser.parse_args()
    model = resolve_model(args.model, "impute")
    cases = sorted(p.name for p in BRAIN.iterdir() if (p / "t1n.nii.gz").is_file())
    missing = [s for s in SEQUENCES if s != "t1n"]
    training = {(c, s): centre_brain(read_volume(BRAIN / c / f"{s}.nii.gz")) for c in cases for s in missing}
    thresholds = {}
    for s in missing:
        reference = max(ncc(training[a, s][0], training[b, s][0], training[a, s][1] | training[b, s][1]) for a, b in itertools.combinations(cases, 2))
        thresholds[s] = (reference, (1.0 + max(reference, 0.0)) / 2)
    colin = read_volume(COLIN_BRAIN, "Colin27 brain")
    print(f"# Memorisation audit of {model.id}: imputed from the Colin27 T1 brain alone; {machine()}\n")
    print("| seed | sequence | nearest training case | NCC | inter-subject NCC | threshold | verdict |\n|---|---|---|---|---|---|---|")
    flagged = 0
    for seed in range(args.samples):
        outputs = impute({"t1n": colin}, model, steps=args.steps, seed=seed).outputs
        for s in missing:
            image, mask = centre_brain(outputs[s])
            scores = {c: ncc(image, training[c, s][0], mask | training[c, s][1]) for c in cases}
            nearest = max(scores, key=scores.get)
            reference, cut = thresholds[s]
            verdict = "LIKELY COPY" if scores[nearest] > cut else "ok"
            flagged += verdict != "ok"
            print(f"| {seed} | {s} | {nearest} | {scores[nearest]:.3f} | {reference:.3f} | {cut:.3f} | {verdict} |", flush=True)
    print(f"\n{flagged} of {args.samples * len(missing)} outputs flagged.")


if __name__ == "__main__":
    main()
