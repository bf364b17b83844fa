"""Files sent by the browser, written safely: nothing a client sends becomes a path.

trame-slicer's ``write_client_files_to_dir`` writes ``folder / name`` with the client's name, so
``../x`` or ``/x`` would land anywhere the server may write. Here a name is reduced to a plain base
name of safe characters with an accepted extension, or refused. Only self-contained formats are
accepted, and a header that points at another data file (NRRD ``data file:``, MetaImage
``ElementDataFile``) is refused, so an upload cannot make the server read one of its own files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from trame.app.file_upload import ClientFile

UPLOAD_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".mha")  # one file each; detached headers (.nhdr, .mhd) are not
UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
HEADER_BYTES = 65536
MAX_UPLOAD_BYTES = 1 << 30  # a 1 mm head in float32 is about 30 MB; a file over 1 GiB is refused, not written


@dataclass
class Written:
    """The files written, and the client's names that were refused."""

    paths: list[Path] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)


def safe_name(name: object) -> str | None:
    """The client's name as a plain file name (``../../a b.nii.gz`` -> ``a_b.nii.gz``), or ``None``."""
    if not isinstance(name, str):
        return None
    base = re.split(r"[/\\]", name)[-1].strip()
    base = UNSAFE.sub("_", base).lstrip(".")
    suffix = next((s for s in UPLOAD_SUFFIXES if base.lower().endswith(s)), None)
    if suffix is None or not base[: -len(suffix)].strip("._-"):
        return None
    return base


def points_elsewhere(path: Path) -> bool:
    """True for a NRRD or MetaImage header that names another file as its data."""
    name = path.name.lower()
    if not name.endswith((".nrrd", ".mha")):
        return False
    with open(path, "rb") as stream:
        head = stream.read(HEADER_BYTES)
    if name.endswith(".nrrd"):
        header = head.split(b"\n\n", 1)[0].split(b"\r\n\r\n", 1)[0]
        return re.search(rb"^\s*data ?file\s*:", header, re.IGNORECASE | re.MULTILINE) is not None
    found = re.search(rb"^\s*ElementDataFile\s*=\s*(\S+)", head, re.MULTILINE)
    return found is None or found.group(1) != b"LOCAL"


def shown(name: object) -> str:
    """A refused name as the panel shows it (the client's own text, shortened)."""
    text = str(name) if name is not None else "?"
    return text if len(text) <= 80 else text[:77] + "..."


def unique_path(folder: Path, name: str) -> Path:
    """``folder / name``, or ``name`` with ``-2``, ``-3``... before its extension when taken."""
    suffix = next(s for s in UPLOAD_SUFFIXES if name.lower().endswith(s))
    stem, number = name[: -len(suffix)], 1
    path = folder / name
    while path.exists():
        number += 1
        path = folder / f"{stem}-{number}{name[-len(suffix) :]}"
    return path


def write_uploads(files: list[dict], folder: str | Path, max_bytes: int = MAX_UPLOAD_BYTES) -> Written:
    """Write the browser's files (trame ``ClientFile`` dicts) into ``folder``, which must exist; a file over
    ``max_bytes`` is refused (named in ``refused`` with the limit)."""
    folder = Path(folder).resolve()
    written = Written()
    for entry in files:
        try:
            client = ClientFile(entry if isinstance(entry, dict) else None)
        except TypeError:  # content chunks that are not bytes
            written.refused.append(shown(entry.get("name") if isinstance(entry, dict) else None))
            continue
        name = safe_name(client.name)
        if name is None or not isinstance(client.content, bytes | bytearray):
            written.refused.append(shown(client.name))
            continue
        if len(client.content) > max_bytes:
            written.refused.append(f"{shown(client.name)} (over {max_bytes / 2**20:.0f} MB)")
            continue
        path = unique_path(folder, name)
        if path.parent != folder:  # cannot happen with a sanitised name; never write elsewhere
            written.refused.append(shown(client.name))
            continue
        with open(path, "xb") as stream:  # exclusive: never through an existing file or link
            stream.write(client.content)
        if points_elsewhere(path):
            path.unlink()
            written.refused.append(shown(client.name))
            continue
        written.paths.append(path)
    return written
