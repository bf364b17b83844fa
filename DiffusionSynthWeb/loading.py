"""Files into the scene: grey-level volumes as volume nodes, mask files as segmentations."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

VOLUME_SUFFIXES = (".nii", ".nii.gz", ".nrrd", ".nhdr", ".mha", ".mhd")
MASK_NAME = re.compile(r"(seg|mask|label)", re.IGNORECASE)


@dataclass
class Loaded:
    """What one load added to the scene."""

    volumes: list = field(default_factory=list)
    segmentations: list = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def is_volume_file(path: str | Path) -> bool:
    return str(path).lower().endswith(VOLUME_SUFFIXES)


def is_mask_file(path: str | Path) -> bool:
    """A file named like a mask (``*seg*``, ``*mask*``, ``*label*``) is loaded as a segmentation."""
    return bool(MASK_NAME.search(Path(path).name))


def folder_files(folder: str | Path) -> list[Path]:
    """The volume files directly inside ``folder``, grey-level images first, then masks, by name."""
    files = [p for p in sorted(Path(folder).iterdir()) if p.is_file() and is_volume_file(p)]
    return sorted(files, key=lambda p: (is_mask_file(p), p.name))


def load_files(slicer_app, paths: list[str | Path]) -> Loaded:
    """Load ``paths`` into ``slicer_app``'s scene (a trame-slicer ``SlicerApp``); unreadable files are skipped."""
    loaded = Loaded()
    for path in paths:
        path = Path(path)
        if not is_volume_file(path):
            loaded.skipped.append(path.name)
            continue
        if is_mask_file(path):
            node = slicer_app.io_manager.load_segmentation(path)
            if node is None:
                loaded.skipped.append(path.name)
                continue
            node.SetName(slicer_app.scene.GenerateUniqueName(file_stem(path)))
            loaded.segmentations.append(node)
        else:
            nodes = slicer_app.io_manager.load_volumes([str(path)])
            for node in nodes:
                node.SetName(slicer_app.scene.GenerateUniqueName(file_stem(path)))
            loaded.volumes.extend(nodes) if nodes else loaded.skipped.append(path.name)
    return loaded


def file_stem(path: str | Path) -> str:
    """``t1c.nii.gz`` -> ``t1c`` (the node's name)."""
    name = Path(path).name
    for suffix in VOLUME_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)] or name
    return name
