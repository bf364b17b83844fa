"""Train the inpainting model on case folders holding ``t1n``, ``t1c``, ``t2w``, ``t2f`` (.nii.gz).

One mask-conditioned model for both modes. Each training pair blanks a mask in a patch and asks
for the whole patch back, given the rest, the mask, and flags (sequences present, add or remove):
- remove: random ellipsoids inside the brain and away from the tumour, so the truth under the
  mask is healthy tissue;
- add: the case's tumour segmentation (``tumour_seg_predicted.nii.gz`` when present), so the
  truth under the mask is tumour.
Random subsets of sequences (all four half of the time) let forecasting run on a T1c alone. The
autoencoder can be reused from the imputation model (same four sequences, same normalisation).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import ndimage

from ..engine.device import resolve_device
from ..errors import InputError
from ..geometry import resample_like, resample_to_spacing
from ..masks import BLEND_MARGIN_VOXELS, MAX_BRAIN_FRACTION
from ..models.package import load_model
from ..sequences import SEQUENCES
from ..volume import read_volume
from .architectures import autoencoder_spec, latent_downsample, scheduler_spec, unet_spec
from .impute import load_sequence_cases, random_subset
from .loop import LoopSettings
from .record import train_and_package, training_record

TUMOUR_FILE = "tumour_seg_predicted.nii.gz"


def load_tumour_masks(data: Path, names: list[str], spacing: list[float]) -> dict[str, np.ndarray]:
    """Each case's tumour mask at ``spacing`` (only cases that have one)."""
    masks = {}
    for name in names:
        path = data / name / TUMOUR_FILE
        if path.is_file():
            reference = read_volume(data / name / "t1n.nii.gz", "t1n image")
            label = read_volume(path, "tumour segmentation")
            on_grid = resample_like(label.with_array((label.array != 0).astype(np.float32)), reference, "nearest")
            masks[name] = resample_to_spacing(on_grid, spacing).array > 0.5
    return masks


def ellipsoid_mask(shape: tuple[int, ...], rng: np.random.Generator, centre: np.ndarray) -> np.ndarray:
    """One to three overlapping random ellipsoids (radii 3-10 voxels) around ``centre``."""
    grid = np.indices(shape, dtype=np.float32)
    mask = np.zeros(shape, bool)
    for _ in range(int(rng.integers(1, 4))):
        offset = centre + rng.normal(0.0, 3.0, size=3)
        radii = rng.uniform(3.0, 10.0, size=3)
        mask |= sum(((grid[i] - offset[i]) / radii[i]) ** 2 for i in range(3)) <= 1.0
    return mask


