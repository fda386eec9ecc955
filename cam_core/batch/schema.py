"""The batch's Parquet columns, defined once: name, Arrow type and meaning of each.

One row per image. A file that could not be explained still gets its row, with ``error`` set and the
explanation columns null. Lists indexed by class follow ``classes`` (the model's order); lists indexed by map
follow ``map_classes`` (CAM: every class; Grad-CAM: the classes it mapped).

Evidence statistics are those of the defect class's evidence map ``E = M_d − mean_c M_c`` (CAM; the raw map
for gradient methods) at map resolution: ``evidence_max = max E`` and ``hot_share = |{E ≥ A/2}| / (h·w)``,
"hot" being the top quarter of the symmetric colour scale ``[−A, A]`` the app draws (scaled value ≥ 0.75),
with ``A`` the model card's calibrated evidence range, else the image's own ``max |E|``.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

__all__ = ["COLUMNS", "MAPS_COLUMN", "Column", "KEY_COLUMNS", "arrow_schema", "column_names"]


@dataclass(frozen=True)
class Column:
    name: str
    type: pa.DataType
    doc: str


_UTC_MS = pa.timestamp("ms", tz="UTC")
MAPS_COLUMN = "maps"
KEY_COLUMNS = ("path", "file_hash")          # what resume matches on

COLUMNS: tuple[Column, ...] = (
    Column("path", pa.string(), "the image file as given (folder/glob/list entry)"),
    Column("folder", pa.string(), "its parent folder"),
    Column("size_bytes", pa.int64(), "file size in bytes"),
    Column("file_hash", pa.string(), "SHA-256 of the file's bytes (hex)"),
    Column("modified", _UTC_MS, "file modification time (UTC): the time axis of the report"),
    Column("width", pa.int32(), "image width in pixels (after EXIF rotation)"),
    Column("height", pa.int32(), "image height in pixels"),
    Column("verdict", pa.string(), "called class upper-cased, e.g. NG"),
    Column("is_defect", pa.bool_(), "verdict is the defect class (null: the model has none)"),
    Column("probability", pa.float64(), "probability of the called class"),
    Column("defect_probability", pa.float64(), "probability of the defect class (null: none)"),
    Column("threshold", pa.float64(), "decision threshold on defect_probability (null: argmax of a model "
                                      "without a defect class)"),
    Column("domain", pa.string(), "domain check: known / unlike training data (verdict not to be trusted) / "
                                  "unknown (cam_core.domain.DomainVerdict)"),
    Column("domain_distance", pa.float64(), "the image's distance to the model's reference (null: unknown)"),
    Column("domain_threshold", pa.float64(), "the distance above which the image is unlike the training data"),
    Column("classes", pa.list_(pa.string()), "the model's classes"),
    Column("probabilities", pa.list_(pa.float32()), "probability of each class"),
    Column("map_classes", pa.list_(pa.string()), "class of each map"),
    Column("peak_x", pa.list_(pa.int32()), "x of each map's peak, in image pixels"),
    Column("peak_y", pa.list_(pa.int32()), "y of each map's peak, in image pixels"),
    Column("evidence_max", pa.float32(), "maximum of the defect class's evidence map"),
    Column("hot_share", pa.float32(), "share of the defect evidence map that is hot (see module docs)"),
    Column("map_height", pa.int16(), "map grid rows"),
    Column("map_width", pa.int16(), "map grid columns"),
    Column("model", pa.string(), "model name"),
    Column("model_hash", pa.string(), "SHA-256 of the model file"),
    Column("method", pa.string(), "cam, cam+flip, gradcam, gradcam++"),
    Column("explained_at", _UTC_MS, "when the row was made (UTC)"),
    Column("error", pa.string(), "why the file could not be explained (null: explained)"),
)
_MAPS = Column(MAPS_COLUMN, pa.list_(pa.float16()), "with --save-maps: raw maps, float16, K×h×w flattened "
                                                    "(K = len(map_classes))")


def column_names(with_maps: bool = False) -> list[str]:
    return [c.name for c in COLUMNS] + ([MAPS_COLUMN] if with_maps else [])


def arrow_schema(with_maps: bool = False) -> pa.Schema:
    """The Arrow schema of a part file (``maps`` last, only with ``--save-maps``)."""
    columns = COLUMNS + ((_MAPS,) if with_maps else ())
    return pa.schema([pa.field(c.name, c.type) for c in columns])
