"""Shared Streamlit helpers of the CAM Inspector app: cached models, inputs, settings, errors.

Pages stay thin: everything they compute goes through :mod:`cam_core` (the same functions the CLI
uses). This module only adds Streamlit caching and widgets around them.

Caching policy
--------------
- Networks: one :class:`~cam_core.pipeline.Explainer` per (model file, mtime, method), shared by all
  sessions with ``st.cache_resource`` (the explainer is thread-safe; its hook is registered once).
  A model file that is replaced on disk gets a new mtime and therefore a fresh load.
- Decoded images, their screen-size copies and explanations: process-wide LRU caches with byte
  budgets (:func:`_stores`), keyed by content hash (and model file, mtime, method, targets), so
  moving a slider never decodes again nor re-runs the network; only the overlays are redrawn.
  The same immutable PIL images are shared by every session that uploaded the same bytes.

Session state keeps the user's settings (``cfg_*`` keys, carried across pages) and the last
explained batch (:data:`LAST_BATCH`), which the Report and Compare pages reuse.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import threading
import time
import zipfile
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import streamlit as st
from PIL import Image, ImageDraw

from cam_core import CamInspectorError, Explainer, Explanation, ModelError, list_models
from cam_core.checkpoint import ModelBundle, load_checkpoint, user_models_dir
from cam_core.render import COLORMAPS
from cam_core.report import Verdict, class_overlays, fit_within, scores_json, scores_table, verdict_of

log = logging.getLogger("cam_inspector.app")

METHOD_LABELS: dict[str, str] = {"cam": "CAM", "gradcam": "Grad-CAM", "gradcam++": "Grad-CAM++"}
NORM_LABELS: dict[str, str] = {"shared": "Shared scale", "per-map": "Per map", "raw": "Calibrated (model)"}
IMAGE_TYPES: list[str] = ["png", "jpg", "jpeg", "bmp", "tif", "tiff", "webp", "gif"]
DISPLAY_MAX_SIDE = 1024          # overlays shown on screen are drawn at most this large
PREFERRED_MODELS = ("squeezenet1_1-parts", "resnet18-parts", "googlenet-parts")
LAST_BATCH = "last_batch"

NO_MODELS_MESSAGE = (
    "No model is available yet. Train one on the **Models** page (upload a ZIP with `ok/` and `ng/` "
    "folders), upload a `.safetensors` checkpoint there, or run "
    "`python -m cam_core train DATA_DIR --arch squeezenet1_1 --out user_models/my-model.safetensors`. "
    f"Models are looked up in `models/` and in `{user_models_dir()}` (set `CAM_INSPECTOR_MODELS` to change it)."
)

# Settings shared by every page; widgets use these keys and read their defaults from here.
DEFAULTS: dict[str, Any] = {
    "cfg_method": "cam",
    "cfg_norm": "shared",
    "cfg_opacity": 0.5,
    "cfg_colormap": "jet",
    "cfg_raw_grid": False,
    "cfg_samples": [],
    "cfg_target": "predicted",
    "cfg_report_title": "CAM Inspector report",
}


# --------------------------------------------------------------------------- session state


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
    explainer = Explainer(bundle, method=method)
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
                                    "Grad-CAM / Grad-CAM++: gradient-weighted, work for any conv layer.")


@dataclass(frozen=True)
class ViewSettings:
    """How maps are drawn (never affects the network's verdict)."""

    mode: str = "shared"
    opacity: float = 0.5
    colormap: str = "jet"
    value_range: tuple[float, float] | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"normalization": self.mode, "opacity": self.opacity, "colormap": self.colormap}
        if self.mode == "raw" and self.value_range:
            out["value_range"] = list(self.value_range)
        return out


def view_controls(container: Any = None, value_range: tuple[float, float] | None = None) -> ViewSettings:
    """Normalisation, opacity and colormap widgets (shared by every page through ``cfg_*`` keys)."""
    container = container or st.sidebar
    modes = ["shared", "per-map"] + (["raw"] if value_range else [])
    if st.session_state.get("cfg_norm") not in modes:
        st.session_state["cfg_norm"] = "shared"
    mode = container.radio(
        "Colour scale", modes, format_func=NORM_LABELS.get, key="cfg_norm", horizontal=True,
        help="Shared: one scale for all maps of an image, so an OK part's NG map stays cold. "
             "Per map: each map stretched on its own (shape only; a clean part's NG map then looks hot). "
             "Calibrated: the fixed range recorded when the model was trained.")
    opacity = container.slider("Opacity", 0.0, 1.0, step=0.05, key="cfg_opacity",
                               help="0 = image only, 1 = heatmap only")
    colormap = container.selectbox("Colormap", list(COLORMAPS), key="cfg_colormap")
    return ViewSettings(mode=mode, opacity=float(opacity), colormap=colormap,
                        value_range=value_range if mode == "raw" else None)


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
class InputImage:
    """A decoded input: full-resolution RGB image, display name, content hash, loading notes."""

    name: str
    digest: str
    image: Image.Image
    notes: tuple[str, ...] = ()


