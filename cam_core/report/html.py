"""Self-contained HTML inspection reports.

A report is one HTML file that opens offline: every picture is embedded as a base64 ``data:`` URI,
the CSS is inline, and there are no scripts, fonts or links to other sites. All text that comes
from users or files (image names, class names, card fields, title) is escaped with
:func:`html.escape`.

    items = make_report_items(names, images, explanations, opacity=0.5)
    html = build_html_report(items, bundle, title="Line 3, shift B", settings={"method": "CAM"})

Verdicts come from :mod:`cam_core.explain.verdict`, overlays from :meth:`Explanation.class_overlays`, the
model card's rows from :mod:`cam_core.report.cards`. This module never imports Streamlit.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from cam_core.checkpoints.card import ModelCard
from cam_core.explain.legend import Legend, legend_of
from cam_core.explain.picture import map_picture
from cam_core.explain.render import DEFAULT_MODE, NormalizationMode, draw_mask_outline
from cam_core.explain.verdict import Verdict, mask_class, shown_classes, verdict_of
from cam_core.report.cards import card_summary, format_value, model_line

if TYPE_CHECKING:
    from cam_core.checkpoints import ModelBundle
    from cam_core.explain.pipeline import Explanation

THUMB_SIDE = 160
OVERLAY_SIDE = 480


# --------------------------------------------------------------------------- images


def fit_within(image: Image.Image, max_side: int) -> Image.Image:
    """``image`` scaled down (never up) so that its longer side is at most ``max_side``."""
    width, height = image.size
    scale = max_side / max(width, height)
    if scale >= 1.0:
        return image
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return image.resize(size, Image.Resampling.BILINEAR)


def image_data_uri(image: Image.Image, *, max_side: int | None = None, fmt: str = "JPEG",
                   quality: int = 85) -> str:
    """``data:image/...;base64,...`` of ``image`` (optionally downscaled), for offline HTML."""
    if max_side is not None:
        image = fit_within(image, max_side)
    buffer = io.BytesIO()
    fmt = fmt.upper()
    if fmt == "PNG":
        image.save(buffer, format="PNG", optimize=False, compress_level=6)
        mime = "image/png"
    else:
        image.convert("RGB").save(buffer, format="JPEG", quality=quality)
        mime = "image/jpeg"
    return f"data:{mime};base64,{base64.b64encode(buffer.getvalue()).decode('ascii')}"


# --------------------------------------------------------------------------- report


@dataclass(frozen=True)
class ReportItem:
    """One image of a report: the picture, its explanation and the overlays to show."""

    name: str
    image: Image.Image
    explanation: Explanation
    overlays: Mapping[str, Image.Image]          # class name → overlay, in display order
    notes: tuple[str, ...] = ()
    scale: tuple[float, float] | None = None      # raw map range the colours span
    localization: Mapping[str, Any] | None = None   # localization_scores of the defect map, when a mask was given
    legends: Mapping[str, Legend] | None = None     # class name → the legend of its map (colour bar and words)


def make_report_items(names: Sequence[str], images: Sequence[Image.Image],
                      explanations: Sequence[Explanation], *, mode: NormalizationMode = DEFAULT_MODE,
                      opacity: float = 0.5, colormap: str = "jet",
                      value_range: tuple[float, float] | None = None,
                      notes: Sequence[Sequence[str]] | None = None,
                      masks: Sequence[np.ndarray | None] | None = None,
                      max_side: int = OVERLAY_SIDE) -> list[ReportItem]:
    """Report items with overlays made at report size (``max_side``), in the order given.

    ``masks``: per image, a boolean defect mask at the image's size, or ``None``. With one, the defect
    outline is drawn over every overlay and the defect-class map is scored against it (pointing game,
    energy share: :func:`cam_core.evaluation.localization_scores`).
    """
    from cam_core.evaluation import fit_mask, localization_scores

    items = []
    for i, (name, image, explanation) in enumerate(zip(names, images, explanations)):
        small = fit_within(image.convert("RGB"), max_side)
        picture = map_picture(explanation, small.size, shown_classes(explanation), mode=mode, colormap=colormap,
                              value_range=value_range)
        overlays, scale = picture.overlays(small, opacity), picture.scale
        legends = {explanation.classes[c]: legend_of(picture, c, width=max(160, min(360, small.size[0])))
                   for c in picture.classes}
        mask = masks[i] if masks is not None else None
        scores = None
        if mask is not None and mask.any():
            outline = fit_mask(mask, small.size)[0]
            overlays = {c: draw_mask_outline(im, outline) for c, im in overlays.items()}
            scores = localization_scores(explanation.map_of(mask_class(explanation)), mask)
        items.append(ReportItem(
            name=name, image=small, explanation=explanation,
            overlays={explanation.classes[c]: im for c, im in overlays.items()},
            notes=tuple(notes[i]) if notes is not None else (), scale=scale, localization=scores, legends=legends))
    return items


REPORT_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:24px;color:#1b1f24;background:#fff}
h1{font-size:1.6em;margin:0 0 4px}h2{font-size:1.2em;margin:28px 0 8px;border-bottom:1px solid #d0d7de;padding-bottom:4px}
.meta{color:#57606a;font-size:.9em}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #d0d7de;padding:4px 8px;text-align:left;vertical-align:top;font-size:.9em}
th{background:#f6f8fa}
.summary td.num{text-align:right;font-variant-numeric:tabular-nums}
.item{border:1px solid #d0d7de;border-radius:8px;padding:12px;margin:16px 0;page-break-inside:avoid}
.item h3{margin:0 0 8px;font-size:1.05em;word-break:break-all}
.row{display:flex;flex-wrap:wrap;gap:12px;align-items:flex-start}
figure{margin:0}figure.map{flex:1 1 260px;max-width:360px}figcaption{font-size:.8em;color:#57606a;text-align:center}
img{display:block;max-width:100%;height:auto;border-radius:4px}img.bar{border-radius:0;margin-top:4px}
.verdict{font-size:1.4em;font-weight:700;padding:2px 10px;border-radius:6px;display:inline-block;margin-bottom:8px}
.ng{background:#ffebe9;color:#a40e26}.ok{background:#dafbe1;color:#116329}.other{background:#ddf4ff;color:#0550ae}
.notes{font-size:.85em;color:#7d4e00}
.untrusted{background:#eaeef2;color:#57606a;text-decoration:line-through}.item.outside{opacity:.75;border-style:dashed}
.warn{background:#fff8c5;border:1px solid #d4a72c;border-radius:6px;padding:8px 12px;margin:8px 0}
.reason{font-size:.9em;color:#57606a;font-weight:600}
code{background:#f6f8fa;padding:1px 4px;border-radius:4px;word-break:break-all}
"""


