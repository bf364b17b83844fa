"""The models a web client may choose: built-in ids, and packages in the server's ``--models-dir`` folders.

A client names a model; it never gives a path. The name is looked up among these choices and the
server turns it into what the command line gets (a built-in id, or the package's folder). Any other
name is refused with one sentence that lists the offered names and says nothing about the server's files.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from DiffusionSynthLib.models import builtin_models


def folder_packages(folders: Sequence[Path]) -> dict[str, tuple[str, Path]]:
    """``{name: (task, folder)}`` for each model package in ``folders`` (a package itself, or a folder of packages)."""
    found: dict[str, tuple[str, Path]] = {}
    for folder in folders:
        configs = [folder / "model.json"] if (folder / "model.json").is_file() else sorted(folder.glob("*/model.json"))
        for config in configs:
            try:
                task = json.loads(config.read_text()).get("task")
            except (OSError, ValueError, AttributeError):
                continue
            if isinstance(task, str):
                found.setdefault(config.parent.name, (task, config.parent))
    return found


class ModelChoices:
    """What the model field may hold, per task; ``resolve`` maps a client's name to the command line's ``--model``."""

    def __init__(self, folders: Sequence[str | Path] = ()) -> None:
        self.folders = [Path(folder).resolve() for folder in folders]

    def choices(self, task: str) -> dict[str, str]:
        """``{name shown: value for --model}``; built-in ids first, a folder package never shadows one."""
        offered = {row["id"]: row["id"] for row in builtin_models() if row["task"] == task}
        for name, (package_task, folder) in folder_packages(self.folders).items():
            if package_task == task:
                offered.setdefault(name, str(folder))
        return offered

    def names(self, task: str) -> list[str]:
        return list(self.choices(task))

    def resolve(self, task: str, name: object) -> str:
        """``""`` (the task's default), or the ``--model`` value for an offered name; ``ValueError`` otherwise."""
        text = name.strip() if isinstance(name, str) else ""
        if not text:
            return ""
        offered = self.choices(task)
        if text in offered:
            return offered[text]
        listed = ", ".join(offered) or "none besides the default"
        raise ValueError(f"Choose a model this server offers for this task ({listed}), or leave the field empty for the default.")
