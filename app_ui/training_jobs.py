"""A training run as a background job of the session, like a video: it goes on when the user leaves the Models
page, the page shows its progress on return, and Cancel stops it (the best epoch so far is kept, marked
interrupted). The training itself is :func:`cam_core.training.train_model`, the CLI's.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import streamlit as st

from app_ui.errors import error_line, log
from cam_core import CamInspectorError
from cam_core.progress import Progress

TRAIN_JOB = "models_train_job"        # session: the training job running in the background (TrainJob)
HISTORY_KEYS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "val_auroc")


@dataclass
class TrainJob:
    """A training run in a background thread: what it shows (progress, status, history) and how it ended."""

    name: str
    options: dict[str, Any]
    stop: threading.Event = field(default_factory=threading.Event)
    fraction: float = 0.0
    text: str = "starting…"
    status: str = ""
    history: list[dict[str, Any]] = field(default_factory=list)
    outcome: dict[str, Any] | None = None      # what the page shows when it ended (the TRAIN_RESULT record)
    error: str | None = None
    thread: threading.Thread | None = None

    @property
    def done(self) -> bool:
        return self.thread is not None and not self.thread.is_alive()

    def record(self, event: Progress) -> None:
        """One :mod:`cam_core.training.events` event: the status line, the bar and a history row per epoch."""
        if event.stage == "message":
            self.status = event.message
        elif event.stage == "loading":               # the bar counts training steps: none yet
            self.fraction, self.text = 0.0, event.text()
        elif event.stage == "batch":
            self.fraction, self.text = event.fraction or 0.0, event.text()
        elif event.stage == "epoch":
            self.history.append({k: event.fields[k] for k in HISTORY_KEYS if k in event.fields})
        elif event.stage == "done":
            self.fraction, self.text = 1.0, "Done"


def _command_line(options: dict[str, Any]) -> str:
    return (f"CAM Inspector app, Models page: arch={options['arch']} epochs={options['epochs']} "
            f"image_size={options['image_size']} batch_size={options['batch_size']} "
            f"pretrained={options['pretrained']} seed={options['seed']} resize={options['resize']} "
            f"map_stride={options['map_stride']}"
            + (f" teacher={options['teacher']} temperature={options['temperature']:g} alpha={options['alpha']:g}"
               if options.get("teacher") else ""))


def _work(job: TrainJob, data_root: Path, out_path: Path) -> None:
    """The job's thread: train, then keep the outcome (or the error line) on the job."""
    from cam_core.training import TrainConfig, scan_dataset, train_model
    from cam_core.training.distill import DistillSettings
    from cam_core.training.summary import training_summary

    options = job.options
    distill = (DistillSettings(teacher=options["teacher"], temperature=options["temperature"], alpha=options["alpha"])
               if options.get("teacher") else None)
    deadline = time.monotonic() + options["minutes"] * 60
    try:
        config = TrainConfig(arch=options["arch"], epochs=options["epochs"], image_size=options["image_size"],
                             batch_size=options["batch_size"], pretrained=options["pretrained"],
                             seed=options["seed"], resize=options["resize"], map_stride=options["map_stride"],
                             distill=distill)
        data = dataclasses.replace(scan_dataset(data_root),
                                   source=f"{options['zip_name']} (uploaded on the Models page)")
        result = train_model(data, out_path, config, progress=job.record, command_line=_command_line(options),
                             should_stop=lambda: job.stop.is_set() or time.monotonic() > deadline)
    except CamInspectorError as exc:
        job.error = str(exc)
        return
    except Exception as exc:  # noqa: BLE001 - reported on the page, never a traceback there
        log.exception("training job failed")
        job.error = error_line(out_path.stem, exc)
        return
    card = result.model_card
    job.outcome = {"history": job.history, "path": None if result.path is None else str(result.path),
                   "best_epoch": result.best_epoch, "interrupted": result.interrupted, "rejected": result.rejected,
                   "name": out_path.stem, "summary": training_summary(card) if card is not None else []}


def start_training_job(data_root: Path, out_path: Path, options: dict[str, Any]) -> TrainJob:
    """Start training ``out_path`` from ``data_root`` in a background thread (one per session); returns the job."""
    job = TrainJob(name=out_path.stem, options=options)
    job.thread = threading.Thread(target=_work, args=(job, data_root, out_path), daemon=True,
                                  name="cam-inspector-train-job")
    st.session_state[TRAIN_JOB] = job
    job.thread.start()
    return job


def training_job() -> TrainJob | None:
    """This session's training job, running or ended but not yet shown."""
    job = st.session_state.get(TRAIN_JOB)
    return job if isinstance(job, TrainJob) else None
