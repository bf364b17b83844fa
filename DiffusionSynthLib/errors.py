"""One error hierarchy: the command line turns it into exit codes, the Slicer widget into a dialog."""

from __future__ import annotations


class DiffusionSynthError(Exception):
    """Base class. ``str(error)`` is a complete sentence a user can act on."""

    exit_code = 1


class InputError(DiffusionSynthError):
    """A user-supplied file or argument is unusable (missing, malformed, wrong shape...)."""

    exit_code = 2


class ModelError(DiffusionSynthError):
    """A model package is missing, corrupted, or made for another task."""

    exit_code = 3


class OutputError(DiffusionSynthError):
    """An output path cannot be written."""

    exit_code = 4


class QualityCheckFailed(DiffusionSynthError):
    """A result failed its quality check and was not written in a form that would be imported unawares."""

    exit_code = 6


class Cancelled(DiffusionSynthError):
    """The user asked to stop; nothing was written."""

    exit_code = 130
