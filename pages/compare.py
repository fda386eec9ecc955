"""Compare networks: one image through 2–4 models side by side, with verdicts, grids and latency."""

from __future__ import annotations

import streamlit as st

import app_ui as ui
from cam_core.report import shown_classes, verdict_of

TIMINGS = "compare_timings"  # session: (model key, method, digest) → (explanation, latency ms)


def pick_image() -> ui.InputImage | None:
    """An upload, a built-in sample, or the image last shown on the Explain page."""
    left, right = st.columns(2)
    upload = left.file_uploader("Upload a part image", type=ui.IMAGE_TYPES, key="compare_upload")
    samples = ui.sample_picker(key="compare_sample", multiple=False, container=right)
    if upload is not None:
        items, errors = ui.load_uploads([upload])
        for line in errors:
            st.error(line)
        if items:
            return items[0]
    if samples:
        return samples[0]
    kept = ui.last_batch()
    if kept is not None and kept.items:
        item = kept.items[min(kept.selected, len(kept.items) - 1)]
        st.caption(f"Using {item.name}, the image last shown on the Explain page.")
        return item
    return None


def explain_timed(model: str, method: str, item: ui.InputImage):
    """Explanation and latency of one network (measured once per model file, method and image)."""
    ref = ui.model_ref(model)
    cache: dict = st.session_state.setdefault(TIMINGS, {})
    key = (ref.key, method, item.digest)
    if key not in cache:
        explainer = ui.get_explainer(model, method)
        cache[key] = ui.timed_explain(explainer, item.image)
    return cache[key]


def network_column(column, model: str, method: str, item: ui.InputImage, view: ui.ViewSettings,
                   narrow_ok: bool) -> None:
    """One network's name, verdict, architecture, grid, latency and OK/NG overlays."""
    explainer = ui.get_explainer(model, method)
    bundle = explainer.bundle
    explanation, latency = explain_timed(model, method, item)
    verdict = verdict_of(explanation)
    h, w = explanation.map_size
    column.subheader(model)
    ui.show_verdict(column, verdict, small=True)
    ng = "" if verdict.positive_probability is None else f" · P(NG) {verdict.positive_probability:.1%}"
    column.caption(f"architecture **{bundle.arch}** · grid **{h}×{w}** · input {bundle.input_size[0]}×"
                   f"{bundle.input_size[1]} · latency **{latency:.0f} ms**{ng}")
    classes = shown_classes(explanation)
    jpegs, scale = ui.render_maps(explanation, ui.display_copy(item), classes, view)
    # Two networks: OK | NG side by side inside each column; more: stacked (columns get narrow).
    cells = column.columns(len(classes)) if narrow_ok else [column] * len(classes)
    for cell, c in zip(cells, classes):
        cell.image(jpegs[c], width="stretch", output_format="JPEG",
                   caption=ui.map_caption(explanation.classes[c].upper(), explanation.map_of(c), scale, view.mode))


def page() -> None:
    st.title("Compare networks")
    names = ui.model_names()
    if not names:
        st.warning(ui.NO_MODELS_MESSAGE)
        return
    current = [n for n in st.session_state.get("cfg_compare_models", []) if n in names]
    if not current:
        current = names[:2]
    st.session_state["cfg_compare_models"] = current
    models = st.multiselect("Networks (2–4)", names, key="cfg_compare_models", max_selections=4,
                            help="Each network explains the same image with the same method and colour settings.")
    method = ui.method_picker(st.sidebar)
    view = ui.view_controls(st.sidebar)  # shared / per-map: networks' raw ranges differ, so no fixed scale
    if len(names) < 2:
        st.info("Only one network is available; train or upload another on the Models page to compare.")
    if not models:
        st.info("Pick at least one network.")
        return
    item = pick_image()
    if item is None:
        st.info("Upload an image or pick a built-in sample to compare the networks on it.")
        return
    st.image(ui.display_copy(item), caption=item.name, width=240)
    columns = st.columns(len(models))
    for column, model in zip(columns, models):
        with column:
            ui.run_guarded(lambda column=column, model=model: network_column(column, model, method, item, view,
                                                                              len(models) <= 2))
    st.caption("Latency: one explain call on this server (preprocessing, forward pass and maps; measured the "
               "first time each network sees this image, after the network was loaded and warmed up).")


ui.init_state()
ui.run_guarded(page)
