"""Train the imputation model on case folders holding ``t1n``, ``t1c``, ``t2w``, ``t2f`` (.nii.gz).

One model for every subset: each training pair keeps a random non-empty proper subset of the
four sequences as the condition (missing ones zero, plus presence flags) and the autoencoder's
latent of all four as the target.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..engine.device import resolve_device
from ..errors import InputError
from ..geometry import resample_like, resample_to_spacing
from ..intensity import brain_mask, normalise_mr, percentile_range
from ..sequences import SEQUENCES
from ..volume import read_volume
from .architectures import autoencoder_spec, latent_downsample, scheduler_spec, unet_spec
from .loop import LoopSettings
from .patches import random_crop, random_flip_lr
from .record import train_and_package, training_record


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


def train_impute(
    data: Path,
    output: Path,
    preset: str = "small",
    spacing: float = 2.0,
    patch: tuple[int, int, int] = (64, 64, 32),
    batch: int = 2,
    exclude: list[str] | None = None,
    settings: LoopSettings | None = None,
    resume: bool = False,
    scheduler: str = "RFlowScheduler",
    device: str = "auto",
    log=print,
) -> Path:
    settings = settings or LoopSettings()
    spacing_mm = [float(spacing)] * 3
    cases, typical = load_sequence_cases(data, spacing_mm, exclude or [])
    names = sorted(cases)
    log(f"{len(names)} case(s): {', '.join(names)}")
    channels = len(SEQUENCES)
    ae = autoencoder_spec(preset, in_channels=channels, latent_channels=8)
    downsample = latent_downsample(ae)
    unet = unet_spec(preset, 8 + channels * downsample**3 + channels, 8)
    specs = {"autoencoder": ae, "unet": unet, "scheduler": scheduler_spec(scheduler)}

    def crop(rng: np.random.Generator) -> np.ndarray:
        image = cases[names[int(rng.integers(len(names)))]]
        (patch_array,) = random_flip_lr(random_crop([image], patch, rng, [0.0]), rng)
        gamma = np.exp(rng.normal(0.0, 0.15, size=(channels, 1, 1, 1)))  # intensity augmentation per sequence
        return (np.clip(patch_array, 0.0, 1.0) ** gamma).astype(np.float32)

    def target_batch(rng: np.random.Generator) -> np.ndarray:
        return np.stack([crop(rng) for _ in range(batch)])

    def pair_batch(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        targets = target_batch(rng)
        flags = np.stack([random_subset(rng) for _ in range(batch)])
        return targets * flags[:, :, None, None, None], targets, flags

    def describe(result) -> dict:
        return {
            "task": "impute",
            "description": "Conditional latent diffusion: any subset of T1n, T1c, T2w, T2-FLAIR in, the missing sequences out.",
            "spacing_mm": spacing_mm,
            "inputs": list(SEQUENCES),
            "outputs": list(SEQUENCES),
            "intensity": {
                "input": {"kind": "percentile", "low": 0.5, "high": 99.5, "mask": "brain (non-zero voxels)"},
                "typical_range": typical,
            },
            "training": training_record(result, data=names, excluded=exclude or [], preset=preset, patch=list(patch), batch=batch),
        }

    return train_and_package(
        output, specs, downsample, target_batch, pair_batch, settings, resume, resolve_device(device), log, describe, _card
    )


def _card(config: dict) -> str:
    training = config["training"]
    return f"""# Model card: {config['id']}

Task: missing MR sequence imputation (any subset of {', '.join(SEQUENCES)} in, the rest out).
**Synthetic images; not for diagnosis.**

## Data and licence
Cases: {', '.join(training['data'])}; excluded: {training['excluded'] or 'none'}. For the built-in
model, the four co-registered cases of `brain_tumour_mri` (BraTS 2023 / BrainLesion tutorials,
Apache-2.0 repositories with BraTS data terms: research use, cite the BraTS papers; TCGA via TCIA,
CC BY 3.0).

## Training
- Command: `{training['command']}`
- Spacing {config['spacing_mm']} mm; each sequence normalised by its 0.5-99.5 percentiles inside
  the brain; outputs rescaled to the typical raw range per sequence:
  {config['intensity']['typical_range']}.
- Steps {training['steps']}, {training['seconds']} s on {training['machine']}.
"""
