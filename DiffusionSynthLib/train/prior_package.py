"""Train and write a prior package: classical prior (already fitted), regression network, residual diffusion.

A task hands over a ``PriorPackagePlan``: the fitted prior, the network spec, batch and validation
functions, and how to draw a refined example for the residual diffusion. This module runs the
stages, keeps the validation record, and writes the package (``model.json`` with the prior and
the training record, the networks as safetensors, the card).

Resume: ``--resume`` continues from the checkpoints beside the output; when there are none (a new
machine, a fresh checkout) it continues from the package itself, whose ``model.json`` records the
time and steps spent, with fresh optimiser state.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..models.package import load_model, save_model
from ..priors.contralateral import SHIFT_VOXELS
from ..priors.glioma import EDGE_RAMP_MM
from ..priors.lesion_bank import CANDIDATES, TEXTURE_GAIN
from .architectures import autoencoder_spec, latent_downsample, scheduler_spec, unet_spec
from .loop import LoopResult, LoopSettings, train_latent_diffusion
from .record import command_line, inference_settings
from .refiner_loop import RefinerBatch, RefinerResult, RefinerSettings, Validate, train_refiner
from .synthetic_mr import T1_SHARE

LATENT_CHANNELS = 4
DEFAULT_STEPS = 10


@dataclass
class PriorPackagePlan:
    task: str
    description: str
    spacing_mm: list[float]
    prior: dict[str, Any]
    refiner: dict[str, Any]  # network spec
    refiner_window: list[int]
    refiner_batch: RefinerBatch
    validate: Validate
    validation_scores: Callable[[torch.nn.Module | None], dict[str, float]]  # per configuration; None scores the prior
    residual_example: Callable[[np.random.Generator, torch.nn.Module], Any]  # -> an example with estimate, truth, weight, flags
    residual_channels: int
    flag_count: int
    batch: int
    extra_condition: Callable[[Any], np.ndarray] | None = None  # channels the diffusion sees besides the estimate (from an example)
    extra_config: dict[str, Any] = field(default_factory=dict)
    validation_metric: str = "mean absolute error (z units) in the brain of the validation box"
    # per key the inference looks up (a configuration, a mode), higher is better; where the network does not beat the
    # prior on the validation case, the package answers that key with the prior alone
    # called with the network and the weight of its correction (``gate_weights``: the weights tried, 1 = the full
    # correction; a key answered at a weight below 1 is the prior plus that share of the correction)
    gate_scores: Callable[[torch.nn.Module | None, float], dict[str, float]] | None = None
    gate_metric: str = "SSIM"
    gate_weights: tuple[float, ...] = (1.0,)
    # model.json entries decided last, on the final estimate (the network, the prior where the gate chose it): the
    # imputation's quantile matching; called with the network (None when its correction is zero) and the gate's
    # prior-only keys
    finish: Callable[[torch.nn.Module | None, list[str]], dict[str, Any]] | None = None
    data_record: dict[str, Any] = field(default_factory=dict)


def _seed_from_package(output: Path, workdir: Path, log: Callable[[str], None], diffusion_too: bool = True) -> None:
    """Checkpoints made from an existing package (weights, time and steps; fresh optimisers), for --resume without checkpoints;
    the residual diffusion's only with ``diffusion_too`` (else it trains afresh, resumable from its own checkpoints)."""
    if (workdir / "refiner.pt").exists() or not (output / "model.json").is_file():
        return
    package = load_model(output)
    record = package.config.get("training", {})
    refiner = record.get("refiner")
    if "refiner" not in package.networks or not refiner:
        return
    weights = package.networks["refiner"].state_dict()
    state = {"steps": refiner["steps"], "seconds": refiner["seconds"], "loss": None, "history": refiner["history"], "best_step": refiner["best_step"]}
    torch.save({"network": weights, "optimiser": None, "best": weights, "state": json.dumps(state)}, workdir / "refiner.pt")
    diffusion = record.get("diffusion")
    if diffusion_too and diffusion and {"autoencoder", "unet"} <= set(package.networks):
        torch.save(
            {
                "autoencoder": package.networks["autoencoder"].state_dict(),
                "unet": package.networks["unet"].state_dict(),
                "optimisers": None,
                "state": {
                    "stage": diffusion["stage"],
                    "steps": diffusion["steps"],
                    "seconds": diffusion["seconds"],
                    "scale": package.config["latent_scale_factor"],
                    "losses": {},
                },
            },
            workdir / "checkpoint.pt",
        )
    log(f"resuming from the package {output} ({refiner['seconds']:.0f} s of network training so far; optimisers start afresh)")


