"""Streamlit app tests with ``streamlit.testing.v1.AppTest`` (no browser; the scripts run in-process).

Every test points the app at a temporary models folder with random-weight models
(``CAM_INSPECTOR_MODELS``) and an empty "shipped" folder, so results do not depend on
what is in ``models/``.
"""

from __future__ import annotations

import html
import io
import json
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import make_checkpoint
from PIL import Image
from streamlit.testing.v1 import AppTest

import cam_core.checkpoints.bundle as checkpoint
import cam_core.checkpoints.registry as registry

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")
TIMEOUT = 90
VERDICT = re.compile(r":(red|green|blue)\[\*\*(OK|NG) \d+\.\d%\*\*\]")


@pytest.fixture(scope="module")
def model_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two small random-weight models (saved once per module, copied per test)."""
    folder = tmp_path_factory.mktemp("app_models")
    return {
        "squeezenet1_1-test": make_checkpoint(folder / "squeezenet1_1-test.safetensors", input_size=112),
        "resnet18-test": make_checkpoint(folder / "resnet18-test.safetensors", arch="resnet18", input_size=112,
                                         seed=1),
    }


@pytest.fixture()
def models_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, model_files: dict[str, Path]) -> Path:
    """A user models folder with both test models; no shipped models."""
    user = tmp_path / "user_models"
    user.mkdir()
    for name, path in model_files.items():
        (user / f"{name}.safetensors").symlink_to(path)
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    monkeypatch.setenv("CAM_INSPECTOR_MODELS", str(user))
    monkeypatch.setattr(registry, "SHIPPED_MODELS_DIR", shipped)
    return user


def png_bytes(size: tuple[int, int] = (320, 240), seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def run_app(page: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    if page:
        at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


MAP_FIGURE = re.compile(r"<div class='cb-title'>(.*?)</div>.*?<div class='cb-words'>(.*?)</div>", re.S)


def image_captions(at: AppTest) -> list[str]:
    """Captions of the images shown, then "title: words" of each map blended in the browser (Explain)."""
    captions = [img.caption for element in at.image for img in element.proto.imgs]
    for element in at.get("html"):
        captions += [html.unescape(f"{title}: {words}") for title, words in MAP_FIGURE.findall(element.proto.body)]
    return captions


def explained_app(*files: tuple[str, bytes, str]) -> AppTest:
    at = run_app()
    at.file_uploader(key="explain_uploads").set_value(list(files))
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_explain_shows_verdict_and_both_maps(models_dir: Path) -> None:
    at = run_app()
    assert any("Upload one or more" in i.value for i in at.info)
    at.file_uploader(key="explain_uploads").set_value([("part.png", png_bytes(), "image/png")])
    at.run()
    assert not at.exception and not at.error
    assert any(VERDICT.search(h.value) for h in at.header), [h.value for h in at.header]
    captions = image_captions(at)
    assert len(captions) == 2
    assert captions[0].startswith("OK map") and captions[1].startswith("NG map")
    assert "signs of OK" in captions[0] and "signs of NG" in captions[1]
    assert all("dark red" in c and "no sign of it" in c for c in captions)     # jet's own colours, plain words
    details = [c.value for c in at.caption]
    assert any("certainty scale" in c and "colours span 0 … " in c for c in details)   # numbers: in the details
    assert any("raw map" in c for c in details)
    labels = [b.proto.label for b in at.download_button]
    assert labels == ["Overlay PNGs (ZIP)", "Scores (CSV)", "Scores (JSON)"]


def test_bad_file_is_reported_and_good_one_still_shown(models_dir: Path) -> None:
    at = explained_app(("good.png", png_bytes(), "image/png"), ("broken.png", b"\x89PNG\r\n\x1a\nnope", "image/png"),
                       ("notes.png", b"hello, I am text", "image/png"))
    errors = [e.value for e in at.error]
    assert len(errors) == 2, errors
    assert any("broken.png" in e for e in errors) and any("notes.png" in e for e in errors)
    assert any(VERDICT.search(h.value) for h in at.header)
    assert len(image_captions(at)) == 2
    assert not at.dataframe  # one good image: no gallery


def test_controls_change_the_view(models_dir: Path) -> None:
    at = explained_app(("part.png", png_bytes(), "image/png"))
    assert not at.get("plotly_chart")
    at.toggle(key="cfg_raw_grid").set_value(True).run()
    evidence = [json.loads(chart.proto.spec)["data"][0] for chart in at.get("plotly_chart")]
    assert len(evidence) == 2 and all("zmin" not in h for h in evidence)  # evidence view: grids on own ranges
    titles = [json.loads(chart.proto.spec)["layout"]["title"]["text"] for chart in at.get("plotly_chart")]
    assert titles[0].startswith("OK evidence") and titles[1].startswith("NG evidence")   # the values drawn
    at.radio(key="cfg_norm").set_value("shared").run()
    specs = [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]
    assert len(specs) == 2
    heatmaps = [spec["data"][0] for spec in specs]
    assert all(h["type"] == "heatmap" and "value %{z" in h["hovertemplate"] for h in heatmaps)
    assert heatmaps[0]["zmin"] == heatmaps[1]["zmin"] and heatmaps[0]["zmax"] == heatmaps[1]["zmax"]  # shared
    titles = [spec["layout"]["title"]["text"] for spec in specs]
    assert titles[0].startswith("OK raw map") and titles[1].startswith("NG raw map")
    assert re.search(r"\((\d+)×(\d+)\)$", titles[0])
    at.radio(key="cfg_norm").set_value("per-map")
    at.selectbox(key="cfg_colormap").set_value("viridis")
    at.run()
    assert not at.exception and not at.error
    captions = image_captions(at)
    assert len(captions) == 2 and all("stretched on its own" in c and "yellow" in c for c in captions)  # viridis
    heatmaps = [json.loads(chart.proto.spec)["data"][0] for chart in at.get("plotly_chart")]
    assert all("zmin" not in h for h in heatmaps)  # per-map: each grid on its own range
    at.selectbox(key="cfg_method").set_value("gradcam").run()
    assert not at.exception and not at.error
    assert len(image_captions(at)) == 2


def test_flip_averaged_cam_reaches_the_core(models_dir: Path) -> None:
    """The 'CAM, flip-averaged' choice must give what Explainer(flip_average=True) gives, not plain CAM."""
    import app_ui
    from cam_core import Explainer, load_model

    at = explained_app(("part.png", png_bytes(seed=3), "image/png"))
    model = at.session_state["cfg_model"]
    plain = at.session_state["last_batch"].explanations[0]
    at.selectbox(key="cfg_method").set_value("cam-flip").run()
    assert not at.exception and not at.error
    assert len(image_captions(at)) == 2
    batch = at.session_state["last_batch"]
    assert batch.method == app_ui.MapMethod("cam", flip_average=True)    # the core's flag, no method string
    flipped = batch.explanations[0]
    image = Image.open(io.BytesIO(png_bytes(seed=3))).convert("RGB")
    with Explainer(load_model(str(models_dir / f"{model}.safetensors"), device="cpu"), flip_average=True) as direct:
        expected = direct.explain_one(image)
    np.testing.assert_allclose(flipped.logits, expected.logits, rtol=1e-4, atol=1e-4)
    assert not np.allclose(flipped.logits, plain.logits, atol=1e-6)


def test_multi_class_model_has_a_target_picker(models_dir: Path) -> None:
    make_checkpoint(models_dir / "three-classes.safetensors", classes=("good", "scratch", "dent"), input_size=96)
    at = run_app()
    at.selectbox(key="cfg_model").set_value("three-classes")
    at.multiselect(key="cfg_samples").set_value(["NG nut (pit)"])
    at.run()
    assert not at.exception and not at.error
    target = at.selectbox(key="cfg_target")
    assert target.options == ["predicted", "good", "scratch", "dent"]
    assert any(h.value.startswith(":blue[") for h in at.header)  # no "ng" class: neutral colour
    assert len(image_captions(at)) == 2
    target.set_value("dent").run()
    assert image_captions(at)[0].startswith("DENT map")
    at.selectbox(key="cfg_method").set_value("gradcam++").run()
    assert not at.exception and not at.error
    assert image_captions(at)[0].startswith("DENT map")


def test_gallery_of_samples_and_selection(models_dir: Path) -> None:
    at = run_app()
    at.multiselect(key="cfg_samples").set_value(["OK plate", "NG plate (scratch)", "NG nut (pit)"]).run()
    assert not at.exception and not at.error
    assert len(at.dataframe) == 1
    table = at.dataframe[0].value
    assert list(table.columns) == ["part", "file", "verdict", "domain", "NG probability"]
    assert len(table) == 3
    assert set(table["domain"]) <= {"known", "⚠ unlike training data", "unknown"}
    assert list(table["NG probability"]) == sorted(table["NG probability"], reverse=True)
    selector = at.selectbox(key="explain_selected")
    assert len(selector.options) == 3
    def image_line() -> str:
        return next(c.value for c in at.caption if " px · " in c.value)

    first = image_line()
    selector.set_value(selector.options[2]).run()
    assert image_line() != first


def test_settings_and_batch_survive_page_switches(models_dir: Path) -> None:
    at = explained_app(("part.png", png_bytes(), "image/png"))
    at.selectbox(key="cfg_colormap").set_value("viridis").run()     # in the maps' fragment
    at.radio(key="cfg_norm").set_value("signed").run()
    at.switch_page("pages/models.py").run()
    at.switch_page("pages/explain.py").run()
    assert not at.exception
    assert at.selectbox(key="cfg_colormap").value == "viridis" and at.radio(key="cfg_norm").value == "signed"
    assert [c.split(":")[0] for c in image_captions(at)] == ["NG − OK"]   # one signed map (opacity: browser test)
    assert any("last batch" in i.value for i in at.info)
    assert any(VERDICT.search(h.value) for h in at.header)


def test_compare_networks(models_dir: Path) -> None:
    at = run_app("pages/compare.py")
    assert set(at.multiselect(key="cfg_compare_models").value) == {"squeezenet1_1-test", "resnet18-test"}
    at.selectbox(key="compare_sample").set_value("NG plate (crack)").run()
    assert not at.exception and not at.error
    assert [s.value for s in at.subheader][::2] == at.multiselect(key="cfg_compare_models").value
    details = [c.value for c in at.caption if "latency" in c.value and "grid" in c.value]
    assert len(details) == 2
    assert any("grid **4×4**" in d for d in details)  # resnet18 at 112 px
    assert all(re.search(r"latency \*\*\d+ ms\*\*", d) for d in details)
    assert len(image_captions(at)) == 1 + 2 * 2  # the input + OK/NG per network
    assert sum(bool(VERDICT.search(s.value)) for s in at.subheader) == 2


def test_compare_opens_with_every_shipped_network(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  model_files: dict[str, Path]) -> None:
    shipped, user = tmp_path / "shipped", tmp_path / "user_models"
    shipped.mkdir()
    user.mkdir()
    for name, path in model_files.items():
        (shipped / f"{name}.safetensors").symlink_to(path)
    (shipped / "third-shipped.safetensors").symlink_to(model_files["squeezenet1_1-test"])
    (user / "mine.safetensors").symlink_to(model_files["resnet18-test"])
    monkeypatch.setenv("CAM_INSPECTOR_MODELS", str(user))
    monkeypatch.setattr(registry, "SHIPPED_MODELS_DIR", shipped)
    at = run_app("pages/compare.py")
    assert set(at.multiselect(key="cfg_compare_models").value) == {"squeezenet1_1-test", "resnet18-test",
                                                                   "third-shipped"}


def test_models_page_lists_cards_and_refuses_pickles(models_dir: Path) -> None:
    at = run_app("pages/models.py")
    labels = [e.label for e in at.expander]
    assert any("squeezenet1_1-test" in label for label in labels)
    assert any("resnet18-test" in label for label in labels)
    tables = [d.value for d in at.dataframe]
    assert any("Architecture" in list(t["field"]) and "Training command" in list(t["field"]) for t in tables)
    at.file_uploader(key="models_upload").set_value(("weights.pt", b"\x80\x04pickle", "application/octet-stream"))
    at.run()
    assert any("only .safetensors checkpoints and .onnx models" in e.value for e in at.error)
    assert not list(models_dir.glob("weights*"))


def test_models_page_adds_a_checkpoint(models_dir: Path, model_files: dict[str, Path]) -> None:
    at = run_app("pages/models.py")
    data = model_files["squeezenet1_1-test"].read_bytes()
    at.file_uploader(key="models_upload").set_value(("my model.safetensors", data, "application/octet-stream"))
    at.run()
    at.text_input(key="models_upload_name").set_value("Line 3 / model é")
    at.button(key="models_add").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    added = models_dir / "Line_3_model_e.safetensors"
    assert added.is_file() and added.with_suffix(".json").is_file()
    assert any("Line_3_model_e" in s.value for s in at.success)
    at.switch_page("pages/explain.py").run()
    assert "Line_3_model_e" in at.selectbox(key="cfg_model").options
    # a file that is named .safetensors but is not one
    at.switch_page("pages/models.py").run()
    at.file_uploader(key="models_upload").set_value(("fake.safetensors", b"garbage" * 10, "application/octet-stream"))
    at.run()
    at.button(key="models_add").click().run()
    assert any("fake" in e.value for e in at.error)
    assert not (models_dir / "fake.safetensors").exists()
    assert not list(models_dir.glob(".upload-*"))


def test_models_page_reads_a_training_zip(models_dir: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for label in ("ok", "ng"):
            for i in range(3):
                archive.writestr(f"parts/{label}/{label}_{i}.png", png_bytes((64, 64), seed=i))
        archive.writestr("parts/readme.txt", "hello")
    at = run_app("pages/models.py")
    at.file_uploader(key="models_train_zip").set_value(("parts.zip", buffer.getvalue(), "application/zip")).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    counts = at.dataframe[-1].value
    assert dict(zip(counts["class"], counts["images"])) == {"ng": 3, "ok": 3}
    assert at.button(key="train_go")
    at.file_uploader(key="models_train_zip").set_value(("evil.zip", b"PK\x03\x04broken", "application/zip")).run()
    assert any("evil.zip" in e.value for e in at.error)


def _blob_zip(n: int = 16, size: int = 64, seed: int = 0) -> bytes:
    """ok/: noise; ng/: noise with a bright disc. Easy enough that a real run learns it in a few epochs."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for label in ("ok", "ng"):
            for i in range(n):
                image = rng.integers(40, 120, (size, size, 3)).astype(np.uint8)
                if label == "ng":
                    cx, cy = rng.integers(12, size - 12, 2)
                    image[(xx - cx) ** 2 + (yy - cy) ** 2 < 36] = 250
                png = io.BytesIO()
                Image.fromarray(image).save(png, "PNG")
                archive.writestr(f"{label}/{i}.png", png.getvalue())
    return buffer.getvalue()


