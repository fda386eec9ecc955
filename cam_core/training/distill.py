"""Distillation: a student learns from the labels, a teacher's softened probabilities and the teacher's maps.

The teacher is any model this product opens (:func:`cam_core.models.load_model`: ours, imported, ONNX); it is
explained with CAM by the one :class:`~cam_core.explain.Explainer`. For image ``i`` (labelled or not) it gives
logits ``z^t_i`` and the defect-evidence map ``E^t_i = M^t_defect − mean_c M^t_c`` (the NG map drawn in the
app). The teacher sees each stored image once, un-augmented (:class:`Teacher`, kept on the bucket, so a long run
pays for it once); its map is moved by the same flip/rotation/crop as the student's input
(:func:`~cam_core.training.augment.augment_with_maps`) and area-resampled to the student's own grid.

The loss of a batch (:class:`DistillLoss`), ``L`` the labelled images, ``B`` all of them::

    L = (1 − α) · CE_w(z^s_L, y_L)                                    labels (class-weighted), labelled only
      + α · T² · mean_{i∈B} KL(softmax(z^t_i / T) ‖ softmax(z^s_i / T))   softened probabilities
      + λ · mean_{i∈B} (1 − cos(E^s_i − Ē^s_i, E^t_i − Ē^t_i))         maps: the same shape on the student grid
      (+ the pointing loss on labelled images with a defect mask, as without a teacher)

``T`` the temperature, ``α`` the weight of the teacher's probabilities, ``λ`` the map weight. The map term
compares centred maps by their cosine: it is 0 exactly when the student's map is a positive multiple of the
teacher's (plus a constant), so it asks where the evidence lies, not its scale (the scale of the student's map
is its logit's business, through the CAM identity). Images without a label take part only in the two teacher
terms.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cam_core.engine.architectures import resolve_head
from cam_core.engine.hooks import ActivationCapture, linear_weight_product, resolve_module
from cam_core.errors import InputError

__all__ = ["UNLABELLED", "UNLABELLED_FOLDER", "DistillLoss", "DistillSettings", "Teacher", "distill_terms"]

UNLABELLED = -1                  # the label of an image without one
UNLABELLED_FOLDER = "unlabelled"  # a class folder of this name holds images without a label
_EPS = 1e-8


@dataclass(frozen=True)
class DistillSettings:
    """Learning from a teacher. ``teacher``: a model name or file (``.safetensors``, ``.onnx``);
    ``temperature`` T > 0; ``alpha`` α in [0, 1] (0: labels only, 1: teacher only); ``map_weight`` λ ≥ 0;
    ``unlabelled``: a folder of images without labels (searched recursively), used by the teacher terms only;
    ``cache_dir``: keep the teacher's outputs for the stored images there (:meth:`Teacher.cached_outputs`), so
    the next run on the same images with the same teacher does not explain them again."""

    teacher: str
    temperature: float = 4.0
    alpha: float = 0.5
    map_weight: float = 1.0
    unlabelled: str | None = None
    cache_dir: str | None = None

    def validate(self) -> None:
        checks = [
            (math.isfinite(self.temperature) and self.temperature > 0,
             f"temperature must be > 0 (got {self.temperature})"),
            (0.0 <= self.alpha <= 1.0, f"alpha must be in [0, 1] (got {self.alpha})"),
            (math.isfinite(self.map_weight) and self.map_weight >= 0,
             f"map weight must be ≥ 0 (got {self.map_weight})"),
        ]
        for ok, message in checks:
            if not ok:
                raise InputError(message)


def distill_terms(student_logits: Tensor, teacher_logits: Tensor, student_maps: Tensor, teacher_maps: Tensor,
                  temperature: float) -> tuple[Tensor, Tensor]:
    """(``T² · mean KL(softmax(z^t/T) ‖ softmax(z^s/T))``, ``mean (1 − cos)`` of the centred ``N×h×w`` maps).

    Both are 0 when the student equals the teacher (the map term also when its map is a positive multiple
    of the teacher's plus a constant); ``teacher_maps`` must already be at the student's grid.
    """
    t = temperature
    log_p_student = F.log_softmax(student_logits.float() / t, dim=1)
    log_p_teacher = F.log_softmax(teacher_logits.float() / t, dim=1)
    kl = (log_p_teacher.exp() * (log_p_teacher - log_p_student)).sum(dim=1).mean() * t * t
    s = student_maps.float().flatten(1)
    r = teacher_maps.float().flatten(1)
    s = s - s.mean(dim=1, keepdim=True)
    r = r - r.mean(dim=1, keepdim=True)
    cos = (s * r).sum(dim=1) / (s.norm(dim=1) * r.norm(dim=1) + _EPS)
    return kl, (1.0 - cos).mean()


def _class_order(teacher_classes: Sequence[str], student_classes: Sequence[str]) -> list[int]:
    """For each student class, the index of the teacher class of the same name (case-insensitive)."""
    lowered = {c.lower(): i for i, c in enumerate(teacher_classes)}
    missing = [c for c in student_classes if c.lower() not in lowered]
    if missing:
        raise InputError(f"the teacher's classes ({', '.join(teacher_classes)}) lack {', '.join(missing)}; "
                         "teacher and student need the same class names")
    return [lowered[c.lower()] for c in student_classes]


class Teacher:
    """The teacher model, its card facts, and its outputs for stored images (computed once per image)."""

    def __init__(self, settings: DistillSettings, student_classes: Sequence[str], student_defect: int) -> None:
        from cam_core.files import sha256_of
        from cam_core.models import load_model

        self.settings = settings
        self.bundle = load_model(settings.teacher, device="cpu")
        self.order = _class_order(self.bundle.classes, student_classes)
        self.defect = self.order[student_defect]
        source = Path(self.bundle.source) if self.bundle.source else None
        self.sha256 = sha256_of(source) if source is not None and source.is_file() else None
        self.file = source.name if source is not None else settings.teacher

    def record(self) -> dict[str, Any]:
        """What the student's card says about its teacher."""
        validation = self.bundle.card.validation
        figures = {k: validation.get(k) for k in ("n_images", "accuracy", "auroc") if k in validation}
        return {"teacher": self.bundle.name, "file": self.file, "sha256": self.sha256, "arch": self.bundle.arch,
                "input_size": list(self.bundle.input_size), "teacher_validation": figures,
                "temperature": self.settings.temperature, "alpha": self.settings.alpha,
                "map_weight": self.settings.map_weight,
                "formula": "(1−α)·CE(labels) + α·T²·KL(teacher‖student, softened by T) + map_weight·(1 − cos) of "
                           "the centred defect-evidence maps at the student's grid; see cam_core.training.distill"}

    def cached_outputs(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """:meth:`outputs`, kept in ``settings.cache_dir`` (when set) under the SHA-256 of the teacher file and
        of the image bytes: the same images and teacher are explained once, whatever the run."""
        if not self.settings.cache_dir:
            return self.outputs(images)
        from safetensors.torch import load_file, save_file

        from cam_core.files import atomic_path

        digest = hashlib.sha256(f"{self.sha256 or self.bundle.name}|{tuple(images.shape)}|".encode())
        digest.update(images.contiguous().numpy().tobytes())
        path = Path(self.settings.cache_dir) / f"teacher-{digest.hexdigest()[:32]}.safetensors"
        if path.is_file():
            try:
                kept = load_file(str(path))
                if kept["logits"].shape[0] == images.shape[0] == kept["maps"].shape[0]:
                    return kept["logits"], kept["maps"]
            except (OSError, KeyError, ValueError, RuntimeError):
                pass                                   # unreadable: explain again and overwrite it
        logits, maps = self.outputs(images)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            save_file({"logits": logits.contiguous(), "maps": maps.contiguous()}, str(tmp))
        return logits, maps

    def outputs(self, images: Tensor, batch_size: int = 16) -> tuple[Tensor, Tensor]:
        """uint8 ``N×3×H×W`` → (logits ``N×C`` in the student's class order, defect evidence ``N×1×h×w``)."""
        from cam_core.explain import Explainer

        logits, maps = [], []
        with Explainer(self.bundle, method="cam", batch_size=batch_size) as explainer:
            for start in range(0, images.shape[0], batch_size):
                chunk = [np.ascontiguousarray(a) for a in images[start:start + batch_size].permute(0, 2, 3, 1).numpy()]
                for e in explainer.explain(chunk):
                    logits.append(torch.from_numpy(np.asarray(e.logits, dtype=np.float32)[self.order]))
                    maps.append(torch.from_numpy(np.ascontiguousarray(e.evidence_of(self.defect), dtype=np.float32)))
        return torch.stack(logits), torch.stack(maps)[:, None]


class DistillLoss:
    """The teacher terms of :mod:`cam_core.training.distill` for the student's last forward pass.

    Call :meth:`start` before the forward pass; the student's defect-evidence map is read from a hook on its
    CAM layer, with gradients. Use as a context manager; the hook is removed on exit.
    """

    def __init__(self, model: nn.Module, positive: int, settings: DistillSettings) -> None:
        self._spec = resolve_head(model)
        self._positive = positive
        self._settings = settings
        self._head = resolve_module(model, self._spec.classifier)
        layer = self._spec.classifier if self._spec.kind == "conv1x1" else self._spec.feature_layer
        self._capture = ActivationCapture(resolve_module(model, layer), keep_graph=True)

    def start(self) -> None:
        self._capture.start()

    def student_evidence(self) -> Tensor:
        """``N×h×w``: the defect map minus the mean of the class maps, from the last forward pass."""
        captured = self._capture.require(self._capture.stop())
        if self._spec.kind == "conv1x1":
            maps = captured
        else:
            features = F.relu(captured) if self._spec.feature_relu else captured
            weight = self._head.weight
            assert isinstance(weight, Tensor)
            maps = linear_weight_product(features, weight)
        return maps[:, self._positive] - maps.mean(dim=1)

    def __call__(self, logits: Tensor, labels: Tensor, weight: Tensor, teacher_logits: Tensor,
                 teacher_maps: Tensor) -> Tensor:
        """The whole loss of the batch (``teacher_maps``: ``N×1×H×W`` at any size, already augmented)."""
        s = self._settings
        student = self.student_evidence()
        grid = (int(student.shape[-2]), int(student.shape[-1]))
        target = F.adaptive_avg_pool2d(teacher_maps.to(student.device, torch.float32), grid)[:, 0]
        kl, maps = distill_terms(logits, teacher_logits.to(logits.device), student, target, s.temperature)
        labelled = labels != UNLABELLED
        loss = s.alpha * kl + s.map_weight * maps
        if bool(labelled.any()):
            ce = F.cross_entropy(logits[labelled], labels[labelled], weight=weight)
            loss = loss + (1.0 - s.alpha) * ce
        return loss

    def close(self) -> None:
        self._capture.close()

    def __enter__(self) -> DistillLoss:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
