"""Where a run's weights start: ImageNet weights, one of this product's models, or from scratch.

The classifier head starts at zero (:func:`zero_head`) unless a model of ours is continued
(``init_from``), which loads every tensor, head included.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from cam_core.engine.architectures import resolve_head
from cam_core.engine.hooks import resolve_module
from cam_core.engine.imagenet import imagenet_state, load_backbone
from cam_core.errors import InputError
from cam_core.progress import ProgressCallback
from cam_core.training.config import TrainConfig

__all__ = ["init_from_model", "starting_weights", "zero_head"]


def starting_weights(model: nn.Module, config: TrainConfig, classes: Sequence[str], emit: ProgressCallback
                     ) -> tuple[int, list[str], str]:
    """Load the starting weights into ``model``: (tensors loaded, names not loaded, where they came from)."""
    if config.init_from:
        return init_from_model(model, config, classes)
    state, source = imagenet_state(config.arch, config.pretrained, emit)
    loaded, not_loaded = load_backbone(model, state, config.arch) if state is not None else (0, [])
    zero_head(model)
    return loaded, not_loaded, source


def init_from_model(model: nn.Module, config: TrainConfig, classes: Sequence[str]) -> tuple[int, list[str], str]:
    """Load every tensor of the product model ``config.init_from`` into ``model``; (count, [], source words)."""
    from cam_core.checkpoints import read_model_card, resolve_model_path

    assert config.init_from is not None
    path = resolve_model_path(config.init_from)
    if path.suffix.lower() == ".onnx":
        raise InputError(f"--init-from {config.init_from}: an ONNX model cannot be trained further here; "
                         "continue from the PyTorch model it was exported from, or import its state dict")
    card = read_model_card(path)
    if card.arch != config.arch or list(card.classes) != list(classes) or card.map_stride != config.map_stride:
        raise InputError(f"--init-from {config.init_from}: it is a {card.arch} with classes "
                         f"{','.join(card.classes)} and map stride {card.map_stride}; this run needs "
                         f"{config.arch} with {','.join(classes)} and stride {config.map_stride}")
    from safetensors.torch import load_file

    from cam_core.domain.store import split_domain

    # The domain check's tensors describe the old training data, not the network: they are not carried over.
    state, _ = split_domain(load_file(str(path)), None, str(path))
    own = model.state_dict()
    unknown = sorted(set(state) - set(own))
    if unknown:
        raise InputError(f"--init-from {config.init_from}: {len(unknown)} tensor(s) this {config.arch} does not have "
                         f"(first: {unknown[0]}); is the file from another version of the architecture?")
    model.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()})
    earlier = card.pretrained.get("source", "?")
    accuracy = card.validation.get("accuracy")
    accuracy_text = f"{accuracy:.3f}" if isinstance(accuracy, (int, float)) else "?"
    return len(state), [], (f"continued from {path.name} (this product's model; it started from: {earlier}; "
                            f"its card: trained_on {card.trained_on_text!r}, validation accuracy {accuracy_text})")


def zero_head(model: nn.Module) -> None:
    """Start the classifier head at zero: every logit is 0 (p = 1/C) for every image.

    A random head on non-negative (ReLU) features gives all images the same large logit offset
    ``W·mean(A)``; the quickest way for the optimiser to remove it is to shrink every activation of the
    backbone, which is how SqueezeNet trained from scratch collapses to a constant output. From a zero
    head the first gradient is ``Σ_i w_{y_i} (p_i − y_i) Ā_i``: the class-weighted difference of the mean
    features, i.e. only what tells the classes apart.
    """
    head = resolve_module(model, resolve_head(model).classifier)
    with torch.no_grad():
        for param in (getattr(head, "weight", None), getattr(head, "bias", None)):
            if isinstance(param, Tensor):
                param.zero_()