def test_models_page_trains_a_small_model(models_dir: Path) -> None:
    pytest.importorskip("cam_core.training")
    at = run_app("pages/models.py")
    at.file_uploader(key="models_train_zip").set_value(("tiny parts.zip", _blob_zip(), "application/zip")).run()
    assert at.selectbox(key="train_arch").value == "efficientnet_lite0"        # the default: ImageNet transfer
    assert [c for c in at.checkbox if c.key == "train_fine"]                    # Lite0 has a stride-16 variant
    at.selectbox(key="train_arch").set_value("squeezenet1_1").run()
    assert not [c for c in at.checkbox if c.key == "train_fine"]     # SqueezeNet has no stride-16 variant
    at.selectbox(key="train_arch").set_value("efficientnet_lite0").run()
    at.number_input(key="train_epochs").set_value(2)
    at.select_slider(key="train_size").set_value(96)
    at.number_input(key="train_batch").set_value(4)
    at.radio(key="train_resize").set_value("aspect")
    at.text_input(key="train_name").set_value("tiny")
    at.button(key="train_go").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    job = at.session_state["models_train_job"]                  # a background job: the page does not wait
    assert at.button(key="train_go").disabled and any("Training **tiny**" in i.value for i in at.info)
    at.switch_page("pages/explain.py").run()                    # leaving the page does not stop it
    job.thread.join(timeout=600)
    assert job.done and job.outcome is not None and not job.stop.is_set()
    at.switch_page("pages/models.py").run()                     # back: the outcome is shown
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert (models_dir / "tiny.safetensors").is_file()
    assert checkpoint.read_card(models_dir / "tiny.safetensors")["resize"] == "aspect"
    assert any("saved **tiny**" in s.value for s in at.success)
    result = at.session_state["models_train_result"]
    assert [h["epoch"] for h in result["history"]] == [1, 2]
    tiny = [e for e in at.expander if "**tiny**" in e.label]
    assert len(tiny) == 1
    card = tiny[0].dataframe[0].value
    card_rows = dict(zip(card["field"], card["value"]))
    assert "tiny parts.zip" in card_rows["Training data"]
    assert "Models page" in card_rows["Training command"]
    at.switch_page("pages/explain.py").run()
    assert "tiny" in at.selectbox(key="cfg_model").options


