"""Find where CAM reads an ONNX graph: the tensor before the global average pool, and the linear head.

CAM (Zhou et al., 2016) needs ``logits = W · GAP(A) + b``: for features ``A ∈ R^{N×K×h×w}``,

    CAM_c(x, y) = Σ_k W[c, k] · A_k(x, y)      so that      mean_{x,y} CAM_c + b_c = logit_c.

:func:`find_cam_head` walks back from the graph's first output (through Flatten/Reshape/Squeeze/Identity/
Dropout/Cast, and a final Softmax, whose input is taken as the logits) to the head, reads its weights from
the initializers, then walks back from the head's input to the pool. Heads understood:

- ``Gemm``: ``Y = α·X·B' + β·C`` with ``B' = Bᵀ`` when ``transB = 1``, so ``W = α·B`` (``transB = 1``) or
  ``α·Bᵀ``, ``b = β·C``;
- ``MatMul`` (``X·B``, ``B`` is K×C, so ``W = Bᵀ``), optionally followed by ``Add`` of a constant bias;
- a 1×1 ``Conv`` on the pooled N×K×1×1 tensor: ``W = weight[:, :, 0, 0]``, ``b = bias``;
- a 1×1 ``Conv`` (optionally + ``Relu``) *before* the pool (SqueezeNet): the pooled tensor is already the
  per-class map, ``map_c = act(W_c · A + b_c)``, so ``mean(map_c) = logit_c`` and the bias is 0.

The pool is ``GlobalAveragePool``, ``ReduceMean`` over axes (2, 3), or an ``AveragePool`` without padding
(global only when its kernel covers the map: the CAM identity, checked on every call, tells).
Anything else between the pool and the head (ReLU, BatchNorm, a second Gemm…) makes the head non-linear
and the graph is refused with a one-line reason. Reading a file never runs anything from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from cam_core.errors import ModelError

if TYPE_CHECKING:   # onnx is imported where a graph is read: a runtime prepared earlier needs only the class
    import onnx

__all__ = ["CamHead", "GraphIndex", "find_cam_head"]

PASSTHROUGH_OPS = frozenset({"Flatten", "Reshape", "Squeeze", "Unsqueeze", "Identity", "Dropout", "Cast"})
PROBABILITY_OPS = frozenset({"Softmax", "LogSoftmax", "Sigmoid"})
POOL_OPS = frozenset({"GlobalAveragePool", "ReduceMean", "AveragePool"})
PRE_POOL_ACTIVATIONS = frozenset({"Relu", "Identity"})


@dataclass(frozen=True)
class CamHead:
    """Where CAM reads the graph and what it multiplies.

    ``kind == "linear"``: ``maps = Σ_k weight[c, k] · features_k`` and ``mean(maps) + bias = logits``.
    ``kind == "conv1x1"``: ``features`` already are the maps (C channels); ``bias`` is zeros.
    """

    kind: Literal["linear", "conv1x1"]
    features: str              # tensor that feeds the pool
    logits: str                # tensor holding the logits (before a final Softmax, if any)
    weight: np.ndarray | None  # C×K float64 (linear) or None
    bias: np.ndarray           # C float64
    num_classes: int
    head: str                  # in words, for the model card: "Gemm (transB=1) after GlobalAveragePool"
    pool: str                  # op type of the pool
    output: str                # what the file outputs: "logits", or the op applied to them (Softmax, Sigmoid…)

    @property
    def probabilities_output(self) -> bool:
        return self.output != "logits"

    @property
    def single_logit(self) -> bool:
        """One output ``z`` with ``P(positive) = σ(z)`` (read as two classes, :mod:`cam_core.engine.heads`)."""
        return self.num_classes == 1


class GraphIndex:
    """The producer of every tensor of one graph, and its constant values (initializers and Constant nodes)."""

    def __init__(self, graph: onnx.GraphProto) -> None:
        self.graph = graph
        self.producer: dict[str, onnx.NodeProto] = {}
        for node in graph.node:
            for name in node.output:
                self.producer[name] = node
        self._initializers = {init.name: init for init in graph.initializer}

    def constant(self, name: str) -> np.ndarray | None:
        """The value of ``name`` when it is an initializer, a Constant node or an Identity of one; else None."""
        if name in self._initializers:
            return _tensor_value(self._initializers[name])
        node = self.producer.get(name)
        if node is None:
            return None
        if node.op_type == "Identity":
            return self.constant(node.input[0])
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    return _tensor_value(attr.t)
        return None

    def skip_back(self, name: str, ops: frozenset[str] = PASSTHROUGH_OPS) -> tuple[str, onnx.NodeProto | None]:
        """Walk back from ``name`` through ``ops`` nodes: the first tensor made by another node, and that node."""
        node = self.producer.get(name)
        while node is not None and node.op_type in ops and self.constant(name) is None:
            name = node.input[0]
            node = self.producer.get(name)
        return name, node

    def has_pool(self) -> bool:
        return any(_is_pool(node, self) for node in self.graph.node)


def _tensor_value(tensor: onnx.TensorProto) -> np.ndarray:
    """A stored tensor's values; its declared ``dims`` must match the data the file holds (a tensor that
    claims more values than it stores is refused, not trusted)."""
    from onnx import numpy_helper

    try:
        return np.asarray(numpy_helper.to_array(tensor))
    except (ValueError, TypeError, RuntimeError, OverflowError) as exc:
        dims = "×".join(str(d) for d in tensor.dims) or "scalar"
        raise ModelError(f"the stored tensor {tensor.name!r} ({dims}) does not hold the values its shape declares "
                         f"({str(exc)[:100] or type(exc).__name__}): the file is damaged") from None


def _attr(node: onnx.NodeProto, name: str, default: Any) -> Any:
    import onnx

    for attr in node.attribute:
        if attr.name == name:
            return onnx.helper.get_attribute_value(attr)
    return default


def _is_pool(node: onnx.NodeProto, index: GraphIndex) -> bool:
    """Global average pooling over H, W of an N×C×H×W tensor."""
    if node.op_type == "GlobalAveragePool":
        return True
    if node.op_type == "AveragePool":
        pads = _attr(node, "pads", [])
        return not any(pads) if isinstance(pads, list) else False
    if node.op_type == "ReduceMean":
        axes = _attr(node, "axes", None)
        if axes is None and len(node.input) > 1 and node.input[1]:
            value = index.constant(node.input[1])
            axes = None if value is None else value.tolist()
        return isinstance(axes, list) and sorted(int(a) % 4 for a in axes) == [2, 3]
    return False


def _require_constant(index: GraphIndex, name: str, what: str) -> np.ndarray:
    value = index.constant(name)
    if value is None:
        raise ModelError(f"the head is not linear: its {what} is computed in the graph, not stored in the file")
    return value.astype(np.float64)


def _bias_vector(value: np.ndarray | None, classes: int) -> np.ndarray:
    if value is None:
        return np.zeros(classes)
    flat = np.asarray(value, dtype=np.float64).reshape(-1)
    if flat.size == 1:
        return np.full(classes, float(flat[0]))
    if flat.size != classes:
        raise ModelError(f"the head's bias has {flat.size} values for {classes} classes")
    return flat


def _gemm_head(node: onnx.NodeProto, index: GraphIndex) -> tuple[str, np.ndarray, np.ndarray, str]:
    if _attr(node, "transA", 0):
        raise ModelError("the head is a Gemm with transA=1; CAM needs features × weight")
    b = _require_constant(index, node.input[1], "weight")
    trans_b = bool(_attr(node, "transB", 0))
    weight = float(_attr(node, "alpha", 1.0)) * (b if trans_b else b.T)
    raw_bias = index.constant(node.input[2]) if len(node.input) > 2 and node.input[2] else None
    bias = float(_attr(node, "beta", 1.0)) * _bias_vector(raw_bias, weight.shape[0])
    return node.input[0], weight, bias, f"Gemm (transB={int(trans_b)})"


def _matmul_head(node: onnx.NodeProto, index: GraphIndex, bias: np.ndarray | None
                 ) -> tuple[str, np.ndarray, np.ndarray, str]:
    if index.constant(node.input[0]) is not None:
        raise ModelError("the head is a MatMul of a stored matrix by the features; CAM needs features × weight")
    b = _require_constant(index, node.input[1], "weight")
    if b.ndim != 2:
        raise ModelError(f"the head's MatMul weight has shape {b.shape}; CAM needs a K×C matrix")
    weight = b.T
    label = "MatMul + Add" if bias is not None else "MatMul"
    return node.input[0], weight, _bias_vector(bias, weight.shape[0]), label


def _add_head(node: onnx.NodeProto, index: GraphIndex) -> tuple[str, np.ndarray, np.ndarray, str]:
    constants = [index.constant(name) for name in node.input]
    if len(node.input) != 2 or sum(c is not None for c in constants) != 1:
        raise ModelError("the network's output comes from an Add of two computed tensors: the head is not linear")
    data = node.input[0] if constants[0] is None else node.input[1]
    bias = constants[1] if constants[0] is None else constants[0]
    _, producer = index.skip_back(data, frozenset({"Identity"}))
    if producer is None or producer.op_type != "MatMul":
        what = producer.op_type if producer is not None else "the graph input"
        raise ModelError(f"the network's output is a bias added to {what}, not to a MatMul: the head is not linear")
    return _matmul_head(producer, index, bias)


def _conv_weight(node: onnx.NodeProto, index: GraphIndex) -> tuple[np.ndarray, np.ndarray]:
    weight = _require_constant(index, node.input[1], "weight")
    if weight.ndim != 4 or weight.shape[2:] != (1, 1) or int(_attr(node, "group", 1)) != 1:
        raise ModelError(f"the classifier is a Conv with weight {tuple(weight.shape)}; CAM needs a 1×1 conv "
                         "without groups: the head is not linear")
    raw_bias = index.constant(node.input[2]) if len(node.input) > 2 and node.input[2] else None
    return weight[:, :, 0, 0], _bias_vector(raw_bias, weight.shape[0])


def _linear_head(node: onnx.NodeProto, index: GraphIndex) -> tuple[str, np.ndarray, np.ndarray, str] | None:
    """``(input tensor, W, b, label)`` of a linear head node, or None when ``node`` is no such head."""
    if node.op_type == "Gemm":
        return _gemm_head(node, index)
    if node.op_type == "MatMul":
        return _matmul_head(node, index, None)
    if node.op_type == "Add":
        return _add_head(node, index)
    if node.op_type == "Conv":
        weight, bias = _conv_weight(node, index)
        return node.input[0], weight, bias, "Conv 1×1"
    return None


def _pool_before(data: str, index: GraphIndex, head_label: str) -> onnx.NodeProto:
    """The pool feeding the head's input ``data`` (only reshapes in between), or a clear refusal."""
    _, node = index.skip_back(data)
    if node is not None and _is_pool(node, index):
        return node
    if not index.has_pool():
        raise ModelError("no global average pool before the classifier: CAM needs conv features → global "
                         "average pool → one linear layer")
    what = "the graph input" if node is None else f"a {node.op_type}"
    raise ModelError(f"{what} sits between the global average pool and the classifier ({head_label}): "
                     "the head is not linear")


