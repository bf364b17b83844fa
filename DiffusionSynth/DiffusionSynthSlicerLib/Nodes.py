"""MRML nodes <-> library volumes: inputs read from nodes, segments as masks, outputs as new nodes.

Uses only what both the Slicer application and ``slicer-core`` provide: MRML classes,
``vtkSlicerSegmentationsModuleLogic`` and the array helpers of ``slicer.util``.
"""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import slicer
import slicer.util
import vtk

from DiffusionSynthLib.volume import Volume

ATTRIBUTE_PREFIX = "DiffusionSynth."
CT_WINDOW_LEVEL = (1500.0, 300.0)  # shows soft tissue and bone of a head pseudo-CT at once
GRID_TOLERANCE_MM = 1e-3


def ijk_to_ras(node) -> np.ndarray:
    matrix = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(matrix)
    return np.array([[matrix.GetElement(r, c) for c in range(4)] for r in range(4)])


def check_volume_node(node, what: str, labels: bool = False) -> None:
    """Raise a ``ValueError`` with a sentence unless ``node`` is a usable 3D scalar volume (``labels``: a label map)."""
    if node is None:
        raise ValueError(f"No {what} is selected; choose a volume.")
    if labels:
        if not node.IsA("vtkMRMLLabelMapVolumeNode"):
            raise ValueError(f"'{node.GetName()}' is not a label map; choose a label map volume as {what}.")
    elif not node.IsA("vtkMRMLScalarVolumeNode") or node.IsA("vtkMRMLLabelMapVolumeNode"):
        raise ValueError(f"'{node.GetName()}' is not a scalar volume; choose a grey-level image as {what}.")
    image = node.GetImageData()
    if image is None or image.GetNumberOfPoints() == 0:
        raise ValueError(f"The {what} '{node.GetName()}' holds no voxels.")
    if image.GetNumberOfScalarComponents() != 1:
        raise ValueError(f"The {what} '{node.GetName()}' has several components per voxel; choose a scalar volume.")
    dims = image.GetDimensions()
    if min(dims) < 2:
        raise ValueError(f"The {what} '{node.GetName()}' is a single slice ({dims[0]}x{dims[1]}x{dims[2]}); choose a 3D volume.")


def volume_from_node(node, what: str, labels: bool = False) -> Volume:
    """The node's voxels (a copy, indexed ``[i, j, k]``) and its IJK->RAS matrix (``labels``: of a label map)."""
    check_volume_node(node, what, labels)
    array = np.array(slicer.util.arrayFromVolume(node)).transpose(2, 1, 0)
    return Volume(np.ascontiguousarray(array), ijk_to_ras(node))


def same_grid(a, b) -> bool:
    """True when two volume nodes have the same dimensions, voxel positions and parent transform."""
    return (
        a.GetImageData().GetDimensions() == b.GetImageData().GetDimensions()
        and bool(np.allclose(ijk_to_ras(a), ijk_to_ras(b), atol=GRID_TOLERANCE_MM))
        and a.GetTransformNodeID() == b.GetTransformNodeID()
    )


def segment_mask(segmentation_node, segment_id: str, reference_node) -> np.ndarray:
    """The segment as a ``uint8`` mask ``[i, j, k]`` on exactly the reference volume's grid."""
    if segmentation_node is None:
        raise ValueError("No segmentation is selected; choose the segmentation that holds the mask.")
    segment = segmentation_node.GetSegmentation().GetSegment(segment_id) if segment_id else None
    if segment is None:
        raise ValueError(f"No segment is selected in '{segmentation_node.GetName()}'; choose the segment to use as mask.")
    scene = segmentation_node.GetScene() or reference_node.GetScene()
    existing = {scene.GetNthNode(i).GetID() for i in range(scene.GetNumberOfNodes())}
    labelmap = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode", "DiffusionSynth temporary mask")
    try:
        ids = vtk.vtkStringArray()
        ids.InsertNextValue(segment_id)
        logic = slicer.vtkSlicerSegmentationsModuleLogic
        if not logic.ExportSegmentsToLabelmapNode(segmentation_node, ids, labelmap, reference_node):
            raise ValueError(f"The segment '{segment.GetName()}' could not be converted to a mask on the grid of '{reference_node.GetName()}'.")
        mask = np.array(slicer.util.arrayFromVolume(labelmap)).transpose(2, 1, 0) > 0
        if mask.shape != tuple(reference_node.GetImageData().GetDimensions()) or not np.allclose(
            ijk_to_ras(labelmap), ijk_to_ras(reference_node), atol=GRID_TOLERANCE_MM
        ):
            raise ValueError(f"The segment '{segment.GetName()}' did not land on the grid of '{reference_node.GetName()}'.")
    finally:
        remove_new_nodes(scene, existing)  # the labelmap and what the export made for it (display, colours)
    if not mask.any():
        raise ValueError(
            f"The segment '{segment.GetName()}' is empty inside '{reference_node.GetName()}'; paint it "
            "(Segment Editor) over the region to use, or choose another segment."
        )
    return np.ascontiguousarray(mask.astype(np.uint8))


def remove_new_nodes(scene, existing: set[str]) -> None:
    """Remove the nodes whose ID is not in ``existing``, except singletons (subject hierarchy)."""
    added = [scene.GetNthNode(i) for i in range(scene.GetNumberOfNodes())]
    for node in added:
        if node.GetID() not in existing and not node.GetSingletonTag() and scene.IsNodePresent(node):
            scene.RemoveNode(node)