def test_report_from_last_batch_is_self_contained(models_dir: Path) -> None:
    at = explained_app(("a.png", png_bytes(seed=1), "image/png"), ("b<script>.png", png_bytes(seed=2), "image/png"))
    at.switch_page("pages/report.py").run()
    assert not at.exception and not at.error
    assert [b.proto.label for b in at.download_button] == ["Download HTML report"]
    html = at.session_state["report_html"][1]
    assert html.startswith("<!DOCTYPE html>")
    assert html.count("data:image/") >= 2 * 3  # thumbnail + OK + NG per image
    assert "base64," in html
    assert "<script" not in html.lower()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    assert "squeezenet1_1" in html or "resnet18" in html


def test_html_report_escapes_text_and_embeds_everything(model_files: dict[str, Path]) -> None:
    from cam_core import Explainer, load_model
    from cam_core.report import build_html_report, card_summary, make_report_items

    bundle = load_model(str(model_files["squeezenet1_1-test"]))
    image = Image.open(io.BytesIO(png_bytes()))
    with Explainer(bundle) as explainer:
        explanations = explainer.explain([image])
    items = make_report_items(["<img src=x onerror=alert(1)>.png"], [image], explanations,
                              notes=[("EXIF rotation applied",)])
    html = build_html_report(items, bundle, title="Line 3 <shift B> & co", settings={"method": "CAM"})
    assert "<title>Line 3 &lt;shift B&gt; &amp; co</title>" in html
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;.png" in html
    assert html.count('src="data:image/jpeg;base64,') == 3  # input thumbnail, OK map, NG map
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html) and "<script" not in html
    assert "EXIF rotation applied" in html
    fields = [name for name, _ in card_summary(bundle.card)]
    assert fields[:4] == ["Trained on", "Architecture", "Classes", "Input size"]
    assert {"Validation accuracy", "Validation AUROC", "Training command"} <= set(fields)


