"""Faithfulness without masks: the deletion curve (Petsiuk et al., RISE, 2018).

Does the map show what the network uses? Remove the image regions under the map's cells with the most
defect evidence first and watch the defect probability fall; a map that points at what the network looks at
makes it fall fast. For an image ``x`` explained by the map ``M`` (``h×w``, the network's own grid), order
the cells by ``M`` descending; for ``k = 0, 1, …, K`` the ``⌈k·h·w/K⌉`` first cells are replaced by the
blurred image (a box blur of ``1/8`` of the input side, twice; its cell region at the network input), and
``p_k = P(defect | x_k)``. The **deletion area** is the trapezoid area under ``p_k`` against the share of
cells removed ``k/K``:

    AUC = (1/K) · Σ_{k=1..K} (p_{k−1} + p_k) / 2

(0–1; lower is better). Beside it the same area for a random cell order (seeded per image): the gap
between the two is what the map knows. Both start at the unchanged image's probability and end at the
fully blurred one's, so they differ only in the order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

if TYPE_CHECKING:
    from cam_core.explain.pipeline import Explainer

__all__ = ["DELETION_STEPS", "DeletionResult", "blurred", "deletion_curves", "deletion_summary"]

DELETION_STEPS = 8
_BLUR_SHARE = 1 / 8


@dataclass(frozen=True)
class DeletionResult:
    """One image's curves (``K + 1`` probabilities each) and their areas."""

    curve: tuple[float, ...]
    random_curve: tuple[float, ...]

    @staticmethod
    def area(curve: tuple[float, ...]) -> float:
        """Trapezoid area over ``[0, 1]`` with equal steps."""
        p = np.asarray(curve, dtype=np.float64)
        return float(((p[:-1] + p[1:]) / 2).mean()) if p.size > 1 else float(p[0])

    @property
    def auc(self) -> float:
        return self.area(self.curve)

    @property
    def random_auc(self) -> float:
        return self.area(self.random_curve)


def blurred(batch: torch.Tensor) -> torch.Tensor:
    """A box blur of ``batch`` (``N×3×H×W``): kernel ``max(3, ⌊side/8⌋ | 1)``, applied twice, reflection padding."""
    k = max(3, int(min(batch.shape[-2:]) * _BLUR_SHARE) | 1)
    x = batch
    for _ in range(2):
        x = F.avg_pool2d(F.pad(x, [k // 2] * 4, mode="reflect"), k, stride=1)
    return x


def _variants(batch: torch.Tensor, soft: torch.Tensor, orders: list[np.ndarray], grid: tuple[int, int],
              steps: int) -> torch.Tensor:
    """For each cell order, the ``steps`` images with the first ``⌈k·cells/steps⌉`` cells blurred (k = 1…steps)."""
    h, w = grid
    cells = h * w
    out = []
    for order in orders:
        for k in range(1, steps + 1):
            removed = np.zeros(cells, dtype=np.float32)
            removed[order[:int(np.ceil(k * cells / steps))]] = 1.0
            mask = torch.from_numpy(removed.reshape(1, 1, h, w))
            mask = F.interpolate(mask, size=batch.shape[-2:], mode="nearest").to(batch.device, batch.dtype)
            out.append(batch * (1 - mask) + soft * mask)
    return torch.cat(out)


def deletion_curves(explainer: Explainer, image: Image.Image, evidence: np.ndarray, positive: int,
                    probability: float, seed: int = 0, steps: int = DELETION_STEPS) -> DeletionResult:
    """The deletion curve of ``evidence`` (the ``h×w`` map, most defect evidence first) for ``image``, and the
    random-order curve; ``probability`` is the unchanged image's defect probability (the curves' first point)."""
    bundle = explainer.bundle
    batch = bundle.preprocess([image], bundle.input_size_for(image))
    soft = blurred(batch)
    by_evidence = np.argsort(-evidence.ravel(), kind="stable")
    random_order = np.random.default_rng(seed).permutation(evidence.size)
    variants = _variants(batch, soft, [by_evidence, random_order], evidence.shape, steps)
    probabilities: list[float] = []
    for start in range(0, variants.shape[0], explainer.batch_size):
        out = explainer.extractor(variants[start:start + explainer.batch_size], [positive])
        probabilities += out.probabilities[:, positive].detach().float().cpu().tolist()
    return DeletionResult(curve=(probability, *probabilities[:steps]),
                          random_curve=(probability, *probabilities[steps:]))


def deletion_summary(results: list[DeletionResult]) -> dict[str, float]:
    """``n``, mean ``auc`` and ``random_auc`` (NaN without images), and the share of images whose map beats
    the random order (``auc < random_auc``)."""
    if not results:
        return {"n": 0, "auc": float("nan"), "random_auc": float("nan"), "beats_random": float("nan")}
    auc = np.array([r.auc for r in results])
    rnd = np.array([r.random_auc for r in results])
    return {"n": len(results), "auc": float(auc.mean()), "random_auc": float(rnd.mean()),
            "beats_random": float((auc < rnd).mean())}
