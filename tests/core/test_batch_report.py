"""The batch report: statistics from one streaming pass over the parts, and the HTML page."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest
from batch_helpers import write_bad_files, write_images

from cam_core.batch.readback import results_dataset
from cam_core.batch.report import ReportSettings, write_batch_report
from cam_core.batch.runner import run_batch
from cam_core.batch.settings import ExplainerSpec, RunSettings
from cam_core.batch.stats import collect_stats
from cam_core.batch.writer import PartWriter


def synthetic_rows(folder: Path, count: int, seed: int = 0) -> list[float]:
    """``count`` rows with known probabilities and times (no model needed); returns the probabilities."""
    rng = np.random.default_rng(seed)
    probabilities = rng.random(count).tolist()
    with PartWriter(folder, rows_per_part=97) as writer:
        for i, p in enumerate(probabilities):
            hour = datetime(2026, 12, 3, i % 3, 15, tzinfo=timezone.utc)
            writer.add({"path": f"/line/{'ab'[i % 2]}/{i}.png", "folder": f"/line/{'ab'[i % 2]}", "modified": hour,
                        "is_defect": p >= 0.5, "defect_probability": p, "error": "bad" if i % 50 == 7 else None})
    return probabilities


def test_stats_count_groups_histogram_and_worst(tmp_path: Path) -> None:
    probabilities = synthetic_rows(tmp_path, 1000)
    stats = collect_stats(results_dataset(tmp_path), by="hour", worst=5)
    ok = [p for i, p in enumerate(probabilities) if i % 50 != 7]
    assert (stats.rows, stats.errors) == (1000, 20)
    assert stats.flagged == sum(p >= 0.5 for p in ok)
    assert stats.histogram.tolist() == np.histogram(ok, bins=20, range=(0, 1))[0].tolist()
    assert sorted(stats.groups) == [f"2026-12-03 0{h}:00 UTC" for h in range(3)]
    assert sum(n for n, _, _ in stats.groups.values()) == 980
    assert [r["defect_probability"] for r in stats.worst] == sorted(ok, reverse=True)[:5]
    by_folder = collect_stats(results_dataset(tmp_path), by="folder", worst=0)
    assert sorted(by_folder.groups) == ["/line/a", "/line/b"] and by_folder.worst == []


def test_report_page_from_a_real_batch(tmp_path: Path, squeeze_checkpoint: Path) -> None:
    good = write_images(tmp_path / "in", 5)
    write_bad_files(tmp_path / "in" / "c", good[0])
    spec = ExplainerSpec(model=str(squeeze_checkpoint), device="cpu")
    run_batch(str(tmp_path / "in"), RunSettings(out_dir=tmp_path / "with", spec=spec, save_maps=True))
    run_batch(str(tmp_path / "in"), RunSettings(out_dir=tmp_path / "without", spec=spec))
    for folder in ("with", "without"):
        out = tmp_path / f"{folder}.html"
        summary = write_batch_report(tmp_path / folder, out, ReportSettings(worst=3, by="folder",
                                                                            model=str(squeeze_checkpoint)))
        page = out.read_text()
        assert (summary.rows, summary.errors) == (9, 4)
        assert "NG rate per folder" in page and "Defect probability" in page
        assert page.count("class='item'") == 3 and page.count("figure class=\"map\"") == 6
        assert "<script" not in page and "http" not in page.replace("http-equiv", "")


def test_report_of_an_empty_folder_is_a_clear_error(tmp_path: Path) -> None:
    from cam_core.errors import InputError

    with pytest.raises(InputError, match="no batch results"):
        write_batch_report(tmp_path, tmp_path / "r.html")


def test_parts_outside_the_domain_are_counted_apart(tmp_path: Path) -> None:
    """NG calls on parts unlike the training data are not counted as NG; the headline says how many were outside."""
    domains = ["known", "unlike training data", "unknown", None]
    with PartWriter(tmp_path, rows_per_part=5) as writer:
        for i in range(12):
            writer.add({"path": f"/p/{i}.png", "folder": "/p", "is_defect": i % 2 == 0, "defect_probability": 0.9,
                        "domain": domains[i % 4], "error": None})
    stats = collect_stats(results_dataset(tmp_path), worst=0)
    assert stats.outside == 3                            # i = 1, 5, 9
    assert stats.flagged == 6                            # every even i: none of them is outside
    assert stats.groups == {"(unknown)": [9, 6, 3]}      # no file times: one group; inside, NG, outside
    assert int(stats.histogram.sum()) == 9               # the outside parts' 0.9 is not a sure defect
    with PartWriter(tmp_path / "all-out", rows_per_part=5) as writer:
        for i in range(4):
            writer.add({"path": f"/q/{i}.png", "folder": "/q", "is_defect": True, "defect_probability": 0.9,
                        "domain": "unlike training data", "error": None})
    out = tmp_path / "r.html"
    write_batch_report(tmp_path / "all-out", out, ReportSettings(worst=0))
    page = out.read_text()
    assert "4 parts: 4 outside the model&#x27;s domain" in page or "4 parts: 4 outside the model's domain" in page
    assert "outside the domain (not counted)" in page and "4 parts unlike its training data are not counted" in page
    assert collect_stats(results_dataset(tmp_path / "all-out"), worst=0).flagged == 0


def test_a_row_read_back_keeps_its_domain_check() -> None:
    from cam_core.batch.readback import domain_of_row

    outside = domain_of_row({"domain": "unlike training data", "domain_distance": 0.4, "domain_threshold": 0.1})
    assert outside.outside and (outside.distance, outside.threshold) == (0.4, 0.1)
    assert not domain_of_row({"domain": "known", "domain_distance": 0.01, "domain_threshold": 0.1}).outside
    assert domain_of_row({}).verdict.value == "unknown"          # results written before the column existed
