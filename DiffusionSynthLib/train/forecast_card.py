"""The model card of a forecast package, written from its ``model.json``: the data it was given, never a fixed text.

The licence and the data's terms are the card's generated block (``cards.render_card``), from the
keys ``licence`` and ``data_terms`` that ``train`` writes.
"""

from __future__ import annotations

from ..growth.longitudinal import ASSUMED_SPACING_MM
from ..growth.loo import LABELS, against_baselines, markdown, package_method


def forecast_card(config: dict) -> str:
    growth, training = config["growth"], config["training"]
    p, spread = growth["parameters"], growth["spread"]
    speed = 2.0 * (p["diffusivity_white"] * max(p["proliferation"], 0.0)) ** 0.5
    sx, sy, sz = growth["assumed_spacing_mm"]
    spacing_origin = (
        "the default, chosen for TCIA Brain-Tumor-Progression files whose headers say 1x1x1 mm: in-plane, their heads measure "
        "a median 183 x 233 pixels against about 150 x 190 mm for adults, and a 220 mm field of view on 256 pixels is 0.86 mm; "
        "slices 5 mm, that collection's usual thickness"
        if tuple(growth["assumed_spacing_mm"]) == tuple(ASSUMED_SPACING_MM)
        else "as given to training"
    )
    curve = growth.get("volume_curve")
    if curve:
        plateau = "none (exponential at every interval)" if curve["plateau_days"] is None else f"{curve['plateau_days']:g} days"
        front_text = (
            "How far the forecast moves the tumour's edge is calibrated on the same patients as a volume curve, "
            f"ln(V(t) / V0) = rate x min(t, plateau), rate {curve['rate_per_day']:.4f} /day (the patients' median), plateau {plateau} "
            "(chosen by mean absolute volume error): in this collection the follow-up is the scan at progression, and its volume "
            "change does not grow with the interval. The edge moves from the baseline's towards the simulated one (signed distances "
            "interpolated) until the mask holds that volume: the physics says where the tumour goes, the curve how much."
        )
        curve_row = f"| volume curve (rate, plateau) | {curve['rate_per_day']:.4f} /day, {plateau} |\n"
        verdict_note = (  # true of the method whatever data it is fitted on; the figures of the variants are in benchmarks/README.md
            "\n\nRead the volume-matched figures as optimistic: the volume curve, and how the front reaches its volume, were "
            "chosen with the TCIA Brain-Tumor-Progression leave-one-patient-out table in view (three variants compared on it; "
            f"`benchmarks/README.md`). With {len(training['data'])} patients a margin of a few points is within one patient's noise."
        )
    else:
        front_text = (
            "How far the forecast moves the tumour's edge is calibrated too: the edge goes a fraction of the way from the "
            "baseline's edge to the simulated one (signed distances interpolated; 0 is no change, 1 the simulation), the fraction "
            "chosen on the same patients by mean Dice."
        )
        curve_row = ""
        verdict_note = ""
    data_notes = training.get("data_notes", {})
    notes = "".join(f"- {patient}: {text}\n" for patient, text in data_notes.items())
    notes = f"Notes in `scans.csv`:\n{notes}" if notes else ""
    registration = "; ".join(f"{name}: {r['rotation_deg']:.1f} deg, {r['translation_mm']:.1f} mm" for name, r in training["registration"].items())
    loo = markdown(training["leave_one_out"]) if training["leave_one_out"] else "(fewer than two patients: no table)"
    means = training["leave_one_out_summary"]
    verdict = ", ".join(f"{LABELS[m]} {s['mean_dice']:.3f}" for m, s in means.items())
    rows = training["leave_one_out"]
    patients = len(training["data"])
    if rows:
        method = package_method(rows)  # the forecast this package makes
        name = {"volume_matched": "The volume-matched forecast", "calibrated": "The calibrated forecast"}.get(method, "The physics")
        worst = min(rows, key=lambda r: r[f"{method}_dice"] - r["no_change_dice"])
        margin = "largest loss" if worst[f"{method}_dice"] < worst["no_change_dice"] else "smallest margin"
        verdict += (
            f". {name} beats no change on {means[method]['above_no_change_patients']} of {len(rows)} patients and isotropic "
            f"growth on {sum(r[f'{method}_dice'] > r['isotropic_dice'] for r in rows)} of {len(rows)}; its {margin} is patient "
            f"{worst['patient']} ({worst['days']} days: Dice {worst[f'{method}_dice']:.3f} against {worst['no_change_dice']:.3f} for no "
            f"change, volume {worst[f'{method}_volume_error_pct']:+.0f}%)"
        )
        if worst[f"{method}_volume_error_pct"] > 50 and worst["days"] > max(r["days"] for r in rows if r is not worst):
            verdict += ", the longest interval: parameters fitted on shorter intervals overgrow the tumour"
        if method != "physics":
            versus = against_baselines(means, method)
            dice, volume = versus["mean_dice"], versus["mean_abs_volume_error_pct"]
            verdict += (
                f". Against the better baseline ({LABELS[dice['better_baseline']]}): mean Dice {dice[method]:.3f} against "
                f"{dice['baseline']:.3f} ({'ties or beats it' if dice['ties_or_beats'] else 'loses'}); mean absolute volume error "
                f"{volume[method]:.0f}% against {volume['baseline']:.0f}% ({'ties or beats it' if volume['ties_or_beats'] else 'loses'})"
            )
    return f"""# Model card: {config["id"]}

Task: tumour growth forecasting. {config["description"]}

**Demonstration model, not for clinical use.** Forecasts are synthetic: a physical model with
parameters fitted on {patients} patients, not a prediction for any person. Not for diagnosis or
treatment planning.

## What it is, and why
A hybrid of physics and statistics. The physics: Fisher-Kolmogorov reaction-diffusion,
du/dt = div(D grad u) + rho u (1 - u), solved in millimetres on a working grid no finer than
{growth["solver_spacing_mm"]:g} mm (thick slices kept as they are), with D in white matter, D x {p["grey_ratio"]:g}
in grey matter and no flux across CSF (ventricles, sulci) and out of the brain (skull). Tissue
comes from the T1c alone (brain extraction and four brightness clusters, `growth/tissue.py`),
since T1c is the only sequence of the training data. The forecast mask is where the density
reaches {p["threshold"]:g} (the density at the edge of the segmented tumour, whose initial profile is the
travelling wave of the equation), less the baseline's necrotic core. The statistics: the two free
parameters are shared by the population, chosen on a coarse grid to maximise mean Dice with
the real follow-up masks, and their spread between patients (each patient's own best grid point)
is what `--samples K` draws from to give the voxel-wise probability of tumour. {front_text}
Why not a learned model: {patients} patients with one follow-up each are far too few to train a
network that beats a two-parameter physical model; the physics brings the anatomy (tissue, barriers) that the
data cannot teach. Each day's image shows the patient's own tumour stretched onto the day's mask, the brain around it
pushed aside (mass effect); the inpainting model `{config["render"]["inpaint_model"]}` removes it where it receded and
adds a glioma only where a stretch cannot reach (a new focus).

## Parameters
| parameter | value |
|---|---|
| D white matter | {p["diffusivity_white"]:g} mm²/day |
| D grey matter | {p["diffusivity_white"] * p["grey_ratio"]:g} mm²/day (ratio {p["grey_ratio"]:g}, fixed) |
| rho (proliferation) | {p["proliferation"]:g} /day |
| visible density threshold | {p["threshold"]:g} (fixed) |
| front speed 2 sqrt(D rho) in white matter | {speed:.4f} mm/day ({365 * speed:.1f} mm/year) |
| spread between patients | log10 D sd {spread["log10_diffusivity_sd"]:.2f}, rho sd {spread["proliferation_sd"]:.4f} /day |
| grid searched | D {training["grid"]["diffusivity_white"]} mm²/day x rho {training["grid"]["proliferation"]} /day |
| mean volume growth rate of the training patients | {growth["mean_volume_growth_rate_per_day"]:.4f} /day (the isotropic baseline's) |
| in-sample mean Dice at these parameters | {growth["calibration_mean_dice"]:.3f} |
| front-movement factor (0: no change, 1: the physics' edge) | {growth.get("front_fraction", 1.0):g} (in-sample mean Dice {growth.get("front_calibration_mean_dice", growth["calibration_mean_dice"]):.3f}){"; used only where there is no volume curve" if curve else ""} |
{curve_row}
## Spacing assumed
Every training file was read with the spacing {sx:g} x {sy:g} x {sz:g} mm, whatever its header says
({spacing_origin}). D scales with the square of a length, so if the true spacing is s times the
assumed one, the equivalent D is s² times the value above; rho does not change. Give data whose
header lost its spacing to `diffusionsynth forecast` with `--assume-spacing {sx:g} {sy:g} {sz:g}`;
data with a correct header needs nothing.

## Data
`{training.get("data_folder", "not recorded")}`: {patients} patients ({", ".join(training["data"])}; left out:
{", ".join(training["excluded"]) or "none"}), each a T1 post-contrast scan and tumour mask at baseline and at
follow-up, {min(training["intervals_days"].values())} to {max(training["intervals_days"].values())} days apart (dates from `scans.csv`).
{notes}Slices that hold no voxel (padding) are left out of registration, tissue and scores. Each
follow-up was registered rigidly to its baseline (mutual information), which moved them by:
{registration}. Licence and data terms: the section at the end of this card.

## Training
- Command: `{training["command"]}`
- {training["seconds"]} s on {training["machine"]} (registration, tissue, {len(training["grid"]["diffusivity_white"]) * len(training["grid"]["proliferation"])} grid points per patient).

## Leave-one-patient-out
Each patient in turn is left out, the parameters are re-selected on the others (the same grid
scores, so exactly what `--exclude-case` gives), then the front factor and the volume curve on the same others, and the held-out baseline is forecast to its
follow-up day; Dice and signed volume error against the registered follow-up mask, where both
scans have real slices. Beside two baselines computed in the same run: no change (the baseline
mask) and isotropic growth at the other patients' mean volume growth rate (the mask grown by the
same distance in every direction, inside the brain, to that volume). Mean Dice: {verdict}.{verdict_note}

{loo}

Anchor: treatment-aware diffusion (TaDiff) reports future-tumour Dice about 0.85 at half a
month, falling to 0.46 beyond two years, with multi-sequence MRI, treatment information and
hundreds of scans; this package has one sequence, {patients} patients and two parameters.

## Limits
- Treatment is not modelled (the baseline is after chemoradiation, the follow-up at
  progression); the necrotic core is kept as it was; mass effect is not modelled.
- With one follow-up per patient, D and rho trade off: the per-patient best fits are loose, and
  the spread drawn by `--samples` is wide.
- Tissue classes from one T1c by brightness clusters are approximate (bias field, 5 mm slices).
"""
