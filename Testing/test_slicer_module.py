"""The module's contracts with the library: tasks, inpainting strength, imports, and its self-test.

Real MRML nodes (slicer-core), the real command line and the built-in model; nothing is mocked.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("slicer", reason="slicer-core is not installed (pip install slicer-core)")
import slicer  # noqa: E402
import slicer.util  # noqa: E402

MODULE = Path(__file__).resolve().parents[1] / "DiffusionSynth"
sys.path.insert(0, str(MODULE))
from DiffusionSynthSlicerLib import SelfTest  # noqa: E402
from DiffusionSynthSlicerLib.Logic import RunError, SynthesisLogic, SynthesisRequest  # noqa: E402
from DiffusionSynthSlicerLib.Process import ProcessRunner  # noqa: E402
from DiffusionSynthSlicerLib.Tasks import STRENGTH_RANGE, TASKS  # noqa: E402

from DiffusionSynthLib.cli import build_parser, main  # noqa: E402
from DiffusionSynthLib.tasks import available_tasks  # noqa: E402


@pytest.fixture
def scene():
    scene = slicer.vtkMRMLScene()
    slicer.mrmlScene = scene
    yield scene
    scene.Clear(1)


@pytest.fixture
def logic(tmp_path) -> SynthesisLogic:
    return SynthesisLogic(ProcessRunner(python=sys.executable, grace_s=3.0), temp_root=tmp_path)


def volume_count(scene) -> int:
    return scene.GetNodesByClass("vtkMRMLScalarVolumeNode").GetNumberOfItems()


# ------------------------------------------------------------------------------------------ tasks


def test_the_library_names_all_four_tasks():
    assert available_tasks() == [spec.command for spec in TASKS.values()] == ["mri-to-ct", "impute", "inpaint", "forecast"]


@pytest.mark.parametrize("task", list(TASKS))
def test_each_task_has_its_command(task, capsys):
    command = TASKS[task].command
    with pytest.raises(SystemExit) as leaving:
        main([command, "--help"])
    assert leaving.value.code == 0 and f"usage: diffusionsynth {command}" in capsys.readouterr().out


def modules_after(code: str) -> list[str]:
    """The DiffusionSynth modules (and torch) a fresh interpreter holds after running ``code``."""
    script = f"import json, sys\nsys.path.insert(0, {str(MODULE)!r})\n{code}\n" + (
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith(('DiffusionSynth', 'torch')))))"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    return json.loads(done.stdout.splitlines()[-1])


def test_no_import_circle_between_the_library_the_module_and_the_web_front_end():
    parser = modules_after("import DiffusionSynthLib.cli as cli\ncli.build_parser().parse_args(['serve'])")
    assert "DiffusionSynthLib.cli" in parser
    assert not [m for m in parser if m.startswith(("DiffusionSynthWeb", "DiffusionSynthSlicerLib", "torch"))], parser
    tasks = modules_after("from DiffusionSynthSlicerLib.Tasks import task_availability\nassert all(ok for ok, _ in task_availability().values())")
    assert "DiffusionSynthLib.tasks.available" in tasks
    assert not [m for m in tasks if m.startswith(("DiffusionSynthLib.cli", "DiffusionSynthWeb", "torch"))], tasks


# ------------------------------------------------------------------------------------------ strength


def ui_strength() -> tuple[float, float, float]:
    """(minimum, maximum, value) of the ``.ui``'s strength spin box."""
    widget = next(w for w in ET.parse(MODULE / "Resources" / "UI" / "DiffusionSynth.ui").getroot().iter("widget") if w.get("name") == "strengthSpinBox")
    properties = {p.get("name"): p for p in widget.findall("property")}
    return tuple(float(properties[name].findtext("double")) for name in ("minimum", "maximum", "value"))


def parameter_strength() -> tuple[float, float, float]:
    """(low, high, default) of the parameter node's ``strength: Annotated[float, WithinRange(low, high)] = default``."""
    tree = ast.parse((MODULE / "DiffusionSynthSlicerLib" / "Parameter.py").read_text())
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "DiffusionSynthParameterNode")
    field = next(n for n in cls.body if isinstance(n, ast.AnnAssign) and n.target.id == "strength")
    within = field.annotation.slice.elts[1]
    assert isinstance(within, ast.Call) and within.func.id == "WithinRange"
    low, high = (float(ast.literal_eval(arg)) for arg in within.args)
    return low, high, float(ast.literal_eval(field.value))


def test_inpainting_strength_has_one_range_in_the_ui_the_parameter_node_the_logic_and_the_library(scene):
    from DiffusionSynthLib.tasks.inpaint import MAX_STRENGTH

    default = build_parser().parse_args(["inpaint", "--mask", "m", "--mode", "add", "--output-dir", "o"]).strength
    assert ui_strength() == parameter_strength() == (*STRENGTH_RANGE, SynthesisRequest().strength) == (0.0, MAX_STRENGTH, default) == (0.0, 3.0, 1.0)
    node = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "T1c")
    slicer.util.updateVolumeFromArray(node, np.ones((4, 5, 6), np.float32))
    logic = SynthesisLogic()
    for strength in (0.0, 1.0, 3.0):
        logic.check_inputs(SynthesisRequest(task="inpaint", sequences={"t1c": node}, strength=strength))
    for strength in (-0.01, 3.01):
        with pytest.raises(ValueError, match="strength must be between 0 and 3"):
            logic.check_inputs(SynthesisRequest(task="inpaint", sequences={"t1c": node}, strength=strength))


# ------------------------------------------------------------------------------------------ the self-test


def test_self_test_runs_the_built_in_model(scene, logic, tmp_path):
    assert SelfTest.self_test_model(logic.builtin_models("mri-to-ct"), {}) == "mri-to-ct-head-demo"
    SelfTest.check_mri_to_ct(logic, scene, environ={})
    assert volume_count(scene) == 2  # the phantom and its pseudo-CT: the model ran
    assert list(tmp_path.iterdir()) == []


def test_self_test_fails_without_a_model(scene, logic, tmp_path):
    with pytest.raises(AssertionError, match=r"No MRI -> CT model to test with.*DIFFUSIONSYNTH_TEST_MODEL"):
        SelfTest.self_test_model([], {})
    with pytest.raises(RunError, match="no-such-model") as caught:  # a model that is not there fails the same way
        SelfTest.check_mri_to_ct(logic, scene, environ={SelfTest.MODEL_VARIABLE: str(tmp_path / "no-such-model")})
    assert caught.value.exit_code == 3 and volume_count(scene) == 1