def add_output_node(
    reference_node,
    volume: Volume,
    name: str,
    task: str,
    provenance: dict | None,
    fallback: dict,
    kind: str = "synthetic",
):
    """A new scalar volume node with ``volume``'s voxels on ``reference_node``'s exact geometry (a label map node when
    ``kind`` is ``"labels"``: an added tumour's sub-regions).

    The node sits beside the reference in the subject hierarchy, carries attributes marking it
    synthetic (with the provenance record as JSON), and a CT window when ``kind`` is ``"pseudo-CT"``.
    """
    if volume.shape != tuple(reference_node.GetImageData().GetDimensions()) or not np.allclose(
        volume.ijk_to_ras, ijk_to_ras(reference_node), atol=GRID_TOLERANCE_MM * 10
    ):
        raise ValueError(f"The output '{name}' is not on the grid of '{reference_node.GetName()}' ({volume.describe_grid()}); it was not added.")
    scene = reference_node.GetScene()
    node_class = "vtkMRMLLabelMapVolumeNode" if kind == "labels" else "vtkMRMLScalarVolumeNode"
    node = scene.AddNewNodeByClass(node_class, scene.GenerateUniqueName(name))
    node.CopyOrientation(reference_node)  # spacing, origin and directions copied as stored, not recomputed
    slicer.util.updateVolumeFromArray(node, np.ascontiguousarray(volume.array.transpose(2, 1, 0)))
    node.SetAndObserveTransformNodeID(reference_node.GetTransformNodeID())
    mark_synthetic(node, task, provenance, fallback, kind)
    node.CreateDefaultDisplayNodes()
    display = node.GetDisplayNode()
    if display is not None and kind == "pseudo-CT":
        display.AutoWindowLevelOff()
        display.SetWindowLevel(*CT_WINDOW_LEVEL)
    place_beside(node, reference_node)
    return node


def mark_synthetic(node, task: str, provenance: dict | None, fallback: dict, kind: str) -> None:
    """Node attributes saying what made the node; the provenance record is copied as JSON."""
    record = provenance or {}
    values = {
        "Synthetic": "true",
        "Task": record.get("task", task),
        "Output": kind,
        "Model": record.get("model_id", fallback.get("model") or "default"),
        "Seed": record.get("seed", fallback.get("seed")),
        "Steps": record.get("steps", fallback.get("steps") or "model default"),
        "Date": record.get("date", dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")),
        "Provenance": json.dumps(record, sort_keys=True),
    }
    quality = record.get("quality_check")
    if isinstance(quality, dict):  # a pseudo-CT's quality check: its warnings where a user looks
        values["QualityWarnings"] = "; ".join(quality.get("warnings", []))
    for key, value in values.items():
        node.SetAttribute(ATTRIBUTE_PREFIX + key, str(value))
    node.SetDescription(f"Synthetic image made by DiffusionSynth ({task}); not an acquisition; not for diagnosis.")


def quality_warnings(nodes) -> list[str]:
    """The quality-check warnings of output ``nodes`` (a pseudo-CT's; none for the other tasks)."""
    found = [warning for node in nodes for warning in (node.GetAttribute(ATTRIBUTE_PREFIX + "QualityWarnings") or "").split("; ") if warning]
    return list(dict.fromkeys(found))  # once each: the uncertainty node carries the same record


def place_beside(node, reference_node) -> None:
    """Put ``node`` under the same subject-hierarchy parent as ``reference_node`` (when there is one)."""
    scene = reference_node.GetScene()
    hierarchy_class = getattr(slicer, "vtkMRMLSubjectHierarchyNode", None)
    hierarchy = hierarchy_class.GetSubjectHierarchyNode(scene) if hierarchy_class is not None else None
    if hierarchy is None:
        return
    reference_item = hierarchy.GetItemByDataNode(reference_node)
    if not reference_item:
        return
    parent = hierarchy.GetItemParent(reference_item)
    item = hierarchy.GetItemByDataNode(node)
    if item:
        hierarchy.SetItemParent(item, parent)
    else:  # without the application's subject-hierarchy logic, items are not made automatically
        hierarchy.CreateItem(parent, node)


def forecast_sequence(nodes_by_day: dict[int, object], name: str):
    """A sequence node (index: days) holding copies of ``nodes_by_day``, plus a browser to play it."""
    first = next(iter(nodes_by_day.values()))
    scene = first.GetScene()
    sequence = scene.AddNewNodeByClass("vtkMRMLSequenceNode", scene.GenerateUniqueName(name))
    sequence.SetIndexName("time")
    sequence.SetIndexUnit("days")
    sequence.SetIndexType(sequence.NumericIndex)
    for day, node in sorted(nodes_by_day.items()):
        sequence.SetDataNodeAtValue(node, str(day))
    browser = slicer.vtkMRMLSequenceBrowserNode()  # built directly: slicer-core's scene does not register the class
    browser.SetName(scene.GenerateUniqueName(name + " browser"))
    scene.AddNode(browser)
    browser.SetAndObserveMasterSequenceNodeID(sequence.GetID())
    for key in ("Synthetic", "Task"):
        sequence.SetAttribute(ATTRIBUTE_PREFIX + key, first.GetAttribute(ATTRIBUTE_PREFIX + key) or "")
    return sequence
