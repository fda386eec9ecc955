"""Video frames: how panels are drawn (the part in its own colours where the map says neither, one class coloured at
a pixel side by side), and a part the domain check does not trust: no alarm colours, a grey box, events marked."""

from __future__ import annotations

import dataclasses
from fractions import Fraction

import numpy as np

from cam_core.checkpoints import defect_class_index
from cam_core.domain import DomainResult, DomainVerdict
from cam_core.explain.certainty import P_HOT, UNTRUSTED_SPREAD
from cam_core.explain.pipeline import Explanation
from cam_core.video.decode import Frame
from cam_core.video.events import EVENT_COLUMNS, EventLog
from cam_core.video.frames import (
    LAYOUT_STYLES,
    UNTRUSTED_COLOUR,
    VERDICT_COLOURS,
    FrameRenderer,
    FrameView,
    Job,
    frame_view,
)

RANGE = (-2.0, 2.0)


def _sure_ng(domain: DomainVerdict) -> Explanation:
    return _ng(domain, 6.0)


def _ng(domain: DomainVerdict, bias: float) -> Explanation:
    classes = ("ok", "ng")
    ng = np.zeros((7, 7), np.float32)
    ng[2, 2], ng[4, 5] = 5.0, 2.0
    maps = np.stack([-ng, ng])
    logits = maps.mean(axis=(1, 2)).astype(np.float64) + np.array([0.0, bias])
    probs = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    explanation = Explanation(classes=classes, defect_index=defect_class_index(classes), probabilities=probs,
                              logits=logits, maps=maps, class_indices=(0, 1), image_size=(64, 48), method="cam",
                              layer="x")
    distance = 0.08 if domain is DomainVerdict.UNLIKE else 0.01
    return dataclasses.replace(explanation, domain=DomainResult(domain, distance=distance, threshold=0.036))


PEAK = (slice(56, 72), slice(106, 122))   # around the centre of map cell (2, 2), the strongest, in a 180×320 frame


def _drawn(layout: str) -> tuple[FrameView, np.ndarray, np.ndarray]:
    """A sure NG drawn over a 180×320 frame of noise: (its view, the output frame, the input frame) as ints."""
    image = np.random.default_rng(1).integers(60, 200, (180, 320, 3), dtype=np.uint8)
    view = frame_view(_sure_ng(DomainVerdict.KNOWN), layout, 0.5, RANGE)
    frame = Frame(0, 0.0, 0, 1, Fraction(1, 15), image)
    out = np.asarray(FrameRenderer(0.5, "jet").render(Job(frame=frame, view=view))).astype(int)
    return view, out, image.astype(int)


def test_an_overlay_frame_shows_the_part_itself_where_the_map_says_neither() -> None:
    view, out, base = _drawn("overlay")
    assert view.style == LAYOUT_STYLES["overlay"] == "signed"
    # map cells (6, 0) and (6, 1) hold 0 ("neither"), far from both peaks and from the verdict box and the bar
    np.testing.assert_array_equal(out[166:, :60], base[166:, :60])
    change = (out[PEAK] - base[PEAK]).reshape(-1, 3).mean(axis=0)
    assert change[0] > 20 and change[2] < -20                 # evidence for a defect: warm, red up and blue down


def test_side_by_side_colours_a_pixel_for_one_class_at_most() -> None:
    view, out, base = _drawn("side-by-side")
    assert view.style == LAYOUT_STYLES["side-by-side"] == "halves"
    ok_panel, ng_panel = out[:, :320], out[:, 320:]
    # the OK map is the NG map's negative: nowhere evidence for OK, so the OK panel is the frame itself (not a
    # mirror image of the NG panel) outside the verdict box and its caption
    np.testing.assert_array_equal(ok_panel[20:150], base[20:150])
    assert np.abs(ng_panel[PEAK] - base[PEAK]).mean() > 20


def test_an_untrusted_frame_keeps_the_shape_in_the_middle_of_the_bar() -> None:
    known = frame_view(_sure_ng(DomainVerdict.KNOWN), "side-by-side", 0.5, RANGE)
    outside = frame_view(_sure_ng(DomainVerdict.UNLIKE), "side-by-side", 0.5, RANGE)
    assert known.trusted and not outside.trusted
    assert known.verdict == outside.verdict and outside.verdict.kind == "ng"
    assert max(p.values01.max() for p in known.panels) == 1.0          # the sure call reaches the bar's end
    for kept, pulled in zip(known.panels, outside.panels):
        assert abs(pulled.values01 - 0.5).max() <= 0.5 * UNTRUSTED_SPREAD + 1e-6
        np.testing.assert_allclose(pulled.values01 - 0.5, (kept.values01 - 0.5) * UNTRUSTED_SPREAD, atol=1e-6)


