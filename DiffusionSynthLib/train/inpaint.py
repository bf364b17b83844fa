"""Train the inpainting package: harmonic-fill prior, regression network, residual latent diffusion.

Cases as for imputation (any sequences; ``brain_cases.py``). One network for both modes:
- remove: one to three random ellipsoids in healthy brain (away from any tumour), so the truth
  under the region is healthy tissue;
- add: a case's tumour segmentation, dilated by a voxel, so the truth under it is tumour. Its prior is
  the glioma appearance (fitted here on the training cases whose labels have a known convention,
  ``priors.glioma``) on the case's own sub-regions half of the time, else on a layout drawn into the
  mask as inference draws it without ``--labels``: a real tumour's from the lesion bank (fitted here
  too, ``priors.lesion_bank``; for a training tumour often its own, the best fitting), or distance
  layers where no tumour is large enough for the bank.
  The bank's texture is not in the prior the network sees: inference adds it after the network.
Test cases of a ``--split`` are never loaded; its validation cases make every choice. Each example keeps all the
case's sequences half of the time, else a random subset; a sequence is
z-scored by its known brain voxels (outside the region), as at inference. The loss is masked L1
inside the region on the given sequences. The validation cases are kept out (fixed healthy regions, and
their tumours in add mode); the best weights by validation ship.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage

from ..engine.device import resolve_device
from ..engine.refiner import refine, refiner_spec
from ..errors import InputError
from ..metrics import inpaint_metrics
from ..priors.glioma import LabelledCase, fit_glioma_appearance, glioma_prior, layout_subregions, to_brats2013
from ..priors.lesion_bank import MIN_LESION_VOXELS, fit_lesion_bank, place_layout
from ..sequences import SEQUENCES
from ..tasks.inpaint_prior import harmonic_fills, inpaint_inputs, zscore_statistics
from .brain_cases import BrainCase, describe_data, load_brain_cases
from .impute import centred_box, choose_validation_cases, pad_to, proper_subsets
from .loop import LoopSettings
from .prior_package import PriorPackagePlan, train_prior_package
from .split import Split

VALIDATION_REMOVALS = 3
# shares of the network's correction the gate tries per mode and sequence: a correction that beats the prior by a
# hair (FLAIR removal) is mostly noise, and a part of it can beat both
GATE_WEIGHTS = (0.25, 0.5, 0.75, 1.0)


@dataclass
class InpaintExample:
    inputs: np.ndarray  # (14, X, Y, Z)
    estimate: np.ndarray  # (4, ...) the harmonic fill
    truth: np.ndarray  # (4, ...)
    weight: np.ndarray  # (4, ...) 1 inside the region on the given sequences
    flags: list[float]


def ellipsoid_region(shape: Sequence[int], centre: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One to three overlapping random ellipsoids (radii 4-14 voxels) around ``centre``."""
    grid = np.indices(tuple(shape), dtype=np.float32)
    region = np.zeros(tuple(shape), bool)
    for _ in range(int(rng.integers(1, 4))):
        offset = centre + rng.normal(0.0, 4.0, size=3)
        radii = rng.uniform(4.0, 14.0, size=3)
        region |= sum(((grid[i] - offset[i]) / radii[i]) ** 2 for i in range(3)) <= 1.0
    return region


def labelled_cases(cases: Sequence[BrainCase]) -> list[LabelledCase]:
    """The cases whose tumour labels have a known convention, in BraTS 2013 labels (for the glioma appearance)."""
    return [
        LabelledCase(c.name, c.images, c.brain, to_brats2013(c.tumour, c.tumour_convention) * c.brain)
        for c in cases
        if c.tumour is not None and c.tumour_convention is not None
    ]


