"""The module's typed parameter node (Slicer application only: needs ``parameterNodeWrapper``).

The scene remembers every setting; ``SlicerParameterName`` properties in the ``.ui`` file connect
the widgets, except the task list and the segment selector, which the widget syncs itself.
"""

# No ``from __future__ import annotations`` here: parameterNodeWrapper reads these annotations as
# types, and plain (evaluated) annotations are what Slicer's own template uses.
from typing import Annotated

from slicer import vtkMRMLLabelMapVolumeNode, vtkMRMLScalarVolumeNode, vtkMRMLSegmentationNode
from slicer.parameterNodeWrapper import Choice, WithinRange, parameterNodeWrapper

from .Logic import SynthesisRequest, parse_days
from .Tasks import LABEL_CONVENTIONS, SEQUENCES, TASKS


@parameterNodeWrapper
class DiffusionSynthParameterNode:
    task: Annotated[str, Choice(list(TASKS))] = "mri-to-ct"
    inputVolume: vtkMRMLScalarVolumeNode
    t1nVolume: vtkMRMLScalarVolumeNode
    t1cVolume: vtkMRMLScalarVolumeNode
    t2wVolume: vtkMRMLScalarVolumeNode
    t2fVolume: vtkMRMLScalarVolumeNode
    segmentation: vtkMRMLSegmentationNode
    segmentId: str = ""
    mode: Annotated[str, Choice(["remove", "add"])] = "remove"
    strength: Annotated[float, WithinRange(0.0, 3.0)] = 1.0  # = Tasks.STRENGTH_RANGE and the .ui's (Testing checks)
    labelsVolume: vtkMRMLLabelMapVolumeNode
    labelsConvention: Annotated[str, Choice(list(LABEL_CONVENTIONS))] = "brats2013"
    days: str = "30 90 180"
    model: str = ""
    steps: Annotated[int, WithinRange(0, 1000)] = 0
    seed: Annotated[int, WithinRange(0, 2**31 - 1)] = 0
    samples: Annotated[int, WithinRange(0, 64)] = 0  # as --samples (0: the deterministic estimate); forecast: growth runs
    uncertainty: bool = False
    device: Annotated[str, Choice(["auto", "cpu", "cuda"])] = "auto"
    outputName: str = ""


def to_request(parameters: DiffusionSynthParameterNode) -> SynthesisRequest:
    """The logic's request from the saved settings (days parsed only for forecasting)."""
    spec = TASKS[parameters.task]
    return SynthesisRequest(
        task=parameters.task,
        mri=parameters.inputVolume,
        sequences={name: getattr(parameters, f"{name}Volume") for name in SEQUENCES},
        segmentation=parameters.segmentation,
        segment_id=parameters.segmentId,
        mode=parameters.mode,
        strength=parameters.strength,
        labels=parameters.labelsVolume if parameters.mode == "add" else None,
        labels_convention=parameters.labelsConvention,
        days=parse_days(parameters.days) if spec.needs_days else [],
        model=parameters.model.strip(),
        steps=parameters.steps,
        seed=parameters.seed,
        samples=parameters.samples,
        uncertainty=parameters.uncertainty and spec.supports_uncertainty and parameters.samples >= 2,
        device=parameters.device,
        output_name=parameters.outputName,
    )
