"""``diffusionsynth serve`` refusals, and the rule that the library and the module logic know nothing of the web."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
WEB_OR_GUI = ("trame", "trame_slicer", "trame_server", "trame_client", "trame_vuetify", "qt", "ctk", "DiffusionSynthWeb")


def test_serve_without_the_web_extra_is_one_error_line(monkeypatch, capsys):
    import DiffusionSynthWeb
    from DiffusionSynthWeb.cli import main as serve_main

    monkeypatch.setattr(DiffusionSynthWeb, "missing_requirements", lambda: ["trame_slicer"])
    assert serve_main([]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and 'pip install "DiffusionSynth[web]"' in err[0]


def test_serve_refuses_a_data_folder_that_does_not_exist(tmp_path, capsys):
    """The front end's own entry point refuses it; ``diffusionsynth serve`` (which starts that entry point in its place,
    importing nothing of the web) gives the same single line and exit code."""
    from DiffusionSynthWeb.cli import main as serve_main

    assert serve_main(["--data", str(tmp_path / "nowhere")]) == 2
    assert "is not a folder" in capsys.readouterr().err
    process = subprocess.run([sys.executable, "-m", "DiffusionSynthLib.cli", "serve", "--data", str(tmp_path / "nowhere")], capture_output=True, text=True)
    lines = process.stderr.strip().splitlines()
    assert process.returncode == 2 and len(lines) == 1 and "is not a folder" in lines[0], process.stderr


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("folder", ["DiffusionSynthLib", "DiffusionSynth/DiffusionSynthSlicerLib"])
def test_library_and_logic_import_nothing_of_the_web(folder):
    for path in sorted((REPO / folder).rglob("*.py")):
        bad = imported_modules(path) & set(WEB_OR_GUI)  # 'serve' starts the front end's own program (by name, no import)
        assert not bad, f"{path.relative_to(REPO)} imports {bad}"


def test_importing_the_logic_loads_no_web_module():
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import DiffusionSynthSlicerLib.Logic, DiffusionSynthLib.cli; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in sys.argv[2].split(',')))"
    )
    out = subprocess.run([sys.executable, "-c", code, str(REPO / "DiffusionSynth"), ",".join(WEB_OR_GUI)], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
