"""The one explain pipeline: images in, verdicts and maps out. CLI, app, video and evaluation use it.

An :class:`Explainer` holds one model and one method with its hook registered once, and may be
shared by many threads (the app caches one per model and method). Each call batches the images,
runs the network once per batch and returns one :class:`Explanation` per image.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Protocol

import numpy as np
import torch
from PIL import Image

from cam_core.checkpoints import ModelBundle
from cam_core.domain import DomainResult, unknown_domain
from cam_core.engine.backend import BackendChoice
from cam_core.engine.methods import CAMResult, make_extractor
from cam_core.errors import InputError
from cam_core.explain.certainty import certainty_scale
from cam_core.explain.picture import map_picture
from cam_core.explain.render import (
    CENTRED_MODES,
    DEFAULT_MODE,
    NormalizationMode,
    _rgb_image,
    normalize_maps,
    peak_location,
    upsample_maps,
)

ImageLike = Image.Image | np.ndarray


class Extractor(Protocol):
    """What the pipeline calls: a PyTorch extractor (:mod:`cam_core.engine.methods`) or an ONNX one."""

    @property
    def name(self) -> str: ...

    def __call__(self, batch: torch.Tensor, targets: Sequence[int] | None = None) -> CAMResult: ...

    def close(self) -> None: ...


def make_model_extractor(bundle: ModelBundle, method: str, layer: str | None = None,
                         domain: bool | None = None) -> Extractor:
    """The extractor for ``bundle``: a model that explains itself (an ONNX graph: ``cam_extractor``, CAM only)
    gets its own, every PyTorch model the one :func:`~cam_core.engine.methods.make_extractor` builds. ``domain``:
    whether it pools the domain features (default: when the bundle has a domain reference to judge them by)."""
    own = getattr(type(bundle.model), "cam_extractor", None)
    if own is not None:
        return own(bundle.model, method, layer)
    return make_extractor(method, bundle.model, layer, domain=bundle.domain is not None if domain is None else domain)


NO_REFERENCE = ("this model has no domain reference (train it here, or give `import --reference DIR` / "
                "`reference MODEL DIR` a folder of its in-domain images)")


@dataclass(frozen=True)
class Explanation:
    """Verdict and raw maps for one image."""

    classes: tuple[str, ...]
    probabilities: np.ndarray   # C
    logits: np.ndarray          # C
    maps: np.ndarray            # K×h×w raw maps at feature resolution
    class_indices: tuple[int, ...]  # class of each map (0..C-1 for CAM)
    image_size: tuple[int, int]  # (width, height) of the original image
    method: str
    layer: str
    defect_index: int | None
    """Index of the model's defect class (:attr:`ModelCard.defect_index` of the model that made it), ``None`` when
    it has none."""
    backend: str = "torch"
    """The engine that computed it: ``"onnx"`` (onnxruntime) or ``"torch"`` (:mod:`cam_core.engine.backend`)."""
    domain: DomainResult = field(default_factory=unknown_domain)
    """Whether the image is like the model's training data (:mod:`cam_core.domain`), from the same forward pass."""

    @property
    def predicted(self) -> int:
        return int(np.argmax(self.probabilities))

    @property
    def predicted_class(self) -> str:
        return self.classes[self.predicted]

    @property
    def map_size(self) -> tuple[int, int]:
        return int(self.maps.shape[-2]), int(self.maps.shape[-1])

    def has_map(self, class_index: int) -> bool:
        return class_index in self.class_indices

    def map_of(self, class_index: int) -> np.ndarray:
        """Raw ``h×w`` map of one class."""
        return self.maps[self.class_indices.index(class_index)]

    @property
    def is_centrable(self) -> bool:
        """Whether the maps are linear in the logits and cover every class (CAM), so they can be centred."""
        return self.method == "cam" and sorted(self.class_indices) == list(range(len(self.classes)))

    def evidence(self) -> np.ndarray:
        """The maps as evidence: ``M̃_c = M_c − (1/C) Σ_k M_k`` (CAM), else the maps as they are.

        Softmax is unchanged by a constant added to every logit, so only the differences between class
        maps decide. The CAM identity carries over: ``mean(M̃_c) + (b_c − b̄) = z_c − z̄``. For OK/NG,
        ``M̃_NG = (M_NG − M_OK)/2 = −M̃_OK``. Gradient methods map only some classes through a ReLU;
        their maps are returned unchanged (already ≥ 0: evidence for, never against).
        """
        if not self.is_centrable:
            return self.maps
        return self.maps - self.maps.mean(axis=0, keepdims=True)

    def evidence_of(self, class_index: int) -> np.ndarray:
        """Evidence map (:meth:`evidence`) of one class."""
        return self.display_maps([class_index])[0]

    def display_maps(self, classes: Sequence[int], mode: NormalizationMode = DEFAULT_MODE) -> np.ndarray:
        """The ``len(classes)×h×w`` maps that ``mode`` draws for ``classes``: evidence maps, or the raw ones
        (the evidence is computed once for all of them)."""
        source = self.evidence() if mode in CENTRED_MODES else self.maps
        return np.stack([source[self.class_indices.index(c)] for c in classes])

    def normalized(self, mode: NormalizationMode = DEFAULT_MODE,
                   value_range: tuple[float, float] | None = None) -> tuple[np.ndarray, tuple[float, float]]:
        """All maps scaled to [0, 1] (see :func:`cam_core.explain.render.normalize_maps`); the ``certainty`` mode
        on this image's :func:`~cam_core.explain.certainty.certainty_scale` range unless ``value_range`` is given
        (all classes as they are; what is drawn, :func:`~cam_core.explain.picture.map_picture`, also keeps the
        other classes' maps below the hot quarter)."""
        if mode == "certainty" and value_range is None and self.is_centrable:
            value_range = certainty_scale(self).range
        return normalize_maps(self.evidence() if mode in CENTRED_MODES else self.maps, mode, value_range)

    def peaks(self) -> dict[str, tuple[int, int]]:
        """Peak ``(x, y)`` of each class map, in original-image pixels."""
        return {self.classes[c]: peak_location(m, self.image_size) for c, m in zip(self.class_indices, self.maps)}

    def upsampled(self) -> np.ndarray:
        """Raw maps bilinearly resized to the original image (``K×H×W``, not normalised)."""
        width, height = self.image_size
        return upsample_maps(self.maps, (height, width))

    def overlays(self, image: ImageLike, *, mode: NormalizationMode = DEFAULT_MODE, opacity: float = 0.5,
                 colormap: str = "jet", value_range: tuple[float, float] | None = None) -> dict[str, Image.Image]:
        """Overlay of every class map on ``image``, keyed by class name, on the chosen scale."""
        overlays, _ = self.class_overlays(image, mode=mode, opacity=opacity, colormap=colormap, value_range=value_range)
        return {self.classes[c]: picture for c, picture in overlays.items()}

    def class_overlays(self, image: ImageLike, classes: Sequence[int] | None = None, *,
                       mode: NormalizationMode = DEFAULT_MODE, opacity: float = 0.5, colormap: str = "jet",
                       value_range: tuple[float, float] | None = None,
                       ) -> tuple[dict[int, Image.Image], tuple[float, float]]:
        """Overlays of the maps of ``classes`` (default: every mapped class) on ``image``, as
        :func:`cam_core.explain.picture.map_picture` draws them (``value_range``: the fixed scale): returns
        ``{class index: overlay}`` and the ``(lo, hi)`` range that the colours span."""
        base = _rgb_image(image)
        picture = map_picture(self, base.size, classes, mode=mode, colormap=colormap, value_range=value_range)
        return picture.overlays(base, opacity), picture.scale

    def as_record(self) -> dict[str, object]:
        """Plain-JSON summary: classes, probabilities, prediction, map size, peaks."""
        return {
            "classes": list(self.classes),
            "probabilities": {c: round(float(p), 6) for c, p in zip(self.classes, self.probabilities)},
            "predicted": self.predicted_class,
            "method": self.method,
            "layer": self.layer,
            "map_size": list(self.map_size),
            "peak": {c: list(xy) for c, xy in self.peaks().items()},
            "domain": self.domain.as_record(),
        }


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