def test_the_verdict_box_of_an_untrusted_frame_is_grey_and_says_so() -> None:
    frame = Frame(0, 0.0, 0, 1, Fraction(1, 15), np.full((180, 320, 3), 128, np.uint8))
    for domain, colour, words in ((DomainVerdict.KNOWN, VERDICT_COLOURS["ng"], "NG 1.00"),
                                  (DomainVerdict.UNLIKE, UNTRUSTED_COLOUR, "NG 1.00 not trusted")):
        view = frame_view(_sure_ng(domain), "overlay", 0.5, RANGE)
        assert view.verdict_text == words
        out = np.asarray(FrameRenderer(0.5, "jet").render(Job(frame=frame, view=view)))
        box = out[3:14, 3:40].reshape(-1, 3)                      # the box's fill is its most common colour
        colours, counts = np.unique(box, axis=0, return_counts=True)
        assert tuple(int(v) for v in colours[counts.argmax()]) == colour, domain


def test_an_ng_run_with_an_untrusted_frame_is_marked_in_its_title_and_csv_row() -> None:
    frames = [Frame(i, i / 15, i, 1, Fraction(1, 15), np.full((48, 64, 3), 100, np.uint8)) for i in range(4)]
    log = EventLog("ng")
    for frame, domain in zip(frames, (DomainVerdict.KNOWN, DomainVerdict.UNLIKE, DomainVerdict.KNOWN)):
        log.add(frame, frame_view(_sure_ng(domain), "overlay", 0.5, RANGE))
    log.close()
    log.add(frames[3], frame_view(_sure_ng(DomainVerdict.KNOWN), "overlay", 0.5, RANGE))
    log.close()
    first, second = log.events
    assert not first.trusted and first.title == "NG run 1 (not trusted)"
    assert second.trusted and second.title == "NG run 2"
    rows = [dict(zip(EVENT_COLUMNS, e.row())) for e in log.events]
    assert [r["trusted"] for r in rows] == ["no", "yes"]


def test_an_ng_run_never_80_percent_sure_is_marked_unsure() -> None:
    frames = [Frame(i, i / 15, i, 1, Fraction(1, 15), np.full((48, 64, 3), 100, np.uint8)) for i in range(2)]
    log = EventLog("ng")
    for frame, bias in zip(frames, (0.1, 1.0)):      # P(NG) 0.6 and 0.78: called NG, never P_HOT sure
        log.add(frame, frame_view(_ng(DomainVerdict.KNOWN, bias), "overlay", 0.5, RANGE))
    log.close()
    log.add(frames[0], frame_view(_sure_ng(DomainVerdict.KNOWN), "overlay", 0.5, RANGE))
    log.close()
    unsure, sure = log.events
    assert unsure.max_p_defect < P_HOT <= sure.max_p_defect
    assert (unsure.sure, unsure.title, sure.sure, sure.title) == (False, "NG run 1 (unsure)", True, "NG run 2")
    assert [dict(zip(EVENT_COLUMNS, e.row()))["sure"] for e in log.events] == ["no", "yes"]


def test_a_thumbnail_leaves_the_part_uncoloured_where_the_map_says_neither() -> None:
    from cam_core.video.events import THUMB_WIDTH, _thumbnail

    rng = np.random.default_rng(0)
    image = rng.integers(60, 200, (48, THUMB_WIDTH, 3), dtype=np.uint8)
    values = np.full((6, 8), 0.5, np.float32)
    values[:, 6:] = 1.0                                     # evidence for a defect on the right only
    thumb = _thumbnail(image, values, 0.5, "jet").astype(int)
    np.testing.assert_array_equal(thumb[:, :100], image[:, :100])      # "neither": the part itself, not jet's green
    right = thumb[:, -20:].reshape(-1, 3).mean(axis=0) - image[:, -20:].reshape(-1, 3).mean(axis=0)
    assert right[0] > 20 and right[2] < -20                 # warm: red up, blue down
