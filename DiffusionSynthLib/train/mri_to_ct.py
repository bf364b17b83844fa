"""Train the MRI->CT model on SynthRAD-style cases: ``<case>/mr.nii.gz``, ``ct.nii.gz``, ``mask.nii.gz``.

The networks learn on voxels in RAS order (``geometry.to_canonical``) whatever order the files
store them in, so left-right flips are flips of the first axis, and ``model.json`` says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..engine.device import resolve_device
from ..errors import InputError
from ..geometry import CANONICAL, resample_to_spacing, to_canonical
from ..intensity import CT_KNOTS, head_mask_ct, hu_to_unit, normalise_mr
from ..volume import read_volume
from .architectures import (
    autoencoder_spec,
    latent_downsample,
    scheduler_spec,
    unet_spec,
)
from .loop import LoopSettings
from .patches import random_crop, random_flip_lr, randomise_contrast
from .record import train_and_package, training_record


@dataclass
class PairCase:
    name: str
    mr: np.ndarray  # normalised to [0, 1] inside the mask
    ct: np.ndarray  # HU mapped onto [-1, 1]
    mask: np.ndarray


def _holdout_cut(mask: np.ndarray, fraction: float) -> int:
    """First slice (last axis) of the held-out top slab: ``fraction`` of the masked slices."""
    slices = np.nonzero(mask.any(axis=(0, 1)))[0]
    count = round(fraction * len(slices))
    return int(slices[-count]) if count else mask.shape[2]


def load_pair_cases(data: Path, spacing: list[float], holdout_fraction: float) -> tuple[list[PairCase], dict[str, list[int]]]:
    """Read every case folder, keep the slices below the held-out slab (CT file's last axis), reorient to RAS, resample to ``spacing``."""
    folders = sorted(p for p in data.iterdir() if (p / "mr.nii.gz").is_file() and (p / "ct.nii.gz").is_file())
    if not folders:
        raise InputError(f"No case folders with mr.nii.gz and ct.nii.gz were found in '{data}'. Run 'diffusionsynth prepare-pairs' first.")
    cases, holdout = [], {}
    for folder in folders:
        mr, ct = read_volume(folder / "mr.nii.gz", "MR"), read_volume(folder / "ct.nii.gz", "CT")
        if not mr.same_grid(ct):
            raise InputError(f"In '{folder}', mr.nii.gz and ct.nii.gz are on different grids; prepare the case with 'diffusionsynth prepare-pairs'.")
        mask_path = folder / "mask.nii.gz"
        mask = read_volume(mask_path, "mask").array > 0 if mask_path.is_file() else head_mask_ct(ct)
        cut = _holdout_cut(mask, holdout_fraction)
        holdout[folder.name] = [cut, ct.shape[2]]
        mr_small = resample_to_spacing(to_canonical(_crop(mr, cut)), spacing)
        ct_small = resample_to_spacing(to_canonical(_crop(ct, cut)), spacing)
        mask_small = resample_to_spacing(to_canonical(_crop(ct.with_array(mask.astype(np.float32)), cut)), spacing).array > 0.5
        cases.append(PairCase(folder.name, normalise_mr(mr_small.array, mask_small), hu_to_unit(ct_small.array), mask_small))
    return cases, holdout


def _crop(volume, cut: int):
    from ..volume import Volume

    return Volume(np.ascontiguousarray(volume.array[:, :, :cut]), volume.ijk_to_ras)


def load_ct_only(data: Path | None, spacing: list[float]) -> list[np.ndarray]:
    """Extra CTs (any ``*/ct.nii.gz``) for the autoencoder stage only."""
    if data is None:
        return []
    paths = sorted(data.glob("*/ct.nii.gz")) + sorted(data.glob("ct.nii.gz"))
    return [hu_to_unit(resample_to_spacing(to_canonical(read_volume(p, "CT")), spacing).array) for p in paths]


def train_mri_to_ct(
    data: Path,
    output: Path,
    preset: str = "small",
    spacing: float = 2.0,
    patch: tuple[int, int, int] = (64, 64, 32),
    batch: int = 2,
    holdout_fraction: float = 0.25,
    autoencoder_data: Path | None = None,
    settings: LoopSettings | None = None,
    resume: bool = False,
    scheduler: str = "RFlowScheduler",
    device: str = "auto",
    log=print,
) -> Path:
    settings = settings or LoopSettings()
    spacing_mm = [float(spacing)] * 3
    cases, holdout = load_pair_cases(data, spacing_mm, holdout_fraction)
    extra_ct = load_ct_only(autoencoder_data, spacing_mm)
    log(f"{len(cases)} paired case(s), {len(extra_ct)} extra CT(s) for the autoencoder; held-out slabs {holdout}")
    ae = autoencoder_spec(preset)
    downsample = latent_downsample(ae)
    specs = {"autoencoder": ae, "unet": unet_spec(preset, 4 + downsample**3, 4), "scheduler": scheduler_spec(scheduler)}
    all_ct = [c.ct for c in cases] + extra_ct

    def target_batch(rng: np.random.Generator) -> np.ndarray:
        out = []
        for _ in range(batch):
            ct = all_ct[int(rng.integers(len(all_ct)))]
            (crop,) = random_flip_lr(random_crop([ct], patch, rng, [-1.0]), rng)
            out.append(crop[None])
        return np.stack(out).astype(np.float32)

    def pair_batch(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, None]:
        conditions, targets = [], []
        for _ in range(batch):
            case = cases[int(rng.integers(len(cases)))]
            mr, ct, mask = random_flip_lr(random_crop([case.mr, case.ct, case.mask], patch, rng, [0.0, -1.0, False]), rng)
            conditions.append(randomise_contrast(mr, mask, rng)[None])
            targets.append(ct[None])
        return np.stack(conditions).astype(np.float32), np.stack(targets).astype(np.float32), None

    def describe(result) -> dict:
        return {
            "task": "mri-to-ct",
            "description": "Conditional latent diffusion: head MR (T1 or T2) to pseudo-CT in Hounsfield units.",
            "spacing_mm": spacing_mm,
            "orientation": CANONICAL,
            "inputs": ["mri"],
            "outputs": ["ct"],
            "intensity": {
                "input": {"kind": "percentile", "low": 0.5, "high": 99.5, "mask": "head (Otsu)"},
                "output": {"kind": "hu_piecewise_linear", **CT_KNOTS},
            },
            "training": training_record(result, data=sorted(holdout), held_out_slices=holdout, preset=preset, patch=list(patch), batch=batch),
        }

    return train_and_package(output, specs, downsample, target_batch, pair_batch, settings, resume, resolve_device(device), log, describe, _card)


def _card(config: dict) -> str:
    training = config["training"]
    return f"""# Model card: {config["id"]}

Task: MRI -> pseudo-CT (Hounsfield units). {config["description"]}

**Demonstration model, not for clinical use.** Outputs are synthetic and must not be used for
diagnosis or treatment planning.

## Data and licence
- Paired cases: {", ".join(training["data"])} (prepared with `diffusionsynth prepare-pairs`: rigid
  Mattes mutual-information registration of the MR onto the CT grid). Extra CTs, when given with
  `--autoencoder-data`, train the autoencoder only.
- Held-out slices (last array axis, on each case's CT grid, never seen in training):
  {training["held_out_slices"]}
- For the built-in model: the CMTK test inputs (RIRE-style head CT/MR pair `cmtk-pat002`, T2-weighted
  MR, and the CT `cmtk-cad001`); CMTK's code is GPL-3, no separate data terms are stated. One
  patient: this model cannot generalise the way a model trained on SynthRAD-scale data would.

## Training
- Command: `{training["command"]}`
- Network preset `{training["preset"]}` (MONAI `AutoencoderKL` + `DiffusionModelUNet`, rectified flow),
  patch {training["patch"]}, batch {training["batch"]}, steps {training["steps"]},
  {training["seconds"]} s on {training["machine"]}.
- Voxels in {config["orientation"]} order whatever the files' order; spacing {config["spacing_mm"]} mm; MR normalised by 0.5-99.5 percentiles inside the head; CT
  mapped to [-1, 1] piecewise linearly (knots {config["intensity"]["output"]["hu"]} HU ->
  {config["intensity"]["output"]["unit"]}); contrast randomisation (random gamma and random
  piecewise-linear intensity maps) so that T1- and T2-weighted inputs both work.

## Held-out figures
Filled in from `benchmarks/` (see below when present).
"""
