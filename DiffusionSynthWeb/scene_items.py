"""The scene's volumes, segmentations and segments as items for the panel's selectors."""

from __future__ import annotations

import re

from DiffusionSynthSlicerLib.Tasks import SEQUENCES

SEQUENCE_PATTERNS = {  # how files of each MR sequence are usually named (BraTS and common variants)
    "t1n": r"t1n|t1[-_]?native|(?<![a-z])t1(?![a-z0-9])",
    "t1c": r"t1c|t1ce|t1gd|t1[-_]?post|t1[-_]?contrast",
    "t2w": r"t2w|(?<![a-z])t2(?![a-z0-9])",
    "t2f": r"t2f|flair",
}


def nodes_of_class(scene, class_name: str) -> list:
    collection = scene.GetNodesByClass(class_name)
    return [collection.GetItemAsObject(i) for i in range(collection.GetNumberOfItems())]


def grey_volumes(scene) -> list:
    """Scalar volumes a task can take as input (no labelmaps, nothing hidden)."""
    return [
        node
        for node in nodes_of_class(scene, "vtkMRMLScalarVolumeNode")
        if not node.IsA("vtkMRMLLabelMapVolumeNode") and not node.GetHideFromEditors() and node.GetImageData() is not None
    ]


def volume_items(scene) -> list[dict]:
    return [{"title": node.GetName(), "value": node.GetID()} for node in grey_volumes(scene)]


def segmentation_items(scene) -> list[dict]:
    return [{"title": node.GetName(), "value": node.GetID()} for node in nodes_of_class(scene, "vtkMRMLSegmentationNode")]


def segment_items(segmentation_node) -> list[dict]:
    if segmentation_node is None:
        return []
    segmentation = segmentation_node.GetSegmentation()
    ids = [segmentation.GetNthSegmentID(i) for i in range(segmentation.GetNumberOfSegments())]
    return [{"title": segmentation.GetSegment(sid).GetName(), "value": sid} for sid in ids]


def guess_sequence(name: str) -> str | None:
    """``"BraTS-GLI-00001-000-t2f"`` -> ``"t2f"``; ``None`` when the name says nothing."""
    lowered = name.lower()
    for sequence in ("t1c", "t2f", "t1n", "t2w"):  # most specific first: 't1' would match 't1c'
        if re.search(SEQUENCE_PATTERNS[sequence], lowered):
            return sequence
    return None


def sequence_guesses(scene) -> dict[str, str]:
    """``{sequence: node ID}`` for the volumes whose names tell their sequence (first match wins)."""
    found: dict[str, str] = {}
    for node in grey_volumes(scene):
        sequence = guess_sequence(node.GetName())
        if sequence in SEQUENCES and sequence not in found and node.GetAttribute("DiffusionSynth.Synthetic") != "true":
            found[sequence] = node.GetID()
    return found
