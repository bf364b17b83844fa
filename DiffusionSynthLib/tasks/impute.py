"""Missing-sequence imputation: any subset of T1, T1c, T2, FLAIR in, the rest out.

prepare: inputs onto the grid of the first given (order t1n, t1c, t2w, t2f), then the model's
spacing; brain mask; percentile normalisation; a missing sequence is zeros plus a 0 flag.
sample: one conditional latent diffusion model for every subset. finish: each missing sequence
renormalised by its own brain percentiles (as the training targets were), rescaled to the
typical range recorded in the model package, back onto the reference grid.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..engine.progress import CancelCheck, ProgressCallback, never_cancel, no_progress
from ..errors import InputError
from ..geometry import resample, resample_like, resample_to_spacing
from ..intensity import brain_mask, normalise_mr
from ..models.package import ModelPackage
from ..sequences import SEQUENCES, given_sequences
from ..volume import Volume
from .checks import require_content
from .run import TaskRun


@dataclass
class Imputation:
    outputs: dict[str, Volume]  # each missing sequence, float32 on the reference grid
    std: dict[str, Volume] = field(default_factory=dict)  # when samples > 1
    reference: str = ""  # the input whose grid the outputs share
    steps: int = 0
    seed: int = 0


def split_inputs(inputs: dict[str, Volume | None]) -> tuple[list[str], list[str]]:
    """(given, missing) in the canonical order; at least one given and one missing."""
    given = given_sequences(inputs, "input sequence")
    missing = [name for name in SEQUENCES if name not in given]
    if not missing:
        raise InputError("All four sequences were given, so there is nothing to impute; leave out the ones to synthesise.")
    return given, missing


def impute(
    inputs: dict[str, Volume | None],
    model: ModelPackage,
    steps: int | None = None,
    seed: int = 0,
    samples: int = 1,
    device: str = "auto",
    progress: ProgressCallback = no_progress,
    cancel: CancelCheck = never_cancel,
) -> Imputation:
    """Synthesise every missing sequence on the grid of the first given input (inputs are not modified)."""
    given, missing = split_inputs(inputs)
    for name in given:
        require_content(inputs[name], f"{name} image")
    reference_name = given[0]
    reference = inputs[reference_name]
    run = TaskRun(model, "impute", steps, seed, samples, device, progress, cancel)

    spacing = model.config["spacing_mm"]
    on_grid = {name: resample_like(inputs[name], reference) for name in given}
    small = {name: resample_to_spacing(volume, spacing) for name, volume in on_grid.items()}
    grid = small[reference_name]
    mask_small = brain_mask([volume.array for volume in small.values()])
    if mask_small.sum() < 100:
        raise InputError("The inputs have almost no foreground at the model's spacing; check the images.")
    condition = np.zeros((len(SEQUENCES), *grid.shape), np.float32)
    for name in given:
        condition[SEQUENCES.index(name)] = normalise_mr(small[name].array, mask_small)
    flags = [1.0 if name in given else 0.0 for name in SEQUENCES]
    run.prepared()

    units = run.sample(condition, flags)

    mask_full = brain_mask([volume.array for volume in on_grid.values()])
    typical = model.config["intensity"]["typical_range"]
    result = Imputation(outputs={}, reference=reference_name, steps=run.steps, seed=seed)
    for name in missing:
        low, high = typical[name]
        # each decoded sample is put back on the normalisation the model was trained on (brain
        # percentiles at 0 and 1): this removes the autoencoder's affine intensity bias
        unit = np.stack([normalise_mr(sample, mask_small) for sample in units[:, SEQUENCES.index(name)]])
        values = low + unit * (high - low)
        mean = resample(grid.with_array(values.mean(axis=0)), reference.shape, reference.ijk_to_ras).array
        result.outputs[name] = reference.with_array(np.where(mask_full, mean, 0.0).astype(np.float32))
        if samples > 1:
            std = resample(grid.with_array(values.std(axis=0)), reference.shape, reference.ijk_to_ras).array
            result.std[name] = reference.with_array(np.where(mask_full, std, 0.0).astype(np.float32))
    run.done()
    return result
