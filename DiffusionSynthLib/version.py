"""The library's version and the generator name every synthetic output is stamped with."""

__version__ = "0.1.0"
GENERATOR_NAME = "DiffusionSynth"
