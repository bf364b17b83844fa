"""The Slicer module's logic on real MRML nodes (slicer-core), without the Slicer application.

The library runs for real: ``python -m DiffusionSynthLib.cli`` in a subprocess with the tiny
trained model, on the small real head MR placed on an oblique, anisotropic grid.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("slicer", reason="slicer-core is not installed (pip install slicer-core)")
import slicer  # noqa: E402
import slicer.util  # noqa: E402
import vtk  # noqa: E402

from DiffusionSynthLib.errors import Cancelled  # noqa: E402
from DiffusionSynthLib.volume import read_volume  # noqa: E402

from conftest import oblique  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "DiffusionSynth"))
from DiffusionSynthSlicerLib import Nodes  # noqa: E402
from DiffusionSynthSlicerLib.Logic import RunError, SynthesisLogic, SynthesisRequest, parse_days  # noqa: E402
from DiffusionSynthSlicerLib.Process import ProcessRunner, parse_progress  # noqa: E402
from DiffusionSynthSlicerLib.Tasks import TASKS, task_availability  # noqa: E402

# ------------------------------------------------------------------------------------------ helpers


def set_ijk_to_ras(node, matrix: np.ndarray) -> None:
    vtk_matrix = vtk.vtkMatrix4x4()
    for r in range(4):
        for c in range(4):
            vtk_matrix.SetElement(r, c, float(matrix[r, c]))
    node.SetIJKToRASMatrix(vtk_matrix)


def add_volume(scene, array_ijk: np.ndarray, matrix: np.ndarray, name: str, cls: str = "vtkMRMLScalarVolumeNode"):
    node = scene.AddNewNodeByClass(cls, name)
    slicer.util.updateVolumeFromArray(node, np.ascontiguousarray(array_ijk.transpose(2, 1, 0)))
    set_ijk_to_ras(node, matrix)
    return node


def case_nodes(scene, brain_cases) -> dict:
    """TCGA-DU-7294's T1c and FLAIR (3 mm) as scalar volume nodes named 'Case t1c', 'Case t2f'."""
    nodes = {}
    for name in ("t1c", "t2f"):
        volume = read_volume(brain_cases / "TCGA-DU-7294" / f"{name}.nii.gz")
        nodes[name] = add_volume(scene, volume.array, volume.ijk_to_ras, f"Case {name}")
    return nodes


def add_mode_request(scene, nodes: dict, drawn: np.ndarray, model: Path, **options) -> SynthesisRequest:
    """Add-mode inpainting of ``nodes`` inside a segment made from ``drawn`` (i, j, k on the T1c's grid), 2 steps, seed 1."""
    labelmap = add_volume(scene, drawn, Nodes.ijk_to_ras(nodes["t1c"]), "lesion", "vtkMRMLLabelMapVolumeNode")
    segmentation = scene.AddNewNodeByClass("vtkMRMLSegmentationNode")
    assert slicer.vtkSlicerSegmentationsModuleLogic.ImportLabelmapToSegmentationNode(labelmap, segmentation)
    segment = segmentation.GetSegmentation().GetNthSegmentID(0)
    return SynthesisRequest(
        task="inpaint", sequences=nodes, segmentation=segmentation, segment_id=segment, mode="add", model=str(model), steps=2, seed=1, **options
    )


def volume_nodes(scene) -> list:
    nodes = scene.GetNodesByClass("vtkMRMLScalarVolumeNode")
    return [nodes.GetItemAsObject(i) for i in range(nodes.GetNumberOfItems())]


@pytest.fixture
def scene():
    scene = slicer.vtkMRMLScene()
    slicer.mrmlScene = scene
    yield scene
    scene.Clear(1)


@pytest.fixture
def mr_node(scene, small_mri):
    """The small real head MR on an oblique, anisotropic grid, inside a subject-hierarchy study."""
    volume = oblique(read_volume(small_mri))
    node = add_volume(scene, volume.array, volume.ijk_to_ras, "Head MR")
    hierarchy = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(scene)
    study = hierarchy.CreateFolderItem(hierarchy.GetSceneItemID(), "Study")
    item = hierarchy.GetItemByDataNode(node)  # made by the application's logic in Slicer, not in slicer-core
    hierarchy.SetItemParent(item, study) if item else hierarchy.CreateItem(study, node)
    return node


@pytest.fixture
def temp_root(tmp_path) -> Path:
    root = tmp_path / "runs"
    root.mkdir()
    return root