def test_report_page_with_its_own_uploads(models_dir: Path) -> None:
    at = AppTest.from_file(str(ROOT / "pages" / "report.py"), default_timeout=TIMEOUT).run()
    assert any("Nothing explained yet" in i.value for i in at.info)
    at.file_uploader(key="report_uploads").set_value([("x.png", png_bytes(), "image/png")]).run()
    assert not at.exception and not at.error
    assert "data:image/" in at.session_state["report_html"][1]


def test_no_models_gives_instructions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAM_INSPECTOR_MODELS", str(tmp_path / "none"))
    monkeypatch.setattr(registry, "SHIPPED_MODELS_DIR", tmp_path / "none-shipped")
    for page in (None, "pages/compare.py", "pages/models.py"):
        at = run_app(page)
        assert any("No model is available" in w.value and "Models" in w.value for w in at.warning), page


def test_broken_model_file_gives_a_message(models_dir: Path) -> None:
    (models_dir / "aaa-broken.safetensors").write_bytes(b"not a safetensors file")
    at = run_app()
    at.selectbox(key="cfg_model").set_value("aaa-broken").run()
    assert not at.exception
    assert any("aaa-broken" in e.value and "safetensors" in e.value for e in at.error), [e.value for e in at.error]
    at.switch_page("pages/models.py").run()
    assert any("aaa-broken" in e.value and "cannot be used" in e.value for e in at.error)
    assert any("squeezenet1_1-test" in e.label for e in at.expander)


