"""``report``: the HTML report of a batch's results, streamed from its Parquet parts.

The same self-contained page the app makes (:func:`cam_core.report.build_html_report`): the figures first
(parts, flagged NG, errors), then the NG rate per hour (file time) or per folder, the distribution of the defect
probability, and the worst N parts with their maps (from the rows' stored maps, else explained again with the
rows' model). Statistics come from one streaming pass (:mod:`cam_core.batch.stats`).
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from cam_core.batch.decode import read_input
from cam_core.batch.readback import explanation_of_row, results_card, results_dataset
from cam_core.batch.resume import read_manifest
from cam_core.batch.stats import BINS, BatchStats, collect_stats
from cam_core.checkpoints import ModelCard
from cam_core.errors import CamInspectorError
from cam_core.explain.pipeline import Explainer, Explanation
from cam_core.files import atomic_write
from cam_core.report.html import build_html_report, make_report_items

__all__ = ["ReportSettings", "ReportSummary", "batch_report_html", "write_batch_report"]

MAX_GROUP_ROWS = 400          # hours / folders listed (the most parts first beyond that)
_BAR = "<div style='background:#cf222e;height:10px;width:{:.1f}%'></div>"


@dataclass(frozen=True)
class ReportSettings:
    worst: int = 20
    by: str = "hour"                 # or "folder"
    title: str = "CAM Inspector batch report"
    model: str | None = None         # to explain the worst parts again when the rows hold no maps


@dataclass(frozen=True)
class ReportSummary:
    rows: int
    flagged: int
    errors: int


def _glance(stats: BatchStats, model: str) -> list[tuple[str, str]]:
    explained = stats.explained
    inside = explained - stats.outside
    parts = (f"{stats.rows} parts: {stats.outside} outside the model's domain (verdicts not trusted); of the "
             f"{inside} inside, {stats.flagged} NG") if stats.outside else f"{stats.rows}"
    rows = [("Parts inspected", parts),
            ("Flagged NG", f"{stats.flagged} ({stats.flagged / inside:.1%} of the explained parts inside the "
                           "model's domain)" if inside else "0"),
            ("Could not be read or explained", f"{stats.errors}" + (f" (first: {stats.first_error})"
                                                                   if stats.first_error else "")),
            ("Model", model)]
    return rows


def _groups_html(stats: BatchStats, by: str) -> str:
    """NG rate per hour or folder: NG among the parts inside the model's domain; the parts outside in a column of
    their own when there are any."""
    esc = html.escape
    items = sorted(stats.groups.items())
    if len(items) > MAX_GROUP_ROWS:
        items = sorted(sorted(items, key=lambda kv: -(kv[1][0] + kv[1][2]))[:MAX_GROUP_ROWS])
    apart = stats.outside > 0

    def row(key: str, inside: int, ng: int, out: int) -> str:
        rate = (f"<td class='num'>{ng / inside:.1%}</td><td style='width:200px'>{_BAR.format(100 * ng / inside)}</td>"
                if inside else "<td class='num'>–</td><td></td>")
        extra = f"<td class='num'>{out}</td>" if apart else ""
        return f"<tr><td>{esc(key)}</td><td class='num'>{inside}</td><td class='num'>{ng}</td>{rate}{extra}</tr>"

    body = "".join(row(key, *counts) for key, counts in items if counts[0] + counts[2])
    more = len(stats.groups) - len(items)
    title = "NG rate per hour (file time, UTC)" if by == "hour" else "NG rate per folder"
    parts = "parts inside the domain" if apart else "parts"
    head = (f"<tr><th>{'hour' if by == 'hour' else 'folder'}</th><th>{parts}</th><th>NG</th><th>NG rate</th><th></th>"
            + ("<th>outside the domain (not counted)</th>" if apart else "") + "</tr>")
    return (f"<h2>{title}</h2><table class='summary'>{head}{body}</table>"
            + (f"<p class='meta'>{more} more not listed (fewest parts)</p>" if more > 0 else ""))


def _histogram_html(stats: BatchStats) -> str:
    top = max(1, int(stats.histogram.max()))
    rows = "".join(f"<tr><td>{i / BINS:.2f} – {(i + 1) / BINS:.2f}</td><td class='num'>{int(n)}</td>"
                   f"<td style='width:300px'>{_BAR.format(100 * n / top)}</td></tr>"
                   for i, n in enumerate(stats.histogram))
    apart = (f"<p class='meta'>Parts inside the model's domain only; the {stats.outside} parts unlike its training "
             "data are not counted here (their probabilities are not to be trusted).</p>" if stats.outside else "")
    return ("<h2>Defect probability</h2>" + apart + "<table class='summary'><tr><th>p(defect)</th><th>parts</th><th></th></tr>"
            f"{rows}</table>")


class _Explanations:
    """Each worst row's Explanation: from its stored maps, else explained again (model loaded once, lazily)."""

    def __init__(self, model: str | None, defect_index: int | None) -> None:
        self.model, self.defect_index = model, defect_index
        self.explainer: Explainer | None = None
        self.failed: str | None = None        # why maps cannot be redrawn (the model cannot be loaded here)

    def of(self, row: Mapping[str, Any], image: Image.Image | None) -> Explanation | None:
        stored = explanation_of_row(row, self.defect_index)
        if stored is not None or image is None or self.failed:
            return stored
        if self.explainer is None:
            from cam_core.batch.settings import ExplainerSpec, build_explainer

            method = str(row["method"]).split("+")[0]
            spec = ExplainerSpec(model=self.model or row["model"], method=method,
                                 flip_average="+flip" in str(row["method"]), device="cpu")
            try:
                self.explainer = build_explainer(spec)
            except CamInspectorError as exc:
                self.failed = f"the worst parts' maps are not shown: {exc}"
                return None
        return self.explainer.explain_one(image)

    def close(self) -> None:
        if self.explainer is not None:
            self.explainer.close()


