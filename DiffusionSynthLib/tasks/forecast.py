"""Tumour growth forecasting: from a baseline T1c and its tumour mask, the tumour and the image after N days.

prepare: the mask checked against the T1c's grid; tissue classes and the working grid (``growth``).
grow: Fisher-Kolmogorov with the package's calibrated parameters, one run for all days, each
day's front moved from the baseline's edge towards the simulated one until the tumour holds the
volume of the package's volume curve for that day (``growth.volume_curve``), or, in older
packages, the calibrated fraction of the way (``growth.front_fraction``; 1 when absent); with
``samples`` K >= 2, K more runs with parameters drawn from the calibrated spread between patients
give the voxel-wise probability of tumour. render: each day's image by inpainting every given
sequence, ``remove`` where the tumour has receded from the baseline mask, then ``add`` where it
has grown, by sub-region (enhancing front, necrosis behind it, oedema ahead: ``forecast_render``);
voxels away from both are the input's, bit for bit. Everything is on the T1c's grid.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..engine.progress import (
    CancelCheck,
    ProgressCallback,
    Stage,
    never_cancel,
    no_progress,
)
from ..errors import InputError, ModelError
from ..growth.domain import SOLVER_SPACING_MM, GrowthDomain, prepare_domain
from ..growth.parameters import GrowthParameters, draw_parameters
from ..growth.volume_curve import VolumeCurve
from ..intensity import head_mask_mr
from ..masks import checked_region
from ..models.package import ModelPackage
from ..sequences import SEQUENCES
from ..volume import Volume
from .checks import require_content, require_not_ct
from .run import default_samples

MAX_DAYS = 3650
MAX_SAMPLES = 64
MAX_HEAD_FRACTION = 0.5  # a "tumour" over half the head is not a tumour mask
UNITS_PER_RUN = 10  # progress units per growth simulation and per rendered day


@dataclass
class Forecast:
    masks: dict[int, Volume]  # uint8 0/1 on the T1c's grid
    images: dict[int, dict[str, Volume]] = field(default_factory=dict)  # per day, each given sequence
    probability: dict[int, Volume] = field(default_factory=dict)  # per day, when samples >= 2
    parameters: GrowthParameters | None = None
    physics_spacing: tuple[float, float, float] = (1.0, 1.0, 1.0)
    inpaint_model: str = ""
    steps: int = 0  # the inpainting's denoising steps
    provenance: dict = field(default_factory=dict)  # the synthetic-data record, when a pipeline made it


def check_days(days: Sequence[object]) -> list[int]:
    """Sorted distinct whole days from 1 to ``MAX_DAYS``; anything else is one ``InputError``."""
    if not days:
        raise InputError(f"Give at least one day to forecast with --days (whole days from 1 to {MAX_DAYS}).")
    result = set()
    for value in days:
        text = str(value).strip()
        if not (text.lstrip("+-").isdigit() and 1 <= int(text) <= MAX_DAYS):
            raise InputError(f"--days takes whole days after the baseline scan from 1 to {MAX_DAYS} (ten years), not '{value}'.")
        result.add(int(text))
    return sorted(result)


def check_spacing(values: Sequence[object] | None) -> tuple[float, float, float] | None:
    """Three voxel sizes in mm (0.05 to 50) from ``--assume-spacing``, or ``None`` when not given."""
    if values is None:
        return None
    try:
        spacing = tuple(float(v) for v in values)
    except ValueError:
        spacing = ()
    if len(spacing) != 3 or not all(np.isfinite(s) and 0.05 <= s <= 50 for s in spacing):
        raise InputError(f"--assume-spacing takes three voxel sizes in mm between 0.05 and 50, such as '0.86 0.86 5', not {list(values)}.")
    return spacing  # type: ignore[return-value]


THIN_FIELD_MM = 60.0  # no brain scan with isotropic voxels covers less than this along one axis...
WIDE_FIELD_MM = 150.0  # ...while covering a whole head along another


def spacing_warning(volume: Volume, what: str) -> str | None:
    """A warning when the header's spacing cannot be a brain's: isotropic voxels, a field of view thinner than
    ``THIN_FIELD_MM`` along one axis and wider than ``WIDE_FIELD_MM`` along another (slices whose thickness was lost,
    as in files that say 1x1x1 mm for 5 mm slices)."""
    spacing = np.asarray(volume.spacing, float)
    field = spacing * np.asarray(volume.shape, float)
    if np.ptp(spacing) > 1e-3 * spacing.max() or field.min() >= THIN_FIELD_MM or field.max() <= WIDE_FIELD_MM:
        return None
    sizes = " x ".join(f"{f:.0f}" for f in field)
    voxel = " x ".join(f"{s:g}" for s in spacing)
    return (
        f"The {what} says its voxels are {voxel} mm, which makes its field of view {sizes} mm: too thin for a head along one axis. "
        "If the header lost the slice thickness (5 mm slices written as 1 mm), give the real voxel size with --assume-spacing "
        "(for example 0.86 0.86 5); the growth is simulated in millimetres."
    )


def day_name(day: int) -> str:
    """``7`` -> ``day007``; at least three digits."""
    return f"day{day:03d}"


def check_tumour_mask(mask: Volume, t1c: Volume) -> np.ndarray:
    """The mask's non-zero voxels (bool on the T1c grid), or one ``InputError`` saying what is wrong."""
    return checked_region(
        mask,
        t1c,
        head_mask_mr(t1c),
        MAX_HEAD_FRACTION,
        "tumour mask",
        "head",
        "T1c",
        "has no tumour (no non-zero voxel); give the segmentation of the tumour on the baseline T1c.",
        "give the tumour's segmentation, not a head or brain mask.",
    )


