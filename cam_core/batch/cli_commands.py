"""The ``batch`` and ``report`` commands (registered in :mod:`cam_core.cli`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cam_core.checkpoints import DEFAULT_MODEL
from cam_core.cli_args import add_model_args

__all__ = ["add_batch", "add_report", "cmd_batch", "cmd_report"]


def cmd_batch(args: argparse.Namespace) -> int:
    from cam_core.batch.runner import run_batch
    from cam_core.batch.settings import Engine, ExplainerSpec, OverlayPolicy, RunSettings
    from cam_core.progress import TextProgress

    spec = ExplainerSpec(model=args.model, method=args.method, flip_average=args.flip_average, device=args.device,
                         batch_size=args.batch_size, backend=args.backend)
    settings = RunSettings(out_dir=Path(args.out), spec=spec, engine=Engine(args.engine), workers=args.workers,
                           save_maps=args.save_maps, overlays=OverlayPolicy.parse(args.overlays),
                           threshold=args.threshold, rows_per_part=args.rows_per_part, ray_address=args.ray_address,
                           gpus_per_worker=args.gpus_per_worker, cpus_per_worker=args.cpus_per_worker)
    summary = run_batch(args.source, settings, TextProgress(transient=()), interval=args.progress_every)
    print(f"{summary.explained} explained, {summary.errors} failed, {summary.skipped} already done; "
          f"{len(summary.parts)} part file(s) and {summary.overlays} overlay(s) written to {args.out} "
          f"in {summary.seconds:.1f} s", file=sys.stderr)
    if summary.explained == 0 and summary.errors:
        return 2
    return 1 if summary.errors else 0


def cmd_report(args: argparse.Namespace) -> int:
    from cam_core.batch.report import ReportSettings, write_batch_report

    settings = ReportSettings(worst=args.worst, by=args.by, title=args.title, model=args.model)
    summary = write_batch_report(args.results, args.out, settings)
    print(f"wrote {args.out}: {summary.rows} rows, {summary.flagged} flagged NG, {summary.errors} errors",
          file=sys.stderr)
    return 0


def add_batch(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("batch", help="explain a whole folder, glob or list of paths into a Parquet data set "
                       "(resumable; --engine ray for a cluster)")
    p.add_argument("source", help="folder (recursive), glob pattern (quoted) or .txt file with one path a line")
    p.add_argument("--out", required=True, help="results folder: numbered Parquet parts, _batch.json, _overlays/")
    add_model_args(p)
    p.add_argument("--engine", default="local", choices=["local", "ray"])
    p.add_argument("--workers", type=int, default=2, help="local: decode threads; ray: explainer actors")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--overlays", default="none", help="ng | top:N | none: overlay PNGs only for these parts")
    p.add_argument("--save-maps", action="store_true", help="store the raw maps (float16, map grid) in each row")
    p.add_argument("--threshold", type=float, default=None, help="NG when p(defect) >= this (default: argmax)")
    p.add_argument("--ray-address", default=None, help="join this Ray cluster (e.g. HEAD:6379); default a "
                   "local Ray on 127.0.0.1")
    p.add_argument("--gpus-per-worker", type=float, default=0.0, help="ray: GPUs each actor reserves")
    p.add_argument("--cpus-per-worker", type=float, default=0.5, help="ray: CPUs each actor reserves")
    p.add_argument("--rows-per-part", type=int, default=2048, help="rows in each Parquet part file")
    p.add_argument("--progress-every", type=float, default=5.0, help="seconds between progress lines")
    p.set_defaults(func=cmd_batch)


def add_report(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="HTML report of a batch's Parquet results (streaming, any size)")
    p.add_argument("results", help="results folder written by `batch` (or one .parquet file)")
    p.add_argument("--out", required=True, help="output .html")
    p.add_argument("--worst", type=int, default=20, help="show the N most likely defective parts with maps")
    p.add_argument("--by", default="hour", choices=["hour", "folder"], help="NG rate per hour or per folder")
    p.add_argument("--title", default="CAM Inspector batch report")
    p.add_argument("--model", default=None, help=f"model to redraw maps when rows hold none (default: the rows' "
                   f"model, else {DEFAULT_MODEL})")
    p.set_defaults(func=cmd_report)
