"""Out of memory is exit code 5 with one ``error:`` line and no output, also when torch's CPU allocator runs out.

A real ``diffusionsynth mri-to-ct`` in a child process whose address space is capped (``RLIMIT_AS``)
a little above what its imports take, on a volume whose untiled decoding needs several GB.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

from DiffusionSynthLib.geometry import resample_to_spacing
from DiffusionSynthLib.volume import Volume, read_volume, write_volume

from conftest import HEAD_MR

HEADROOM_MB = 1200  # above the imports: enough to read and prepare the volume, far from enough to decode it untiled
CHILD = r"""
import resource, sys
import torch, SimpleITK, scipy.ndimage, nibabel  # noqa: F401  the heavy imports, before the cap
import DiffusionSynthLib.tasks.mri_to_ct, DiffusionSynthLib.engine.latent  # noqa: F401
from DiffusionSynthLib.cli import main

size = int(open("/proc/self/statm").read().split()[0]) * resource.getpagesize()
resource.setrlimit(resource.RLIMIT_AS, (size + int(sys.argv[1]) * 2**20, resource.RLIM_INFINITY))
sys.exit(main(sys.argv[2:]))
"""


def untiled_copy(package: Path, folder: Path) -> Path:
    """The package with no CPU tiles (model.json only: the weights and their sha256 are unchanged)."""
    copy = folder / package.name
    shutil.copytree(package, copy)
    config = json.loads((copy / "model.json").read_text())
    config["inference"]["tiles"] = {}
    (copy / "model.json").write_text(json.dumps(config, indent=2))
    return copy


def large_head(folder: Path) -> Path:
    """The real head MR at 2 mm in a 512 mm field of view (256 cubed) of noisy air (zero padding would be cut away)."""
    small = resample_to_spacing(read_volume(HEAD_MR), [2.0, 2.0, 2.0])
    array = np.random.default_rng(0).integers(1, 4, (256, 256, 256)).astype(np.int16)
    array[: small.shape[0], : small.shape[1], : small.shape[2]] = np.clip(small.array, 0, 32767).astype(np.int16)
    return write_volume(Volume(array, small.ijk_to_ras), folder / "large head.nii.gz")


def test_out_of_memory_exits_5_with_one_line_and_no_output(shared_data, tiny_model, tmp_path):
    model, mri = untiled_copy(tiny_model, tmp_path), large_head(tmp_path)
    output = tmp_path / "out" / "ct.nii.gz"
    output.parent.mkdir()
    argv = [
        "mri-to-ct",
        "--mri",
        str(mri),
        "--output",
        str(output),
        "--model",
        str(model),
        "--steps",
        "1",
        "--samples",
        "1",
        "--device",
        "cpu",
        "--progress",
        "none",
    ]
    process = subprocess.run([sys.executable, "-c", CHILD, str(HEADROOM_MB), *argv], capture_output=True, text=True, timeout=600)
    lines = process.stderr.strip().splitlines()
    assert process.returncode == 5, process.stderr[-2000:]
    assert "Traceback" not in process.stderr and len(lines) == 1 and lines[0].startswith("error: out of memory"), process.stderr[-2000:]
    assert "--samples 0" in lines[0] and "--samples 1" not in lines[0]  # one sample needs more memory than none, the default
    assert list(output.parent.iterdir()) == []
