"""Model packages: checksums verified on load, clear errors for damaged or wrong packages."""

from __future__ import annotations

import json
import shutil

import pytest

from DiffusionSynthLib.cli import main
from DiffusionSynthLib.errors import ModelError
from DiffusionSynthLib.models import builtin_models, load_model, resolve_model


def _copy(tiny_model, tmp_path):
    return shutil.copytree(tiny_model, tmp_path / "copy")


def test_tiny_package_loads_and_is_verified(tiny_model):
    package = load_model(tiny_model, "mri-to-ct")
    assert set(package.networks) == {"refiner", "autoencoder", "unet"}
    assert package.weights_sha256["unet"] == json.loads((tiny_model / "model.json").read_text())["networks"]["unet"]["sha256"]


def test_changed_weights_fail_their_checksum(tiny_model, tmp_path):
    copy = _copy(tiny_model, tmp_path)
    weights = copy / "unet.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="checksum"):
        load_model(copy)


def test_missing_weights_file_and_missing_json(tiny_model, tmp_path):
    copy = _copy(tiny_model, tmp_path)
    (copy / "autoencoder.safetensors").unlink()
    with pytest.raises(ModelError, match="missing its weights"):
        load_model(copy)
    (copy / "model.json").unlink()
    with pytest.raises(ModelError, match="no model.json"):
        load_model(copy)


@pytest.mark.parametrize("weights", ["/etc/passwd", "../copy/unet.safetensors", "sub/unet.safetensors", 7])
def test_weights_named_outside_the_package_folder_are_refused(tiny_model, tmp_path, weights):
    """model.json names each network's weights; a path out of the package (absolute, '..', a sub-folder) is refused
    before any file is opened, even where the file it names exists."""
    copy = _copy(tiny_model, tmp_path)
    (copy / "sub").mkdir()
    shutil.copy(copy / "unet.safetensors", copy / "sub" / "unet.safetensors")
    config = json.loads((copy / "model.json").read_text())
    config["networks"]["unet"]["weights"] = weights
    (copy / "model.json").write_text(json.dumps(config))
    with pytest.raises(ModelError, match="a package's weights are files in its own folder"):
        load_model(copy)


def test_model_for_another_task_is_refused_before_any_work(tiny_model):
    with pytest.raises(ModelError, match="is for the task 'mri-to-ct', not 'impute'"):
        load_model(tiny_model, "impute")


def test_unknown_model_name(tmp_path):
    with pytest.raises(ModelError, match="No model folder or built-in model named"):
        resolve_model("no-such-model", "mri-to-ct")


def test_models_command_lists_the_builtin_models(capsys):
    assert main(["models", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows == builtin_models()
    for row in rows:
        assert row["size_bytes"] < 25 * 1024 * 1024
        assert row["card"].endswith("MODEL_CARD.md")
        load_model(row["path"], row["task"])  # every built-in model verifies


def test_a_non_commercial_package_says_so_when_listed_and_when_loaded(tiny_model, tmp_path, capsys):
    """Weights learned from CC BY-NC-SA data: ``models`` marks them, loading warns (NonCommercialWeights), and the
    command line prints that as one ``note:`` line; a package under an open licence loads silently."""
    import warnings

    from DiffusionSynthLib.models.package import NonCommercialWeights

    rows = {row["id"]: row for row in builtin_models()}
    assert rows["impute-brats-demo"]["non_commercial"] and not rows["mri-to-ct-head-demo"]["non_commercial"]
    assert main(["models"]) == 0
    listing = capsys.readouterr().out
    assert "non-commercial" in next(line for line in listing.splitlines() if line.startswith("impute-brats-demo"))
    copy = _copy(tiny_model, tmp_path)
    config = json.loads((copy / "model.json").read_text())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        load_model(copy)
        config["licence"] = "CC-BY-NC-SA-3.0 (non-commercial research only)"
        (copy / "model.json").write_text(json.dumps(config))
        load_model(copy)
    assert [w.category for w in caught] == [NonCommercialWeights] and "non-commercial research only" in str(caught[0].message)
    out = tmp_path / "ct.nii.gz"
    from conftest import HEAD_MR

    assert main(["mri-to-ct", "--mri", str(HEAD_MR), "--output", str(out), "--model", str(copy), "--progress", "none"]) == 0
    notes = [line for line in capsys.readouterr().err.splitlines() if line.startswith("note:")]
    assert len(notes) == 1 and "is for non-commercial research only" in notes[0]
