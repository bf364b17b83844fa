"""The module's logic: MRML nodes in, the library's command line in a subprocess, new nodes out.

Imports only MRML classes, numpy and the library, so it runs inside Slicer and on ``slicer-core``
alike, and never touches a widget. Every error a user can act on is a ``ValueError`` with a
sentence; a cancelled run raises the library's ``Cancelled`` and leaves nothing behind.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from DiffusionSynthLib.errors import Cancelled
from DiffusionSynthLib.geometry import resample_like
from DiffusionSynthLib.volume import Volume, read_provenance, read_volume, write_volume

from . import Nodes
from .Process import Job, ProcessRunner, Progress
from .Tasks import LABEL_CONVENTIONS, SEQUENCES, STRENGTH_RANGE, TASKS, task_availability


class RunError(ValueError):
    """The command line stopped with an error; ``str(error)`` is its ``error: ...`` sentence."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass
class SynthesisRequest:
    """Everything one run needs; nodes are MRML nodes (``None`` when not selected)."""

    task: str = "mri-to-ct"
    mri: object | None = None
    sequences: dict[str, object | None] = field(default_factory=dict)
    segmentation: object | None = None
    segment_id: str = ""
    mode: str = "remove"
    strength: float = 1.0
    labels: object | None = None  # add mode: a label map node of the lesion's sub-regions (optional)
    labels_convention: str = "brats2013"
    days: list[int] = field(default_factory=list)
    model: str = ""  # built-in id or package folder; empty: the task's default
    steps: int = 0  # 0: the model's default
    seed: int = 0
    samples: int = 0  # diffusion samples, as the command line's --samples (0: the deterministic estimate); forecast: growth runs (0 or 1: one)
    uncertainty: bool = False
    device: str = "auto"
    output_name: str = ""


def parse_days(text: str) -> list[int]:
    """``"30, 90 180"`` -> ``[30, 90, 180]``; a clear error for anything else."""
    parts = [p for p in re.split(r"[\s,;]+", text.strip()) if p]
    if not parts or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise ValueError(f"Days to forecast must be positive whole numbers such as '30 90 180', not '{text}'.")
    return sorted({int(p) for p in parts})


