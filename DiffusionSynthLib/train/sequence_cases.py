"""Four-sequence cases at the model's spacing, percentile-normalised (the inpainting model's training data)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import InputError
from ..geometry import resample_like, resample_to_spacing
from ..intensity import brain_mask, normalise_mr, percentile_range
from ..sequences import SEQUENCES
from ..volume import read_volume


def load_sequence_cases(data: Path, spacing: list[float], exclude: list[str]) -> tuple[dict[str, np.ndarray], dict[str, list[float]]]:
    """Each case as a (4, X, Y, Z) array normalised inside its brain; and the typical raw range per sequence."""
    folders = sorted(p for p in data.iterdir() if p.is_dir() and all((p / f"{s}.nii.gz").is_file() for s in SEQUENCES))
    folders = [p for p in folders if p.name not in exclude]
    if not folders:
        raise InputError(f"No case folders with {', '.join(f'{s}.nii.gz' for s in SEQUENCES)} were found in '{data}'.")
    cases, ranges = {}, {s: [] for s in SEQUENCES}
    for folder in folders:
        volumes = [read_volume(folder / f"{s}.nii.gz", s) for s in SEQUENCES]
        volumes = [resample_like(v, volumes[0]) for v in volumes]
        full_mask = brain_mask([v.array for v in volumes])
        for name, volume in zip(SEQUENCES, volumes):
            ranges[name].append(percentile_range(volume.array, full_mask))
        small = [resample_to_spacing(v, spacing) for v in volumes]
        mask = brain_mask([v.array for v in small])
        cases[folder.name] = np.stack([normalise_mr(v.array, mask) for v in small])
    typical = {s: [float(np.median([r[0] for r in ranges[s]])), float(np.median([r[1] for r in ranges[s]]))] for s in SEQUENCES}
    return cases, typical


def random_subset(rng: np.random.Generator) -> np.ndarray:
    """Presence flags of a random non-empty proper subset of the four sequences (all 14 equally likely)."""
    code = int(rng.integers(1, 2 ** len(SEQUENCES) - 1))
    return np.array([(code >> i) & 1 for i in range(len(SEQUENCES))], dtype=np.float32)
