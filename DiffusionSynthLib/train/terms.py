"""The licence of a trained package and the terms of its training data, as ``model.json`` records them.

The data terms come from ``train --data-terms`` when given, else from the data folder itself: a
licence file (``LICENSE*``, ``LICENCE*``, ``COPYING*``, ``license*.html``...) in it or in its case
folders, else the lines of its README that speak of a licence or terms, else they are unknown and
the package says so.
"""

from __future__ import annotations

import html
import json
import os
import re
import tempfile
from pathlib import Path

UNKNOWN_TERMS = "unknown: state the terms (diffusionsynth train --data-terms TEXT)"
UNSPECIFIED_LICENCE = "unspecified: state it (diffusionsynth train --licence ID)"
MAX_CHARS = 600  # of one licence text quoted in model.json; the file itself is named
LICENCE_FILE = re.compile(r"^(licen[cs]e|copying)", re.IGNORECASE)
README_FILE = re.compile(r"^readme", re.IGNORECASE)
TERMS_WORDS = re.compile(r"licen[cs]|terms|creative commons|\bcc[ -]by|public domain", re.IGNORECASE)


def _plain(text: str) -> str:
    """Text without HTML tags and with runs of white space as one space."""
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", text))).strip()


def _quote(text: str) -> str:
    """``text`` when short; else its sentences that speak of a licence or terms (or its start), cut to ``MAX_CHARS``."""
    if len(text) <= MAX_CHARS:
        return text
    sentences = [s for s in re.split(r"(?<=[.!?:])\s+", text) if TERMS_WORDS.search(s)]
    text = "... " + " ".join(sentences) if sentences else text
    return text if len(text) <= MAX_CHARS else text[: MAX_CHARS - 3].rstrip() + "..."


def licence_files(folder: Path) -> list[Path]:
    """Licence-like files in ``folder`` and in its immediate sub-folders, sorted."""
    candidates = [*folder.iterdir(), *(p for sub in folder.iterdir() if sub.is_dir() for p in sub.iterdir())]
    return sorted(p for p in candidates if p.is_file() and LICENCE_FILE.match(p.name))


def readme_terms(folder: Path) -> str | None:
    """The README lines of ``folder`` that mention a licence or terms, joined; None when there are none."""
    for readme in sorted(p for p in folder.iterdir() if p.is_file() and README_FILE.match(p.name)):
        lines = [_plain(line) for line in readme.read_text(errors="replace").splitlines() if TERMS_WORDS.search(line)]
        if lines:
            return f"{readme.name}: " + _quote(" ".join(lines))
    return None


def data_terms(folder: Path, given: str | None = None) -> str:
    """The training data's terms: ``given``, else what the folder states, else ``UNKNOWN_TERMS``."""
    if given:
        return given.strip()
    texts: dict[str, list[str]] = {}  # one entry per distinct text, with where it was found
    for path in licence_files(folder):
        text = _quote(_plain(path.read_text(errors="replace")))
        if text:
            texts.setdefault(text, []).append(str(path.relative_to(folder)))
    if texts:
        return " | ".join(f"{', '.join(places)}: {text}" for text, places in texts.items())
    return readme_terms(folder) or UNKNOWN_TERMS


def write_terms(package: Path, licence: str | None, terms: str) -> None:
    """Add ``licence`` and ``data_terms`` to a written package's ``model.json`` (atomically; weights untouched)."""
    path = package / "model.json"
    config = json.loads(path.read_text())
    config["licence"] = licence.strip() if licence and licence.strip() else UNSPECIFIED_LICENCE
    config["data_terms"] = terms
    handle, staging = tempfile.mkstemp(prefix=".model.json.", dir=package)
    with os.fdopen(handle, "w") as out:
        out.write(json.dumps(config, indent=2) + "\n")
    os.chmod(staging, 0o644)
    os.replace(staging, path)