def digest_of(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def decode_image(data: bytes, name: str) -> InputImage:
    """Decode uploaded bytes with :func:`cam_core.imaging.load_image` (raises ``InputError``)."""
    from cam_core.imaging import load_image

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


# Built-in samples: synthetic parts (cam_core.synth) with fixed seeds.
SAMPLES: dict[str, tuple[str, str | None, int]] = {
    "OK plate": ("plate", None, 11),
    "NG plate (scratch)": ("plate", "scratch", 12),
    "NG plate (crack)": ("plate", "crack", 13),
    "OK nut": ("nut", None, 21),
    "NG nut (pit)": ("nut", "pit", 22),
    "NG nut (stain)": ("nut", "stain", 23),
}
SAMPLE_SIZE = 384


def _fallback_part(kind: str, defect: str | None, seed: int, size: int) -> Image.Image:
    """A plain drawn part, used only if :mod:`cam_core.synth` is unavailable."""
    rng = np.random.default_rng(seed)
    base = (rng.normal(0, 6, (size, size, 3)) + 70).clip(0, 255).astype(np.uint8)
    image = Image.fromarray(base)
    draw = ImageDraw.Draw(image)
    margin = size // 8
    if kind == "nut":
        draw.regular_polygon((size / 2, size / 2, size / 2 - margin), 6, fill=(175, 175, 180))
        draw.ellipse([size * 0.35, size * 0.35, size * 0.65, size * 0.65], fill=(60, 60, 60))
    else:
        draw.rounded_rectangle([margin, margin, size - margin, size - margin], radius=size // 16,
                               fill=(180, 180, 185))
    if defect:
        x0, y0 = rng.integers(margin * 2, size - margin * 2, 2)
        draw.line([int(x0), int(y0), int(x0) + size // 6, int(y0) + size // 10], fill=(40, 35, 30), width=3)
    return image


@st.cache_resource(max_entries=16, show_spinner=False)
def sample_image(label: str) -> InputImage:
    """One built-in sample part (generated once per process)."""
    kind, defect, seed = SAMPLES[label]
    try:
        from cam_core.synth import render_part
    except ImportError:
        image = _fallback_part(kind, defect, seed, SAMPLE_SIZE)
    else:
        image = render_part(np.random.default_rng(seed), kind=kind, size=SAMPLE_SIZE, defect=defect).image
    name = label.lower().replace(" (", "-").replace(")", "").replace(" ", "-") + ".png"
    return InputImage(name=name, digest=f"sample:{label}:{seed}:{SAMPLE_SIZE}", image=image.convert("RGB"))


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
                view: ViewSettings) -> tuple[dict[int, bytes], tuple[float, float]]:
    """Screen overlays as JPEG bytes (shown with ``st.image(..., output_format="JPEG")``, passed through
    untouched by Streamlit), plus the raw colour range."""
    overlays, scale = render_overlays(explanation, image, classes, view)
    return {c: encode_jpeg(im) for c, im in overlays.items()}, scale


# --------------------------------------------------------------------------- display pieces


def verdict_text(verdict: Verdict) -> str:
    """``:red[**NG 97.3%**]`` (red = defect, green = OK, blue = other classes), for ``st.header``."""
    colour = "blue" if verdict.is_positive is None else ("red" if verdict.is_positive else "green")
    return f":{colour}[**{verdict.text}**]"


def show_verdict(container: Any, verdict: Verdict, small: bool = False) -> None:
    """The verdict as a coloured heading (no anchor link)."""
    (container.subheader if small else container.header)(verdict_text(verdict), anchor=False)


def map_caption(class_name: str, raw: np.ndarray, scale: tuple[float, float], mode: str) -> str:
    scale_text = {"shared": "shared scale", "per-map": "own scale", "raw": "calibrated scale"}[mode]
    return (f"{class_name} map · raw min {float(raw.min()):.3g}, max {float(raw.max()):.3g} · "
            f"{scale_text} {scale[0]:.3g} … {scale[1]:.3g}")


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
    """ZIP of full-resolution overlay PNGs: ``<stem>_<class>.png`` for every shown map of every image."""
    from cam_core.report import shown_classes

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for item, explanation in zip(items, explanations):
            overlays, _ = render_overlays(explanation, item.image, shown_classes(explanation), view)
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
