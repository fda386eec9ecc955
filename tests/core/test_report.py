"""The HTML report reads as a manager needs it: counts and pointing first, worst parts next, details last."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
from PIL import Image

from cam_core.checkpoints import ModelCard
from cam_core.explain.pipeline import Explanation
from cam_core.report import build_html_report, make_report_items


def _card(fields: dict[str, Any]) -> ModelCard:
    """A typed card from the fields a test cares about (arch and input size filled in)."""
    return ModelCard.from_dict({"arch": "resnet18", "input_size": [224, 224], **fields})

def _explanation(p_ng: float, hot: tuple[int, int]) -> Explanation:
    ng = np.zeros((7, 7), dtype=np.float32)
    ng[hot] = 4.0
    maps = np.stack([-ng, ng])
    logits = np.array([0.0, np.log(p_ng / (1 - p_ng))])
    return Explanation(classes=("ok", "ng"), defect_index=1, probabilities=np.array([1 - p_ng, p_ng]), logits=logits, maps=maps,
                       class_indices=(0, 1), image_size=(70, 70), method="cam", layer="features")


def test_report_opens_with_the_managers_figures_and_the_worst_part() -> None:
    image = Image.new("RGB", (70, 70), (120, 120, 120))
    mask = np.zeros((70, 70), dtype=bool)
    mask[20:30, 40:50] = True                               # where part "b" has its hot cell (row 2, col 4)
    explanations = [_explanation(0.10, (5, 5)), _explanation(0.97, (2, 4)), _explanation(0.80, (6, 0))]
    items = make_report_items(["a.png", "b.png", "c.png"], [image] * 3, explanations, masks=[None, mask, mask])
    html = build_html_report(items, _card({"arch": "efficientnet_lite0", "classes": ["ok", "ng"],
                                           "trained_on": "synthetic parts (test)"}), model_name="m")
    headings = re.findall(r"<h2>(.*?)</h2>", html)
    assert headings[:2] == ["At a glance", "Parts, most likely defective first"] and headings[-1] == "Details"
    glance = html[html.index("At a glance"):html.index("Parts, most likely")]
    assert "<th>Parts inspected</th><td>3</td>" in glance
    assert "<th>Flagged NG</th><td>2 (67%)</td>" in glance
    assert "1 of 2 parts with a defect mask (50%)" in glance                # b points at it, c does not
    assert "synthetic parts (test)" in glance
    shown = re.findall(r"<h3>\d+\. (\w)\.png</h3>", html)
    assert shown == ["b", "c", "a"]                                          # most likely defective first
    assert html.index("Architecture") > html.index("<h2>Details</h2>")


def test_report_overlays_are_the_explanations_own() -> None:
    """The report draws Explanation.class_overlays: for OK/NG exactly Explanation.overlays; a subset of classes
    is scaled on its own maps (evidence: symmetric around 0 from their largest |value|)."""
    image = Image.new("RGB", (70, 70), (120, 120, 120))
    e = _explanation(0.9, (3, 3))
    item = make_report_items(["a.png"], [image], [e])[0]
    expected = e.overlays(image)
    assert list(item.overlays) == ["ok", "ng"]
    for name, picture in item.overlays.items():
        np.testing.assert_array_equal(np.asarray(picture), np.asarray(expected[name]))
    maps = np.stack([np.full((2, 2), v, dtype=np.float32) for v in (1.0, 2.0, 6.0)])
    three = Explanation(classes=("a", "b", "c"), defect_index=None, probabilities=np.array([0.2, 0.3, 0.5]), logits=np.zeros(3),
                        maps=maps, class_indices=(0, 1, 2), image_size=(2, 2), method="gradcam", layer="f")
    _, scale_two = three.class_overlays(Image.new("RGB", (2, 2)), [0, 1])
    _, scale_all = three.class_overlays(Image.new("RGB", (2, 2)))
    assert scale_two == (-2.0, 2.0) and scale_all == (-6.0, 6.0)


def test_card_rows_name_the_defect_class_and_an_imported_models_origin() -> None:
    from cam_core.report import card_summary

    rows = dict(card_summary(_card({"arch": "resnet18", "classes": ["good", "scratch"], "defect_class": "scratch",
                                    "origin": {"format": "onnx", "file": "line3.onnx", "architecture": "resnet18",
                                               "head": "fc", "producer": "x"},
                                    "notes": ["class names assumed", "ImageNet mean/std"]})))
    assert rows["Defect class"] == "scratch"
    assert rows["Imported from"] == "format onnx, file line3.onnx, architecture resnet18, head fc"
    assert rows["Notes"] == "class names assumed; ImageNet mean/std"
    assert dict(card_summary(_card({"classes": ["cat", "dog"]})))["Defect class"].startswith("none")
    assert "Imported from" not in dict(card_summary(_card({"classes": ["ok", "ng"]})))


def test_the_first_rows_name_the_model_its_defect_class_and_where_an_import_came_from() -> None:
    image = Image.new("RGB", (70, 70), (120, 120, 120))
    items = make_report_items(["a.png"], [image], [_explanation(0.9, (3, 3))])
    imported = {"arch": "resnet18", "classes": ["good", "scratch"], "input_size": [224, 224], "defect_class": "scratch",
                "origin": {"format": "state_dict", "file": "line7.pt", "architecture": "resnet18 (detected from the weights)",
                           "head": "linear (fc: 2 outputs)"}}
    glance = build_html_report(items, _card(imported), model_name="line7").split("Parts, most likely")[0]
    assert ("<th>Model</th><td>line7 (resnet18) · defect class: scratch · imported from line7.pt: state dict, "
            "resnet18 (detected from the weights), head linear (fc: 2 outputs)</td>") in glance
    ours = build_html_report(items, _card({"arch": "efficientnet_lite0", "classes": ["ok", "ng"]}),
                             model_name="parts").split("Parts, most likely")[0]
    assert "<th>Model</th><td>parts (efficientnet_lite0) · defect class: ng</td>" in ours