@pytest.fixture
def logic(temp_root) -> SynthesisLogic:
    return SynthesisLogic(ProcessRunner(python=sys.executable, grace_s=3.0), temp_root=temp_root)


# ------------------------------------------------------------------------------------------ full runs


def test_mri_to_ct_adds_synthetic_nodes_on_the_input_grid(scene, mr_node, tiny_model, logic, temp_root):
    before_array = slicer.util.arrayFromVolume(mr_node).tobytes()
    before_matrix = Nodes.ijk_to_ras(mr_node).tobytes()
    progress = []
    request = SynthesisRequest(mri=mr_node, model=str(tiny_model), steps=2, seed=3, samples=2, uncertainty=True)

    ct, std = logic.run(request, on_progress=progress.append, timeout=300)

    # inputs untouched, byte for byte; the temporary folder is gone
    assert slicer.util.arrayFromVolume(mr_node).tobytes() == before_array
    assert Nodes.ijk_to_ras(mr_node).tobytes() == before_matrix
    assert list(temp_root.iterdir()) == []
    assert len(volume_nodes(scene)) == 3
    # progress: steps rise to the total, with a time estimate on the way
    assert [p.step for p in progress] == sorted(p.step for p in progress) and progress[-1].step == progress[-1].total
    assert any(p.remaining_s is not None for p in progress)
    # geometry: exactly the input's
    for node in (ct, std):
        assert node.GetImageData().GetDimensions() == mr_node.GetImageData().GetDimensions()
        assert np.array_equal(Nodes.ijk_to_ras(node), Nodes.ijk_to_ras(mr_node))
    # values: int16 HU, air outside the head
    hu = slicer.util.arrayFromVolume(ct)
    assert hu.dtype == np.int16 and -1024 <= hu.min() and hu.max() <= 3100
    mr = slicer.util.arrayFromVolume(mr_node)
    corners = [hu[k, j, i] for k in (slice(0, 3), slice(-3, None)) for j in (slice(0, 5), slice(-5, None)) for i in (slice(0, 5), slice(-5, None))]
    assert np.mean(np.concatenate([c.ravel() for c in corners]) == -1000) > 0.95  # air far from the head
    assert np.mean(hu[mr > np.percentile(mr, 75)] > -500) > 0.5  # tissue is not air
    assert slicer.util.arrayFromVolume(std).dtype == np.float32 and slicer.util.arrayFromVolume(std).min() >= 0
    # marked synthetic, with the provenance record of the file
    record = json.loads(ct.GetAttribute("DiffusionSynth.Provenance"))
    assert record["synthetic"] is True and record["task"] == "mri-to-ct" and record["seed"] == 3 and record["steps"] == 2
    assert ct.GetAttribute("DiffusionSynth.Synthetic") == "true"
    assert ct.GetAttribute("DiffusionSynth.Model") == record["model_id"] != ""
    assert (ct.GetAttribute("DiffusionSynth.Seed"), ct.GetAttribute("DiffusionSynth.Steps")) == ("3", "2")
    assert ct.GetAttribute("DiffusionSynth.Date") == record["date"]
    # the quality check's warnings where a user looks (this MR's field of view cuts the vertex: warned)
    warnings = record["quality_check"]["warnings"]
    assert any(w.startswith("head_cut_share") for w in warnings) and ct.GetAttribute("DiffusionSynth.QualityWarnings") == "; ".join(warnings)
    assert Nodes.quality_warnings([ct, std]) == warnings
    assert std.GetAttribute("DiffusionSynth.Output") == "uncertainty" and "not for diagnosis" in ct.GetDescription()
    # named after the input, CT window, beside the input in the subject hierarchy
    assert ct.GetName() == "Head MR pseudo-CT" and "uncertainty" in std.GetName()
    assert (ct.GetDisplayNode().GetWindow(), ct.GetDisplayNode().GetLevel()) == Nodes.CT_WINDOW_LEVEL
    hierarchy = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(scene)
    parent = hierarchy.GetItemParent(hierarchy.GetItemByDataNode(mr_node))
    assert hierarchy.GetItemName(parent) == "Study"
    assert hierarchy.GetItemParent(hierarchy.GetItemByDataNode(ct)) == parent


