"""Batch results: browse the Parquet results of `python -m cam_core batch`, open any part's maps, export CSV."""

from __future__ import annotations

from datetime import datetime, time, timezone
from typing import Any

import streamlit as st
from PIL import Image

import app_ui as ui
from cam_core.batch.browse import Facets, RowFilter, export_columns, facets, filtered_rows, row_of, rows_csv
from cam_core.batch.decode import read_input
from cam_core.batch.readback import explanation_of_row, results_card, results_dataset
from cam_core.explain import Explanation, shown_classes, verdict_of

SHOWN_ROWS = 2000      # rows drawn in the table and offered in the picker (the CSV has every filtered row)


def filters(found: Facets) -> RowFilter:
    """The sidebar filters over what the results hold."""
    side = st.sidebar
    verdicts = side.multiselect("Verdict", list(found.verdicts), key="batch_verdicts")
    low, high = side.slider("Defect probability", 0.0, 1.0, (0.0, 1.0), step=0.01, key="batch_probability")
    folders = side.multiselect("Folder", list(found.folders), key="batch_folders")
    domains = side.multiselect("Domain check", list(found.domains), key="batch_domains",
                               help="'known': only the parts like the model's training images, whose verdicts can be "
                                    "trusted; 'unlike training data': the parts whose verdicts cannot.")
    start = end = None
    if found.first is not None and found.last is not None and found.first.date() != found.last.date():
        picked = side.date_input("File date (UTC)", (found.first.date(), found.last.date()), key="batch_dates")
        if isinstance(picked, tuple) and len(picked) == 2:     # one date while the user is still picking the range
            first, last = picked
            start = datetime.combine(first, time.min, tzinfo=timezone.utc)
            end = datetime.combine(last, time.max, tzinfo=timezone.utc)
    return RowFilter(verdicts=tuple(verdicts), min_probability=low, max_probability=high, folders=tuple(folders),
                     domains=tuple(domains), start=start, end=end)


def explanation_for(row: dict[str, Any], image: Image.Image | None) -> Explanation | None:
    """The row's maps: stored ones, else the row's model explains the image again (when the app has it)."""
    stored = explanation_of_row(row, results_card(row["model"], row["classes"]).defect_index)
    if stored is not None or image is None:
        return stored
    if row["model"] not in ui.model_names():
        st.info(f"These results hold no maps (run batch with --save-maps) and the app has no model "
                f"{row['model']!r} to draw them again.")
        return None
    method = ui.METHODS["cam-flip" if row["method"] == "cam+flip" else row["method"]]
    return ui.get_explainer(row["model"], method).explain_one(image)


def show_row(row: dict[str, Any]) -> None:
    item = read_input(row["path"])
    if row["error"]:
        st.error(row["error"])
        return
    if item.image is None:
        st.warning(f"The image cannot be read now: {item.error}")
    explanation = explanation_for(row, item.image)
    if explanation is None or item.image is None:
        return
    view = ui.view_controls(st.sidebar)
    ui.show_verdict(st, verdict_of(explanation, row["threshold"]), domain=explanation.domain)   # the run's threshold
    st.caption(f"{row['path']} · {row['width']}×{row['height']} px · model {row['model']} · {row['method']} · "
               f"file time {row['modified']}")
    classes = shown_classes(explanation)
    jpegs, scale = ui.render_maps(explanation, item.image, classes, view)
    for column, c in zip(st.columns(len(classes)), classes):
        column.image(jpegs[c], caption=ui.map_caption(explanation, c, scale, view.mode),
                     width="stretch", output_format="JPEG")


def page() -> None:
    ui.page_title("Batch results")
    folder = st.text_input("Results folder (the --out of `python -m cam_core batch`)", key="batch_results_dir",
                           placeholder="/data/results/line3-2026-12-03").strip()
    if not folder:
        st.info("Run `python -m cam_core batch SOURCE --out DIR`, then give DIR here.")
        return
    found = facets(folder)
    row_filter = filters(found)
    dataset = results_dataset(folder)
    table = filtered_rows(dataset, row_filter)
    st.write(f"{table.num_rows} of {found.rows} rows match" + (f"; the {SHOWN_ROWS} most likely defective shown"
                                                              if table.num_rows > SHOWN_ROWS else ""))
    shown = table.slice(0, SHOWN_ROWS)
    st.dataframe(shown.to_pandas(), hide_index=True, key="batch_table")
    csv = rows_csv(filtered_rows(dataset, row_filter, export_columns(dataset)))
    st.download_button("Export the filtered rows (CSV)", data=csv,
                       file_name="batch-rows.csv", mime="text/csv", key="batch_csv", on_click="ignore")
    paths = shown.column("path").to_pylist()
    if not paths:
        return
    chosen = st.selectbox("Open a part", paths, key="batch_open")
    row = row_of(dataset, chosen)
    if row is not None:
        show_row(row)


ui.init_state()
ui.page_menu()
ui.run_guarded(page)
