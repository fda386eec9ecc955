"""app_ui.warmup: the default network is loaded into the caches every session shares, once, and a failure is
only logged."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import pytest
from conftest import make_checkpoint

import cam_core.checkpoints.registry as registry
from app_ui import models, picture, warmup


@pytest.fixture()
def user_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty user models folder (no shipped models)."""
    folder = tmp_path / "user_models"
    folder.mkdir()
    monkeypatch.setenv("CAM_INSPECTOR_MODELS", str(folder))
    monkeypatch.setattr(registry, "SHIPPED_MODELS_DIR", tmp_path / "no-shipped")
    return folder


def test_nothing_starts_outside_a_server() -> None:
    assert warmup.warm_up() is None


def test_the_default_network_and_its_scale_land_in_the_shared_caches(user_models: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    make_checkpoint(user_models / "squeezenet1_1-warm.safetensors", input_size=64)
    make_checkpoint(user_models / "squeezenet1_1-zzz.safetensors", input_size=64, seed=1)
    first = models.model_names()[0]
    assert warmup.load_default_network() == first

    def no_second_load(*args: object, **kwargs: object) -> None:
        raise AssertionError("the network was loaded again")

    import cam_core.explain.factory as factory

    monkeypatch.setattr(factory, "make_explainer", no_second_load)
    monkeypatch.setattr(picture, "model_scale", no_second_load)
    assert models.get_explainer(first).bundle.name == first      # served from the cache the warm-up filled
    assert picture.model_scale_of(first).top > 0
    with pytest.raises(AssertionError, match="loaded again"):   # another model is not in the cache
        models.get_explainer(models.model_names()[1])


def test_a_model_that_cannot_be_loaded_is_logged_not_raised(user_models: Path,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    (user_models / "aaa-broken.safetensors").write_bytes(b"not a safetensors file")
    with caplog.at_level(logging.WARNING, logger="cam_inspector.app"):
        assert warmup.load_default_network() is None
    assert any("aaa-broken" in r.getMessage() for r in caplog.records)


def test_no_model_no_load(user_models: Path) -> None:
    assert warmup.load_default_network() is None


@pytest.fixture()
def fresh_warm_up(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """No warm-up thread yet; the load only records the CPU niceness of the thread it runs in."""
    loads: list[int] = []
    monkeypatch.setattr(warmup, "_thread", None)
    monkeypatch.setattr(warmup, "load_default_network", lambda: loads.append(_niceness()))
    return loads


def _niceness() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


def test_the_load_starts_at_once_and_once_per_process(fresh_warm_up: list[int]) -> None:
    thread = warmup.start_warm_up()                     # the server's start-up hook
    assert warmup.start_warm_up() is thread             # a page's heading: the same thread
    thread.join(timeout=60)
    assert not thread.is_alive() and len(fresh_warm_up) == 1


@pytest.mark.skipif(not hasattr(os, "setpriority"), reason="thread priorities are set on Unix only")
def test_the_imports_run_at_the_lowest_priority_and_the_load_at_the_servers(fresh_warm_up: list[int],
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    imports: list[int] = []
    original = warmup.import_network_libraries

    def spy() -> None:
        original()
        imports.append(_niceness())

    monkeypatch.setattr(warmup, "import_network_libraries", spy)
    server = _niceness()
    warmup.start_warm_up().join(timeout=60)
    assert imports == [warmup.IMPORT_NICENESS]          # lowered in the importing thread ...
    assert fresh_warm_up == [server]                    # ... and only there: the engine's threads start at ours
    assert _niceness() == server
