"""One rule for every command's output location, and provenance that names files, never paths.

The rule: a missing output folder (``--output-dir``, a case or package ``--output``, or the folder
of an ``--output`` file) is made when its parent exists; a missing parent is refused with one
error line and exit 4, before any work, and nothing is created.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from DiffusionSynthLib.cli import main
from DiffusionSynthLib.volume import read_provenance

from conftest import DATA, HEAD_CT, HEAD_MR

CASE = "TCGA-DU-7294"


FIXTURES = {
    "mri-to-ct": ["small_mri", "tiny_model"],
    "impute": ["brain_cases", "tiny_impute_model"],
    "inpaint": ["brain_cases", "tiny_inpaint_model"],
    "forecast": ["brain_cases", "tiny_inpaint_model"],
    "augment": ["brain_cases", "tiny_inpaint_model"],
    "prepare-pairs": ["shared_data"],
    "train": ["tiny_model"],
}


def command(name: str, request) -> tuple[list, str, str | None]:
    """(arguments before the output, the output option, the file name when the output is a file)."""
    given = {fixture: request.getfixturevalue(fixture) for fixture in FIXTURES[name]}  # only what this command needs
    quick = ["--steps", "1", "--progress", "none"]
    case = given["brain_cases"] / CASE if "brain_cases" in given else None
    if name == "mri-to-ct":
        return ["mri-to-ct", "--mri", given["small_mri"], "--model", given["tiny_model"], *quick], "--output", "ct.nii.gz"
    if name == "impute":
        return ["impute", "--t1c", case / "t1c.nii.gz", "--model", given["tiny_impute_model"], *quick], "--output-dir", None
    if name == "inpaint":
        return (
            [
                "inpaint",
                "--t1c",
                case / "t1c.nii.gz",
                "--mask",
                case / "tumour_seg_predicted.nii.gz",
                "--mode",
                "remove",
                "--model",
                given["tiny_inpaint_model"],
                *quick,
            ],
            "--output-dir",
            None,
        )
    if name == "forecast":
        return (
            [
                "forecast",
                "--t1c",
                case / "t1c.nii.gz",
                "--tumour-mask",
                case / "tumour_seg_predicted.nii.gz",
                "--days",
                "30",
                "--inpaint-model",
                given["tiny_inpaint_model"],
                *quick,
            ],
            "--output-dir",
            None,
        )
    if name == "augment":
        return ["augment", "--input-dir", given["brain_cases"], "--count", "1", "--model", given["tiny_inpaint_model"], *quick], "--output-dir", None
    if name == "prepare-pairs":
        return ["prepare-pairs", "--mri", HEAD_MR, "--ct", HEAD_CT], "--output", None
    return (
        [
            "train",
            "--task",
            "mri-to-ct",
            "--data",
            given["tiny_model"].parent / "pairs",
            "--preset",
            "tiny",
            "--max-steps",
            "1",
            "--patch",
            "32",
            "32",
            "16",
            "--batch",
            "1",
        ],
        "--output",
        None,
    )


def _argv(command: tuple, target: Path) -> list[str]:
    before, option, file_name = command
    return [str(a) for a in before] + [option, str(target / file_name if file_name else target)]


@pytest.mark.parametrize("name", ["mri-to-ct", "impute", "inpaint", "forecast", "augment", "prepare-pairs", "train"])
def test_a_missing_parent_is_refused_with_one_line_and_exit_4(name, request, tmp_path, capsys):
    argv = _argv(command(name, request), tmp_path / "no such folder" / "out")
    capsys.readouterr()  # what making the fixtures printed
    code = main(argv)
    lines = capsys.readouterr().err.splitlines()
    assert code == 4 and len(lines) == 1 and lines[0].startswith("error: "), lines
    assert f"'{tmp_path / 'no such folder'}' does not exist" in lines[0], lines
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["mri-to-ct", "impute", "inpaint", "forecast", "augment", "prepare-pairs", "train"])
def test_a_missing_folder_whose_parent_exists_is_made(name, request, tmp_path, capsys):
    target = tmp_path / "new folder"
    code = main(_argv(command(name, request), target))
    assert code == 0, capsys.readouterr().err
    written = sorted(target.rglob("*.nii.gz"))
    assert target.is_dir() and (written or (target / "model.json").is_file())
    for path in written:  # provenance names its input files, never where they are
        record = read_provenance(path)
        if record is None:
            continue
        text = json.dumps(record)
        for folder in (DATA, tmp_path.parent.parent):  # the data, and every pytest folder
            assert str(folder) not in text, (path.name, record)
        if name == "inpaint":
            assert record["mask"] == "tumour_seg_predicted.nii.gz"
        if name == "forecast":
            assert record["tumour_mask"] == "tumour_seg_predicted.nii.gz"


def test_the_uncertainty_file_follows_the_same_rule(request, tmp_path, capsys):
    run = [*_argv(command("mri-to-ct", request), tmp_path / "ct"), "--samples", "2"]
    capsys.readouterr()
    assert main([*run, "--uncertainty", str(tmp_path / "missing" / "std" / "std.nii.gz")]) == 4
    assert "does not exist" in capsys.readouterr().err and not (tmp_path / "ct").exists() and not (tmp_path / "missing").exists()
    assert main([*run, "--uncertainty", str(tmp_path / "std" / "std.nii.gz")]) == 0
    assert (tmp_path / "ct" / "ct.nii.gz").is_file() and (tmp_path / "std" / "std.nii.gz").is_file()
