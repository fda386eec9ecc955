"""Networks side by side on one labelled set: the Compare page's table, without any UI.

A labelled set is a data-set folder (:mod:`cam_core.data.dataset`: class folders ``ok/``, ``ng/`` and
optionally ``masks/``). :func:`labelled_folder` summarises it; :func:`compare_networks` runs
:func:`~cam_core.evaluation.evaluate` for each network on at most ``limit`` of its images (classes taken
in turn, :func:`~cam_core.evaluation.balanced_subset`) and gives one :func:`score_row` per network:

- ``accuracy``: share of argmax verdicts equal to the folder label; ``AUROC`` of P(NG);
- ``pointing game``: share of NG maps whose peak lies within ``15·max(W, H)/224`` px of the defect
  (over the NG images with a non-empty mask); ``pointing on NG calls``: the same over those called NG;
- ``energy in mask ÷ mask share``: ``(Σ_mask max(M, 0) / Σ max(M, 0)) / (|mask| / |image|)`` (1 = chance);
- ``pointing chance``: the pointing game of a peak placed at random (the share of the image within the
  tolerance of the mask); ``confusion at threshold``: wrong verdicts of each kind as shown;
- ``unlike training data``: images whose domain check says the network was not trained on anything like them;
- ``flags``: :mod:`cam_core.evaluation.honesty` (inverted ranking, few images, near-chance localization, leakage).
- ``deletion area`` (no masks needed): the area under P(NG) as the cells with the most NG evidence are blurred
  first (:mod:`~cam_core.evaluation.deletion`; lower is better), beside the same for a random cell order.

A network that cannot score the set (its classes differ from the folders, a broken file) gives an error
line; the others still run.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cam_core.errors import CamInspectorError
from cam_core.evaluation.evaluate import balanced_subset, evaluate
from cam_core.evaluation.report import EvaluationReport
from cam_core.explain.pipeline import Explainer
from cam_core.progress import Progress

__all__ = ["SCORE_COLUMNS", "LabelledFolder", "NetworkComparison", "compare_networks", "labelled_folder",
           "score_row"]

log = logging.getLogger(__name__)

SCORE_COLUMNS = ("network", "unlike training data", "grid", "ms/image", "accuracy", "AUROC", "pointing game",
                 "pointing chance", "pointing on NG calls", "energy in mask ÷ mask share", "deletion area",
                 "deletion, random order", "confusion at threshold", "flags")

FractionCallback = Callable[[float, str], None]


@dataclass(frozen=True)
class LabelledFolder:
    """A labelled set on disk: where its class folders are, their image counts, its masks and notes."""

    root: Path                           # the folder holding the class folders (and masks/)
    counts: dict[str, int] = field(hash=False)
    masks: int = 0                       # image files in the masks folder
    notes: tuple[str, ...] = ()          # skipped entries, except masks folders (expected here)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def labelled_folder(folder: str | Path) -> LabelledFolder:
    """Find the class folders under ``folder`` (:func:`cam_core.data.dataset.find_class_folders`, as for
    training data) and count the masks. Raises ``InputError`` when there are no two class folders."""
    from cam_core.data import NOTE_MASKS, find_class_folders

    summary = find_class_folders(folder)
    return LabelledFolder(root=summary.root, counts=dict(summary.counts), masks=summary.mask_files,
                          notes=summary.notes_except(NOTE_MASKS))


def _finite(value: Any) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def score_row(model: str, report: EvaluationReport) -> dict[str, Any]:
    """One row of :data:`SCORE_COLUMNS` from an :class:`~cam_core.evaluation.EvaluationReport`.

    Metrics that are NaN (e.g. AUROC with one class) are ``None``; the localization columns are ``None``
    when no NG image had a mask (``overall["n"] == 0``)."""
    grid = "×".join(str(v) for v in report.map_size) if report.map_size else "?"
    overall = report.overall
    localized = bool(overall["n"])
    return {
        "network": model,
        "unlike training data": domain_text(report),
        "grid": grid,
        "ms/image": round(float(report.model_ms_per_image), 1),
        "accuracy": _finite(report.accuracy),
        "AUROC": _finite(report.auroc),
        "pointing game": _finite(overall["pointing"]) if localized else None,
        "pointing chance": _finite(overall.get("pointing_chance")) if localized else None,
        "pointing on NG calls": _finite(overall["pointing_flagged"]) if localized else None,
        "energy in mask ÷ mask share": _finite(overall["energy_ratio"]) if localized else None,
        "deletion area": _finite(report.deletion.get("auc")),
        "deletion, random order": _finite(report.deletion.get("random_auc")),
        "confusion at threshold": confusion_text(report),
        "flags": "; ".join(f["text"] for f in report.flags) or "none",
    }


def confusion_text(report: EvaluationReport) -> str:
    """``ok→ng 3 · ng→ok 5`` (wrong verdicts at the operating threshold; ``none wrong`` when all are right)."""
    wrong = [f"{report.classes[t]}→{report.classes[p]} {n}" for t, row in enumerate(report.confusion)
             for p, n in enumerate(row) if t != p and n]
    return " · ".join(wrong) or "none wrong"


def domain_text(report: EvaluationReport) -> str:
    """``5 of 38`` images unlike the training data, or ``domain unknown``."""
    if report.domain_counts.get("unknown", 0) == report.n_images:
        return "domain unknown"
    return f"{report.domain_counts.get('unlike training data', 0)} of {report.n_images}"


@dataclass
class NetworkComparison:
    """The scores of some networks on one labelled set."""

    rows: list[dict[str, Any]]
    errors: list[str]
    scored: int                   # images per network (after the cap)
    total: int                    # images in the set
    localized: dict[str, int]     # network → NG images scored against a mask
    missing_masks: int = 0


def _evaluate_one(root: Path, explainer: Explainer, limit: int, on_fraction: Callable[[float, str], None],
                  ) -> tuple[EvaluationReport, int]:
    files, total = balanced_subset(root, explainer.bundle.classes, limit)

    def on_event(event: Progress) -> None:
        if event.stage == "image" and event.total > 0:       # images done of the subset, after each batch
            on_fraction(event.done / event.total, f"{event.done}/{event.total} images")

    return evaluate(root, explainer, files=files, progress=on_event), total


def compare_networks(root: str | Path, models: Sequence[str], load: Callable[[str], Explainer], limit: int,
                     progress: FractionCallback | None = None) -> NetworkComparison:
    """Score each of ``models`` (``load(name)`` gives its explainer) on at most ``limit`` images of ``root``.

    ``progress(fraction, text)`` goes from 0 to 1 over all networks. Errors of one network (loading or
    scoring) become an error line ``"<name>: <message>"`` and the next network runs."""
    report_progress = progress or (lambda fraction, text: None)
    result = NetworkComparison(rows=[], errors=[], scored=0, total=0, localized={})
    for i, model in enumerate(models):
        def on_fraction(done: float, text: str, i: int = i, model: str = model) -> None:
            report_progress((i + done) / len(models), f"{model}: {text}")

        report_progress(i / len(models), f"{model}: loading…")
        try:
            report, result.total = _evaluate_one(Path(root), load(model), limit, on_fraction)
        except CamInspectorError as exc:
            result.errors.append(f"{model}: {exc}")
            continue
        except Exception as exc:  # noqa: BLE001 - one network must not stop the others
            log.exception("scoring %s failed", model)
            result.errors.append(f"{model}: unexpected error ({type(exc).__name__}; details logged).")
            continue
        result.rows.append(score_row(model, report))
        result.localized[model] = int(report.overall["n"])
        result.scored = max(result.scored, report.n_images)
        result.missing_masks = max(result.missing_masks, report.missing_masks)
    report_progress(1.0, "done")
    return result
