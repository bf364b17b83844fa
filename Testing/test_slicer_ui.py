"""The module's Qt Designer file and module source agree (checked without Qt or the Slicer application)."""

from __future__ import annotations

import ast
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

MODULE = Path(__file__).resolve().parents[1] / "DiffusionSynth"
UI = MODULE / "Resources" / "UI" / "DiffusionSynth.ui"
SOURCE = MODULE / "DiffusionSynth.py"
# widget classes parameterNodeWrapper's connectGui can bind, by the parameter's type
CONNECTABLE = {
    "str": {"QLineEdit", "QComboBox"},
    "int": {"QSpinBox", "QSlider", "QComboBox"},
    "float": {"QDoubleSpinBox", "ctkSliderWidget"},
    "bool": {"QCheckBox", "QPushButton"},
    "node": {"qMRMLNodeComboBox"},
}


def widgets() -> dict[str, ET.Element]:
    root = ET.parse(UI).getroot()
    return {w.get("name"): w for w in root.iter("widget")}


def parameter_types() -> dict[str, str]:
    """Field name -> 'str' | 'int' | 'float' | 'bool' | 'node', read from Parameter.py's annotations."""
    tree = ast.parse((MODULE / "DiffusionSynthSlicerLib" / "Parameter.py").read_text())
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "DiffusionSynthParameterNode")
    types = {}
    for item in cls.body:
        if isinstance(item, ast.AnnAssign):
            text = ast.unparse(item.annotation)
            base = re.sub(r"Annotated\[(\w+),.*", r"\1", text)
            types[item.target.id] = "node" if base.startswith("vtkMRML") else base
    return types


def test_ui_parses_and_names_every_widget_the_module_uses():
    names = widgets()
    root = ET.parse(UI).getroot()
    assert root.findtext("class") == "DiffusionSynth" and names["DiffusionSynth"].get("class") == "qMRMLWidget"
    used = set(re.findall(r"self\.ui\.(\w+)", SOURCE.read_text()))
    assert {"taskComboBox", "applyButton", "cancelButton", "segmentSelector"} <= used
    missing = sorted(used - set(names))
    assert not missing, f"DiffusionSynth.py uses widgets the .ui lacks: {missing}"


def test_every_parameter_widget_binds_to_a_parameter_of_the_right_type():
    types = parameter_types()
    bound = {}
    for widget in widgets().values():
        for prop in widget.findall("property"):
            if prop.get("name") == "SlicerParameterName":
                bound[prop.findtext("string")] = widget.get("class")
    assert bound, "no widget carries a SlicerParameterName"
    for parameter, widget_class in bound.items():
        assert parameter in types, f"the .ui binds '{parameter}', which the parameter node lacks"
        assert widget_class in CONNECTABLE[types[parameter]], f"{widget_class} cannot show a {types[parameter]} ('{parameter}')"
    # every parameter is shown: bound in the .ui, or synced by the widget code (task, segment)
    source = SOURCE.read_text()
    for parameter in types:
        assert parameter in bound or f"_parameterNode.{parameter}" in source or f"p.{parameter}" in source, parameter


def test_mrml_widgets_get_the_scene_and_custom_classes_are_declared():
    root = ET.parse(UI).getroot()
    receivers = {c.findtext("receiver") for c in root.iter("connection") if c.findtext("signal") == "mrmlSceneChanged(vtkMRMLScene*)"}
    mrml = {name for name, w in widgets().items() if w.get("class", "").startswith("qMRML") and name != "DiffusionSynth"}
    assert mrml and mrml <= receivers
    declared = {c.findtext("class") for c in root.iter("customwidget")}
    used_custom = {w.get("class") for w in widgets().values() if w.get("class", "").startswith(("qMRML", "ctk"))}
    assert used_custom <= declared


def test_module_file_is_thin_and_its_self_test_is_always_on():
    tree = ast.parse(SOURCE.read_text())
    classes = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}
    assert {"DiffusionSynth", "DiffusionSynthWidget", "DiffusionSynthLogic", "DiffusionSynthTest"} <= set(classes)
    run_test = next(f for f in classes["DiffusionSynthTest"].body if isinstance(f, ast.FunctionDef) and f.name == "runTest")
    called = {c.func.attr for c in ast.walk(run_test) if isinstance(c, ast.Call) and isinstance(c.func, ast.Attribute)}
    tests = {f.name for f in classes["DiffusionSynthTest"].body if isinstance(f, ast.FunctionDef) and f.name.startswith("test_")}
    assert tests and tests <= called, "runTest must run every test method"
    assert not re.search(r"^\s*if\s+.*:\s*return", ast.get_source_segment(SOURCE.read_text(), run_test), re.M)
    assert len(SOURCE.read_text().splitlines()) < 400
    for path in (MODULE / "DiffusionSynthSlicerLib").glob("*.py"):
        assert len(path.read_text().splitlines()) < 400, path.name
    assert "Synthesis" in SOURCE.read_text() and "not for diagnosis" in SOURCE.read_text()


def test_install_logic_is_importable_without_slicer_and_sees_the_dependencies():
    sys.path.insert(0, str(MODULE))
    from DiffusionSynthSlicerLib import InstallLogic

    assert "slicer" not in InstallLogic.__dict__  # slicer is imported only when installing
    assert InstallLogic.missing_packages() == []  # this environment has the library's dependencies


def test_self_test_runs_the_shared_check_and_cannot_pass_without_a_model():
    """``test_mri_to_ct`` hands over to ``SelfTest.check_mri_to_ct`` (run on slicer-core by test_slicer_module.py) with no way around it."""
    tree = ast.parse(SOURCE.read_text())
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "DiffusionSynthTest")
    method = next(f for f in cls.body if isinstance(f, ast.FunctionDef) and f.name == "test_mri_to_ct")
    calls = {ast.unparse(c.func) for c in ast.walk(method) if isinstance(c, ast.Call)}
    assert "SelfTest.check_mri_to_ct" in calls, calls
    escapes = [type(n).__name__ for n in ast.walk(method) if isinstance(n, (ast.If, ast.Return, ast.Try, ast.With, ast.IfExp))]
    assert not escapes, f"test_mri_to_ct must not branch around the run: {escapes}"
    check = (MODULE / "DiffusionSynthSlicerLib" / "SelfTest.py").read_text()
    assert "except" not in check  # the shared check swallows no failure


def test_the_extension_build_lists_every_module_file():
    listed = set(re.findall(r"\$\{MODULE_NAME\}SlicerLib/(\w+\.py)", (MODULE / "CMakeLists.txt").read_text()))
    assert listed == {path.name for path in (MODULE / "DiffusionSynthSlicerLib").glob("*.py")}
