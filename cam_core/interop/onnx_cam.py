"""CAM on an ONNX graph with onnxruntime, from the head's weights stored in the file (no Python code needed).

The tensor ``A`` that feeds the global average pool (:func:`~cam_core.interop.onnx_graph.find_cam_head`) is
added as an extra graph output; one onnxruntime run gives the logits ``z`` and ``A``, and

    CAM_c = Σ_k W[c, k] · A_k        (a 1×1-conv head before the pool: CAM_c = A_c, b = 0)

A single-logit graph (``P(positive) = σ(z)``) is read as two classes, logits ``(−z/2, +z/2)`` and head rows
``(−w/2, +w/2)`` (:mod:`cam_core.engine.heads`), so its softmax is ``σ(z)`` and its maps sit on the same
evidence scale as a two-class model's. Every call checks the CAM identity ``mean_{x,y}(CAM_c) + b_c = z_c`` to a relative ``1e-4`` (``1e-2``
for float16 graphs), ``|Δ| ≤ tol · (1 + max|z|)``, and raises :class:`ModelError` when it fails, so a map
is never shown for a graph it does not explain. Grad-CAM needs gradients, which an inference graph
does not give: ONNX models are explained with CAM only.

:class:`OnnxCAM` returns the same :class:`~cam_core.engine.methods.CAMResult` as the PyTorch
:class:`~cam_core.engine.methods.CAM`, so :class:`~cam_core.explain.pipeline.Explainer` and everything after
it is unchanged. :class:`OnnxModule` wraps the session as an ``nn.Module`` (``module(batch)`` → logits) so an
ONNX model fits :class:`~cam_core.checkpoints.bundle.ModelBundle`. Sessions are thread-safe.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any

import numpy as np
import onnxruntime as ort
import torch
from torch import Tensor, nn

from cam_core.domain.features import pooled_features
from cam_core.engine.heads import single_logit_as_two_class
from cam_core.engine.hooks import linear_weight_product
from cam_core.engine.identity import IDENTITY_RTOL, IDENTITY_RTOL_HALF, identity_gap
from cam_core.engine.methods import CAMResult
from cam_core.errors import InputError, ModelError
from cam_core.interop.onnx_graph import CamHead, find_cam_head

if TYPE_CHECKING:   # onnx is imported only to read a graph (~1 s): a prepared runtime (RuntimeSpec) needs none
    import onnx

__all__ = ["DOMAIN_OUTPUT_PREFIX", "GRADCAM_REFUSAL", "OnnxCAM", "OnnxCamRuntime", "OnnxModule", "RuntimeSpec",
           "is_onnx_model", "onnx_extractor"]

MAX_FIXED_BATCH = 256         # a graph with a fixed batch size N gets every batch padded to N images
# Images per onnxruntime run (a graph with a dynamic batch). The session's CPU arena keeps the largest
# activations it ever held, for the life of the process: Lite0 at 320 px takes ≈ 45 MiB per image of a run
# (+37, +86, +184, +366, +746 MiB after runs of 1, 2, 4, 8, 16 images), while the time per image stays the
# same (17.0, 17.0, 16.9, 16.4, 17.5 ms on 2 threads). Bigger runs would only hold more memory.
RUN_CHUNK = 2
DOMAIN_OUTPUT_PREFIX = "domain:"   # graph outputs the domain check pools (export-onnx adds them)
GRADCAM_REFUSAL = "Grad-CAM needs the model's gradients; ONNX models are explained with CAM only"
FLOAT, FLOAT16 = 1, 10        # onnx.TensorProto element types
_NUMPY_TYPES: dict[int, type] = {FLOAT: np.float32, FLOAT16: np.float16}


def _image_input(model: onnx.ModelProto) -> tuple[str, list[int | None], int]:
    """Name, dims (None when symbolic) and element type of the graph's one image input (N×3×H×W)."""
    stored = {init.name for init in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in stored]
    if len(inputs) != 1:
        raise ModelError(f"the graph takes {len(inputs)} inputs; CAM Inspector feeds one N×3×H×W image batch")
    tensor = inputs[0].type.tensor_type
    dims: list[int | None] = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None
                              for d in tensor.shape.dim]
    if tensor.elem_type not in _NUMPY_TYPES:
        import onnx

        raise ModelError(f"the graph's input {inputs[0].name!r} is not float32 or float16 "
                         f"({onnx.TensorProto.DataType.Name(tensor.elem_type)})")
    if len(dims) != 4 or dims[1] not in (3, None):
        raise ModelError(f"the graph's input {inputs[0].name!r} has shape {dims}; CAM Inspector feeds N×3×H×W "
                         "(channels-first RGB) batches")
    if dims[0] is not None and dims[0] > MAX_FIXED_BATCH:   # every run is padded to it: bound it first
        raise ModelError(f"the graph's input {inputs[0].name!r} has a fixed batch of {dims[0]} images; at most "
                         f"{MAX_FIXED_BATCH} are accepted (export it with a dynamic or smaller batch)")
    return inputs[0].name, dims, tensor.elem_type


