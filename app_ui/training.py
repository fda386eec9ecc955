"""The Models page's glue: checkpoint uploads into the user models folder, training ZIPs, the run's charts and
summary (the run itself is a background job: :mod:`app_ui.training_jobs`).
"""

from __future__ import annotations

import json
import shutil
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

TRAIN_DATA = "models_train_data"      # session: extracted ZIP (digest, folder, summary, notes)
TRAIN_RESULT = "models_train_result"  # session: last training run (history, path, best epoch)


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


def default_resize() -> str:
    """The image shape training uses unless told otherwise (:class:`~cam_core.training.TrainConfig`'s)."""
    from cam_core.training import TrainConfig

    return str(TrainConfig.__dataclass_fields__["resize"].default)