def front_fraction(model: ModelPackage) -> float:
    """The calibrated front-movement factor (``growth.front_fraction``, 0 to 1); 1, the physics as simulated, when absent."""
    growth = model.config.get("growth") or {}
    try:
        fraction = float(growth.get("front_fraction", 1.0))
    except (TypeError, ValueError):
        fraction = float("nan")
    if not 0.0 <= fraction <= 1.0:
        raise ModelError(f"The model '{model.id}' has front_fraction {growth.get('front_fraction')!r}; it must be a number from 0 to 1.")
    return fraction


def volume_curve(model: ModelPackage) -> VolumeCurve | None:
    """The package's calibrated volume curve (``growth.volume_curve``), or None when it has none."""
    stored = (model.config.get("growth") or {}).get("volume_curve")
    if stored is None:
        return None
    try:
        curve = VolumeCurve.from_dict(stored)
    except (TypeError, ValueError, KeyError):
        curve = None
    if curve is None or not np.isfinite(curve.rate_per_day) or (curve.plateau_days is not None and not curve.plateau_days > 0):
        raise ModelError(f"The model '{model.id}' has volume_curve {stored!r}; it needs a finite rate_per_day and a positive plateau_days or null.")
    return curve


def front_rule(model: ModelPackage, domain: GrowthDomain) -> Callable[[int, np.ndarray], np.ndarray]:
    """How a day's simulated tumour becomes the forecast: its front moved to the volume curve's volume for that day
    (``GrowthDomain.front_to_volume``), else by the front factor (``GrowthDomain.moved_front``)."""
    curve = volume_curve(model)
    if curve is not None:
        baseline = float(domain.tumour.sum())
        return lambda day, mask: domain.front_to_volume(mask, baseline * curve.ratio(day))[0]
    fraction = front_fraction(model)
    return lambda day, mask: domain.moved_front(mask, fraction) if fraction < 1.0 else mask


def growth_config(model: ModelPackage) -> tuple[GrowthParameters, dict, float]:
    """(parameters, spread, solver spacing) from a forecast package."""
    growth = model.config.get("growth")
    if not isinstance(growth, dict) or "parameters" not in growth:
        raise ModelError(f"The model '{model.id}' has no 'growth' parameters in its model.json; it is not a forecast package.")
    parameters = GrowthParameters.from_dict(growth["parameters"])
    spacing = float(growth.get("solver_spacing_mm", SOLVER_SPACING_MM))
    if not 0.5 <= spacing <= 10:
        raise ModelError(f"The model '{model.id}' has solver_spacing_mm {spacing}; it must be between 0.5 and 10 mm.")
    return parameters, dict(growth.get("spread", {})), spacing


def given_inputs(inputs: dict[str, Volume | None]) -> tuple[list[str], Volume]:
    """The given sequences in canonical order and the T1c (required); all on the T1c's grid."""
    unknown = sorted(set(inputs) - set(SEQUENCES))
    if unknown:
        raise InputError(f"Unknown sequence names {unknown}; use {', '.join(SEQUENCES)}.")
    t1c = inputs.get("t1c")
    if t1c is None:
        raise InputError("Forecasting needs the contrast-enhanced T1 (--t1c): the growth model reads tissue from it.")
    given = [name for name in SEQUENCES if inputs.get(name) is not None]
    for name in given:
        require_content(inputs[name], f"{name} image")
        require_not_ct(inputs[name], f"{name} image", "forecasting grows a tumour in MR images")
        if not inputs[name].same_grid(t1c):
            raise InputError(
                f"The {name} image ({inputs[name].describe_grid()}) is not on the grid of the T1c ({t1c.describe_grid()}); "
                "the forecast keeps every voxel away from the tumour, so give all sequences on the T1c's grid."
            )
    return given, t1c


