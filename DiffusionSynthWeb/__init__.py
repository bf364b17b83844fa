"""DiffusionSynth in a web browser: ``diffusionsynth serve`` (a trame-slicer app).

A thin layer, like the Slicer module's widget: the MRML scene, views and segment editor come from
trame-slicer, every synthesis goes through the module's ``DiffusionSynthSlicerLib`` logic. Needs
the ``web`` extra (``pip install "DiffusionSynth[web]"``). Importing this package imports nothing
heavy, so the command line can check for the extra first.
"""

from __future__ import annotations

import importlib.util

REQUIRED_MODULES = ("trame", "trame_slicer", "trame_vuetify", "slicer")


def missing_requirements() -> list[str]:
    """The modules of the ``web`` extra that cannot be imported (empty when all are there)."""
    return [name for name in REQUIRED_MODULES if importlib.util.find_spec(name) is None]
