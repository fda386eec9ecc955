"""ONNX models explained with CAM by onnxruntime: exports match PyTorch, foreign graphs load, bad ones are refused."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from PIL import Image
from torch import nn

from cam_core.checkpoints import CARD_KEY, save_checkpoint
from cam_core.cli import main
from cam_core.engine.architectures import build_model, resolve_head
from cam_core.errors import InputError, ModelError
from cam_core.explain.pipeline import Explainer
from cam_core.interop import GRADCAM_REFUSAL, export_onnx, load_onnx, read_onnx_card
from cam_core.models import load_model, open_model

ARCHS = ("squeezenet1_1", "resnet18", "googlenet", "efficientnet_lite0")
SIZE = 64
RTOL = 1e-4


def _checkpoint(path: Path, arch: str, seed: int = 0) -> Path:
    """A random-weight model with a non-trivial head (weights and bias), saved in the product's format."""
    torch.manual_seed(seed)
    model = build_model(arch, 2, head_relu=False)
    head = dict(model.named_modules())[resolve_head(model).classifier]
    nn.init.normal_(head.weight, std=0.05)
    nn.init.uniform_(head.bias, -0.5, 0.5)
    return save_checkpoint(model, path, {"arch": arch, "classes": ["ok", "ng"], "input_size": [SIZE, SIZE],
                                         "head_relu": False, "trained_on": "random weights for a test",
                                         "defect_class": "ng"})


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    folder = tmp_path_factory.mktemp("onnx")
    pairs = {}
    for arch in ARCHS:
        source = _checkpoint(folder / f"{arch}.safetensors", arch)
        pairs[arch] = (source, export_onnx(str(source), folder / f"{arch}.onnx").path)
    return pairs


def _relative(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / np.abs(b).max())


def _identity_error(bundle, explanation) -> float:
    bias = bundle.model.runtime.bias.numpy()
    rebuilt = explanation.maps.astype(np.float64).mean(axis=(1, 2)) + bias
    return float(np.abs(rebuilt - explanation.logits).max() / (1 + np.abs(explanation.logits).max()))


@pytest.mark.parametrize("arch", ARCHS)
def test_onnx_maps_equal_pytorch_maps(exported, part_images, arch) -> None:
    source, onnx_path = exported[arch]
    torch_bundle, onnx_bundle = open_model(source), open_model(onnx_path)
    with Explainer(torch_bundle) as reference, Explainer(onnx_bundle) as explainer:
        expected, got = reference.explain(part_images), explainer.explain(part_images)
    assert onnx_bundle.card.to_dict()["origin"]["format"] == "onnx"
    for want, have in zip(expected, got):
        assert have.maps.shape == want.maps.shape and have.classes == ("ok", "ng")
        assert _relative(have.maps, want.maps) < RTOL
        assert np.abs(have.logits - want.logits).max() < RTOL * (1 + np.abs(want.logits).max())
        assert _identity_error(onnx_bundle, have) < RTOL
        assert have.predicted == want.predicted


def test_flip_average_runs_twice_and_matches_pytorch(exported, part_images) -> None:
    source, onnx_path = exported["resnet18"]
    with Explainer(open_model(source), flip_average=True) as reference, \
            Explainer(open_model(onnx_path), flip_average=True) as explainer:
        want, have = reference.explain_one(part_images[0]), explainer.explain_one(part_images[0])
        plain = Explainer(explainer.bundle).explain_one(part_images[0])
    assert _relative(have.maps, want.maps) < RTOL
    assert _relative(have.maps, plain.maps) > 1e-3   # the mirrored pass really ran


def test_export_carries_the_card(exported) -> None:
    _, onnx_path = exported["efficientnet_lite0"]
    props = {p.key: p.value for p in onnx.load(str(onnx_path)).metadata_props}
    stored = json.loads(props[CARD_KEY])
    assert stored["classes"] == ["ok", "ng"] and stored["input_size"] == [SIZE, SIZE]
    assert stored["trained_on"] == "random weights for a test" and stored["defect_class"] == "ng"
    assert stored["exported_from"]["opset"] == 17
    card = read_onnx_card(onnx_path)
    assert card["origin"]["architecture"] == "efficientnet_lite0"
    assert card["origin"]["head"] == "Gemm (transB=1) after GlobalAveragePool"
    bundle = load_onnx(onnx_path)
    assert bundle.card.defect_index == 1 and bundle.trained_on == "random weights for a test"
    assert bundle.arch == "efficientnet_lite0 (ONNX)"


