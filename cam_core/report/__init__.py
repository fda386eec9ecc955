"""Reports: the self-contained HTML inspection report and the model card in human rows."""

from cam_core.report.cards import card_summary, format_value, model_line
from cam_core.report.html import (
    OVERLAY_SIDE,
    THUMB_SIDE,
    ReportItem,
    build_html_report,
    fit_within,
    image_data_uri,
    make_report_items,
    parts_text,
)

__all__ = ["OVERLAY_SIDE", "THUMB_SIDE", "ReportItem", "build_html_report", "card_summary", "fit_within",
           "format_value", "image_data_uri", "make_report_items", "model_line", "parts_text"]
