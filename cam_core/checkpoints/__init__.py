"""Model files: safetensors weights with a typed model card, the named-model registry and the defect-class rule.

- :mod:`~cam_core.checkpoints.bundle`: :class:`ModelBundle`, :func:`save_checkpoint`, :func:`load_checkpoint`;
- :mod:`~cam_core.checkpoints.header`: :func:`read_card` (a file's card from its header, without PyTorch);
- :mod:`~cam_core.checkpoints.card`: :class:`ModelCard` (the card, typed, exact JSON round trip);
- :mod:`~cam_core.checkpoints.registry`: shipped and user models by name (opened by :mod:`cam_core.models`);
- :mod:`~cam_core.checkpoints.classes`: which class is the defect class.

Names are imported on first use (:mod:`cam_core.lazy`): the card, the registry and the class rule load
no network library.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cam_core.lazy import lazy_names

if TYPE_CHECKING:
    from cam_core.checkpoints.bundle import (
        ModelBundle,
        fitted_input_size,
        load_checkpoint,
        load_torchvision,
        pick_device,
        save_checkpoint,
    )
    from cam_core.checkpoints.card import (
        CARD_KEY,
        FORMAT_VERSION,
        IMAGENET_MEAN,
        IMAGENET_STD,
        LEGACY_SYNTHETIC_TEXT,
        RESIZE_MODES,
        SYNTHETIC_TEXT,
        DataKind,
        ModelCard,
        validate_card,
    )
    from cam_core.checkpoints.classes import (
        DEFECT_CLASS_NAMES,
        defect_class_index,
        defect_names_text,
        is_defect_name,
        positive_class_index,
    )
    from cam_core.checkpoints.header import MAX_CHECKPOINT_BYTES, read_card, read_model_card
    from cam_core.checkpoints.registry import (
        DEFAULT_MODEL,
        MODEL_SUFFIXES,
        REPO_ROOT,
        SHIPPED_MODELS_DIR,
        TORCHVISION_PREFIX,
        list_models,
        resolve_model_path,
        shipped_models_dir,
        user_models_dir,
    )

_HOMES: dict[str, str] = {
    **dict.fromkeys(("ModelBundle", "fitted_input_size", "load_checkpoint", "load_torchvision", "pick_device",
                     "save_checkpoint"), "cam_core.checkpoints.bundle"),
    **dict.fromkeys(("CARD_KEY", "FORMAT_VERSION", "IMAGENET_MEAN", "IMAGENET_STD", "LEGACY_SYNTHETIC_TEXT",
                     "RESIZE_MODES", "SYNTHETIC_TEXT", "DataKind", "ModelCard", "validate_card"),
                    "cam_core.checkpoints.card"),
    **dict.fromkeys(("DEFECT_CLASS_NAMES", "defect_class_index", "defect_names_text", "is_defect_name",
                     "positive_class_index"), "cam_core.checkpoints.classes"),
    **dict.fromkeys(("MAX_CHECKPOINT_BYTES", "read_card", "read_model_card"), "cam_core.checkpoints.header"),
    **dict.fromkeys(("DEFAULT_MODEL", "MODEL_SUFFIXES", "REPO_ROOT", "SHIPPED_MODELS_DIR", "TORCHVISION_PREFIX",
                     "list_models", "resolve_model_path", "shipped_models_dir", "user_models_dir"),
                    "cam_core.checkpoints.registry"),
}

__all__ = [
    "CARD_KEY", "DEFAULT_MODEL", "DEFECT_CLASS_NAMES", "FORMAT_VERSION", "IMAGENET_MEAN", "IMAGENET_STD",
    "MAX_CHECKPOINT_BYTES", "MODEL_SUFFIXES", "REPO_ROOT", "RESIZE_MODES", "SHIPPED_MODELS_DIR", "ModelBundle",
    "ModelCard", "defect_class_index", "defect_names_text", "fitted_input_size", "is_defect_name", "list_models",
    "TORCHVISION_PREFIX", "load_checkpoint", "load_torchvision", "pick_device", "positive_class_index", "read_card",
    "read_model_card", "resolve_model_path", "save_checkpoint", "shipped_models_dir", "DataKind", "LEGACY_SYNTHETIC_TEXT", "SYNTHETIC_TEXT",
    "user_models_dir", "validate_card",
]
__getattr__, __dir__ = lazy_names(__name__, _HOMES)
