"""Explain (home page): upload parts, get the OK/NG verdict and the class activation maps."""

from __future__ import annotations

import dataclasses

import streamlit as st

import app_ui as ui
from cam_core.explain import mask_class, shown_classes, verdict_of
from cam_core.options import Colormap

THUMB_SIDE = 56


def sidebar_controls() -> tuple[str | None, ui.MapMethod, int | None, ui.ViewSettings, bool]:
    """Network, method, target class and view settings (all kept across pages)."""
    sidebar = st.sidebar
    model = ui.model_picker(sidebar)
    method = ui.method_picker(sidebar, model)
    target: int | None = None
    value_range = None
    if model is not None:
        card = ui.model_card(ui.model_ref(model))    # the file's card: the network itself loads in the background
        value_range = card.value_range
        options = ["predicted", *card.classes]
        if st.session_state.get("cfg_target") not in options:
            st.session_state["cfg_target"] = "predicted"
        two = len(card.classes) == 2
        choice = sidebar.selectbox(
            "Target class", options, key="cfg_target",
            help=("Both maps are shown; the target decides which map the defect outline's pointing result is "
                  "scored on (default: the defect class)." if two else
                  "Which class map to show first (default: the predicted class)."))
        target = None if choice == "predicted" else card.classes.index(choice)
    scale = ui.model_scale_of(model) if model is not None else None
    view = ui.view_controls(sidebar, value_range, overlay=False, scale=scale)   # opacity/colormap: above the maps
    raw_grid = sidebar.toggle("Raw feature grid", key="cfg_raw_grid",
                              help="Show the maps at the network's own resolution (e.g. 13×13), value on hover.")
    return model, method, target, view, raw_grid


def gather_inputs() -> tuple[list[ui.InputImage], list[str], list]:
    """Uploads, built-in samples, (optionally) one camera shot, and the uploaded defect masks."""
    left, right = st.columns([3, 2])
    files = left.file_uploader("Upload part images", type=ui.IMAGE_TYPES, accept_multiple_files=True,
                               key="explain_uploads",
                               help="PNG, JPEG, BMP, TIFF, WebP or GIF; several at once for a gallery.")
    masks = left.file_uploader(
        "Defect masks (optional)", type=ui.IMAGE_TYPES, accept_multiple_files=True, key="explain_masks",
        help="Black/white images marking the defect (pixel ≥ 128 = defect), matched to the images by file name: "
             "part7.png or part7_mask.png for part7.jpg. The defect is outlined on the maps and the page says "
             "whether the NG map points at it. Built-in samples bring their own mask.")
    items, errors = ui.load_uploads(files)
    items += ui.sample_picker(container=right)
    with right.expander("Camera"):
        if st.toggle("Use the camera", key="explain_camera_on"):
            shot = st.camera_input("Take a picture of the part", key="explain_camera")
            if shot is not None:
                more, more_errors = ui.load_uploads([shot])
                items += more
                errors += more_errors
    return items, errors, list(masks or [])


def gallery(items: list[ui.InputImage], explanations: list) -> int:
    """Table of every image (worst first, with thumbnails) and the selector of the image shown large.

    The selection is kept by file name, so changing the network or the method keeps the image shown."""
    import pandas as pd

    from cam_core.report import image_data_uri

    verdicts = ui.verdicts(explanations)
    positive = explanations[0].defect_index
    score = "probability" if positive is None else f"{explanations[0].classes[positive].upper()} probability"
    frame = pd.DataFrame({
        "part": [image_data_uri(i.image, max_side=THUMB_SIDE) for i in items],
        "file": [i.name for i in items],
        "verdict": [ui.gallery_verdict(v, e.domain) for v, e in zip(verdicts, explanations)],
        "domain": [ui.domain_cell(e.domain) for e in explanations],
        score: [ui.gallery_score(v.probability if positive is None else v.positive_probability, e.domain)
                for v, e in zip(verdicts, explanations)],
    })
    order = frame.sort_values(score, ascending=False, kind="stable", na_position="last").index.tolist()
    st.dataframe(frame.loc[order], hide_index=True, width="stretch", row_height=THUMB_SIDE + 8, column_config={
        "part": st.column_config.ImageColumn("part", width="small"),
        score: st.column_config.ProgressColumn(score, min_value=0.0, max_value=1.0, format="percent")})
    names = [items[i].name for i in order]
    text = {items[i].name: (f"not trusted, unlike training data (the model says {verdicts[i].text})"
                            if explanations[i].domain.outside else verdicts[i].text) for i in order}
    keep = ui.kept_choice("explain_selected", names)       # survives method, scale and page changes
    chosen = st.selectbox("Image shown below", names, key="explain_selected", on_change=keep,
                          format_func=lambda name: f"{name} — {text[name]}")
    return [i.name for i in items].index(chosen)


