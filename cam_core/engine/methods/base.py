"""What every CAM method shares: :class:`CAMResult` and :class:`BaseCAM` (one hook, input placement, lifetime).

A method subclasses :class:`BaseCAM` and implements only :meth:`BaseCAM._explain` (one forward pass and its
maps); the gradient family shares that too and a variant overrides only its channel weights
(:meth:`~cam_core.engine.methods.gradient.GradCAM.channel_weights`). Hook capture is
:class:`~cam_core.engine.hooks.ActivationCapture`: per thread, removed on ``close()``/``__exit__``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import ClassVar

import torch
from torch import Tensor, nn

from cam_core.domain.features import pooled_features
from cam_core.domain.stages import domain_stages
from cam_core.engine.hooks import ActivationCapture, resolve_module
from cam_core.errors import ModelError

__all__ = ["BaseCAM", "CAMResult"]


@dataclass(frozen=True)
class CAMResult:
    """Output of one explained batch.

    ``maps[n, j]`` is the raw map of class ``class_indices[n, j]`` at feature resolution.
    For CAM, ``class_indices[n] = 0..C-1`` and ``logits = maps.mean((2, 3)) + bias``.
    """

    logits: Tensor          # N×C
    maps: Tensor            # N×K×h×w, float32
    class_indices: Tensor   # N×K, long
    method: str
    layer: str
    bias: Tensor | None = None  # C, CAM only
    features: Tensor | None = None  # N×D domain features of the same pass (cam_core.domain)
    features_layer: str | None = None  # where they come from: "features.5+features.11", or the CAM layer

    @property
    def probabilities(self) -> Tensor:
        """Softmax over classes (N×C)."""
        return torch.softmax(self.logits.float(), dim=1)

    @property
    def map_size(self) -> tuple[int, int]:
        return int(self.maps.shape[-2]), int(self.maps.shape[-1])


class BaseCAM(ABC):
    """Shared plumbing: layer resolution, one hook, input placement, hook removal on exit."""

    name: ClassVar[str]
    label: ClassVar[str]

    def __init__(self, model: nn.Module, target_layer: str, domain: bool = True) -> None:
        self.model = model
        self.target_layer = target_layer
        self._capture: ActivationCapture | None = None
        # The domain check's stages, pooled as they pass (cam_core.domain.stages): no second forward pass.
        # ``domain=False`` (a model without a domain reference) skips them and gives no features.
        self.domain = domain
        self._stages = [ActivationCapture(resolve_module(model, name), transform=pooled_features)
                        for name in (domain_stages(model) if domain else ())]

    # -- lifetime --------------------------------------------------------------------------
    def close(self) -> None:
        """Remove the hooks; the extractor can no longer be called."""
        if self._capture is not None:
            self._capture.close()
            self._capture = None
        for stage in self._stages:
            stage.close()
        self._stages = []

    def __enter__(self) -> BaseCAM:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- call ------------------------------------------------------------------------------
    def __call__(self, batch: Tensor, targets: Sequence[int] | None = None) -> CAMResult:
        """Explain ``batch`` (N×3×H×W, already normalised). ``targets``: class indices to map."""
        if self._capture is None:
            raise ModelError(f"this {self.label} extractor was closed; create a new one")
        if batch.ndim != 4:
            raise ValueError(f"expected an N×3×H×W batch, got shape {tuple(batch.shape)}")
        return self._explain(self._place(batch), targets)

    def _place(self, batch: Tensor) -> Tensor:
        param = next(self.model.parameters(), None)
        if param is None:
            return batch
        batch = batch.to(device=param.device, dtype=param.dtype)
        if param.ndim == 4 and param.is_contiguous(memory_format=torch.channels_last):
            batch = batch.contiguous(memory_format=torch.channels_last)
        return batch

    def _forward(self, batch: Tensor) -> tuple[Tensor, Tensor, list[Tensor | None]]:
        """One forward pass with the hooks armed: ``(logits, what the hooked layer gave, pooled stage features)``,
        under the caller's grad mode. Namedtuple outputs (GoogLeNet/Inception in training mode) give their first
        field."""
        capture = self._capture
        assert capture is not None
        for stage in self._stages:
            stage.start()
        capture.start()
        try:
            output = self.model(batch)
        finally:
            captured = capture.stop()
            stages = [stage.stop() for stage in self._stages]
        captured = capture.require(captured)
        return (output if isinstance(output, Tensor) else output[0]), captured, stages

    def _domain_features(self, stages: list[Tensor | None], activations: Tensor | None
                         ) -> tuple[Tensor | None, str | None]:
        """The domain features (:mod:`cam_core.domain`) and their layers: the pooled stages, else the hooked
        layer pooled."""
        if not self.domain:
            return None, None
        if stages and all(s is not None for s in stages):
            return (torch.cat([s for s in stages if s is not None], dim=1).float(),
                    "+".join(domain_stages(self.model)))
        return (None, None) if activations is None else (pooled_features(activations), self.target_layer)

    @abstractmethod
    def _explain(self, batch: Tensor, targets: Sequence[int] | None) -> CAMResult:
        """Run the model once (:meth:`_forward`) and build the maps."""
