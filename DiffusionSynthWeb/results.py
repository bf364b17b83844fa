"""Result nodes: how to show them, what to call them, and their bytes for download."""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

from DiffusionSynthSlicerLib import Nodes

from DiffusionSynthLib.volume import write_volume

DAY = re.compile(r"_day(\d+)$")
ATTRIBUTE = Nodes.ATTRIBUTE_PREFIX


def is_volume(node) -> bool:
    return node is not None and node.IsA("vtkMRMLScalarVolumeNode")


def kind(node) -> str:
    """``pseudo-CT``, ``uncertainty`` or ``synthetic`` (what the logic marked), else ``input``."""
    return node.GetAttribute(ATTRIBUTE + "Output") or "input"


def render_preset(node) -> str:
    """Volume-rendering preset for the 3D view: bone for a pseudo-CT, the MR default otherwise."""
    return "CT-Bone" if kind(node) == "pseudo-CT" else "MR-Default"


def forecast_day(node) -> int | None:
    """The day a forecast output stands for (its file was ``<sequence>_day<N>``), else ``None``."""
    match = DAY.search(node.GetName())
    return int(match.group(1)) if match and node.GetAttribute(ATTRIBUTE + "Task") == "forecast" else None


def result_row(node) -> dict:
    return {"id": node.GetID(), "name": node.GetName(), "kind": kind(node), "day": forecast_day(node)}


def nifti_bytes(node) -> bytes:
    """The node as a NIfTI file on its own grid; a synthetic node keeps its provenance record in the header."""
    record = node.GetAttribute(ATTRIBUTE + "Provenance")
    provenance = json.loads(record) if record else None
    with tempfile.TemporaryDirectory(prefix="DiffusionSynthWeb-") as folder:
        path = write_volume(Nodes.volume_from_node(node, "volume"), Path(folder) / "volume.nii.gz", provenance)
        return path.read_bytes()
