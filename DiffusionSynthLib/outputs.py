"""A set of output files that appear together or not at all.

Each file is written to a hidden staging name in the output folder, and all are renamed only once
every one is complete; any failure removes what was staged (and the folder, if this run made it).
The folder follows ``volume.check_output_folder``: made if missing, provided its parent exists.
Existing files are only replaced at that last step.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import OutputError
from .volume import OUTPUT_SUFFIXES, Volume, check_output_folder, make_output_folder, write_volume


class OutputSet:
    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = check_output_folder(folder)
        self.created = not self.folder.exists()
        self.staged: list[tuple[Path, Path]] = []

    def plan(self, name: str) -> None:
        """Check, before any work, that ``name`` can be written (the folder is made only when needed)."""
        target = self.folder / name
        if not name.endswith(OUTPUT_SUFFIXES):
            raise OutputError(f"The output '{target}' has an unsupported extension.")
        if target.is_dir():
            raise OutputError(f"The output '{target}' is an existing folder; move it away first.")

    def add(self, name: str, volume: Volume, provenance: dict) -> None:
        final = self.folder / name
        staging = self.folder / f".{name}.staging{''.join(final.suffixes)}"
        try:
            make_output_folder(self.folder)
            write_volume(volume, staging, provenance)
        except BaseException:
            self.discard()
            raise
        self.staged.append((staging, final))

    def commit(self) -> list[Path]:
        for staging, final in self.staged:
            os.replace(staging, final)
        written = [final for _, final in self.staged]
        self.staged = []
        return written

    def discard(self) -> None:
        for staging, _ in self.staged:
            staging.unlink(missing_ok=True)
        self.staged = []
        if self.created and self.folder.is_dir() and not any(self.folder.iterdir()):
            self.folder.rmdir()
