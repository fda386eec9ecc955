"""The Ray engine writes the same rows as the local engine (a local Ray on loopback, two half-CPU actors)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from batch_helpers import write_bad_files, write_images

from cam_core.batch.readback import results_dataset, table_rows
from cam_core.batch.runner import run_batch
from cam_core.batch.schema import column_names
from cam_core.batch.settings import Engine, ExplainerSpec, RunSettings

ray = pytest.importorskip("ray", reason="Ray is optional: pip install -r requirements-ray.txt")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    from cam_core.batch.ray_engine import ensure_ray

    ensure_ray(None, num_cpus=2)          # 127.0.0.1, no dashboard
    yield
    ray.shutdown()


@pytest.fixture()
def one_thread() -> Iterator[None]:
    """The actors run one torch thread; so does the local run here, so both compute the same numbers."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_ray_rows_equal_local_rows(tmp_path: Path, squeeze_checkpoint: Path, local_ray: None,
                                   one_thread: None) -> None:
    good = write_images(tmp_path / "in", 6)
    write_bad_files(tmp_path / "in" / "c", good[0])
    spec = ExplainerSpec(model=str(squeeze_checkpoint), batch_size=4, device="cpu", threads=1)
    local = run_batch(str(tmp_path / "in"), RunSettings(out_dir=tmp_path / "local", spec=spec, save_maps=True))
    remote = run_batch(str(tmp_path / "in"), RunSettings(out_dir=tmp_path / "ray", spec=spec, save_maps=True,
                                                          engine=Engine.RAY, workers=2))
    assert (remote.explained, remote.errors) == (local.explained, local.errors) == (6, 4)
    a = {r["path"]: r for r in table_rows(results_dataset(tmp_path / "local").to_table())}
    b = {r["path"]: r for r in table_rows(results_dataset(tmp_path / "ray").to_table())}
    assert a.keys() == b.keys()
    for path, row in a.items():
        other = b[path]
        for name in column_names():
            if name in ("explained_at", "probabilities", "probability", "defect_probability", "evidence_max",
                        "hot_share"):
                continue
            assert row[name] == other[name], (path, name)
        if row["error"] is None:
            np.testing.assert_allclose(row["probabilities"], other["probabilities"], atol=1e-6)
            np.testing.assert_allclose(row["maps"].astype(np.float32), other["maps"].astype(np.float32), atol=1e-5)
            assert row["evidence_max"] == pytest.approx(other["evidence_max"], abs=1e-5)


def test_rerun_on_ray_skips_everything(tmp_path: Path, squeeze_checkpoint: Path, local_ray: None) -> None:
    write_images(tmp_path / "in", 3)
    settings = RunSettings(out_dir=tmp_path / "out", spec=ExplainerSpec(model=str(squeeze_checkpoint), device="cpu"),
                           engine=Engine.RAY, workers=1)
    assert run_batch(str(tmp_path / "in"), settings).explained == 3
    summary = run_batch(str(tmp_path / "in"), settings)
    assert (summary.explained, summary.skipped) == (0, 3)
