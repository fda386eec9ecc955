"""Forward hooks and weight products: the only place that touches a model's internals.

A :class:`ActivationCapture` hooks one module and keeps what it sees *per thread*, so a single
model cached by the app and shared by many sessions can be explained from several threads at
once without one thread reading another's activations. Hooks are removed on ``close()`` /
``__exit__``, exceptions included.

Weight products (Zhou et al., 2016): for features ``A ∈ R^{N×K×h×w}`` and a linear classifier
``W ∈ R^{C×K}``, ``b ∈ R^C`` after global average pooling,

    CAM_c(x, y) = Σ_k W[c, k] · A_k(x, y)        and     mean_{x,y} CAM_c + b_c = logit_c.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from types import TracebackType

import torch
from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle

from cam_core.errors import ModelError

__all__ = [
    "ActivationCapture",
    "linear_weight_product",
    "registered_hook_count",
    "resolve_module",
]


def resolve_module(model: nn.Module, name: str) -> nn.Module:
    """Return the submodule called ``name`` (dotted path), with a helpful error when it is absent."""
    modules = dict(model.named_modules())
    if name in modules:
        return modules[name]
    top_level = ", ".join(n for n, _ in model.named_children()) or "(none)"
    raise ModelError(f"layer {name!r} not found in {type(model).__name__}; its top-level layers are: {top_level}")


def registered_hook_count(model: nn.Module) -> int:
    """Number of forward/backward hooks on every submodule (0 when nothing leaked)."""
    total = 0
    for module in model.modules():
        total += len(module._forward_hooks) + len(module._forward_pre_hooks)
        total += len(module._backward_hooks) + len(getattr(module, "_backward_pre_hooks", {}))
    return total


def linear_weight_product(features: Tensor, weight: Tensor) -> Tensor:
    """``maps[n, c] = Σ_k weight[c, k] · features[n, k]``: ``N×K×h×w`` × ``C×K`` → ``N×C×h×w``."""
    return torch.einsum("nkhw,ck->nchw", features, weight.to(features.dtype))


class ActivationCapture:
    """Forward hook on one module that records its output for the calling thread only.

    ``make_leaf=True`` is for gradient methods: the hook hands the rest of the network a fresh
    graph that starts at this module's output, with grad mode switched on from there. The
    backbone before the layer therefore runs without building a graph, and ``∂score/∂A`` can be
    taken with :func:`torch.autograd.grad` (no ``.grad`` written on shared parameters).
    ``keep_graph=True`` is for training losses on the maps: the output is kept attached to the graph.
    """

    def __init__(self, module: nn.Module, *, make_leaf: bool = False, keep_graph: bool = False,
                 transform: Callable[[Tensor], Tensor] | None = None) -> None:
        if make_leaf and (transform is not None or keep_graph):
            raise ValueError("a transform or keep_graph applies to plain captures only")
        self._local = threading.local()
        self._make_leaf = make_leaf
        self._keep_graph = keep_graph
        self._transform = transform
        self._handle: RemovableHandle | None = module.register_forward_hook(self._hook)

    # -- recording, per thread -------------------------------------------------------------
    def start(self) -> None:
        """Arm the capture for the calling thread."""
        self._local.active = True
        self._local.value = None

    def stop(self) -> Tensor | None:
        """Disarm and return what was captured in this thread (None if the layer never ran). Never raises."""
        value = getattr(self._local, "value", None)
        self._local.active = False
        self._local.value = None
        return value

    @staticmethod
    def require(value: Tensor | None) -> Tensor:
        """``value``, or a clear error when the hooked layer did not run."""
        if value is None:
            raise ModelError("the hooked layer did not run during the forward pass; check the layer name")
        return value

    def _hook(self, module: nn.Module, inputs: tuple[Tensor, ...], output: Tensor) -> Tensor | None:
        if not getattr(self._local, "active", False):
            return None
        if not isinstance(output, Tensor):
            raise ModelError(f"layer {type(module).__name__} returns {type(output).__name__}, not a tensor")
        if self._make_leaf:
            torch.set_grad_enabled(True)  # restored by the caller after the forward pass
            leaf = output.detach().requires_grad_(True)
            self._local.value = leaf  # gradients are taken w.r.t. the layer's own output
            return leaf * 1.0  # a non-leaf, so in-place ops after this layer (ReLU(inplace)) stay legal
        value = output if self._keep_graph else output.detach()
        self._local.value = self._transform(value) if self._transform else value
        return None

    # -- lifetime --------------------------------------------------------------------------
    def close(self) -> None:
        """Remove the hook (idempotent)."""
        if self._handle is not None:
            self._handle.remove()
            self._handle = None

    def __enter__(self) -> ActivationCapture:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __del__(self) -> None:  # last resort; ``close`` is the contract
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass
