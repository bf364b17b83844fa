"""Train the pseudo-CT package: anatomical prior, regression network, residual latent diffusion.

Data: ``data`` holds registered pairs laid out as SynthRAD lays them out (``<case>/mr.nii.gz``,
``ct.nii.gz``, optional ``mask.nii.gz``; ``diffusionsynth prepare-pairs`` makes them). ``ct_scans``
are CTs without an MR (NIfTI files, folders holding ``ct.nii.gz``, DICOM series folders): their
depth statistics fill the cells of the prior's table that the pairs leave empty.

Slabs, on each pair's CT grid (last array axis): the top ``holdout_fraction`` of the slices with
head is never read (the benchmark's held-out slab); the ``validation_fraction`` below it is left
out of the prior's fit and of the loss, and scores the network every few minutes (step 0 is the
prior itself; the best weights ship). The networks learn on voxels in RAS order
(``geometry.to_canonical``) whatever order the files store them in, mirrored along every axis
(as nnU-Net mirrors), and, besides the real pairs, on ``synthetic_per_scan`` synthetic MR
contrasts painted on each CT-only head (``synthetic_mr``), tumour-like lesions painted into most of
them: the real pair never shows the crown of the head or a tumour; the CT-only heads and the painted
lesions do. The network is selected on the pairs' validation slabs and, weighted equally, on
``SYNTHETIC_VALIDATION_PER_SCAN`` further contrasts of each CT-only head.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..engine.device import resolve_device
from ..engine.refiner import refine, refiner_spec
from ..errors import InputError
from ..geometry import crop, data_box, resample_to_spacing, to_canonical
from ..intensity import head_mask_ct, normalise_mr
from ..priors.head_ct import HU_PER_UNIT, HeadCt, HeadPair, fit_head_ct_prior, predict_head_ct
from ..tasks.mri_to_ct import mr_head, network_inputs
from ..volume import Volume, read_volume
from .loop import LoopSettings
from .patches import random_crop, random_flip, randomise_contrast
from .prior_package import PriorPackagePlan, train_prior_package
from .synthetic_mr import LESION_SHARE, paint_lesions, synthetic_mr, tissue_classes

SYNTHETIC_SHARE = 0.5  # of the training patches, when there are synthetic pairs
SYNTHETIC_VALIDATION_PER_SCAN = 2  # contrasts of each CT-only head that score the network, never trained on


@dataclass
class PairCase:
    """One registered pair on the model grid (RAS), the held-out slab already cut away."""

    name: str
    mr: np.ndarray  # the MR's own intensities
    mr_norm: np.ndarray  # 0.5-99.5 percentiles of the head onto [0, 1]
    ct: np.ndarray  # HU
    head: np.ndarray  # the head as inference finds it in the MR
    train: np.ndarray  # voxels to learn from (the pair's mask, training slices)
    validation: np.ndarray  # the pair's mask on the validation slices
    spacing: list[float]
    prior: np.ndarray | None = None  # HU, once the prior is fitted


@dataclass
class CtExample:
    inputs: np.ndarray  # (2, X, Y, Z): normalised MR, prior / HU_PER_UNIT
    estimate: np.ndarray  # (1, ...) in units of HU_PER_UNIT
    truth: np.ndarray  # (1, ...)
    weight: np.ndarray  # (1, ...)
    flags: list[float]


def slab_cuts(mask: np.ndarray, holdout_fraction: float, validation_fraction: float) -> tuple[int, int]:
    """(first validation slice, first held-out slice) on the last axis: the top slabs of the slices that hold ``mask``."""
    slices = np.nonzero(mask.any(axis=(0, 1)))[0]
    held = round(holdout_fraction * len(slices))
    validation = round(validation_fraction * len(slices))
    cut = int(slices[-held]) if held else mask.shape[2]
    first = int(slices[-(held + validation)]) if validation and held + validation < len(slices) else cut
    return first, cut


def _on_grid(volume: Volume, box: tuple[slice, slice, slice], spacing: list[float], interpolation: str = "linear") -> np.ndarray:
    return resample_to_spacing(to_canonical(crop(volume, box)), spacing, interpolation).array


def load_pair_cases(data: Path, spacing: list[float], holdout_fraction: float, validation_fraction: float) -> tuple[list[PairCase], dict, dict]:
    """Every pair folder in ``data`` on the model grid; the held-out and validation slices of each (CT file's last axis)."""
    folders = sorted(p for p in data.iterdir() if (p / "mr.nii.gz").is_file() and (p / "ct.nii.gz").is_file()) if data.is_dir() else []
    if not folders:
        raise InputError(f"No case folders with mr.nii.gz and ct.nii.gz were found in '{data}'. Run 'diffusionsynth prepare-pairs' first.")
    cases, holdout, validation = [], {}, {}
    for folder in folders:
        mr, ct = read_volume(folder / "mr.nii.gz", "MR"), read_volume(folder / "ct.nii.gz", "CT")
        if not mr.same_grid(ct):
            raise InputError(f"In '{folder}', mr.nii.gz and ct.nii.gz are on different grids; prepare the case with 'diffusionsynth prepare-pairs'.")
        mask_path = folder / "mask.nii.gz"
        mask = read_volume(mask_path, "mask").array > 0 if mask_path.is_file() else head_mask_ct(ct)
        first, cut = slab_cuts(mask, holdout_fraction, validation_fraction)
        if first == cut:
            raise InputError(f"'{folder}' has too few slices for a validation slab; give a larger --validation-slab.")
        holdout[folder.name], validation[folder.name] = [cut, ct.shape[2]], [first, cut]
        part = np.ones(ct.shape, np.float32)
        part[:, :, first:] = 2.0
        below = crop(mr, (slice(0, mr.shape[0]), slice(0, mr.shape[1]), slice(0, cut)))
        box = data_box(below)  # as inference cuts them: the MR's zero padding is outside its field of view
        mr_small = resample_to_spacing(to_canonical(crop(below, box)), spacing)
        head = mr_head(mr_small)
        inside = _on_grid(ct.with_array(mask.astype(np.float32)), box, spacing) > 0.5
        slab = np.rint(_on_grid(ct.with_array(part), box, spacing, "nearest"))
        cases.append(
            PairCase(
                folder.name,
                mr_small.array.astype(np.float32),
                normalise_mr(mr_small.array, head),
                _on_grid(ct, box, spacing).astype(np.float32),
                head,
                inside & head & (slab == 1),
                inside & head & (slab == 2),
                list(mr_small.spacing),
            )
        )
    return cases, holdout, validation


def load_ct_scans(paths: Sequence[Path], spacing: list[float]) -> list[HeadCt]:
    """CT scans without an MR: a NIfTI/NRRD file, a folder holding ``ct.nii.gz``, or a DICOM series folder each."""
    scans = []
    for path in paths:
        source = path / "ct.nii.gz" if path.is_dir() and (path / "ct.nii.gz").is_file() else path
        volume = resample_to_spacing(to_canonical(read_volume(source, "CT")), spacing)
        scans.append(HeadCt(volume.array.astype(np.float32), head_mask_ct(volume), list(volume.spacing)))
    return scans


def synthetic_pairs(scans: Sequence[HeadCt], prior: dict, per_scan: int, seed: int, validation: bool = False) -> list[PairCase]:
    """``per_scan`` synthetic MR contrasts of each CT-only head, paired with its CT (no validation voxels).

    ``validation``: contrasts from a random stream apart from the training ones, the whole head their validation voxels
    (the anatomy is a training CT's: they score the network on new contrasts and lesions, not on a new head)."""
    rng = np.random.default_rng([seed, 7] if validation else seed)
    cases = []
    for index, scan in enumerate(scans):
        healthy = tissue_classes(scan.ct_hu, scan.spacing)
        for variant in range(per_scan):
            classes, ct_hu = paint_lesions(healthy, scan.ct_hu, scan.head, scan.spacing, rng) if rng.random() < LESION_SHARE else (healthy, scan.ct_hu)
            mr = synthetic_mr(classes, scan.head, scan.spacing, rng)
            case = PairCase(
                f"ct-{index}-{'validation' if validation else 'synthetic'}-{variant}",
                mr,
                normalise_mr(mr, scan.head),
                ct_hu,
                scan.head,
                np.zeros(scan.head.shape, bool) if validation else scan.head,
                scan.head if validation else np.zeros(scan.head.shape, bool),
                list(scan.spacing),
            )
            case.prior = predict_head_ct(prior, mr, scan.head, case.spacing)
            cases.append(case)
    return cases


class CtExamples:
    """Random training patches: contrast-randomised MR (so T1 and T2 look alike to the network), mirrored along every axis.

    With ``synthetic`` pairs, ``SYNTHETIC_SHARE`` of the patches come from them; their contrasts are random already and
    get only a random gamma (a random lookup table would undo the T1-weighted order of half of them).
    """

    def __init__(self, cases: list[PairCase], patch: Sequence[int], synthetic: Sequence[PairCase] = ()) -> None:
        self.cases, self.patch, self.synthetic = cases, list(patch), list(synthetic)

    def random(self, rng: np.random.Generator, patch: Sequence[int] | None = None) -> CtExample:
        patch = list(patch or self.patch)
        synthetic = bool(self.synthetic) and rng.random() < SYNTHETIC_SHARE
        pool = self.synthetic if synthetic else self.cases
        case = pool[int(rng.integers(len(pool)))]
        assert case.prior is not None
        mr, prior, ct, weight, head = random_flip(
            random_crop([case.mr_norm, case.prior, case.ct, case.train, case.head], patch, rng, [0.0, -1000.0, -1000.0, False, False]), rng
        )
        inputs = network_inputs(randomise_contrast(mr, head, rng, probability=0.0 if synthetic else 0.5), prior)
        return CtExample(inputs, inputs[1:], (ct / HU_PER_UNIT)[None].astype(np.float32), weight[None].astype(np.float32), [])


def train_mri_to_ct(
    data: Path,
    output: Path,
    ct_scans: Sequence[Path] = (),
    preset: str = "small",
    spacing: float = 2.0,
    patch: tuple[int, int, int] = (64, 64, 32),
    batch: int = 2,
    holdout_fraction: float = 0.25,
    validation_fraction: float = 0.2,
    synthetic_per_scan: int = 6,
    settings: LoopSettings | None = None,
    refiner_fraction: float = 0.7,
    resume: bool = False,
    scheduler: str = "RFlowScheduler",
    device: str = "auto",
    log=print,
) -> Path:
    settings = settings or LoopSettings()
    spacing_mm = [float(spacing)] * 3
    cases, holdout, validation_slices = load_pair_cases(data, spacing_mm, holdout_fraction, validation_fraction)
    scans = load_ct_scans([Path(p) for p in ct_scans], spacing_mm)
    log(f"{len(cases)} pair(s), {len(scans)} CT-only scan(s); held-out slabs {holdout}, validation slabs {validation_slices} (CT grid, last axis)")
    prior = fit_head_ct_prior([HeadPair(c.mr, c.ct, c.head, c.train, c.spacing) for c in cases], scans)
    for case in cases:
        case.prior = predict_head_ct(prior, case.mr, case.head, case.spacing)
    synthetic = synthetic_pairs(scans, prior, synthetic_per_scan, settings.seed)
    synthetic_validation = synthetic_pairs(scans, prior, SYNTHETIC_VALIDATION_PER_SCAN, settings.seed, validation=True) if synthetic_per_scan else []
    log(f"{len(synthetic)} synthetic MR contrast(s) of the CT-only heads, {len(synthetic_validation)} more for validation")
    examples = CtExamples(cases, patch, synthetic)
    dev = resolve_device(device)

    def refiner_batch(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        drawn = [examples.random(rng) for _ in range(batch)]
        return (
            np.stack([e.inputs for e in drawn]),
            np.stack([e.truth - e.estimate for e in drawn]).astype(np.float32),
            np.stack([e.weight for e in drawn]),
        )

    def scores(network: torch.nn.Module | None) -> dict[str, float]:
        """Mean absolute error (HU) on each pair's validation slab and in the head of each synthetic validation contrast."""
        out = {}
        for case in cases + synthetic_validation:
            assert case.prior is not None
            estimate = case.prior
            if network is not None:
                estimate = estimate + HU_PER_UNIT * refine(network, network_inputs(case.mr_norm, case.prior), patch, dev)[0]
            out[case.name] = float(np.abs(estimate[case.validation] - case.ct[case.validation]).mean())
        return out

    def validate(network: torch.nn.Module) -> float:
        """The real pairs' mean and the synthetic contrasts' mean, weighted equally (each half, when both exist)."""
        scored = scores(network)
        groups = [[scored[c.name] for c in group] for group in (cases, synthetic_validation) if group]
        return float(np.mean([np.mean(group) for group in groups]))

    def refined_example(rng: np.random.Generator, network: torch.nn.Module) -> CtExample:
        example = examples.random(rng)
        estimate = example.estimate + refine(network, example.inputs, patch, dev)
        return CtExample(example.inputs, estimate.astype(np.float32), example.truth, example.weight, [])

    prior["space"] = "Hounsfield units"
    plan = PriorPackagePlan(
        task="mri-to-ct",
        description="Head MR (T1 or T2) to pseudo-CT in Hounsfield units: anatomical prior (depth under the scalp x MR darkness), regression network, residual latent diffusion.",
        spacing_mm=spacing_mm,
        prior=prior,
        refiner=refiner_spec(preset, 2, 1),
        refiner_window=list(patch),
        refiner_batch=refiner_batch,
        validate=validate,
        validation_scores=scores,
        residual_example=refined_example,
        residual_channels=1,
        flag_count=0,
        batch=batch,
        extra_condition=lambda example: example.inputs[:1],
        validation_metric=(
            "mean absolute error (HU) in the head on each pair's validation slab"
            + (
                ", averaged with its mean over synthetic MR contrasts (with painted lesions) of the CT-only heads drawn apart from the training contrasts"
                if synthetic_validation
                else ""
            )
        ),
        extra_config={
            "inputs": ["mri"],
            "outputs": ["ct"],
            "intensity": {
                "input": {"kind": "percentile", "low": 0.5, "high": 99.5, "mask": "head (Otsu)"},
                "output": {"kind": "hu_scaled", "hu_per_unit": HU_PER_UNIT},
            },
        },
        data_record={
            "cases": [c.name for c in cases],
            "ct_scans": [str(p) for p in ct_scans],
            "synthetic_mr": {
                "per_ct_scan": synthetic_per_scan,
                "share_of_patches": SYNTHETIC_SHARE if synthetic else 0.0,
                "painted_lesions_share": LESION_SHARE,
                "validation_per_ct_scan": SYNTHETIC_VALIDATION_PER_SCAN if synthetic_validation else 0,
            },
            "validation_case": ", ".join(
                [f"{name} slices {first}-{cut - 1}" for name, (first, cut) in validation_slices.items()]
                + ([f"{len(synthetic_validation)} synthetic contrasts of the CT-only heads"] if synthetic_validation else [])
            ),
            "held_out_slices": holdout,
            "validation_slices": validation_slices,
        },
    )
    return train_prior_package(
        plan,
        output,
        preset,
        settings,
        refiner_fraction,
        resume,
        scheduler,
        dev,
        log,
    )
