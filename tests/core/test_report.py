"""The HTML report reads as a manager needs it: counts and pointing first, worst parts next, details last."""

from __future__ import annotations

import re

import numpy as np
from PIL import Image

from cam_core.explain.pipeline import Explanation
from cam_core.report.html import build_html_report, make_report_items


def _explanation(p_ng: float, hot: tuple[int, int]) -> Explanation:
    ng = np.zeros((7, 7), dtype=np.float32)
    ng[hot] = 4.0
    maps = np.stack([-ng, ng])
    logits = np.array([0.0, np.log(p_ng / (1 - p_ng))])
    return Explanation(classes=("ok", "ng"), probabilities=np.array([1 - p_ng, p_ng]), logits=logits, maps=maps,
                       class_indices=(0, 1), image_size=(70, 70), method="cam", layer="features")


def test_report_opens_with_the_managers_figures_and_the_worst_part() -> None:
    image = Image.new("RGB", (70, 70), (120, 120, 120))
    mask = np.zeros((70, 70), dtype=bool)
    mask[20:30, 40:50] = True                               # where part "b" has its hot cell (row 2, col 4)
    explanations = [_explanation(0.10, (5, 5)), _explanation(0.97, (2, 4)), _explanation(0.80, (6, 0))]
    items = make_report_items(["a.png", "b.png", "c.png"], [image] * 3, explanations, masks=[None, mask, mask])
    html = build_html_report(items, {"arch": "efficientnet_lite0", "classes": ["ok", "ng"], "input_size": [224, 224],
                                     "trained_on": "synthetic parts (test)"}, model_name="m")
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