def rows_table(rows: Iterable[tuple[str, str]]) -> str:
    body = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def _item_html(index: int, item: ReportItem, verdict: Verdict, trained_on: str = "") -> str:
    domain = item.explanation.domain
    verdict_html = f"<div class='verdict {verdict.kind}'>{html.escape(verdict.text)}</div>"
    if domain.outside:
        verdict_html = (f"<div class='verdict untrusted'>{html.escape(verdict.text)}</div> <span class='reason'>not "
                        f"trusted: {html.escape(OUTSIDE_TEXT)} ({html.escape(domain.text)})</span>")
    return _item_body(index, item, verdict_html, trained_on, domain.outside)


def _item_body(index: int, item: ReportItem, verdict_html: str, trained_on: str, outside: bool) -> str:
    esc = html.escape
    probs = ", ".join(f"{esc(c)} {p:.1%}" for c, p in zip(item.explanation.classes, item.explanation.probabilities)
                      if len(item.explanation.classes) <= 10 or float(p) >= 0.01)
    figures = [f'<figure><img src="{image_data_uri(item.image, max_side=THUMB_SIDE)}" alt="{esc(item.name)}" '
               f'width="{THUMB_SIDE}"><figcaption>input</figcaption></figure>']
    for class_name, picture in item.overlays.items():
        legend = (item.legends or {}).get(class_name)
        title = legend.title if legend is not None else f"{class_name.upper()} map"
        bar = (f'<img class="bar" src="{image_data_uri(legend.bar, fmt="PNG")}" alt="colour bar">'
               f'<figcaption>{esc(legend.words)}</figcaption>') if legend is not None else ""
        figures.append(f'<figure class="map"><figcaption><b>{esc(title)}</b></figcaption><img src="'
                       f'{image_data_uri(picture)}" alt="{esc(title)} of {esc(item.name)}">{bar}</figure>')
    h, w = item.explanation.map_size
    details = [f"probabilities: {probs}", f"map grid {h}×{w}"]
    first = next(iter((item.legends or {}).values()), None)
    if first is not None:
        details.append(first.details)
    elif item.scale is not None:
        details.append(f"colour scale {item.scale[0]:.3g} … {item.scale[1]:.3g}")
    notes = "".join(f"<div class='notes'>note: {esc(n)}</div>" for n in item.notes)
    where = ""
    if item.localization is not None:
        s = item.localization
        hit = "inside the marked defect" if s["pointing"] else "outside the marked defect"
        ratio = s["energy_ratio"]
        where = (f"<div class='meta'>defect mask (white outline): the defect map peaks {hit}; "
                 f"{s['energy']:.0%} of its positive evidence lies in the mask, which covers {s['mask_share']:.1%} "
                 f"of the image" + (f" ({ratio:.1f}× its area share)" if np.isfinite(ratio) else "") + "</div>")
    return (f"<section class='item{' outside' if outside else ''}' id='item-{index}'><h3>{index}. {esc(item.name)}</h3>"
            f"{verdict_html}"
            + (f"<div class='meta'>model trained on: {esc(trained_on)}</div>" if trained_on else "")
            + f"{where}{notes}<div class='row'>{''.join(figures)}</div>"
            f"<details class='meta'><summary>details</summary>{esc(' · '.join(details))}</details></section>")


