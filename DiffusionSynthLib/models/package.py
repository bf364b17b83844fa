"""A model package is a folder: ``model.json``, one ``.safetensors`` file per network, ``MODEL_CARD.md``.

A package may have no network at all (``"networks": {}``): the growth-forecast package holds only
calibrated parameters in ``model.json``, which the task checks for completeness and range on use.

``model.json`` holds the task, each network as a MONAI class name and arguments with its weights
file and sha256, the scheduler, voxel spacing, intensity normalisation, latent scale factor,
inputs, outputs and inference presets. Weights are checked against their sha256 before use.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from ..engine.networks import build_network, build_scheduler
from ..errors import ModelError, OutputError
from ..volume import check_output_folder

FORMAT_VERSION = 1
DIFFUSION_NETWORKS = ("autoencoder", "unet")  # loaded when a sample is drawn
REQUIRED_KEYS = ("id", "task", "networks")
NETWORK_KEYS = ("spacing_mm",)  # required when a package has networks; a calibrated-parameters package has none
DIFFUSION_KEYS = ("scheduler",)  # required when it has a diffusion UNet; a prior + network package (no diffusion time) has none


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def non_commercial(config: dict[str, Any]) -> bool:
    """Whether the package's licence restricts it to non-commercial use (CC BY-NC and the like)."""
    licence = str(config.get("licence", "")).lower()
    return "-nc" in licence or " nc " in licence or "non-commercial" in licence or "noncommercial" in licence


class NonCommercialWeights(UserWarning):
    """A package whose weights are for non-commercial research only was loaded."""


def licence_notice(config: dict[str, Any]) -> str | None:
    """One line for a package under a non-commercial licence (None otherwise)."""
    if not non_commercial(config):
        return None
    return f"the model '{config.get('id')}' is for non-commercial research only (licence: {config.get('licence')}); see its MODEL_CARD.md."


class Networks(MutableMapping[str, torch.nn.Module]):
    """A package's networks by name; each is built and loaded from its (already checksum-verified) weights when first
    asked for, so a run that draws no diffusion sample never loads the diffusion networks. Names and ``in`` load
    nothing; ``loaded()`` tells which are in memory."""

    def __init__(self, loaders: Mapping[str, Callable[[], torch.nn.Module]]) -> None:
        self._loaders: dict[str, Callable[[], torch.nn.Module]] = dict(loaders)
        self._loaded: dict[str, torch.nn.Module] = {}

    def __getitem__(self, name: str) -> torch.nn.Module:
        if name not in self._loaded:
            if name not in self._loaders:
                raise KeyError(name)
            self._loaded[name] = self._loaders[name]()
        return self._loaded[name]

    def __setitem__(self, name: str, network: torch.nn.Module) -> None:
        self._loaded[name] = network
        self._loaders[name] = lambda: network

    def __delitem__(self, name: str) -> None:
        del self._loaders[name]
        self._loaded.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        return iter(self._loaders)

    def __len__(self) -> int:
        return len(self._loaders)

    def __contains__(self, name: object) -> bool:
        return name in self._loaders

    def loaded(self) -> set[str]:
        return set(self._loaded)

    def without(self, *names: str) -> Networks:
        """The same networks less ``names``; what is not loaded yet stays unloaded."""
        kept = Networks({name: loader for name, loader in self._loaders.items() if name not in names})
        kept._loaded = {name: network for name, network in self._loaded.items() if name not in names}
        return kept


@dataclass
class ModelPackage:
    """A verified model package: its config and its networks (in eval mode, on the CPU; the diffusion networks are
    loaded when first used: ``Networks``)."""

    path: Path
    config: dict[str, Any]
    networks: MutableMapping[str, torch.nn.Module] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return str(self.config["id"])

    @property
    def task(self) -> str:
        return str(self.config["task"])

    @property
    def weights_sha256(self) -> dict[str, str]:
        return {name: spec["sha256"] for name, spec in self.config["networks"].items()}

    def scheduler(self):
        """A fresh scheduler (schedulers hold per-run state)."""
        return build_scheduler(self.config["scheduler"])

    def without(self, *names: str) -> ModelPackage:
        """The same package less the networks ``names`` (``"refiner"``: the prior alone, as a package without a network
        answers); nothing is loaded to make it."""
        if isinstance(self.networks, Networks):
            return replace(self, networks=self.networks.without(*names))
        return replace(self, networks={name: self.networks[name] for name in self.networks if name not in names})