def test_cancel_from_another_thread_leaves_nothing(scene, mr_node, tiny_model, logic, temp_root):
    first_line = threading.Event()
    steps_seen: list[tuple[int, int]] = []

    def on_progress(progress) -> None:
        steps_seen.append((progress.step, progress.total))
        first_line.set()

    request = SynthesisRequest(mri=mr_node, model=str(tiny_model), steps=200, samples=1)  # one sample: 200 denoising steps to cancel
    job = logic.start(request, on_progress=on_progress)
    canceller = threading.Thread(target=lambda: first_line.wait(120) and logic.cancel())
    canceller.start()

    with pytest.raises(Cancelled):
        logic.finish(job)
    canceller.join(30)

    assert first_line.is_set() and all(step < total for step, total in steps_seen)  # stopped before the end, whatever the machine's speed
    assert job.process.poll() is not None
    if os.name == "posix":
        with pytest.raises(ProcessLookupError):
            os.killpg(job.process.pid, 0)  # the whole process group is gone
    assert list(temp_root.iterdir()) == []
    assert volume_nodes(scene) == [mr_node]
    assert logic.job is None


def test_zero_samples_in_the_module_is_the_command_line_s_zero(scene, mr_node, tmp_path):
    """The module's 0 samples is passed as ``--samples 0`` (the deterministic estimate), never left to a package's
    default."""
    logic = SynthesisLogic(ProcessRunner(python=sys.executable), temp_root=tmp_path)
    for samples, expected in ((0, "0"), (3, "3")):
        request = SynthesisRequest(mri=mr_node, samples=samples)
        workdir = tmp_path / f"mri-{samples}"
        workdir.mkdir()
        args = logic._write_inputs(request, logic.check_inputs(request), workdir)
        assert args[args.index("--samples") + 1] == expected and "--growth-runs" not in args


def test_cli_error_line_becomes_a_value_error(scene, mr_node, logic, temp_root):
    with pytest.raises(ValueError, match="No model folder or built-in model named") as caught:
        logic.run(SynthesisRequest(mri=mr_node, model=str(temp_root / "no-such-model")), timeout=120)
    assert isinstance(caught.value, RunError) and caught.value.exit_code == 3
    assert list(temp_root.iterdir()) == [] and volume_nodes(scene) == [mr_node]


# ------------------------------------------------------------------------------------------ segments


def test_segment_becomes_a_mask_on_the_reference_grid(scene, mr_node):
    # a labelmap on a smaller grid, shifted by whole voxels inside the oblique reference grid
    reference = Nodes.ijk_to_ras(mr_node)
    offset = np.array([5, 6, 7])
    sub = reference.copy()
    sub[:3, 3] = (reference @ np.append(offset, 1.0))[:3]
    labels = np.zeros((30, 30, 20), np.uint8)
    labels[4:15, 10:22, 3:12] = 1
    labelmap = add_volume(scene, labels, sub, "labels", "vtkMRMLLabelMapVolumeNode")
    segmentation = scene.AddNewNodeByClass("vtkMRMLSegmentationNode")
    assert slicer.vtkSlicerSegmentationsModuleLogic.ImportLabelmapToSegmentationNode(labelmap, segmentation)
    segment_id = segmentation.GetSegmentation().GetNthSegmentID(0)
    nodes_before = scene.GetNumberOfNodes()

    mask = Nodes.segment_mask(segmentation, segment_id, mr_node)

    expected = np.zeros(mr_node.GetImageData().GetDimensions(), np.uint8)
    expected[5:35, 6:36, 7:27] = labels
    assert mask.dtype == np.uint8 and np.array_equal(mask, expected)
    assert scene.GetNumberOfNodes() == nodes_before  # the temporary labelmap was removed


def test_empty_segment_and_missing_selection_are_refused(scene, mr_node):
    # a painted segment that lies entirely outside the reference volume is empty there
    far = np.eye(4)
    far[:3, 3] = 1000.0
    labels = np.zeros((10, 10, 10), np.uint8)
    labels[2:6, 2:6, 2:6] = 1
    labelmap = add_volume(scene, labels, far, "lesion", "vtkMRMLLabelMapVolumeNode")
    segmentation = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "Lesions")
    assert slicer.vtkSlicerSegmentationsModuleLogic.ImportLabelmapToSegmentationNode(labelmap, segmentation)
    empty_id = segmentation.GetSegmentation().GetNthSegmentID(0)
    with pytest.raises(ValueError, match="segment 'lesion' is empty inside 'Head MR'"):
        Nodes.segment_mask(segmentation, empty_id, mr_node)
    with pytest.raises(ValueError, match="No segment is selected"):
        Nodes.segment_mask(segmentation, "", mr_node)
    with pytest.raises(ValueError, match="No segmentation is selected"):
        Nodes.segment_mask(None, empty_id, mr_node)


