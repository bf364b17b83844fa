"""Result nodes: how to show them, what to call them, and their bytes for download."""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

from DiffusionSynthSlicerLib import Nodes

from DiffusionSynthLib.volume import write_volume

DAY = re.compile(r"(\w+)_day(\d+)$")  # forecast outputs: <series>_day<NNN>
ATTRIBUTE = Nodes.ATTRIBUTE_PREFIX


def is_volume(node) -> bool:
    return node is not None and node.IsA("vtkMRMLScalarVolumeNode")


def kind(node) -> str:
    """``pseudo-CT``, ``uncertainty``, ``labels`` or ``synthetic`` (what the logic marked), else ``input``."""
    return node.GetAttribute(ATTRIBUTE + "Output") or "input"


def render_preset(node) -> str:
    """Volume-rendering preset for the 3D view: bone for a pseudo-CT, the MR default otherwise."""
    return "CT-Bone" if kind(node) == "pseudo-CT" else "MR-Default"


def forecast_day(node) -> tuple[str, int] | None:
    """``(series, day)`` of a forecast output (its file was ``<series>_day<NNN>``), else ``None``."""
    match = DAY.search(node.GetName())
    if match is None or node.GetAttribute(ATTRIBUTE + "Task") != "forecast":
        return None
    return match.group(1), int(match.group(2))


def result_row(node) -> dict:
    series_day = forecast_day(node)
    return {
        "id": node.GetID(),
        "name": node.GetName(),
        "kind": kind(node),
        "series": series_day[0] if series_day else None,
        "day": series_day[1] if series_day else None,
    }


def forecast_steps(rows: list[dict]) -> list[tuple[int, str]]:
    """``[(day, node ID)]`` of the series the time slider shows: the T1c images if there, else the first series."""
    series = sorted({row["series"] for row in rows if row["day"] is not None})
    if not series:
        return []
    shown = "t1c" if "t1c" in series else series[0]
    return sorted((row["day"], row["id"]) for row in rows if row["series"] == shown)


def nifti_bytes(node) -> bytes:
    """The node as a NIfTI file on its own grid; a synthetic node keeps its provenance record in the header."""
    record = node.GetAttribute(ATTRIBUTE + "Provenance")
    provenance = json.loads(record) if record else None
    with tempfile.TemporaryDirectory(prefix="DiffusionSynthWeb-") as folder:
        path = write_volume(Nodes.volume_from_node(node, "volume", labels=node.IsA("vtkMRMLLabelMapVolumeNode")), Path(folder) / "volume.nii.gz", provenance)
        return path.read_bytes()