def crop_at(arrays: list[np.ndarray], centre: np.ndarray, patch: tuple[int, int, int], rng: np.random.Generator) -> list[np.ndarray]:
    """The same crop of every array, around ``centre`` with a random shift, padded with zeros."""
    shape = arrays[0].shape[-3:]
    starts = [int(np.clip(c - p // 2 + rng.integers(-p // 4, p // 4 + 1), 0, max(s - p, 0))) for c, p, s in zip(centre, patch, shape)]
    out = []
    for array in arrays:
        crop = array[..., starts[0] : starts[0] + patch[0], starts[1] : starts[1] + patch[1], starts[2] : starts[2] + patch[2]]
        pads = [(0, 0)] * (crop.ndim - 3) + [(0, p - c) for p, c in zip(patch, crop.shape[-3:])]
        out.append(np.pad(crop, pads))
    return out


def train_inpaint(
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
    autoencoder_from: str | None = None,
    log=print,
) -> Path:
    settings = settings or LoopSettings()
    spacing_mm = [float(spacing)] * 3
    cases, typical = load_sequence_cases(data, spacing_mm, exclude or [])
    names = sorted(cases)
    tumours = load_tumour_masks(data, names, spacing_mm)
    if not tumours:
        raise InputError(f"No case in '{data}' has a {TUMOUR_FILE}; the add mode needs tumour masks to learn from.")
    log(f"{len(names)} case(s): {', '.join(names)}; tumour masks for add: {', '.join(sorted(tumours))}")
    brains = {name: cases[name].max(axis=0) > 0 for name in names}
    away = {name: ~ndimage.binary_dilation(tumours[name], iterations=3) if name in tumours else np.ones_like(brains[name]) for name in names}
    healthy = {name: brains[name] & away[name] for name in names}
    # candidate mask centres, found once (not per training example)
    centres = {(name, True): np.argwhere(tumours[name]) for name in tumours} | {(name, False): np.argwhere(healthy[name]) for name in names}
    channels = len(SEQUENCES)
    pretrained = None
    if autoencoder_from:
        source = load_model(autoencoder_from)
        ae = source.config["networks"]["autoencoder"]
        if ae["args"]["in_channels"] != channels or source.config["spacing_mm"] != spacing_mm:
            raise InputError(f"The model '{autoencoder_from}' has no autoencoder of the four sequences at {spacing} mm to reuse.")
        pretrained = (source.networks["autoencoder"].state_dict(), float(source.config["latent_scale_factor"]))
    else:
        ae = autoencoder_spec(preset, in_channels=channels, latent_channels=8)
    latent = int(ae["args"]["latent_channels"])
    downsample = latent_downsample(ae)
    unet = unet_spec(preset, latent + (channels + 1) * downsample**3 + channels + 1, latent)
    specs = {"autoencoder": ae, "unet": unet, "scheduler": scheduler_spec(scheduler)}

    def augment(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        gamma = np.exp(rng.normal(0.0, 0.15, size=(channels, 1, 1, 1)))
        return (np.clip(image, 0.0, 1.0) ** gamma).astype(np.float32)

    def example(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, float]:
        """(target patch (4, ...), mask patch, add flag)."""
        add = rng.random() < 0.5
        name = sorted(tumours)[int(rng.integers(len(tumours)))] if add else names[int(rng.integers(len(names)))]
        region = tumours[name] if add else healthy[name]
        points = centres[name, add]
        centre = points[int(rng.integers(len(points)))]
        if add:
            mask = ndimage.binary_dilation(tumours[name], iterations=1) & brains[name]
        else:
            mask = ellipsoid_mask(region.shape, rng, centre.astype(np.float32)) & region
        image, mask = crop_at([cases[name], mask], centre, patch, rng)
        if rng.random() < 0.5:
            image, mask = image[:, ::-1].copy(), mask[::-1].copy()
        return augment(image, rng), mask.astype(np.float32), float(add)

    def target_batch(rng: np.random.Generator) -> np.ndarray:
        return np.stack([example(rng)[0] for _ in range(batch)])

    def pair_batch(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        targets, conditions, flags = [], [], []
        for _ in range(batch):
            image, mask, add = example(rng)
            present = np.ones(channels, np.float32) if rng.random() < 0.5 else random_subset(rng)
            conditions.append(np.concatenate([image * present[:, None, None, None] * (1.0 - mask), mask[None]]))
            targets.append(image)
            flags.append(np.concatenate([present, [add]]).astype(np.float32))
        return np.stack(conditions), np.stack(targets), np.stack(flags)

    def describe(result) -> dict:
        return {
            "task": "inpaint",
            "description": "Mask-conditioned latent diffusion: remove a lesion to healthy tissue, or add one inside a mask.",
            "spacing_mm": spacing_mm,
            "inputs": list(SEQUENCES),
            "outputs": list(SEQUENCES),
            "flags": [*(f"present:{s}" for s in SEQUENCES), "mode:add"],
            "blend_margin_voxels": BLEND_MARGIN_VOXELS,
            "max_brain_fraction": MAX_BRAIN_FRACTION,
            "intensity": {
                "input": {"kind": "percentile", "low": 0.5, "high": 99.5, "mask": "brain (non-zero voxels)"},
                "output": "each sequence rescaled by the input's own brain percentiles",
                "typical_range": typical,
            },
            "training": training_record(
                result, data=names, excluded=exclude or [], tumour_masks=sorted(tumours), preset=preset, patch=list(patch), batch=batch,
                autoencoder_from=autoencoder_from,
            ),
        }

    return train_and_package(
        output, specs, downsample, target_batch, pair_batch, settings, resume, resolve_device(device), log, describe, _card, pretrained
    )


def _card(config: dict) -> str:
    training = config["training"]
    return f"""# Model card: {config['id']}

Task: tumour inpainting, `remove` (a lesion replaced by healthy tissue) and `add` (a tumour grown
inside a drawn mask), for any subset of {', '.join(SEQUENCES)}.
**Synthetic images; not for diagnosis.**

## Data and licence
Cases: {', '.join(training['data'])}; excluded: {training['excluded'] or 'none'}; tumour masks for
`add` from: {', '.join(training['tumour_masks'])}. For the built-in model, the four co-registered
cases of `brain_tumour_mri` (BraTS 2023 / BrainLesion tutorials, Apache-2.0 repositories with
BraTS data terms: research use, cite the BraTS papers; TCGA via TCIA, CC BY 3.0).

## Method
Mask-conditioned latent diffusion (MONAI `AutoencoderKL` + `DiffusionModelUNet`, rectified flow).
With all four sequences the known latent is re-injected outside the mask after every step
(RePaint-style). `--strength` is classifier-free guidance on the add/remove flag. Outside the
mask the output blends back to the input over {config['blend_margin_voxels']} voxels; beyond that every voxel is
the input's, bit for bit. Masks over more than {100 * config['max_brain_fraction']:.0f}% of the brain are refused.

## Training
- Command: `{training['command']}`
- Autoencoder reused from: {training.get('autoencoder_from') or 'trained here'}
- Spacing {config['spacing_mm']} mm; steps {training['steps']}, {training['seconds']} s on {training['machine']}.
"""
