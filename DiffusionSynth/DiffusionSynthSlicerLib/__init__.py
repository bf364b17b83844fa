"""The Slicer side of DiffusionSynth that needs no Qt: tasks, process runner, node handling, logic.

``Parameter`` (typed parameter node) and ``InstallLogic`` need the Slicer application and are
imported by ``DiffusionSynth.py`` only.
"""

from .Logic import RunError, SynthesisLogic, SynthesisRequest, parse_days
from .Process import Job, ProcessRunner, Progress
from .Tasks import SEQUENCES, TASKS, TaskSpec, task_availability

__all__ = [
    "SEQUENCES",
    "TASKS",
    "Job",
    "ProcessRunner",
    "Progress",
    "RunError",
    "SynthesisLogic",
    "SynthesisRequest",
    "TaskSpec",
    "parse_days",
    "task_availability",
]
