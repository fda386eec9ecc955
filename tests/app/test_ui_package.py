"""app_ui as the pages see it: ``import app_ui as ui`` then ``ui.X`` must reach every name a page uses, and the
first page is drawn without loading a network library."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
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


FIRST_PAGE = """
import json, sys
from pathlib import Path

HEAVY = {"torch", "torchvision", "onnx", "onnxruntime"}

class Block:   # a network library imported while the first page is drawn fails the page
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in HEAVY:
            raise ImportError(f"{name} imported while drawing the first page")
        return None

sys.meta_path.insert(0, Block())
import cam_core.checkpoints.registry as registry
from streamlit.testing.v1 import AppTest

registry.SHIPPED_MODELS_DIR = Path(sys.argv[2])
at = AppTest.from_file(sys.argv[1], default_timeout=60).run()
print(json.dumps({
    "exceptions": [e.value for e in at.exception], "errors": [e.value for e in at.error],
    "titles": [t.value for t in at.title], "selectboxes": [s.label for s in at.selectbox],
    "uploaders": len(at.get("file_uploader")),
    "loaded": sorted(m for m in sys.modules if m.split(".")[0] in HEAVY)}))
"""


def test_the_first_page_is_drawn_before_any_network_library_is_imported(tmp_path: Path) -> None:
    """A cold server shows the Explain page's heading and controls from the model card alone: PyTorch, torchvision
    and ONNX are not imported (the network loads afterwards, in the background)."""
    from conftest import make_checkpoint

    from cam_core.checkpoints import read_card, save_checkpoint
    from cam_core.checkpoints.bundle import load_checkpoint

    models, shipped = tmp_path / "models", tmp_path / "shipped"
    shipped.mkdir()
    plain = make_checkpoint(tmp_path / "plain.safetensors")
    card = {**read_card(plain), "evidence_range": [-4.0, 4.0]}   # a card with its scale, as train writes it
    save_checkpoint(load_checkpoint(plain).model, models / "squeezenet1_1-card.safetensors", card)
    script = tmp_path / "first_page.py"
    script.write_text(FIRST_PAGE)
    env = {**os.environ, "CAM_INSPECTOR_MODELS": str(models), "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, str(script), str(ROOT / "app.py"), str(shipped)], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert (seen["exceptions"], seen["errors"], seen["loaded"]) == ([], [], [])
    assert seen["titles"] == ["Explain: why OK, why NG?"]
    assert {"Network", "Method", "Engine", "Target class"} <= set(seen["selectboxes"])
    assert seen["uploaders"] >= 1