# ------------------------------------------------------------------------------------------ bad inputs


def test_bad_inputs_give_sentences(scene, mr_node, logic, temp_root):
    with pytest.raises(ValueError, match="No input MR volume is selected"):
        logic.start(SynthesisRequest(mri=None))
    labelmap = add_volume(scene, np.ones((4, 4, 4), np.uint8), np.eye(4), "labels", "vtkMRMLLabelMapVolumeNode")
    with pytest.raises(ValueError, match="not a scalar volume"):
        logic.start(SynthesisRequest(mri=labelmap))
    with pytest.raises(ValueError, match="at least two samples"):
        logic.start(SynthesisRequest(mri=mr_node, samples=1, uncertainty=True))
    # sequences on different grids (here: one voxel of shift)
    shifted = Nodes.ijk_to_ras(mr_node)
    shifted[:3, 3] += 1.0
    other = add_volume(scene, Nodes.volume_from_node(mr_node, "x").array, shifted, "T2 shifted")
    with pytest.raises(ValueError, match="not on the same grid"):
        logic.check_inputs(SynthesisRequest(task="impute", sequences={"t1n": mr_node, "t2w": other}))
    with pytest.raises(ValueError, match="positive whole numbers"):
        parse_days("30, -5")
    assert parse_days("180, 30 90") == [30, 90, 180]
    assert list(temp_root.iterdir()) == []


def test_availability_comes_from_the_library(logic, temp_root):
    availability = task_availability({"mri-to-ct", "impute"})
    assert availability["mri-to-ct"] == (True, "") and availability["impute"] == (True, "")
    available, reason = availability["forecast"]
    assert not available and "diffusionsynth forecast" in reason
    assert logic.availability() == {task: (True, "") for task in TASKS}  # this library has all four
    # a task the library lacks is refused with its reason, before any input is looked at
    logic._availability = task_availability({"mri-to-ct"})
    for task in ("impute", "inpaint", "forecast"):
        with pytest.raises(ValueError, match=f"not available yet.*'diffusionsynth {task}'"):
            logic.start(SynthesisRequest(task=task, sequences={}))
    assert list(temp_root.iterdir()) == [] and logic.job is None


# ------------------------------------------------------------------------------------------ small parts


def test_progress_lines_and_forecast_sequence(scene, mr_node):
    line = '{"progress": 3, "total": 10, "message": "denoising 2/8", "elapsed_s": 6.0, "remaining_s": 140.0}'
    progress = parse_progress(line)
    assert progress is not None and (progress.step, progress.total) == (3, 10)
    assert progress.describe() == "denoising 2/8 - step 3 of 10, about 2 min 20 s left"
    assert parse_progress("Traceback (most recent call last):") is None and parse_progress("{broken") is None

    volume = Nodes.volume_from_node(mr_node, "MR")
    nodes = {day: Nodes.add_output_node(mr_node, volume, f"t1c day {day}", "forecast", {"task": "forecast"}, {}, "synthetic") for day in (90, 30)}
    sequence = Nodes.forecast_sequence(nodes, "Head MR t1c forecast")
    assert sequence.GetNumberOfDataNodes() == 2 and sequence.GetIndexUnit() == "days"
    assert [sequence.GetNthIndexValue(i) for i in range(2)] == ["30", "90"]
    assert sequence.GetAttribute("DiffusionSynth.Synthetic") == "true"
    browsers = scene.GetNodesByClass("vtkMRMLSequenceBrowserNode")
    assert browsers.GetNumberOfItems() == 1 and browsers.GetItemAsObject(0).GetMasterSequenceNode() is sequence


