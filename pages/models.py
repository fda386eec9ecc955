"""Models: every network with its card; add a .safetensors checkpoint; train a new model from a ZIP.

Training is a background job of the session (:mod:`app_ui.training_jobs`): it goes on when the user leaves
the page, the page shows its progress and charts on return, and Cancel (or the time limit) stops it, keeping
the best epoch so far, marked interrupted. Other sessions keep working (they share the CPU).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

import app_ui as ui
from app_ui.import_model import import_section
from app_ui.training_jobs import TRAIN_JOB, TrainJob, start_training_job, training_job
from cam_core import CamInspectorError, list_models
from cam_core.checkpoints import (
    defect_class_index,
    defect_names_text,
    shipped_models_dir,
    user_models_dir,
)
from cam_core.engine.names import KNOWN_ARCHITECTURES, map_stride_supported
from cam_core.options import Pretrained, Resize, choices
from cam_core.report import card_summary

ADDED = "models_added"               # session: message about the last added checkpoint
SHAPES = {Resize.ASPECT.value: "Keep each image's aspect ratio", Resize.SQUARE.value: "Squash every image to a square"}


# --------------------------------------------------------------------------- list


def model_cards() -> None:
    models = list_models()
    st.caption(f"Shipped models: `{shipped_models_dir()}` · your models: `{user_models_dir()}` "
               "(set `CAM_INSPECTOR_MODELS` to move it).")
    if not models:
        st.warning(ui.NO_MODELS_MESSAGE)
        return
    for name, path in models.items():
        origin = "shipped" if path.parent.resolve() == shipped_models_dir().resolve() else "user"
        try:
            ref = ui.model_ref(name)
            card = ui.model_card(ref)     # read once per file version, not on every rerun of this page
        except CamInspectorError as exc:
            st.error(f"{name} ({origin}) cannot be used: {exc}")
            continue
        with st.expander(ui.model_card_label(name, card, origin)):
            table = pd.DataFrame(card_summary(card), columns=["field", "value"])
            st.dataframe(table, hide_index=True, width="stretch")
            st.caption(f"File: `{path}` · {ref.size / 1024**2:.1f} MB")


# --------------------------------------------------------------------------- add a checkpoint


def upload_section() -> None:
    st.write("Upload a `.safetensors` checkpoint written by CAM Inspector (it carries its model card), or an "
             "`.onnx` classifier that ends in global average pooling and a linear layer (explained with CAM). "
             "Pickle-based files (`.pt`, `.pth`, `.ckpt`, `.bin`) are refused here: loading them can run code. "
             "Import those on the **Import a PyTorch model** tab (read by a limited separate process).")
    message = st.session_state.pop(ADDED, None)
    if message:
        st.success(message)
    upload = st.file_uploader("Checkpoint file", key="models_upload")
    if upload is None:
        return
    if Path(upload.name).suffix.lower() not in ui.MODEL_FILE_TYPES:
        st.error(f"{upload.name}: only .safetensors checkpoints and .onnx models are accepted here. Import "
                 "PyTorch files on the Import tab (or train a model here / with `python -m cam_core train`).")
        return
    name = st.text_input("Save as (model name)", value=Path(upload.name).stem, key="models_upload_name")
    if st.button("Add model", key="models_add", type="primary"):
        try:
            path = ui.add_checkpoint(upload.getvalue(), upload.name, name)
        except CamInspectorError as exc:
            st.error(ui.error_line(upload.name, exc))
            return
        st.session_state[ADDED] = f"Added **{path.stem}**: it is now available in every network picker."
        st.rerun()


# --------------------------------------------------------------------------- train


def show_last_run(last: dict[str, Any]) -> None:
    """The outcome of the last run: saved (green) only when it finished and learned something."""
    name = last["name"]
    if last.get("rejected"):
        st.error(f"Last training run: **{name}** {last['rejected']}.")
    elif last.get("path") is None:
        st.warning(f"Last training run: **{name}** stopped before its first epoch finished; nothing was saved.")
    elif last.get("interrupted"):
        st.warning(f"Last training run stopped early: saved **{name}** as it was after epoch {last['best_epoch']} "
                   "(its card says interrupted). It is available in every network picker.")
    else:
        st.success(f"Last training run: saved **{name}** (best epoch {last['best_epoch']}); it is available "
                   "in every network picker.")
    ui.show_run_summary(st, last.get("summary", []))


def _collect_finished() -> TrainJob | None:
    """This session's running job; a job that ended becomes the last run's outcome (or its error)."""
    job = training_job()
    if job is not None and job.done:
        st.session_state.pop(TRAIN_JOB, None)
        if job.outcome is not None:
            st.session_state[ui.TRAIN_RESULT] = job.outcome
        elif job.error:
            st.error(f"Training **{job.name}** failed: {job.error}")
        return None
    return job


@st.fragment(run_every=1.0)
def training_progress() -> None:
    """The running job's progress (redrawn every second); when it ends, the whole page shows its outcome."""
    job = training_job()
    if job is None:
        return
    if job.done:
        st.rerun(scope="app")
        return
    st.info(f"Training **{job.name}** on the server: you may leave this page and come back, it goes on. "
            "Cancel keeps the best epoch so far, marked interrupted.")
    st.progress(job.fraction, text=job.text)
    if job.status:
        st.caption(job.status)
    loss_slot, acc_slot = st.columns(2)
    ui.history_charts(job.history, loss_slot, acc_slot)
    st.button("Cancel", key="train_cancel", on_click=job.stop.set,
              help="Stops after the current step; the best epoch so far is saved, marked interrupted.")


