"""The pointing loss: defect masks teach the defect-class map where the defect is.

Defect masks, when the data has them (``masks/<stem>.png``), add this loss on the maps (weight
``mask_loss_weight``, default 1): the defect-class map must peak inside the mask, stay quiet elsewhere and
show no peak on OK images. The masks follow the same augmentation as their images. Images labelled ``-1``
(no label, distillation) take no part.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cam_core.engine.architectures import resolve_head
from cam_core.engine.hooks import ActivationCapture, linear_weight_product, resolve_module

__all__ = ["MASK_CELL_MIN_COVER", "PointingLoss"]

MASK_CELL_MIN_COVER = 1e-3       # a map cell is "in the mask" when the mask covers more than this share of it


class PointingLoss:
    """Auxiliary loss that rewards the defect-class map for peaking inside the defect mask.

    For image ``i`` with defect-class map ``M_i`` (``h×w``, the network's own grid, with gradients) and
    the set ``S_i`` of cells its augmented mask touches (NG images with a mask that still touches the crop):

        pointing  mean_i −log Σ_{(x,y) ∈ S_i} softmax(M_i)(x, y)            peak inside the defect
        defect    ½ · BCE(M, 1) over the cells in the S_i                    defect cells positive
        quiet     ½ · smooth-L1(M, 0) over every other cell of those images   background near 0, so the
                  and every cell of OK images                               mean (= logit) is not noise
        no peak   mean over OK images of softplus(log mean exp M_j)          no false peaks on OK parts

    ``loss`` is their sum. The pointing term only cares where the peak is; the dense terms make every
    cell of every image a training signal, which is what lets a network trained from scratch find
    defects that cover 0.1–2 % of the image: through the global average pool alone the classification
    gradient is spread evenly over all cells.
    Use as a context manager; the hook is removed on exit.
    """

    def __init__(self, model: nn.Module, positive: int) -> None:
        self._spec = resolve_head(model)
        self._positive = positive
        self._head = resolve_module(model, self._spec.classifier)
        layer = self._spec.classifier if self._spec.kind == "conv1x1" else self._spec.feature_layer
        self._capture = ActivationCapture(resolve_module(model, layer), keep_graph=True)

    def start(self) -> None:
        self._capture.start()

    def __call__(self, masks: Tensor, labels: Tensor) -> Tensor | None:
        """The loss for the last forward pass (``None`` when the batch has neither OK images nor masked NG ones)."""
        captured = self._capture.require(self._capture.stop())
        if self._spec.kind == "conv1x1":
            maps = captured[:, self._positive]
        else:
            features = F.relu(captured) if self._spec.feature_relu else captured
            weight = self._head_weight()[self._positive:self._positive + 1]
            maps = linear_weight_product(features, weight)[:, 0]
        cover = F.adaptive_avg_pool2d(masks, (int(maps.shape[-2]), int(maps.shape[-1])))[:, 0]
        inside = cover > MASK_CELL_MIN_COVER
        use = (labels == self._positive) & inside.flatten(1).any(dim=1)
        ok = (labels != self._positive) & (labels >= 0)    # a negative label: no label (distillation)
        scored = ok | use                                  # OK images and NG images with a usable mask
        if not bool(scored.any()):
            return None
        maps = maps.float()
        cells = maps[scored]
        positive_cells = inside[scored] & use[scored].view(-1, 1, 1)
        negative_cells = cells[~positive_cells]
        loss = 0.5 * F.smooth_l1_loss(negative_cells, torch.zeros_like(negative_cells))
        if bool(ok.any()):
            peaks = torch.logsumexp(maps[ok].flatten(1), dim=1) - math.log(maps.shape[-1] * maps.shape[-2])
            loss = loss + F.softplus(peaks).mean()
        if bool(use.any()):
            log_p = F.log_softmax(maps[use].flatten(1), dim=1)
            log_p = log_p.masked_fill(~inside[use].flatten(1), -math.inf)
            on_defect = cells[positive_cells]
            loss = loss - torch.logsumexp(log_p, dim=1).mean() + 0.5 * F.binary_cross_entropy_with_logits(
                on_defect, torch.ones_like(on_defect))
        return loss

    def _head_weight(self) -> Tensor:
        weight = self._head.weight
        assert isinstance(weight, Tensor)
        return weight

    def close(self) -> None:
        self._capture.close()

    def __enter__(self) -> PointingLoss:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