def show_one(item: ui.InputImage, explanation, target: int | None, view: ui.ViewSettings, raw_grid: bool,
             model: str, method: ui.MapMethod, trained_on: str | None = None) -> None:
    """Verdict, then the class maps side by side, optional raw grids."""
    verdict = verdict_of(explanation)
    ui.show_verdict(st, verdict, trained_on=trained_on, domain=explanation.domain)
    probs = " · ".join(f"P({c}) = {p:.1%}" for c, p in zip(explanation.classes, explanation.probabilities)
                       if len(explanation.classes) <= 10 or p >= 0.01)
    st.caption(f"{item.name} · {item.image.size[0]}×{item.image.size[1]} px · {probs} · {model} · "
               f"{method.label} · {ui.engine_label(model, method)}")
    for note in item.notes:
        st.caption(f"Note: {note}")
    maps_view(item, explanation, target, view, raw_grid, model, method)


@st.fragment
def maps_view(item: ui.InputImage, explanation, target: int | None, view: ui.ViewSettings, raw_grid: bool,
              model: str, method: ui.MapMethod) -> None:
    """The maps, blended over the part in the browser (opacity answers there); a fragment, so the colormap
    redraws only this part."""
    colormap = ui.colormap_control(st.columns([1, 3])[0])
    view = dataclasses.replace(view, colormap=Colormap(colormap))
    classes = shown_classes(explanation, target)
    display = ui.outlined_display(item)
    columns = st.columns([6, 2] if item.mask is not None else [1])
    ui.show_blended_maps(columns[0], display, explanation, classes, view.mode, view.colormap, view.value_range,
                         view.scale_source, view.opacity)
    if item.mask is not None:
        scored = mask_class(explanation, target)
        scores = ui.mask_scores(model, method, item, explanation, scored)
        ui.show_mask_panel(columns[-1], item, scores, explanation.classes[scored].upper())
    if raw_grid:
        zrange = ui.grid_range(explanation, classes, view.mode, view.value_range)
        columns = st.columns(len(classes))
        for column, c in zip(columns, classes):
            grid, what = ui.grid_values(explanation, c, view.mode)   # the values drawn, at the network's grid
            figure = ui.raw_grid_figure(grid, f"{explanation.classes[c].upper()} {what}", view.colormap, zrange)
            column.plotly_chart(figure, width="stretch", key=f"raw_grid_{c}")


def downloads(items: list[ui.InputImage], explanations: list, view: ui.ViewSettings, model: str,
              method: ui.MapMethod) -> None:
    names = [i.name for i in items]
    cols = st.columns(3)
    cols[0].download_button("Overlay PNGs (ZIP)", data=lambda: ui.overlays_zip(items, explanations, view),
                            file_name="cam-overlays.zip", mime="application/zip", key="dl_zip",
                            on_click="ignore")
    cols[1].download_button("Scores (CSV)", data=ui.scores_csv(names, explanations), file_name="cam-scores.csv",
                            mime="text/csv", key="dl_csv", on_click="ignore")
    cols[2].download_button("Scores (JSON)",
                            data=ui.scores_json_bytes(names, explanations, model=model, method=method,
                                                      settings=view.as_dict()),
                            file_name="cam-scores.json", mime="application/json", key="dl_json",
                            on_click="ignore")


def page() -> None:
    ui.page_title("Explain: why OK, why NG?")
    model, method, target, view, raw_grid = sidebar_controls()
    items, errors, mask_files = gather_inputs()
    for line in errors:
        st.error(line)
    if model is None:
        return
    kept = ui.last_batch()
    if not items and not errors and kept is not None:
        items = kept.items
        top = st.columns([4, 1])
        top[0].info(f"Showing your last batch ({len(items)} image(s)). Upload images or pick samples to replace it.")
        if top[1].button("Clear", key="explain_clear"):
            st.session_state.pop(ui.LAST_BATCH, None)
            st.rerun()
    items, mask_warnings = ui.attach_masks(items, mask_files)
    for line in mask_warnings:
        st.warning(line)
    if not items:
        if not errors:
            st.info("Upload one or more part images, or pick a built-in sample, to see the verdict and the maps.")
        return
    targets = [target] if target is not None else None
    with st.spinner("Explaining…"):
        explanations = ui.explain_inputs(model, method, items, targets)
    bundle = ui.get_explainer(model, method).bundle
    ui.synthetic_model_hint(st, bundle, ui.own_input_names(items))
    selected = gallery(items, explanations) if len(items) > 1 else 0
    show_one(items[selected], explanations[selected], target, view, raw_grid, model, method, bundle.trained_on)
    st.divider()
    downloads(items, explanations, view, model, method)
    ui.keep_batch(ui.Batch(model=model, method=method, items=list(items), explanations=list(explanations),
                           view=view, selected=selected))


ui.init_state()
ui.page_menu()
ui.run_guarded(page)