def test_unexpected_error_is_logged_not_shown_as_traceback(models_dir: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    import app_ui

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("internal detail")

    monkeypatch.setattr(app_ui, "explain_inputs", boom)
    at = explained_app(("part.png", png_bytes(), "image/png"))
    assert not at.exception
    assert any("Unexpected error" in e.value and "internal detail" not in e.value for e in at.error)


def test_pages_run_directly(models_dir: Path) -> None:
    for page in ("explain.py", "compare.py", "models.py", "report.py"):
        at = AppTest.from_file(str(ROOT / "pages" / page), default_timeout=TIMEOUT).run()
        assert not at.exception, (page, [e.value for e in at.exception])
        assert not at.error, (page, [e.value for e in at.error])


def test_models_page_does_not_announce_a_model_that_learned_nothing(models_dir: Path) -> None:
    pytest.importorskip("cam_core.training")
    same = io.BytesIO()
    Image.fromarray(np.random.default_rng(3).integers(0, 255, (48, 48, 3), dtype=np.uint8)).save(same, "PNG")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:   # ok/ and ng/ hold the very same picture: nothing to learn
        for label in ("ok", "ng"):
            for i in range(8):
                archive.writestr(f"{label}/{i}.png", same.getvalue())
    at = run_app("pages/models.py")
    at.file_uploader(key="models_train_zip").set_value(("same.zip", buffer.getvalue(), "application/zip")).run()
    at.number_input(key="train_epochs").set_value(1)
    at.select_slider(key="train_size").set_value(96)
    at.number_input(key="train_batch").set_value(4)
    at.text_input(key="train_name").set_value("nothing")
    at.button(key="train_go").click().run()
    at.session_state["models_train_job"].thread.join(timeout=600)
    at.run()
    assert not at.exception
    assert not at.success
    assert any("learned nothing" in e.value and "nothing" in e.value for e in at.error), [e.value for e in at.error]
    assert not list(models_dir.glob("*nothing*")) and not list(models_dir.glob(".*"))


def test_gallery_keeps_the_chosen_image_when_the_method_changes(models_dir: Path) -> None:
    at = explained_app(*[(f"p{i}.png", png_bytes(seed=i), "image/png") for i in range(3)])
    table = at.dataframe[0].value
    assert list(table.columns)[:2] == ["part", "file"]
    assert all(str(uri).startswith("data:image/jpeg;base64,") for uri in table["part"])   # thumbnails, inline
    selector = at.selectbox(key="explain_selected")
    assert all(" — " in option for option in selector.options)                 # name — verdict
    chosen = next(name for name in ("p0.png", "p1.png", "p2.png") if name != selector.value)
    selector.set_value(chosen).run()
    at.selectbox(key="cfg_method").set_value("gradcam").run()
    assert not at.exception
    assert at.selectbox(key="explain_selected").value == chosen
    at.selectbox(key="cfg_model").set_value("resnet18-test").run()
    assert at.selectbox(key="explain_selected").value == chosen


def test_two_class_models_offer_the_target_picker(models_dir: Path) -> None:
    at = explained_app(("part.png", png_bytes(), "image/png"))
    target = at.selectbox(key="cfg_target")
    assert target.options == ["predicted", "ok", "ng"]


def test_a_synthetic_parts_model_warns_on_the_users_own_images_only(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from cam_core.checkpoints import LEGACY_SYNTHETIC_TEXT, save_checkpoint
    from cam_core.engine.architectures import build_model

    user, shipped = tmp_path / "user", tmp_path / "shipped"
    user.mkdir()
    shipped.mkdir()
    torch.manual_seed(0)
    save_checkpoint(build_model("squeezenet1_1", 2, head_relu=False), user / "synthetic-only.safetensors",
                    {"arch": "squeezenet1_1", "classes": ["ok", "ng"], "input_size": [96, 96], "head_relu": False,
                     "trained_on": LEGACY_SYNTHETIC_TEXT})              # an old card: no data_kind
    monkeypatch.setenv("CAM_INSPECTOR_MODELS", str(user))
    monkeypatch.setattr(registry, "SHIPPED_MODELS_DIR", shipped)
    at = run_app()
    at.multiselect(key="cfg_samples").set_value(["OK plate"]).run()
    assert not at.warning
    from cam_core.checkpoints import SYNTHETIC_TEXT

    assert any(SYNTHETIC_TEXT in c.value for c in at.caption)               # named next to the verdict, in plain words
    assert not any("cam_core" in c.value for c in at.caption)
    at.file_uploader(key="explain_uploads").set_value([("my tile.png", png_bytes(), "image/png")]).run()
    warnings = [w.value for w in at.warning]
    assert any("only seen synthetic parts" in w and "tile.png" in w and "minutes" in w for w in warnings), warnings


def test_models_page_adds_an_onnx_model_and_refuses_one_without_cam(models_dir: Path, model_files: dict[str, Path],
                                                                      tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    import torch

    from cam_core.interop import export_onnx

    exported = tmp_path / "line4.onnx"
    export_onnx(str(model_files["squeezenet1_1-test"]), exported)
    at = run_app("pages/models.py")
    at.file_uploader(key="models_upload").set_value(("line4.onnx", exported.read_bytes(), "application/octet-stream"))
    at.run()
    at.button(key="models_add").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert (models_dir / "line4.onnx").is_file()
    at.switch_page("pages/explain.py").run()
    assert "line4" in at.selectbox(key="cfg_model").options
    assert len(at.selectbox(key="cfg_method").options) == 4          # a PyTorch model: CAM, flip, Grad-CAM, ++
    at.selectbox(key="cfg_model").set_value("line4").run()
    assert not at.exception
    methods = at.selectbox(key="cfg_method").options
    assert len(methods) == 2 and not any("Grad" in m for m in methods)   # ONNX: CAM and flip-averaged CAM
    assert any("ONNX models are explained with CAM only" in c.value for c in at.caption)

    # a classifier without global average pooling cannot be explained with CAM: refused, nothing added
    flat = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, stride=8), torch.nn.Flatten(), torch.nn.Linear(4 * 28 * 28, 2))
    no_gap = tmp_path / "nogap.onnx"
    torch.onnx.export(flat.eval(), (torch.zeros(1, 3, 224, 224),), str(no_gap), dynamo=False)
    at.switch_page("pages/models.py").run()
    at.file_uploader(key="models_upload").set_value(("nogap.onnx", no_gap.read_bytes(), "application/octet-stream"))
    at.run()
    at.button(key="models_add").click().run()
    assert any("nogap" in e.value and "global average pool" in e.value for e in at.error), [e.value for e in at.error]
    assert not (models_dir / "nogap.onnx").exists()


def test_the_chosen_image_survives_method_and_page_changes(models_dir: Path) -> None:
    at = run_app()
    at.multiselect(key="cfg_samples").set_value(["OK plate", "NG plate (scratch)", "NG nut (pit)"]).run()
    selector = at.selectbox(key="explain_selected")
    chosen = selector.options[2]
    selector.set_value(chosen).run()
    shown = at.session_state["explain_selected"]
    for method in ("cam-flip", "cam", "gradcam", "cam"):
        at.selectbox(key="cfg_method").set_value(method).run()
        assert not at.exception and at.session_state["explain_selected"] == shown, method
    at.switch_page("pages/report.py").run()
    at.switch_page("pages/explain.py").run()
    assert not at.exception and at.session_state["explain_selected"] == shown