def _card_scale(card: ModelCard) -> tuple[float, float] | None:
    """The model's fixed evidence scale ``(−A, A)`` from its card's evidence range (else each image its own)."""
    limits = card.evidence_limits
    top = max(abs(limits[0]), abs(limits[1])) if limits else 0.0
    return (-top, top) if top > 0 else None


def _worst_items(rows: Sequence[Mapping[str, Any]], model: str | None,
                 card: ModelCard) -> tuple[list[Any], str | None]:
    names, images, explanations, notes = [], [], [], []
    source = _Explanations(model, card.defect_index)
    try:
        for row in rows:
            image = read_input(row["path"]).image
            explanation = source.of(row, image)
            if explanation is None:
                continue
            names.append(row["path"])
            images.append(image or Image.new("RGB", (160, 160), (200, 200, 200)))
            explanations.append(explanation)
            notes.append(() if image is not None else ("the image file can no longer be read",))
    finally:
        source.close()
    return (make_report_items(names, images, explanations, notes=notes, value_range=_card_scale(card)),
            source.failed)


def batch_report_html(results: str | Path, settings: ReportSettings = ReportSettings()) -> tuple[str, BatchStats]:
    """The report page of ``results`` and the statistics it shows."""
    dataset = results_dataset(results)
    stats = collect_stats(dataset, by=settings.by, worst=settings.worst)
    manifest = read_manifest(results) if Path(results).is_dir() else None
    known = manifest or {}
    model = stats.worst[0]["model"] if stats.worst else known.get("model", "?")
    card = results_card(str(model), known.get("classes", []))
    items, failed = _worst_items(stats.worst, settings.model or known.get("model_spec"), card)
    sections = [_groups_html(stats, settings.by), _histogram_html(stats)]
    if failed:
        sections.append(f"<p class='notes'>{html.escape(failed)}</p>")
    page = build_html_report(items, card, title=settings.title, model_name=str(model),
                             glance=_glance(stats, str(model)), sections=sections,
                             parts_heading=f"The {len(items)} most likely defective parts",
                             settings={"results": str(results), "NG rate by": settings.by})
    return page, stats


def write_batch_report(results: str | Path, out: str | Path, settings: ReportSettings = ReportSettings(),
                       ) -> ReportSummary:
    """Write the report of ``results`` to ``out`` (atomic)."""
    page, stats = batch_report_html(results, settings)
    with atomic_write(out, "w") as handle:
        handle.write(page)
    return ReportSummary(rows=stats.rows, flagged=stats.flagged, errors=stats.errors)