def _residual_scale(plan: PriorPackagePlan, network: torch.nn.Module, seed: int) -> float:
    rng = np.random.default_rng([seed, 99])
    values = []
    for _ in range(8):
        example = plan.residual_example(rng, network)
        values.append(((example.truth - example.estimate) * example.weight)[example.weight > 0])
    return float(max(np.concatenate(values).std(), 1e-3))


def _train_diffusion(
    plan: PriorPackagePlan,
    network: torch.nn.Module,
    preset: str,
    settings: LoopSettings,
    scale: float,
    scheduler: str,
    workdir: Path,
    resume: bool,
    device,
    log,
) -> tuple[dict[str, dict], int, LoopResult]:
    ae = autoencoder_spec(preset, in_channels=plan.residual_channels, latent_channels=LATENT_CHANNELS)
    downsample = latent_downsample(ae)
    condition_channels = plan.residual_channels + (
        0 if plan.extra_condition is None else int(plan.extra_condition(plan.residual_example(np.random.default_rng(0), network)).shape[0])
    )
    unet = unet_spec(preset, LATENT_CHANNELS + condition_channels * downsample**3 + plan.flag_count, LATENT_CHANNELS)
    specs = {"autoencoder": ae, "unet": unet, "scheduler": scheduler_spec(scheduler)}

    def pair(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        drawn = [plan.residual_example(rng, network) for _ in range(plan.batch)]
        extra = plan.extra_condition
        condition = np.stack([e.estimate if extra is None else np.concatenate([e.estimate, extra(e)]) for e in drawn]).astype(np.float32)
        target = np.stack([(e.truth - e.estimate) * e.weight / scale for e in drawn]).astype(np.float32)
        return condition, target, np.array([e.flags for e in drawn], np.float32) if plan.flag_count else None

    result = train_latent_diffusion(specs, lambda rng: pair(rng)[1], pair, downsample, settings, workdir, resume, log, device)
    return specs, downsample, result


def _gate(plan: PriorPackagePlan, network: torch.nn.Module | None) -> dict[str, Any] | None:
    """Each key's score with the prior alone and with the network's correction at each of ``plan.gate_weights`` (None: a
    network whose correction is exactly zero); per key the best weight where it beats the prior (``weights``, those
    below 1), else the prior alone (``prior only``)."""
    if plan.gate_scores is None:
        return None
    prior = plan.gate_scores(None, 1.0)
    per_weight = {weight: prior if network is None else plan.gate_scores(network, weight) for weight in plan.gate_weights}
    best = {key: max(plan.gate_weights, key=lambda w: (per_weight[w][key], w)) for key in prior}
    prior_only = sorted(key for key in prior if not per_weight[best[key]][key] > prior[key])
    gate: dict[str, Any] = {"metric": plan.gate_metric, "prior": prior, "prior + network": per_weight[max(plan.gate_weights)], "prior only": prior_only}
    if len(plan.gate_weights) > 1:
        gate["by weight"] = {f"{weight:g}": scores for weight, scores in per_weight.items()}
        gate["weights"] = {key: weight for key, weight in sorted(best.items()) if key not in prior_only and weight != 1.0}
    return gate


def train_prior_package(
    plan: PriorPackagePlan,
    output: Path,
    preset: str,
    loop_settings: LoopSettings,
    refiner_fraction: float,
    resume: bool,
    scheduler: str,
    device: torch.device,
    log: Callable[[str], None],
) -> Path:
    """Prior (fitted), network for ``refiner_fraction`` of the time budget, residual diffusion for the rest; the package."""
    refiner_settings = RefinerSettings(minutes=loop_settings.minutes * refiner_fraction, max_steps=loop_settings.max_steps, seed=loop_settings.seed)
    workdir = output.parent / f".{output.name}.training"
    workdir.mkdir(parents=True, exist_ok=True)
    if resume:
        _seed_from_package(output, workdir, log, diffusion_too=not loop_settings.restart_diffusion)
    refiner: RefinerResult = train_refiner(plan.refiner, plan.refiner_batch, plan.validate, refiner_settings, workdir / "refiner.pt", resume, log, device)
    prior_scores, model_scores = plan.validation_scores(None), plan.validation_scores(refiner.network)
    log(json.dumps({"validation": {"prior": prior_scores, "prior + network": model_scores}}))
    # best at step 0: the zero-initialised network, whose correction is exactly zero (a prior-only fold): not run again
    scored_network = None if refiner.best_step == 0 else refiner.network
    gate = _gate(plan, scored_network)
    if gate is not None:
        log(json.dumps({"network per key": gate}))
    finished = {} if plan.finish is None else plan.finish(scored_network, [] if gate is None else gate["prior only"])
    if finished:
        log(json.dumps({key: value.get("validation", value) for key, value in finished.items()}))
    networks: dict[str, torch.nn.Module] = {"refiner": refiner.network}
    specs: dict[str, dict] = {"refiner": plan.refiner}
    config: dict[str, Any] = {}
    diffusion_minutes = loop_settings.minutes - refiner_settings.minutes
    diffusion_record = None
    if diffusion_minutes > 0 and loop_settings.max_steps != 0:
        scale = _residual_scale(plan, refiner.network, loop_settings.seed)
        settings = LoopSettings(**{**loop_settings.__dict__, "minutes": diffusion_minutes})
        diffusion_specs, downsample, result = _train_diffusion(plan, refiner.network, preset, settings, scale, scheduler, workdir, resume, device, log)
        if not result.is_main:
            return output
        networks.update(result.networks)
        specs.update(autoencoder=diffusion_specs["autoencoder"], unet=diffusion_specs["unet"])
        config.update(
            scheduler=diffusion_specs["scheduler"], latent_scale_factor=result.latent_scale_factor, latent_downsample=downsample, residual={"scale": scale}
        )
        diffusion_record = {"stage": "done", "steps": result.steps, "seconds": round(result.seconds), "final_losses": result.losses}
    inference = inference_settings(DEFAULT_STEPS)
    inference["default_samples"] = 0
    config = {
        "id": output.name,
        "task": plan.task,
        "description": plan.description,
        "networks": specs,
        "spacing_mm": plan.spacing_mm,
        "orientation": "RAS",
        "prior": plan.prior,
        "refiner": {
            "window": plan.refiner_window,
            "prior_only": [] if gate is None else gate["prior only"],
            **({"weights": gate["weights"]} if gate and gate.get("weights") else {}),
        },
        **config,
        **finished,
        "inference": inference,
        **plan.extra_config,
        "training": {
            "command": command_line(),
            **plan.data_record,
            "preset": preset,
            "refiner": {
                "steps": refiner.steps,
                "seconds": round(refiner.seconds),
                "best_step": refiner.best_step,
                "history": refiner.history,
            },
            "diffusion": diffusion_record,
            "validation": {
                "metric": plan.validation_metric,
                "prior": prior_scores,
                "prior + network": model_scores,
                "network per key": gate,
            },
        },
    }
    return save_model(config, networks, output, prior_card(config))


def _gate_answer(gate: dict[str, Any], key: str) -> str:
    """The card's answer for one key: no, yes, or the weight and its score."""
    if key in gate["prior only"]:
        return "no"
    weight = gate.get("weights", {}).get(key)
    return "yes" if weight is None else f"weight {weight:g} ({gate['by weight'][f'{weight:g}'][key]:.3f})"


def prior_card(config: dict[str, Any]) -> str:
    """The training part of the card; licence, data terms and benchmark tables are generated blocks (``cards.py``)."""
    training = config["training"]
    validation = training["validation"]
    rows = "\n".join(f"| {key} | {validation['prior'][key]:.3f} | {validation['prior + network'][key]:.3f} |" for key in sorted(validation["prior"]))
    refiner = training["refiner"]
    diffusion = training["diffusion"]
    diffusion_line = (
        f"- Residual diffusion: autoencoder {diffusion['steps'].get('autoencoder', 0)} steps, UNet {diffusion['steps'].get('unet', 0)} steps, "
        f"{diffusion['seconds']} s; residual scale {config['residual']['scale']:.3f}."
        if diffusion
        else "- Residual diffusion: not trained (the package gives its deterministic estimate only)."
    )
    synthetic = training.get("synthetic_mr") or {}
    synthetic_line = (
        f"- Also trained on {synthetic['per_ct_scan']} synthetic MR contrasts of each CT without an MR "
        f"({', '.join(training.get('ct_scans', []))}; {synthetic['share_of_patches']:.0%} of the patches): tissue classes from HU "
        "painted with random intensities (air and dense bone dark, the skull's marrow from dark to as bright as fat; "
        f"{T1_SHARE:.0%} of the contrasts in a T1-weighted order: fluid dark, fat brightest, marrow bright), blur, bias field and noise"
        + (
            f"; {synthetic['painted_lesions_share']:.0%} of them with one or two tumour-like lesions painted into the brain of MR and CT "
            "(oedema, enhancing rim, necrotic core, or a fluid cavity; CT densities of tissue and fluid)"
            if synthetic.get("painted_lesions_share")
            else ""
        )
        + (
            f". {synthetic['validation_per_ct_scan']} more contrasts of each, drawn apart, score the network with the pairs' validation slabs.\n"
            if synthetic.get("validation_per_ct_scan")
            else ".\n"
        )
        if synthetic.get("per_ct_scan") and synthetic.get("share_of_patches")
        else ""
    )
    test = (training.get("split") or {}).get("test") or {}
    test_line = (
        "- Test cases (never read by training, no choice made on them; the held-out figures below are theirs): "
        + "; ".join(f"{group}: {', '.join(names)}" for group, names in test.items())
        + "\n"
        if test
        else ""
    )
    gate = validation.get("network per key")
    gate_block = (
        f"""
Where the network is used ({gate["metric"]}; higher is better; where it does not beat the
prior, the package answers with the prior alone; the weight is the share of its correction used, chosen where a
part of it scores best):

| key | prior | prior + network | network used |
|---|---|---|---|
"""
        + "\n".join(f"| {key} | {gate['prior'][key]:.3f} | {gate['prior + network'][key]:.3f} | {_gate_answer(gate, key)} |" for key in sorted(gate["prior"]))
        + "\n"
        if gate
        else ""
    )
    calibration = config.get("calibration")
    calibration_block = (
        f"""
Where the estimate's quantiles in the brain are matched to the training cases' ({calibration["metric"]}; higher is
better; used where matching scores higher):

| configuration | without | matched | matching used |
|---|---|---|---|
"""
        + "\n".join(
            f"| {key} | {calibration['validation']['without'][key]:.3f} | {calibration['validation']['with'][key]:.3f} | "
            f"{'yes' if key in calibration['used'] else 'no'} |"
            for key in sorted(calibration["validation"]["without"])
        )
        + "\n"
        if calibration
        else ""
    )
    calibration_step = (
        """4. Quantile matching, where validation kept it: the estimate's intensities inside the brain given, rank for rank,
   the mean quantiles of the training cases' real images of that sequence (a monotone map: the spread a regression
   loses, not new structure).
"""
        if calibration
        else ""
    )
    gate_sentence = ", and where the network does not beat the prior's SSIM there the package answers with the prior alone" if gate else ""
    lesions = config["prior"].get("lesions")
    lesion_line = (
        f"""   Added tumours: the sub-region layout of one of {len(lesions["layouts"])} real training tumours (expert labels, cropped
   to the lesion and stored as {lesions["layout_size"]}³ label maps: geometry only, no image intensity), warped into the
   drawn mask, edge onto edge (the seed picks among the {CANDIDATES} best-fitting layouts and mirrorings), each sub-region at its fitted contrast, plus the
   texture of real gliomas (fine and coarse Gaussian random fields at {TEXTURE_GAIN:g} of their fitted amplitudes) added after the
   network; the change rises over {EDGE_RAMP_MM:g} mm from the lesion's edge (both chosen on the validation cases).
"""
        if lesions
        else ""
    )
    removal_line = (
        f"""   Removed tissue: the other hemisphere mirrored across the brain's midline, moved locally (up to {SHIFT_VOXELS} voxels) to where
   it best continues the known tissue around the region and Poisson-blended in, added after the network at a share
   per sequence (samples: their own share and share of the diffusion residual), chosen on the validation cases.
"""
        if config["task"] == "inpaint"
        else ""
    )
    return f"""# Model card: {config["id"]}

Task: {config["task"]}. {config["description"]}
**Synthetic images; not for diagnosis.**

## Method
1. Prior: {config["prior"]["kind"]} ({config["prior"].get("space", "")}), fitted in seconds on the training cases.
{lesion_line}{removal_line}2. Regression network (MONAI `BasicUNet`, residual over the prior, last layer zero-initialised, masked L1,
   {config["spacing_mm"][0]:g} mm patches of {"x".join(str(w) for w in config["refiner"]["window"])}, AdamW with a cosine decay of the
   learning rate over the time budget); the weights kept are the best on the validation case (selection metric
   below){gate_sentence}.
3. Latent diffusion of what the first two miss (`--samples K`: the mean of K samples and their SD; default 0:
   the deterministic posterior-mean estimate).
{calibration_step}
## Training
- Command: `{training["command"]}`
- Training cases: {", ".join(training.get("cases", []))}
- Validation case{"s" if len(training.get("validation_cases", [])) > 1 else ""} (never trained on; every choice is made on {"them" if len(training.get("validation_cases", [])) > 1 else "it"}): {training.get("validation_case")}
{test_line}{synthetic_line}- Network: {refiner["steps"]} steps in {refiner["seconds"]} s; best at step {refiner["best_step"]}.
{diffusion_line}

## Validation ({validation["metric"]}; lower is better)
| configuration | prior | prior + network |
|---|---|---|
{rows}
{gate_block}{calibration_block}"""