def grow_masks(
    domain: GrowthDomain,
    parameters: GrowthParameters,
    days: list[int],
    draws: list[GrowthParameters],
    stage: Callable[[float, str], None],
    front: Callable[[int, np.ndarray], np.ndarray] = lambda day, mask: mask,
) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray]]:
    """(mask per day, probability per day) on the input grid; the probability is empty without draws.

    Every run's simulated tumour of each day becomes the forecast through ``front`` (``front_rule``; default: the
    simulation as it is)."""
    runs = [parameters, *draws]
    masks: dict[int, np.ndarray] = {}
    counts = {day: np.zeros(domain.tumour.shape, np.float32) for day in days} if draws else {}
    for r, run_parameters in enumerate(runs):
        label = "growing the tumour" if r == 0 else f"growing sample {r}/{len(draws)}"
        grown = domain.forecast(run_parameters, days, progress=lambda f, r=r, label=label: stage(r + f, label))
        grown = {day: front(day, mask) for day, mask in grown.items()}
        if r == 0:
            masks = grown
        else:
            for day in days:
                counts[day] += grown[day]
    probability = {day: counts[day] / len(draws) for day in counts}
    return masks, probability


def rendering_steps(inpaint_model: ModelPackage | None, steps: int | None) -> int:
    """The denoising steps the day images' inpainting runs: 0 where it draws no diffusion sample (its default for prior
    packages, the deterministic estimate), so provenance records what ran."""
    if inpaint_model is None or default_samples(inpaint_model) == 0:
        return 0
    return int(steps or inpaint_model.config.get("inference", {}).get("default_steps", 0))


def forecast(
    inputs: dict[str, Volume | None],
    tumour_mask: Volume,
    days: Sequence[object],
    model: ModelPackage,
    inpaint_model: ModelPackage | None = None,
    samples: int = 1,
    seed: int = 0,
    steps: int | None = None,
    device: str = "auto",
    spacing: Sequence[float] | None = None,
    progress: ProgressCallback = no_progress,
    cancel: CancelCheck = never_cancel,
) -> Forecast:
    """Forecast the tumour mask (and, with ``inpaint_model``, the images) at each day.

    Args:
        inputs: sequences by name (t1n, t1c, t2w, t2f); the T1c is required, all on its grid.
        tumour_mask: the baseline tumour (non-zero voxels) on the T1c's grid.
        days: whole days after the baseline, 1 to ``MAX_DAYS``.
        model: a forecast package (calibrated growth parameters).
        inpaint_model: renders each day's images; ``None``: masks only.
        samples: K >= 2 adds K runs with parameters drawn from the calibrated spread (seeded).
        spacing: voxel size in mm for the physics when the header lost it; outputs stay on the input grid.
    """
    if model.task != "forecast":
        raise ModelError(f"The model '{model.id}' is for the task '{model.task}', not 'forecast'.")
    if samples < 1:
        raise InputError("The number of samples must be 1 or more.")
    days = check_days(days)
    given, t1c = given_inputs(inputs)
    tumour = check_tumour_mask(tumour_mask, t1c)
    parameters, spread, solver_spacing = growth_config(model)
    volume_curve(model), front_fraction(model)  # a damaged curve or factor is refused before any work
    draws = draw_parameters(parameters, spread, samples, seed) if samples > 1 else []
    runs = 1 + len(draws)
    rendered = len(days) if inpaint_model is not None else 0
    total = 1 + UNITS_PER_RUN * (runs + rendered)
    stage = Stage(progress, cancel, 0, total)
    last = [-1]

    def report(units: float, message: str, force: bool = False) -> None:
        step = min(int(units), total)
        if step != last[0] or force:
            last[0] = step
            stage.report(step, message)

    report(0, "preparing: tissue classes")
    domain = prepare_domain(t1c, tumour, spacing=spacing, solver_spacing_mm=solver_spacing)
    report(1, "prepared")
    masks, probability = grow_masks(domain, parameters, days, draws, lambda f, m: report(1 + UNITS_PER_RUN * f, m), front_rule(model, domain))
    result = Forecast(
        masks={day: t1c.with_array(mask.astype(np.uint8)) for day, mask in masks.items()},
        probability={day: t1c.with_array(p.astype(np.float32)) for day, p in probability.items()},
        parameters=parameters,
        physics_spacing=tuple(float(s) for s in domain.physical.spacing),
        inpaint_model=inpaint_model.id if inpaint_model is not None else "",
        steps=rendering_steps(inpaint_model, steps),
    )
    if inpaint_model is not None:
        from .forecast_render import render_day

        for index, day in enumerate(days):
            offset = 1 + UNITS_PER_RUN * (runs + index)
            result.images[day] = render_day(
                {name: inputs[name] for name in given},
                tumour,
                masks[day],
                inpaint_model,
                steps=steps,
                seed=seed,
                device=device,
                progress=lambda step, steps_total, message, offset=offset, day=day: report(
                    offset + UNITS_PER_RUN * step / max(steps_total, 1), f"day {day}: {message}"
                ),
                cancel=cancel,
                spacing=spacing,
            )
    report(total, "done", force=True)
    return result
