"""The README's Python blocks run as pasted (the Slicer one aside: it needs Slicer's own Python)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
COLIN27 = Path("/usr/share/mricron/templates/ch2bet.nii.gz")


def python_blocks() -> list[str]:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.DOTALL)
    return [block for block in blocks if "slicer" not in block.lower()]


def test_the_readme_has_a_python_block():
    assert python_blocks(), "the README shows the Python API"


@pytest.mark.parametrize("block", python_blocks(), ids=lambda block: block.splitlines()[0][:40])
def test_a_readme_python_block_runs_as_pasted(block, tmp_path, monkeypatch):
    if "/usr/share/mricron" in block and not COLIN27.is_file():
        pytest.skip("Colin27 not installed (Debian's mricron-data): the README's example reads it")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(block, str(README), "exec"), namespace)  # noqa: S102 - the README's own code, run as a reader would
    if "write_volume(flair" in block:
        from DiffusionSynthLib.volume import read_provenance

        assert read_provenance(tmp_path / "colin27_flair.nii.gz")["synthetic"] is True
        assert namespace["healthy"].same_grid(namespace["t1n"])


def _row(result: dict, table: int, **match) -> dict:
    return next(row for row in result["tables"][table]["rows"] if all(row.get(k) == v for k, v in match.items()))


def _stored(package: str, name: str) -> dict:
    import json

    from DiffusionSynthLib.models import resolve_model

    return json.loads((resolve_model(package, None).path / name).read_text())


def status_line(job: str) -> str:
    return next(line for line in README.read_text().splitlines() if line.startswith(f"| {job}"))


def test_the_status_table_s_figures_are_those_of_the_stored_results():
    """Each figure in the README's status table, recomputed from the results JSON stored in its package (or the package's
    own training record): a re-run benchmark that moves a figure fails here until the README says so."""
    ct = _stored("mri-to-ct-head-demo", "benchmark-mri-to-ct-quality.json")
    line = status_line("MRI → pseudo-CT")
    model = _row(ct, 0, method="prior + network", region="held-out slab")
    bulk = _row(ct, 0, method="bulk density", region="held-out slab")
    outline = _row(ct, 0, method="bulk density, head found in the MR", region="held-out slab")
    assert f"MAE {model['mae']:.0f} HU against {bulk['mae']:.0f}" in line
    assert f"bone Dice {model['bone_dice']:.3f} against {outline['bone_dice']:.3f}" in line and outline["bone_dice"] > model["bone_dice"]
    colin = _row(ct, 1, method="Colin27: prior + network")
    remind = {series: _row(ct, 2, series=f"ReMIND-022 {series}", method="prior + network") for series in ("T1c", "T2")}
    assert (
        f"{100 * colin['bone_share_under_scalp']:.1f}% for Colin27, {100 * remind['T1c']['skull_layer_bone_share']:.1f}% for ReMIND-022's "
        f"contrast-enhanced T1, {100 * remind['T2']['skull_layer_bone_share']:.1f}% for its T2" in line
    )
    dose = _stored("mri-to-ct-head-demo", "benchmark-dose-pair.json")
    ours, bulk_dose = _row(dose, 0, plan="proton", method="prior + network"), _row(dose, 0, plan="proton", method="bulk density")
    assert f"gamma 1%/1 mm {ours['gamma_pass_1pct_1mm']:.1f}% against {bulk_dose['gamma_pass_1pct_1mm']:.1f}% for bulk density: below it" in line
    assert ours["gamma_pass_1pct_1mm"] < bulk_dose["gamma_pass_1pct_1mm"]  # "below it" stays true only while it is
    outline_dose = _row(dose, 0, plan="proton", method="bulk density, head found in the MR")
    assert f"({outline_dose['gamma_pass_1pct_1mm']:.1f}% with the MR's own outline)" in line
    inpaint = _stored("inpaint-brats-demo", "benchmark-inpaint-test.json")
    assert inpaint["title"].endswith("(cases no choice saw): added lesions and removals")
    line = status_line("tumour inpainting")
    removal = inpaint["tables"][1]["rows"]
    ours, harmonic = (sum(r["ssim"] for r in removal if r["method"] == m) / 4 for m in ("remove, deterministic", "harmonic fill"))
    assert f"SSIM {ours:.3f} against {harmonic:.3f} for the harmonic fill" in line
    real, added = _row(inpaint, 0, lesions="real gliomas"), _row(inpaint, 0, lesions="added (deterministic)")
    assert f"T1c radial R² {added['t1c radial r2']:.2f} (real gliomas {real['t1c radial r2']:.2f})" in line
    assert f"FLAIR texture {added['flair texture / real']:.2f} of real gliomas'" in line
    assert f"FLAIR {added['flair contrast']:+.1f} healthy SDs" in line and f"enhancing rim {added['t1c rim minus core']:+.1f} over its core" in line
    assert f"on {real['n']} BraTS 2018 test cases" in line
    forecast = _stored("forecast-gbm-demo", "model.json")["training"]["leave_one_out_summary"]
    line = status_line("tumour growth forecasting")
    assert f"Dice {forecast['volume_matched']['mean_dice']:.3f} against {forecast['no_change']['mean_dice']:.3f}" in line
    images = _stored("forecast-gbm-demo", "benchmark-forecast-images.json")["tables"][0]["rows"]
    ratios = [row["high-pass, rendered / real"] for row in images]
    assert f"high-pass energy {min(ratios):.2f}-{max(ratios):.2f} of the real image's" in line and max(ratios) < 1.0


def test_the_imputation_status_figures_are_those_of_the_test_split_result():
    """The imputation line: per missing sequence, the default output's mean SSIM against both baselines on the BraTS 2018
    test cases, and the FLAIR tumour's share of its real contrast, as the package's stored test-split result gives them."""
    result = _stored("impute-brats-demo", "benchmark-impute-heldout.json")
    assert result["title"].endswith("on its test split (cases no choice saw)")
    line = status_line("missing-sequence imputation")
    names = {"t1n": "T1", "t1c": "T1c", "t2w": "T2", "t2f": "FLAIR"}
    for target, name in names.items():
        given = "+".join(s for s in names if s != target)
        ours, regression, copied = (
            _row(result, 0, group="BraTS 2018", given=given, target=target, method=method)
            for method in ("prior + network + matching", "quadratic regression", "most similar")
        )
        assert f"{name} {ours['ssim']:.3f} against {regression['ssim']:.3f} / {copied['ssim']:.3f}" in line
    wins = [
        _row(result, 0, group="BraTS 2018", given="+".join(s for s in names if s != target), target=target, method="prior + network + matching")[
            "beats regression"
        ].split()[0]
        for target in names
    ]
    assert f"above the regression on {wins[0]}, {wins[1]}, {wins[2]} and {wins[3]} of the" in line
    flair = _row(result, 0, group="BraTS 2018", given="t1n+t1c+t2w", target="t2f", method="prior + network + matching")
    assert f"tumour at {100 * flair['tumour contrast'] / flair['real tumour contrast']:.0f}% of its real contrast" in line
    assert f"on {flair['cases']} BraTS 2018 test cases" in line


def command_lines() -> list[tuple[str, str]]:
    """(block language, line) for every ``diffusionsynth ...`` command in the README's code blocks, comments cut."""
    found: list[tuple[str, str]] = []
    for language, block in re.findall(r"```(\w*)\n(.*?)```", README.read_text(), re.DOTALL):
        for line in block.splitlines():
            command = line.split("#")[0].strip()
            if "diffusionsynth " in command:
                found.append((language, "diffusionsynth " + command.split("diffusionsynth ", 1)[1]))
            elif found and found[-1][0] == language == "text" and line.startswith(" ") and command.startswith("["):
                found[-1] = (language, f"{found[-1][1]} {command}")  # the synopsis's continuation lines
    return found


