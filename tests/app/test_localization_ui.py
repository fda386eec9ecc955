"""Defect masks in the app ("Point at the defect"): outlines and the pointing result on the Explain page,
the per-network score table on the Compare page. AppTest, no browser; random-weight test models."""

from __future__ import annotations

import io
import re
import zipfile

import numpy as np
import pytest
from PIL import Image
from test_app import VERDICT, explained_app, image_captions, model_files, models_dir, run_app  # noqa: F401

import app_ui
import cam_core.explain.render as render

pytestmark = pytest.mark.usefixtures("models_dir")  # the test models of test_app (imported above)

POINTING = re.compile(r"NG map's strongest point on the marked defect: :(green|red)\[\*\*(yes|no)\*\*\]")
IMAGE_SIZE = (320, 240)


def png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "PNG")
    return buffer.getvalue()


def part_png(seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    return png(rng.integers(0, 255, (IMAGE_SIZE[1], IMAGE_SIZE[0], 3), dtype=np.uint8))


def mask_png(size: tuple[int, int] = IMAGE_SIZE, box: tuple[int, int, int, int] = (150, 100, 200, 140)) -> bytes:
    """A 0/255 mask; ``box`` is given at 320×240 and scaled to ``size``."""
    width, height = size
    sx, sy = width / IMAGE_SIZE[0], height / IMAGE_SIZE[1]
    mask = np.zeros((height, width), np.uint8)
    mask[int(box[1] * sy):int(box[3] * sy), int(box[0] * sx):int(box[2] * sx)] = 255
    return png(mask)


def overlay_urls(at) -> list[str]:
    """The part under each map (Explain blends the maps over it in the browser): its data URI, per map."""
    return [url for element in at.get("html") for url in re.findall(r"<img class='cb-base' src='([^']+)'",
                                                                       element.proto.body)]


def markdown(at) -> list[str]:
    return [m.value for m in at.markdown]


def captions(at) -> list[str]:
    return [c.value for c in at.caption]


@pytest.fixture()
def outlines(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Image.Image, np.ndarray]]:
    """Records every ``draw_mask_outline`` call of the app (input overlay and mask)."""
    calls: list[tuple[Image.Image, np.ndarray]] = []
    original = render.draw_mask_outline

    def recording(image, mask_bool, *args, **kwargs):
        calls.append((image, np.asarray(mask_bool)))
        return original(image, mask_bool, *args, **kwargs)

    monkeypatch.setattr(render, "draw_mask_outline", recording)
    return calls


# --------------------------------------------------------------------------- Explain page


def test_mask_outlines_both_overlays_and_shows_the_pointing_result(outlines: list) -> None:
    at = explained_app(("part7.png", part_png(), "image/png"))
    plain = overlay_urls(at)
    assert len(plain) == 2 and not outlines
    assert not any(POINTING.search(m) for m in markdown(at))
    at.file_uploader(key="explain_masks").set_value([("part7_mask.png", mask_png(), "image/png")]).run()
    assert not at.exception and not at.error and not at.warning, [w.value for w in at.warning]
    outlined = overlay_urls(at)
    assert len(outlined) == 2
    assert set(outlined).isdisjoint(plain)          # the part under both maps now carries the outline
    assert len(outlines) == 1                       # drawn once on the part at screen size, under both maps
    for overlay, mask in outlines:
        assert mask.shape == (overlay.size[1], overlay.size[0]) and mask.sum() == 50 * 40
    lines = markdown(at)
    assert sum(bool(POINTING.search(m)) for m in lines) == 1, lines
    energy = [m for m in lines if m.startswith("Energy inside the mask")]
    assert len(energy) == 1 and re.search(r"covers \*\*2\.6%\*\* of the image", energy[0])  # 2000 / 76800 px
    assert any("Outline (white): part7_mask.png" in c for c in captions(at)) and any("21 px" in c for c in captions(at))
    assert image_captions(at)[0].startswith("OK map") and image_captions(at)[1].startswith("NG map")
    # removing the mask removes the outline and the result
    at.file_uploader(key="explain_masks").set_value([]).run()
    assert overlay_urls(at) == plain
    assert not any(POINTING.search(m) for m in markdown(at))


