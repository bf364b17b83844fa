"""Model packages (``model.json`` + ``.safetensors`` + ``MODEL_CARD.md``) and the built-in registry."""

from .package import ModelPackage, load_model, save_model
from .registry import builtin_models, resolve_model

__all__ = ["ModelPackage", "builtin_models", "load_model", "resolve_model", "save_model"]
