"""The local engine: decode in a pool of threads while the network runs, in this process.

``workers`` threads read, hash and decode files ahead of the network, at most ``prefetch`` files ahead
(a bounded window, so memory does not grow with the folder). The main thread explains full batches with
the one :class:`Explainer` and hands rows to the :class:`PartWriter`. PIL decoding and the PyTorch forward
both release the GIL, so decoding overlaps the network.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from cam_core.batch.decode import Decoded, read_input
from cam_core.batch.progress import BatchProgress
from cam_core.batch.rows import error_row, explanation_row
from cam_core.batch.settings import ModelInfo
from cam_core.batch.writer import PartWriter
from cam_core.errors import CamInspectorError
from cam_core.explain.pipeline import Explainer, Explanation

__all__ = ["RowMaker", "explain_decoded", "run_local"]


def decoded_in_order(paths: Sequence[str], workers: int, prefetch: int) -> Iterator[Decoded]:
    """:func:`read_input` of every path, in order, decoded by ``workers`` threads at most ``prefetch`` ahead."""
    with ThreadPoolExecutor(max(1, workers), thread_name_prefix="batch-decode") as pool:
        window: deque[Future[Decoded]] = deque()
        feed = iter(paths)
        for path in feed:
            window.append(pool.submit(read_input, path))
            if len(window) >= prefetch:
                break
        while window:
            item = window.popleft().result()
            nxt = next(feed, None)
            if nxt is not None:
                window.append(pool.submit(read_input, nxt))
            yield item


class RowMaker:
    """Turns decoded files and their explanations into rows (shared by the local engine and Ray actors)."""

    def __init__(self, explainer: Explainer, info: ModelInfo, *, threshold: float | None, with_maps: bool) -> None:
        self.info, self.threshold, self.with_maps = info, threshold, with_maps
        limits = explainer.bundle.card.evidence_limits
        self.evidence_limit = max(abs(limits[0]), abs(limits[1])) if limits else None

    def row(self, item: Decoded, explanation: Explanation | None, error: str | None = None) -> dict[str, Any]:
        if explanation is None:
            return error_row(item, self.info, self.with_maps, error)
        return explanation_row(item, explanation, self.info, threshold=self.threshold,
                               evidence_limit=self.evidence_limit, with_maps=self.with_maps)


def explain_decoded(explainer: Explainer, items: Sequence[Decoded]) -> list[tuple[Explanation | None, str | None]]:
    """The explanation (or error) of each decoded image: one batched call; when that fails, one call per image,
    so a single bad image costs only its own row."""
    images = [item.image for item in items if item.image is not None]
    if len(images) != len(items):
        raise ValueError("explain_decoded takes decoded images only")
    try:
        return [(e, None) for e in explainer.explain(images)]
    except (CamInspectorError, MemoryError, RuntimeError, ValueError):
        pass
    results: list[tuple[Explanation | None, str | None]] = []
    for item, image in zip(items, images):
        try:
            results.append((explainer.explain_one(image), None))
        except (CamInspectorError, MemoryError, RuntimeError, ValueError) as exc:
            results.append((None, f"{item.path}: could not be explained ({type(exc).__name__}: {exc})"))
    return results


def run_local(paths: Sequence[str], explainer: Explainer, maker: RowMaker, writer: PartWriter,
              progress: BatchProgress, *, workers: int = 2, prefetch: int | None = None,
              on_row: Callable[[dict[str, Any]], None] | None = None) -> None:
    """Explain ``paths`` and write one row each (see the module docstring)."""
    batch: list[Decoded] = []
    window = prefetch or max(2 * explainer.batch_size, 4 * workers)

    def flush() -> None:
        results = explain_decoded(explainer, batch)
        for item, (explanation, error) in zip(batch, results):
            _emit(maker.row(item, explanation, error), writer, progress, on_row)
        batch.clear()

    for item in decoded_in_order(paths, workers, window):
        if item.image is None:
            _emit(maker.row(item, None), writer, progress, on_row)
            continue
        batch.append(item)
        if len(batch) >= explainer.batch_size:
            flush()
    if batch:
        flush()


def _emit(row: dict[str, Any], writer: PartWriter, progress: BatchProgress,
          on_row: Callable[[dict[str, Any]], None] | None) -> None:
    writer.add(row)
    failed = row["error"] is not None
    progress.update(explained=0 if failed else 1, errors=1 if failed else 0)
    if on_row is not None:
        on_row(row)

