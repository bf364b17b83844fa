"""The command line's parser: each command's options come from its module in ``commands``."""

from __future__ import annotations

import argparse
from typing import NoReturn

from ..version import __version__
from .commands import COMMANDS

# names users reach for, and the flag this command line spells them with
FLAG_HINTS = {
    "--flair": "FLAIR is --t2f",
    "--t2-flair": "FLAIR is --t2f",
    "--t2flair": "FLAIR is --t2f",
    "--fl": "FLAIR is --t2f",
    "--t1": "T1 native is --t1n (post-contrast: --t1c)",
    "--t1w": "T1 native is --t1n (post-contrast: --t1c)",
    "--t1ce": "T1 post-contrast is --t1c",
    "--t1gd": "T1 post-contrast is --t1c",
    "--t1-gd": "T1 post-contrast is --t1c",
    "--t2": "T2 is --t2w (FLAIR: --t2f)",
    "--mask-file": "the mask is --mask",
    "--out": "the output is --output (or --output-dir)",
    "--output-folder": "the output folder is --output-dir",
}


class HintingParser(argparse.ArgumentParser):
    """argparse with a hint for the flags users reach for (``--flair``: FLAIR is --t2f), in the error line itself."""

    def error(self, message: str) -> NoReturn:  # type: ignore[override]
        words = [w.split("=")[0].rstrip(",") for w in message.replace("'", " ").split()]
        hints = list(dict.fromkeys(FLAG_HINTS[w.lower()] for w in words if w.lower() in FLAG_HINTS))
        super().error(message + (f" ({'; '.join(hints)})" if hints else ""))


def build_parser() -> argparse.ArgumentParser:
    parser = HintingParser(prog="diffusionsynth", description="3D latent diffusion for medical volumes. Outputs are synthetic: not for diagnosis.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")
    for command in COMMANDS:
        command.add_parser(sub)
    return parser
