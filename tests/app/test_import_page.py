"""Models page, "Import a PyTorch model": the same child-process import as ``python -m cam_core import``."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

import cam_core.checkpoints.registry as registry
from cam_core.engine import build_model

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 90


@pytest.fixture()
def models_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    user, shipped = tmp_path / "user_models", tmp_path / "shipped"
    shipped.mkdir()
    monkeypatch.setenv("CAM_INSPECTOR_MODELS", str(user))
    monkeypatch.setattr(registry, "SHIPPED_MODELS_DIR", shipped)
    return user


def saved(obj: object) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


class Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, (f"touch {self.marker}",))


def models_page() -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT).run()
    at.switch_page("pages/models.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_import_tab_adds_a_state_dict_and_refuses_a_payload(models_dir: Path, tmp_path: Path) -> None:
    torch.manual_seed(0)
    state = {f"module.{k}": v for k, v in build_model("squeezenet1_1", 2).state_dict().items()}
    at = models_page()
    at.file_uploader(key="models_import_file").set_value(("line 7.pth", saved(state), "application/octet-stream"))
    at.run()
    at.text_input(key="models_import_name").set_value("line7")
    at.number_input(key="models_import_size").set_value(96)
    at.button(key="models_import_go").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert (models_dir / "line7.safetensors").is_file() and (models_dir / "line7.json").is_file()
    message = " ".join(s.value for s in at.success)
    assert "Imported **line7**" in message and "squeezenet1_1: detected" in message and "line7.json" in message
    at.switch_page("pages/explain.py").run()
    assert "line7" in at.selectbox(key="cfg_model").options

    marker = tmp_path / "PAYLOAD_RAN"
    at.switch_page("pages/models.py").run()
    evil = saved({**state, "extra": Payload(marker)})
    at.file_uploader(key="models_import_file").set_value(("weights.pt", evil, "application/octet-stream"))
    at.run()
    at.text_input(key="models_import_name").set_value("evil")
    at.button(key="models_import_go").click().run()
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and errors[0].startswith("weights.pt: refused:") and "\n" not in errors[0]
    assert not marker.exists() and not (models_dir / "evil.safetensors").exists()
