"""The classical path alone ("the prior"), per task, where a task has one: the hook of the speed benchmark.

A task has a prior when its package carries one (``"prior"`` in ``model.json``, from
``DiffusionSynthLib.priors``): the task then runs with ``samples=0``, its deterministic estimate
without any diffusion. ``PRIOR_TASKS`` names the tasks to try; a package without a prior (or a
library without ``DiffusionSynthLib.priors``) gives ``None`` and the benchmark says "no prior".
"""

from __future__ import annotations

import importlib.util
from typing import Any

PRIOR_TASKS = {
    "mri-to-ct": "samples=0: the package's deterministic estimate (prior + network), no diffusion",
    "impute": "samples=0: the package's deterministic estimate (prior + network), no diffusion",
    "inpaint": "samples=0: the package's deterministic estimate (prior + network), no diffusion",
}


def prior_available(task: str, model: Any) -> str | None:
    """What the prior path of ``task`` is with this package, or None when there is none."""
    if task not in PRIOR_TASKS or importlib.util.find_spec("DiffusionSynthLib.priors") is None:
        return None
    return PRIOR_TASKS[task] if "prior" in model.config else None
