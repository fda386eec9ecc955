"""Cached networks: the model files, one shared explainer per (file version, method), and their pickers.

Networks are shared by all sessions with ``st.cache_resource``: one
:class:`~cam_core.explain.pipeline.Explainer` per (model file, mtime, size, method, flip averaging). The
explainer is thread-safe (per-thread hook capture, no ``.grad`` on the shared model) and its hook is
registered once. A model file that is replaced on disk gets a new mtime and therefore a fresh load.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import streamlit as st
from PIL import Image

from app_ui.cache import stores
from cam_core.checkpoints import DEFAULT_MODEL, ModelCard, list_models, shipped_models_dir, user_models_dir
from cam_core.engine.backend import Backend
from cam_core.errors import ModelError
from cam_core.models import open_model, open_model_card
from cam_core.options import Method

if TYPE_CHECKING:
    from cam_core.checkpoints import ModelBundle
    from cam_core.explain.pipeline import Explainer, Explanation

PREFERRED_MODELS = (DEFAULT_MODEL,)

NO_MODELS_MESSAGE = (
    "No model is available yet. Train one on the **Models** page (upload a ZIP with `ok/` and `ng/` "
    "folders), upload a `.safetensors` checkpoint there, or run "
    "`python -m cam_core train DATA_DIR` (EfficientNet-Lite0 from its ImageNet weights). "
    f"Models are looked up in `models/` and in `{user_models_dir()}` (set `CAM_INSPECTOR_MODELS` to change it)."
)


@dataclass(frozen=True)
class MapMethod:
    """A map method as offered in the app: the core's method name and :class:`Explainer`'s ``flip_average``.

    Flip averaging (CAM only) runs the mirrored image too and averages both maps and logits, so the CAM
    identity ``mean(map_c) + b_c = logit_c`` still holds (see :class:`~cam_core.explain.pipeline.Explainer`).
    """

    name: str = Method.CAM.value
    flip_average: bool = False
    label: str = field(default="CAM", compare=False)
    backend: str = Backend.AUTO.value   # the CPU engine asked for (:class:`~cam_core.engine.backend.Backend`)


# Widget option → method (the keys only identify the options of the Method select box: ``cfg_method``).
METHODS: dict[str, MapMethod] = {
    "cam": MapMethod(Method.CAM.value, label="CAM"),
    "cam-flip": MapMethod(Method.CAM.value, flip_average=True, label="CAM, flip-averaged"),
    Method.GRADCAM.value: MapMethod(Method.GRADCAM.value, label="Grad-CAM"),
    Method.GRADCAM_PP.value: MapMethod(Method.GRADCAM_PP.value, label="Grad-CAM++"),
}
CAM = METHODS["cam"]


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


def shipped_model_names() -> list[str]:
    """The models that ship with the product, preferred ones first (Compare networks opens with them)."""
    shipped = {name for name, path in list_models().items() if path.parent == shipped_models_dir()}
    return [n for n in model_names() if n in shipped]


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
    return open_model(path, name=name)


@st.cache_data(max_entries=64, show_spinner=False)
def _read_card(path: str, mtime_ns: int, size: int) -> ModelCard:
    del mtime_ns, size  # cache key only: a replaced file is read again
    return open_model_card(path)


def model_card(ref: ModelRef) -> ModelCard:
    """The card of ``ref``'s file, read once per file version (an ONNX card means parsing the whole graph)."""
    return _read_card(ref.path, ref.mtime_ns, ref.size)


@st.cache_resource(max_entries=12, show_spinner=False)
def _load_explainer(name: str, path: str, mtime_ns: int, size: int, method: str, flip_average: bool,
                    backend: str = Backend.AUTO.value) -> Explainer:
    from cam_core.explain.factory import make_explainer

    bundle = _load_bundle(name, path, mtime_ns, size)
    explainer = make_explainer(bundle, method, backend=backend, flip_average=flip_average)
    height, width = bundle.input_size
    explainer.explain([Image.new("RGB", (width, height), (128, 128, 128))])  # warm-up: first call is slow
    return explainer


