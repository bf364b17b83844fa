"""What an inpainting call hands to its method and gets back: the checked request and the result."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..engine.progress import CancelCheck, ProgressCallback
from ..models.package import ModelPackage
from ..volume import Volume
from .run import TaskRun


@dataclass
class Inpainting:
    outputs: dict[str, Volume]  # each given sequence, on the reference grid, in its input dtype
    std: dict[str, Volume] = field(default_factory=dict)  # when samples > 1 (zero where nothing changed)
    reference: str = ""
    steps: int = 0
    seed: int = 0
    mask_voxels: int = 0
    samples: int = 0
    labels: Volume | None = None  # add mode without given labels: the sub-region map drawn, in the request's convention
    provenance: dict = field(default_factory=dict)  # the synthetic-data record, when a pipeline made it


@dataclass
class InpaintRequest:
    """One checked inpainting call: the given sequences on one grid, the brain and the region to fill (``inside``) on it."""

    volumes: dict[str, Volume]
    given: list[str]
    mode: str
    model: ModelPackage
    steps: int | None
    seed: int
    samples: int | None
    strength: float
    device: str
    progress: ProgressCallback
    cancel: CancelCheck
    brain: np.ndarray
    inside: np.ndarray
    labels: np.ndarray | None = None  # sub-regions of an added tumour, BraTS 2013 labels on the grid (add mode only)
    labels_convention: str = "brats2013"  # of the labels written back (the drawn sub-region map)

    def task_run(self) -> TaskRun:
        return TaskRun(self.model, "inpaint", self.steps, self.seed, self.samples, self.device, self.progress, self.cancel)
