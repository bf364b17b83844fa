"""A set of output files that appear together or not at all.

Each file is written to a hidden staging name in the output folder, and all are renamed only once
every one is complete; any failure removes what was staged (and the folder, if this run made it).
The folder follows ``volume.check_output_folder``: made if missing, provided its parent exists.
Existing files are only replaced at that last step.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import DiffusionSynthError, OutputError
from .volume import OUTPUT_SUFFIXES, Volume, check_output_folder, make_output_folder, write_volume


class OutputSet:
    """``overwrite``: an output folder that already holds files is accepted (otherwise refused before any work, so no
    stale file from an earlier run stays beside the new ones unnoticed); at commit, the earlier synthetic outputs of the
    same task that this run did not write again are removed (files without this project's provenance are kept)."""

    def __init__(self, folder: str | os.PathLike, overwrite: bool = False) -> None:
        self.folder = check_output_folder(folder)
        self.created = not self.folder.exists()
        self.staged: list[tuple[Path, Path]] = []
        self.overwrite, self.task = overwrite, None
        present = sorted(p.name for p in self.folder.iterdir() if not p.name.startswith(".")) if self.folder.is_dir() else []
        if present and not overwrite:
            shown = ", ".join(present[:4]) + (f" and {len(present) - 4} more" if len(present) > 4 else "")
            raise OutputError(
                f"The output folder '{self.folder}' already holds files ({shown}); give a new or empty folder, "
                "or add --overwrite to replace this command's earlier outputs there."
            )

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
            self.task = provenance.get("task", self.task)
        except BaseException:
            self.discard()
            raise
        self.staged.append((staging, final))

    def commit(self) -> list[Path]:
        for staging, final in self.staged:
            os.replace(staging, final)
        written = [final for _, final in self.staged]
        self.staged = []
        if self.overwrite:
            self._remove_stale(written)
        return written

    def _remove_stale(self, written: list[Path]) -> None:
        """Earlier outputs of this task in the folder that this run did not write (a ``_std`` of a run with samples,
        another day): removed, so the folder holds this run's outputs only. Only files this project marked synthetic
        for the same task are touched."""
        from .volume import read_provenance

        for path in self.folder.iterdir():
            if path in written or path.name.startswith(".") or not path.is_file() or not path.name.endswith(OUTPUT_SUFFIXES):
                continue
            try:
                record = read_provenance(path)
            except DiffusionSynthError:
                continue
            if record and record.get("synthetic") is True and record.get("task") == self.task:
                path.unlink(missing_ok=True)

    def discard(self) -> None:
        for staging, _ in self.staged:
            staging.unlink(missing_ok=True)
        self.staged = []
        if self.created and self.folder.is_dir() and not any(self.folder.iterdir()):
            self.folder.rmdir()
