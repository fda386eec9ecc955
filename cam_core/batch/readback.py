"""Reading results back: the part files as one data set, and a row's maps as an :class:`Explanation`.

Rows carry probabilities, not logits; an Explanation rebuilt from a row gets ``logits = log p``, which equal the
network's logits up to one constant per image (softmax, verdicts and evidence maps are unchanged by it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.dataset as pads

from cam_core.batch.schema import MAPS_COLUMN
from cam_core.batch.writer import part_files
from cam_core.checkpoints.card import ModelCard
from cam_core.domain import DomainResult, DomainVerdict, unknown_domain
from cam_core.errors import CamInspectorError, InputError
from cam_core.explain.pipeline import Explanation

__all__ = ["explanation_of_row", "has_maps", "results_dataset", "table_rows"]


def results_dataset(results: str | Path) -> pads.Dataset:
    """The complete part files of a results folder (or one ``.parquet`` file) as one Arrow data set."""
    path = Path(results)
    files = [path] if path.is_file() else part_files(path)
    if not files:
        raise InputError(f"'{results}' holds no batch results (part-*.parquet); run `python -m cam_core batch` first")
    return pads.dataset([str(f) for f in files], format="parquet")


def has_maps(dataset: pads.Dataset) -> bool:
    return MAPS_COLUMN in dataset.schema.names


def _method_name(label: str) -> str:
    return label.split("+", 1)[0]       # "cam+flip" maps are CAM maps


NOT_HERE = "not on this machine"


def results_card(model: str, classes: Sequence[str]) -> ModelCard:
    """The card of the model that made the results: its own when this machine has ``model``, else one holding the
    little the results know (its ``classes``, whose names then name the defect class)."""
    from cam_core.checkpoints import list_models
    from cam_core.models import open_model_card

    path = list_models().get(model)
    try:
        if path is not None:
            return open_model_card(path)
    except CamInspectorError:
        pass
    return ModelCard(arch=NOT_HERE, classes=tuple(classes), input_size=(0, 0))


def explanation_of_row(row: Mapping[str, Any], defect_index: int | None) -> Explanation | None:
    """The row's Explanation from its stored maps (``--save-maps``); None for an error row or one without maps.
    ``defect_index``: the :attr:`ModelCard.defect_index` of :func:`results_card`."""
    maps = row.get(MAPS_COLUMN)
    if row.get("error") is not None or maps is None or row.get("map_height") is None:
        return None
    classes: Sequence[str] = row["classes"]
    map_classes: Sequence[str] = row["map_classes"]
    shape = (len(map_classes), int(row["map_height"]), int(row["map_width"]))
    probabilities = np.asarray(row["probabilities"], dtype=np.float64)
    return Explanation(classes=tuple(classes), probabilities=probabilities,
                       logits=np.log(np.clip(probabilities, 1e-12, None)),
                       maps=np.asarray(maps, dtype=np.float32).reshape(shape),
                       class_indices=tuple(list(classes).index(c) for c in map_classes),
                       image_size=(int(row["width"]), int(row["height"])), method=_method_name(row["method"]),
                       layer="", defect_index=defect_index, domain=domain_of_row(row))


def domain_of_row(row: Mapping[str, Any]) -> DomainResult:
    """The domain check a row recorded (``domain``, ``domain_distance``, ``domain_threshold``)."""
    try:
        verdict = DomainVerdict(row.get("domain"))
    except ValueError:
        return unknown_domain("not recorded in the batch results")
    if verdict is DomainVerdict.UNKNOWN:
        return unknown_domain()
    return DomainResult(verdict=verdict, distance=row.get("domain_distance"), threshold=row.get("domain_threshold"))


def table_rows(table: pa.Table) -> list[dict[str, Any]]:
    """Rows as dicts; the maps column as float16 arrays rather than lists of Python floats."""
    rows = table.drop_columns([MAPS_COLUMN]).to_pylist() if MAPS_COLUMN in table.column_names else table.to_pylist()
    if MAPS_COLUMN in table.column_names:
        column = table.column(MAPS_COLUMN).combine_chunks()
        for i, row in enumerate(rows):
            value = column[i]
            row[MAPS_COLUMN] = None if not value.is_valid else value.values.to_numpy(zero_copy_only=False)
    return rows
