"""app_ui.workspace: a reload (a new session opening the same ?ws= URL) gets the session's results back."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest
from test_app import APP, TIMEOUT, explained_app, model_files, models_dir, png_bytes  # noqa: F401

from app_ui import workspace


def _open(key: str | None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    if key is not None:
        at.query_params[workspace.WORKSPACE_PARAM] = key
    return at.run()


def test_a_reload_brings_back_the_last_batch_and_a_clear_stays_cleared(models_dir: Path) -> None:  # noqa: F811
    first = explained_app(("part7.png", png_bytes(seed=7), "image/png"), ("part8.png", png_bytes(seed=8), "image/png"))
    key = first.query_params[workspace.WORKSPACE_PARAM]
    key = key[0] if isinstance(key, list) else key
    assert len(key) >= 24                                          # ≥ 144 random bits, URL-safe
    again = _open(key)                                             # the same URL in a new session
    assert not again.exception
    assert any("Showing your last batch (2 image(s))" in i.value for i in again.info)
    assert {o.split(" — ")[0] for o in again.selectbox(key="explain_selected").options} == {"part7.png", "part8.png"}
    again.button(key="explain_clear").click().run()               # cleared: a later reload stays empty
    third = _open(key)
    assert not any("last batch" in i.value for i in third.info)


def test_an_unknown_key_gets_a_fresh_workspace(models_dir: Path) -> None:  # noqa: F811
    at = _open("guessed-key")
    key = at.query_params[workspace.WORKSPACE_PARAM]
    key = key[0] if isinstance(key, list) else key
    assert key != "guessed-key" and len(key) >= 24
    assert not any("last batch" in i.value for i in at.info)


def test_kept_keys_are_the_pages_own_keys() -> None:
    from app_ui.batch import LAST_BATCH
    from app_ui.training import TRAIN_RESULT
    from app_ui.training_jobs import TRAIN_JOB
    from app_ui.video_jobs import VIDEO_JOB, VIDEO_RUN

    assert {LAST_BATCH, TRAIN_RESULT, TRAIN_JOB, VIDEO_JOB, VIDEO_RUN, "compare_scores"} == set(workspace.KEPT_KEYS)