def test_the_shipped_model_exports_exactly(tmp_path) -> None:
    torch_bundle = load_model("efficientnet_lite0-parts", device="cpu")
    result = export_onnx(torch_bundle, tmp_path / "lite0.onnx")
    assert result.map_error < RTOL and result.logit_error < RTOL
    image = Image.fromarray(np.random.default_rng(1).integers(0, 255, (180, 240, 3), dtype=np.uint8))
    with Explainer(torch_bundle) as reference, Explainer(open_model(result.path)) as explainer:
        want, have = reference.explain_one(image), explainer.explain_one(image)
    assert _relative(have.maps, want.maps) < RTOL and have.map_size == want.map_size


@pytest.mark.parametrize("arch", ["efficientnet_lite0", "resnet18"])
def test_aspect_models_export_with_dynamic_sizes(tmp_path, arch) -> None:
    """Lite0's TensorFlow-SAME padding depends on the input size: traced with Python ints it would be frozen."""
    torch.manual_seed(3)
    model = build_model(arch, 2, map_stride=16)
    nn.init.normal_(dict(model.named_modules())[resolve_head(model).classifier].weight, std=0.05)
    source = save_checkpoint(model, tmp_path / f"{arch}.safetensors", {
        "arch": arch, "classes": ["ok", "ng"], "input_size": [SIZE, SIZE], "map_stride": 16, "resize": "aspect"})
    result = export_onnx(str(source), tmp_path / f"{arch}.onnx")
    assert len(result.sizes) > 3 and result.map_error < RTOL
    wide = Image.fromarray(np.random.default_rng(4).integers(0, 255, (70, 200, 3), dtype=np.uint8))
    with Explainer(open_model(source)) as reference, Explainer(open_model(result.path)) as explainer:
        want, have = reference.explain_one(wide), explainer.explain_one(wide)
    assert have.map_size == want.map_size and have.map_size[1] > 2 * have.map_size[0]
    assert _relative(have.maps, want.maps) < RTOL


def test_square_exports_have_a_fixed_size(exported) -> None:
    dims = onnx.load(str(exported["efficientnet_lite0"][1])).graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "batch" and [d.dim_value for d in dims[1:]] == [3, SIZE, SIZE]


def test_squeezenet_with_its_head_relu_exports_exactly(tmp_path, part_images) -> None:
    torch.manual_seed(2)
    model = build_model("squeezenet1_0", 3, head_relu=True)
    nn.init.normal_(model.classifier[1].weight, std=0.05)
    nn.init.uniform_(model.classifier[1].bias, 0.0, 0.5)   # keep the ReLU'd maps non-zero
    source = save_checkpoint(model, tmp_path / "sq.safetensors",
                             {"arch": "squeezenet1_0", "classes": ["ok", "ng", "other"], "input_size": [SIZE, SIZE]})
    result = export_onnx(str(source), tmp_path / "sq.onnx")
    assert result.head.head == "Conv 1×1 + Relu before GlobalAveragePool"
    with Explainer(open_model(source)) as reference, Explainer(open_model(result.path)) as explainer:
        want, have = reference.explain_one(part_images[0]), explainer.explain_one(part_images[0])
    assert (have.maps >= 0).all() and _relative(have.maps, want.maps) < RTOL
    assert have.classes == ("ok", "ng", "other")


def test_one_onnx_explainer_is_shared_by_threads(exported, part_images) -> None:
    from concurrent.futures import ThreadPoolExecutor

    explainer = Explainer(open_model(exported["googlenet"][1]))
    alone = [explainer.explain_one(image).maps for image in part_images]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda i: explainer.explain_one(part_images[i % 3]).maps, range(12)))
    assert all(np.allclose(maps, alone[i % 3], rtol=1e-6, atol=1e-7) for i, maps in enumerate(together))


