"""The four MR sequences of the BraTS convention; their names are the command-line flags and file names."""

from __future__ import annotations

SEQUENCES: tuple[str, ...] = ("t1n", "t1c", "t2w", "t2f")
DESCRIPTIONS = {
    "t1n": "T1-weighted, native",
    "t1c": "T1-weighted, post-contrast",
    "t2w": "T2-weighted",
    "t2f": "T2-FLAIR",
}
