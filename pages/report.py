"""Report: a self-contained HTML report (images embedded, opens offline) of the last explained batch."""

from __future__ import annotations

import streamlit as st

import app_ui as ui
from cam_core.report import parts_text

REPORT_HTML = "report_html"  # session: (key, html) of the last built report


def source_batch() -> ui.Batch | None:
    """Images uploaded here (explained with the sidebar's network), else the last Explain batch."""
    uploads = st.file_uploader("Upload images for a new report (otherwise the last batch from the Explain page "
                               "is used)", type=ui.IMAGE_TYPES, accept_multiple_files=True, key="report_uploads")
    if uploads:
        items, errors = ui.load_uploads(uploads)
        for line in errors:
            st.error(line)
        model = ui.model_picker(st.sidebar)
        method = ui.method_picker(st.sidebar, model)
        if model is None or not items:
            return None
        bundle = ui.get_explainer(model, method).bundle
        view = ui.view_controls(st.sidebar, bundle.card.value_range, scale=ui.model_scale_of(model))
        with st.spinner("Explaining…"):
            explanations = ui.explain_inputs(model, method, items)
        return ui.Batch(model=model, method=method, items=items, explanations=explanations, view=view)
    batch = ui.last_batch()
    if batch is None:
        if not ui.model_names():
            st.warning(ui.NO_MODELS_MESSAGE)
        else:
            st.info("Nothing explained yet: explain images on the Explain page (or upload some here), then come "
                    "back to download the report.")
        return None
    st.caption(f"Last batch from the Explain page: {len(batch.items)} image(s), network {batch.model}, "
               f"{batch.method.label}.")
    return batch


def build(batch: ui.Batch, title: str) -> str:
    """The report HTML, rebuilt only when the batch, its settings or the title change."""
    key = (batch.key, batch.view, title)
    kept = st.session_state.get(REPORT_HTML)
    if kept and kept[0] == key:
        return kept[1]
    bundle = ui.get_explainer(batch.model, batch.method).bundle
    ui.synthetic_model_hint(st, bundle, ui.own_input_names(batch.items))
    with st.spinner("Building the report…"):
        html = ui.report_html(batch, title, bundle)
    st.session_state[REPORT_HTML] = (key, html)
    return html


def page() -> None:
    ui.page_title("Report")
    batch = source_batch()
    if batch is None:
        return
    title = st.text_input("Report title", key="cfg_report_title").strip() or "CAM Inspector report"
    html = build(batch, title)
    counted = parts_text(batch.explanations, ui.verdicts(batch.explanations))
    st.write(f"{counted} · {len(html) / 1024:.0f} KB, opens offline "
             "(images embedded, no external resources).")
    st.download_button("Download HTML report", data=html.encode("utf-8"), file_name="cam-inspector-report.html",
                       mime="text/html", type="primary", key="report_download", on_click="ignore")
    if st.toggle("Preview", key="report_preview"):
        st.iframe(html, height=900)   # our own generated, escaped HTML (never user-supplied markup)


ui.init_state()
ui.page_menu()
ui.run_guarded(page)