OUTSIDE_TEXT = "unlike anything this model was trained on"


def parts_text(explanations: Sequence[Explanation], verdicts: Sequence[Verdict]) -> str:
    """How many parts and how many NG, the parts outside the model's domain counted apart: "7 parts: 5 outside
    the model's domain (verdicts not trusted); of the 2 inside, 1 NG", else "7 parts, 2 NG"."""
    outside = [e.domain.outside for e in explanations]
    inside = [v for v, out in zip(verdicts, outside) if not out]
    flagged = sum(1 for v in inside if v.is_positive)
    if any(outside):
        return (f"{len(explanations)} parts: {sum(outside)} outside the model's domain (verdicts not trusted); "
                f"of the {len(inside)} inside, {flagged} NG")
    return f"{len(explanations)} parts, {flagged} NG"


def headline_rows(items: Sequence[ReportItem], verdicts: Sequence[Verdict]) -> list[tuple[str, str]]:
    """``Parts inspected``, the domain count and ``Flagged NG`` among the parts inside the model's domain only
    (:func:`parts_text`)."""
    n = len(items)
    outside = [item.explanation.domain.outside for item in items]
    n_out = sum(outside)
    inside = [v for v, out in zip(verdicts, outside) if not out]
    flagged = sum(1 for v in inside if v.is_positive)
    unknown = sum(1 for item in items if item.explanation.domain.verdict.value == "unknown")
    parts = parts_text([item.explanation for item in items], verdicts) if n_out else str(n)
    if unknown == n and n:
        domain = "unknown: the model has no domain reference, so parts unlike its training data cannot be marked"
    else:
        domain = f"{n - n_out - unknown} known, {n_out} unlike the training data" + (f", {unknown} unknown" if unknown
                                                                                    else "")
    share = f" ({flagged / len(inside):.0%} of the parts inside the domain)" if inside else ""
    return [("Parts inspected", parts), ("Domain check", domain),
            ("Flagged NG", f"{flagged}{share}" if n_out else (f"{flagged} ({flagged / n:.0%})" if n else "0"))]


SYNTHETIC_ONLY_WARNING = ("This model has only seen synthetic parts (drawn by this product). Its verdicts and validation "
                          "figures say little about real photographs; train a model on your own OK/NG folders "
                          "(Models page, or python -m cam_core train DATA_DIR).")


def warning_html(card: ModelCard, items: Sequence[ReportItem]) -> str:
    """The yellow box under the headline: synthetic-only model (with the advice to train on your own folders)
    and parts outside the domain."""
    lines = [SYNTHETIC_ONLY_WARNING] if card.synthetic_only else []
    n_out = sum(1 for item in items if item.explanation.domain.outside)
    if n_out:
        lines.append(f"{n_out} of {len(items)} parts are {OUTSIDE_TEXT}: their verdicts are shown greyed and struck "
                     "through, and are not counted as NG or OK.")
    return "".join(f"<div class='warn'>{html.escape(line)}</div>" for line in lines)