def _tensor_types(model: onnx.ModelProto) -> dict[str, int]:
    """Element type of every tensor shape inference can type (empty when it cannot run)."""
    import onnx

    try:
        inferred = onnx.shape_inference.infer_shapes(model)
    except (onnx.shape_inference.InferenceError, ValueError, RuntimeError):  # custom ops: fall back
        return {}
    graph = inferred.graph
    return {v.name: v.type.tensor_type.elem_type for v in [*graph.value_info, *graph.output, *graph.input]}


def with_outputs(model: onnx.ModelProto, names: Sequence[str], default_type: int) -> onnx.ModelProto:
    """A copy of ``model`` that also outputs the tensors ``names`` (those not outputs already)."""
    import onnx

    augmented = onnx.ModelProto()
    augmented.CopyFrom(model)
    present = {o.name for o in augmented.graph.output}
    types = _tensor_types(model)
    for name in names:
        if name not in present:
            elem_type = types.get(name) or default_type
            augmented.graph.output.append(onnx.helper.make_tensor_value_info(name, elem_type, None))
            present.add(name)
    return augmented


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


def _session(graph: bytes, label: str) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, torch.get_num_threads())   # as many threads as PyTorch uses
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(graph, sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own exception types for bad graphs
        raise ModelError(f"{label}: onnxruntime cannot run this graph ({_first_line(exc)})") from None


_HEAD_TEXT = ("kind", "features", "logits", "num_classes", "head", "pool", "output")   # CamHead's non-array fields


@dataclass(frozen=True)
class RuntimeSpec:
    """What a runtime reads from its graph besides the graph itself: the image input, the domain outputs and the
    CAM head. :meth:`arrays` / :meth:`from_arrays` keep it in an ``.npz`` file, so a graph prepared once
    (:meth:`graph_bytes`) opens later without importing onnx (:mod:`cam_core.interop.onnx_cache`)."""

    input_name: str
    input_dims: tuple[int | None, ...]
    elem_type: int
    domain_outputs: tuple[str, ...]
    head: CamHead

    @classmethod
    def of(cls, model: onnx.ModelProto, head: CamHead | None = None) -> RuntimeSpec:
        """Read from ``model`` (:class:`ModelError` when CAM cannot read it)."""
        head = head or find_cam_head(model)
        name, dims, elem_type = _image_input(model)
        domain = tuple(o.name for o in model.graph.output if o.name.startswith(DOMAIN_OUTPUT_PREFIX))
        return cls(name, tuple(dims), elem_type, domain, head)

    def graph_bytes(self, model: onnx.ModelProto) -> bytes:
        """``model`` with the logits and the pooled features as outputs, serialised for onnxruntime."""
        return with_outputs(model, [self.head.logits, self.head.features], self.elem_type).SerializeToString()

    def arrays(self) -> dict[str, np.ndarray]:
        """The spec as arrays (``np.savez``): the head's weight and bias, everything else as one JSON string."""
        text: dict[str, Any] = {key: getattr(self.head, key) for key in _HEAD_TEXT}
        text.update(input_name=self.input_name, input_dims=list(self.input_dims), elem_type=self.elem_type,
                    domain_outputs=list(self.domain_outputs))
        out = {"spec": np.array(json.dumps(text)), "bias": np.asarray(self.head.bias)}
        if self.head.weight is not None:
            out["weight"] = np.asarray(self.head.weight)
        return out

    @classmethod
    def from_arrays(cls, arrays: Any) -> RuntimeSpec:
        """The spec :meth:`arrays` kept (``arrays``: an ``np.load`` result or a dict); KeyError/ValueError when
        something is missing."""
        text = json.loads(str(arrays["spec"]))
        weight = np.asarray(arrays["weight"]) if "weight" in arrays else None
        head = CamHead(weight=weight, bias=np.asarray(arrays["bias"]), **{key: text[key] for key in _HEAD_TEXT})
        return cls(str(text["input_name"]), tuple(text["input_dims"]), int(text["elem_type"]),
                   tuple(text["domain_outputs"]), head)


class OnnxCamRuntime:
    """One ONNX graph ready for CAM: the session with the pooled features exposed, and the head's weights."""

    def __init__(self, model: onnx.ModelProto, label: str = "ONNX model", head: CamHead | None = None) -> None:
        spec = RuntimeSpec.of(model, head)
        self._open(spec.graph_bytes(model), spec, label)

    @classmethod
    def prepared(cls, graph: bytes, spec: RuntimeSpec, label: str = "ONNX model") -> OnnxCamRuntime:
        """A runtime for a graph already prepared by :meth:`RuntimeSpec.graph_bytes` (onnx is not imported)."""
        runtime = cls.__new__(cls)
        runtime._open(graph, spec, label)
        return runtime

    def _open(self, graph: bytes, spec: RuntimeSpec, label: str) -> None:
        self.label = label
        self.spec = spec
        self.head = spec.head
        self.input_name, self.input_dims = spec.input_name, list(spec.input_dims)
        self._input_type = _NUMPY_TYPES[spec.elem_type]
        self._rtol = IDENTITY_RTOL_HALF if spec.elem_type == FLOAT16 else IDENTITY_RTOL
        self.domain_outputs = list(spec.domain_outputs)
        self.session = _session(graph, label)
        weight = None if self.head.weight is None else torch.from_numpy(self.head.weight).float()  # C×K
        bias = torch.from_numpy(self.head.bias).float()                                            # C
        if self.head.single_logit and weight is not None:   # z = w·GAP(A) + b → rows (−w/2, +w/2), (−b/2, +b/2)
            weight, bias = single_logit_as_two_class(weight, bias, positive_index=1)
        elif self.head.single_logit:
            bias = torch.zeros(2)
        self.weight: Tensor | None = weight
        self.bias: Tensor = bias

    @property
    def fixed_batch(self) -> int | None:
        return self.input_dims[0]

    def run(self, batch: np.ndarray, outputs: Sequence[str]) -> list[np.ndarray]:
        """Run ``batch`` (N×3×H×W float32) in chunks: the graph's batch size when it is fixed, else at most
        :data:`RUN_CHUNK` images (see there why)."""
        batch = np.ascontiguousarray(batch, dtype=self._input_type)
        step = self.fixed_batch or min(RUN_CHUNK, max(1, len(batch)))
        parts = []
        for start in range(0, len(batch), step):
            chunk = batch[start:start + step]
            if len(chunk) < step:   # a graph with a fixed batch size: pad the last chunk, keep only its rows
                chunk = np.concatenate([chunk, np.repeat(chunk[-1:], step - len(chunk), axis=0)])
            parts.append([np.asarray(out[:len(batch) - start], dtype=np.float32) for out in self._run(chunk, outputs)])
        return [np.concatenate([p[j] for p in parts]) for j in range(len(outputs))]

    def _run(self, chunk: np.ndarray, outputs: Sequence[str]) -> list[np.ndarray]:
        try:
            return list(self.session.run(list(outputs), {self.input_name: chunk}))
        except Exception as exc:  # noqa: BLE001 - onnxruntime's own error types (shape mismatch, bad node)
            raise ModelError(f"{self.label}: onnxruntime could not run a {tuple(chunk.shape)} batch "
                             f"({_first_line(exc)})") from None

    def logits(self, batch: Tensor) -> Tensor:
        (logits,) = self.run(batch.detach().cpu().float().numpy(), [self.head.logits])
        return self._classes(torch.from_numpy(logits.reshape(len(logits), -1)))

    def _classes(self, scores: Tensor) -> Tensor:
        """A single logit ``z`` (or its map) as the two classes ``(−z/2, +z/2)``: softmax gives σ(z) for class 1."""
        return torch.cat([-scores / 2, scores / 2], dim=1) if self.head.single_logit else scores

    def explain(self, batch: Tensor) -> tuple[Tensor, Tensor]:
        """``(logits N×C, maps N×C×h×w)`` of ``batch``, with the CAM identity checked."""
        logits, maps, _ = self.explain_with_features(batch)
        return logits, maps

    @property
    def features_layer(self) -> str:
        """Where the domain features come from: the ``domain:`` outputs' layers, else the pooled tensor."""
        if self.domain_outputs:
            return "+".join(name.removeprefix(DOMAIN_OUTPUT_PREFIX) for name in self.domain_outputs)
        return self.head.features

    def explain_with_features(self, batch: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``(logits, maps, domain features)`` of ``batch`` from one run: the features are
        :func:`~cam_core.domain.pooled_features` of the ``domain:`` outputs (concatenated), else of ``A``, as the
        PyTorch extractors give them."""
        logits_np, features_np, *stages_np = self.run(batch.detach().cpu().float().numpy(),
                                                      [self.head.logits, self.head.features, *self.domain_outputs])
        logits = self._classes(torch.from_numpy(logits_np.reshape(len(logits_np), -1)))
        features = torch.from_numpy(features_np)
        if features.ndim != 4:
            raise ModelError(f"{self.label}: the tensor before the pool has shape {tuple(features.shape)}, not "
                             "N×K×h×w: not a convolutional feature map")
        if self.weight is None:
            maps = self._classes(features).contiguous()
        elif features.shape[1] != self.weight.shape[1]:
            raise ModelError(f"{self.label}: the pooled tensor has {features.shape[1]} channels but the head takes "
                             f"{self.weight.shape[1]}: the head does not read this pool")
        else:
            maps = linear_weight_product(features, self.weight).contiguous()
        self._check_identity(maps, logits)
        if stages_np:
            return logits, maps, torch.cat([pooled_features(torch.from_numpy(s)) for s in stages_np], dim=1)
        return logits, maps, pooled_features(features)

    def _check_identity(self, maps: Tensor, logits: Tensor) -> None:
        if maps.shape[:2] != logits.shape:
            raise ModelError(f"{self.label}: the maps have {maps.shape[1]} classes but the graph outputs "
                             f"{logits.shape[1]} logits")
        error, tolerance = identity_gap(maps, self.bias, logits, self._rtol)
        if not error <= tolerance:
            raise ModelError(f"{self.label}: CAM identity fails (mean(map) + bias differs from the logit by "
                             f"{error:.3g}, more than {tolerance:.2g}): {self.head.head} is not a global average "
                             "pool followed by one linear layer")


class OnnxModule(nn.Module):
    """An ONNX graph as an ``nn.Module``: ``module(batch)`` → logits (N×C), run by onnxruntime on the CPU."""

    def __init__(self, runtime: OnnxCamRuntime) -> None:
        super().__init__()
        self.runtime = runtime
        # No weights live in PyTorch; this empty parameter only lets ModelBundle.device say "cpu".
        self.device_anchor = nn.Parameter(torch.empty(0), requires_grad=False)

    def forward(self, batch: Tensor) -> Tensor:
        return self.runtime.logits(batch)

    def cam_extractor(self, method: str = "cam", layer: str | None = None) -> OnnxCAM:
        """The pipeline's extractor for this graph (:func:`onnx_extractor`): CAM only."""
        return onnx_extractor(self, method, layer)


class OnnxCAM:
    """The CAM extractor of an ONNX graph: same call and result as :class:`~cam_core.engine.methods.CAM`."""

    name = "cam"
    label = "CAM"

    def __init__(self, runtime: OnnxCamRuntime) -> None:
        self.runtime = runtime
        self.target_layer = runtime.head.features

    def __call__(self, batch: Tensor, targets: Sequence[int] | None = None) -> CAMResult:
        """Explain ``batch`` (N×3×H×W, normalised). Every class is mapped, so ``targets`` changes nothing."""
        if batch.ndim != 4:
            raise ValueError(f"expected an N×3×H×W batch, got shape {tuple(batch.shape)}")
        logits, maps, features = self.runtime.explain_with_features(batch)
        n, c = logits.shape
        return CAMResult(logits=logits, maps=maps, class_indices=torch.arange(c).expand(n, c), method=self.name,
                         layer=self.target_layer, bias=self.runtime.bias, features=features,
                         features_layer=self.runtime.features_layer)

    def close(self) -> None:
        """Nothing to release: no hooks are registered on an ONNX graph."""

    def __enter__(self) -> OnnxCAM:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def is_onnx_model(model: nn.Module) -> bool:
    return isinstance(model, OnnxModule)


def onnx_extractor(model: nn.Module, method: str = "cam", layer: str | None = None) -> OnnxCAM:
    """The extractor for an :class:`OnnxModule`; only ``cam`` (Grad-CAM needs gradients ONNX doesn't give)."""
    if not isinstance(model, OnnxModule):
        raise TypeError("onnx_extractor needs an OnnxModule")
    if method.lower().replace("-", "").replace("_", "") != "cam":
        raise InputError(GRADCAM_REFUSAL)
    if layer is not None and layer != model.runtime.head.features:
        raise InputError(f"ONNX models are explained at the tensor before their global average pool "
                         f"({model.runtime.head.features!r}); another layer ({layer!r}) cannot be chosen")
    return OnnxCAM(model.runtime)
