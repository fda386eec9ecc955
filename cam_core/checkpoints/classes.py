"""The defect-class rule, in one place: which of a model's classes is the defect ("NG") class.

1. A model card's explicit ``defect_class`` wins: a class name (matched case-insensitively) or an index.
2. Otherwise the first class whose name, in lower case, is one of :data:`DEFECT_CLASS_NAMES`.
3. Otherwise there is none (:func:`defect_class_index` → ``None``); metrics that need a positive class
   then use the second class (:func:`positive_class_index`).
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["DEFECT_CLASS_NAMES", "defect_class_index", "defect_names_text", "is_defect_name",
           "positive_class_index"]

#: Class names that mean "defective" (compared in lower case).
DEFECT_CLASS_NAMES: tuple[str, ...] = ("ng", "nok", "defect", "defective", "bad", "reject", "fail")


def is_defect_name(name: str) -> bool:
    """Whether a class called ``name`` is a defect class by name (``NG``, ``defect``, ``bad``, …)."""
    return name.lower() in DEFECT_CLASS_NAMES


def defect_names_text() -> str:
    """The defect class names for messages: ```ng`, `nok`, … or `fail```."""
    quoted = [f"`{name}`" for name in DEFECT_CLASS_NAMES]
    return ", ".join(quoted[:-1]) + f" or {quoted[-1]}"


def defect_class_index(classes: Sequence[str], chosen: str | int | None = None) -> int | None:
    """Index of the defect class among ``classes``, if there is one (see the module's rule).

    ``chosen``: a card's ``defect_class`` (name or index); it decides when valid for ``classes``. Code holding a
    model reads :attr:`cam_core.checkpoints.card.ModelCard.defect_index` instead of calling this.
    """
    names = list(classes)
    if isinstance(chosen, bool):
        chosen = None
    if isinstance(chosen, int) and 0 <= chosen < len(names):
        return chosen
    if isinstance(chosen, str):
        lowered = [n.lower() for n in names]
        if chosen.lower() in lowered:
            return lowered.index(chosen.lower())
    for i, name in enumerate(names):
        if is_defect_name(name):
            return i
    return None


def positive_class_index(classes: Sequence[str], chosen: str | int | None = None) -> int:
    """The class scored as "positive" by AUROC and the pointing game: the defect class, else the second class
    (:attr:`cam_core.checkpoints.card.ModelCard.scored_index` for a model)."""
    index = defect_class_index(classes, chosen)
    if index is not None:
        return index
    return 1 if len(classes) > 1 else 0
