"""A set of output files that appear together or not at all.

Each file is written to a hidden staging name in the output folder, and all are renamed only once
every one is complete; any failure removes what was staged. Existing files are only replaced at
that last step.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import OutputError
from .volume import Volume, check_writable, write_volume


class OutputSet:
    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)
        if self.folder.exists() and not self.folder.is_dir():
            raise OutputError(f"The output folder '{self.folder}' is a file; give a folder.")
        if not self.folder.parent.is_dir():
            raise OutputError(f"The parent of the output folder '{self.folder}' does not exist; create it first.")
        self.planned: list[str] = []
        self.staged: list[tuple[Path, Path]] = []

    def plan(self, name: str) -> None:
        """Check, before any work, that ``name`` can be written."""
        self.folder.mkdir(exist_ok=True)
        check_writable(self.folder / name)
        self.planned.append(name)

    def add(self, name: str, volume: Volume, provenance: dict) -> None:
        final = self.folder / name
        staging = self.folder / f".{name}.staging{''.join(final.suffixes)}"
        try:
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
