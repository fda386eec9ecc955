"""The local engine end to end: one row per image, bad files as error rows, the same numbers as the Explainer,
resume without explaining anything twice, overlays only for the chosen parts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from batch_helpers import write_bad_files, write_images

from cam_core.batch.overlays import OVERLAY_DIR
from cam_core.batch.readback import explanation_of_row, results_dataset, table_rows
from cam_core.batch.resume import MANIFEST
from cam_core.batch.runner import run_batch
from cam_core.batch.settings import ExplainerSpec, OverlayPolicy, RunSettings, build_explainer
from cam_core.batch.writer import part_files
from cam_core.data.imaging import load_image
from cam_core.errors import InputError
from cam_core.explain.pipeline import Explainer

ROOT = Path(__file__).resolve().parents[2]


class Counting:
    """An explainer factory that counts the images the model is asked to explain."""

    def __init__(self, spec: ExplainerSpec) -> None:
        self.spec, self.images = spec, 0

    def __call__(self) -> Explainer:
        explainer = build_explainer(self.spec)
        inner = explainer.explain

        def explain(images, targets=None):  # type: ignore[no-untyped-def]
            self.images += len(images)
            return inner(images, targets)

        explainer.explain = explain  # type: ignore[method-assign]
        return explainer


def rows_of(out: Path) -> list[dict]:
    return table_rows(results_dataset(out).to_table())


@pytest.fixture()
def spec(squeeze_checkpoint: Path) -> ExplainerSpec:
    return ExplainerSpec(model=str(squeeze_checkpoint), batch_size=4, device="cpu")


def test_rows_match_the_explainer_and_bad_files_are_error_rows(tmp_path: Path, spec: ExplainerSpec) -> None:
    good = write_images(tmp_path / "in", 6)
    bad = write_bad_files(tmp_path / "in" / "c", good[0])
    settings = RunSettings(out_dir=tmp_path / "out", spec=spec, save_maps=True, rows_per_part=4)
    summary = run_batch(str(tmp_path / "in"), settings)
    assert (summary.found, summary.explained, summary.errors, summary.skipped) == (10, 6, 4, 0)
    rows = {r["path"]: r for r in rows_of(tmp_path / "out")}
    assert len(rows) == 10 and len(part_files(tmp_path / "out")) == 3
    assert all(rows[str(p)]["error"] for p in bad.values())
    assert all(rows[str(p)]["verdict"] is None for p in bad.values())
    with build_explainer(spec) as explainer:
        for path in good:
            expected = explainer.explain_one(load_image(path).image)
            row = rows[str(path)]
            assert row["error"] is None and row["verdict"] == expected.predicted_class.upper()
            np.testing.assert_allclose(row["probabilities"], expected.probabilities, rtol=1e-5, atol=1e-6)
            assert row["defect_probability"] == pytest.approx(float(expected.probabilities[1]), abs=1e-6)
            assert [row["peak_x"], row["peak_y"]] == [list(v) for v in zip(*expected.peaks().values())]
            back = explanation_of_row(row, explainer.bundle.card.defect_index)
            assert back is not None
            np.testing.assert_allclose(back.maps, expected.maps, rtol=2e-3, atol=2e-3)   # float16
            evidence = expected.evidence_of(1)
            assert row["evidence_max"] == pytest.approx(float(evidence.max()), rel=1e-5)
            assert row["hot_share"] == pytest.approx(float(np.mean(evidence >= 0.5 * np.abs(evidence).max())))
            assert (row["width"], row["height"]) == expected.image_size


def test_rerun_skips_done_files_and_redoes_a_changed_one(tmp_path: Path, spec: ExplainerSpec) -> None:
    paths = write_images(tmp_path / "in", 5)
    settings = RunSettings(out_dir=tmp_path / "out", spec=spec)
    first = Counting(spec)
    run_batch(str(tmp_path / "in"), settings, explainer_factory=first)
    assert first.images == 5
    again = Counting(spec)
    summary = run_batch(str(tmp_path / "in"), settings, explainer_factory=again)
    assert again.images == 0 and summary.skipped == 5 and summary.parts == ()
    write_images(tmp_path / "other", 1, seed=9)[0].replace(paths[2])
    changed = Counting(spec)
    summary = run_batch(str(tmp_path / "in"), settings, explainer_factory=changed)
    assert changed.images == 1 and summary.skipped == 4
    keys = [(r["path"], r["file_hash"]) for r in rows_of(tmp_path / "out")]
    assert len(keys) == len(set(keys)) == 6


def test_other_settings_on_the_same_out_are_refused(tmp_path: Path, spec: ExplainerSpec) -> None:
    write_images(tmp_path / "in", 2)
    run_batch(str(tmp_path / "in"), RunSettings(out_dir=tmp_path / "out", spec=spec))
    assert (tmp_path / "out" / MANIFEST).is_file()
    with pytest.raises(InputError, match="other settings"):
        run_batch(str(tmp_path / "in"), RunSettings(out_dir=tmp_path / "out", spec=spec, save_maps=True))


def test_overlays_only_for_the_top_parts(tmp_path: Path, spec: ExplainerSpec) -> None:
    write_images(tmp_path / "in", 6)
    settings = RunSettings(out_dir=tmp_path / "out", spec=spec, overlays=OverlayPolicy.parse("top:2"))
    summary = run_batch(str(tmp_path / "in"), settings)
    rows = sorted(rows_of(tmp_path / "out"), key=lambda r: -r["defect_probability"])
    pngs = sorted(p.name for p in (tmp_path / "out" / OVERLAY_DIR).iterdir())
    assert summary.overlays == 4 and len(pngs) == 4                      # 2 parts × (OK | NG)
    assert {Path(r["path"]).stem for r in rows[:2]} == {name.rsplit("-", 1)[0] for name in pngs}
    assert run_batch(str(tmp_path / "in"), settings).overlays == 0


def test_overlay_policy_parsing() -> None:
    assert OverlayPolicy.parse("ng") == OverlayPolicy("ng")
    assert OverlayPolicy.parse("TOP:5") == OverlayPolicy("top", 5)
    for bad in ("top:0", "top:x", "all"):
        with pytest.raises(InputError):
            OverlayPolicy.parse(bad)


@pytest.mark.slow
def test_a_killed_run_resumes_without_explaining_the_done_part_again(tmp_path: Path, spec: ExplainerSpec) -> None:
    write_images(tmp_path / "in", 24)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "cam_core", "batch", str(tmp_path / "in"), "--out", str(out), "--model",
               spec.model, "--device", "cpu", "--batch-size", "2", "--rows-per-part", "2", "--workers", "1"]
    child = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while len(part_files(out)) < 6 and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    done = sum(pq.read_metadata(p).num_rows for p in part_files(out))
    assert 0 < done < 24, "the run should be killed part-way"
    counting = Counting(spec)
    summary = run_batch(str(tmp_path / "in"), RunSettings(out_dir=out, spec=spec), explainer_factory=counting)
    assert counting.images == 24 - done and summary.skipped == done
    paths = [r["path"] for r in rows_of(out)]
    assert len(paths) == len(set(paths)) == 24
    assert not [p for p in out.iterdir() if p.name.startswith(".")]
