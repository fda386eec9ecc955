"""A model card in human rows ``(field, value)``, for the report's details, the Models page and the CLI.

Each row group has its own small function; :func:`card_summary` puts them in reading order: what the
model is (with its defect class and, for an imported model, where it came from), what it was trained on and
how, how well it validated, how to train it again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cam_core.checkpoints import ModelCard

__all__ = ["card_summary", "domain_rows", "format_value", "model_line"]

Rows = list[tuple[str, str]]
_TRAINING_SETTINGS = ("batch_size", "lr", "image_size", "seed", "device", "seconds")
_ORIGIN_FIELDS = ("format", "file", "architecture", "head")


def format_value(value: Any) -> str:
    """A card value as text: floats to 4 significant digits, lists joined by commas, mappings as ``k: v``."""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list | tuple):
        return ", ".join(format_value(v) for v in value)
    if isinstance(value, Mapping):
        return ", ".join(f"{k}: {format_value(v)}" for k, v in value.items())
    return str(value)


def _counts(value: Any) -> str:
    if isinstance(value, Mapping):
        return ", ".join(f"{k} {v}" for k, v in value.items())
    return format_value(value)


def _model_rows(card: ModelCard) -> Rows:
    size = card.input_size
    rows: Rows = [
        ("Trained on", card.trained_on_text),
        ("Architecture", card.arch),
        ("Classes", ", ".join(card.classes)),
        ("Input size", f"about {size[0]}×{size[1]} px at each image's own aspect ratio"
         if card.resize == "aspect" else f"{size[0]}×{size[1]} px (height × width)"),
    ]
    if card.map_stride == 16:
        rows.append(("Map stride", "16: last stage at half stride (twice the CAM grid per side)"))
    return rows + _provenance_rows(card)


def _provenance_rows(card: ModelCard) -> Rows:
    """The defect class (:attr:`ModelCard.defect_index`), where an imported model came from (``origin``:
    format, file, architecture, head) and the card's ``notes``."""
    positive = card.defect_index
    rows: Rows = [("Defect class", card.classes[positive] if positive is not None
                   else "none (each verdict names the most probable class)")]
    origin = card.origin
    if isinstance(origin, Mapping):
        parts = [f"{key} {format_value(origin[key])}" for key in _ORIGIN_FIELDS if origin.get(key)]
        if parts:
            rows.append(("Imported from", ", ".join(parts)))
    notes = card.notes
    if isinstance(notes, list | tuple) and notes:
        rows.append(("Notes", "; ".join(str(n) for n in notes)))
    return rows


def _training_of(card: ModelCard) -> Mapping[str, Any]:
    """The card's ``training`` section as a mapping (an old card's plain string becomes its ``source``)."""
    training: Any = card.training
    if isinstance(training, Mapping):
        return training
    return {"source": training} if training else {}


def _data_rows(training: Mapping[str, Any]) -> Rows:
    data = training.get("data")
    if not (training.get("data_dir") or data):
        return []
    text = f"{training.get('data_dir', '')}"
    if isinstance(data, Mapping):
        parts = [f"{part}: {_counts(data[part])}" for part in ("train", "val") if part in data]
        if data.get("split"):
            parts.append(f"split {data['split']}")
        text = f"{text} ({'; '.join(parts)})" if text else "; ".join(parts)
    return [("Training data", text)]


def _run_rows(training: Mapping[str, Any]) -> Rows:
    rows: Rows = []
    if training.get("source"):
        rows.append(("Weights from", format_value(training["source"])))
    if training.get("epochs") is not None:
        run = training.get("epochs_run", training["epochs"])
        best = training.get("best_epoch")
        stopped = " (stopped early)" if training.get("interrupted") else ""
        rows.append(("Epochs", f"{run} of {training['epochs']}{stopped}" + (f", best {best}" if best else "")))
    pretrained = training.get("pretrained")
    if isinstance(pretrained, Mapping):
        rows.append(("Pretrained", format_value(pretrained.get("source")) if pretrained.get("used")
                     else "no (from scratch)"))
    details = [f"{k} {format_value(training[k])}" for k in _TRAINING_SETTINGS if training.get(k) is not None]
    if details:
        rows.append(("Training settings", ", ".join(details)))
    return rows


def _validation_rows(card: ModelCard) -> Rows:
    validation = card.validation
    if not isinstance(validation, Mapping) or not validation:
        return [("Validation accuracy", "not recorded"), ("Validation AUROC", "not recorded")]
    rows: Rows = []
    for key, label in (("accuracy", "Validation accuracy"), ("auroc", "Validation AUROC")):
        value = validation.get(key)
        rows.append((label, "n/a" if value is None else format_value(value)))
    if validation.get("n_images") is not None:
        rows.append(("Validation images", format_value(validation["n_images"])))
    rows.append(("Validation measured on", f"the model's own validation split of {card.trained_on_text}: it says "
                 "nothing about other kinds of parts"))
    if validation.get("judgement"):
        rows.append(("Validation judgement", str(validation["judgement"])))
    calibration = card.decision_calibration
    if isinstance(calibration, Mapping):
        rows.append(("Threshold calibration", str(calibration["skipped"]) if calibration.get("skipped") else
                     f"ran: defect logit offset {format_value(calibration.get('defect_logit_offset', 0.0))}"))
    return rows


def domain_rows(card: ModelCard) -> Rows:
    """The domain check: where its reference came from and its threshold, or that the domain is unknown."""
    domain = card.domain
    if domain is None:
        return [("Domain check", "unknown: this model has no domain reference, so images unlike its training data "
                                 "are not marked")]
    return [("Domain check", f"reference of {domain.n_reference} images from {domain.source}; an "
                             f"image farther than {format_value(domain.threshold)} (mean cosine distance to "
                             f"its {domain.k} nearest reference images) is marked 'unlike training data'"
                             + (f"; threshold calibrated on {domain.calibration}" if domain.calibration else ""))]


def card_summary(card: ModelCard) -> Rows:
    """Human rows ``(field, value)`` for a model card: architecture, classes, input size, training
    data, validation accuracy / AUROC and the training command (whatever of these the card holds)."""
    training = _training_of(card)
    rows = _model_rows(card) + _data_rows(training) + _run_rows(training)
    if card.created:
        rows.append(("Created", str(card.created)))
    rows += _validation_rows(card) + domain_rows(card)
    if card.map_value_range:
        rows.append(("Calibrated map range", format_value(card.map_value_range)))
    command = card.extra.get("command") or training.get("command_line") or training.get("command")
    rows.append(("Training command", str(command) if command else "not recorded"))
    return rows


def model_line(card: ModelCard, name: str | None = None) -> str:
    """One line for the report's first rows: ``line7 (resnet18) · defect class: scratch · imported from
    line7.pt: state dict, resnet18 (detected from the weights), head linear (fc: 2 outputs)``; a model of
    ours says only its name, network and defect class."""
    positive = card.defect_index
    parts = [f"{name or '?'} ({card.arch})",
             f"defect class: {card.classes[positive]}" if positive is not None else "no defect class"]
    origin = card.origin
    if isinstance(origin, Mapping) and origin.get("file"):
        how = [str(origin.get("format", "")).replace("_", " "), str(origin.get("architecture", "")),
               f"head {origin['head']}" if origin.get("head") else ""]
        parts.append(f"imported from {origin['file']}: " + ", ".join(h for h in how if h))
    return " · ".join(parts)
