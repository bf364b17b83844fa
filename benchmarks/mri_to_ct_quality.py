"""Pseudo-CT quality of a model on the real head pair, beside two baselines fitted in the same run.

The pair (../shared/data/head_mr_ct/cmtk-pat002) is registered with ``prepare_pair``; figures are
computed inside the head mask on the slices the model never saw in training (the held-out slab
recorded in its model.json), and on the training slices for contrast (a large gap means the
model memorised its one patient). Baselines, fitted on the training slices only:
- bulk density: dark MR voxels inside the head -> bone, the rest -> soft tissue (class means in HU);
- intensity regression: a cubic polynomial from normalised MR intensity to HU.

Usage: python benchmarks/mri_to_ct_quality.py [--model M] [--steps 20] [--samples 1] [--seeds 3]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from DiffusionSynthLib.intensity import normalise_mr  # noqa: E402
from DiffusionSynthLib.metrics import ct_metrics  # noqa: E402
from DiffusionSynthLib.models import resolve_model  # noqa: E402
from DiffusionSynthLib.registration import prepare_pair  # noqa: E402
from DiffusionSynthLib.tasks.mri_to_ct import mri_to_ct  # noqa: E402
from DiffusionSynthLib.volume import read_volume  # noqa: E402

from _common import DATA, machine, markdown_table  # noqa: E402


def bulk_density(norm: np.ndarray, ct: np.ndarray, train: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Two classes inside the head by an MR threshold chosen on the training slices to minimise MAE."""
    best = None
    for threshold in np.linspace(0.05, 0.5, 19):
        dark = norm < threshold
        values = {c: float(ct[train & (dark == c)].mean()) if (train & (dark == c)).any() else 0.0 for c in (True, False)}
        prediction = np.where(dark, values[True], values[False])
        mae = float(np.abs(prediction[train] - ct[train]).mean())
        if best is None or mae < best[0]:
            best = (mae, threshold, values)
    _, threshold, values = best
    return np.where(mask, np.where(norm < threshold, values[True], values[False]), -1000.0)


def regression(norm: np.ndarray, ct: np.ndarray, train: np.ndarray, mask: np.ndarray) -> np.ndarray:
    coefficients = np.polyfit(norm[train], ct[train], deg=3)
    return np.where(mask, np.polyval(coefficients, norm), -1000.0)


def held_out_pair(model):
    """The registered real pair and its masks: (MR volume, CT in HU, training-slice mask, held-out mask)."""
    held = model.config["training"]["held_out_slices"]["pat002"]
    with tempfile.TemporaryDirectory() as tmp:
        paths = prepare_pair(read_volume(DATA / "head_mr_ct/cmtk-pat002/mr_t2.nii.gz"), read_volume(DATA / "head_mr_ct/cmtk-pat002/ct.nii.gz"), Path(tmp))
        mr, ct, mask_volume = (read_volume(paths[k]) for k in ("mr", "ct", "mask"))
    mask = mask_volume.array > 0
    slab = np.zeros(mask.shape, bool)
    slab[:, :, held[0] : held[1]] = True
    return mr, ct.array.astype(np.float32), mask & ~slab, mask & slab


def autoencoder_ceiling(model, ct_volume) -> np.ndarray:
    """The true CT through the model's autoencoder (encode, decode): no pseudo-CT can beat this."""
    import torch

    from DiffusionSynthLib.engine.latent import pad_to_multiple
    from DiffusionSynthLib.geometry import resample, resample_to_spacing
    from DiffusionSynthLib.intensity import ct_knots, hu_to_unit, unit_to_hu

    small = resample_to_spacing(ct_volume, model.config["spacing_mm"])
    padded, shape = pad_to_multiple(hu_to_unit(small.array, ct_knots(model.config))[None], int(model.config["latent_downsample"]), value=-1.0)
    autoencoder = model.networks["autoencoder"]
    with torch.inference_mode():
        decoded = autoencoder.decode_stage_2_outputs(autoencoder.encode_stage_2_inputs(torch.from_numpy(padded)[None]))
    hu = unit_to_hu(decoded[0, 0].numpy()[: shape[0], : shape[1], : shape[2]], ct_knots(model.config))
    return resample(small.with_array(hu), ct_volume.shape, ct_volume.ijk_to_ras, "linear", -1000.0).array


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model")
    parser.add_argument("--steps", type=int)
    parser.add_argument("--samples", type=int, default=1)
    parser.add_argument("--seeds", type=int, default=3, help="repeat the model with this many seeds")
    args = parser.parse_args()
    model = resolve_model(args.model, "mri-to-ct")
    held = model.config["training"]["held_out_slices"]["pat002"]
    mr, ct_hu, train, test = held_out_pair(model)
    mask = train | test
    norm = normalise_mr(mr.array, mask)

    ct_volume = mr.with_array(ct_hu)
    predictions = {
        "autoencoder round trip of the true CT (ceiling)": np.where(mask, autoencoder_ceiling(model, ct_volume), -1000.0),
        "bulk density (fitted on training slices)": bulk_density(norm, ct_hu, train, mask),
        "intensity regression (cubic, training slices)": regression(norm, ct_hu, train, mask),
    }
    seconds = []
    for seed in range(args.seeds):
        started = time.perf_counter()
        result = mri_to_ct(mr, model, steps=args.steps, seed=seed, samples=args.samples)
        seconds.append(time.perf_counter() - started)
        predictions[f"DiffusionSynth {model.id} (seed {seed})"] = result.ct.array.astype(np.float32)

    rows = []
    for name, prediction in predictions.items():
        for region, region_mask in (("held-out slab", test), ("training slices", train)):
            values = ct_metrics(ct_hu, prediction, region_mask)
            rows.append({"method": name, "region": region, **{k: round(v, 3) for k, v in values.items()}})
    print(f"# MRI->CT quality, model {model.id}, steps {result.steps}, samples {args.samples}; {machine()}")
    print(
        f"held-out slices {held} of {mask.shape[2]} (CT grid), {int(test.sum())} held-out voxels in the mask; "
        f"pseudo-CT time {np.mean(seconds):.1f} s per run (mean of {len(seconds)})\n"
    )
    print(markdown_table(rows, ["method", "region", "mae", "me", "psnr", "ssim", "bone_dice"]))
    print("\n" + json.dumps(rows))


if __name__ == "__main__":
    main()
