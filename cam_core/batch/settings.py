"""Settings of a batch run, and the one factory that turns them into an :class:`Explainer`.

:class:`ExplainerSpec` is plain data (picklable): the local engine builds its Explainer from it, and so does
every Ray actor on its own machine, through :func:`~cam_core.explain.factory.make_explainer` (so ``backend``
picks onnxruntime or PyTorch as everywhere else).
"""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass
from pathlib import Path

from cam_core.checkpoints import DEFAULT_MODEL
from cam_core.errors import InputError
from cam_core.explain.factory import make_explainer
from cam_core.explain.pipeline import Explainer
from cam_core.files import sha256_of

__all__ = ["Engine", "ExplainerSpec", "ModelInfo", "OverlayPolicy", "RunSettings", "build_explainer",
           "model_info"]


class Engine(str, enum.Enum):
    LOCAL = "local"
    RAY = "ray"


@dataclass(frozen=True)
class ExplainerSpec:
    """Which model and method to explain with, and how to run it."""

    model: str = DEFAULT_MODEL
    method: str = "cam"
    flip_average: bool = False
    device: str = "auto"
    batch_size: int = 16
    threads: int | None = None          # torch threads of this explainer (None: torch's default)
    backend: str | None = None          # CPU engine (cam_core.engine.backend.Backend); None: the default


def build_explainer(spec: ExplainerSpec) -> Explainer:
    """The one place a batch makes its :class:`Explainer` (local engine and every Ray actor)."""
    from cam_core.models import load_model

    if spec.threads:
        import torch

        torch.set_num_threads(spec.threads)
    bundle = load_model(spec.model, device=spec.device)
    return make_explainer(bundle, spec.method, backend=spec.backend, batch_size=spec.batch_size,
                          flip_average=spec.flip_average)


@dataclass(frozen=True)
class ModelInfo:
    """What each row says about the model: name, file hash, method label (``cam+flip`` when flip-averaged)."""

    name: str
    hash: str
    method: str


def model_info(explainer: Explainer) -> ModelInfo:
    source = explainer.bundle.source
    digest = sha256_of(source) if source and os.path.isfile(source) else ""
    method = explainer.method + ("+flip" if explainer.flip_average else "")
    return ModelInfo(name=explainer.bundle.name, hash=digest, method=method)


@dataclass(frozen=True)
class OverlayPolicy:
    """``--overlays``: ``none``, ``ng`` (every part called NG) or ``top:N`` (the N most likely defective)."""

    kind: str = "none"
    top: int = 0

    @classmethod
    def parse(cls, text: str) -> OverlayPolicy:
        text = text.strip().lower()
        if text in ("none", "ng"):
            return cls(text)
        if text.startswith("top:") and text[4:].isdigit() and int(text[4:]) > 0:
            return cls("top", int(text[4:]))
        raise InputError(f"--overlays {text!r}: use ng, top:N (N > 0) or none")


@dataclass(frozen=True)
class RunSettings:
    """One ``batch`` run: where results go and how the work is spread."""

    out_dir: Path
    spec: ExplainerSpec = ExplainerSpec()
    engine: Engine = Engine.LOCAL
    workers: int = 1                      # local: decode threads; ray: explainer actors
    save_maps: bool = False
    overlays: OverlayPolicy = OverlayPolicy()
    threshold: float | None = None        # None: the verdict rule's argmax
    rows_per_part: int = 2048
    ray_address: str | None = None
    gpus_per_worker: float = 0.0
    cpus_per_worker: float = 0.5
