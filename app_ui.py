"""Shared Streamlit helpers of the CAM Inspector app: cached models, inputs, settings, errors.

Pages stay thin: everything they compute goes through :mod:`cam_core` (the same functions the CLI
uses). This module only adds Streamlit caching and widgets around them.

Caching policy
--------------
- Networks: one :class:`~cam_core.explain.pipeline.Explainer` per (model file, mtime, method), shared by all
  sessions with ``st.cache_resource`` (the explainer is thread-safe; its hook is registered once).
  A model file that is replaced on disk gets a new mtime and therefore a fresh load.
- Decoded images, their screen-size copies and explanations: process-wide LRU caches with byte
  budgets (:func:`_stores`), keyed by content hash (and model file, mtime, method, targets), so
  moving a slider never decodes again nor re-runs the network; only the overlays are redrawn.
  The same immutable PIL images are shared by every session that uploaded the same bytes.

Session state keeps the user's settings (``cfg_*`` keys, carried across pages), the last
explained batch (:data:`LAST_BATCH`), which the Report and Compare pages reuse, the last explained
video (:data:`VIDEO_RUN`; its files live in a per-process scratch folder, see :func:`run_video`) and the
labelled ZIP the Compare page scores networks on (:data:`LABELLED_SET`, extracted to a scratch folder).

Defect masks: an :class:`InputImage` may carry a :class:`DefectMask` (built-in NG samples bring their
exact synthetic mask; uploads get one from :func:`attach_masks`). The Explain page outlines it on the
overlays and scores the defect map against it with :func:`cam_core.evaluation.core.localization_scores`,
the function :func:`cam_core.evaluation.core.evaluate` uses too.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import logging
import os
import shutil
import tempfile
import threading
import time
import zipfile
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import streamlit as st
from PIL import Image

from cam_core import CamInspectorError, Explainer, Explanation, InputError, ModelError, list_models
from cam_core.checkpoints.bundle import DEFAULT_MODEL, ModelBundle, load_checkpoint, user_models_dir
from cam_core.data.samples import (
    SAMPLE_CLIP_FPS,
    SAMPLE_CLIP_SECONDS,
    SAMPLE_CLIP_SEED,
    SAMPLE_SIZE,
    SAMPLES,
    render_sample,
    sample_file_name,
)
from cam_core.explain.render import COLORMAPS, OUTLINE_COLOR
from cam_core.report.html import (
    Verdict,
    class_overlays,
    fit_within,
    positive_index_of,
    scores_json,
    scores_table,
    verdict_of,
)
from cam_core.scratch import make_scratch_root
from cam_core.video.core import FrameRecord, VideoInfo, VideoProgress, VideoResult

log = logging.getLogger("cam_inspector.app")

METHOD_LABELS: dict[str, str] = {"cam": "CAM", "cam-flip": "CAM, flip-averaged", "gradcam": "Grad-CAM",
                                  "gradcam++": "Grad-CAM++"}
FLIP_SUFFIX = "-flip"             # "cam-flip": CAM averaged with the mirrored image (Explainer(flip_average=True))
NORM_LABELS: dict[str, str] = {"evidence": "Evidence (for / against)", "shared": "Raw, shared", "per-map": "Raw, per map",
                                "raw": "Raw, calibrated"}
IMAGE_TYPES: list[str] = ["png", "jpg", "jpeg", "bmp", "tif", "tiff", "webp", "gif"]
DISPLAY_MAX_SIDE = 1024          # overlays shown on screen are drawn at most this large
PREFERRED_MODELS = (DEFAULT_MODEL,)
LAST_BATCH = "last_batch"
SAMPLE_MASK_SOURCE = "the sample's own mask"
OUTLINE_WIDTH = 2                # px at screen size
MASK_SUFFIXES = ("_mask", "-mask", ".mask", "_gt", "-gt")  # part7_mask.png is the mask of part7.jpg

STALE_UPLOAD_HINT = ("A file still listed in an upload box after the server restarted is no longer on the server: "
                     "remove it (×) and upload it again.")

NO_MODELS_MESSAGE = (
    "No model is available yet. Train one on the **Models** page (upload a ZIP with `ok/` and `ng/` "
    "folders), upload a `.safetensors` checkpoint there, or run "
    "`python -m cam_core train DATA_DIR` (EfficientNet-Lite0 from its ImageNet weights). "
    f"Models are looked up in `models/` and in `{user_models_dir()}` (set `CAM_INSPECTOR_MODELS` to change it)."
)

KEPT_OVERLAY = "kept_overlay"      # (opacity, colormap) as last set by a widget (see overlay_controls)
# Settings shared by every page; widgets use these keys and read their defaults from here.
DEFAULTS: dict[str, Any] = {
    "cfg_method": "cam",
    "cfg_norm": "evidence",
    "cfg_opacity": 0.5,
    "cfg_colormap": "jet",
    "cfg_raw_grid": False,
    "cfg_samples": [],
    "cfg_target": "predicted",
    "cfg_report_title": "CAM Inspector report",
    "cfg_video_layout": "overlay",
    "cfg_video_every": 1,
    "cfg_video_max_side": 640,
}


# --------------------------------------------------------------------------- session state


APP_PAGES: tuple[tuple[str, str, str], ...] = (      # (file, title, icon), in menu order
    ("pages/explain.py", "Explain", ":material/image_search:"),
    ("pages/compare.py", "Compare networks", ":material/compare:"),
    ("pages/video.py", "Video", ":material/movie:"),
    ("pages/models.py", "Models", ":material/model_training:"),
    ("pages/report.py", "Report", ":material/description:"),
)
HOME_PAGE = "pages/explain.py"
APP_ROOT = Path(__file__).resolve().parent


@st.cache_resource(show_spinner=False)
def tab_icon() -> Image.Image:
    """The browser-tab icon, drawn here (a material icon name would be fetched from an external font host)."""
    from cam_core.explain.render import colorize

    yy, xx = np.mgrid[:32, :32]
    heat = np.exp(-((xx - 20) ** 2 + (yy - 12) ** 2) / 60.0).astype(np.float32)
    return Image.fromarray(colorize(heat, "jet"), "RGB")


def available_pages() -> list[tuple[str, str, str]]:
    """The entries of :data:`APP_PAGES` whose file exists (the Video page is optional)."""
    return [entry for entry in APP_PAGES if (APP_ROOT / entry[0]).exists()]

_menu = threading.local()          # per script run: has app.py drawn the menu for the page now running?


def draw_menu(pages: Sequence[Any] | None = None) -> None:
    """The page menu at the top of the sidebar: ``pages`` (app.py's ``st.Page`` objects), or, when a page
    runs on its own, links to the same files (Streamlit runs a page file directly when a fresh server's
    first visitor opens its URL before app.py has ever run)."""
    _menu.drawn = pages is not None
    if pages is None and _main_script() != APP_ROOT / "app.py":
        return                     # a page run as its own app (`streamlit run pages/x.py`): nothing to link to
    with st.sidebar.container(key="app_menu"):
        if pages is not None:
            for page in pages:
                st.page_link(page)
        else:
            for path, title, icon in available_pages():
                st.page_link("app.py" if path == HOME_PAGE else path, label=title, icon=icon)


def _main_script() -> Path | None:
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    return Path(ctx.main_script_path).resolve() if ctx is not None else None


def page_menu() -> None:
    """Called by every page: draws the menu unless app.py already did in this run."""
    if not getattr(_menu, "drawn", False):
        draw_menu()
    _menu.drawn = False


def init_state() -> None:
    """Set defaults and keep widget values alive across page switches.

    Streamlit forgets a widget's value when a run does not draw that widget (e.g. on another page).
    Re-assigning the ``cfg_*`` keys at the start of every run turns them into plain session values
    that survive, and the widgets (created with ``key=`` and no ``value=``) pick them up again.
    """
    state = st.session_state
    for key, value in DEFAULTS.items():
        if key not in state:
            state[key] = list(value) if isinstance(value, list) else value
    for key in list(state.keys()):
        if isinstance(key, str) and key.startswith("cfg_"):
            state[key] = state[key]
    kept = state.get(KEPT_OVERLAY)
    if kept is not None:
        state["cfg_opacity"], state["cfg_colormap"] = kept


def run_guarded(body: Callable[[], None]) -> None:
    """Run a page body; user errors become ``st.error`` lines, anything else a logged generic message.

    Streamlit's own control flow (rerun, stop) derives from ``BaseException`` and passes through.
    """
    try:
        body()
    except CamInspectorError as exc:
        show_error(exc)
    except Exception:  # noqa: BLE001 - the user must never see a traceback page
        log.exception("unexpected error on a CAM Inspector page")
        st.error("Unexpected error: something went wrong on our side (details logged). Try again, or "
                 "try another image or model; if it persists, report it with the server log.")


def show_error(exc: BaseException, prefix: str | None = None) -> None:
    """``st.error`` with the message of a :class:`CamInspectorError` (its text says what to do)."""
    if isinstance(exc, CamInspectorError):
        st.error(f"{prefix}: {exc}" if prefix else str(exc))
    else:
        log.error("unexpected %s: %s", type(exc).__name__, exc, exc_info=exc)
        st.error(f"{prefix + ': ' if prefix else ''}unexpected error (details logged).")


def error_line(name: str, exc: BaseException) -> str:
    """``"<name>: <message>"``, without repeating the name when the message already quotes it."""
    message = str(exc)
    return message if name and name in message else f"{name}: {message}"


# --------------------------------------------------------------------------- models


@dataclass(frozen=True)
class ModelRef:
    """A model file as seen now: the cache key of everything computed with it."""

    name: str
    path: str
    mtime_ns: int
    size: int

    @property
    def key(self) -> tuple[str, str, int, int]:
        return (self.name, self.path, self.mtime_ns, self.size)


def model_names() -> list[str]:
    """Every available model (shipped, then user-trained), preferred ones first."""
    names = list(list_models())
    preferred = [n for n in PREFERRED_MODELS if n in names]
    return preferred + [n for n in names if n not in preferred]


def model_ref(name: str) -> ModelRef:
    """The current file of model ``name`` (raises :class:`ModelError` if it is gone)."""
    path = list_models().get(name)
    if path is None:
        raise ModelError(f"model {name!r} is no longer available; pick another one in the sidebar")
    try:
        stat = path.stat()
    except OSError as exc:
        raise ModelError(f"model {name!r} cannot be read ({exc}); pick another one") from None
    return ModelRef(name=name, path=str(path), mtime_ns=stat.st_mtime_ns, size=stat.st_size)


@st.cache_resource(max_entries=8, show_spinner="Loading the network…")
def _load_bundle(name: str, path: str, mtime_ns: int, size: int) -> ModelBundle:
    del mtime_ns, size  # cache key only: a replaced file reloads
    return load_checkpoint(path, name=name)


@st.cache_resource(max_entries=12, show_spinner=False)
def _load_explainer(name: str, path: str, mtime_ns: int, size: int, method: str) -> Explainer:
    bundle = _load_bundle(name, path, mtime_ns, size)
    flip = method.endswith(FLIP_SUFFIX)
    explainer = Explainer(bundle, method=method.removesuffix(FLIP_SUFFIX), flip_average=flip)
    height, width = bundle.input_size
    explainer.explain([Image.new("RGB", (width, height), (128, 128, 128))])  # warm-up: first call is slow
    return explainer


def get_explainer(model_name: str, method: str = "cam") -> Explainer:
    """The shared, thread-safe explainer of ``model_name`` with ``method`` (loaded once per file version)."""
    ref = model_ref(model_name)
    return _load_explainer(*ref.key, method)


def model_picker(container: Any = None, *, key: str = "cfg_model", label: str = "Network") -> str | None:
    """A select box over :func:`model_names`; shows how to get a model when there is none."""
    container = container or st.sidebar
    names = model_names()
    if not names:
        st.warning(NO_MODELS_MESSAGE)
        return None
    if st.session_state.get(key) not in names:
        st.session_state[key] = names[0]
    return container.selectbox(label, names, key=key,
                               help="Shipped models (models/) and the ones trained or uploaded on the Models page.")


def method_picker(container: Any = None) -> str:
    container = container or st.sidebar
    return container.selectbox("Method", list(METHOD_LABELS), format_func=METHOD_LABELS.get, key="cfg_method",
                               help="CAM: the network's own class weights, no gradients (exact). "
                                    "Flip-averaged CAM also runs the mirrored image and averages both (twice the "
                                    "cost; on real magnetic tiles +0.01–0.03 AUROC). "
                                    "Grad-CAM / Grad-CAM++: gradient-weighted, work for any conv layer.")


@dataclass(frozen=True)
class ViewSettings:
    """How maps are drawn (never affects the network's verdict)."""

    mode: str = "evidence"
    opacity: float = 0.5
    colormap: str = "jet"
    value_range: tuple[float, float] | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"normalization": self.mode, "opacity": self.opacity, "colormap": self.colormap}
        if self.mode == "raw" and self.value_range:
            out["value_range"] = list(self.value_range)
        return out


def view_controls(container: Any = None, value_range: tuple[float, float] | None = None,
                  overlay: bool = True) -> ViewSettings:
    """Normalisation, opacity and colormap widgets (shared by every page through ``cfg_*`` keys).

    ``overlay=False`` leaves opacity and colormap to the caller (Explain draws them inside a fragment, so
    moving the slider redraws only the maps), and returns their current values."""
    container = container or st.sidebar
    modes = ["evidence", "shared", "per-map"] + (["raw"] if value_range else [])
    if st.session_state.get("cfg_norm") not in modes:
        st.session_state["cfg_norm"] = "evidence"
    mode = container.radio(
        "Colour scale", modes, format_func=NORM_LABELS.get, key="cfg_norm",
        help="Evidence (default): each class's map minus the mean of all class maps, on a scale symmetric "
             "around 0. Red = evidence for the class, blue = against, green = neither; a clean part's NG "
             "map stays cold. The other three show the raw maps, which also carry a part common to every "
             "class that decides nothing: Raw, shared = one scale for all maps; Raw, per map = each map "
             "stretched on its own (shape only); Raw, calibrated = the range recorded at training.")
    if overlay:
        opacity, colormap = overlay_controls(container)
    else:
        opacity = float(st.session_state.get("cfg_opacity", DEFAULTS["cfg_opacity"]))
        colormap = str(st.session_state.get("cfg_colormap", DEFAULTS["cfg_colormap"]))
    return ViewSettings(mode=mode, opacity=opacity, colormap=colormap,
                        value_range=value_range if mode == "raw" else None)


def _keep_overlay() -> None:
    """A copy outside the widget keys (callbacks run before the script): a change made in a fragment rerun
    (Explain's maps) must survive page switches, which Streamlit's widget cleanup would otherwise undo."""
    state = st.session_state
    state[KEPT_OVERLAY] = (float(state["cfg_opacity"]), str(state["cfg_colormap"]))


def overlay_controls(container: Any = None, colormap_container: Any = None) -> tuple[float, str]:
    """Opacity and colormap widgets (``cfg_opacity``, ``cfg_colormap``: the same values on every page)."""
    container = container or st.sidebar
    opacity = container.slider("Opacity", 0.0, 1.0, step=0.05, key="cfg_opacity", on_change=_keep_overlay,
                               help="0 = image only, 1 = heatmap only")
    colormap = (colormap_container or container).selectbox("Colormap", list(COLORMAPS), key="cfg_colormap",
                                                           on_change=_keep_overlay)
    return float(opacity), colormap


# --------------------------------------------------------------------------- caches


class _LRU:
    """A thread-safe LRU shared by all sessions, bounded by the total size of what it holds."""

    def __init__(self, max_bytes: int, size_of: Callable[[Any], int]) -> None:
        self.max_bytes = max_bytes
        self.size_of = size_of
        self._data: OrderedDict[Any, tuple[Any, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any:
        with self._lock:
            entry = self._data.get(key)
            if entry is None:
                return None
            self._data.move_to_end(key)
            return entry[0]

    def put(self, key: Any, value: Any) -> None:
        size = int(self.size_of(value))
        with self._lock:
            old = self._data.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            self._data[key] = (value, size)
            self._bytes += size
            while self._bytes > self.max_bytes and len(self._data) > 1:
                _, (_, dropped) = self._data.popitem(last=False)
                self._bytes -= dropped


def _image_bytes(image: Image.Image) -> int:
    return image.size[0] * image.size[1] * len(image.getbands())


@st.cache_resource
def _stores() -> dict[str, _LRU]:
    """Process-wide caches: decoded uploads, screen-size copies, explanations (byte budgets)."""
    return {
        "decoded": _LRU(768 * 1024**2, lambda item: _image_bytes(item.image)),
        "display": _LRU(384 * 1024**2, _image_bytes),
        "explained": _LRU(256 * 1024**2, lambda e: e.maps.nbytes + e.probabilities.nbytes + 512),
        "masks": _LRU(256 * 1024**2, lambda m: m.nbytes + 256),
        "scores": _LRU(4 * 1024**2, lambda _: 1024),
    }


def _cached(store: str, key: Any, make: Callable[[], Any]) -> Any:
    cache = _stores()[store]
    value = cache.get(key)
    if value is None:
        value = make()
        cache.put(key, value)
    return value


# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class DefectMask:
    """Where the defect of an input is: ``H×W`` bool at the image's own size, plus its origin and notes."""

    mask: np.ndarray = field(compare=False, repr=False)
    source: str = SAMPLE_MASK_SOURCE     # the mask file's (sanitised) name, or the built-in sample's
    key: str = ""                        # content identity (part of the scores' cache key)
    notes: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not bool(self.mask.any())


@dataclass(frozen=True)
class InputImage:
    """A decoded input: full-resolution RGB image, display name, content hash, loading notes, defect mask."""

    name: str
    digest: str
    image: Image.Image
    notes: tuple[str, ...] = ()
    mask: DefectMask | None = field(default=None, compare=False, repr=False)


def digest_of(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def decode_image(data: bytes, name: str) -> InputImage:
    """Decode uploaded bytes with :func:`cam_core.data.imaging.load_image` (raises ``InputError``)."""
    from cam_core.data.imaging import load_image

    loaded = load_image(data, name=name)
    # The sanitized name ([A-Za-z0-9._-]) is safe in captions (markdown), file names and HTML.
    return InputImage(name=loaded.name, digest=digest_of(data), image=loaded.image, notes=tuple(loaded.notes))


def _unique(name: str, seen: set[str]) -> str:
    candidate, n = name, 2
    while candidate in seen:
        candidate, n = f"{name} ({n})", n + 1
    seen.add(candidate)
    return candidate


def load_uploads(files: Iterable[Any] | None) -> tuple[list[InputImage], list[str]]:
    """Decode uploaded files; a bad file gives an error line and the others are still loaded."""
    images: list[InputImage] = []
    errors: list[str] = []
    seen: set[str] = set()
    for upload in files or []:
        name = getattr(upload, "name", "image")
        try:
            data = upload.getvalue()
            decoded = _cached("decoded", (digest_of(data), name), lambda data=data, name=name: decode_image(data, name))
        except CamInspectorError as exc:
            errors.append(error_line(name, exc))
            continue
        except Exception as exc:  # noqa: BLE001 - one odd file must not stop the batch
            log.exception("decoding %s failed", name)
            errors.append(f"{name}: could not be read ({type(exc).__name__}); save it again as PNG or JPEG")
            continue
        unique = _unique(decoded.name, seen)
        images.append(decoded if unique == decoded.name else InputImage(unique, decoded.digest, decoded.image,
                                                                        decoded.notes))
    return images, errors


@st.cache_resource(max_entries=16, show_spinner=False)
def sample_image(label: str) -> InputImage:
    """One built-in sample part (cam_core.data.samples; generated once per process)."""
    part = render_sample(label)
    key = f"sample:{label}:{SAMPLES[label][2]}:{SAMPLE_SIZE}"
    mask: DefectMask | None = None
    if part.mask.any():  # synth draws the exact defect mask (0/255); OK parts have none
        from cam_core.evaluation.core import binarize_mask

        mask = DefectMask(mask=binarize_mask(part.mask), source=SAMPLE_MASK_SOURCE, key=key)
    return InputImage(name=sample_file_name(label), digest=key, image=part.image.convert("RGB"), mask=mask)


def sample_picker(key: str = "cfg_samples", multiple: bool = True, container: Any = None) -> list[InputImage]:
    """Pick built-in synthetic OK/NG parts."""
    container = container or st
    if multiple:
        kept = st.session_state.get(key)
        if isinstance(kept, list) and any(label not in SAMPLES for label in kept):
            st.session_state[key] = [label for label in kept if label in SAMPLES]
        labels = container.multiselect("…or try built-in samples (synthetic parts)", list(SAMPLES), key=key)
    else:
        label = container.selectbox("…or a built-in sample (synthetic part)", list(SAMPLES), index=None,
                                    placeholder="Choose a sample", key=key)
        labels = [label] if label else []
    return [sample_image(label) for label in labels]


# --------------------------------------------------------------------------- defect masks


def _stem(name: str) -> str:
    from cam_core.data.imaging import sanitize_filename

    return Path(sanitize_filename(name, "mask")).stem.lower()


def mask_stems(name: str) -> tuple[str, ...]:
    """The image stems a mask file name may belong to: ``part7_mask.png`` → ``("part7_mask", "part7")``."""
    stem = _stem(name)
    stems = [stem]
    for suffix in MASK_SUFFIXES:
        if stem.endswith(suffix) and len(stem) > len(suffix):
            stems.append(stem[: -len(suffix)])
    return tuple(stems)


def _decoded_mask(data: bytes, name: str) -> np.ndarray:
    """:func:`cam_core.evaluation.core.decode_mask` of uploaded bytes, cached by content (raises ``InputError``)."""
    from cam_core.evaluation.core import decode_mask

    return _cached("masks", ("mask", digest_of(data)), lambda: decode_mask(data, name))


def _fitted(raw: np.ndarray, item: InputImage, name: str, key: str) -> DefectMask:
    from cam_core.evaluation.core import fit_mask

    mask, note = fit_mask(raw, item.image.size)
    return DefectMask(mask=mask, source=name, key=key, notes=(note,) if note else ())


def attach_masks(items: Sequence[InputImage], uploads: Iterable[Any] | None) -> tuple[list[InputImage], list[str]]:
    """Give each image its defect mask; returns the images and warnings (unreadable or unmatched masks).

    Uploaded masks are matched to images by file stem (``part7.png`` or ``part7_mask.png`` ↔
    ``part7.jpg``; an exact stem wins). A mask of another size is resized to the image (nearest
    neighbour, with a note). Built-in samples keep their own mask unless an upload matches them; masks
    attached by earlier uploads are dropped, so removing a mask upload removes its outline. An
    unreadable mask gives a warning and its image is explained without it.
    """
    from cam_core.data.imaging import sanitize_filename

    by_stem: dict[str, list[int]] = {}
    for i, item in enumerate(items):
        by_stem.setdefault(Path(item.name).stem.lower(), []).append(i)
    chosen: dict[int, tuple[str, bytes]] = {}
    warnings: list[str] = []
    for upload in uploads or []:
        raw_name = getattr(upload, "name", "mask")
        name = sanitize_filename(raw_name, "mask")
        targets = next((by_stem[stem] for stem in mask_stems(raw_name) if stem in by_stem), None)
        if targets is None:
            warnings.append(f"Defect mask {name} matches no image: name it like its image (part7.png or "
                            "part7_mask.png for part7.jpg).")
            continue
        for index in targets:
            if index in chosen:
                warnings.append(f"Defect mask {name} ignored: {items[index].name} already has the mask "
                                f"{chosen[index][0]}.")
            else:
                chosen[index] = (name, upload.getvalue())
    out: list[InputImage] = []
    for i, item in enumerate(items):
        mask = item.mask if item.mask is not None and item.mask.source == SAMPLE_MASK_SOURCE else None
        if i in chosen:
            name, data = chosen[i]
            try:
                mask = _fitted(_decoded_mask(data, name), item, name, f"upload:{digest_of(data)}")
            except CamInspectorError as exc:
                warnings.append(f"Defect mask {error_line(name, exc)} — {item.name} is explained without a mask.")
                mask = None
            except Exception as exc:  # noqa: BLE001 - a bad mask must not stop the image
                log.exception("decoding the mask %s failed", name)
                warnings.append(f"Defect mask {name} could not be read ({type(exc).__name__}) — {item.name} is "
                                "explained without a mask.")
                mask = None
        out.append(item if mask is item.mask else dataclasses.replace(item, mask=mask))
    return out, warnings


def defect_class(explanation: Explanation, target: int | None = None) -> int:
    """The class whose map is scored against the mask: the chosen target, else the defect class, else the class
    shown first."""
    from cam_core.report.html import shown_classes

    if target is not None and explanation.has_map(target):
        return target
    positive = positive_index_of(explanation.classes)
    if positive is not None and explanation.has_map(positive):
        return positive
    return shown_classes(explanation, target)[0]


def mask_scores(model: str, method: str, item: InputImage, explanation: Explanation,
                class_index: int) -> dict[str, Any] | None:
    """:func:`cam_core.evaluation.core.localization_scores` of one class map against the item's mask (cached);
    ``None`` without a mask or with an empty one."""
    from cam_core.evaluation.core import localization_scores

    if item.mask is None or item.mask.empty:
        return None
    key = (model_ref(model).key, method, item.digest, item.mask.key, class_index)
    return _cached("scores", key, lambda: localization_scores(explanation.map_of(class_index), item.mask.mask))


def display_mask(item: InputImage, size: tuple[int, int]) -> np.ndarray | None:
    """The item's mask at the screen copy's ``size = (W, H)`` (nearest neighbour), or ``None``."""
    from cam_core.evaluation.core import fit_mask

    if item.mask is None or item.mask.empty:
        return None
    return fit_mask(item.mask.mask, size)[0]


def pointing_lines(scores: dict[str, Any], class_name: str) -> list[str]:
    """Markdown lines of the pointing result: peak in the defect (yes/no), energy share vs area share."""
    hit = "yes" if scores["pointing"] else "no"
    colour = "green" if scores["pointing"] else "red"
    ratio = scores["energy_ratio"]
    ratio_text = f" · **{ratio:.1f}×** the area share" if ratio == ratio else ""  # NaN-safe
    return [
        f"{class_name}-map peak inside the defect (within 15 px at 224 scale): :{colour}[**{hit}**]",
        f"Energy inside the mask: **{scores['energy']:.1%}** of the {class_name} map's positive evidence; the "
        f"mask covers **{scores['mask_share']:.1%}** of the image{ratio_text}",
    ]


def show_mask_panel(container: Any, item: InputImage, scores: dict[str, Any] | None, class_name: str) -> None:
    """Beside the overlays: where the defect is and whether the map points at it."""
    mask = item.mask
    if mask is None:
        return
    container.markdown("**Defect mask**")
    if scores is None:
        container.caption(f"{mask.source} marks no defect pixels: nothing to outline or score.")
    else:
        for line in pointing_lines(scores, class_name):
            container.markdown(line)
        width, height = item.image.size
        peak = scores["peak"]
        where = f" · peak at x={peak[0]}, y={peak[1]}" if peak else " · the map is flat (no peak)"
        container.caption(f"Outline (white): {mask.source}. Tolerance here {scores['tolerance_px']:.0f} px "
                          f"(15·max(W, H)/224 on this {width}×{height} image){where}. Chance level for "
                          "the energy share is the mask's area share.")
    for note in mask.notes:
        container.caption(f"Note: {note}")


# --------------------------------------------------------------------------- explaining


def display_copy(item: InputImage) -> Image.Image:
    """The image at screen size (longest side ≤ :data:`DISPLAY_MAX_SIDE`), cached by content."""
    return _cached("display", item.digest, lambda: fit_within(item.image, DISPLAY_MAX_SIDE))


def explain_inputs(model_name: str, method: str, items: Sequence[InputImage],
                   targets: Sequence[int] | None = None) -> list[Explanation]:
    """Explanations of ``items`` (network run once per batch of images not explained before)."""
    ref = model_ref(model_name)
    store = _stores()["explained"]
    target_key = tuple(targets) if targets is not None else None
    keys = [(ref.key, method, target_key, item.digest) for item in items]
    results: list[Explanation | None] = [store.get(k) for k in keys]
    missing = [i for i, r in enumerate(results) if r is None]
    if missing:
        explainer = _load_explainer(*ref.key, method)
        fresh = explainer.explain([items[i].image for i in missing], targets)
        for i, explanation in zip(missing, fresh):
            store.put(keys[i], explanation)
            results[i] = explanation
    return [r for r in results if r is not None]


def timed_explain(explainer: Explainer, image: Image.Image,
                  targets: Sequence[int] | None = None) -> tuple[Explanation, float]:
    """One explain call and its wall time in milliseconds (preprocessing included)."""
    start = time.perf_counter()
    explanation = explainer.explain_one(image, targets)
    return explanation, (time.perf_counter() - start) * 1000.0


def encode_png(image: Image.Image) -> bytes:
    """Lossless PNG (zlib level 1), for downloads."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def encode_jpeg(image: Image.Image, quality: int = 90) -> bytes:
    """JPEG for the screen: ~5 ms for 1 MP where PNG takes 90–160 ms (and is 4–10× larger on the wire)."""
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def render_overlays(explanation: Explanation, image: Image.Image, classes: Sequence[int],
                    view: ViewSettings) -> tuple[dict[int, Image.Image], tuple[float, float]]:
    """Overlays of ``classes`` on ``image`` with the view settings, plus the raw range the colours span."""
    return class_overlays(explanation, image, classes, mode=view.mode, opacity=view.opacity,  # type: ignore[arg-type]
                          colormap=view.colormap, value_range=view.value_range)


def render_maps(explanation: Explanation, image: Image.Image, classes: Sequence[int],
                view: ViewSettings, outline: np.ndarray | None = None) -> tuple[dict[int, bytes], tuple[float, float]]:
    """Screen overlays as JPEG bytes (shown with ``st.image(..., output_format="JPEG")``, passed through
    untouched by Streamlit), plus the raw colour range. ``outline``: a defect mask at ``image``'s size,
    whose contour is drawn over every overlay (:func:`cam_core.explain.render.draw_mask_outline`)."""
    from cam_core.explain.render import draw_mask_outline, with_colorbar

    overlays, scale = render_overlays(explanation, image, classes, view)
    if outline is not None:
        overlays = {c: draw_mask_outline(im, outline, OUTLINE_COLOR, OUTLINE_WIDTH) for c, im in overlays.items()}
    overlays = {c: with_colorbar(im, view.colormap, scale, view.mode) for c, im in overlays.items()}
    return {c: encode_jpeg(im) for c, im in overlays.items()}, scale


# --------------------------------------------------------------------------- display pieces


def verdict_text(verdict: Verdict) -> str:
    """``:red[**NG 97.3%**]`` (red = defect, green = OK, blue = other classes), for ``st.header``."""
    colour = "blue" if verdict.is_positive is None else ("red" if verdict.is_positive else "green")
    return f":{colour}[**{verdict.text}**]"


def show_verdict(container: Any, verdict: Verdict, small: bool = False, trained_on: str | None = None) -> None:
    """The verdict as a coloured heading (no anchor link), with what the model was trained on below it."""
    (container.subheader if small else container.header)(verdict_text(verdict), anchor=False)
    if trained_on:
        container.caption(f"Model trained on: {trained_on}")


TRAIN_OWN_HINT = ("Train on your own OK/NG folders on the **Models** page (a ZIP with `ok/`, `ng/` and optional `masks/`), "
            "or run `python -m cam_core train DATA_DIR`: EfficientNet-Lite0 from its ImageNet weights, about "
            "8 minutes for 700 images on a 2-core CPU.")


def own_input_names(items: Sequence[InputImage]) -> list[str]:
    """The names of the user's own images among ``items`` (not built-in samples)."""
    return [item.name for item in items if not item.digest.startswith("sample:")]


def synthetic_model_hint(container: Any, bundle: ModelBundle, own: Sequence[str], what: str = "photographs") -> None:
    """A visible warning when a model that only knows synthetic parts is shown the user's own inputs ``own``."""
    if bundle.synthetic_only and own:
        container.warning(
            f"**{bundle.name} has only seen synthetic parts** (plates and hex nuts drawn by this product), not "
            f"{what} like {own[0]}{' and the others' if len(own) > 1 else ''}. Its verdicts and maps on them "
            "say little about your parts. " + TRAIN_OWN_HINT, icon=":material/warning:")


def map_caption(class_name: str, raw: np.ndarray, scale: tuple[float, float], mode: str,
                scale_text: str | None = None) -> str:
    """Caption under a map: what a colour means, in words, then the numbers of the scale."""
    from cam_core.explain.render import scale_words

    if mode == "per-map":
        lo, hi = float(raw.min()), float(raw.max())
        numbers = f"own scale {lo:.3g} … {hi:.3g}"
    else:
        label = scale_text or {"evidence": "evidence scale", "shared": "shared scale", "raw": "calibrated scale"}[mode]
        numbers = f"{label} {scale[0]:.3g} … {scale[1]:.3g}"
    return f"{class_name} map: {scale_words(mode, class_name)} · {numbers} · raw map {float(raw.min()):.3g} … " \
           f"{float(raw.max()):.3g}"


PLOTLY_SCALES = {"jet": "jet", "inferno": "inferno", "viridis": "viridis", "turbo": "turbo", "gray": "gray"}


def raw_grid_figure(raw: np.ndarray, title: str, colormap: str,
                    zrange: tuple[float, float] | None) -> Any:
    """Plotly heatmap of one raw map at the network's own resolution; hover shows each cell's value."""
    import plotly.graph_objects as go

    h, w = raw.shape
    figure = go.Figure(go.Heatmap(
        z=raw, colorscale=PLOTLY_SCALES.get(colormap, "jet"),
        zmin=None if zrange is None else zrange[0], zmax=None if zrange is None else zrange[1],
        hovertemplate="row %{y}, column %{x}<br>value %{z:.4f}<extra></extra>"))
    figure.update_layout(title=f"{title} ({h}×{w})", height=360, margin={"l": 10, "r": 10, "t": 40, "b": 10})
    figure.update_yaxes(autorange="reversed", scaleanchor="x", constrain="domain")
    figure.update_xaxes(constrain="domain")
    return figure


# --------------------------------------------------------------------------- downloads


def scores_csv(names: Sequence[str], explanations: Sequence[Explanation]) -> bytes:
    rows = scores_table(names, explanations)
    buffer = io.StringIO()
    fields: list[str] = []
    for row in rows:
        fields += [k for k in row if k not in fields]
    writer = csv.DictWriter(buffer, fieldnames=fields)
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def overlays_zip(items: Sequence[InputImage], explanations: Sequence[Explanation], view: ViewSettings) -> bytes:
    """ZIP of full-resolution overlay PNGs: ``<stem>_<class>.png`` for every shown map of every image
    (with the defect outline when the image has a mask)."""
    from cam_core.explain.render import draw_mask_outline
    from cam_core.report.html import shown_classes

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for item, explanation in zip(items, explanations):
            overlays, _ = render_overlays(explanation, item.image, shown_classes(explanation), view)
            outline = display_mask(item, item.image.size)
            if outline is not None:
                width = max(OUTLINE_WIDTH, round(OUTLINE_WIDTH * max(item.image.size) / DISPLAY_MAX_SIDE))
                overlays = {c: draw_mask_outline(im, outline, OUTLINE_COLOR, width) for c, im in overlays.items()}
            stem = Path(item.name).stem or "image"
            for c, picture in overlays.items():
                archive.writestr(f"{stem}_{explanation.classes[c]}.png", encode_png(picture))
    return buffer.getvalue()


def scores_json_bytes(names: Sequence[str], explanations: Sequence[Explanation], **context: Any) -> bytes:
    return scores_json(names, explanations, **context).encode("utf-8")


# --------------------------------------------------------------------------- kept results


@dataclass
class Batch:
    """The last explained batch of a session (kept for the Report and Compare pages)."""

    model: str
    method: str
    items: list[InputImage]
    explanations: list[Explanation]
    view: ViewSettings
    selected: int = 0
    created: float = field(default_factory=time.time)

    @property
    def key(self) -> tuple[Any, ...]:
        return (self.model, self.method, tuple(i.digest for i in self.items))


def keep_batch(batch: Batch) -> None:
    st.session_state[LAST_BATCH] = batch


def last_batch() -> Batch | None:
    batch = st.session_state.get(LAST_BATCH)
    return batch if isinstance(batch, Batch) else None


def verdicts(explanations: Sequence[Explanation]) -> list[Verdict]:
    return [verdict_of(e) for e in explanations]


# --------------------------------------------------------------------------- scoring networks on a labelled set

SCORE_LIMIT = 200                # the Compare page scores at most this many images of a labelled set
LABELLED_SET = "labelled_set"    # session: the extracted labelled ZIP (one per session)
SCORE_COLUMNS = ("network", "grid", "ms/image", "accuracy", "AUROC", "pointing game",
                 "pointing on NG calls", "energy in mask ÷ mask share")


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


@st.cache_resource
def _labelled_root() -> Path:
    """One scratch folder per server process for extracted labelled sets (removed when the process exits)."""
    root = make_scratch_root("sets")
    return root


def labelled_set(upload: Any) -> LabelledSet:
    """Extract an uploaded labelled ZIP once per content (:func:`cam_core.data.archives.safe_extract_zip`, then
    :func:`~cam_core.data.archives.find_class_folders`, as for training ZIPs). Raises ``InputError`` for a bad ZIP."""
    from cam_core.data.archives import find_class_folders, safe_extract_zip
    from cam_core.data.imaging import iter_image_files, sanitize_filename
    from cam_core.evaluation.core import MASKS_DIR

    data = upload.getvalue()
    digest = digest_of(data)
    kept = st.session_state.get(LABELLED_SET)
    if isinstance(kept, LabelledSet) and kept.digest == digest and kept.root.is_dir():
        return kept
    if isinstance(kept, LabelledSet):
        shutil.rmtree(kept.folder, ignore_errors=True)
        st.session_state.pop(LABELLED_SET, None)
    scratch = _labelled_root()
    scratch.mkdir(parents=True, exist_ok=True)  # in case a temp cleaner removed it
    folder = Path(tempfile.mkdtemp(prefix="zip-", dir=scratch))
    notes: list[str] = []
    try:
        safe_extract_zip(data, folder / "data", notes=notes)
        summary = find_class_folders(folder / "data")
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    masks_dir = summary.root / MASKS_DIR
    masks = len(iter_image_files(masks_dir)) if masks_dir.is_dir() else 0
    skipped = [n for n in summary.skipped if "'masks' folder" not in n]  # masks/ is expected here
    labelled = LabelledSet(name=sanitize_filename(getattr(upload, "name", "set.zip"), "set.zip"), digest=digest,
                           folder=folder, root=summary.root, counts=dict(summary.counts), masks=masks,
                           notes=tuple(notes + skipped))
    st.session_state[LABELLED_SET] = labelled
    return labelled


def _finite(value: Any) -> float | None:
    return float(value) if value is not None and np.isfinite(value) else None


def score_row(model: str, report: Any) -> dict[str, Any]:
    """One row of the Compare page's table from an :class:`~cam_core.evaluation.core.EvaluationReport`."""
    grid = "×".join(str(v) for v in report.map_size) if report.map_size else "?"
    overall = report.overall
    return {
        "network": model,
        "grid": grid,
        "ms/image": round(float(report.model_ms_per_image), 1),
        "accuracy": _finite(report.accuracy),
        "AUROC": _finite(report.auroc),
        "pointing game": _finite(overall["pointing"]) if overall["n"] else None,
        "pointing on NG calls": _finite(overall["pointing_flagged"]) if overall["n"] else None,
        "energy in mask ÷ mask share": _finite(overall["energy_ratio"]) if overall["n"] else None,
    }


@dataclass
class NetworkScores:
    """The Compare page's scores of some networks on one labelled set (kept in session state)."""

    key: tuple[Any, ...]
    rows: list[dict[str, Any]]
    errors: list[str]
    scored: int                   # images per network (after the cap)
    total: int                    # images in the set
    localized: dict[str, int]     # network → NG images scored against a mask
    missing_masks: int = 0


def scores_key(labelled: LabelledSet, models: Sequence[str], method: str) -> tuple[Any, ...]:
    """What a table of scores depends on: the set, each network's file version, the method, the cap."""
    return (labelled.digest, tuple(model_ref(m).key for m in models), method, SCORE_LIMIT)


def score_networks(labelled: LabelledSet, models: Sequence[str], method: str,
                   progress: Callable[[float, str], None] | None = None) -> NetworkScores:
    """Run :func:`cam_core.evaluation.core.evaluate` for each network (its shared explainer) on at most
    :data:`SCORE_LIMIT` images of ``labelled`` (classes taken in turn). A network that cannot score the
    set (e.g. its classes differ from the folders) gives an error line; the others still run."""
    from cam_core.evaluation.core import balanced_subset, evaluate

    report_progress = progress or (lambda fraction, text: None)
    rows: list[dict[str, Any]] = []
    errors: list[str] = []
    localized: dict[str, int] = {}
    scored = total = missing = 0
    for i, model in enumerate(models):
        def on_event(event: dict[str, Any], i: int = i, model: str = model) -> None:
            if event.get("event") == "progress" and event.get("total"):
                done = int(event["done"]) / int(event["total"])
                report_progress((i + done) / len(models),
                                f"{model}: {event['done']}/{event['total']} images")

        report_progress(i / len(models), f"{model}: loading…")
        try:
            explainer = get_explainer(model, method)
            files, total = balanced_subset(labelled.root, explainer.bundle.classes, SCORE_LIMIT)
            report = evaluate(labelled.root, explainer, files=files, progress=on_event)
        except CamInspectorError as exc:
            errors.append(f"{model}: {exc}")
            continue
        except Exception as exc:  # noqa: BLE001 - one network must not stop the others
            log.exception("scoring %s failed", model)
            errors.append(f"{model}: unexpected error ({type(exc).__name__}; details logged).")
            continue
        rows.append(score_row(model, report))
        localized[model] = int(report.overall["n"])
        scored = max(scored, report.n_images)
        missing = max(missing, report.missing_masks)
    report_progress(1.0, "done")
    return NetworkScores(key=scores_key(labelled, models, method), rows=rows, errors=errors, scored=scored,
                         total=total, localized=localized, missing_masks=missing)


# --------------------------------------------------------------------------- video

VIDEO_TYPES: list[str] = ["mp4", "mov", "avi", "mkv", "webm", "gif"]
VIDEO_RUN = "video_run"
VIDEO_THRESHOLD = 0.5            # the verdict is NG when p(ng) ≥ this (as in the CLI)
SAMPLE_CLIP_NAME = "conveyor-sample.mp4"
VIDEO_FILES_MAX_AGE_S = 24 * 3600  # staged uploads and results untouched this long are deleted
_SAMPLE_LOCK = threading.Lock()


@dataclass(frozen=True)
class VideoSource:
    """A video file on this server: an upload staged by content, or the built-in sample."""

    name: str
    path: Path
    digest: str


@dataclass(frozen=True)
class VideoSettings:
    """What shapes an explained video (compared with the widgets to tell when a result is stale)."""

    layout: str = "overlay"
    opacity: float = 0.5
    colormap: str = "jet"
    every: int = 1
    max_side: int = 640


@dataclass
class VideoRun:
    """A finished video of this session: its source, model, settings and files (kept in session state)."""

    source: VideoSource
    model: str
    method: str
    settings: VideoSettings
    folder: Path
    result: VideoResult
    classes: tuple[str, ...]
    seconds: float
    selected: int = 0
    gif: Path | None = None

    @property
    def files_present(self) -> bool:
        return self.result.output.is_file() and self.result.csv is not None and self.result.csv.is_file()


@st.cache_resource
def _video_root() -> Path:
    """One scratch folder per server process for videos (removed when the process exits)."""
    root = make_scratch_root("video")
    return root


def _video_dir(*parts: str) -> Path:
    folder = _video_root().joinpath(*parts)
    folder.mkdir(parents=True, exist_ok=True)  # also after a temp cleaner removed it
    return folder


def _prune(folder: Path, max_age_s: float) -> None:
    """Delete the entries of ``folder`` not modified for ``max_age_s`` (left by sessions that ended)."""
    cutoff = time.time() - max_age_s
    for entry in folder.iterdir():
        try:
            stale = entry.stat().st_mtime < cutoff
        except OSError:
            continue
        if stale:
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)


def sample_clip() -> VideoSource:
    """The built-in conveyor clip (synthetic hex nuts, every third one NG), made once per process."""
    from cam_core.video.core import make_sample_clip

    seconds, fps = float(SAMPLE_CLIP_SECONDS), int(SAMPLE_CLIP_FPS)
    path = _video_dir("sample", f"{seconds:g}s-{fps}fps") / SAMPLE_CLIP_NAME
    with _SAMPLE_LOCK:
        if not path.is_file():
            make_sample_clip(path, seed=SAMPLE_CLIP_SEED, seconds=seconds, fps=fps)
    return VideoSource(name=SAMPLE_CLIP_NAME, path=path, digest=f"sample:{seconds:g}:{fps}")


def stage_video(upload: Any) -> VideoSource:
    """Write an uploaded video to the scratch folder once per content (cam_core reads videos from files).

    The file keeps its (sanitised) name, so messages name it; the session remembers the staged file
    per upload, so reruns neither hash nor copy the bytes again.
    """
    from cam_core.data.imaging import sanitize_filename

    staged: dict[Any, VideoSource] = st.session_state.setdefault("video_staged", {})
    key = (getattr(upload, "file_id", None), getattr(upload, "name", ""), getattr(upload, "size", None))
    known = staged.get(key)
    if known is not None and known.path.is_file():
        return known
    data = upload.getvalue()
    digest = digest_of(data)
    name = sanitize_filename(getattr(upload, "name", "video"), "video")
    uploads = _video_dir("uploads")
    folder = uploads / digest
    path = folder / name
    if not path.is_file():
        _prune(uploads, VIDEO_FILES_MAX_AGE_S)
        folder.mkdir(parents=True, exist_ok=True)
        handle, tmp_name = tempfile.mkstemp(prefix=".upload-", dir=folder)
        try:
            with os.fdopen(handle, "wb") as fh:
                fh.write(data)
            os.replace(tmp_name, path)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
    os.utime(folder)  # in use: keep it from being pruned
    source = VideoSource(name=name, path=path, digest=digest)
    staged.clear()  # one staged upload per session is enough
    staged[key] = source
    return source


@st.cache_data(max_entries=64, show_spinner=False)
def _probe(path: str, digest: str) -> VideoInfo:
    from cam_core.video.core import probe_video

    del digest  # cache key only
    return probe_video(path)


def probe_source(source: VideoSource) -> VideoInfo:
    """:func:`cam_core.video.core.probe_video` of ``source`` (cached; raises ``InputError`` for bad videos)."""
    return _probe(str(source.path), source.digest)


def _duration_text(seconds: float) -> str:
    seconds = max(0.0, float(seconds))
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s"


def video_info_text(source: VideoSource, info: VideoInfo) -> str:
    parts = [source.name, f"{info.width}×{info.height} px", f"{info.fps:.3g} frames/s"]
    if info.frame_count:
        parts.append(f"~{info.frame_count} frames")
    if info.duration_s:
        parts.append(_duration_text(info.duration_s) if info.duration_s >= 1 else f"{info.duration_s:.2f} s")
    parts.append(f"codec {info.codec}")
    if info.rotation:
        parts.append(f"rotated {info.rotation}°")
    return " · ".join(parts)


def video_progress(progress: VideoProgress) -> tuple[float, str]:
    """Progress bar fraction and text: frames done, frames/s and time left."""
    done, total = progress.frames_done, progress.frames_total
    fraction = min(1.0, done / total) if total else 0.0
    text = f"{done}/{total} frames" if total else f"{done} frames"
    if done:
        text += f" · {progress.fps:.1f} frames/s"
        if progress.eta_s is not None:
            text += f" · about {_duration_text(progress.eta_s)} left"
    return fraction, text


def run_video(source: VideoSource, model: str, method: str, settings: VideoSettings,
              progress: Callable[[VideoProgress], None] | None = None,
              should_stop: Callable[[], bool] | None = None, explainer: Explainer | None = None) -> VideoRun:
    """Explain ``source`` with :func:`cam_core.video.core.explain_video` (the CLI's pipeline) into a fresh
    scratch folder: ``explained.mp4`` (H.264) and ``frames.csv``. The folder is removed if the run fails
    or is stopped (``should_stop()``)."""
    from cam_core.video.core import explain_video

    explainer = explainer or get_explainer(model, method)
    runs = _video_dir("runs")
    _prune(runs, VIDEO_FILES_MAX_AGE_S)
    folder = Path(tempfile.mkdtemp(prefix="run-", dir=runs))
    start = time.perf_counter()
    try:
        result = explain_video(source.path, folder / "explained.mp4", explainer, layout=settings.layout,  # type: ignore[arg-type]
                               opacity=settings.opacity, colormap=settings.colormap, every=settings.every,
                               max_side=settings.max_side, csv_path=folder / "frames.csv", progress=progress,
                               should_stop=should_stop, threshold=VIDEO_THRESHOLD)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return VideoRun(source=source, model=model, method=method, settings=settings, folder=folder, result=result,
                    classes=tuple(explainer.bundle.classes), seconds=time.perf_counter() - start)


VIDEO_JOB = "video_job"


@dataclass
class VideoJob:
    """A video being explained in a background thread of this session: it goes on when the user leaves the
    page, and the page shows its progress (or its result) on return. ``stop`` cancels it."""

    source: VideoSource
    model: str
    method: str
    settings: VideoSettings
    stop: threading.Event = field(default_factory=threading.Event)
    progress: VideoProgress | None = None
    run: VideoRun | None = None
    error: str | None = None
    thread: threading.Thread | None = None

    @property
    def done(self) -> bool:
        return self.thread is not None and not self.thread.is_alive()


def start_video_job(source: VideoSource, model: str, method: str, settings: VideoSettings) -> VideoJob:
    """Start explaining ``source`` in a background thread (one per session); returns the job."""
    from cam_core.video.core import VideoCancelled

    explainer = get_explainer(model, method)     # looked up here: Streamlit's caches belong to the script thread
    job = VideoJob(source=source, model=model, method=method, settings=settings)

    def progress(event: VideoProgress) -> None:
        job.progress = event

    def work() -> None:
        try:
            job.run = run_video(source, model, method, settings, progress=progress, should_stop=job.stop.is_set,
                                explainer=explainer)
        except VideoCancelled:
            job.error = None
        except CamInspectorError as exc:
            job.error = str(exc)
        except Exception as exc:  # noqa: BLE001 - reported on the page, never a traceback there
            log.exception("video job failed")
            job.error = error_line(source.name, exc)

    job.thread = threading.Thread(target=work, daemon=True, name="cam-inspector-video-job")
    st.session_state[VIDEO_JOB] = job
    job.thread.start()
    return job


def video_job() -> VideoJob | None:
    job = st.session_state.get(VIDEO_JOB)
    return job if isinstance(job, VideoJob) else None


def keep_video_run(run: VideoRun) -> None:
    """Keep ``run`` as the session's video; the files of the one it replaces are deleted."""
    old = st.session_state.get(VIDEO_RUN)
    if isinstance(old, VideoRun) and old.folder != run.folder:
        shutil.rmtree(old.folder, ignore_errors=True)
    st.session_state[VIDEO_RUN] = run


def video_run() -> VideoRun | None:
    run = st.session_state.get(VIDEO_RUN)
    if not isinstance(run, VideoRun):
        return None
    with suppress(OSError):  # in use: keep its files (and its staged upload) from being pruned
        os.utime(run.folder)
        os.utime(run.source.path.parent)
    return run


def video_gif(run: VideoRun) -> bytes:
    """The explained video as an animated GIF (made on first request by :func:`cam_core.video.core.convert_video`)."""
    from cam_core.video.core import convert_video

    if run.gif is None or not run.gif.is_file():
        run.gif = convert_video(run.result.output, run.folder / "explained.gif")
    return run.gif.read_bytes()


def video_frame(source: VideoSource, index: int, max_side: int) -> InputImage:
    """Frame ``index`` decoded as the video pipeline decoded it (cached like uploaded images)."""
    from cam_core.video.core import read_frame

    def make() -> InputImage:
        if not source.path.is_file():
            raise InputError(f"{source.name} is no longer on this server (old files are cleaned up); "
                             "upload it and explain it again")
        _, array = read_frame(source.path, index, max_side=max_side)
        return InputImage(name=f"frame-{index}", digest=f"video:{source.digest}:{max_side}:{index}",
                          image=Image.fromarray(array))

    return _cached("decoded", ("video", source.digest, max_side, index), make)


def timeline_figure(frames: Sequence[FrameRecord], classes: Sequence[str], threshold: float = VIDEO_THRESHOLD,
                    selected: int | None = None) -> Any:
    """Plotly timeline: P(NG) per frame with the decision threshold (every class's probability for models
    without a defect class); a vertical line marks the selected frame. Points carry their frame index."""
    import plotly.graph_objects as go

    positive = positive_index_of(classes)
    if positive is not None:
        shown = [classes[positive]]
    else:
        recorded = {c for record in frames for c in record.probabilities}
        shown = [c for c in classes if c in recorded][:8]
    times = [record.time_s for record in frames]
    indices = [record.index for record in frames]
    figure = go.Figure()
    for name in shown:
        label = f"P({name.upper()})"
        figure.add_trace(go.Scatter(
            x=times, y=[record.probabilities.get(name) for record in frames], customdata=indices,
            mode="lines+markers", marker={"size": 5}, name=label,
            hovertemplate=f"frame %{{customdata}} · %{{x:.2f}} s<br>{label} %{{y:.3f}}<extra></extra>"))
    if positive is not None:
        figure.add_hline(y=threshold, line_dash="dash", line_color="#c62828",
                         annotation_text=f"threshold {threshold:g}", annotation_position="top left")
    if selected is not None and 0 <= selected < len(frames):
        figure.add_vline(x=frames[selected].time_s, line_color="#555", line_width=1)
    figure.update_layout(height=260, margin={"l": 10, "r": 10, "t": 30, "b": 10}, showlegend=positive is None,
                         clickmode="event+select", title="NG probability per frame" if positive is not None
                         else "Class probabilities per frame")
    figure.update_xaxes(title_text="time (s)")
    figure.update_yaxes(title_text="probability", range=[-0.02, 1.02])
    return figure