def _subcommand_options() -> dict[str, set[str]]:
    import argparse

    from DiffusionSynthLib.cli.parser import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return {name: set(parser._option_string_actions) for name, parser in sub.choices.items()}


def test_the_readme_shows_every_command():
    assert set(_subcommand_options()) <= {line.split()[1] for _, line in command_lines()}


@pytest.mark.parametrize("language,line", command_lines(), ids=lambda value: value if len(value) < 12 else value[:60])
def test_a_readme_command_uses_only_real_flags(language, line):
    """Every flag a README command line names exists on that command (a renamed or removed flag fails here)."""
    words = line.split()
    options = _subcommand_options()
    assert words[1] in options, f"'{words[1]}' is not a diffusionsynth command"
    flags = set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", line))
    assert flags <= options[words[1]], f"unknown flags {sorted(flags - options[words[1]])} in: {line}"


@pytest.mark.parametrize("line", [line for language, line in command_lines() if language in ("bash", "sh")], ids=lambda value: value[:60])
def test_a_readme_shell_command_parses_as_pasted(line):
    """A shell block's command, optional ``[...]`` parts left out, is accepted by the real parser as written."""
    import shlex

    from DiffusionSynthLib.cli.parser import build_parser

    words = shlex.split(re.sub(r"\[[^\]]*\]", "", line))[1:]
    args = build_parser().parse_args(words)  # argparse exits (SystemExit) on a missing or unknown argument
    assert args.command == words[0]