def train_section() -> None:
    st.write("Upload a ZIP with one folder per class, e.g. `ok/` and `ng/` (sub-folders are fine). "
             "Training runs on this server in the background; a small SqueezeNet on a few hundred "
             "images takes minutes on a CPU.")
    job = _collect_finished()
    if job is not None:
        training_progress()
    upload = st.file_uploader("Training data (ZIP)", type=["zip"], key="models_train_zip", disabled=job is not None)
    if upload is None:
        st.caption(ui.STALE_UPLOAD_HINT)
        if job is None:
            ui.forget_train_data()
    last = st.session_state.get(ui.TRAIN_RESULT) if job is None else None
    if last:
        show_last_run(last)
        loss_slot, acc_slot = st.columns(2)
        ui.history_charts(last["history"], loss_slot, acc_slot)
    prepared = ui.prepare_data(upload) if upload is not None else None
    if prepared is not None and upload is not None:
        data_summary(prepared)
        train_form(prepared["summary"].root, upload.name, disabled=job is not None)


def data_summary(prepared: dict[str, Any]) -> None:
    """Images per class, the notes on skipped entries, and a warning when there is no defect class."""
    summary = prepared["summary"]
    counts = pd.DataFrame({"class": list(summary.counts), "images": list(summary.counts.values())})
    st.dataframe(counts, hide_index=True)
    for note in prepared["notes"]:
        st.caption(f"Note: {note}")
    if defect_class_index(summary.classes) is None:
        st.warning("No defect folder was found; the model will still be trained on the classes above, but "
                   f"verdict colours and 'NG probability' need a class called {defect_names_text()}.")


