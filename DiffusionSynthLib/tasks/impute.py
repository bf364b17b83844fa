"""Missing-sequence imputation: any subset of T1, T1c, T2, FLAIR in, the rest out.

prepare: inputs onto the grid of the first given (order t1n, t1c, t2w, t2f), axes into the model's
order, the model's spacing; brain mask; each sequence z-scored inside the brain.
estimate: the package's per-voxel polynomial regression of each missing sequence from the given
ones (the prior), plus its regression network's correction (the posterior-mean estimate);
with ``samples`` K >= 1, K samples of the residual drawn by latent diffusion are added and averaged;
then, in the configurations where training kept it, the estimate's quantiles inside the brain are
matched to the sequence's in real brains (``priors/quantile_matching.py``; the ``_std`` map is the
samples' spread before matching).
finish: each output put on the typical intensity scale of its sequence (brain mean and SD of the
training cases), zero outside the brain, back onto the first input's own grid.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from ..engine.progress import CancelCheck, ProgressCallback, never_cancel, no_progress
from ..engine.refiner import flag_channels
from ..errors import InputError, ModelError
from ..geometry import bounding_box, from_canonical, package_orientation, resample, resample_like, resample_to_spacing, to_canonical
from ..intensity import brain_mask
from ..models.package import ModelPackage
from ..priors.quantile_matching import calibration_used, match_quantiles
from ..priors.regression import predict, subset_key, zscore
from ..sequences import SEQUENCES, given_sequences
from ..volume import Volume
from .checks import require_content, require_not_ct
from .residual import Estimate, network_used, network_weight, refined, with_residual_samples
from .run import TaskRun

BOX_MARGIN = 8  # voxels around the brain that the networks see


@dataclass
class Imputation:
    outputs: dict[str, Volume]  # each missing sequence, float32 on the reference grid
    std: dict[str, Volume] = field(default_factory=dict)  # when samples > 1
    reference: str = ""  # the input whose grid the outputs share
    steps: int = 0
    seed: int = 0
    samples: int = 0
    provenance: dict = field(default_factory=dict)  # the synthetic-data record, when a pipeline made it


def split_inputs(inputs: Mapping[str, object]) -> tuple[list[str], list[str]]:
    """(given, missing) in the canonical order; at least one given and one missing."""
    given = given_sequences(inputs, "input sequence")
    missing = [name for name in SEQUENCES if name not in given]
    if not missing:
        raise InputError("All four sequences were given, so there is nothing to impute; leave out the ones to synthesise.")
    return given, missing


def prior_estimates(
    prior: Mapping, images: Mapping[str, np.ndarray], given: Sequence[str], brain: np.ndarray, spacing: Sequence[float]
) -> dict[str, np.ndarray]:
    """Each missing sequence's z-scored polynomial-regression estimate (0 outside the brain)."""
    out = {}
    for target in (name for name in SEQUENCES if name not in given):
        fit = prior["fits"].get(subset_key(given, target))
        if fit is None:
            raise ModelError(f"The model has no regression of {target} from {'+'.join(given)} (no training case had them together); give other sequences.")
        out[target] = predict(images, given, brain, fit, spacing, prior)
    return out


def network_inputs(images: Mapping[str, np.ndarray], given: Sequence[str], prior: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, list[float]]:
    """(network input (12, ...): given images, presence flags, estimate; the estimate (4, ...); the flags).

    The estimate holds each given sequence itself and each missing one's prior.
    """
    shape = next(iter(images.values())).shape
    flags = [1.0 if name in given else 0.0 for name in SEQUENCES]
    observed = np.stack([images[name] if name in given else np.zeros(shape, np.float32) for name in SEQUENCES])
    estimate = np.stack([images[name] if name in given else prior[name] for name in SEQUENCES]).astype(np.float32)
    return np.concatenate([observed, flag_channels(flags, shape), estimate]), estimate, flags


