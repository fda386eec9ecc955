"""``batch``: list the inputs, skip what is done, explain the rest with the chosen engine, write overlays.

    summary = run_batch("line3/2026-12-03", RunSettings(out_dir=Path("results/day1")))

Both engines write the same rows (:mod:`cam_core.batch.schema`) to the same numbered parts
(:mod:`cam_core.batch.writer`), so resume, ``report`` and the app read either.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from cam_core.batch.local import RowMaker, run_local
from cam_core.batch.overlays import write_overlays
from cam_core.batch.progress import BatchProgress
from cam_core.batch.resume import check_manifest, done_keys, pending
from cam_core.batch.settings import Engine, RunSettings, build_explainer, model_info
from cam_core.batch.sources import list_sources
from cam_core.batch.writer import PartWriter, remove_stale_partials
from cam_core.explain.pipeline import Explainer
from cam_core.progress import ProgressCallback, ignore_progress

__all__ = ["BatchSummary", "run_batch"]


@dataclass(frozen=True)
class BatchSummary:
    """What a run did: files found, skipped (done before), explained, failed; parts and overlays written."""

    found: int
    skipped: int
    explained: int
    errors: int
    parts: tuple[Path, ...]
    overlays: int
    seconds: float


def run_batch(source: str | Sequence[str], settings: RunSettings, progress: ProgressCallback = ignore_progress,
              *, explainer_factory: Callable[[], Explainer] | None = None, interval: float = 5.0) -> BatchSummary:
    """Run one batch (see the module docstring). ``explainer_factory`` replaces :func:`build_explainer` (tests
    count model calls through it)."""
    start = time.perf_counter()
    paths = list_sources(source) if isinstance(source, str) else list(source)
    out = settings.out_dir
    if out.is_dir():
        remove_stale_partials(out)
    # with Ray the driver's own explainer (model hash, overlays) runs on the CPU; the actors use --device
    spec = replace(settings.spec, device="cpu") if settings.engine is Engine.RAY else settings.spec
    make = explainer_factory or (lambda: build_explainer(spec))
    with make() as explainer:
        info = model_info(explainer)
        check_manifest(out, info, settings.save_maps, {"classes": list(explainer.bundle.classes),
                                                           "model_spec": settings.spec.model})
        todo, skipped = pending(paths, done_keys(out), settings.workers + 1)
        meter = BatchProgress(len(paths), progress, interval)
        meter.update(skipped=skipped)
        with PartWriter(out, with_maps=settings.save_maps, rows_per_part=settings.rows_per_part) as writer:
            if settings.engine is Engine.RAY:
                from cam_core.batch.ray_engine import run_ray

                run_ray(todo, settings, info, writer, meter)
            else:
                maker = RowMaker(explainer, info, threshold=settings.threshold, with_maps=settings.save_maps)
                run_local(todo, explainer, maker, writer, meter, workers=settings.workers)
        meter.finish()
        overlays = write_overlays(out, settings.overlays, explainer)
    return BatchSummary(found=len(paths), skipped=skipped, explained=meter.explained, errors=meter.errors,
                        parts=tuple(writer.written_parts), overlays=overlays, seconds=time.perf_counter() - start)
