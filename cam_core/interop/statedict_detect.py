"""Which known architecture a state dict belongs to, from its key names and tensor shapes alone.

For every architecture in :data:`~cam_core.engine.architectures.KNOWN_ARCHITECTURES` the reference is the
``state_dict()`` of :func:`~cam_core.engine.architectures.build_model` built on the ``meta`` device (names
and shapes, no memory). A file *fits* an architecture when, after the wrapper prefixes are stripped
(:func:`candidate_views`), every reference tensor is present with its shape, nothing else is left, and the
classifier (the layer CAM reads, from :func:`~cam_core.engine.architectures.resolve_head`) has the
reference's input shape with any number ``C ≥ 1`` of output rows. ``C`` is the class count
(``C = 1``: a single-logit head). Keys that are never part of the network are dropped with a note:
BatchNorm's ``num_batches_tracked`` counters may be absent, GoogLeNet's auxiliary heads (``aux1.``/``aux2.``,
used only in training) are left out, and so are the domain check's tensors (``domain.``) of a model file of ours:
they describe that model's training data, not the network.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache

import torch

from cam_core.domain.store import DOMAIN_PREFIX
from cam_core.engine import KNOWN_ARCHITECTURES, build_model, resolve_head

__all__ = ["ArchFit", "Signature", "candidate_views", "fit_architecture", "signature"]

#: Prefixes that wrappers put before every key: DataParallel/DDP, torch.compile, Lightning modules, others.
WRAPPER_PREFIXES = ("module.", "_orig_mod.", "model.", "net.", "network.", "backbone.")
TRAINING_ONLY_PREFIXES = {"googlenet": ("aux1.", "aux2.")}
Shapes = Mapping[str, tuple[int, ...]]


@dataclass(frozen=True)
class Signature:
    """Names and shapes of one architecture's tensors, head apart."""

    arch: str
    body: dict[str, tuple[int, ...]]
    head_weight: str
    head_bias: str
    head_in: tuple[int, ...]        # weight shape without the class dimension
    head_kind: str                  # "linear" or "conv1x1"


@cache
def signature(arch: str) -> Signature:
    """The :class:`Signature` of ``arch`` (built once, on the meta device)."""
    with torch.device("meta"):
        model = build_model(arch, 2)
    spec = resolve_head(model)
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    weight, bias = f"{spec.classifier}.weight", f"{spec.classifier}.bias"
    head_in = shapes.pop(weight)[1:]
    shapes.pop(bias, None)
    return Signature(arch, shapes, weight, bias, head_in, spec.kind)


@dataclass
class ArchFit:
    """How well one state dict fits one architecture."""

    arch: str
    prefix: str = ""
    num_outputs: int = 0
    matched: int = 0
    total: int = 0
    missing: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)   # "name: file a×b, expected c×d"
    unexpected: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)      # keys left out on purpose (outside the prefix, aux heads)

    @property
    def fits(self) -> bool:
        return self.num_outputs >= 1 and not (self.missing or self.mismatched or self.unexpected)

    def problems(self, limit: int = 3) -> str:
        """The first few problems, in one line."""
        parts = [f"missing {k}" for k in self.missing[:limit]]
        parts += self.mismatched[:limit]
        parts += [f"unexpected {k}" for k in self.unexpected[:limit]]
        counts = (f"{len(self.missing)} missing, {len(self.mismatched)} of another shape, "
                  f"{len(self.unexpected)} unexpected")
        return f"{counts}: {'; '.join(parts[:limit])}" if parts else "no classifier weights"


def _shape(shape: tuple[int, ...]) -> str:
    return "×".join(str(s) for s in shape) or "scalar"


def candidate_views(shapes: Shapes) -> Iterator[tuple[str, dict[str, tuple[int, ...]], list[str]]]:
    """``(prefix, keys under it with the prefix stripped, keys left out)``, from no prefix to the deepest.

    A prefix is followed while at least half of the keys share it (Lightning: ``model.`` before the network,
    with a loss module's buffers beside it).
    """
    prefix, current = "", dict(shapes)
    yield prefix, current, []
    for _ in range(4):
        heads = Counter(k.split(".", 1)[0] + "." for k in current if "." in k)
        if not heads:
            return
        first, count = heads.most_common(1)[0]
        if count * 2 < len(current) or (first not in WRAPPER_PREFIXES and count != len(current)):
            return
        prefix += first
        current = {k[len(first):]: v for k, v in current.items() if k.startswith(first)}
        yield prefix, current, [k for k in shapes if not k.startswith(prefix)]


def _fit_one(sig: Signature, view: Mapping[str, tuple[int, ...]], prefix: str, outside: list[str]) -> ArchFit:
    fit = ArchFit(sig.arch, prefix=prefix, total=len(sig.body) + 2, dropped=list(outside))
    training_only = TRAINING_ONLY_PREFIXES.get(sig.arch, ())
    for key, shape in view.items():
        if key.startswith(training_only) or (prefix + key).startswith(DOMAIN_PREFIX):
            fit.dropped.append(prefix + key)
        elif key in (sig.head_weight, sig.head_bias):
            continue
        elif key not in sig.body:
            fit.unexpected.append(prefix + key)
        elif tuple(shape) != sig.body[key]:
            fit.mismatched.append(f"{prefix}{key}: file {_shape(tuple(shape))}, expected {_shape(sig.body[key])}")
        else:
            fit.matched += 1
    fit.missing = [prefix + k for k in sig.body if k not in view and not k.endswith("num_batches_tracked")]
    fit.unexpected.sort(key=lambda k: k.endswith("num_batches_tracked"))   # weights first in messages
    head = view.get(sig.head_weight)
    if head is None:
        fit.missing.insert(0, prefix + sig.head_weight)
    elif tuple(head[1:]) != sig.head_in:
        fit.mismatched.insert(0, f"{prefix}{sig.head_weight}: file {_shape(tuple(head))}, expected "
                                 f"C×{_shape(sig.head_in)}")
    else:
        fit.num_outputs, fit.matched = int(head[0]), fit.matched + 1
        bias = view.get(sig.head_bias)
        if bias is None:
            fit.missing.append(prefix + sig.head_bias)
        elif tuple(bias) != (head[0],):
            fit.mismatched.append(f"{prefix}{sig.head_bias}: file {_shape(tuple(bias))}, expected {head[0]}")
        else:
            fit.matched += 1
    return fit


def fit_architecture(shapes: Shapes, arch: str | None = None) -> tuple[ArchFit | None, ArchFit]:
    """``(the fit, or None; the closest candidate)`` among ``arch`` (when given) or every known architecture.

    The closest candidate is the one with the most reference tensors present with their shapes, for the
    one-line "why none fits" message.
    """
    archs = (arch,) if arch else KNOWN_ARCHITECTURES
    best: ArchFit | None = None
    for name in archs:
        sig = signature(name)
        for prefix, view, outside in candidate_views(shapes):
            fit = _fit_one(sig, view, prefix, outside)
            if fit.fits:
                return fit, fit
            if best is None or fit.matched / fit.total > best.matched / best.total:
                best = fit
    assert best is not None
    return None, best
