"""The four jobs; each is prepare -> sample -> finish around the shared engine."""

from .available import available_tasks

__all__ = ["available_tasks"]