def _pre_pool_head(pool: onnx.NodeProto, index: GraphIndex) -> tuple[np.ndarray, str]:
    """SqueezeNet's layout: 1×1 Conv (+ ReLU) → pool. Returns the zero bias and the head label."""
    _, node = index.skip_back(pool.input[0], frozenset({"Identity"}))
    activation = None
    if node is not None and node.op_type in PRE_POOL_ACTIVATIONS - {"Identity"}:
        activation = node.op_type
        _, node = index.skip_back(node.input[0], frozenset({"Identity"}))
    if node is None or node.op_type != "Conv":
        what = "the graph input" if node is None else f"a {node.op_type}"
        raise ModelError(f"the network ends in a global average pool of {what}, not of a linear classifier "
                         "(1×1 Conv): the head is not linear")
    weight, _ = _conv_weight(node, index)
    label = "Conv 1×1" + (f" + {activation}" if activation else "") + f" before {pool.op_type}"
    return np.zeros(weight.shape[0]), label


def find_cam_head(model: onnx.ModelProto) -> CamHead:
    """The :class:`CamHead` of ``model``, or :class:`ModelError` saying in one line why CAM cannot read it."""
    index = GraphIndex(model.graph)
    if not model.graph.output:
        raise ModelError("the graph has no outputs")
    logits, node = index.skip_back(model.graph.output[0].name)
    output = node.op_type if node is not None and node.op_type in PROBABILITY_OPS else "logits"
    if node is not None and output != "logits":
        logits, node = index.skip_back(node.input[0])
    if node is None:
        raise ModelError("the graph's output is one of its inputs or constants: there is no classifier")
    if _is_pool(node, index):
        bias, label = _pre_pool_head(node, index)
        return _checked(CamHead("conv1x1", node.input[0], logits, None, bias, bias.size, label, node.op_type, output))
    found = _linear_head(node, index)
    if found is None:
        raise ModelError(f"the network's output comes from a {node.op_type} node: the head is not linear "
                         "(CAM needs a global average pool → Gemm, MatMul(+Add) or 1×1 Conv)")
    data, weight, bias, label = found
    pool = _pool_before(data, index, label)
    return _checked(CamHead("linear", pool.input[0], logits, weight, bias, weight.shape[0],
                            f"{label} after {pool.op_type}", pool.op_type, output))


def _checked(head: CamHead) -> CamHead:
    if head.output == "Sigmoid" and not head.single_logit:
        raise ModelError(f"the graph ends in a Sigmoid over {head.num_classes} outputs (multi-label); CAM Inspector "
                         "reads one verdict from softmax logits or from a single sigmoid logit")
    return head
