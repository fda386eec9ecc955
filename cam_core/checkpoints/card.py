"""The model card: what a model file says about itself, typed.

The card is JSON under the safetensors metadata key :data:`CARD_KEY` (and a copy in ``<stem>.json``).
:class:`ModelCard` reads it with :meth:`ModelCard.from_dict` and writes it back with :meth:`ModelCard.to_dict`;
the round trip is exact: keys it does not know are kept in :attr:`ModelCard.extra`, keys keep their order,
and keys a card did not have are not added (so old files and files from newer versions keep working).

Fields (all but ``arch``, ``classes`` and ``input_size`` optional):

- ``arch``, ``classes`` (in output order), ``input_size`` ``[height, width]``, ``mean``/``std`` (per RGB channel);
- ``resize`` (``square`` or ``aspect``), ``map_stride`` (32, or 16 for a finer map), ``head_relu``;
- ``trained_on`` (words for every verdict), ``data_kind`` (:class:`DataKind`: ``synthetic``, ``own`` or
  ``unknown``), ``created``, ``training`` (how: data, epochs, ``pretrained``…),
  ``validation`` (how well), ``decision_calibration``, ``stages``;
- ``map_value_range`` / ``evidence_range``: calibrated map ranges ``[lo, hi]`` for fixed colour scales;
- ``defect_class``: the defect class by name or index (else the names rule, :mod:`cam_core.checkpoints.classes`);
- ``source``, ``head_type``, ``origin``, ``notes``: where an imported or converted model came from;
- ``domain``: the domain check's reference (:class:`~cam_core.domain.DomainReference`; its vectors are tensors
  in the model file), absent when the model's domain is unknown;
- ``data_hashes``: sha256 of every training and validation file (``{"train": [...], "val": [...]}``).

Every fact the product states about a model is answered here, once: the defect class (:attr:`ModelCard.defect_index`),
the class metrics score as positive (:attr:`ModelCard.scored_index`), what it was trained on
(:attr:`ModelCard.trained_on_text`, imports and ONNX graphs folded in), the kind of data (:attr:`ModelCard.data`),
the architecture as shown (:attr:`ModelCard.arch_label`), the methods it allows (:attr:`ModelCard.methods`),
the resizing and the calibrated ranges.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any

from cam_core.checkpoints.classes import defect_class_index, positive_class_index
from cam_core.domain.reference import DomainReference
from cam_core.errors import ModelError
from cam_core.options import Method

__all__ = ["CARD_KEY", "FORMAT_VERSION", "IMAGENET_MEAN", "IMAGENET_STD", "LEGACY_SYNTHETIC_TEXT", "RESIZE_MODES", "SYNTHETIC_TEXT",
           "DataKind", "ModelCard", "validate_card"]

CARD_KEY = "cam_inspector"
FORMAT_VERSION = 1
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
RESIZE_MODES = ("square", "aspect")
NOT_RECORDED = "not recorded in its model card"
#: What cards written before ``data_kind`` existed said of synthetic training data: such a card reads as
#: ``synthetic`` through this frozen copy, so rewording today's description never drops the warning.
LEGACY_SYNTHETIC_TEXT = "synthetic parts (plates and hex nuts drawn by cam_core.synth)"
#: What every page and report says of a model that has only seen synthetic parts (plain words, whatever the
#: card's ``trained_on`` record says).
SYNTHETIC_TEXT = "synthetic parts drawn by this product (plates and hex nuts), no real photographs"


class DataKind(StrEnum):
    """What a model was trained on: our synthetic parts, the user's own images, or nobody knows (imports)."""

    SYNTHETIC = "synthetic"
    OWN = "own"
    UNKNOWN = "unknown"

_REQUIRED = ("arch", "classes", "input_size")
_TUPLES = frozenset({"classes", "input_size", "mean", "std", "map_value_range", "evidence_range"})


