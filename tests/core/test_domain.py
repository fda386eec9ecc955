"""The domain check: reference fitting, thresholds, verdicts, the model file, the pipeline and ONNX."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cam_core.checkpoints import ModelCard, load_checkpoint, read_card
from cam_core.domain import (
    DomainModel,
    DomainVerdict,
    calibrated_threshold,
    knn_distances,
    normalised,
    pooled_features,
    unknown_domain,
)
from cam_core.domain.build import MIN_CALIBRATION, fit_domain
from cam_core.errors import InputError
from cam_core.explain import Explainer, image_record, score_row
from cam_core.reference import attach_reference, reference_from_folder, write_domain
from tests.conftest import make_checkpoint


def _cluster(n: int, centre: float, seed: int, dim: int = 16) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    base = np.linspace(-1.0, 1.0, dim) * centre
    return torch.from_numpy(base + 0.05 * rng.standard_normal((n, dim))).float()


def _smooth_images(n: int, seed: int) -> list[Image.Image]:
    """Soft colour gradients: the "in-domain" parts of these tests."""
    rng = np.random.default_rng(seed)
    images = []
    for _ in range(n):
        y, x = np.mgrid[0:80, 0:80] / 80.0
        colour = rng.uniform(0.3, 0.7, 3)
        pixels = (np.stack([x * colour[0], y * colour[1], (x + y) / 2 * colour[2]], axis=-1) * 255).astype(np.uint8)
        images.append(Image.fromarray(pixels))
    return images


def _noise_images(n: int, seed: int) -> list[Image.Image]:
    rng = np.random.default_rng(seed)
    return [Image.fromarray(rng.integers(0, 256, (80, 80, 3), dtype=np.uint8)) for _ in range(n)]


def test_pooled_features_are_mean_then_std_over_positions() -> None:
    a = torch.arange(2 * 3 * 2 * 2, dtype=torch.float32).reshape(2, 3, 2, 2)
    f = pooled_features(a)
    assert f.shape == (2, 6)
    assert torch.allclose(f[:, :3], a.mean((2, 3)))
    assert torch.allclose(f[:, 3:], a.flatten(2).std(2, unbiased=False))
    assert torch.equal(pooled_features(torch.ones(1, 4, 1, 1))[:, 4:], torch.zeros(1, 4))


def test_knn_distance_is_mean_cosine_distance_to_the_nearest() -> None:
    ref = torch.nn.functional.normalize(torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]]), dim=1)
    query = torch.nn.functional.normalize(torch.tensor([[1.0, 1.0]]), dim=1)
    # cosines 0.707, 0.707, -0.707 → the two nearest have distance 1 − 0.707 each
    assert knn_distances(query, ref, 2).item() == pytest.approx(1 - 2 ** -0.5, abs=1e-6)
    own = knn_distances(ref, ref, 1, exclude_self=True)
    assert torch.allclose(own, torch.tensor([1.0, 1.0, 1.0]))      # each row's nearest other is orthogonal


def test_threshold_is_the_margin_times_the_held_out_quantile() -> None:
    distances = np.linspace(0.0, 1.0, 101)
    assert calibrated_threshold(distances, 0.99, 1.1) == pytest.approx(1.1 * 0.99)


def test_fit_domain_separates_two_clusters_and_records_its_rule() -> None:
    reference, held_out = _cluster(200, 1.0, 0), _cluster(40, 1.0, 1)
    model = fit_domain(reference, held_out, layer="features", source="tests")
    foreign = _cluster(40, -1.0, 2)
    inside = model.judge(_cluster(50, 1.0, 3), "features")
    outside = model.judge(foreign, "features")
    assert inside is not None and outside is not None
    assert sum(r.outside for r in inside) <= 2                       # ≤ 4 % of new in-domain rows flagged
    assert all(r.outside and r.verdict is DomainVerdict.UNLIKE for r in outside)
    ref = model.reference
    assert ref.n_reference == 200 and ref.n_calibration == 40 and ref.source == "tests"
    assert ref.threshold == pytest.approx(calibrated_threshold(model.distances(held_out), ref.quantile, ref.margin))


def test_few_held_out_images_borrow_the_references_own_distances() -> None:
    model = fit_domain(_cluster(30, 1.0, 0), _cluster(3, 1.0, 1), layer="f", source="s")
    assert model.reference.n_calibration == 3 + 30 < 3 + MIN_CALIBRATION + 30


def test_features_of_another_layer_or_size_give_unknown() -> None:
    model = fit_domain(_cluster(30, 1.0, 0), _cluster(30, 1.0, 1), layer="features", source="s")
    assert all(r.verdict is DomainVerdict.UNKNOWN for r in model.judge(torch.zeros(2, 8), "features"))
    assert all(r.verdict is DomainVerdict.UNKNOWN for r in model.judge(_cluster(2, 1.0, 5), "layer3"))
    assert model.judge(_cluster(2, 1.0, 5), "features")[0].verdict is DomainVerdict.KNOWN
    assert model.judge(None, "features") is None


def test_domain_tensors_round_trip() -> None:
    model = fit_domain(_cluster(30, 1.0, 0), _cluster(30, 1.0, 1), layer="f", source="s")
    again = DomainModel.from_tensors(model.reference, model.tensors())
    query = _cluster(5, 1.0, 9)
    assert np.allclose(again.distances(query), model.distances(query), atol=2e-3)     # float16 vectors
    with pytest.raises(ValueError):
        DomainModel.from_tensors(model.reference, {})
    assert torch.allclose(normalised(query).norm(dim=1), torch.ones(5))


def test_results_read_as_words_and_records() -> None:
    unknown = unknown_domain("no reference")
    assert unknown.text == "domain unknown" and not unknown.outside
    assert unknown.as_record() == {"distance": None, "threshold": None, "verdict": "unknown", "reason": "no reference"}


@pytest.fixture(scope="module")
def referenced_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-weight ResNet-18 given a domain reference from smooth gradient images."""
    folder = tmp_path_factory.mktemp("domain")
    path = make_checkpoint(folder / "res.safetensors", arch="resnet18", input_size=64)
    images = folder / "in-domain" / "ok"
    images.mkdir(parents=True)
    for i, image in enumerate(_smooth_images(40, 0)):
        image.save(images / f"part{i}.png")
    attach_reference(str(path), folder / "in-domain")
    return path


