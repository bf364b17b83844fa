"""The base of the task pipelines: load a package once, call it on Volumes, get a typed result marked synthetic.

``Pipeline.from_package(id_or_path, task=..., device=...)`` returns the pipeline class of the package's task
(``MriToCtPipeline``, ``ImputePipeline``, ``InpaintPipeline``, ``ForecastPipeline``); each subclass's
``from_package`` loads only packages of its own task. Every result carries ``provenance`` (the record the command
line writes) and so does each output Volume, so ``volume.write_volume`` marks a file written from the Python API as
synthetic without being told.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from ..engine.progress import CancelCheck, ProgressCallback
from ..errors import InputError, ModelError
from ..models.package import ModelPackage
from ..volume import Volume

TASKS = ("mri-to-ct", "impute", "inpaint", "forecast")
NON_IMAGE_INPUTS = ("mri", "mask", "tumour_mask", "labels")


class Pipeline:
    """One model package's task, with its networks held once (a subclass per task defines the call)."""

    task_name: ClassVar[str | None] = None  # the subclass's task; None: the base, which hands over to the task's class
    registry: ClassVar[dict[str, type[Pipeline]]] = {}  # task -> its pipeline class (each subclass adds itself)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.task_name is not None:
            Pipeline.registry[cls.task_name] = cls

    def __init__(self, model: ModelPackage, device: str = "auto") -> None:
        from ..engine.device import resolve_device

        resolve_device(device)  # a bad device name fails here, not at the first call
        if self.task_name is not None and model.task != self.task_name:
            raise ModelError(f"The model '{model.id}' is for the task '{model.task}', not '{self.task_name}'; choose a {self.task_name} model.")
        self.model, self.device = model, device

    @classmethod
    def from_package(cls, id_or_path: str | os.PathLike | None = None, task: str | None = None, device: str = "auto") -> Pipeline:
        """A built-in model id, a package folder, or (``None``) the default built-in model of ``task`` (a subclass's
        own task by default); the pipeline class of the package's task."""
        from ..models import resolve_model

        task = task or cls.task_name
        if id_or_path is None and task is None:
            raise InputError(f"Give a model (a built-in id or a package folder) or a task ({', '.join(TASKS)}).")
        model = resolve_model(None if id_or_path is None else str(id_or_path), task)
        return Pipeline.registry.get(model.task, UnknownTaskPipeline)(model, device)

    @property
    def task(self) -> str:
        return self.model.task

    def _common(self, steps: int | None, seed: int, progress: ProgressCallback, cancel: CancelCheck) -> dict[str, Any]:
        return {"steps": steps, "seed": seed, "device": self.device, "progress": progress, "cancel": cancel}

    def _mark(self, result: Any, volumes: Iterable[Volume], seed: int, steps: int, samples: int, extra: dict | None = None) -> Any:
        """``result`` and each of its output ``volumes`` with the provenance record (``result.provenance``)."""
        from ..provenance import make_provenance

        record = make_provenance(self.task, self.model, seed, steps, samples, {}, {"interface": "Python API (DiffusionSynthLib.pipelines)", **(extra or {})})
        for volume in volumes:
            volume.provenance = record
        result.provenance = record
        return result


def images_of(inputs: Mapping[str, Volume | None]) -> dict[str, Volume | None]:
    """The MR sequences of an inputs mapping (its masks and labels left out)."""
    return {name: volume for name, volume in inputs.items() if name not in NON_IMAGE_INPUTS}


def required(inputs: Mapping[str, Volume | None], name: str, given: Volume | None = None) -> Volume:
    """``given``, else ``inputs[name]``; one ``InputError`` when neither is there."""
    volume = given if given is not None else inputs.get(name)
    if volume is None:
        raise InputError(f"This task needs the input '{name}'.")
    return volume


def only(options: Mapping[str, Any], allowed: tuple[str, ...] = ()) -> None:
    """Refuse options the task does not take (one ``InputError`` naming them and what it takes)."""
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise InputError(f"Unknown option(s) {unknown} for this task; it takes {list(allowed) or 'none besides steps, seed, samples'}.")


class UnknownTaskPipeline(Pipeline):
    """A package of a task no pipeline knows (a newer package format): calling it says so."""

    def __call__(self, *args: Any, **options: Any) -> Any:
        raise InputError(f"The model '{self.model.id}' is for the task '{self.task}', which this pipeline does not know.")


__all__ = ["Pipeline", "UnknownTaskPipeline", "images_of", "only", "required"]