@dataclass(frozen=True)
class ModelCard:
    """A model card. ``to_dict(from_dict(d)) == d`` for every card ``d``."""

    arch: str
    classes: tuple[str, ...]
    input_size: tuple[int, int]                       # (height, width)
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    format_version: int = FORMAT_VERSION
    resize: str = "square"
    map_stride: int = 32
    head_relu: bool = True
    trained_on: str | None = None
    data_kind: DataKind | None = None                 # as written; read it through :attr:`data`
    created: str | None = None
    training: dict[str, Any] = field(default_factory=dict)
    validation: dict[str, Any] = field(default_factory=dict)
    map_value_range: tuple[float, ...] | None = None
    evidence_range: tuple[float, ...] | None = None
    decision_calibration: dict[str, Any] | None = None
    stages: list[Any] | None = None
    defect_class: str | int | None = None
    source: Any = None                                # imports: where the weights came from
    head_type: str | None = None                      # imports: the head as found (e.g. single logit)
    origin: dict[str, Any] | None = None              # converted files: format, file, architecture, head
    notes: list[str] | None = None                    # assumptions made when the card was written
    domain: DomainReference | None = None             # the domain check's reference (cam_core.domain)
    data_hashes: dict[str, list[str]] | None = None   # sha256 of the training/validation files
    extra: dict[str, Any] = field(default_factory=dict)          # keys this version does not know
    key_order: tuple[str, ...] = field(default=(), repr=False, compare=False)  # keys as read, in order

    @classmethod
    def from_dict(cls, card: Mapping[str, Any]) -> ModelCard:
        """Read a card dict (as :func:`validate_card` accepts it); raises ``ModelError`` without ``arch``/``classes``/``input_size``."""
        missing = [k for k in _REQUIRED if k not in card]
        if missing:
            raise ModelError(f"the model card lacks {', '.join(missing)}")
        known = {f.name for f in fields(cls)} - {"extra", "key_order"}
        values: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for key, value in card.items():
            if key == "domain" and isinstance(value, Mapping):
                values[key] = _domain_of(value)
            elif key == "data_kind" and value in DataKind._value2member_map_:
                values[key] = DataKind(value)
            elif key == "data_kind":
                extra[key] = value          # a kind this version does not know: kept, read as not written
            elif key in known:
                values[key] = tuple(value) if key in _TUPLES and value is not None else value
            else:
                extra[key] = value
        return cls(**values, extra=extra, key_order=tuple(card))

    def to_dict(self) -> dict[str, Any]:
        """The card as JSON-ready dict: the keys it was read with, in their order, then new ones set here."""
        out: dict[str, Any] = {}
        values = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("extra", "key_order")}
        defaults = ModelCard(arch="", classes=(), input_size=(0, 0))
        read = set(self.key_order)
        order = [*self.key_order, *(k for k in values if k not in read), *(k for k in self.extra if k not in read)]
        for key in order:
            if key in values and not (values[key] is None and key in self.extra):   # an unknown data_kind kept
                value = values[key]
                if key not in read and key not in _REQUIRED and value == getattr(defaults, key):
                    continue          # not in the card it was read from, and not set since: keep it out
                out[key] = (value.to_dict() if isinstance(value, DomainReference)
                            else list(value) if key in _TUPLES and isinstance(value, tuple) else value)
            elif key in self.extra:
                out[key] = self.extra[key]
        return out

    @property
    def trained_on_text(self) -> str:
        """What the model was trained on, in words, for every verdict: :data:`SYNTHETIC_TEXT` for synthetic data;
        else ``trained_on``; else, for an imported or converted model, "not recorded in its model card (imported
        from FILE)"; else "not recorded …"."""
        if self.data is DataKind.SYNTHETIC:
            return SYNTHETIC_TEXT
        if isinstance(self.trained_on, str) and self.trained_on:
            return self.trained_on
        if isinstance(self.origin, Mapping) and self.origin.get("file"):
            return f"{NOT_RECORDED} (imported from {self.origin['file']})"
        return NOT_RECORDED

    @property
    def data(self) -> DataKind:
        """The kind of training data: ``data_kind`` when written; an older card without it is ``synthetic`` when
        its ``trained_on`` is :data:`LEGACY_SYNTHETIC_TEXT`, ``own`` when it records a training run, else
        ``unknown``."""
        if self.data_kind is not None:
            return self.data_kind
        if self.trained_on == LEGACY_SYNTHETIC_TEXT:
            return DataKind.SYNTHETIC
        return DataKind.OWN if isinstance(self.training, dict) and self.training.get("data_dir") else DataKind.UNKNOWN

    @property
    def synthetic_only(self) -> bool:
        """True when the model has only seen synthetic parts (real photographs are new to it)."""
        return self.data is DataKind.SYNTHETIC

    @property
    def defect_index(self) -> int | None:
        """Index of the defect class: ``defect_class`` when given, else the names rule
        (:func:`cam_core.checkpoints.classes.defect_class_index`); ``None`` when the model has none."""
        return defect_class_index(self.classes, self.defect_class)

    @property
    def scored_index(self) -> int:
        """The class AUROC and the pointing game score as positive: the defect class, else the second class."""
        return positive_class_index(self.classes, self.defect_class)

    @property
    def arch_label(self) -> str:
        """The architecture as shown: ``arch``, or ``"<architecture> (ONNX)"`` for a graph read from an ONNX file."""
        if isinstance(self.origin, Mapping) and self.origin.get("format") == "onnx":
            return "onnx" if self.arch == "onnx" else f"{self.origin.get('architecture', self.arch)} (ONNX)"
        return self.arch

    @property
    def methods(self) -> tuple[Method, ...]:
        """The map methods the model allows: all for a PyTorch network; CAM only for a graph read from an ONNX
        file (onnxruntime gives no gradients)."""
        if isinstance(self.origin, Mapping) and self.origin.get("format") == "onnx":
            return (Method.CAM,)
        return tuple(Method)

    @property
    def pretrained(self) -> dict[str, Any]:
        """``training.pretrained`` (what the weights started from), ``{}`` when not recorded."""
        value = self.training.get("pretrained") if isinstance(self.training, dict) else None
        return value if isinstance(value, dict) else {}

    @property
    def value_range(self) -> tuple[float, float] | None:
        """``map_value_range`` as two floats, if recorded."""
        rng = self.map_value_range
        return (float(rng[0]), float(rng[1])) if rng else None

    @property
    def evidence_limits(self) -> tuple[float, float] | None:
        """``evidence_range`` as two floats, if recorded."""
        rng = self.evidence_range
        return (float(rng[0]), float(rng[1])) if rng else None