def test_reference_is_written_into_the_model_file(referenced_model: Path) -> None:
    card = read_card(referenced_model)
    assert card["domain"]["n_reference"] == 30 and card["domain"]["n_calibration"] == 10 + 30   # + leave-one-out
    assert json.loads(referenced_model.with_suffix(".json").read_text())["domain"] == card["domain"]
    assert ModelCard.from_dict(card).to_dict() == card                       # the typed card round-trips
    assert ModelCard.from_dict(card).domain is not None
    bundle = load_checkpoint(referenced_model, device="cpu")                 # weights still load exactly
    assert bundle.domain is not None and bundle.domain.dimension == 2 * (128 + 256)   # layer2, layer3: mean, std
    assert card["domain"]["layer"] == "layer2+layer3"


def test_explanations_say_known_or_unlike_from_the_same_pass(referenced_model: Path) -> None:
    bundle = load_checkpoint(referenced_model, device="cpu")
    with Explainer(bundle) as explainer:
        known = explainer.explain(_smooth_images(10, 7))
        foreign = explainer.explain(_noise_images(10, 8))
    assert sum(e.domain.outside for e in known) <= 1
    assert all(e.domain.outside for e in foreign)
    assert all(e.domain.distance > e.domain.threshold for e in foreign)
    record = image_record("x.png", foreign[0])
    assert record["domain"]["verdict"] == "unlike training data"
    assert set(record["domain"]) >= {"distance", "threshold", "verdict"}
    row = score_row("x.png", foreign[0])
    assert row["domain"] == "unlike training data" and float(row["domain_distance"]) > 0


