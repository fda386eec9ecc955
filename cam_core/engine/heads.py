"""Single-output (one-logit) heads, represented as the equivalent two-class head.

A binary network with one output ``z`` says ``P(pos) = σ(z)``. This product reads every model as C
logits with ``P = softmax(z_1..z_C)``, maps ``M_c = Σ_k W_ck A_k`` and evidence maps
``M̃_c = M_c − (1/C) Σ_j M_j`` (:meth:`cam_core.explain.pipeline.Explanation.evidence`). The one-logit head
``z = w · GAP(A) + b`` is written as two rows, in class order::

    W_pos = +w/2,  b_pos = +b/2        W_neg = −w/2,  b_neg = −b/2

Why this and nothing else:

- softmax of ``(−z/2, +z/2)`` is exactly ``σ(z)`` for the positive class, so verdicts are the model's own;
- the difference map ``M_pos − M_neg = w · A`` is exactly the one-logit CAM, and
  ``mean(M_c) + b_c = z_c`` holds row by row (the CAM identity is checked as for any model);
- every two-class head with ``W_pos − W_neg = w`` gives the same probabilities and the same evidence
  maps ``M̃_pos = (M_pos − M_neg)/2 = w·A/2 = −M̃_neg``; the symmetric split is the one whose raw maps are
  already centred. So a one-logit model is drawn on the same evidence scale as a two-class model with
  the same logit difference, and nothing downstream (verdict, evidence, video, report) needs to know.

Writing the maps as ``±w·A`` with logits ``±z`` instead would give ``softmax = σ(2z)``: wrong verdicts.
"""

from __future__ import annotations

import torch
from torch import Tensor

from cam_core.errors import ModelError

__all__ = ["SINGLE_LOGIT", "single_logit_as_two_class"]

#: ``head_type`` recorded on the model card of a model imported with a one-output head.
SINGLE_LOGIT = "single-logit"


def single_logit_as_two_class(weight: Tensor, bias: Tensor | None, positive_index: int) -> tuple[Tensor, Tensor]:
    """``1×K…`` head (weight, bias) → the equivalent ``2×K…`` head, positive class at ``positive_index``.

    Rows: ``W[pos] = w/2``, ``W[1−pos] = −w/2``; biases ``±b/2`` (zero when the head has no bias).
    Works for linear (``1×K``) and 1×1-conv (``1×K×1×1``) weights.
    """
    if weight.shape[0] != 1:
        raise ModelError(f"a single-logit head has one output row; this one has {weight.shape[0]}")
    if positive_index not in (0, 1):
        raise ModelError(f"the positive class of a single-logit head must be class 0 or 1, not {positive_index}")
    half = weight.detach().to(torch.float32) / 2
    half_bias = (bias.detach().to(torch.float32).reshape(1) / 2 if bias is not None
                 else torch.zeros(1, dtype=torch.float32))
    sign = torch.tensor([-1.0, 1.0]) if positive_index == 1 else torch.tensor([1.0, -1.0])
    new_weight = torch.cat([half * sign[0], half * sign[1]], dim=0)
    new_bias = torch.cat([half_bias * sign[0], half_bias * sign[1]], dim=0)
    return new_weight.contiguous(), new_bias.contiguous()
