"""What :func:`~cam_core.evaluation.evaluate.evaluate` measured: :class:`EvaluationReport`, its summaries and text.

Per-type and overall localization summaries (:func:`localization_summary`) are means over the localized
NG images, ``energy_ratio = mean(energy) / mean(mask_share)`` (a ratio of means), and the pointing game
over the images the model called defective (``pointing_flagged``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from cam_core.checkpoints.card import ModelCard
from cam_core.evaluation.metrics import auroc, confusion

__all__ = ["ALL_TYPES", "LOCALIZATION_KEYS", "EvaluationReport", "build_report", "format_report",
           "localization_summary"]

ALL_TYPES = "all"
LOCALIZATION_KEYS = ("n", "pointing", "energy_in_mask", "mask_share", "energy_ratio", "iou", "n_flagged",
                     "pointing_flagged", "pointing_chance")


@dataclass
class EvaluationReport:
    """Everything :func:`evaluate` measured. Localization dicts carry :data:`LOCALIZATION_KEYS`."""

    model: str
    method: str
    classes: list[str]
    positive_class: str
    n_images: int
    accuracy: float
    auroc: float
    confusion: list[list[int]]
    per_type: dict[str, dict[str, float]]
    overall: dict[str, float]
    per_image: list[dict[str, Any]]
    tolerance_px: float | None          # None: 15·max(W,H)/224 per image
    seconds: float
    ms_per_image: float                 # wall time (decode + explain + metrics) per image
    model_ms_per_image: float           # explain() time only
    skipped_empty_masks: int = 0
    missing_masks: int = 0
    skipped_files: list[dict[str, str]] = field(default_factory=list)
    map_size: list[int] | None = None   # [h, w] of the maps (the network's feature grid)
    flags: list[dict[str, str]] = field(default_factory=list)   # cam_core.evaluation.honesty flags
    leakage: dict[str, Any] | None = None   # files shared with the model's training data, figures without them
    domain_counts: dict[str, int] = field(default_factory=dict)   # domain verdict → images
    deletion: dict[str, float] = field(default_factory=dict)   # deletion_summary (mask-free faithfulness)

    def to_json(self) -> dict[str, Any]:
        """Plain-JSON dict (NaN → ``None``)."""
        return _json_safe(asdict(self))


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer | np.bool_):
        return value.item()
    return value


def localization_summary(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Means over localized images; ``energy_ratio = mean(energy) / mean(mask_share)`` (ratio of means).

    ``pointing_flagged`` is the pointing game over the ``n_flagged`` images the model called defective:
    the question "when it says NG, does its map show where?" (NaN when it flagged none).
    """
    n = len(rows)
    if n == 0:
        return {"n": 0, **{k: float("nan") for k in LOCALIZATION_KEYS[1:]}, "n_flagged": 0}
    energy = float(np.mean([r["energy"] for r in rows]))
    share = float(np.mean([r["mask_share"] for r in rows]))
    flagged = [r["pointing"] for r in rows if r["predicted"] == r["label"]]
    return {
        "n_flagged": len(flagged),
        "pointing_flagged": float(np.mean(flagged)) if flagged else float("nan"),
        "n": n,
        "pointing": float(np.mean([r["pointing"] for r in rows])),
        "energy_in_mask": energy,
        "mask_share": share,
        "energy_ratio": energy / share if share > 0 else float("nan"),
        "iou": float(np.mean([r["iou"] for r in rows])),
        "pointing_chance": float(np.mean([r["pointing_chance"] for r in rows]))
        if all(r.get("pointing_chance") is not None for r in rows) else float("nan"),
    }


def build_report(model: str, method: str, classes: list[str], pos: int, per_image: list[dict[str, Any]],
                  tolerance_px: float | None, seconds: float, model_seconds: float, empty_masks: int,
                  missing_masks: int, skipped: list[dict[str, str]]) -> EvaluationReport:
    """The report of ``per_image`` rows: accuracy, AUROC of the ``pos`` class, confusion, localization summaries."""
    index = {c: i for i, c in enumerate(classes)}
    labels = np.array([index[r["label"]] for r in per_image])
    predicted = np.array([index[r["predicted"]] for r in per_image])
    localized = [r for r in per_image if r["pointing"] is not None]
    types = sorted({r["defect_type"] for r in localized})
    n = len(per_image)
    return EvaluationReport(
        model=model, method=method, classes=classes, positive_class=classes[pos], n_images=n,
        accuracy=float((labels == predicted).mean()),
        auroc=auroc([r["p_ng"] for r in per_image], labels == pos),
        confusion=confusion(predicted, labels, len(classes)).tolist(),
        per_type={t: localization_summary([r for r in localized if r["defect_type"] == t]) for t in types},
        overall=localization_summary(localized), per_image=per_image, tolerance_px=tolerance_px, seconds=seconds,
        ms_per_image=1000.0 * seconds / n, model_ms_per_image=1000.0 * model_seconds / n,
        skipped_empty_masks=empty_masks, missing_masks=missing_masks, skipped_files=skipped)