class SynthesisLogic:
    """Runs a :class:`SynthesisRequest` and turns the files the library writes into new nodes.

    Args:
        process_runner: starts and stops the command line (default: :class:`ProcessRunner`).
        temp_root: folder for the per-run temporary folders (default: the system's).
    """

    def __init__(self, process_runner: ProcessRunner | None = None, temp_root: str | Path | None = None) -> None:
        self.process_runner = process_runner or ProcessRunner()
        self.temp_root = str(temp_root) if temp_root else None
        self.job: Job | None = None
        self._availability: dict[str, tuple[bool, str]] | None = None

    # ------------------------------------------------------------------------------ tasks and models

    def availability(self) -> dict[str, tuple[bool, str]]:
        """``{task: (available, reason)}`` from the library's list of tasks (computed once)."""
        if self._availability is None:
            self._availability = task_availability()
        return self._availability

    @staticmethod
    def builtin_models(task: str) -> list[str]:
        from DiffusionSynthLib.models import builtin_models

        return [row["id"] for row in builtin_models() if row["task"] == task]

    # ------------------------------------------------------------------------------ checks

    def check_inputs(self, request: SynthesisRequest) -> dict[str, object]:
        """The named input nodes of the request, checked; the first one is the output grid."""
        spec = TASKS.get(request.task)
        if spec is None:
            raise ValueError(f"Unknown task '{request.task}'; choose one of {', '.join(TASKS)}.")
        if not 0 <= request.samples <= 64:
            raise ValueError("The number of samples must be between 0 (the deterministic estimate) and 64.")
        if not 0 <= request.steps <= 1000:
            raise ValueError("Steps must be between 1 and 1000 (0 uses the model's default).")
        if request.uncertainty and request.samples < 2:
            raise ValueError("An uncertainty map needs at least two samples; set samples to 2 or more.")
        if request.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"Unknown device '{request.device}'; choose auto, cpu or cuda.")
        inputs: dict[str, object] = {}
        if spec.needs_mri:
            Nodes.check_volume_node(request.mri, "input MR volume")
            inputs["mri"] = request.mri
        if spec.needs_sequences:
            inputs.update({name: request.sequences[name] for name in SEQUENCES if request.sequences.get(name) is not None})
            if not inputs:
                raise ValueError("No MR sequence is selected; choose at least one of T1n, T1c, T2w, T2-FLAIR.")
            if request.task == "impute" and len(inputs) == len(SEQUENCES):
                raise ValueError("All four sequences are selected, so none is missing; clear the ones to impute.")
            if request.task == "forecast" and "t1c" not in inputs:
                raise ValueError("Forecasting needs the contrast-enhanced T1 (T1c) volume.")
            for name, node in inputs.items():
                Nodes.check_volume_node(node, f"{name} volume")
            reference_name, reference = next(iter(inputs.items()))
            for name, node in inputs.items():
                if not Nodes.same_grid(node, reference):
                    raise ValueError(
                        f"'{node.GetName()}' ({name}) and '{reference.GetName()}' ({reference_name}) are not on the same "
                        "grid (size, spacing, orientation or transform differ); resample one onto the other first."
                    )
        if spec.needs_mode:
            if request.mode not in ("remove", "add"):
                raise ValueError(f"Unknown inpainting mode '{request.mode}'; choose remove or add.")
            low, high = STRENGTH_RANGE
            if not low <= request.strength <= high:
                raise ValueError(f"The inpainting strength must be between {low:g} and {high:g} (1 is the default).")
            if request.labels is not None and request.mode == "add":
                Nodes.check_volume_node(request.labels, "sub-region label map", labels=True)
                if request.labels_convention not in LABEL_CONVENTIONS:
                    raise ValueError(f"Unknown label convention '{request.labels_convention}'; choose {', '.join(LABEL_CONVENTIONS)}.")
        if spec.needs_days and (not request.days or min(request.days) < 1):
            raise ValueError("Give at least one day to forecast (a positive whole number).")
        return inputs

    # ------------------------------------------------------------------------------ running

    def start(self, request: SynthesisRequest, on_progress: Callable[[Progress], None] | None = None) -> Job:
        """Write the inputs to a temporary folder and start the command; returns at once."""
        available, reason = self.availability().get(request.task, (True, ""))  # unknown tasks: check_inputs says so
        if not available:
            raise ValueError(reason)
        inputs = self.check_inputs(request)
        if self.job is not None and not self.job.done():
            raise ValueError("A synthesis is already running; wait for it or cancel it first.")
        workdir = Path(tempfile.mkdtemp(prefix="DiffusionSynth-", dir=self.temp_root))
        try:
            args = self._write_inputs(request, inputs, workdir)
            job = Job(self.process_runner, args, workdir, on_progress)
            job.context.update(request=request, reference=next(iter(inputs.values())))
            self.job = job
            job.start()
        except BaseException:
            shutil.rmtree(workdir, ignore_errors=True)
            self.job = None
            raise
        return job

    def finish(self, job: Job) -> list:
        """Wait for ``job`` and add its outputs as new nodes; the temporary folder is removed."""
        try:
            code = job.wait()
            if job.cancelled or code == 130:
                raise Cancelled("Cancelled; no output was added.")
            if code != 0:
                raise RunError(job.error_message(), code)
            return self._load_outputs(job)
        finally:
            job.cleanup()
            if self.job is job:
                self.job = None

    def run(self, request: SynthesisRequest, on_progress: Callable[[Progress], None] | None = None, timeout: float | None = None) -> list:
        """``start`` then ``finish``: blocks until the new nodes are in the scene."""
        job = self.start(request, on_progress)
        try:
            job.wait(timeout)
        except subprocess.TimeoutExpired:
            job.cancel()
            self.job = None
            raise ValueError(f"The synthesis took longer than {timeout:g} s and was stopped.") from None
        return self.finish(job)

    def cancel(self) -> None:
        """Stop the running job, if any (safe from any thread)."""
        job = self.job
        if job is not None:
            job.cancel()

    # ------------------------------------------------------------------------------ files

    def _write_inputs(self, request: SynthesisRequest, inputs: dict[str, object], workdir: Path) -> list[str]:
        spec = TASKS[request.task]
        (workdir / "in").mkdir()
        (workdir / "out").mkdir()
        paths, volumes = {}, {}
        for name, node in inputs.items():
            volumes[name] = Nodes.volume_from_node(node, f"{name} volume")
            paths[name] = str(write_volume(volumes[name], workdir / "in" / f"{name}.nii.gz"))
        reference = next(iter(inputs.values()))
        reference_volume = next(iter(volumes.values()))
        args = [spec.command]
        if spec.needs_mri:
            args += ["--mri", paths["mri"], "--output", str(workdir / "out" / "ct.nii.gz")]
            if request.uncertainty:
                args += ["--uncertainty", str(workdir / "out" / "ct_std.nii.gz")]
        else:
            for name in SEQUENCES:
                if name in paths:
                    args += [f"--{name}", paths[name]]
            args += ["--output-dir", str(workdir / "out")]
        if spec.needs_segment:
            mask = Volume(Nodes.segment_mask(request.segmentation, request.segment_id, reference), Nodes.ijk_to_ras(reference))
            mask_path = str(write_volume(mask, workdir / "in" / "mask.nii.gz"))
            args += ["--mask", mask_path] if request.task == "inpaint" else ["--tumour-mask", mask_path]
        if spec.needs_mode:
            args += ["--mode", request.mode, "--strength", f"{request.strength:g}"]
            if request.mode == "add" and request.labels is not None:
                labels = Nodes.volume_from_node(request.labels, "sub-region labels", labels=True)
                on_grid = resample_like(labels, reference_volume, "nearest")
                args += ["--labels", str(write_volume(on_grid, workdir / "in" / "labels.nii.gz")), "--labels-convention", request.labels_convention]
        if spec.needs_days:
            args += ["--days", *[str(d) for d in request.days]]
        if request.model:
            args += ["--model", request.model]
        if request.steps:
            args += ["--steps", str(request.steps)]
        if request.task == "forecast":  # the forecast's samples are growth runs (its own flag)
            args += ["--growth-runs", str(max(request.samples, 1))]
        else:  # 0 is the command line's 0: the deterministic estimate
            args += ["--samples", str(request.samples)]
        args += ["--seed", str(request.seed), "--device", request.device, "--progress", "json"]
        return args

    def _load_outputs(self, job: Job) -> list:
        request: SynthesisRequest = job.context["request"]
        reference = job.context["reference"]
        files = sorted((job.workdir / "out").glob("*.nii.gz"))
        if not files:
            raise RunError("The synthesis finished but wrote no output file.", 0)
        prefix = request.output_name.strip() or f"{reference.GetName()} {'pseudo-CT' if request.task == 'mri-to-ct' else request.task}"
        fallback = {"model": request.model, "seed": request.seed, "steps": request.steps}
        nodes: list = []
        by_day: dict[str, dict[int, object]] = {}
        try:
            for path in files:
                stem = path.name[: -len(".nii.gz")]
                name, kind = self._name_and_kind(request.task, stem, prefix)
                volume = read_volume(path, "synthesis output")
                node = Nodes.add_output_node(reference, volume, name, request.task, read_provenance(path), fallback, kind)
                nodes.append(node)
                day = re.fullmatch(r"(.+)_day(\d+)", stem)
                if request.task == "forecast" and day:
                    by_day.setdefault(day.group(1), {})[int(day.group(2))] = node
            for series, days in by_day.items():
                nodes.append(Nodes.forecast_sequence(days, f"{prefix} {series} forecast"))
        except BaseException:
            for node in nodes:
                node.GetScene().RemoveNode(node)
            raise
        return nodes

    @staticmethod
    def _name_and_kind(task: str, stem: str, prefix: str) -> tuple[str, str]:
        if task == "mri-to-ct":
            return (prefix, "pseudo-CT") if stem == "ct" else (f"{prefix} uncertainty (HU std)", "uncertainty")
        if task == "inpaint" and stem == "labels":
            return f"{prefix} sub-regions", "labels"  # the added tumour's layout, drawn by the inpainting
        return f"{prefix} {stem}", "synthetic"
