"""The domain reference in a model file: its card field and its tensors beside the weights.

:func:`split_domain` takes the ``domain.*`` tensors out of a file's tensors (so the weights load as before) and
builds the :class:`~cam_core.domain.scorer.DomainModel` the card's ``domain`` field describes
(:func:`cam_core.reference.write_domain` writes them into a model file).
"""

from __future__ import annotations

from torch import Tensor

from cam_core.domain.reference import DomainReference
from cam_core.domain.scorer import DomainModel
from cam_core.errors import ModelError

__all__ = ["DOMAIN_PREFIX", "split_domain"]

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
