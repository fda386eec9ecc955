"""The Compare page's labelled set (an uploaded ZIP, extracted once per session) and its table of scores.

Scoring is :func:`cam_core.evaluation.compare.compare_networks` with the app's shared explainers; this
module only keeps the extracted set and the last table in session state.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import streamlit as st

from app_ui.inputs import InputImage, digest_of, unpack_zip
from app_ui.models import MapMethod, get_explainer, model_ref, timed_explain
from cam_core.evaluation import SCORE_COLUMNS, NetworkComparison, compare_networks, labelled_folder

if TYPE_CHECKING:
    from cam_core.explain.pipeline import Explanation

__all__ = ["LABELLED_SET", "SCORE_COLUMNS", "SCORE_LIMIT", "LabelledSet", "NetworkScores", "labelled_set",
           "score_networks", "scores_key", "timed_explanation"]

SCORE_LIMIT = 200                # the Compare page scores at most this many images of a labelled set
LABELLED_SET = "labelled_set"    # session: the extracted labelled ZIP (one per session)
TIMINGS = "compare_timings"      # session: (model key, method, digest) → (explanation, latency ms)


def timed_explanation(model: str, method: MapMethod, item: InputImage) -> tuple[Explanation, float]:
    """Explanation and latency (ms) of one network on ``item``, measured once per model file, method and image
    in this session (:func:`app_ui.models.timed_explain`)."""
    cache: dict[Any, tuple[Explanation, float]] = st.session_state.setdefault(TIMINGS, {})
    key = (model_ref(model).key, method, item.digest)
    if key not in cache:
        cache[key] = timed_explain(get_explainer(model, method), item.image)
    return cache[key]


@dataclass(frozen=True)
class LabelledSet:
    """An uploaded ZIP with ``ok/``, ``ng/`` (class folders) and optionally ``masks/``, extracted on this server."""

    name: str
    digest: str
    folder: Path                  # scratch folder (removed when replaced or when the process exits)
    root: Path                    # the folder holding the class folders (and masks/)
    counts: dict[str, int] = field(hash=False)
    masks: int = 0
    notes: tuple[str, ...] = ()

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def _kept_set(digest: str) -> LabelledSet | None:
    """The session's set when it is this content and still on disk; an older one is deleted."""
    kept = st.session_state.get(LABELLED_SET)
    if isinstance(kept, LabelledSet) and kept.digest == digest and kept.root.is_dir():
        return kept
    if isinstance(kept, LabelledSet):
        shutil.rmtree(kept.folder, ignore_errors=True)
        st.session_state.pop(LABELLED_SET, None)
    return None


def labelled_set(upload: Any) -> LabelledSet:
    """Extract an uploaded labelled ZIP once per content (:func:`cam_core.data.archives.safe_extract_zip`, then
    :func:`cam_core.evaluation.compare.labelled_folder`, as for training ZIPs). Raises ``InputError`` for a bad
    ZIP."""
    from cam_core.data import sanitize_filename

    data = upload.getvalue()
    digest = digest_of(data)
    kept = _kept_set(digest)
    if kept is not None:
        return kept
    folder, found, notes = unpack_zip(data, "sets", labelled_folder)
    labelled = LabelledSet(name=sanitize_filename(getattr(upload, "name", "set.zip"), "set.zip"), digest=digest,
                           folder=folder, root=found.root, counts=dict(found.counts), masks=found.masks,
                           notes=tuple(notes) + found.notes)
    st.session_state[LABELLED_SET] = labelled
    return labelled


@dataclass
class NetworkScores(NetworkComparison):
    """The Compare page's scores (:class:`~cam_core.evaluation.NetworkComparison`) and what they depend on
    (:func:`scores_key`), kept in session state."""

    key: tuple[Any, ...] = ()


def scores_key(labelled: LabelledSet, models: Sequence[str], method: MapMethod) -> tuple[Any, ...]:
    """What a table of scores depends on: the set, each network's file version, the method, the cap."""
    return (labelled.digest, tuple(model_ref(m).key for m in models), method, SCORE_LIMIT)


def score_networks(labelled: LabelledSet, models: Sequence[str], method: MapMethod,
                   progress: Callable[[float, str], None] | None = None) -> NetworkScores:
    """:func:`cam_core.evaluation.compare.compare_networks` on at most :data:`SCORE_LIMIT` images of
    ``labelled``, with each network's shared explainer."""
    result = compare_networks(labelled.root, models, lambda name: get_explainer(name, method), SCORE_LIMIT,
                              progress=progress)
    return NetworkScores(**vars(result), key=scores_key(labelled, models, method))