def _domain_of(value: Mapping[str, Any]) -> DomainReference:
    try:
        return DomainReference.from_dict(value)
    except ValueError as exc:
        raise ModelError(str(exc)) from None


def validate_card(card: object, label: str, known_architectures: tuple[str, ...] | None = None) -> None:
    """Raise ``ModelError`` (one line, naming ``label``) unless ``card`` is a usable model card.

    With ``known_architectures`` the ``arch`` must be one of them and ``map_stride`` must fit it.
    """
    if not isinstance(card, dict):
        raise ModelError(f"{label}: the model card must be a JSON object")
    if known_architectures is not None and card.get("arch") not in known_architectures:
        raise ModelError(f"{label}: unknown architecture {card.get('arch')!r}; known: {', '.join(known_architectures)}")
    classes = card.get("classes")
    if not (isinstance(classes, list) and len(classes) >= 2 and all(isinstance(c, str) and c for c in classes)
            and len(set(classes)) == len(classes)):
        raise ModelError(f"{label}: the card's 'classes' must list two or more distinct class names")
    size = card.get("input_size")
    if not (isinstance(size, list) and len(size) == 2 and all(isinstance(v, int) and 16 <= v <= 2048 for v in size)):
        raise ModelError(f"{label}: the card's 'input_size' must be [height, width] between 16 and 2048")
    if known_architectures is not None:
        _check_map_stride(card, label)
    if card.get("resize", "square") not in RESIZE_MODES:
        raise ModelError(f"{label}: the card's 'resize' must be one of {', '.join(RESIZE_MODES)}")
    for key in ("mean", "std"):
        values = card.get(key)
        if not (isinstance(values, list) and len(values) == 3 and all(isinstance(v, int | float) for v in values)):
            raise ModelError(f"{label}: the card's {key!r} must be three numbers")


def _check_map_stride(card: dict[str, Any], label: str) -> None:
    from cam_core.engine.names import MAP_STRIDE_RULE, map_stride_supported

    if not map_stride_supported(card["arch"], card.get("map_stride", 32)):
        raise ModelError(f"{label}: the card's 'map_stride' does not fit {card['arch']} ({MAP_STRIDE_RULE})")
