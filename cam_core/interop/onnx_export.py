"""Export a model of ours to ONNX with its model card inside, checked against PyTorch before it is written.

``torch.onnx.export(..., dynamo=False)``: the TorchScript-based exporter, which needs nothing beyond torch
(the dynamo exporter needs ``onnxscript``, not a dependency here). Opset 17; the batch size is dynamic. The
tracer freezes Python arithmetic on shapes to the traced size (EfficientNet-Lite0 computes its TensorFlow-
``SAME`` padding with tensor ops while tracing for that reason), so a ``square`` model is exported at its one
input size, and a ``resize: aspect`` model with dynamic height and width is checked at every size the aspect
rule can give (:func:`~cam_core.checkpoints.fitted_input_size`) and refused when one disagrees with PyTorch. The card (classes, defect class, input size,
mean/std, trained_on, …) is stored as ``metadata_props["cam_inspector"]`` (the same JSON as in our
safetensors files) plus ``exported_from``.

The domain check's stages (:mod:`cam_core.domain.stages`) become extra outputs ``domain:<layer>`` after the
logits, and the model's domain reference vectors (if it has one) an unused initializer ``domain.reference``, so
the ONNX file judges images as the PyTorch model does (:mod:`cam_core.domain`).

Before the file is written, a random batch runs through both: the ONNX CAM maps (and domain features) must equal
the PyTorch ones within ``1e-4`` relative, ``max|M_onnx − M_torch| ≤ 1e-4 · max|M_torch|``, and the logits likewise;
otherwise nothing is written. The file appears atomically (:func:`cam_core.files.atomic_write`).
"""

from __future__ import annotations

import io
import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import onnx
import onnx.numpy_helper
import torch
from torch import nn

from cam_core.checkpoints import (
    CARD_KEY,
    ModelBundle,
    load_checkpoint,
)
from cam_core.domain import domain_stages
from cam_core.engine.hooks import resolve_module
from cam_core.engine.methods import make_extractor
from cam_core.errors import InputError, ModelError
from cam_core.files import atomic_write
from cam_core.interop.formats import is_onnx_file
from cam_core.interop.onnx_cam import DOMAIN_OUTPUT_PREFIX, OnnxCamRuntime, _first_line, is_onnx_model
from cam_core.interop.onnx_graph import CamHead
from cam_core.interop.onnx_targets import DEFAULT_OPSET, check_sizes

__all__ = ["DEFAULT_OPSET", "EXPORT_RTOL", "OPSET_RANGE", "OnnxExport", "check_sizes", "export_onnx"]

OPSET_RANGE = (13, 20)   # what the TorchScript exporter writes and the CAM reader has been checked on
EXPORT_RTOL = 1e-4
INPUT_NAME, OUTPUT_NAME = "image", "logits"


@dataclass(frozen=True)
class OnnxExport:
    """What :func:`export_onnx` wrote and how closely the file reproduces PyTorch."""

    path: Path
    head: CamHead
    opset: int
    map_error: float     # max|M_onnx − M_torch| / max|M_torch|, worst over the sizes checked
    logit_error: float   # max|z_onnx − z_torch| / (1 + max|z_torch|), likewise
    bytes: int
    sizes: tuple[tuple[int, int], ...]   # input sizes (height, width) the check ran at


def _relative(a: torch.Tensor, b: torch.Tensor, floor: float = 0.0) -> float:
    return float((a - b).abs().max()) / max(float(b.abs().max()) + floor, 1e-12)


class _WithStages(nn.Module):
    """The model, also returning the outputs of its domain-check stages (:mod:`cam_core.domain.stages`), so the
    exported graph has them as outputs ``domain:<layer>`` after the logits."""

    def __init__(self, model: nn.Module, stages: tuple[str, ...]) -> None:
        super().__init__()
        self.model = model
        self.stages = stages

    def forward(self, batch: torch.Tensor) -> tuple[torch.Tensor, ...]:
        captured: list[torch.Tensor] = []
        handles = [resolve_module(self.model, name).register_forward_hook(lambda m, i, o: captured.append(o))
                   for name in self.stages]
        try:
            logits = self.model(batch)
        finally:
            for handle in handles:
                handle.remove()
        return (logits, *captured)


def _traced(bundle: ModelBundle, sample: torch.Tensor, opset: int) -> onnx.ModelProto:
    spatial = {2: "height", 3: "width"} if bundle.card.resize == "aspect" else {}
    stages = domain_stages(bundle.model)
    outputs = [OUTPUT_NAME, *(DOMAIN_OUTPUT_PREFIX + name for name in stages)]
    axes = {INPUT_NAME: {0: "batch", **spatial}, OUTPUT_NAME: {0: "batch"},
            **{name: {0: "batch", 2: "h", 3: "w"} for name in outputs[1:]}}
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # tracer and deprecation chatter; the result is checked below
        wrapper = _WithStages(bundle.model, stages).eval()   # eval: the exporter restores this mode afterwards
        torch.onnx.export(wrapper, (sample,), buffer,  # type: ignore[arg-type]
                          dynamo=False, opset_version=opset,
                          input_names=[INPUT_NAME], output_names=outputs, dynamic_axes=axes)
    model = onnx.load_model_from_string(buffer.getvalue())
    if bundle.domain is not None:       # the reference vectors travel inside the graph, unused by any node
        for name, tensor in bundle.domain.tensors().items():
            model.graph.initializer.append(onnx.numpy_helper.from_array(tensor.float().numpy(), name))
    return model