def train_options() -> dict[str, Any]:
    """The training settings' widgets: architecture, epochs, size, batch, start, time limit, shape, stride."""
    c1, c2, c3 = st.columns(3)
    arch = c1.selectbox("Architecture", KNOWN_ARCHITECTURES, index=KNOWN_ARCHITECTURES.index("efficientnet_lite0"),
                        key="train_arch", help="efficientnet_lite0 starts from ImageNet weights that ship with the "
                                               "product (offline): the best choice unless you need another network.")
    epochs = int(c2.number_input("Epochs", 1, 200, 10, key="train_epochs",
                                 help="From ImageNet weights (Lite0) about 10 epochs suffice. From scratch, short "
                                      "runs under-fit: on real magnetic tiles 20 epochs gave AUROC 0.70 and 60 "
                                      "epochs 0.85. The time limit below still applies."))
    image_size = c3.select_slider("Image size (px)", [96, 128, 160, 192, 224, 256, 320], value=224,
                                  key="train_size")
    c4, c5, c6 = st.columns(3)
    batch_size = int(c4.number_input("Batch size", 2, 256, 32, key="train_batch"))
    pretrained = c5.selectbox("Start from", choices(Pretrained), key="train_pretrained",
                              help="auto: ImageNet weights when this machine has them (Lite0: always, from its "
                                   "package; others: the local torch cache), else random. Nothing is downloaded.")
    minutes = float(c6.number_input("Time limit (minutes)", 1, 24 * 60, 60, key="train_minutes"))
    resize = st.radio("Image shape", list(SHAPES), index=list(SHAPES).index(ui.default_resize()),
                      format_func=SHAPES.__getitem__, horizontal=True, key="train_resize",
                      help="Keeping the aspect ratio feeds about the same number of pixels without squashing "
                           "long or tall parts; the model card records the choice and explaining follows it.")
    map_stride = 32
    if map_stride_supported(arch, 16):
        fine = st.checkbox("Finer map: last stage at stride 16 (14×14 instead of 7×7 at 224 px)", key="train_fine",
                           help="Twice the map resolution per side for small defects; training and explaining "
                                "cost more.")
        map_stride = 16 if fine else 32
    return {"arch": arch, "epochs": epochs, "image_size": int(image_size), "batch_size": batch_size,
            "pretrained": pretrained, "seed": 0, "minutes": minutes, "resize": resize, "map_stride": map_stride,
            **teacher_options()}


def teacher_options() -> dict[str, Any]:
    """Distillation: a teacher model, its temperature and weight (:mod:`cam_core.training.distill`)."""
    none = "(no teacher)"
    teacher = st.selectbox("Learn from a teacher", [none, *ui.model_names()], key="train_teacher",
                           help="The new model also learns the teacher's probabilities and its NG map (where the "
                                "teacher sees the defect), so an accurate model makes another network good. Images "
                                "in an unlabelled/ folder of the ZIP then learn from the teacher only.")
    if teacher == none:
        return {"teacher": None}
    c1, c2 = st.columns(2)
    temperature = float(c1.number_input("Temperature", 1.0, 20.0, 4.0, key="train_temperature",
                                        help="Softens both networks' probabilities before they are compared."))
    alpha = float(c2.slider("Weight of the teacher's probabilities (vs. the labels)", 0.0, 1.0, 0.5,
                            key="train_alpha"))
    return {"teacher": teacher, "temperature": temperature, "alpha": alpha}


def train_form(data_root: Path, zip_name: str, disabled: bool) -> None:
    """The settings, the model name and the Train button (which asks the next run to train)."""
    options = train_options()
    name = st.text_input("Model name", value=f"{options['arch']}-custom", key="train_name")
    out_path = ui.target_path(name)
    exists = out_path.stem in list_models()
    if exists:
        st.warning(f"A model called '{out_path.stem}' already exists; choose another name.")
    if st.button("Train", type="primary", disabled=exists or disabled, key="train_go"):
        start_training_job(data_root, out_path, {**options, "zip_name": zip_name})
        st.rerun()       # the page now draws the job's progress and a disabled Train button


def page() -> None:
    ui.page_title("Models")
    cards, add, imported, train = st.tabs(["Available models", "Add a checkpoint", "Import a PyTorch model",
                                           "Train a new model"])
    with cards:
        ui.run_guarded(model_cards)
    with add:
        ui.run_guarded(upload_section)
    with imported:
        ui.run_guarded(import_section)
    with train:
        ui.run_guarded(train_section)


ui.init_state()
ui.page_menu()
ui.run_guarded(page)