class InpaintExamples:
    def __init__(
        self,
        cases: list[BrainCase],
        patch: Sequence[int],
        glioma: dict | None = None,
        spacing: Sequence[float] = (1.0, 1.0, 1.0),
        lesions: dict | None = None,
    ) -> None:
        """``lesions``: the lesion bank, whose real layouts replace the distance layers where a case's own labels are not used."""
        self.cases, self.patch, self.glioma, self.spacing = cases, list(patch), glioma, list(spacing)
        self.tumours = {c.name: ndimage.binary_dilation(c.tumour > 0) & c.brain for c in cases if c.tumour is not None and (c.tumour > 0).any()}
        away = {c.name: ~ndimage.binary_dilation(self.tumours[c.name], iterations=4) if c.name in self.tumours else True for c in cases}
        self.healthy = {c.name: np.argwhere(ndimage.binary_erosion(c.brain, iterations=6) & away[c.name]) for c in cases}
        self.labels = {c.name: c.labels for c in labelled_cases(cases)}
        self.layouts = {}
        if glioma:
            for index, (name, region) in enumerate(sorted(self.tumours.items())):
                self.layouts[name] = place_layout(region, lesions, np.random.default_rng([7, index])) if lesions else layout_subregions(region, spacing, glioma)

    def sub_regions(self, case: BrainCase, rng: np.random.Generator | None) -> np.ndarray | None:
        """An added tumour's sub-regions: its own labels half of the time (when known), else the layout (always without ``rng``)."""
        if not self.glioma or case.name not in self.tumours:
            return None
        if rng is not None and case.name in self.labels and rng.random() < 0.5:
            return np.where(self.tumours[case.name], self.labels[case.name], 0).astype(np.uint8)
        return self.layouts[case.name]

    def example(
        self,
        case: BrainCase,
        given: list[str],
        region_full: np.ndarray,
        centre: Sequence[int],
        add: bool,
        patch: Sequence[int] | None = None,
        labels: np.ndarray | None = None,
    ) -> InpaintExample:
        """The example in a box of ``patch`` (default: the examples' patch) around ``centre``; ``labels`` place an added glioma."""
        known = case.brain & ~region_full
        box = centred_box(case.brain.shape, centre, list(patch or self.patch))
        images, healthy = {}, {}
        for name in case.images:
            mean, sd, median = zscore_statistics(case.images[name][known])
            images[name] = np.where(case.brain[box], (case.images[name][box] - mean) / sd, 0.0).astype(np.float32)
            healthy[name] = (median, 1.0)
        region = region_full[box]
        chosen = {n: images[n] for n in given}
        fill = harmonic_fills(chosen, given, region, case.brain[box])
        prior = (
            fill
            if labels is None or self.glioma is None
            else glioma_prior(fill, labels[box], {n: healthy[n] for n in given}, self.glioma, SEQUENCES, self.spacing)
        )
        inputs, flags = inpaint_inputs(chosen, given, region, 1.0 if add else 0.0, prior)
        truth = np.stack([images.get(n, np.zeros(region.shape, np.float32)) for n in SEQUENCES])
        weight = np.stack([region & (n in given) for n in SEQUENCES]).astype(np.float32)
        return InpaintExample(inputs, prior, truth, weight, flags)

    def random(self, rng: np.random.Generator, patch: Sequence[int] | None = None) -> InpaintExample:
        patch = list(patch or self.patch)
        case = self.cases[int(rng.integers(len(self.cases)))]
        add = case.name in self.tumours and rng.random() < 0.5
        if add:
            region = self.tumours[case.name]
            points = np.argwhere(region)
        else:
            points = self.healthy[case.name]
            region = ellipsoid_region(case.brain.shape, points[int(rng.integers(len(points)))].astype(np.float32), rng) & case.brain
            if case.name in self.tumours:
                region &= ~self.tumours[case.name]
            points = np.argwhere(region) if region.any() else points
        centre = points[int(rng.integers(len(points)))] + rng.integers(-patch[0] // 4, patch[0] // 4 + 1, size=3)
        available = list(case.images)
        given = available if rng.random() < 0.5 else [*proper_subsets(available), available][int(rng.integers(2 ** len(available) - 1))]
        example = self.example(case, given, region, centre, add, patch, self.sub_regions(case, rng) if add else None)
        fields = [pad_to(a, patch) for a in (example.inputs, example.estimate, example.truth, example.weight)]
        if rng.random() < 0.5:
            fields = [np.ascontiguousarray(a[:, ::-1]) for a in fields]
        inputs, estimate, truth, weight = fields
        return InpaintExample(inputs, estimate, truth, weight, example.flags)


def validation_examples(examples: InpaintExamples, case: BrainCase) -> dict[str, InpaintExample]:
    """Fixed healthy regions (remove) and the case's tumour (add), all its sequences given."""
    rng = np.random.default_rng(2024)
    given = list(case.images)
    out = {}
    points = examples.healthy[case.name]
    for index in range(VALIDATION_REMOVALS):
        centre = points[int(rng.integers(len(points)))]
        region = ellipsoid_region(case.brain.shape, centre.astype(np.float32), rng) & case.brain
        if case.name in examples.tumours:
            region &= ~examples.tumours[case.name]
        out[f"remove {index + 1}"] = examples.example(case, given, region, centre, False)
    if case.name in examples.tumours:
        region = examples.tumours[case.name]
        centre = np.argwhere(region).mean(axis=0).astype(int)
        out["add (its tumour)"] = examples.example(case, given, region, centre, True, labels=examples.sub_regions(case, None))
    return out


def train_inpaint(
    data: Path | Sequence[Path],
    output: Path,
    preset: str = "small",
    spacing: float = 1.0,
    patch: tuple[int, int, int] = (64, 64, 64),
    batch: int = 2,
    exclude: list[str] | None = None,
    validation_case: str | Sequence[str] | None = None,
    settings: LoopSettings | None = None,
    refiner_fraction: float = 0.7,
    resume: bool = False,
    scheduler: str = "RFlowScheduler",
    device: str = "auto",
    log=print,
    split: Split | None = None,
) -> Path:
    """Train the package on every case under ``data`` except ``exclude`` and ``split``'s test cases (never loaded);
    ``validation_case`` (or ``split``'s validation cases) makes every choice, averaged over the cases."""
    settings = settings or LoopSettings()
    spacing_mm = [float(spacing)] * 3
    test = split.test if split is not None else []
    cases = load_brain_cases(data, spacing_mm, [*(exclude or []), *test], minimum=1, log=log, crop=True)
    if len(cases) < 2:
        raise InputError(f"Inpainting training needs at least two cases (one is kept for validation); {describe_data(data)} hold {len(cases)}.")
    held_cases = choose_validation_cases(cases, split.validation if split is not None and split.validation else validation_case)
    training = [c for c in cases if all(c is not h for h in held_cases)]
    if not training:
        raise InputError("Every case is a validation case; inpainting training needs at least one case to learn from.")
    labelled = labelled_cases(training)
    glioma = fit_glioma_appearance(labelled) if labelled else None
    lesions = fit_lesion_bank(labelled) if any((c.labels > 0).sum() >= MIN_LESION_VOXELS for c in labelled) else None
    if glioma:
        log(f"glioma appearance fitted on {', '.join(c.name for c in labelled)}: {json.dumps(glioma['contrast'])}")
    if lesions:
        log(f"lesion bank: {len(lesions['layouts'])} real layouts; texture {json.dumps(lesions['texture'])}")
    examples = InpaintExamples(training, patch, glioma, spacing_mm, lesions)
    if not examples.tumours:
        raise InputError(
            f"No training case in {describe_data(data)} has a tumour segmentation (tumour_labels.nii.gz, tumour_seg_predicted.nii.gz or tumour_mask.nii.gz); add mode needs them."
        )
    log(f"validation cases: {', '.join(h.name for h in held_cases)}; tumours for add mode: {', '.join(sorted(examples.tumours))}")
    validation = {
        (f"{held.name}: {key}" if len(held_cases) > 1 else key): example
        for held in held_cases
        for key, example in validation_examples(InpaintExamples([held], patch, glioma, spacing_mm, lesions), held).items()
    }
    dev = resolve_device(device)

    def refiner_batch(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        drawn = [examples.random(rng) for _ in range(batch)]
        return (np.stack([e.inputs for e in drawn]), np.stack([e.truth - e.estimate for e in drawn]).astype(np.float32), np.stack([e.weight for e in drawn]))

    def scores(network: torch.nn.Module | None) -> dict[str, float]:
        """Mean absolute error (z units) inside the region, over the given sequences."""
        out = {}
        for key, example in validation.items():
            estimate = example.estimate if network is None else example.estimate + refine(network, example.inputs, patch, dev)
            mask = example.weight > 0
            out[key] = float(np.abs(estimate[mask] - example.truth[mask]).mean())
        return out

    corrections: dict[tuple[int, str], np.ndarray] = {}

    def correction(network: torch.nn.Module, key: str, example: InpaintExample) -> np.ndarray:
        """The network's correction of a validation example, once per network (the gate scores it at several weights)."""
        if (id(network), key) not in corrections:
            if any(k[0] != id(network) for k in corrections):
                corrections.clear()
            corrections[(id(network), key)] = refine(network, example.inputs, patch, dev)
        return corrections[(id(network), key)]

    def ssim_scores(network: torch.nn.Module | None, weight: float = 1.0) -> dict[str, float]:
        """SSIM inside the region (as the benchmarks score it) of the prior plus ``weight`` times the network's
        correction, mean over the validation regions of each mode and sequence (keys ``"remove t2f"``): the network
        answers a sequence of a mode only where it beats the prior there, at the weight that scores best."""
        per_key: dict[str, list[float]] = {}
        for key, example in validation.items():
            estimate = example.estimate if network is None else example.estimate + weight * correction(network, key, example)
            mode = "add" if key.split(": ")[-1].startswith("add") else "remove"
            for channel in (c for c in range(len(SEQUENCES)) if example.weight[c].any()):
                ssim = inpaint_metrics(example.truth[channel], estimate[channel], example.weight[channel] > 0)["ssim"]
                per_key.setdefault(f"{mode} {SEQUENCES[channel]}", []).append(ssim)
        return {key: float(np.mean(values)) for key, values in per_key.items()}

    def refined_example(rng: np.random.Generator, network: torch.nn.Module) -> InpaintExample:
        example = examples.random(rng, residual_patch)
        estimate = example.estimate + refine(network, example.inputs, residual_patch, dev)
        return InpaintExample(example.inputs, estimate.astype(np.float32), example.truth, example.weight, example.flags)

    residual_patch = [patch[0], patch[1], max(patch[2] // 2, 16)]
    flag_count = len(SEQUENCES) + 1
    plan = PriorPackagePlan(
        task="inpaint",
        description="Remove a lesion to healthy tissue, or add one inside a mask: harmonic-fill prior, regression network, residual latent diffusion.",
        spacing_mm=spacing_mm,
        prior={
            "kind": "harmonic fill"
            + ("; add: glioma appearance on the fill" if glioma else "")
            + (", on real tumour layouts (lesion bank)" if lesions else ""),
            "space": "each sequence z-scored by its known brain voxels",
            **({"glioma": glioma} if glioma else {}),
            **({"lesions": lesions} if lesions else {}),
        },
        refiner=refiner_spec(preset, 2 * len(SEQUENCES) + 1 + flag_count, len(SEQUENCES)),
        refiner_window=list(patch),
        refiner_batch=refiner_batch,
        validate=lambda network: float(np.mean(list(scores(network).values()))),
        validation_scores=scores,
        gate_scores=ssim_scores,
        gate_metric="SSIM inside the region on the validation cases, mean over their regions, per mode and sequence",
        gate_weights=GATE_WEIGHTS,
        residual_example=refined_example,
        residual_channels=len(SEQUENCES),
        flag_count=flag_count,
        extra_condition=lambda example: example.inputs[len(SEQUENCES) : len(SEQUENCES) + 1],  # the region
        batch=batch,
        validation_metric="mean absolute error (z units) inside the region, over the given sequences",
        extra_config={"inputs": list(SEQUENCES), "outputs": list(SEQUENCES), "flags": [*(f"present:{s}" for s in SEQUENCES), "mode:add"]},
        data_record={
            "cases": [f"{c.name} ({'+'.join(c.images)})" for c in training],
            "validation_case": ", ".join(h.name for h in held_cases),
            "validation_cases": [h.name for h in held_cases],
            "split": (split or Split(validation=[h.name for h in held_cases])).record(),
            "excluded": exclude or [],
            "tumour_masks": sorted(examples.tumours),
            "glioma_appearance_cases": [c.name for c in labelled],
        },
    )
    return train_prior_package(plan, output, preset, settings, refiner_fraction, resume, scheduler, dev, log)