def test_gradcam_is_refused_with_a_reason(exported) -> None:
    bundle = open_model(exported["squeezenet1_1"][1])
    for method in ("gradcam", "gradcam++"):
        with pytest.raises(InputError, match="^Grad-CAM needs the model's gradients; ONNX models are explained "
                                              "with CAM only$"):
            Explainer(bundle, method=method)
    assert GRADCAM_REFUSAL.startswith("Grad-CAM needs")


def test_identity_is_checked_on_every_call(exported, part_images) -> None:
    bundle = open_model(exported["resnet18"][1])
    explainer = Explainer(bundle)
    explainer.explain_one(part_images[0])
    bundle.model.runtime.bias = bundle.model.runtime.bias + 0.1   # the head no longer explains the logits
    with pytest.raises(ModelError, match="CAM identity fails"):
        explainer.explain_one(part_images[0])


def _export_plain(model: nn.Module, path: Path, size: int = 32, dynamic: bool = True, batch: int = 1) -> Path:
    torch.onnx.export(model.eval(), (torch.randn(batch, 3, size, size),), str(path), dynamo=False, opset_version=17,
                      input_names=["x"], output_names=["y"],
                      dynamic_axes={"x": {0: "n"}, "y": {0: "n"}} if dynamic else None)
    return path


def test_graph_without_global_average_pool_is_refused(tmp_path, part_images) -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 3, stride=4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 8 * 8, 2))
    path = _export_plain(model, tmp_path / "flat.onnx")
    with pytest.raises(ModelError, match="no global average pool before the classifier") as info:
        open_model(path)
    assert "\n" not in str(info.value)
    image = tmp_path / "part.png"
    part_images[0].save(image)
    assert main(["explain", str(image), "--model", str(path)]) == 2


@pytest.mark.parametrize(("tail", "reason"), [
    (nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2)), "a Relu sits between the global average pool"),
    (nn.Sequential(nn.BatchNorm1d(4), nn.Linear(4, 2)), "sits between the global average pool and the classifier"),
])
def test_nonlinear_heads_are_refused(tmp_path, tail, reason) -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), tail)
    with pytest.raises(ModelError, match=reason):
        open_model(_export_plain(model, tmp_path / "mlp.onnx"))


def test_max_pool_is_not_a_cam_pool(tmp_path) -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(4, 2))
    with pytest.raises(ModelError, match="no global average pool"):
        open_model(_export_plain(model, tmp_path / "max.onnx"))


def test_foreign_graph_gets_a_minimal_card_and_fixed_batch_works(tmp_path, part_images) -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 6, 3, stride=2), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                          nn.Linear(6, 2))
    path = _export_plain(model, tmp_path / "theirs.onnx", size=48, dynamic=False, batch=2)   # batch fixed at 2
    bundle = open_model(path)
    assert bundle.classes == ("ok", "ng") and bundle.card.defect_index == 1 and bundle.input_size == (48, 48)
    assert bundle.arch == "onnx" and bundle.card.to_dict()["origin"]["file"] == "theirs.onnx"
    assert any("class names are not in the file" in note for note in bundle.card.to_dict()["notes"])
    with Explainer(bundle) as explainer:
        results = explainer.explain(part_images)   # 3 images through a batch-2 graph: 2, then 1 padded
    batch = bundle.preprocess(part_images)
    with torch.inference_mode():
        expected = model(batch).numpy()
    assert np.abs(np.stack([r.logits for r in results]) - expected).max() < 1e-4
    assert all(_identity_error(bundle, r) < RTOL for r in results)
    from cam_core.report import build_html_report, make_report_items

    page = build_html_report(make_report_items(["a.png"], part_images[:1], results[:1]), bundle)
    assert "theirs.onnx" in page   # the report says where the model came from


