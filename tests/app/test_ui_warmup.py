"""app_ui.warmup: the default network is loaded into the caches every session shares, once, and a failure is
only logged."""

from __future__ import annotations

import logging
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
def fresh_warm_up(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """No warm-up thread yet; the load only records when it ran (seconds since the fixture started)."""
    import threading
    import time

    started = time.monotonic()
    loads: list[float] = []
    monkeypatch.setattr(warmup, "_thread", None)
    monkeypatch.setattr(warmup, "_now", threading.Event())
    monkeypatch.setattr(warmup, "load_default_network", lambda: loads.append(time.monotonic() - started))
    return loads


def test_a_page_view_starts_the_delayed_load_at_once(fresh_warm_up: list[float]) -> None:
    thread = warmup.start_warm_up(delay=60)             # the server's start-up hook
    thread.join(timeout=0.5)
    assert fresh_warm_up == []                          # still waiting
    assert warmup.start_warm_up() is thread             # a page's heading: the same thread, now
    thread.join(timeout=30)
    assert len(fresh_warm_up) == 1 and fresh_warm_up[0] < 30


def test_an_idle_server_loads_after_the_delay(fresh_warm_up: list[float]) -> None:
    warmup.start_warm_up(delay=0.3).join(timeout=30)
    assert len(fresh_warm_up) == 1 and fresh_warm_up[0] >= 0.3