def test_inpaint_add_from_a_segment_keeps_every_voxel_outside_the_blend(scene, brain_cases, tiny_inpaint_model, logic, temp_root):
    """Two real sequences as nodes, a drawn segment as the mask: new synthetic nodes, input grid, exact outside."""
    from DiffusionSynthLib.masks import blend_weights

    nodes = case_nodes(scene, brain_cases)
    reference = nodes["t1c"]
    dims = reference.GetImageData().GetDimensions()
    drawn = np.zeros(dims, np.uint8)
    centre = np.argwhere(slicer.util.arrayFromVolume(reference).transpose(2, 1, 0) != 0).mean(axis=0).astype(int)
    drawn[tuple(slice(c - 3, c + 3) for c in centre)] = 1
    before = {name: slicer.util.arrayFromVolume(node).copy() for name, node in nodes.items()}
    request = add_mode_request(scene, nodes, drawn, tiny_inpaint_model, strength=1.5)

    outputs = logic.run(request, timeout=300)

    assert list(temp_root.iterdir()) == []
    by_name = {node.GetName(): node for node in outputs}
    assert sorted(by_name) == sorted(f"Case t1c inpaint {name}" for name in ("t1c", "t2f", "sub-regions"))
    layout = by_name.pop("Case t1c inpaint sub-regions")  # the real layout the inpainting drew into the segment
    assert layout.IsA("vtkMRMLLabelMapVolumeNode") and layout.GetAttribute("DiffusionSynth.Synthetic") == "true"
    assert np.array_equal(slicer.util.arrayFromVolume(layout) > 0, (drawn != 0).transpose(2, 1, 0))
    outside = (blend_weights(drawn != 0) == 0).transpose(2, 1, 0)  # kji, as arrayFromVolume
    for name, node in nodes.items():
        out = by_name[f"Case t1c inpaint {name}"]
        assert np.array_equal(Nodes.ijk_to_ras(out), Nodes.ijk_to_ras(node))
        result = slicer.util.arrayFromVolume(out)
        assert np.array_equal(result[outside], before[name][outside])
        assert not np.array_equal(result[~outside], before[name][~outside])
        assert np.array_equal(slicer.util.arrayFromVolume(node), before[name])
        assert out.GetAttribute("DiffusionSynth.Synthetic") == "true"


def test_inpaint_add_with_a_label_map_of_sub_regions_places_them(scene, brain_cases, tiny_inpaint_model, logic, temp_root):
    """A label map node (BraTS 2013: enhancing shell, necrotic core), on a finer grid than the images, reaches the
    library resampled onto theirs: the added lesion's T1c follows the labels, and swapping them swaps the contrast."""
    nodes = case_nodes(scene, brain_cases)
    reference = nodes["t1c"]
    dims = reference.GetImageData().GetDimensions()
    brain = slicer.util.arrayFromVolume(reference).transpose(2, 1, 0) != 0
    centre = np.argwhere(brain).mean(axis=0).astype(int)
    grid = np.indices(dims) - centre.reshape(3, 1, 1, 1)
    radius = np.sqrt((grid**2).sum(axis=0))  # voxels (3 mm)
    drawn = (radius <= 4).astype(np.uint8)
    labels = np.where(radius <= 2, 1, np.where(radius <= 4, 4, 0)).astype(np.uint8)  # necrosis inside, enhancing shell
    swapped = np.where(labels == 1, 4, np.where(labels == 4, 1, 0)).astype(np.uint8)
    finer = Nodes.ijk_to_ras(reference).copy()  # the label map on a finer grid than the images: resampled by the logic
    finer[:3, :3] /= 2
    finer[:3, 3] = Nodes.ijk_to_ras(reference)[:3, 3] - Nodes.ijk_to_ras(reference)[:3, :3] @ np.full(3, 0.25)

    def finer_node(array: np.ndarray, name: str):
        return add_volume(scene, np.repeat(np.repeat(np.repeat(array, 2, 0), 2, 1), 2, 2), finer, name, "vtkMRMLLabelMapVolumeNode")

    labels_node, swapped_node = finer_node(labels, "sub-regions"), finer_node(swapped, "swapped")
    request = add_mode_request(scene, nodes, drawn, tiny_inpaint_model)
    shell, core = (labels == 4).transpose(2, 1, 0), (labels == 1).transpose(2, 1, 0)

    def contrast(**extra) -> float:
        outputs = logic.run(SynthesisRequest(**{**request.__dict__, **extra}), timeout=300)
        t1c = slicer.util.arrayFromVolume(next(node for node in outputs if node.GetName().startswith("Case t1c inpaint t1c")))
        return float(t1c[shell].mean() - t1c[core].mean())

    placed = contrast(labels=labels_node, labels_convention="brats2013")
    assert placed > 0.2 * float(np.std(slicer.util.arrayFromVolume(reference)[brain.transpose(2, 1, 0)]))
    assert contrast(labels=swapped_node, labels_convention="brats2013") < 0  # enhancing core, necrotic shell
    assert list(temp_root.iterdir()) == []
    with pytest.raises(ValueError, match="label convention"):
        logic.check_inputs(SynthesisRequest(**{**request.__dict__, "labels": labels_node, "labels_convention": "brats2099"}))