@pytest.mark.parametrize("sigmoid", [False, True])
def test_single_logit_graph_reads_as_two_classes(tmp_path, part_images, sigmoid) -> None:
    torch.manual_seed(1)
    body = nn.Sequential(nn.Conv2d(3, 6, 3, stride=2), nn.ReLU())
    head = nn.Linear(6, 1)
    nn.init.uniform_(head.bias, 0.2, 0.5)
    tail = [nn.Sigmoid()] if sigmoid else []
    model = nn.Sequential(body, nn.AdaptiveAvgPool2d(1), nn.Flatten(), head, *tail)
    bundle = open_model(_export_plain(model, tmp_path / "one.onnx", size=48))
    assert bundle.classes == ("ok", "ng") and bundle.card.defect_index == 1
    assert bundle.card.to_dict()["head_type"] == "single-logit"
    explanation = Explainer(bundle).explain_one(part_images[1])
    batch = bundle.preprocess([part_images[1]])
    with torch.inference_mode():
        features = body(batch)[0].numpy()
        z = float(head(torch.from_numpy(features.mean(axis=(1, 2))[None]))[0, 0])
    assert abs(explanation.probabilities[1] - 1 / (1 + np.exp(-z))) < 1e-5
    cam = np.einsum("k,khw->hw", head.weight.detach().numpy()[0], features)
    assert np.abs((explanation.maps[1] - explanation.maps[0]) - cam).max() < 1e-5
    assert _identity_error(bundle, explanation) < RTOL


def test_multi_label_sigmoid_is_refused(tmp_path) -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3), nn.Sigmoid())
    with pytest.raises(ModelError, match="multi-label"):
        open_model(_export_plain(model, tmp_path / "multi.onnx"))


def _hand_graph(head: str, rng: np.random.Generator) -> tuple[onnx.ModelProto, np.ndarray, np.ndarray, np.ndarray]:
    """x → 1×1 Conv (3→5) → Relu → pool → head; returns the graph, the conv (5×3) and the head W (C×K), b (C)."""
    conv = rng.normal(size=(5, 3, 1, 1)).astype(np.float32)
    w, b = rng.normal(size=(2, 5)).astype(np.float32), rng.normal(size=2).astype(np.float32)
    inits = [numpy_helper.from_array(conv, "conv_w"), numpy_helper.from_array(b, "b")]
    nodes = [helper.make_node("Conv", ["x", "conv_w"], ["c"]), helper.make_node("Relu", ["c"], ["a"])]
    opset = 18 if head == "matmul18" else 17
    if head.startswith("matmul"):   # ReduceMean (no keepdims; axes an input from opset 18) → MatMul → Add → Softmax
        inits.append(numpy_helper.from_array(w.T.copy(), "w"))
        inits.append(numpy_helper.from_array(np.array([-2, -1], dtype=np.int64), "axes"))
        mean = (helper.make_node("ReduceMean", ["a", "axes"], ["p"], keepdims=0) if opset == 18
                else helper.make_node("ReduceMean", ["a"], ["p"], axes=[2, 3], keepdims=0))
        nodes += [mean,
                  helper.make_node("MatMul", ["p", "w"], ["m"]), helper.make_node("Add", ["m", "b"], ["z"]),
                  helper.make_node("Softmax", ["z"], ["y"], axis=1)]
    elif head == "gemm":   # GAP → Flatten → Gemm with transB=0 and alpha/beta
        inits.append(numpy_helper.from_array((w.T / 2).copy(), "w"))
        nodes += [helper.make_node("GlobalAveragePool", ["a"], ["p"]), helper.make_node("Flatten", ["p"], ["f"]),
                  helper.make_node("Gemm", ["f", "w", "b"], ["y"], alpha=2.0, beta=1.0, transB=0)]
    else:                  # GAP → 1×1 Conv on the pooled tensor → Flatten
        inits.append(numpy_helper.from_array(w.reshape(2, 5, 1, 1), "w"))
        nodes += [helper.make_node("GlobalAveragePool", ["a"], ["p"]),
                  helper.make_node("Conv", ["p", "w", "b"], ["q"]), helper.make_node("Flatten", ["q"], ["y"])]
    graph = helper.make_graph(nodes, head, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, 16, 16])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]), conv[:, :, 0, 0], w, b


