"""Built-in models ship inside the package, in ``models/builtin/<id>/``; any folder works with ``--model``."""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import ModelError
from .package import ModelPackage, load_model, non_commercial

BUILTIN_DIR = Path(__file__).resolve().parent / "builtin"


def builtin_models() -> list[dict]:
    """One row per built-in model: id, task, size in bytes, card path, folder."""
    rows = []
    for config_path in sorted(BUILTIN_DIR.glob("*/model.json")):
        config = json.loads(config_path.read_text())
        folder = config_path.parent
        rows.append(
            {
                "id": config["id"],
                "task": config["task"],
                "size_bytes": sum(f.stat().st_size for f in folder.iterdir() if f.is_file()),
                "card": str(folder / "MODEL_CARD.md"),
                "path": str(folder),
                "default": bool(config.get("default", False)),
                "licence": str(config.get("licence", "not recorded")),
                "non_commercial": non_commercial(config),
            }
        )
    return rows


def default_model_path(task: str) -> Path:
    rows = [row for row in builtin_models() if row["task"] == task]
    if not rows:
        raise ModelError(f"No built-in model for the task '{task}' is installed; pass one with --model.")
    rows.sort(key=lambda row: not row["default"])
    return Path(rows[0]["path"])


def resolve_model(name: str | None, task: str | None) -> ModelPackage:
    """``None`` -> the task's default built-in; a built-in id; or a package folder (of ``task`` when given)."""
    if name is None:
        if task is None:
            raise ModelError("Give a model: a built-in id or a model package folder.")
        return load_model(default_model_path(task), task)
    candidate = Path(name)
    if candidate.exists():
        return load_model(candidate, task)
    for row in builtin_models():
        if row["id"] == name:
            return load_model(row["path"], task)
    known = ", ".join(row["id"] for row in builtin_models()) or "none"
    raise ModelError(f"No model folder or built-in model named '{name}'. Built-in models: {known}.")