def test_forecast_of_a_real_patient_becomes_sequences_of_days(scene, tiny_inpaint_model, logic, temp_root, tmp_path):
    """A real baseline T1c and its tumour as a segment: each output series (mask, image, probability) is a Sequence in days."""
    import shutil

    from DiffusionSynthLib.growth.longitudinal import ASSUMED_SPACING_MM, with_spacing
    from DiffusionSynthLib.models import resolve_model

    from conftest import DATA

    patient = DATA / "tumour_progression" / "02"
    if not (patient / "Pre_Scan_T1.nii.gz").is_file():
        pytest.skip(f"longitudinal data not found at {patient.parent}")
    t1c = with_spacing(read_volume(patient / "Pre_Scan_T1.nii.gz"), ASSUMED_SPACING_MM)  # a Slicer volume knows its spacing
    tumour = (read_volume(patient / "Pre_Mask.nii.gz").array > 0).astype(np.uint8)
    node = add_volume(scene, t1c.array, t1c.ijk_to_ras, "Baseline T1c")
    labelmap = add_volume(scene, tumour, t1c.ijk_to_ras, "tumour", "vtkMRMLLabelMapVolumeNode")
    segmentation = scene.AddNewNodeByClass("vtkMRMLSegmentationNode")
    assert slicer.vtkSlicerSegmentationsModuleLogic.ImportLabelmapToSegmentationNode(labelmap, segmentation)
    model = Path(shutil.copytree(resolve_model("forecast-gbm-demo", "forecast").path, tmp_path / "forecast model"))
    config = json.loads((model / "model.json").read_text())
    config["render"]["inpaint_model"] = str(tiny_inpaint_model)  # the built-in names inpaint-brats-demo
    (model / "model.json").write_text(json.dumps(config))
    request = SynthesisRequest(
        task="forecast",
        sequences={"t1c": node},
        segmentation=segmentation,
        segment_id=segmentation.GetSegmentation().GetNthSegmentID(0),
        days=[90, 7],
        model=str(model),
        steps=1,
        samples=2,
        seed=3,
    )

    outputs = logic.run(request, timeout=600)

    assert list(temp_root.iterdir()) == []
    sequences = {n.GetName(): n for n in outputs if n.IsA("vtkMRMLSequenceNode")}
    volumes = {n.GetName(): n for n in outputs if n.IsA("vtkMRMLScalarVolumeNode")}
    assert sorted(sequences) == [f"Baseline T1c forecast {s} forecast" for s in ("t1c", "tumour_mask", "tumour_probability")]
    assert sorted(volumes) == sorted(f"Baseline T1c forecast {s}_{d}" for s in ("t1c", "tumour_mask", "tumour_probability") for d in ("day007", "day090"))
    for sequence in sequences.values():
        assert sequence.GetIndexUnit() == "days" and sequence.GetNumberOfDataNodes() == 2
        assert [sequence.GetNthIndexValue(i) for i in range(2)] == ["7", "90"]
        assert sequence.GetAttribute("DiffusionSynth.Synthetic") == "true"
    for volume in volumes.values():
        assert np.array_equal(Nodes.ijk_to_ras(volume), Nodes.ijk_to_ras(node))
        assert volume.GetImageData().GetDimensions() == node.GetImageData().GetDimensions()
    masks = [slicer.util.arrayFromVolume(volumes[f"Baseline T1c forecast tumour_mask_{d}"]) > 0 for d in ("day007", "day090")]
    baseline = tumour.transpose(2, 1, 0) > 0
    assert 2 * (masks[0] & baseline).sum() / (masks[0].sum() + baseline.sum()) > 0.85 and masks[1].sum() > masks[0].sum()
    record = json.loads(volumes["Baseline T1c forecast t1c_day090"].GetAttribute("DiffusionSynth.Provenance"))
    assert record["task"] == "forecast" and record["day"] == 90 and record["physics_spacing_mm"] == pytest.approx(list(ASSUMED_SPACING_MM))
    browsers = scene.GetNodesByClass("vtkMRMLSequenceBrowserNode")
    assert browsers.GetNumberOfItems() == 3