@pytest.mark.parametrize("head", ["matmul", "matmul18", "gemm", "conv"])
def test_hand_built_heads_give_the_textbook_cam(tmp_path, head) -> None:
    rng = np.random.default_rng(3)
    model, conv, w, b = _hand_graph(head, rng)
    path = tmp_path / f"{head}.onnx"
    onnx.save(model, str(path))
    runtime = load_onnx(path).model.runtime
    x = rng.normal(size=(2, 3, 16, 16)).astype(np.float32)
    logits, maps = runtime.explain(torch.from_numpy(x))
    features = np.maximum(np.einsum("ok,nkhw->nohw", conv, x), 0)
    expected = np.einsum("ck,nkhw->nchw", w, features)
    assert np.abs(maps.numpy() - expected).max() < 1e-5
    assert np.abs(logits.numpy() - (expected.mean(axis=(2, 3)) + b)).max() < 1e-5
    assert np.allclose(runtime.bias.numpy(), b, atol=1e-6)
    if head.startswith("matmul"):
        assert load_onnx(path).card.to_dict()["origin"]["output"].startswith("Softmax probabilities")


def test_unreadable_and_external_data_files_are_refused(tmp_path) -> None:
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x00not a protobuf\xff" * 10)
    with pytest.raises(ModelError, match="not a readable ONNX file"):
        open_model(junk)
    model, *_ = _hand_graph("gemm", np.random.default_rng(0))
    init = model.graph.initializer[0]
    onnx.external_data_helper.set_external_data(init, location="/etc/passwd")
    init.ClearField("raw_data")
    init.data_location = TensorProto.EXTERNAL
    path = tmp_path / "external.onnx"
    path.write_bytes(model.SerializeToString())
    with pytest.raises(ModelError, match="external data"):
        open_model(path)


def test_cli_export_then_explain(tmp_path, exported, part_images, capsys) -> None:
    source, _ = exported["squeezenet1_1"]
    out = tmp_path / "cli.onnx"
    assert main(["export-onnx", str(source), str(out)]) == 0
    assert "wrote" in capsys.readouterr().out and out.is_file()
    assert not list(tmp_path.glob(".*partial*"))
    image = tmp_path / "part.png"
    part_images[2].save(image)
    assert main(["explain", str(image), "--model", str(out), "--json"]) == 0
    record = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    want = Explainer(open_model(source)).explain_one(part_images[2])
    assert record["method"] == "cam" and record["classes"] == ["ok", "ng"]
    assert abs(record["probabilities"]["ng"] - float(want.probabilities[1])) < 1e-5
    assert main(["explain", str(image), "--model", str(out), "--method", "gradcam"]) == 2
    assert "Grad-CAM needs the model's gradients" in capsys.readouterr().err


def test_onnx_files_are_named_models_and_evaluate_and_video_run(tmp_path, exported, monkeypatch, capsys) -> None:
    from clips import moving_frames, write_clip

    from cam_core.checkpoints import list_models
    from cam_core.synth import generate_dataset

    source, onnx_path = exported["resnet18"]
    models = tmp_path / "models"
    models.mkdir()
    (models / "theirs.onnx").write_bytes(onnx_path.read_bytes())
    monkeypatch.setenv("CAM_INSPECTOR_MODELS", str(models))
    assert list_models()["theirs"] == models / "theirs.onnx"
    bundle = load_model("theirs")
    assert bundle.name == "theirs" and bundle.card.to_dict()["origin"]["file"] == "theirs.onnx"
    data = generate_dataset(tmp_path / "data", count=12, seed=0, size=64)
    capsys.readouterr()
    reports = []
    for model in (str(source), "theirs"):
        assert main(["evaluate", str(data), "--model", model, "--json"]) == 0
        reports.append(json.loads(capsys.readouterr().out))
    want, have = reports
    assert have["n_images"] == want["n_images"] == 12 and have["accuracy"] == want["accuracy"]
    assert [r["predicted"] for r in have["per_image"]] == [r["predicted"] for r in want["per_image"]]
    clip = write_clip(tmp_path / "clip.mp4", moving_frames(6))
    assert main(["video", str(clip), "--out", str(tmp_path / "out.mp4"), "--model", "theirs"]) == 0
    assert (tmp_path / "out.mp4").stat().st_size > 0
