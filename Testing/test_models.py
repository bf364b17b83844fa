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