def test_mask_is_matched_by_stem_and_wrong_size_is_resized_with_a_note() -> None:
    at = explained_app(("part7.jpg", part_png(), "image/png"), ("other.png", part_png(1), "image/png"))
    at.file_uploader(key="explain_masks").set_value([("part7.png", mask_png((80, 60)), "image/png")]).run()
    assert not at.exception and not at.error and not at.warning
    selector = at.selectbox(key="explain_selected")
    selector.set_value(next(o for o in selector.options if o.startswith("part7.jpg"))).run()
    assert any("mask 80×60 px resized to the image's 320×240 px (nearest neighbour)" in c for c in captions(at))
    assert any(POINTING.search(m) for m in markdown(at))
    selector.set_value(next(o for o in selector.options if o.startswith("other.png"))).run()
    assert not any(POINTING.search(m) for m in markdown(at))     # no mask for the other image


def test_garbage_mask_warns_and_the_image_is_still_explained() -> None:
    at = explained_app(("part7.png", part_png(), "image/png"))
    at.file_uploader(key="explain_masks").set_value([("part7_mask.png", b"this is not an image", "image/png")])
    at.run()
    assert not at.exception and not at.error
    warnings = [w.value for w in at.warning]
    assert len(warnings) == 1 and "part7_mask.png" in warnings[0] and "without a mask" in warnings[0], warnings
    assert any(VERDICT.search(h.value) for h in at.header)
    assert len(image_captions(at)) == 2
    assert not any(POINTING.search(m) for m in markdown(at))


def test_unmatched_and_empty_masks() -> None:
    at = explained_app(("part7.png", part_png(), "image/png"))
    empty = png(np.zeros((IMAGE_SIZE[1], IMAGE_SIZE[0]), np.uint8))
    at.file_uploader(key="explain_masks").set_value([("part7.png", empty, "image/png"),
                                                     ("elsewhere.png", mask_png(), "image/png")]).run()
    assert not at.exception and not at.error
    assert any("elsewhere.png matches no image" in w.value for w in at.warning)
    assert any("marks no defect pixels" in c for c in captions(at))
    assert not any(POINTING.search(m) for m in markdown(at))


def test_built_in_ng_sample_brings_its_own_mask(outlines: list) -> None:
    at = run_app()
    at.multiselect(key="cfg_samples").set_value(["NG plate (scratch)"]).run()
    assert not at.exception and not at.error
    assert any(POINTING.search(m) for m in markdown(at))
    assert any("the sample's own mask" in c for c in captions(at))
    assert len(outlines) == 1                        # on the part, under both maps
    at.multiselect(key="cfg_samples").set_value(["OK plate"]).run()   # an OK part has no defect: no mask
    assert not any(POINTING.search(m) for m in markdown(at))
    assert not any("Defect mask" in m for m in markdown(at))


# --------------------------------------------------------------------------- Compare page


def labelled_zip(per_class: int = 4, size: int = 64) -> bytes:
    """``set/ok``, ``set/ng`` and ``set/masks`` from cam_core.synth (exact masks)."""
    from cam_core.synth import render_part

    rng = np.random.default_rng(0)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for label, defect in (("ok", None), ("ng", "random")):
            for i in range(per_class):
                part = render_part(rng, kind="plate", size=size, defect=defect)
                archive.writestr(f"set/{label}/{label}_{i}.png", png(np.asarray(part.image.convert("RGB"))))
                if defect:
                    archive.writestr(f"set/masks/{label}_{i}.png", png(part.mask))
    return buffer.getvalue()