def _explainer_of(ref: ModelRef, method: MapMethod) -> Explainer:
    return _load_explainer(*ref.key, method.name, method.flip_average, method.backend)


def get_explainer(model_name: str, method: MapMethod = CAM) -> Explainer:
    """The shared, thread-safe explainer of ``model_name`` with ``method`` (loaded once per file version)."""
    return _explainer_of(model_ref(model_name), method)


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


def method_picker(container: Any = None, model_name: str | None = None) -> MapMethod:
    """The Method select box (``cfg_method``): CAM, flip-averaged CAM, Grad-CAM, Grad-CAM++; only what the model's
    card allows (:attr:`ModelCard.methods`: CAM alone, and why, for an ONNX graph)."""
    container = container or st.sidebar
    allowed = model_card(model_ref(str(model_name))).methods if model_name else tuple(Method)
    choices = [k for k in METHODS if Method(METHODS[k].name) in allowed]
    if st.session_state.get("cfg_method") not in choices:
        st.session_state["cfg_method"] = "cam"
    choice = container.selectbox("Method", choices, format_func=lambda k: METHODS[k].label, key="cfg_method",
                                 help="CAM: the network's own class weights, no gradients (exact). "
                                      "Flip-averaged CAM also runs the mirrored image and averages both (twice the "
                                      "cost; on real magnetic tiles +0.01–0.03 AUROC). "
                                      "Grad-CAM / Grad-CAM++: gradient-weighted, work for any conv layer.")
    if Method.GRADCAM not in allowed:
        from cam_core.interop import GRADCAM_REFUSAL

        container.caption(f"{GRADCAM_REFUSAL}.")
    return dataclasses.replace(METHODS[choice], backend=backend_picker(container))


BACKEND_LABELS = {Backend.AUTO.value: "Auto (ONNX Runtime when it checks out)", Backend.ONNX.value: "ONNX Runtime",
                  Backend.TORCH.value: "PyTorch"}


def backend_picker(container: Any = None) -> str:
    """The CPU engine select box (``cfg_backend``): auto, ONNX Runtime or PyTorch (CAM only; see
    :func:`cam_core.explain.factory.make_explainer`)."""
    container = container or st.sidebar
    if st.session_state.get("cfg_backend") not in BACKEND_LABELS:
        st.session_state["cfg_backend"] = Backend.AUTO.value
    return str(container.selectbox(
        "Engine", list(BACKEND_LABELS), format_func=BACKEND_LABELS.__getitem__, key="cfg_backend",
        help="Which library runs CAM on the CPU. ONNX Runtime is 2–3× faster and is checked against PyTorch "
             "(maps within 1e-5) before first use; when it is unavailable or differs, PyTorch runs and the "
             "caption says why. Grad-CAM and GPUs always run on PyTorch."))


def engine_label(model_name: str, method: MapMethod) -> str:
    """Which engine computes the maps of ``model_name`` with ``method``, and why after a fallback."""
    return f"engine: {_explainer_of(model_ref(model_name), method).backend.label}"


def explain_inputs(model_name: str, method: MapMethod, items: Sequence[Any],
                   targets: Sequence[int] | None = None) -> list[Explanation]:
    """Explanations of ``items`` (:class:`~app_ui.inputs.InputImage`; the network runs once per batch of
    images not explained before, results are cached by content)."""
    ref = model_ref(model_name)
    store = stores()["explained"]
    target_key = tuple(targets) if targets is not None else None
    keys = [(ref.key, method, target_key, item.digest) for item in items]
    results: list[Explanation | None] = [store.get(k) for k in keys]
    missing = [i for i, r in enumerate(results) if r is None]
    if missing:
        fresh = _explainer_of(ref, method).explain([items[i].image for i in missing], targets)
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

