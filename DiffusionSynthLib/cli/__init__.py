"""``diffusionsynth <command> ...``: a thin command line over the library.

Heavy modules are imported inside each command. A user mistake prints one ``error: ...`` line
and exits non-zero (2 bad input, 3 bad model, 4 unwritable output, 130 cancelled); progress goes
to stderr, and ``--progress json`` makes it machine-readable for the Slicer module.
"""

from __future__ import annotations

from .common import ProgressPrinter
from .main import main
from .parser import build_parser

__all__ = ["ProgressPrinter", "build_parser", "main"]
