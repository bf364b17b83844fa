"""Train the imputation package: polynomial-regression prior, regression network, residual latent diffusion.

Cases are brain MR folders with any two or more of ``t1n``, ``t1c``, ``t2w``, ``t2f`` (see
``brain_cases.py``), each cropped to its brain's box; a sequence a case lacks is left out of its loss.
Validation cases (one by default, or a split's: ``split.py``) are kept out of training: every choice is
made on them, averaged over them: the prior's feature sets, the network's checkpoint (scored every few
minutes; the best weights ship; step 0 is the prior itself), where the network answers, the matching.
A split's test cases are never read. Patches come from a rotating working set of cases
(``ImputeExamples``), so fifty cases train in bounded memory.
Budget: ``refiner_fraction`` of the minutes for the network, the rest for the residual diffusion
(autoencoder then UNet, as in ``loop.py``). ``tumour_weight`` multiplies the loss (and the validation
error) inside a case's tumour segmentation: a lesion is a few percent of the brain, and an
unweighted L1 leaves it dimmer than it is (a trade against the rest of the brain: benchmarks/README.md).
Last, per configuration, whether the final estimate's quantiles are matched to the training cases'
(``priors/quantile_matching.py``): kept where it raises the validation cases' whole-brain SSIM.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..engine.device import resolve_device
from ..engine.refiner import refine, refiner_spec
from ..errors import InputError
from ..geometry import bounding_box
from ..metrics import mri_metrics
from ..priors.quantile_matching import calibration_entry, match_quantiles, reference_quantiles
from ..priors.regression import CaseFeatures, fit_all, predict_box, subset_key
from ..sequences import SEQUENCES
from ..tasks.impute import BOX_MARGIN, network_inputs
from .brain_cases import BrainCase, describe_data, load_brain_cases, typical_stats
from .loop import LoopSettings
from .prior_package import PriorPackagePlan, train_prior_package
from .split import Split

GATE_METRIC = "SSIM in the whole brain, the mean over the validation cases"


def proper_subsets(available: Sequence[str]) -> list[list[str]]:
    """Every non-empty proper subset of ``available`` (canonical order)."""
    names = [s for s in SEQUENCES if s in available]
    return [[n for i, n in enumerate(names) if code >> i & 1] for code in range(1, 2 ** len(names) - 1)]


def centred_box(shape: Sequence[int], centre: Sequence[int], size: Sequence[int]) -> tuple[slice, ...]:
    """A box of ``size`` (clipped to ``shape``) around ``centre``, kept inside the array."""
    starts = [int(np.clip(c - s // 2, 0, max(n - s, 0))) for c, s, n in zip(centre, size, shape)]
    return tuple(slice(a, min(a + s, n)) for a, s, n in zip(starts, size, shape))


def pad_to(array: np.ndarray, size: Sequence[int]) -> np.ndarray:
    pads = [(0, 0)] * (array.ndim - 3) + [(0, s - n) for s, n in zip(size, array.shape[-3:])]
    return np.pad(array, pads) if any(p[1] for p in pads) else array


@dataclass
class ImputeExample:
    inputs: np.ndarray  # (12, X, Y, Z) network input
    estimate: np.ndarray  # (4, ...) given images and missing priors
    truth: np.ndarray  # (4, ...) the case's images (0 where it lacks one)
    weight: np.ndarray  # (4, ...) on brain voxels of missing sequences the case has: 1, or the tumour weight inside its tumour
    flags: list[float]


class ImputeExamples:
    """Random training patches and fixed validation crops, priors computed on the fly inside each box.

    A case's smoothed features take about 0.4 GB (brain box at 1 mm), so patches are drawn from a working set of at
    most ``working_set`` cases whose features are kept; every ``rotate_every`` patches one case of the set is swapped
    for one outside it (its features computed anew, the old ones dropped): every case is visited, memory stays bounded.
    """

    def __init__(
        self,
        cases: list[BrainCase],
        prior: dict,
        spacing: list[float],
        patch: Sequence[int],
        tumour_weight: float = 1.0,
        working_set: int = 16,
        rotate_every: int = 150,
    ) -> None:
        self.cases, self.prior, self.spacing, self.patch, self.tumour_weight = cases, prior, spacing, list(patch), float(tumour_weight)
        self._features: dict[str, CaseFeatures] = {}
        self.active = list(range(min(working_set, len(cases))))
        self.rotate_every, self.drawn = max(int(rotate_every), 1), 0
        self.brain_points = {c.name: np.argwhere(c.brain).astype(np.int16) for c in cases}
        self.tumour_points = {c.name: np.argwhere(c.tumour > 0).astype(np.int16) for c in cases if c.tumour is not None and (c.tumour > 0).any()}

    def features(self, case: BrainCase) -> CaseFeatures:
        if case.name not in self._features:
            self._features[case.name] = CaseFeatures(case.images, case.brain, self.spacing, self.prior)
        return self._features[case.name]

    def _rotate(self, rng: np.random.Generator) -> None:
        """Swap one case of the working set for one outside it, dropping the leaving case's features."""
        outside = [i for i in range(len(self.cases)) if i not in self.active]
        if not outside:
            return
        slot = int(rng.integers(len(self.active)))
        self._features.pop(self.cases[self.active[slot]].name, None)
        self.active[slot] = outside[int(rng.integers(len(outside)))]

    def example(self, case: BrainCase, given: list[str], box: tuple[slice, ...]) -> ImputeExample:
        features = self.features(case)
        images = {name: case.images[name][box] for name in case.images}
        fits = self.prior["fits"]
        shape = case.brain[box].shape
        prior = {  # a target no training case taught (never scored: no case has it) is left at zero
            t: predict_box(features, given, fits[subset_key(given, t)], box) if subset_key(given, t) in fits else np.zeros(shape, np.float32)
            for t in SEQUENCES
            if t not in given
        }
        inputs, estimate, flags = network_inputs({n: images[n] for n in given}, given, prior)
        brain = case.brain[box]
        truth = np.stack([images.get(n, np.zeros(brain.shape, np.float32)) for n in SEQUENCES])
        weight = np.stack([brain & (n in case.images) & (n not in given) for n in SEQUENCES]).astype(np.float32)
        if case.tumour is not None and self.tumour_weight != 1.0:
            weight *= np.where(case.tumour[box] > 0, self.tumour_weight, 1.0).astype(np.float32)
        return ImputeExample(inputs, estimate, truth, weight, flags)

    def random(self, rng: np.random.Generator, patch: Sequence[int] | None = None) -> ImputeExample:
        patch = list(patch or self.patch)
        self.drawn += 1
        if self.drawn % self.rotate_every == 0:
            self._rotate(rng)
        case = self.cases[self.active[int(rng.integers(len(self.active)))]]
        subsets = proper_subsets(list(case.images))
        given = subsets[int(rng.integers(len(subsets)))]
        points = self.tumour_points.get(case.name) if rng.random() < 0.3 else None
        points = self.brain_points[case.name] if points is None else points
        centre = points[int(rng.integers(len(points)))] + rng.integers(-patch[0] // 4, patch[0] // 4 + 1, size=3)
        box = centred_box(case.brain.shape, centre, patch)
        example = self.example(case, given, box)
        fields = [example.inputs, example.estimate, example.truth, example.weight]
        fields = [pad_to(a, patch) for a in fields]
        if rng.random() < 0.5:  # left-right flip (the first axis is left-right: cases are in RAS order)
            fields = [np.ascontiguousarray(a[:, ::-1]) for a in fields]
        inputs, estimate, truth, weight = fields
        return ImputeExample(inputs, estimate, truth, weight, example.flags)


def validation_examples(examples: ImputeExamples, case: BrainCase) -> dict[str, ImputeExample]:
    """Each single missing sequence of the validation case (and FLAIR <-> T1c), in a fixed box around its tumour or brain.

    Keyed by the given sequences (``"t1c,t2w,t2f"``); every missing sequence the case has is scored.
    """
    points = np.argwhere(case.tumour > 0) if case.tumour is not None and (case.tumour > 0).any() else np.argwhere(case.brain)
    size = [examples.patch[0] * 3 // 2, examples.patch[1] * 3 // 2, examples.patch[2]]  # four network windows: seconds per validation
    box = centred_box(case.brain.shape, points.mean(axis=0).astype(int), size)
    available = [n for n in SEQUENCES if n in case.images]
    configs = [[n for n in available if n != target] for target in available] if len(available) > 2 else []
    configs += [[name] for name in ("t1c", "t2f") if "t1c" in available and "t2f" in available]
    return {",".join(given): examples.example(case, given, box) for given in configs}


def choose_validation_cases(cases: list[BrainCase], names: Sequence[str] | str | None) -> list[BrainCase]:
    """The named validation cases (several: every choice is averaged over them), or the default one."""
    if names is None or isinstance(names, str):
        return [choose_validation_case(cases, names)]
    return [choose_validation_case(cases, name) for name in dict.fromkeys(names)]


def choose_validation_case(cases: list[BrainCase], name: str | None) -> BrainCase:
    if name is not None:
        chosen = [c for c in cases if c.name == name]
        if not chosen:
            raise InputError(f"No case named '{name}' for --validation-case; cases: {', '.join(c.name for c in cases)}.")
        return chosen[0]
    most = max(len(c.images) for c in cases)
    return sorted((c for c in cases if len(c.images) == most), key=lambda c: c.name)[-1]


def train_impute(
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
    tumour_weight: float = 1.0,
    split: Split | None = None,
    log=print,
) -> Path:
    """Train the package on every case under ``data`` except ``exclude`` and ``split``'s test cases (never loaded);
    ``validation_case`` (or ``split``'s validation cases) makes every choice, averaged over the cases."""
    if not tumour_weight >= 1.0:
        raise InputError(f"--tumour-weight must be 1 (no extra weight) or more; {tumour_weight} was given.")
    settings = settings or LoopSettings()
    spacing_mm = [float(spacing)] * 3
    test = split.test if split is not None else []
    cases = load_brain_cases(data, spacing_mm, [*(exclude or []), *test], minimum=2, log=log, crop=True)
    if len(cases) < 2:
        raise InputError(f"Imputation training needs at least two cases (one is kept for validation); {describe_data(data)} hold {len(cases)}.")
    held_cases = choose_validation_cases(cases, split.validation if split is not None and split.validation else validation_case)
    training = [c for c in cases if all(c is not h for h in held_cases)]
    if not training:
        raise InputError("Every case is a validation case; imputation training needs at least one case to learn from.")
    log(f"validation cases: {', '.join(h.name for h in held_cases)}; training cases ({len(training)}): {', '.join(c.name for c in training)}")
    if test:
        log(f"test cases (never loaded): {', '.join(test)}")
    prior = fit_all({c.name: (c.images, c.brain) for c in training}, spacing_mm, validation=[(h.images, h.brain) for h in held_cases], log=log)
    examples = ImputeExamples(training, prior, spacing_mm, patch, tumour_weight)
    held_examples = {h.name: ImputeExamples([h], prior, spacing_mm, patch, tumour_weight) for h in held_cases}
    validation = {h.name: validation_examples(held_examples[h.name], h) for h in held_cases}
    dev = resolve_device(device)

    def refiner_batch(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        drawn = [examples.random(rng) for _ in range(batch)]
        inputs = np.stack([e.inputs for e in drawn])
        target = np.stack([e.truth - e.estimate for e in drawn])
        weight = np.stack([e.weight for e in drawn])
        return inputs.astype(np.float32), target.astype(np.float32), weight

    def averaged(per_case: dict[str, list[float]]) -> dict[str, float]:
        return {key: float(np.mean(values)) for key, values in per_case.items()}

    def scores(network: torch.nn.Module | None) -> dict[str, float]:
        """Mean absolute error (z units) in the brain of each validation box, per configuration, averaged over the
        validation cases that have it (tumour voxels weighted as in training)."""
        out: dict[str, list[float]] = {}
        for case_examples in validation.values():
            for given, example in case_examples.items():
                estimate = example.estimate if network is None else example.estimate + refine(network, example.inputs, patch, dev)
                for target in (n for n in SEQUENCES if example.weight[SEQUENCES.index(n)].any()):
                    channel = SEQUENCES.index(target)
                    error = np.abs(estimate[channel] - example.truth[channel])
                    out.setdefault(f"{given}->{target}", []).append(float((example.weight[channel] * error).sum() / example.weight[channel].sum()))
        return averaged(out)

    def validate(network: torch.nn.Module) -> float:
        return float(np.mean(list(scores(network).values())))

    quantiles = {t: reference_quantiles([c.images[t][c.brain] for c in training if t in c.images]) for t in SEQUENCES if any(t in c.images for c in training)}

    corrections: dict[tuple[int, str, str], np.ndarray] = {}

    def whole_brain_correction(network: torch.nn.Module, case: str, given: str, example: ImputeExample) -> np.ndarray:
        """The network's correction over a validation case's whole brain, computed once per network, case and
        configuration (the gate and the matching both score it; each is minutes on a CPU)."""
        key = (id(network), case, given)
        if key not in corrections:
            if any(k[0] != id(network) for k in corrections):
                corrections.clear()  # another network: its corrections are no longer asked for
            corrections[key] = refine(network, example.inputs, patch, dev)
        return corrections[key]

    def whole_brain(
        network: torch.nn.Module | None, prior_only: Sequence[str] = (), weight: float = 1.0
    ) -> Iterator[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
        """(configuration, estimate, truth, brain) for each configuration of each validation case over its whole
        brain, ``weight`` times the network's correction added except in ``prior_only``. One configuration's inputs at a time: a whole
        brain's are hundreds of MB."""
        for held in held_cases:
            brain_box = bounding_box(held.brain, BOX_MARGIN)
            for given in validation[held.name]:
                example = held_examples[held.name].example(held, given.split(","), brain_box)
                correction = None if network is None else whole_brain_correction(network, held.name, given, example)
                for target in (n for n in SEQUENCES if example.weight[SEQUENCES.index(n)].any()):
                    key, channel = f"{given}->{target}", SEQUENCES.index(target)
                    estimate = (
                        example.estimate[channel] if correction is None or key in prior_only else example.estimate[channel] + weight * correction[channel]
                    )
                    yield key, estimate, example.truth[channel], example.weight[channel] > 0

    def ssim_scores(network: torch.nn.Module | None, weight: float = 1.0) -> dict[str, float]:
        """SSIM (as the benchmarks score it) in the validation cases' whole brains, per configuration (averaged over the
        cases): where the network answers is decided on what the benchmarks score (the box around the tumour can prefer
        a network that loses to the prior over the whole brain)."""
        out: dict[str, list[float]] = {}
        for key, estimate, truth, brain in whole_brain(network, weight=weight):
            out.setdefault(key, []).append(mri_metrics(truth, estimate, brain)["ssim"])
        return averaged(out)

    def calibration(network: torch.nn.Module | None, prior_only: Sequence[str]) -> dict:
        """Per configuration, the final estimate's whole-brain SSIM without and with quantile matching (averaged over
        the validation cases): where it is used."""
        per_case: dict[str, dict[str, list[float]]] = {"without": {}, "with": {}}
        for key, estimate, truth, brain in whole_brain(network, prior_only):
            target = key.split("->")[1]
            if target not in quantiles:  # no training case has it: nothing to match to
                continue
            matched = match_quantiles(estimate, brain, quantiles[target])
            per_case["without"].setdefault(key, []).append(mri_metrics(truth, estimate, brain)["ssim"])
            per_case["with"].setdefault(key, []).append(mri_metrics(truth, matched, brain)["ssim"])
        return {"calibration": calibration_entry(quantiles, {k: averaged(v) for k, v in per_case.items()}, GATE_METRIC)}

    def refined_example(rng: np.random.Generator, network: torch.nn.Module) -> ImputeExample:
        example = examples.random(rng, settings_patch)
        correction = refine(network, example.inputs, settings_patch, dev)
        estimate = example.estimate + correction * (1.0 - np.array(example.flags, np.float32))[:, None, None, None]
        return ImputeExample(example.inputs, estimate.astype(np.float32), example.truth, example.weight, example.flags)

    settings_patch = [patch[0], patch[1], max(patch[2] // 2, 16)]
    plan = PriorPackagePlan(
        task="impute",
        description="Any subset of T1n, T1c, T2w, T2-FLAIR in, the missing sequences out: polynomial-regression prior, regression network, residual latent diffusion.",
        spacing_mm=spacing_mm,
        prior=prior,
        refiner=refiner_spec(preset, 3 * len(SEQUENCES), len(SEQUENCES)),
        refiner_window=list(patch),
        refiner_batch=refiner_batch,
        validate=validate,
        validation_scores=scores,
        gate_scores=ssim_scores,
        gate_metric=GATE_METRIC,
        finish=calibration,
        residual_example=refined_example,
        residual_channels=len(SEQUENCES),
        flag_count=len(SEQUENCES),
        batch=batch,
        extra_config={
            "inputs": list(SEQUENCES),
            "outputs": list(SEQUENCES),
            "intensity": {"input": "z-score inside the brain", "typical": typical_stats(cases)},
        },
        data_record={
            "cases": [f"{c.name} ({'+'.join(c.images)})" for c in training],
            "validation_case": ", ".join(h.name for h in held_cases),
            "validation_cases": [h.name for h in held_cases],
            "split": (split or Split(validation=[h.name for h in held_cases])).record(),
            "excluded": exclude or [],
            "tumour_weight": float(tumour_weight),
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
