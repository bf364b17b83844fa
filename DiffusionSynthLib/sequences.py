"""The four MR sequences of the BraTS convention; their names are the command-line flags and file names."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .errors import InputError

SEQUENCES: tuple[str, ...] = ("t1n", "t1c", "t2w", "t2f")
DESCRIPTIONS = {
    "t1n": "T1-weighted, native",
    "t1c": "T1-weighted, post-contrast",
    "t2w": "T2-weighted",
    "t2f": "T2-FLAIR",
}


def given_sequences(inputs: Mapping[str, Any], purpose: str) -> list[str]:
    """The names with a value, in canonical order; one clear error for unknown names or none given."""
    unknown = sorted(set(inputs) - set(SEQUENCES))
    if unknown:
        raise InputError(f"Unknown sequence names {unknown}; use {', '.join(SEQUENCES)}.")
    given = [name for name in SEQUENCES if inputs.get(name) is not None]
    if not given:
        raise InputError(f"Give at least one {purpose} (--t1n, --t1c, --t2w or --t2f).")
    return given
