"""A Python API for researchers, diffusers-style: load a package once, call it on volumes.

    from DiffusionSynthLib import Pipeline
    from DiffusionSynthLib.volume import read_volume

    pipe = Pipeline.from_package("impute-brats-demo", device="cpu")
    result = pipe({"t1n": read_volume("t1n.nii.gz"), "t2w": read_volume("t2w.nii.gz")})
    result.outputs["t2f"]  # a Volume on the T1n's grid

``from_package`` takes a built-in id, a package folder, or ``None`` with ``task`` (the task's
default built-in model); the networks are loaded and checked once and reused by every call.
``pipe(inputs, **options)`` runs the package's task with the command line's options and returns
the task's result (Volumes on the first input's grid):

- ``mri-to-ct``: inputs ``{"mri": V}``; result ``.ct`` (and ``.std``).
- ``impute``: inputs any of ``t1n``, ``t1c``, ``t2w``, ``t2f``; result ``.outputs`` / ``.std`` by sequence.
- ``inpaint``: the sequences, ``"mask"`` and optionally ``"labels"`` (sub-regions of an added tumour); options ``mode``
  ("remove" or "add"), ``strength``, ``labels_convention``; result ``.outputs`` / ``.std``.
- ``forecast``: ``t1c`` (other sequences optional) and ``"tumour_mask"``; options ``days``,
  ``inpaint_model`` (a package), ``spacing``; result per day.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from .engine.progress import CancelCheck, ProgressCallback, never_cancel, no_progress
from .errors import InputError
from .models.package import ModelPackage
from .volume import Volume

TASKS = ("mri-to-ct", "impute", "inpaint", "forecast")


class Pipeline:
    """One model package's task, with its networks held once."""

    def __init__(self, model: ModelPackage, device: str = "auto") -> None:
        from .engine.device import resolve_device

        resolve_device(device)  # a bad device name fails here, not at the first call
        self.model, self.device = model, device

    @classmethod
    def from_package(cls, id_or_path: str | os.PathLike | None = None, task: str | None = None, device: str = "auto") -> Pipeline:
        """A built-in model id, a package folder, or (``None``) the default built-in model of ``task``."""
        from .models import resolve_model

        if id_or_path is None and task is None:
            raise InputError(f"Give a model (a built-in id or a package folder) or a task ({', '.join(TASKS)}).")
        return cls(resolve_model(None if id_or_path is None else str(id_or_path), task), device)

    @property
    def task(self) -> str:
        return self.model.task

    def __call__(
        self,
        inputs: Mapping[str, Volume | None],
        *,
        steps: int | None = None,
        seed: int = 0,
        samples: int | None = None,
        progress: ProgressCallback = no_progress,
        cancel: CancelCheck = never_cancel,
        **options: Any,
    ) -> Any:
        common = {"steps": steps, "seed": seed, "device": self.device, "progress": progress, "cancel": cancel}
        images = {name: volume for name, volume in inputs.items() if name not in ("mri", "mask", "tumour_mask", "labels")}
        if self.task == "mri-to-ct":
            from .tasks.mri_to_ct import mri_to_ct

            _only(options, ())
            return mri_to_ct(_required(inputs, "mri"), self.model, samples=samples, **common)
        if self.task == "impute":
            from .tasks.impute import impute

            _only(options, ())
            return impute(images, self.model, samples=samples, **common)
        if self.task == "inpaint":
            from .tasks.inpaint import inpaint

            _only(options, ("mode", "strength", "labels_convention"))
            return inpaint(
                images,
                _required(inputs, "mask"),
                options.get("mode", "remove"),
                self.model,
                samples=samples,
                strength=options.get("strength", 1.0),
                labels=inputs.get("labels"),
                labels_convention=options.get("labels_convention", "brats2013"),
                **common,
            )
        if self.task == "forecast":
            from .tasks.forecast import forecast

            _only(options, ("days", "inpaint_model", "spacing"))
            if "days" not in options:
                raise InputError("A forecast needs days=[...] (days after the baseline scan).")
            return forecast(
                images,
                _required(inputs, "tumour_mask"),
                options["days"],
                self.model,
                options.get("inpaint_model"),
                samples=1 if samples is None else samples,
                spacing=options.get("spacing"),
                **common,
            )
        raise InputError(f"The model '{self.model.id}' is for the task '{self.task}', which this pipeline does not know.")


def _required(inputs: Mapping[str, Volume | None], name: str) -> Volume:
    volume = inputs.get(name)
    if volume is None:
        raise InputError(f"This task needs the input '{name}'.")
    return volume


def _only(options: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise InputError(f"Unknown option(s) {unknown} for this task; it takes {list(allowed) or 'none besides steps, seed, samples'}.")
