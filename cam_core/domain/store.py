"""The domain reference in a model file: its card field and its tensors beside the weights.

:func:`split_domain` takes the ``domain.*`` tensors out of a file's tensors (so the weights load as before) and
builds the :class:`~cam_core.domain.scorer.DomainModel` the card's ``domain`` field describes;
:func:`write_domain` rewrites a safetensors model file with a new reference (card, its JSON copy, tensors),
atomically.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from safetensors.torch import load_file, save_file
from torch import Tensor

from cam_core.domain.reference import DomainReference
from cam_core.domain.scorer import DomainModel
from cam_core.errors import ModelError
from cam_core.files import atomic_path, atomic_write

__all__ = ["DOMAIN_PREFIX", "split_domain", "write_domain"]

DOMAIN_PREFIX = "domain."


def split_domain(state: dict[str, Tensor], reference: DomainReference | None, label: str
                 ) -> tuple[dict[str, Tensor], DomainModel | None]:
    """``(the weights, the domain model or None)`` from a file's tensors and its card's ``domain`` reference.

    No reference (or a file without its tensors) gives ``None``: the domain is unknown."""
    weights = {k: v for k, v in state.items() if not k.startswith(DOMAIN_PREFIX)}
    if reference is None:
        return weights, None
    try:
        return weights, DomainModel.from_tensors(reference, {k: v for k, v in state.items() if k not in weights})
    except ValueError as exc:
        raise ModelError(f"{label}: {exc}") from None


def write_domain(path: str | Path, card: dict[str, Any], domain: DomainModel) -> dict[str, Any]:
    """Rewrite the safetensors model ``path`` (card ``card``) with ``domain``: its card field and tensors.

    The weights are copied unchanged; the file and its ``<stem>.json`` are replaced atomically. Returns the card."""
    from cam_core.checkpoints.card import CARD_KEY

    path = Path(path)
    tensors = {k: v for k, v in load_file(str(path)).items() if not k.startswith(DOMAIN_PREFIX)}
    tensors.update(domain.tensors())
    card = {**card, "domain": domain.reference.to_dict()}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={CARD_KEY: json.dumps(card)})
    with atomic_write(path.with_suffix(".json"), "w") as fh:
        fh.write(json.dumps(card, indent=2) + "\n")
    return card