class Explainer:
    """One model + one method, reusable and thread-safe. Close it (or use ``with``) to remove its hook.

    ``flip_average=True`` (CAM only) also runs the mirrored image and averages:
    ``map_c = ½ (M_c(x) + flip(M_c(flip x)))`` and ``logit_c = ½ (z_c(x) + z_c(flip x))``, so the CAM
    identity ``mean(map_c) + b_c = logit_c`` still holds. It costs a second forward pass; on the
    synthetic test parts it raised SqueezeNet's AUROC 0.872 → 0.892 and pointing 0.839 → 0.876
    (docs/localization.md).
    """

    def __init__(self, bundle: ModelBundle, method: str = "cam", layer: str | None = None,
                 batch_size: int = 16, flip_average: bool = False, *, extractor: Extractor | None = None,
                 backend: BackendChoice | None = None) -> None:
        self.bundle = bundle
        self.batch_size = max(1, int(batch_size))
        self.extractor: Extractor = extractor or make_model_extractor(bundle, method, layer)
        own = getattr(type(bundle.model), "cam_extractor", None) is not None
        self.backend: BackendChoice = backend or BackendChoice("onnx" if own else "torch")
        """Which engine runs (:func:`cam_core.explain.factory.make_explainer` picks it) and why."""
        if flip_average and self.extractor.name != "cam":
            self.extractor.close()
            raise InputError("flip averaging is available for CAM only (gradient methods map one class per pass)")
        self.flip_average = flip_average

    @property
    def method(self) -> str:
        return self.extractor.name

    def explain(self, images: Sequence[ImageLike], targets: Sequence[int] | None = None) -> list[Explanation]:
        """Explain every image (PIL or H×W×3 uint8 arrays), in batches of ``batch_size``.

        Images are batched with others of the same network input size (one size for square models;
        one per aspect-ratio step for ``resize == "aspect"``); results come back in input order.
        """
        results: list[Explanation | None] = [None] * len(images)
        by_size: dict[tuple[int, int], list[int]] = {}
        for i, image in enumerate(images):
            by_size.setdefault(self.bundle.input_size_for(image), []).append(i)
        for size, members in by_size.items():
            for start in range(0, len(members), self.batch_size):
                chunk = members[start:start + self.batch_size]
                for i, explanation in zip(chunk, self._explain_batch([images[i] for i in chunk], size, targets)):
                    results[i] = explanation
        return [r for r in results if r is not None]

    def _explain_batch(self, chunk: list[ImageLike], size: tuple[int, int],
                       targets: Sequence[int] | None) -> list[Explanation]:
        batch = self.bundle.preprocess(chunk, size)
        out = self.extractor(batch, targets)
        logits = out.logits.cpu().numpy()
        maps = out.maps.cpu().numpy()
        if self.flip_average:
            mirrored = self.extractor(torch.flip(batch, dims=[-1]), targets)
            logits = (logits + mirrored.logits.cpu().numpy()) / 2
            maps = (maps + mirrored.maps.cpu().numpy()[..., ::-1]) / 2
            probabilities = _softmax(logits)
        else:
            probabilities = out.probabilities.cpu().numpy()
        indices = out.class_indices.cpu().numpy()
        domains = self._domains(out, len(chunk))
        explanations = []
        for i, image in enumerate(chunk):
            width, height = image.size if isinstance(image, Image.Image) else (image.shape[1], image.shape[0])
            explanations.append(Explanation(
                classes=self.bundle.classes, probabilities=probabilities[i], logits=logits[i], maps=maps[i],
                class_indices=tuple(int(c) for c in indices[i]), image_size=(int(width), int(height)),
                method=out.method, layer=out.layer, defect_index=self.bundle.card.defect_index,
                backend=self.backend.ran, domain=domains[i]))
        return explanations

    def _domains(self, out: CAMResult, n: int) -> list[DomainResult]:
        """The domain check of each image, from the features of the pass that made the maps."""
        domain = self.bundle.domain
        if domain is None:
            return [unknown_domain(NO_REFERENCE)] * n
        judged = domain.judge(out.features, out.features_layer)
        return judged if judged is not None else [unknown_domain(f"{out.method} gives no domain features")] * n

    def explain_one(self, image: ImageLike, targets: Sequence[int] | None = None) -> Explanation:
        return self.explain([image], targets)[0]

    def close(self) -> None:
        self.extractor.close()

    def __enter__(self) -> Explainer:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