def impute(
    inputs: Mapping[str, Volume | None],
    model: ModelPackage,
    steps: int | None = None,
    seed: int = 0,
    samples: int | None = None,
    device: str = "auto",
    progress: ProgressCallback = no_progress,
    cancel: CancelCheck = never_cancel,
) -> Imputation:
    """Synthesise every missing sequence on the grid of the first given input (inputs are not modified)."""
    given, missing = split_inputs(inputs)
    volumes = {name: inputs[name] for name in given}
    for name, volume in volumes.items():
        require_content(volume, f"{name} image")
        require_not_ct(volume, f"{name} image", "imputation synthesises missing MR sequences from the given ones")
    if "prior" not in model.config:
        raise ModelError(f"The imputation model '{model.id}' has no prior (an older package format); retrain it with 'diffusionsynth train --task impute'.")
    run = TaskRun(model, "impute", steps, seed, samples, device, progress, cancel)
    reference_name = given[0]
    reference = volumes[reference_name]
    oriented = to_canonical(reference, package_orientation(model.config))
    on_grid = {name: resample_like(to_canonical(volume, package_orientation(model.config)), oriented) for name, volume in volumes.items()}
    spacing = [float(s) for s in model.config["spacing_mm"]]
    small = {name: resample_to_spacing(volume, spacing) for name, volume in on_grid.items()}
    grid = small[reference_name]
    brain = ndimage.binary_fill_holes(brain_mask([volume.array for volume in small.values()]))
    if brain.sum() < 100:
        raise InputError("The inputs have almost no foreground at the model's spacing; check the images.")
    images = {name: zscore(volume.array, brain) for name, volume in small.items()}
    priors = prior_estimates(model.config["prior"], images, given, brain, spacing)
    box = bounding_box(brain, BOX_MARGIN)  # the networks run on the brain's bounding box only
    net_input, estimate, flags = network_inputs({n: a[box] for n, a in images.items()}, given, {n: a[box] for n, a in priors.items()})
    run.prepared()

    prior_alone = estimate
    if any(network_used(model, subset_key(given, name)) for name in missing):  # else the network is not run at all
        estimate = refined(model, net_input, estimate, run)
    for name in missing:  # the network's correction times the weight validation chose (0: the prior alone)
        channel, weight = SEQUENCES.index(name), network_weight(model, subset_key(given, name))
        estimate[channel] = prior_alone[channel] + weight * (estimate[channel] - prior_alone[channel])
    for name in given:  # only the missing sequences are estimated
        estimate[SEQUENCES.index(name)] = images[name][box]
    in_box = with_residual_samples(model, estimate, flags, run)
    result = Estimate(
        np.zeros((len(SEQUENCES), *brain.shape), np.float32), None if in_box.std is None else np.zeros((len(SEQUENCES), *brain.shape), np.float32)
    )
    result.mean[(slice(None),) + box] = in_box.mean
    if in_box.std is not None and result.std is not None:
        result.std[(slice(None),) + box] = in_box.std
    for name in missing:
        if calibration_used(model.config, subset_key(given, name)):
            channel = SEQUENCES.index(name)
            result.mean[channel] = match_quantiles(result.mean[channel], brain, model.config["calibration"]["quantiles"][name])

    brain_full = ndimage.binary_fill_holes(brain_mask([volume.array for volume in on_grid.values()]))
    typical = model.config["intensity"]["typical"]
    imputation = Imputation(outputs={}, reference=reference_name, steps=run.steps, seed=seed, samples=run.samples)

    def back(values: np.ndarray) -> Volume:
        full = resample(grid.with_array(values), oriented.shape, oriented.ijk_to_ras).array
        return from_canonical(oriented.with_array(np.where(brain_full, full, 0.0).astype(np.float32)), reference)

    for name in missing:
        mean, sd = typical[name]
        channel = SEQUENCES.index(name)
        imputation.outputs[name] = back(mean + sd * result.mean[channel])
        if result.std is not None:
            imputation.std[name] = back(sd * result.std[channel])
    run.done()
    return imputation
