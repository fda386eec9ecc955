"""The Models page's glue: checkpoint uploads into the user models folder, training ZIPs, a training run.

Training runs inside the page's script run (blocking this session only): the progress events of
:func:`cam_core.training.train_model` drive a progress bar, a status line and two charts.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from app_ui.errors import error_line
from app_ui.inputs import digest_of, unpack_zip
from cam_core import CamInspectorError, InputError, ModelError, list_models
from cam_core.checkpoints import MODEL_SUFFIXES, user_models_dir
from cam_core.files import atomic_path
from cam_core.models import open_model
from cam_core.progress import Progress

TRAIN_DATA = "models_train_data"      # session: extracted ZIP (digest, folder, summary, notes)
TRAIN_RESULT = "models_train_result"  # session: last training run (history, path, best epoch)
HISTORY_KEYS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "val_auroc")


MODEL_FILE_TYPES = MODEL_SUFFIXES   # what the Models page accepts as a ready model: what the registry lists


def target_path(name: str, suffix: str = ".safetensors") -> Path:
    """``user_models_dir()/<safe name><suffix>`` (path separators become ``_``, never a sub-folder)."""
    from cam_core.data import sanitize_filename

    name = name.strip().replace("/", " ").replace("\\", " ")
    for known in MODEL_FILE_TYPES:
        if name.lower().endswith(known):
            name = name[: -len(known)]
    stem = sanitize_filename(name.replace(".", "_"), default="model").strip("_") or "model"
    return user_models_dir() / f"{stem}{suffix}"


def add_checkpoint(data: bytes, upload_name: str, wanted_name: str) -> Path:
    """Validate an uploaded model (safetensors with its card, or ONNX; no pickle) and move it into the user
    models dir. An ONNX file is accepted only when its graph passes the CAM checks (cam_core.interop)."""
    suffix = Path(upload_name).suffix.lower()
    if suffix not in MODEL_FILE_TYPES:
        raise InputError(f"only {' and '.join(MODEL_FILE_TYPES)} files are accepted here")
    target = target_path(wanted_name or Path(upload_name).stem, suffix)
    if target.stem in list_models():
        raise InputError(f"a model called '{target.stem}' already exists; choose another name")
    folder = user_models_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelError(f"cannot create the models folder {folder} ({exc}); set CAM_INSPECTOR_MODELS") from None
    with atomic_path(target) as tmp:               # the model appears only once it is known to load
        tmp.write_bytes(data)
        card = open_model(tmp, device="cpu").card  # card first, then weights fit its architecture / a CAM graph
    if suffix == ".safetensors":                   # an ONNX file carries its card in its metadata
        target.with_suffix(".json").write_text(json.dumps(card.to_dict(), indent=2) + "\n")
    return target


def show_run_summary(container: Any, lines: list[str]) -> None:
    """How good the last run's model is (:func:`cam_core.training.summary.training_summary`): flags and a too-small
    validation set as warnings, the rest as captions."""
    for line in lines:
        if line.startswith("FLAG: ") or "too small" in line:
            container.warning(line.removeprefix("FLAG: "), icon=":material/flag:")
        else:
            container.caption(line)


def forget_train_data() -> None:
    old = st.session_state.pop(TRAIN_DATA, None)
    if old:
        shutil.rmtree(old["folder"], ignore_errors=True)


def prepare_data(upload: Any) -> dict[str, Any] | None:
    """Extract the uploaded ZIP once (by content) and summarise its class folders; ``None`` (and an error
    line) for a bad ZIP."""
    from cam_core.data import find_class_folders

    data = upload.getvalue()
    digest = digest_of(data)
    kept = st.session_state.get(TRAIN_DATA)
    if kept and kept["digest"] == digest and Path(kept["folder"]).is_dir():
        return kept
    forget_train_data()
    try:
        folder, summary, notes = unpack_zip(data, "train", find_class_folders)
    except CamInspectorError as exc:
        st.error(error_line(upload.name, exc))
        return None
    kept = {"digest": digest, "folder": str(folder), "summary": summary, "notes": notes + list(summary.skipped)}
    st.session_state[TRAIN_DATA] = kept
    return kept


def history_charts(history: list[dict[str, Any]], loss_slot: Any, acc_slot: Any) -> None:
    """Loss and accuracy/AUROC per epoch, as two line charts."""
    if not history:
        return
    frame = pd.DataFrame(history).set_index("epoch")
    loss_slot.line_chart(frame[[c for c in ("train_loss", "val_loss") if c in frame]], x_label="epoch",
                         y_label="loss")
    acc_slot.line_chart(frame[[c for c in ("train_acc", "val_acc", "val_auroc") if c in frame]], x_label="epoch",
                        y_label="accuracy / AUROC")


@dataclass
class TrainingView:
    """Where a running training shows itself: progress bar, status line, loss and accuracy charts."""

    bar: Any
    status: Any
    loss_chart: Any
    acc_chart: Any
    history: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    @classmethod
    def draw(cls, where: Any) -> TrainingView:
        bar = where.progress(0.0, text="Starting…")
        status = where.empty()
        loss_slot, acc_slot = where.columns(2)
        return cls(bar, status, loss_slot.empty(), acc_slot.empty())

    def __call__(self, event: Progress) -> None:
        """One :mod:`cam_core.training.events` event: a status line, the bar (steps done of the whole run), a chart
        point per epoch."""
        if event.stage == "message":
            self.status.caption(event.message)
        elif event.stage == "loading":
            self.bar.progress(0.0, text=event.text())
        elif event.stage == "batch":
            self.bar.progress(event.fraction or 0.0, text=event.text())
        elif event.stage == "epoch":
            self.history.append({k: event.fields[k] for k in HISTORY_KEYS if k in event.fields})
            history_charts(self.history, self.loss_chart, self.acc_chart)
        elif event.stage == "done":
            self.bar.progress(1.0, text="Done")


def default_resize() -> str:
    """The image shape training uses unless told otherwise (:class:`~cam_core.training.TrainConfig`'s)."""
    from cam_core.training import TrainConfig

    return str(TrainConfig.__dataclass_fields__["resize"].default)


def _command_line(options: Mapping[str, Any]) -> str:
    return (f"CAM Inspector app, Models page: arch={options['arch']} epochs={options['epochs']} "
            f"image_size={options['image_size']} batch_size={options['batch_size']} "
            f"pretrained={options['pretrained']} seed={options['seed']} resize={options['resize']} "
            f"map_stride={options['map_stride']}"
            + (f" teacher={options['teacher']} temperature={options['temperature']:g} alpha={options['alpha']:g}"
               if options.get("teacher") else ""))


def run_training(data_root: Path, out_path: Path, options: dict[str, Any], where: Any = None) -> None:
    """Train in this script run; progress events drive the progress bar, the status line and the charts
    (drawn in ``where``, the top of the Train tab). The outcome is kept in session state (:data:`TRAIN_RESULT`)."""
    from cam_core.training import TrainConfig, scan_dataset, train_model
    from cam_core.training.distill import DistillSettings
    from cam_core.training.summary import training_summary

    distill = (DistillSettings(teacher=options["teacher"], temperature=options["temperature"], alpha=options["alpha"])
               if options.get("teacher") else None)
    config = TrainConfig(arch=options["arch"], epochs=options["epochs"], image_size=options["image_size"],
                         batch_size=options["batch_size"], pretrained=options["pretrained"],
                         seed=options["seed"], resize=options["resize"], map_stride=options["map_stride"],
                         distill=distill)
    where = where if where is not None else st.container()
    where.info(f"Training **{out_path.stem}** ({options['arch']}, {options['epochs']} epochs). Leaving this page or "
               "changing a setting stops the run; the best epoch so far is then kept, marked interrupted.")
    view = TrainingView.draw(where)
    deadline = time.monotonic() + options["minutes"] * 60
    data = dataclasses.replace(scan_dataset(data_root), source=f"{options['zip_name']} (uploaded on the Models page)")
    result = train_model(data, out_path, config, progress=view, should_stop=lambda: time.monotonic() > deadline,
                         command_line=_command_line(options))
    st.session_state[TRAIN_RESULT] = {"history": view.history,
                                      "path": None if result.path is None else str(result.path),
                                      "best_epoch": result.best_epoch, "interrupted": result.interrupted,
                                      "rejected": result.rejected, "name": out_path.stem,
                                      "summary": training_summary(result.model_card) if result.model_card else []}
