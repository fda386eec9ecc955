"""Group-aware calibration distances: how far an image of a *new* group (acquisition run, batch, camera) lies
from the reference, measured on the groups at hand (:func:`unseen_group_distances`).

A held-out image of a group that also has reference images is close to its own group's reference vectors; its
distance says how far "a new image of a known run" lies. An image of a run the reference has never seen lies
farther. So each calibration image is scored against the reference vectors of the *other* groups only:

    d_g(x) = (1/k') Σ_{r ∈ kNN(f̂(x), R ∖ R_g)} (1 − f̂(x)·r),      k' = min(k, min_g |R ∖ R_g|)

For reference rows this is leave-one-group-out (a reference built without the row's whole group); for held-out
rows of groups absent from the reference it is their plain distance. An image without a group (``None``) is its
own group, so alone it is leave-one-out.

The threshold is drawn for the farthest group (:func:`farthest_group_threshold`), with D_g the distances of
group g's rows and D all of them pooled:

    threshold = margin × max( q(D), max_{g : |D_g| ≥ n_min} q(D_g) ),      q = quantile_{quantile}

``q(D_g)`` is the line that would have flagged ``1 − quantile`` of run g's images had it been new; the largest
over the runs seen covers each of them, where the pooled quantile alone lets a few close runs outvote a far one.
Groups of fewer than ``n_min`` rows give no reliable quantile of their own and count through ``q(D)`` only.
With G runs seen and runs alike in kind (exchangeable), a new run is farther than all of them with chance
1/(G+1): few runs give a loose guarantee, which ``margin`` only partly absorbs.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from cam_core.domain.scorer import calibrated_threshold

__all__ = ["EXCLUDED", "farthest_group_threshold", "group_ids", "named_groups", "unseen_group_distances"]

EXCLUDED = -2.0       # a similarity below any cosine: a reference row of the query's own group never counts


def group_ids(*groups: Sequence[str | None]) -> list[np.ndarray]:
    """Integer ids of ``groups`` (one sequence per set of rows), shared across the sets; ``None`` gets an id of
    its own per row."""
    ids: dict[str, int] = {}
    singles = 0
    out = []
    for keys in groups:
        row = np.empty(len(keys), dtype=np.int64)
        for i, key in enumerate(keys):
            if key is None:
                singles += 1
                key = f"\0single{singles}"
            row[i] = ids.setdefault(key, len(ids))
        out.append(row)
    return out


def named_groups(groups: Sequence[str | None]) -> set[str]:
    """The distinct group names in ``groups`` (``None`` left out)."""
    return {g for g in groups if g is not None}


def unseen_group_distances(queries: Tensor, query_ids: np.ndarray, reference: Tensor, reference_ids: np.ndarray,
                           k: int) -> np.ndarray:
    """Mean cosine distance of each (normalised) query row to its ``k'`` nearest (normalised) reference rows of
    other groups (module docstring); ``query_ids``/``reference_ids`` from :func:`group_ids`.

    Raises ``ValueError`` when some query's group covers the whole reference (no row of another group is left)."""
    if queries.shape[0] == 0:
        return np.zeros(0)
    same = torch.from_numpy(query_ids[:, None] == reference_ids[None, :])
    others = int((~same).sum(dim=1).min())
    if others < 1:
        raise ValueError("a calibration group covers the whole reference: no other group to measure it against")
    similarity = (queries.float() @ reference.float().T).masked_fill_(same, EXCLUDED)
    top = similarity.topk(min(k, others), dim=1).values
    return (1.0 - top).mean(dim=1).numpy()


def farthest_group_threshold(distances: np.ndarray, ids: np.ndarray, quantile: float, margin: float, n_min: int
                             ) -> tuple[float, int]:
    """``margin × max(q(D), max_{|D_g| ≥ n_min} q(D_g))`` (module docstring) and how many groups had ``n_min``
    rows; ``distances`` and their group ``ids`` as :func:`unseen_group_distances` and :func:`group_ids` give."""
    line = calibrated_threshold(distances, quantile, margin)
    sizes = np.bincount(ids)
    large = np.flatnonzero(sizes >= n_min)
    for g in large:
        line = max(line, calibrated_threshold(distances[ids == g], quantile, margin))
    return line, int(large.size)
