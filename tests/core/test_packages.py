"""Every name a subpackage exports exists, and the library API of README (``from cam_core import …``) is the
same objects as their homes."""

from __future__ import annotations

import importlib

import pytest

PACKAGES = ["cam_core", "cam_core.checkpoints", "cam_core.data", "cam_core.domain", "cam_core.engine",
            "cam_core.engine.methods", "cam_core.evaluation", "cam_core.explain", "cam_core.files"]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_names_exist(name: str) -> None:
    module = importlib.import_module(name)
    exported = module.__all__
    assert len(exported) == len(set(exported))
    missing = [n for n in exported if not hasattr(module, n)]
    assert not missing


@pytest.mark.parametrize(("old", "new", "names"), [
    ("cam_core", "cam_core.models", ["load_model"]),
    ("cam_core", "cam_core.checkpoints", ["ModelBundle", "list_models", "load_checkpoint", "save_checkpoint"]),
    ("cam_core", "cam_core.explain", ["Explainer", "Explanation"]),
])
def test_old_paths_give_the_same_objects(old: str, new: str, names: list[str]) -> None:
    before, after = importlib.import_module(old), importlib.import_module(new)
    for name in names:
        assert getattr(before, name) is getattr(after, name), name


def test_the_defect_names_and_mask_suffixes_are_written_once() -> None:
    """The defect-class names and the mask suffixes have one home each (no copies in the core, app or pages)."""
    from conftest import REPO_ROOT

    sources = [p for folder in ("cam_core", "app_ui", "pages") for p in (REPO_ROOT / folder).rglob("*.py")]
    sources += [REPO_ROOT / "app.py"]
    nok = sorted(p.relative_to(REPO_ROOT).as_posix() for p in sources if '"nok"' in p.read_text(encoding="utf-8"))
    suffixes = sorted(p.relative_to(REPO_ROOT).as_posix() for p in sources
                      if '"-gt"' in p.read_text(encoding="utf-8"))
    assert nok == ["cam_core/checkpoints/classes.py"]
    assert suffixes == ["cam_core/data/dataset.py"]