def judge(report: EvaluationReport, card: ModelCard) -> None:
    """Fill ``flags``, ``leakage`` and ``domain_counts`` of ``report`` (:mod:`cam_core.evaluation.honesty`)."""
    from cam_core.evaluation.honesty import evaluation_flags, leakage, training_hashes

    counts = {c: sum(1 for r in report.per_image if r["label"] == c) for c in report.classes}
    report.flags = [f.as_record() for f in evaluation_flags(report.auroc, counts, report.overall)]
    positive = report.classes.index(report.positive_class)
    report.leakage = leakage(report.per_image, training_hashes(card), report.classes, positive)
    if report.leakage and report.leakage["shared"]:
        report.flags.append({"code": "leakage", "text": leakage_text(report.leakage)})
    report.domain_counts = {}
    for row in report.per_image:
        verdict = str(row.get("domain", "unknown"))
        report.domain_counts[verdict] = report.domain_counts.get(verdict, 0) + 1
    outside = report.domain_counts.get("unlike training data", 0)
    if outside:
        report.flags.insert(0, {"code": "outside_domain", "text": f"{outside} of {report.n_images} images are unlike "
                                "this model's training data: its figures on them say little"})


def leakage_text(leak: dict[str, Any]) -> str:
    """``12 of 38 images were in the model's training/validation data; without them: accuracy …, AUROC …``."""
    text = f"{leak['shared']} of {leak['of']} images were in the model's training or validation data"
    if leak.get("n_without"):
        text += (f"; without them ({leak['n_without']} images): accuracy {_fmt(leak['accuracy_without'])}, "
                 f"AUROC {_fmt(leak['auroc_without'])}")
    else:
        text += "; no image is left to score without them"
    return text


def _fmt(value: float, digits: int = 3) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def _domain_lines(report: EvaluationReport) -> list[str]:
    outside = report.domain_counts.get("unlike training data", 0)
    unknown = report.domain_counts.get("unknown", 0)
    if unknown == report.n_images:
        return ["Domain: unknown (the model has no domain reference)"]
    if not outside:
        return [f"Domain: all {report.n_images} images look like the model's training data"]
    return []      # the outside_domain flag says it


def _deletion_lines(report: EvaluationReport) -> list[str]:
    d = report.deletion
    if not d or not d.get("n"):
        return []
    return ["", f"Deletion curve of the {report.positive_class} map on {d['n']} {report.positive_class} images "
                f"(no masks needed): area {_fmt(d['auc'])} vs. {_fmt(d['random_auc'])} for a random cell order "
                f"(lower = the map shows what the network uses); the map beats random on {_fmt(d['beats_random'])}"]


def format_report(report: EvaluationReport) -> str:
    """A readable multi-line summary: headline numbers, confusion matrix, localization table."""
    tol = ("15·max(W,H)/224 px per image" if report.tolerance_px is None else f"{report.tolerance_px:g} px")
    lines = [
        f"Model {report.model}, method {report.method}: {report.n_images} images in {report.seconds:.1f} s "
        f"({report.ms_per_image:.0f} ms/image, model {report.model_ms_per_image:.0f} ms/image)",
        f"Accuracy {_fmt(report.accuracy)}   AUROC ({report.positive_class}) {_fmt(report.auroc)}",
        *_domain_lines(report),
        *(f"FLAG: {flag['text']}" for flag in report.flags),
        "",
        "Confusion matrix at the operating threshold (the verdict as shown; rows = true class, columns = predicted):",
    ]
    width = max(6, *(len(c) + 2 for c in report.classes))
    lines.append(" " * width + "".join(f"{c:>{width}}" for c in report.classes))
    for name, row in zip(report.classes, report.confusion):
        lines.append(f"{name:<{width}}" + "".join(f"{v:>{width}}" for v in row))
    lines += _deletion_lines(report)
    lines += ["", f"Localization of the {report.positive_class} map on {report.positive_class} images with a "
              f"defect mask (pointing tolerance {tol}):"]
    notes = []
    if report.skipped_empty_masks:
        notes.append(f"{report.skipped_empty_masks} all-zero mask(s) skipped")
    if report.missing_masks:
        notes.append(f"{report.missing_masks} image(s) without a mask file")
    if report.skipped_files:
        notes.append(f"{len(report.skipped_files)} unreadable file(s) skipped")
    if notes:
        lines.append("  (" + "; ".join(notes) + ")")
    if not report.overall["n"]:
        lines.append("  no defect masks found (expected masks/<image stem>.png or <image stem>_mask.png)")
        return "\n".join(lines)
    type_width = max(8, *(len(t) + 2 for t in report.per_type))
    header = (f"{'type':<{type_width}}{'n':>5}{'pointing':>10}{'chance':>8}{'energy in mask':>16}{'mask share':>12}"
              f"{'energy/mask':>13}{'IoU@½max':>10}{'flagged':>9}{'pointing|flagged':>18}")
    lines += [header, "-" * len(header)]
    rows = list(report.per_type.items())
    if len(rows) > 1 or (rows and rows[0][0] != ALL_TYPES):
        rows.append(("all", report.overall))
    for name, s in rows:
        lines.append(f"{name:<{type_width}}{s['n']:>5}{_fmt(s['pointing']):>10}"
                     f"{_fmt(s.get('pointing_chance', float('nan'))):>8}{_fmt(s['energy_in_mask']):>16}"
                     f"{_fmt(s['mask_share'], 4):>12}{_fmt(s['energy_ratio'], 2):>13}{_fmt(s['iou']):>10}"
                     f"{s['n_flagged']:>9}{_fmt(s['pointing_flagged']):>18}")
    lines += ["", "pointing: share of maps whose peak is within the tolerance of the mask (chance: a peak placed at "
              "random; energy/mask chance: 1.0); energy in mask: share "
              "of the map's positive values inside the mask (chance = mask share); flagged: images the model "
              "called defective, and the pointing game on those"]
    return "\n".join(lines)
