"""A data split kept in a JSON file: validation cases (every choice) and test cases (no choice), by case name.

``{"validation": ["case", ...], "test": {"group": ["case", ...], ...}}``: the test cases are grouped (for example by
collection: the benchmark reports a collection the training never used on its own row). Training leaves the test cases
out entirely and records the split in the package, so a benchmark knows which cases it may call held-out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError


@dataclass(frozen=True)
class Split:
    validation: list[str] = field(default_factory=list)
    test_groups: dict[str, list[str]] = field(default_factory=dict)

    @property
    def test(self) -> list[str]:
        return [name for names in self.test_groups.values() for name in names]

    def record(self) -> dict:
        """The split as ``model.json`` stores it."""
        return {"validation": list(self.validation), "test": {group: list(names) for group, names in self.test_groups.items()}}


def split_from_record(record: dict) -> Split:
    """A split from its JSON form (a split file, or ``model.json``'s ``training.split``); refuses a case in both parts."""
    validation = record.get("validation", [])
    test = record.get("test", {})
    if isinstance(test, list):
        test = {"test": test}
    if not isinstance(validation, list) or not isinstance(test, dict) or not all(isinstance(v, list) for v in test.values()):
        raise InputError('A split is {"validation": [case, ...], "test": {group: [case, ...]}}; this one is not.')
    split = Split([str(v) for v in validation], {str(g): [str(n) for n in names] for g, names in test.items()})
    both = sorted(set(split.validation) & set(split.test))
    if both:
        raise InputError(f"The split puts {', '.join(both)} in both the validation and the test cases; a test case must be kept apart from every choice.")
    return split


def read_split(path: Path) -> Split:
    """The split in ``path`` (one clear error where it is missing or malformed)."""
    try:
        record = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise InputError(f"The split file '{path}' does not exist; give a JSON file with the validation and test cases.") from None
    except (OSError, json.JSONDecodeError) as error:
        raise InputError(f"The split file '{path}' could not be read as JSON ({error}).") from None
    if not isinstance(record, dict):
        raise InputError(f"The split file '{path}' must hold a JSON object with 'validation' and 'test'.")
    return split_from_record(record)