def read_config(path: Path) -> dict[str, Any]:
    config_path = path / "model.json"
    if not path.is_dir():
        raise ModelError(f"The model '{path}' is not a folder; give a model package folder or a built-in model id.")
    if not config_path.is_file():
        raise ModelError(f"The model folder '{path}' has no model.json; it is not a DiffusionSynth model package.")
    try:
        config = json.loads(config_path.read_text())
    except ValueError as error:
        raise ModelError(f"'{config_path}' is not valid JSON ({error}); the package is damaged.") from None
    missing = [key for key in REQUIRED_KEYS if key not in config]
    if not missing and not isinstance(config["networks"], dict):
        raise ModelError(f"'{config_path}' has 'networks' that is not an object; the package is damaged.")
    if not missing and config["networks"]:
        needed = NETWORK_KEYS + (DIFFUSION_KEYS if "unet" in config["networks"] else ())
        missing = [key for key in needed if key not in config]
    if missing:
        raise ModelError(f"'{config_path}' lacks the keys {missing}; the package is damaged or too old.")
    for name, spec in config["networks"].items():
        named = spec.get("weights")
        if not isinstance(named, str) or not named or Path(named).name != named or named in (".", ".."):
            raise ModelError(
                f"'{config_path}' names the weights of '{name}' as {spec.get('weights')!r}: a package's weights are files in its own folder "
                "(a plain file name, no folder, no '..'); the package is damaged or was tampered with."
            )
        weights = path / named
        if not weights.is_file():
            raise ModelError(f"The model '{path}' is missing its weights file '{weights.name}' for '{name}'.")
    return config


def load_model(path: str | os.PathLike, task: str | None = None) -> ModelPackage:
    """Read, verify (sha256) and build a model package; ``task`` checks it is the right kind of model."""
    from safetensors.torch import load_file

    path = Path(path)
    config = read_config(path)
    if task is not None and config["task"] != task:
        raise ModelError(f"The model '{config['id']}' is for the task '{config['task']}', not '{task}'; choose a {task} model.")
    for spec in config["networks"].values():  # every file checked now, before any work
        weights = path / spec["weights"]
        actual = sha256_file(weights)
        if actual != spec.get("sha256"):
            raise ModelError(
                f"The weights '{weights}' fail their checksum (sha256 {actual[:12]}..., model.json says "
                f"{str(spec.get('sha256'))[:12]}...): the file is corrupted or was replaced. Reinstall the model."
            )

    def loader(spec: dict[str, Any]) -> Callable[[], torch.nn.Module]:
        def load() -> torch.nn.Module:
            weights = path / spec["weights"]
            network = build_network(spec)
            try:
                network.load_state_dict(load_file(str(weights)), strict=True)
            except (RuntimeError, KeyError) as error:
                raise ModelError(f"The weights '{weights}' do not fit the network in model.json: {error}") from None
            return network.eval()

        return load

    networks = Networks({name: loader(spec) for name, spec in config["networks"].items()})
    for name in networks:
        if name not in DIFFUSION_NETWORKS:  # the regression network serves every run: loaded (and so checked) now
            networks[name]
    notice = licence_notice(config)
    if notice is not None:
        warnings.warn(notice, NonCommercialWeights, stacklevel=2)
    return ModelPackage(path=path, config=config, networks=networks)


def check_package_output(output: str | os.PathLike) -> Path:
    """Fail early when ``output`` cannot receive a package; an existing folder is replaced only if it is one."""
    output = check_output_folder(output)
    if output.is_dir() and any(output.iterdir()) and not (output / "model.json").is_file():
        raise OutputError(
            f"The output '{output}' is a folder that is not a model package; writing the package would replace everything in it. Give a new folder name."
        )
    return output


def save_model(config: dict[str, Any], networks: dict[str, torch.nn.Module], output: str | os.PathLike, card: str) -> Path:
    """Write a package atomically: a temporary folder beside ``output``, renamed when complete."""
    from safetensors.torch import save_file

    output = check_package_output(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.", dir=output.parent))
    try:
        config = json.loads(json.dumps(config))  # deep copy, JSON-safe
        config["format_version"] = FORMAT_VERSION
        for name, network in networks.items():
            weights = staging / f"{name}.safetensors"
            state = {key: value.detach().cpu().contiguous() for key, value in network.state_dict().items()}
            save_file(state, str(weights))
            config["networks"][name]["weights"] = weights.name
            config["networks"][name]["sha256"] = sha256_file(weights)
        (staging / "model.json").write_text(json.dumps(config, indent=2) + "\n")
        (staging / "MODEL_CARD.md").write_text(card)
        staging.chmod(0o755)
        for file in staging.iterdir():
            file.chmod(0o644)
        if output.exists():
            shutil.rmtree(output)
        os.replace(staging, output)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return output
