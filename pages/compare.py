"""Compare networks: one image through 2–4 models side by side, with verdicts, grids and latency; and a
table of scores (accuracy, AUROC, pointing game, energy in the mask) on an uploaded labelled set."""

from __future__ import annotations

import functools
from typing import Any

import pandas as pd
import streamlit as st

import app_ui as ui
from cam_core import CamInspectorError
from cam_core.explain import shown_classes, verdict_of

SCORES = "compare_scores"    # session: the last ui.NetworkScores


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


def network_column(column: Any, model: str, method: ui.MapMethod, item: ui.InputImage, view: ui.ViewSettings,
                   narrow_ok: bool) -> None:
    """One network's name, verdict, architecture, grid, latency and OK/NG overlays."""
    explainer = ui.get_explainer(model, method)
    bundle = explainer.bundle
    explanation, latency = ui.timed_explanation(model, method, item)
    verdict = verdict_of(explanation)
    h, w = explanation.map_size
    column.subheader(model)
    ui.show_verdict(column, verdict, small=True, trained_on=bundle.trained_on, domain=explanation.domain)
    ng = "" if verdict.positive_probability is None else f" · P(NG) {verdict.positive_probability:.1%}"
    in_h, in_w = bundle.input_size_for(item.image)
    column.caption(f"architecture **{bundle.arch}** · grid **{h}×{w}** · input {in_h}×{in_w} "
                   f"· latency **{latency:.0f} ms**{ng}")
    classes = shown_classes(explanation)
    jpegs, scale = ui.render_maps(explanation, ui.display_copy(item), classes, view)
    # Two networks: OK | NG side by side inside each column; more: stacked (columns get narrow).
    cells = column.columns(len(classes)) if narrow_ok else [column] * len(classes)
    for cell, c in zip(cells, classes):
        cell.image(jpegs[c], width="stretch", output_format="JPEG",
                   caption=ui.map_caption(explanation, c, scale, view.mode))


def one_image(models: list[str], method: ui.MapMethod, view: ui.ViewSettings) -> None:
    """Every network on one image, side by side."""
    item = pick_image()
    if item is None:
        st.info("Upload an image or pick a built-in sample to compare the networks on it.")
        return
    st.image(ui.display_copy(item), caption=item.name, width=240)
    synthetic = [b for b in (ui.get_explainer(m, method).bundle for m in models) if b.card.synthetic_only]
    if synthetic:
        ui.synthetic_model_hint(st, synthetic[0], ui.own_input_names([item]))
    columns = st.columns(len(models))
    for column, model in zip(columns, models):
        with column:
            ui.run_guarded(functools.partial(network_column, column, model, method, item, view, len(models) <= 2))
    st.caption("Latency: one explain call on this server (preprocessing, forward pass and maps; measured the "
               "first time each network sees this image, after the network was loaded and warmed up).")


def scores_table(result: ui.NetworkScores) -> None:
    for line in result.errors:
        st.error(line)
    if not result.rows:
        return
    frame = pd.DataFrame(result.rows, columns=list(ui.SCORE_COLUMNS))
    st.dataframe(frame, hide_index=True, width="stretch", column_config={
        "ms/image": st.column_config.NumberColumn(format="%.1f ms"),
        "accuracy": st.column_config.NumberColumn(format="percent"),
        "AUROC": st.column_config.NumberColumn(format="%.3f"),
        "pointing game": st.column_config.NumberColumn(format="percent"),
        "pointing chance": st.column_config.NumberColumn(format="percent"),
        "pointing on NG calls": st.column_config.NumberColumn(format="percent"),
        "energy in mask ÷ mask share": st.column_config.NumberColumn(format="%.2f×"),
        "deletion area": st.column_config.NumberColumn(format="%.3f"),
        "deletion, random order": st.column_config.NumberColumn(format="%.3f"),
    })
    ui.score_flags(st, result.rows)
    capped = (f"the first {result.scored} of {result.total} images (classes taken in turn; at most "
              f"{ui.SCORE_LIMIT} are scored)" if result.total > result.scored else f"all {result.scored} images")
    localized = sorted(set(result.localized.values()))
    where = (f"{localized[0]} NG image(s) with a mask" if len(localized) == 1
             else "the NG images with a mask") if any(localized) else None
    st.caption(f"Scored on {capped}. ms/image: explain time per image in batches of 16 (forward pass and maps). "
               "Accuracy: argmax verdict; AUROC of P(NG). "
               + (f"Pointing game and energy over {where}: share of NG maps whose peak lies within "
                  "15·max(W, H)/224 px of the defect, and the share of the NG map's positive evidence inside "
                  "the mask divided by the mask's area share (1× = chance, higher = concentrated on the defect). "
                  "Pointing on NG calls: the pointing game over the defective images the network called NG."
                  if where else "No masks matched (masks/<image stem>.png): pointing and energy are empty.")
               + " Deletion area (no masks needed): blur the cells with the most NG evidence first and take the "
                 "area under P(NG), over the first NG images; lower = the map shows what the network uses. "
                 "Beside it the same for a random cell order.")


def labelled_set_scores(models: list[str], method: ui.MapMethod) -> None:
    """Upload a labelled ZIP, score every selected network on it, show one table."""
    st.write("Upload a ZIP with `ok/` and `ng/` image folders and, optionally, `masks/` (a defect mask per NG "
             "image, named like it: `masks/part7.png` for `ng/part7.jpg`), e.g. a folder written by "
             "`python -m cam_core synth`. Each selected network classifies the images and, where there is a "
             "mask, its NG map is checked against the defect.")
    upload = st.file_uploader("Labelled set (ZIP)", type=["zip"], key="compare_set_zip")
    if upload is None:
        st.caption(ui.STALE_UPLOAD_HINT)
        return
    try:
        labelled = ui.labelled_set(upload)
    except CamInspectorError as exc:
        st.error(ui.error_line(upload.name, exc))
        return
    counts = ", ".join(f"{name}: {n}" for name, n in labelled.counts.items())
    st.caption(f"{labelled.name}: {counts} images · {labelled.masks} mask(s)"
               + (f" · only the first {ui.SCORE_LIMIT} images are scored" if labelled.total > ui.SCORE_LIMIT else ""))
    for note in labelled.notes:
        st.caption(f"Note: {note}")
    key = ui.scores_key(labelled, models, method)
    if st.button("Score networks on this set", key="compare_score_go", type="primary"):
        bar = st.progress(0.0, text="Starting…")
        def progress(fraction: float, text: str) -> None:
            bar.progress(min(max(fraction, 0.0), 1.0), text=text)

        st.session_state[SCORES] = ui.score_networks(labelled, models, method, progress=progress)
        bar.empty()
    scores = st.session_state.get(SCORES)
    if isinstance(scores, ui.NetworkScores) and scores.key == key:
        scores_table(scores)


def page() -> None:
    ui.page_title("Compare networks")
    names = ui.model_names()
    if not names:
        st.warning(ui.NO_MODELS_MESSAGE)
        return
    current = [n for n in st.session_state.get("cfg_compare_models", []) if n in names]
    if not current:
        shipped = ui.shipped_model_names()
        current = shipped[:4] if len(shipped) >= 2 else names[:2]
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
    image_tab, set_tab = st.tabs(["One image", "Score on a labelled set"])
    with image_tab:
        one_image(models, method, view)
    with set_tab:
        ui.run_guarded(lambda: labelled_set_scores(models, method))


ui.init_state()
ui.page_menu()
ui.run_guarded(page)