def _with_card(model: onnx.ModelProto, bundle: ModelBundle, opset: int) -> None:
    written = bundle.card.to_dict()
    card = {k: v for k, v in written.items() if k not in ("origin",)}
    card["exported_from"] = {"model": bundle.name, "file": Path(bundle.source).name if bundle.source else "",
                             "torch": torch.__version__, "opset": opset}
    if isinstance(written.get("origin"), dict):   # an imported model: keep where it came from first
        card["exported_from"]["origin"] = written["origin"]
    props = {p.key: p.value for p in model.metadata_props}
    props[CARD_KEY] = json.dumps(card)
    del model.metadata_props[:]
    onnx.helper.set_model_props(model, props)
    model.doc_string = f"CAM Inspector model {bundle.name}: classes {', '.join(bundle.classes)}"


def _compare(bundle: ModelBundle, runtime: OnnxCamRuntime, samples: list[torch.Tensor]) -> tuple[float, float]:
    """Worst relative map and logit differences, ONNX vs PyTorch CAM, over ``samples``; a size the graph gets
    wrong (another map size, or a run that fails) is refused at once with that size."""
    map_error = logit_error = 0.0
    with make_extractor("cam", bundle.model) as cam:
        for sample in samples:
            size = "×".join(str(v) for v in sample.shape[-2:])
            reference = cam(sample)
            try:
                logits, maps, features = runtime.explain_with_features(sample.cpu())
            except ModelError as exc:
                raise ModelError(f"the ONNX export of {bundle.name} fails at input {size}: {exc}") from None
            if maps.shape != reference.maps.shape:
                raise ModelError(f"the ONNX export of {bundle.name} gives {tuple(maps.shape[-2:])} maps at input {size} "
                                 f"where PyTorch gives {tuple(reference.maps.shape[-2:])} (the tracer froze a "
                                 "size-dependent step to the traced size); nothing was written")
            map_error = max(map_error, _relative(maps, reference.maps.cpu()))
            if reference.features is not None and reference.features_layer == runtime.features_layer:
                map_error = max(map_error, _relative(features, reference.features.cpu()))
            logit_error = max(logit_error, _relative(logits, reference.logits.cpu(), floor=1.0))
    return map_error, logit_error


def export_onnx(spec: str | ModelBundle, out: str | Path, *, opset: int = DEFAULT_OPSET, seed: int = 0) -> OnnxExport:
    """Export ``spec`` (a loaded bundle, or the path of one of our ``.safetensors`` models; names are resolved by
    the caller: :func:`cam_core.models.load_model`) to ``out`` (``.onnx``), checked against PyTorch, card inside."""
    out = Path(out)
    if not is_onnx_file(out):
        raise InputError(f"{out.name}: the output file must end in .onnx")
    if not OPSET_RANGE[0] <= opset <= OPSET_RANGE[1]:
        raise InputError(f"opset {opset} is not available: choose {OPSET_RANGE[0]} to {OPSET_RANGE[1]}")
    if not isinstance(spec, ModelBundle) and is_onnx_file(str(spec)):
        raise InputError(f"{Path(str(spec)).name} is already an ONNX model; copy the file instead")
    bundle = spec if isinstance(spec, ModelBundle) else load_checkpoint(spec, "cpu")
    if is_onnx_model(bundle.model):
        raise InputError(f"{bundle.name} is already an ONNX model; copy the file instead")
    generator = torch.Generator().manual_seed(seed)
    sizes = check_sizes(bundle)
    samples = [torch.randn(2 if i == 0 else 1, 3, h, w, generator=generator).to(bundle.device)
               for i, (h, w) in enumerate(sizes)]
    sample = samples[0]
    try:
        model = _traced(bundle, sample, opset)
    except Exception as exc:  # noqa: BLE001 - the exporter raises many types; the user gets one line
        raise ModelError(f"torch.onnx could not export {bundle.name} at opset {opset} ({_first_line(exc)})") from None
    try:
        runtime = OnnxCamRuntime(model, label=out.name)
    except ModelError as exc:
        raise ModelError(f"the ONNX export of {bundle.name} cannot be explained with CAM: {exc}") from None
    map_error, logit_error = _compare(bundle, runtime, samples)
    if not (map_error <= EXPORT_RTOL and logit_error <= EXPORT_RTOL):
        raise ModelError(f"the ONNX export of {bundle.name} does not reproduce PyTorch: maps differ by "
                         f"{map_error:.2g}, logits by {logit_error:.2g} relative (limit {EXPORT_RTOL:g}, over "
                         f"{len(sizes)} input size(s)); nothing was written")
    _with_card(model, bundle, opset)
    data = model.SerializeToString()
    with atomic_write(out) as handle:
        handle.write(data)
    return OnnxExport(path=out, head=runtime.head, opset=opset, map_error=map_error, logit_error=logit_error,
                      bytes=len(data), sizes=tuple(sizes))