def test_models_without_a_reference_say_unknown(tmp_path: Path) -> None:
    bundle = load_checkpoint(make_checkpoint(tmp_path / "plain.safetensors", arch="resnet18", input_size=64),
                             device="cpu")
    with Explainer(bundle) as explainer:
        explanation = explainer.explain_one(_smooth_images(1, 0)[0])
    assert explanation.domain.verdict is DomainVerdict.UNKNOWN and "reference" in explanation.domain.reason
    assert score_row("x", explanation)["domain"] == "unknown"


def test_rewriting_keeps_the_weights_and_replaces_the_reference(referenced_model: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy.safetensors"
    copy.write_bytes(referenced_model.read_bytes())
    bundle = load_checkpoint(copy, device="cpu")
    new = fit_domain(_cluster(20, 1.0, 0, dim=1024), _cluster(20, 1.0, 1, dim=1024), layer="fc", source="other")
    write_domain(copy, bundle.card.to_dict(), new)
    again = load_checkpoint(copy, device="cpu")
    assert again.card.domain is not None and again.card.domain.source == "other"
    for (name, a), b in zip(bundle.model.state_dict().items(), again.model.state_dict().values()):
        assert torch.equal(a, b), name


def test_reference_needs_enough_images(tmp_path: Path) -> None:
    bundle = load_checkpoint(make_checkpoint(tmp_path / "m.safetensors", arch="resnet18", input_size=64), device="cpu")
    (tmp_path / "few").mkdir()
    for i, image in enumerate(_smooth_images(3, 0)):
        image.save(tmp_path / "few" / f"{i}.png")
    with pytest.raises(InputError, match="at least 10"):
        reference_from_folder(bundle, tmp_path / "few")


def test_reference_with_runs_is_calibrated_on_whole_runs(tmp_path: Path) -> None:
    """``reference --group-pattern``: the threshold comes from whole runs measured against a reference without
    them; a pattern that is no regular expression is refused in words."""
    bundle = load_checkpoint(make_checkpoint(tmp_path / "m.safetensors", arch="resnet18", input_size=64), device="cpu")
    folder = tmp_path / "runs"
    folder.mkdir()
    for run, seed in (("exp1", 0), ("exp2", 5), ("exp3", 9)):
        for i, image in enumerate(_smooth_images(12, seed)):
            image.save(folder / f"{run}_{i:02d}.png")
    plain, _ = reference_from_folder(bundle, folder)
    grouped, _ = reference_from_folder(bundle, folder, group_pattern=r"exp\d+")
    assert plain.reference.calibration.startswith("held-out images")
    assert grouped.reference.calibration.startswith("held-out groups (leave-one-group-out over 3 reference groups")
    assert grouped.reference.n_reference == plain.reference.n_reference
    with pytest.raises(InputError, match="not a valid regular expression"):
        reference_from_folder(bundle, folder, group_pattern="exp(")


def test_onnx_gives_the_same_features(referenced_model: Path, tmp_path: Path) -> None:
    from cam_core.engine.methods import CAM
    from cam_core.interop import export_onnx, load_onnx

    bundle = load_checkpoint(referenced_model, device="cpu")
    onnx_path = export_onnx(bundle, tmp_path / "res.onnx").path
    onnx_bundle = load_onnx(onnx_path, "cpu")
    batch = bundle.preprocess(_noise_images(2, 3))
    with CAM(bundle.model) as cam:
        torch_features = cam(batch).features
    onnx_result = onnx_bundle.model.cam_extractor()(batch)
    assert torch_features is not None and onnx_result.features is not None
    assert onnx_result.features_layer == "layer2+layer3"
    assert torch.allclose(torch_features, onnx_result.features, rtol=1e-3, atol=1e-4)
    assert onnx_bundle.domain is not None                            # the reference travels inside the graph
    with Explainer(bundle) as torch_explainer, Explainer(onnx_bundle) as onnx_explainer:
        images = _noise_images(2, 4) + _smooth_images(2, 5)
        torch_domains = [e.domain for e in torch_explainer.explain(images)]
        onnx_domains = [e.domain for e in onnx_explainer.explain(images)]
    assert [d.verdict for d in torch_domains] == [d.verdict for d in onnx_domains]
    assert np.allclose([d.distance for d in torch_domains], [d.distance for d in onnx_domains], atol=1e-3)