def _at_a_glance(items: Sequence[ReportItem], verdicts: Sequence[Verdict], card: ModelCard,
                 model_name: str | None) -> list[tuple[str, str]]:
    """The manager's first rows: how many parts, how many NG, how often the map pointed at a marked defect,
    which model (its defect class, and where it came from when imported) and what it was trained on."""
    rows = headline_rows(items, verdicts)
    localized = [item.localization for item in items if item.localization is not None]
    if localized:
        hits = sum(1 for s in localized if s["pointing"])
        rows.append(("Map pointed at the marked defect",
                     f"{hits} of {len(localized)} parts with a defect mask ({hits / len(localized):.0%})"))
    else:
        rows.append(("Map pointed at the marked defect", "no defect masks were given"))
    rows.append(("Model", model_line(card, model_name)))
    rows.append(("Model trained on", card.trained_on_text))
    return rows


def build_html_report(items: Sequence[ReportItem], bundle_or_card: ModelBundle | ModelCard, *,
                      title: str = "CAM Inspector report", settings: Mapping[str, Any] | None = None,
                      model_name: str | None = None, generated_at: datetime | None = None,
                      glance: Sequence[tuple[str, str]] | None = None, sections: Sequence[str] = (),
                      parts_heading: str = "All parts") -> str:
    """A complete, self-contained HTML document for ``items`` (no external resources at all).

    ``glance`` replaces the first rows (a batch report counts more parts than it shows); ``sections`` are
    HTML fragments made by this package (escaped already) placed after them."""
    esc = html.escape
    if not isinstance(bundle_or_card, ModelCard):   # a ModelBundle
        card = bundle_or_card.card
        model_name = model_name or bundle_or_card.name
    else:
        card = bundle_or_card
    when = (generated_at or datetime.now(timezone.utc)).strftime("%Y-%m-%d %H:%M UTC")
    verdicts = [verdict_of(item.explanation) for item in items]
    summary_rows = "".join(
        f"<tr><td><a href='#item-{i}'>{i}</a></td><td>{esc(item.name)}</td>"
        f"<td>{esc(('(' + v.label + ') not trusted') if item.explanation.domain.outside else v.label)}</td>"
        f"<td class='num'>{'' if v.positive_probability is None else f'{v.positive_probability:.1%}'}</td></tr>"
        for i, (item, v) in enumerate(zip(items, verdicts), start=1))
    settings_rows = [(str(k), format_value(v)) for k, v in (settings or {}).items()]
    glance = list(glance) if glance is not None else _at_a_glance(items, verdicts, card, model_name)
    trained_on = card.trained_on_text
    order = sorted(range(len(items)), key=lambda i: (items[i].explanation.domain.outside,
                                                     -(verdicts[i].positive_probability or 0.0)))
    parts = [
        "<!DOCTYPE html>",
        "<html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>{esc(title)}</title><style>{REPORT_CSS}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
        f"<div class='meta'>Generated {esc(when)} by CAM Inspector · model {esc(model_name or '?')}</div>",
        "<h2>At a glance</h2>", rows_table(glance), warning_html(card, items), *sections,
        "<h2>Parts, most likely defective first</h2>",
        "<p class='meta'>Parts outside the model's domain come last, their verdicts greyed.</p>"
        if any(item.explanation.domain.outside for item in items) else "",
        "<p class='meta'>Each map is coloured where the model sees signs of its class, and left clear elsewhere "
        "(the colour bar under each map says what its colours mean). On the default scale the strongest colour says "
        "how sure the model is: a doubtful call draws faint colours, a sure one orange and red; a part unlike the "
        "model's training data, whose verdict is not trusted, is drawn no stronger than half-way up the bar.</p>",
        *(_item_html(i + 1, items[i], verdicts[i], trained_on) for i in order),
        f"<h2>{esc(parts_heading)}</h2>",
        "<table class='summary'><tr><th>#</th><th>image</th><th>verdict</th><th>defect probability</th></tr>"
        f"{summary_rows}</table>",
        "<h2>Details</h2>",
        f"<h3>Model{': ' + esc(model_name) if model_name else ''}</h3>",
        rows_table(card_summary(card)),
    ]
    if settings_rows:
        parts += ["<h3>Settings</h3>", rows_table(settings_rows)]
    parts.append("</body></html>")
    return "\n".join(parts)
