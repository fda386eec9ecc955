"""app_ui as the pages see it: ``import app_ui as ui`` then ``ui.X`` must reach every name a page uses."""

from __future__ import annotations

import re
from pathlib import Path

import app_ui

ROOT = Path(__file__).resolve().parents[2]


def test_every_exported_name_exists() -> None:
    assert len(set(app_ui.__all__)) == len(app_ui.__all__)
    assert [name for name in app_ui.__all__ if not hasattr(app_ui, name)] == []


def test_every_ui_name_the_pages_use_is_exported() -> None:
    files = [ROOT / "app.py", *sorted((ROOT / "pages").glob("*.py"))]
    used = {name for path in files for name in re.findall(r"\bui\.([A-Za-z_]\w*)", path.read_text())}
    assert used, "the pages use app_ui through `ui.`"
    assert sorted(used - set(app_ui.__all__)) == []


def test_methods_carry_the_core_flag_not_a_method_string() -> None:
    flip = app_ui.METHODS["cam-flip"]
    assert (flip.name, flip.flip_average) == ("cam", True)
    assert all(not m.flip_average for key, m in app_ui.METHODS.items() if key != "cam-flip")
    assert {m.name for m in app_ui.METHODS.values()} == {"cam", "gradcam", "gradcam++"}
    assert app_ui.DEFAULTS["cfg_method"] in app_ui.METHODS and app_ui.CAM == app_ui.MapMethod()
