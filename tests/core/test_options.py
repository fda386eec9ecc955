"""cam_core.options: the enums every list of choices reads, and the settings objects that check ranges once."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from cam_core.cli import build_parser
from cam_core.engine.methods import METHODS
from cam_core.errors import InputError
from cam_core.explain.render import COLORMAPS, NORMALIZATION_MODES, colormap_lut
from cam_core.options import (
    IMAGE_EXTENSIONS,
    VIDEO_EXTENSIONS,
    Colormap,
    Device,
    Layout,
    Method,
    Resize,
    ScaleMode,
    VideoSettings,
    ViewSettings,
    choices,
    parse_option,
    upload_types,
)


def _choices_of(command: str, option: str) -> list[str] | None:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices[command]   # type: ignore[index]
    action = next(a for a in sub._actions if option in a.option_strings)
    return list(action.choices) if action.choices is not None else None


def test_enum_values_are_the_strings_users_type() -> None:
    assert Method.GRADCAM_PP == "gradcam++" and ScaleMode.PER_MAP == "per-map" and Layout.SIDE_BY_SIDE == "side-by-side"
    assert choices(Device) == ["auto", "cpu", "cuda"] and choices(Resize) == ["square", "aspect"]
    assert {"jet": 1}[Colormap.JET] == 1                       # usable where strings were keys


def test_the_core_and_the_cli_read_the_enums() -> None:
    assert list(METHODS) == choices(Method)
    assert COLORMAPS == tuple(choices(Colormap)) and NORMALIZATION_MODES == tuple(choices(ScaleMode))
    for name in choices(Colormap):
        assert colormap_lut(name).shape == (256, 3)
    assert _choices_of("explain", "--method") == choices(Method)
    assert _choices_of("explain", "--colormap") == choices(Colormap)
    assert _choices_of("video", "--layout") == choices(Layout)
    assert _choices_of("train", "--resize") == choices(Resize)
    assert _choices_of("evaluate", "--device") == choices(Device)


def test_extensions_are_defined_once() -> None:
    from app_ui.inputs import IMAGE_TYPES
    from app_ui.video_jobs import VIDEO_TYPES
    from cam_core.data.imaging import IMAGE_EXTENSIONS as imaging_extensions
    from cam_core.video.probe import VIDEO_EXTENSIONS as probe_extensions

    assert imaging_extensions is IMAGE_EXTENSIONS and probe_extensions is VIDEO_EXTENSIONS
    assert IMAGE_TYPES == upload_types(IMAGE_EXTENSIONS) and "jpeg" in IMAGE_TYPES
    assert VIDEO_TYPES == upload_types(VIDEO_EXTENSIONS) and "mp4" in VIDEO_TYPES


def test_view_settings_take_strings_and_check_ranges() -> None:
    view = ViewSettings(mode="shared", opacity=1, colormap="gray")      # type: ignore[arg-type]
    assert view.mode is ScaleMode.SHARED and view.colormap is Colormap.GRAY
    assert view.as_dict() == {"normalization": "shared", "opacity": 1, "colormap": "gray"}
    raw = ViewSettings(mode=ScaleMode.RAW, value_range=(-1.0, 2.0))
    assert raw.as_dict()["value_range"] == [-1.0, 2.0]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"opacity": 5.0}, "opacity must be between 0 and 1, not 5.0"),
    ({"opacity": math.nan}, "opacity must be between 0 and 1, not nan"),
    ({"opacity": -0.01}, "opacity must be between 0 and 1"),
    ({"colormap": "bogus"}, "unknown colormap 'bogus'; choose one of jet, inferno"),
    ({"mode": "loud"}, "unknown colour scale 'loud'"),
    ({"value_range": (1.0, 1.0)}, "value_range must be two finite numbers lo < hi"),
    ({"value_range": (0.0, math.inf)}, "value_range must be two finite numbers lo < hi"),
])
def test_view_settings_refuse_bad_values_with_one_line(kwargs: dict, message: str) -> None:
    with pytest.raises(InputError, match="^" + message.replace("(", r"\(").replace(".", r"\.")) as info:
        ViewSettings(**kwargs)
    assert "\n" not in str(info.value)


def test_video_settings_list_every_problem_at_once() -> None:
    with pytest.raises(InputError) as info:
        VideoSettings(layout="diagonal", opacity=2.0, every=0, max_side=8, batch_size=0,   # type: ignore[arg-type]
                      threshold=1.5)
    text = str(info.value)
    for part in ("unknown layout 'diagonal'", "opacity must be", "every must be 1 or more", "max_side must be",
                 "batch_size must be 1 or more", "threshold must be between 0 and 1"):
        assert part in text
    assert VideoSettings(layout="side-by-side").layout is Layout.SIDE_BY_SIDE    # type: ignore[arg-type]
    assert VideoSettings().max_side == 1280 and VideoSettings().threshold == 0.5


def test_parse_option_names_the_choices() -> None:
    assert parse_option(Method, "gradcam", "method") is Method.GRADCAM
    with pytest.raises(InputError, match="unknown method 'x'; choose one of cam, gradcam, gradcam\\+\\+"):
        parse_option(Method, "x", "method")


def test_explain_video_takes_settings_and_refuses_unknown_overrides(tmp_path: Path) -> None:
    from cam_core.video import explain_video

    with pytest.raises(TypeError, match="unknown settings fps"):
        explain_video(tmp_path / "in.mp4", tmp_path / "out.mp4", None, fps=3)        # type: ignore[arg-type]
    with pytest.raises(InputError, match="every must be 1 or more"):
        explain_video(tmp_path / "in.mp4", tmp_path / "out.mp4", None, VideoSettings(), every=0)  # type: ignore[arg-type]
