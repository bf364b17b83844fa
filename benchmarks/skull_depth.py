"""Where the skull lies under the head's surface: real head CTs beside the Colin27 T1 head, which has no CT.

For each real head CT here, the share of bone (> 300 HU) at each millimetre of depth under the head's
surface (``intensity.head_mask_ct``); for Colin27, the share of its MR's darkest fifth (skull, and the
CSF a T1 shows dark too) at each depth under the head the pseudo-CT finds (``tasks.mri_to_ct.mr_head``).
It says how much of the plausibility check's layer (3-12 mm, ``metrics.head_ct_plausibility``) is
skull on each head.

Usage: python benchmarks/skull_depth.py [--max-depth 17]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mri_to_ct_quality import REAL_CTS  # noqa: E402

from DiffusionSynthLib.audit import COLIN27  # noqa: E402
from DiffusionSynthLib.intensity import head_mask_ct  # noqa: E402
from DiffusionSynthLib.metrics import SKULL_BONE_HU  # noqa: E402
from DiffusionSynthLib.priors.head_ct import depth_below_surface  # noqa: E402
from DiffusionSynthLib.tasks.mri_to_ct import mr_head  # noqa: E402
from DiffusionSynthLib.volume import read_volume  # noqa: E402

DARKEST_SHARE = 20  # percent of the head's MR voxels


def share_by_depth(selected: np.ndarray, head: np.ndarray, spacing, depths: range) -> list[float]:
    """The share of ``selected`` among the head's voxels at each whole millimetre of depth under its surface."""
    depth = depth_below_surface(head, spacing)
    return [float(np.mean(selected[head & (depth >= d) & (depth < d + 1)])) for d in depths]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-depth", type=int, default=17, help="deepest millimetre to report")
    args = parser.parse_args()
    depths = range(1, args.max_depth + 1)
    rows = {}
    for name, path in REAL_CTS.items():
        ct = read_volume(path)
        rows[f"{name} CT: bone"] = share_by_depth(ct.array > SKULL_BONE_HU, head_mask_ct(ct), ct.spacing, depths)
    if COLIN27.is_file():
        colin = read_volume(COLIN27)
        head = mr_head(colin)
        darkest = colin.array < np.percentile(colin.array[head], DARKEST_SHARE)
        rows[f"Colin27 MR: darkest {DARKEST_SHARE}%"] = share_by_depth(darkest, head, colin.spacing, depths)
    print("| depth (mm) | " + " | ".join(str(d) for d in depths) + " |")
    print("|---|" + "---|" * len(depths))
    for name, shares in rows.items():
        print(f"| {name} | " + " | ".join(f"{v:.2f}" for v in shares) + " |")


if __name__ == "__main__":
    main()
