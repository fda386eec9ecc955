"""Models: every network with its card; add a .safetensors checkpoint; train a new model from a ZIP.

Training runs inside this page's script run (blocking this session only): the progress bar and
the charts are updated from the training callback. Other sessions keep working (they share the
CPU). A time limit stops training early and keeps the best model so far. Navigating away or
reloading the page while it trains interrupts the run.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

import app_ui as ui
from cam_core import CamInspectorError, InputError, ModelError, list_models
from cam_core.checkpoints.bundle import (
    SHIPPED_MODELS_DIR,
    defect_class_index,
    load_checkpoint,
    read_card,
    user_models_dir,
)
from cam_core.engine.architectures import KNOWN_ARCHITECTURES, map_stride_supported
from cam_core.report.html import card_summary
from cam_core.scratch import make_scratch_root

TRAIN_DATA = "models_train_data"    # session: extracted ZIP (digest, folder, summary, notes)
TRAIN_RESULT = "models_train_result"  # session: last training run (history, path, best epoch)
TRAIN_PENDING = "models_train_pending"  # session: the run to start in this script run (set by the Train button)
ADDED = "models_added"               # session: message about the last added checkpoint


# --------------------------------------------------------------------------- list


def model_cards() -> None:
    models = list_models()
    st.caption(f"Shipped models: `{SHIPPED_MODELS_DIR}` · your models: `{user_models_dir()}` "
               "(set `CAM_INSPECTOR_MODELS` to move it).")
    if not models:
        st.warning(ui.NO_MODELS_MESSAGE)
        return
    for name, path in models.items():
        origin = "shipped" if path.parent.resolve() == SHIPPED_MODELS_DIR.resolve() else "user"
        try:
            card = read_card(path)
        except CamInspectorError as exc:
            st.error(f"{name} ({origin}) cannot be used: {exc}")
            continue
        with st.expander(f"**{name}** · {card.get('arch', '?')} · {', '.join(card.get('classes', []))} · {origin}"):
            table = pd.DataFrame(card_summary(card), columns=["field", "value"])
            st.dataframe(table, hide_index=True, width="stretch")
            st.caption(f"File: `{path}` · {path.stat().st_size / 1024**2:.1f} MB")


# --------------------------------------------------------------------------- add a checkpoint


def _target_path(name: str) -> Path:
    """``user_models_dir()/<safe name>.safetensors`` (path separators become ``_``, never a sub-folder)."""
    from cam_core.data.imaging import sanitize_filename

    name = name.strip().replace("/", " ").replace("\\", " ")
    if name.lower().endswith(".safetensors"):
        name = name[: -len(".safetensors")]
    stem = sanitize_filename(name.replace(".", "_"), default="model").strip("_") or "model"
    return user_models_dir() / f"{stem}.safetensors"


def add_checkpoint(data: bytes, upload_name: str, wanted_name: str) -> Path:
    """Validate an uploaded checkpoint (card + weights, no pickle) and move it into the user models dir."""
    target = _target_path(wanted_name or Path(upload_name).stem)
    if target.stem in list_models():
        raise InputError(f"a model called '{target.stem}' already exists; choose another name")
    folder = user_models_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelError(f"cannot create the models folder {folder} ({exc}); set CAM_INSPECTOR_MODELS") from None
    handle, tmp_name = tempfile.mkstemp(prefix=".upload-", suffix=".safetensors", dir=folder)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        card = read_card(tmp)                      # header only: card present and valid
        load_checkpoint(tmp, device="cpu")         # weights fit the card's architecture
        os.replace(tmp, target)
        target.with_suffix(".json").write_text(json.dumps(card, indent=2) + "\n")
    finally:
        tmp.unlink(missing_ok=True)
    return target


def upload_section() -> None:
    st.write("Upload a `.safetensors` checkpoint written by CAM Inspector (it carries its model card). "
             "Pickle-based files (`.pt`, `.pth`, `.ckpt`, `.bin`) are refused: loading them can run code.")
    message = st.session_state.pop(ADDED, None)
    if message:
        st.success(message)
    upload = st.file_uploader("Checkpoint file", key="models_upload")
    if upload is None:
        return
    if Path(upload.name).suffix.lower() != ".safetensors":
        st.error(f"{upload.name}: only .safetensors checkpoints are accepted. Re-export the weights with "
                 "safetensors (or train the model here / with `python -m cam_core train`).")
        return
    name = st.text_input("Save as (model name)", value=Path(upload.name).stem, key="models_upload_name")
    if st.button("Add model", key="models_add", type="primary"):
        try:
            path = add_checkpoint(upload.getvalue(), upload.name, name)
        except CamInspectorError as exc:
            st.error(ui.error_line(upload.name, exc))
            return
        st.session_state[ADDED] = f"Added **{path.stem}**: it is now available in every network picker."
        st.rerun()


# --------------------------------------------------------------------------- train


@st.cache_resource
def _scratch_root() -> Path:
    """One folder per server process for extracted training ZIPs, removed when the process exits."""
    root = make_scratch_root("train")
    return root


def _forget_train_data() -> None:
    old = st.session_state.pop(TRAIN_DATA, None)
    if old:
        shutil.rmtree(old["folder"], ignore_errors=True)


def prepare_data(upload: Any) -> dict[str, Any] | None:
    """Extract the uploaded ZIP once (by content) and summarise its class folders."""
    from cam_core.data.archives import find_class_folders, safe_extract_zip

    data = upload.getvalue()
    digest = ui.digest_of(data)
    kept = st.session_state.get(TRAIN_DATA)
    if kept and kept["digest"] == digest and Path(kept["folder"]).is_dir():
        return kept
    _forget_train_data()
    scratch = _scratch_root()
    scratch.mkdir(parents=True, exist_ok=True)  # in case a temp cleaner removed it
    folder = Path(tempfile.mkdtemp(prefix="zip-", dir=scratch))
    notes: list[str] = []
    try:
        root = safe_extract_zip(data, folder / "data", notes=notes)
        summary = find_class_folders(root)
    except CamInspectorError as exc:
        shutil.rmtree(folder, ignore_errors=True)
        st.error(ui.error_line(upload.name, exc))
        return None
    kept = {"digest": digest, "folder": str(folder), "summary": summary, "notes": notes + list(summary.skipped)}
    st.session_state[TRAIN_DATA] = kept
    return kept


def history_charts(history: list[dict[str, Any]], loss_slot: Any, acc_slot: Any) -> None:
    if not history:
        return
    frame = pd.DataFrame(history).set_index("epoch")
    loss_slot.line_chart(frame[[c for c in ("train_loss", "val_loss") if c in frame]], x_label="epoch",
                         y_label="loss")
    acc_slot.line_chart(frame[[c for c in ("train_acc", "val_acc", "val_auroc") if c in frame]], x_label="epoch",
                        y_label="accuracy / AUROC")


def run_training(data_root: Path, out_path: Path, options: dict[str, Any], where: Any = None) -> None:
    """Train in this script run; progress events drive the progress bar, the status line and the charts
    (drawn in ``where``, the top of the Train tab)."""
    from cam_core.training.core import TrainConfig, scan_dataset, train_model

    config = TrainConfig(arch=options["arch"], epochs=options["epochs"], image_size=options["image_size"],
                         batch_size=options["batch_size"], pretrained=options["pretrained"],
                         seed=options["seed"], resize=options["resize"], map_stride=options["map_stride"])
    epochs = options["epochs"]
    where = where if where is not None else st.container()
    where.info(f"Training **{out_path.stem}** ({options['arch']}, {epochs} epochs). Leaving this page or "
               "changing a setting stops the run; the best epoch so far is then kept, marked interrupted.")
    bar = where.progress(0.0, text="Starting…")
    status = where.empty()
    loss_slot, acc_slot = where.columns(2)
    loss_chart, acc_chart = loss_slot.empty(), acc_slot.empty()
    history: list[dict[str, Any]] = []
    deadline = time.monotonic() + options["minutes"] * 60

    def progress(event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == "message":
            status.caption(str(event.get("text", "")))
        elif kind == "loading":
            total = max(1, int(event.get("total", 1)))
            bar.progress(0.0, text=f"Reading {event.get('what', 'images')}: {event.get('done', 0)}/{total}")
        elif kind == "batch":
            epoch, step, steps = int(event["epoch"]), int(event["step"]), max(1, int(event["steps"]))
            done = (max(epoch, 1) - 1 + step / steps) / max(epochs, 1)
            bar.progress(min(max(done, 0.0), 1.0),
                         text=f"epoch {epoch}/{epochs} · step {step}/{steps} · loss {event['loss']:.4f} · "
                              f"acc {event['acc']:.3f} · {event.get('images_per_s', 0):.0f} images/s")
        elif kind == "epoch":
            history.append({k: event[k] for k in ("epoch", "train_loss", "train_acc", "val_loss", "val_acc",
                                                  "val_auroc") if k in event})
            history_charts(history, loss_chart, acc_chart)
        elif kind == "done":
            bar.progress(1.0, text="Done")

    command = (f"CAM Inspector app, Models page: arch={options['arch']} epochs={epochs} "
               f"image_size={options['image_size']} batch_size={options['batch_size']} "
               f"pretrained={options['pretrained']} seed={options['seed']} resize={options['resize']} "
               f"map_stride={options['map_stride']}")
    data = dataclasses.replace(scan_dataset(data_root), source=f"{options['zip_name']} (uploaded on the Models page)")
    result = train_model(data, out_path, config, progress=progress,
                         should_stop=lambda: time.monotonic() > deadline, command_line=command)
    st.session_state[TRAIN_RESULT] = {"history": history, "path": None if result.path is None else str(result.path),
                                      "best_epoch": result.best_epoch, "interrupted": result.interrupted,
                                      "rejected": result.rejected, "name": out_path.stem}


def show_last_run(last: dict[str, Any]) -> None:
    """The outcome of the last run: saved (green) only when it finished and learned something."""
    name = last.get("name") or (Path(last["path"]).stem if last.get("path") else "?")
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


def train_section() -> None:
    st.write("Upload a ZIP with one folder per class, e.g. `ok/` and `ng/` (sub-folders are fine). "
             "Training runs on this server while the page waits; a small SqueezeNet on a few hundred "
             "images takes minutes on a CPU.")
    top = st.container()            # a running run shows its progress here, above the form
    pending = st.session_state.get(TRAIN_PENDING)
    upload = st.file_uploader("Training data (ZIP)", type=["zip"], key="models_train_zip",
                              disabled=pending is not None)
    if upload is None:
        st.caption(ui.STALE_UPLOAD_HINT)
    last = st.session_state.get(TRAIN_RESULT) if pending is None else None
    if upload is None and pending is None:
        _forget_train_data()
    if last:
        show_last_run(last)
        loss_slot, acc_slot = st.columns(2)
        history_charts(last["history"], loss_slot, acc_slot)
    prepared = prepare_data(upload) if upload is not None else None
    if prepared is None:
        if pending is not None:
            _run_pending(pending, top)
        return
    summary = prepared["summary"]
    counts = pd.DataFrame({"class": list(summary.counts), "images": list(summary.counts.values())})
    st.dataframe(counts, hide_index=True)
    for note in prepared["notes"]:
        st.caption(f"Note: {note}")
    if defect_class_index(summary.classes) is None:
        st.warning("No `ng` (defect) folder was found; the model will still be trained on the classes above, but "
                   "verdict colours and 'NG probability' need a class called `ng`.")
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
    pretrained = c5.selectbox("Start from", ["auto", "imagenet", "none"], key="train_pretrained",
                              help="auto: ImageNet weights when this machine has them (Lite0: always, from its "
                                   "package; others: the local torch cache), else random. Nothing is downloaded.")
    minutes = float(c6.number_input("Time limit (minutes)", 1, 24 * 60, 60, key="train_minutes"))
    shapes = {"aspect": "Keep each image's aspect ratio", "square": "Squash every image to a square"}
    from cam_core.training.core import TrainConfig

    default_resize = TrainConfig.__dataclass_fields__["resize"].default
    resize = st.radio("Image shape", list(shapes), index=list(shapes).index(default_resize),
                      format_func=shapes.__getitem__, horizontal=True, key="train_resize",
                      help="Keeping the aspect ratio feeds about the same number of pixels without squashing "
                           "long or tall parts; the model card records the choice and explaining follows it.")
    map_stride = 32
    if map_stride_supported(arch, 16):
        fine = st.checkbox("Finer map: last stage at stride 16 (14×14 instead of 7×7 at 224 px)", key="train_fine",
                           help="Twice the map resolution per side for small defects; training and explaining "
                                "cost more.")
        map_stride = 16 if fine else 32
    name = st.text_input("Model name", value=f"{arch}-custom", key="train_name")
    out_path = _target_path(name)
    exists = out_path.stem in list_models()
    if exists:
        st.warning(f"A model called '{out_path.stem}' already exists; choose another name.")
    if st.button("Train", type="primary", disabled=exists or pending is not None, key="train_go"):
        options = {"arch": arch, "epochs": epochs, "image_size": int(image_size), "batch_size": batch_size,
                   "pretrained": pretrained, "seed": 0, "minutes": minutes, "zip_name": upload.name,
                   "resize": resize, "map_stride": map_stride}
        # Rerun first, so the run itself draws a disabled Train button and its progress at the top.
        st.session_state[TRAIN_PENDING] = {"root": str(summary.root), "out": str(out_path), "options": options}
        st.rerun()
    if pending is not None:
        _run_pending(pending, top)


def _run_pending(pending: dict[str, Any], top: Any) -> None:
    """Run the training the Train button asked for, then rerun to show its outcome."""
    try:
        run_training(Path(pending["root"]), Path(pending["out"]), pending["options"], top)
    finally:
        st.session_state.pop(TRAIN_PENDING, None)
    st.rerun()


def page() -> None:
    st.title("Models")
    cards, add, train = st.tabs(["Available models", "Add a checkpoint", "Train a new model"])
    with cards:
        ui.run_guarded(model_cards)
    with add:
        ui.run_guarded(upload_section)
    with train:
        ui.run_guarded(train_section)


ui.init_state()
ui.page_menu()
ui.run_guarded(page)
