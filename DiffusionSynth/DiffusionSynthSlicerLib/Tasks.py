"""The four tasks the module offers, and which of them the installed library can run.

Availability is decided in one place, :func:`task_availability`, by asking the library which tasks
it has (``DiffusionSynthLib.tasks.available_tasks``: no command-line parser, no web front end): when
a task lands in the library, it switches on in the module without any edit to the user interface.
"""

from __future__ import annotations

from dataclasses import dataclass

SEQUENCES: tuple[str, ...] = ("t1n", "t1c", "t2w", "t2f")
"""The MR sequences of the BraTS convention, in the order the command line takes them."""

STRENGTH_RANGE: tuple[float, float] = (0.0, 3.0)
"""Inpainting strength limits, as ``diffusionsynth inpaint --strength`` takes them (default 1)."""

LABEL_CONVENTIONS: tuple[str, ...] = ("brats2013", "brats2017", "brats2023")
"""Sub-region label conventions, as ``diffusionsynth inpaint --labels-convention`` takes them (default the first)."""


@dataclass(frozen=True)
class TaskSpec:
    """What a task needs from the user and which command of the library runs it."""

    key: str
    title: str
    command: str
    needs_mri: bool = False  # one MR volume (MRI -> CT)
    needs_sequences: bool = False  # one selector per MR sequence
    needs_segment: bool = False  # a segmentation and a segment (mask)
    needs_mode: bool = False  # inpainting: remove / add, strength
    needs_days: bool = False  # forecasting: days ahead
    supports_uncertainty: bool = False


TASKS: dict[str, TaskSpec] = {
    spec.key: spec
    for spec in (
        TaskSpec("mri-to-ct", "MRI \u2192 CT (pseudo-CT)", "mri-to-ct", needs_mri=True, supports_uncertainty=True),
        TaskSpec("impute", "Impute missing MR sequences", "impute", needs_sequences=True),
        TaskSpec("inpaint", "Inpaint (remove / add a lesion)", "inpaint", needs_sequences=True, needs_segment=True, needs_mode=True),
        TaskSpec("forecast", "Forecast tumour growth", "forecast", needs_sequences=True, needs_segment=True, needs_days=True),
    )
}


def task_availability(tasks: set[str] | None = None) -> dict[str, tuple[bool, str]]:
    """``{task: (available, reason)}`` for ``tasks`` (default: the library's); the reason is empty when available."""
    from DiffusionSynthLib.tasks import available_tasks

    tasks = set(available_tasks()) if tasks is None else tasks
    result = {}
    for key, spec in TASKS.items():
        if spec.command in tasks:
            result[key] = (True, "")
        else:
            result[key] = (
                False,
                f"{spec.title}: not available yet (the installed DiffusionSynth library has no "
                f"'diffusionsynth {spec.command}' command). Update the extension to get it.",
            )
    return result
