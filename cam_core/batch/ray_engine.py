"""The Ray engine: Ray Data reads the paths, CPU tasks decode, an actor pool explains, the driver writes.

    paths ─from_items─► decode (CPU tasks, read_input) ─► explain (ActorPoolStrategy(size=workers); each actor
    holds one Explainer built by build_explainer, num_cpus=cpus_per_worker, num_gpus=gpus_per_worker)
    ─► rows as Arrow tables ─► the driver's PartWriter (the same numbered, atomic parts as the local engine)

Decoded images travel between stages as raw RGB bytes with their width and height. Without ``ray_address`` a
local Ray starts on loopback (no dashboard); with one, the run joins that cluster (``ray start --head`` on
the head node). Ray is optional (``requirements-ray.txt``); without it this engine says how to install it.

On a 2-core machine each actor reserves half a CPU by default: a pool of two actors that each reserve a whole
CPU leaves nothing for the decode tasks, and the run never finishes.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
from PIL import Image

from cam_core.batch.decode import Decoded, read_input
from cam_core.batch.local import RowMaker, explain_decoded
from cam_core.batch.progress import BatchProgress
from cam_core.batch.settings import ExplainerSpec, ModelInfo, RunSettings, build_explainer
from cam_core.batch.writer import PartWriter, rows_table
from cam_core.errors import CamInspectorError

__all__ = ["DECODED_SCHEMA", "ExplainActor", "decode_batch", "ensure_ray", "run_ray"]

DECODE_CPUS = 0.25      # per decode task; differs from the actors' share, so Ray keeps decoding in its own tasks
RAY_MISSING = "the Ray engine needs Ray: pip install -r requirements-ray.txt (or use --engine local)"
DECODED_SCHEMA = pa.schema([("path", pa.string()), ("size_bytes", pa.int64()), ("file_hash", pa.string()),
                            ("modified", pa.float64()), ("error", pa.string()), ("width", pa.int32()),
                            ("height", pa.int32()), ("pixels", pa.large_binary())])


def decode_batch(batch: pa.Table) -> pa.Table:
    """Ray task: read and decode each path of ``batch`` (:func:`read_input`); images as raw RGB bytes."""
    rows: dict[str, list[Any]] = {name: [] for name in DECODED_SCHEMA.names}
    for path in batch.column("path").to_pylist():
        item = read_input(path)
        image = item.image
        rows["path"].append(item.path)
        rows["size_bytes"].append(item.size_bytes)
        rows["file_hash"].append(item.file_hash)
        rows["modified"].append(item.modified.timestamp() if item.modified else None)
        rows["error"].append(item.error)
        rows["width"].append(image.width if image else None)
        rows["height"].append(image.height if image else None)
        rows["pixels"].append(image.tobytes() if image else None)
    return pa.table(rows, schema=DECODED_SCHEMA)


def _decoded(row: dict[str, Any]) -> Decoded:
    modified = datetime.fromtimestamp(row["modified"], tz=timezone.utc) if row["modified"] is not None else None
    image = None
    if row["pixels"] is not None:
        image = Image.frombytes("RGB", (row["width"], row["height"]), row["pixels"])
    return Decoded(row["path"], row["size_bytes"], row["file_hash"], modified, image, row["error"])


class ExplainActor:
    """Ray actor: one Explainer for its life; turns a batch of decoded images into rows."""

    def __init__(self, spec: ExplainerSpec, info: ModelInfo, threshold: float | None, with_maps: bool) -> None:
        self.explainer = build_explainer(spec)
        self.maker = RowMaker(self.explainer, info, threshold=threshold, with_maps=with_maps)
        self.with_maps = with_maps

    def __call__(self, batch: pa.Table) -> pa.Table:
        items = [_decoded(r) for r in batch.to_pylist()]
        good = [i for i in items if i.image is not None]
        results = dict(zip((id(i) for i in good), explain_decoded(self.explainer, good))) if good else {}
        rows = [self.maker.row(i, *results.get(id(i), (None, None))) for i in items]
        return rows_table(rows, self.with_maps)


def ensure_ray(address: str | None, num_cpus: int | None = None) -> Any:
    """Import Ray and connect: to ``address``, or a local Ray on loopback without a dashboard."""
    try:
        import ray
    except ImportError:
        raise CamInspectorError(RAY_MISSING) from None
    if not ray.is_initialized():
        # workers import cam_core from the same checkout as the driver (on a cluster: the same path on every node)
        root = str(Path(__file__).resolve().parents[2])
        search = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)
        runtime_env = {"env_vars": {"PYTHONPATH": search}}
        if address:
            ray.init(address=address, runtime_env=runtime_env, log_to_driver=False)
        else:
            ray.init(_node_ip_address="127.0.0.1", include_dashboard=False, num_cpus=num_cpus or os.cpu_count(),
                     runtime_env=runtime_env, log_to_driver=False)
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    return ray


def run_ray(paths: Sequence[str], settings: RunSettings, info: ModelInfo, writer: PartWriter,
            progress: BatchProgress) -> None:
    """Explain ``paths`` on Ray (see the module docstring); rows go to ``writer`` as they arrive."""
    if not paths:
        return
    ray = ensure_ray(settings.ray_address)
    spec = settings.spec
    if settings.gpus_per_worker <= 0 and spec.device == "auto":
        spec = replace(spec, device="cpu")
    spec = replace(spec, threads=spec.threads or 1)
    blocks = min(len(paths), max(2 * settings.workers, -(-len(paths) // (4 * spec.batch_size))))
    ds = ray.data.from_items([{"path": p} for p in paths], override_num_blocks=blocks)
    ds = ds.map_batches(decode_batch, batch_format="pyarrow", batch_size=spec.batch_size, num_cpus=DECODE_CPUS)
    ds = ds.map_batches(
        ExplainActor, batch_format="pyarrow", batch_size=spec.batch_size,
        fn_constructor_kwargs={"spec": spec, "info": info, "threshold": settings.threshold,
                               "with_maps": settings.save_maps},
        compute=ray.data.ActorPoolStrategy(size=max(1, settings.workers)),
        num_cpus=settings.cpus_per_worker, num_gpus=settings.gpus_per_worker or None)
    for table in ds.iter_batches(batch_format="pyarrow", batch_size=None):
        writer.add_table(table)
        errors = table.num_rows - table.column("error").null_count
        progress.update(explained=table.num_rows - errors, errors=errors)
