"""Named models: the shipped ones in ``models/``, the user's in :func:`user_models_dir`, and name resolution.

A model is named in one of three ways (:func:`cam_core.models.load_model` opens it):

- a shipped or user-trained name: ``efficientnet_lite0-parts`` → ``models/efficientnet_lite0-parts.safetensors``
  (user-trained models live in :func:`user_models_dir`; a user model never hides a shipped one);
- a path to a model file (``.safetensors``, or ``.onnx``: explained with CAM by :mod:`cam_core.interop`);
- ``torchvision:ARCH``: torchvision's ImageNet classifier, loaded **only** from the local torch
  cache (``$TORCH_HOME/hub/checkpoints``), never downloaded; a clear message says what's missing.
"""

from __future__ import annotations

import os
from pathlib import Path

from cam_core.errors import ModelError

__all__ = ["DEFAULT_MODEL", "MODEL_SUFFIXES", "REPO_ROOT", "SHIPPED_MODELS_DIR", "TORCHVISION_PREFIX", "list_models",
           "resolve_model_path", "shipped_models_dir", "user_models_dir"]

REPO_ROOT = Path(__file__).resolve().parents[2]
SHIPPED_MODELS_DIR = REPO_ROOT / "models"
#: The model the app and the CLI use unless told otherwise: EfficientNet-Lite0 fine-tuned from ImageNet.
DEFAULT_MODEL = "efficientnet_lite0-parts"
#: File kinds listed as named models.
MODEL_SUFFIXES: tuple[str, ...] = (".safetensors", ".onnx")   # ONNX: cam_core.interop, CAM only
TORCHVISION_PREFIX = "torchvision:"


def shipped_models_dir() -> Path:
    """Where the models that ship with the product are (``models/`` in the repository)."""
    return SHIPPED_MODELS_DIR


def user_models_dir() -> Path:
    """Where models trained or uploaded by users are kept (``$CAM_INSPECTOR_MODELS`` or ``./user_models``)."""
    return Path(os.environ.get("CAM_INSPECTOR_MODELS", REPO_ROOT / "user_models"))


def list_models() -> dict[str, Path]:
    """Every named model: shipped ones, then user ones (a user model never hides a shipped one)."""
    found: dict[str, Path] = {}
    for folder in (shipped_models_dir(), user_models_dir()):
        if folder.is_dir():
            for suffix in MODEL_SUFFIXES:
                for path in sorted(folder.glob(f"*{suffix}")):
                    if not path.name.startswith("."):   # hidden: a run in progress, or a killed one
                        found.setdefault(path.stem, path)
    return found


def resolve_model_path(spec: str) -> Path:
    """A model name or path → the file it names."""
    named = list_models()
    if spec in named:
        return named[spec]
    path = Path(spec)
    if path.suffix or os.sep in spec or path.exists():
        return path
    choices = ", ".join(named) or "(none yet: run `python -m cam_core train`)"
    raise ModelError(f"no model called {spec!r}. Available: {choices}; or give a .safetensors or .onnx path, or torchvision:ARCH")