def test_compare_scores_each_network_on_a_labelled_zip(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(app_ui.compare, "SCORE_LIMIT", 6)   # read where the scoring runs
    at = run_app("pages/compare.py")
    models = at.multiselect(key="cfg_compare_models").value
    assert len(models) == 2
    at.file_uploader(key="compare_set_zip").set_value(("tiny set.zip", labelled_zip(), "application/zip")).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("ng: 4, ok: 4 images · 4 mask(s)" in c for c in captions(at))
    assert not at.dataframe
    at.button(key="compare_score_go").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert len(at.dataframe) == 1
    table = at.dataframe[0].value
    assert list(table.columns) == ["network", "unlike training data", "grid", "ms/image", "accuracy", "AUROC",
                                   "pointing game", "pointing chance", "pointing on NG calls",
                                   "energy in mask ÷ mask share", "deletion area", "deletion, random order",
                                   "confusion at threshold", "flags"]
    assert all("fewer than 20" in flags for flags in table["flags"])     # 4 images of each class: flagged
    assert list(table["network"]) == models
    assert dict(zip(table["network"], table["grid"]))["resnet18-test"] == "4×4"   # 112 px input
    assert all(re.fullmatch(r"\d+×\d+", g) for g in table["grid"])
    assert (table["ms/image"] > 0).all()
    assert table["accuracy"].between(0, 1).all() and table["AUROC"].between(0, 1).all()
    assert table["pointing game"].between(0, 1).all()           # 3 NG images with a mask in the first 6
    assert (table["energy in mask ÷ mask share"] >= 0).all()
    flagged = table["pointing on NG calls"].dropna()              # empty when a network called no NG image NG
    assert flagged.between(0, 1).all()
    note = next(c for c in captions(at) if c.startswith("Scored on"))
    assert "the first 6 of 8 images" in note and "3 NG image(s) with a mask" in note
    # the table stays through reruns and disappears when the networks change
    at.run()
    assert len(at.dataframe) == 1
    at.multiselect(key="cfg_compare_models").set_value(models[:1]).run()
    assert not at.dataframe


def test_compare_bad_zip_gives_an_error_not_a_traceback() -> None:
    at = run_app("pages/compare.py")
    at.file_uploader(key="compare_set_zip").set_value(("evil.zip", b"PK\x03\x04broken", "application/zip")).run()
    assert not at.exception
    assert any("evil.zip" in e.value for e in at.error), [e.value for e in at.error]
    assert not any(b.key == "compare_score_go" for b in at.button)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("ok/a.png", part_png())
    at.file_uploader(key="compare_set_zip").set_value(("one-class.zip", buffer.getvalue(), "application/zip")).run()
    assert not at.exception
    assert any("one-class.zip" in e.value and "class folders" in e.value for e in at.error)


def test_overlay_zip_and_report_carry_the_outline_and_the_pointing_result() -> None:
    at = explained_app(("part7.png", part_png(), "image/png"))
    batch = at.session_state["last_batch"]
    plain_zip = app_ui.overlays_zip(batch.items, batch.explanations, batch.view)
    at.file_uploader(key="explain_masks").set_value([("part7_mask.png", mask_png(), "image/png")]).run()
    assert not at.exception and not at.error
    batch = at.session_state["last_batch"]
    assert batch.items[0].mask is not None
    outlined_zip = app_ui.overlays_zip(batch.items, batch.explanations, batch.view)
    with zipfile.ZipFile(io.BytesIO(plain_zip)) as plain, zipfile.ZipFile(io.BytesIO(outlined_zip)) as outlined:
        assert plain.namelist() == outlined.namelist() == ["part7_ok.png", "part7_ng.png"]
        for name in plain.namelist():
            before = np.asarray(Image.open(io.BytesIO(plain.read(name))).convert("RGB")).astype(int)
            after = np.asarray(Image.open(io.BytesIO(outlined.read(name))).convert("RGB")).astype(int)
            changed = np.abs(after - before).sum(axis=2) > 0
            ys, xs = np.nonzero(changed)
            # only the outline of the 150..200 × 100..140 box changed, and it is white
            assert changed.any() and 146 <= xs.min() and xs.max() <= 203 and 96 <= ys.min() and ys.max() <= 143
            assert (after[changed] == 255).all()
            assert not changed[110:130, 160:190].any()               # the inside of the defect is not painted
    at.switch_page("pages/report.py").run()
    assert not at.exception and not at.error
    html = at.session_state["report_html"][1]
    assert re.search(r"defect mask \(white outline\): the defect map peaks (inside|outside) the marked defect; "
                     r"\d+% of its positive evidence lies in the mask, which covers 2\.6% of the image", html)
