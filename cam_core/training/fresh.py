"""Fresh synthetic parts every epoch, drawn by a background process, so a long run never overfits a fixed set.

With ``FreshSynth(kind, count)`` each epoch trains on the data set's images plus ``count`` parts that no epoch
saw before: epoch ``e``'s part ``i`` is :func:`cam_core.synth.render_part` from ``default_rng([seed, e, i])``
(label OK or NG with probability ½, its exact defect mask with it), rendered at the stored training size
(``1.15 ×`` the input size). A child process renders epoch ``e + 1``'s parts while epoch ``e`` trains.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch

from cam_core.errors import InputError
from cam_core.training.buckets import Bucket

__all__ = ["FreshParts", "FreshSynth", "render_parts"]

FRESH_KINDS = ("plate", "nut", "mixed")


@dataclass(frozen=True)
class FreshSynth:
    """``count`` fresh parts of ``kind`` (``plate``, ``nut``, ``mixed``) per epoch, from seed ``[seed, epoch, i]``."""

    kind: str = "mixed"
    count: int = 500
    seed: int = 1000

    def validate(self) -> None:
        if self.kind not in FRESH_KINDS:
            raise InputError(f"fresh synthetic parts must be one of {', '.join(FRESH_KINDS)} (got {self.kind!r})")
        if self.count < 2:
            raise InputError(f"fresh parts per epoch must be at least 2 (got {self.count})")

    def record(self) -> dict[str, object]:
        return {"kind": self.kind, "parts_per_epoch": self.count,
                "seed": f"epoch e, part i: default_rng([{self.seed}, e, i])",
                "worker": "a background process renders the next epoch's parts while one trains"}


def render_parts(kind: str, count: int, seed: int, epoch: int, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``count`` parts → (``N×size×size×3`` uint8 images, ``N`` labels 0 = OK / 1 = NG, ``N×size×size`` uint8 masks)."""
    from cam_core.synth.render import PART_KINDS, render_part

    images = np.empty((count, size, size, 3), dtype=np.uint8)
    masks = np.zeros((count, size, size), dtype=np.uint8)
    labels = np.zeros(count, dtype=np.int64)
    for i in range(count):
        rng = np.random.default_rng([seed, epoch, i])
        is_ng = bool(rng.random() < 0.5)
        part_kind = PART_KINDS[int(rng.integers(2))] if kind == "mixed" else kind
        sample = render_part(rng, kind=part_kind, size=size, defect="random" if is_ng else None)
        images[i] = np.asarray(sample.image.convert("RGB"), dtype=np.uint8)
        if is_ng:
            masks[i] = np.where(np.asarray(sample.mask) > 0, 255, 0).astype(np.uint8)
            labels[i] = 1
    return images, labels, masks


class FreshParts:
    """The background renderer: :meth:`bucket` returns epoch ``e``'s parts and starts rendering ``e + 1``'s.

    ``ok``/``ng``: the student's class indices of those labels. Close it (or use ``with``) to stop the process.
    """

    def __init__(self, settings: FreshSynth, stored_size: int, out_size: tuple[int, int], ok: int, ng: int,
                 with_masks: bool) -> None:
        self.settings = settings
        self._size = stored_size
        self._out_size = out_size
        self._labels = torch.tensor([ok, ng], dtype=torch.long)
        self._with_masks = with_masks
        self._pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
        self._pending: dict[int, Future[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}

    def _submit(self, epoch: int) -> None:
        if epoch not in self._pending:
            s = self.settings
            self._pending[epoch] = self._pool.submit(render_parts, s.kind, s.count, s.seed, epoch, self._size)

    def bucket(self, epoch: int) -> Bucket:
        """Epoch ``epoch``'s fresh parts (waits for them if they are not ready yet)."""
        self._submit(epoch)
        images, labels, masks = self._pending.pop(epoch).result()
        self._submit(epoch + 1)
        return Bucket(out_size=self._out_size, images=torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(),
                      labels=self._labels[torch.from_numpy(labels)],
                      masks=torch.from_numpy(masks)[:, None] if self._with_masks else None)

    def close(self) -> None:
        for future in self._pending.values():
            future.cancel()
        self._pending.clear()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def __enter__(self) -> FreshParts:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
