"""Which tasks this library has, asked without argparse and without importing torch.

Front ends (the Slicer module, the web app) switch a task on when its module is installed here;
each name is also the ``diffusionsynth`` sub-command that runs it.
"""

from __future__ import annotations

import importlib.util

TASK_MODULES: dict[str, str] = {"mri-to-ct": "mri_to_ct", "impute": "impute", "inpaint": "inpaint", "forecast": "forecast"}
"""Task name (and command) -> its module in ``DiffusionSynthLib.tasks``."""


def available_tasks() -> list[str]:
    """The names of the tasks whose module is installed, in the order of :data:`TASK_MODULES`."""
    return [name for name, module in TASK_MODULES.items() if importlib.util.find_spec(f"{__package__}.{module}") is not None]
