"""Pictures for benchmarks/README.md: a forecast day rendered by sub-region (the inpainting pictures come from
``inpaint_test.py --pictures``).

- ``forecast.png``: progression patient 01, baseline T1c and the rendered T1c at its follow-up day
  (built-in forecast and inpainting models); the slice where the tumour grew most.

Usage: python benchmarks/pictures.py [--output benchmarks/pictures]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import imageio.v2 as imageio
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from DiffusionSynthLib.growth.longitudinal import ASSUMED_SPACING_MM, load_cases  # noqa: E402
from DiffusionSynthLib.models import resolve_model  # noqa: E402
from DiffusionSynthLib.tasks.forecast import forecast  # noqa: E402

from _common import DATA  # noqa: E402


def grey(image: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """8-bit picture of an axial slice, windowed on the reference slice's 1st-99.5th percentiles (non-zero voxels)."""
    values = reference[reference > 0]
    low, high = np.percentile(values, [1, 99.5]) if values.size else (0.0, 1.0)
    return np.rot90((np.clip((image - low) / max(high - low, 1e-6), 0, 1) * 255).astype(np.uint8))


def forecast_picture(output: Path) -> None:
    case = next(c for c in load_cases(DATA / "tumour_progression", spacing=ASSUMED_SPACING_MM) if c.name == "01")
    model, painter = resolve_model("forecast-gbm-demo", "forecast"), resolve_model("inpaint-brats-demo", "inpaint")
    result = forecast({"t1c": case.baseline}, case.baseline_mask, [case.days], model, painter, spacing=ASSUMED_SPACING_MM)
    grown = (result.masks[case.days].array > 0) & ~(case.baseline_mask.array > 0)
    z = int(np.argmax(grown.sum(axis=(0, 1))))
    before = case.baseline.array[:, :, z]
    tiles = [grey(before, before), grey(result.images[case.days]["t1c"].array[:, :, z], before)]
    imageio.imwrite(output / "forecast.png", np.concatenate(tiles, axis=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default="benchmarks/pictures")
    args = parser.parse_args()
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    forecast_picture(output)
    print(f"wrote {output / 'forecast.png'}")


if __name__ == "__main__":
    main()
