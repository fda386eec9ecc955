"""Batch results page: load a results folder, filter it, open a part's maps, export the filtered rows."""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from cam_core.batch.runner import run_batch
from cam_core.batch.settings import ExplainerSpec, RunSettings

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "core"))
from batch_helpers import write_bad_files, write_images  # noqa: E402

TIMEOUT = 90


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory, squeeze_checkpoint: Path) -> Path:
    base = tmp_path_factory.mktemp("batch")
    good = write_images(base / "in", 6)
    write_bad_files(base / "in" / "c", good[0])
    spec = ExplainerSpec(model=str(squeeze_checkpoint), device="cpu")
    run_batch(str(base / "in"), RunSettings(out_dir=base / "out", spec=spec, save_maps=True))
    return base / "out"


def batch_page() -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT).run()
    at.switch_page("pages/batch.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_results_filtered_opened_and_exported(results: Path) -> None:
    at = batch_page()
    at.text_input(key="batch_results_dir").set_value(str(results)).run()
    assert not at.exception and not at.error, [e.value for e in at.exception] + [e.value for e in at.error]
    assert at.dataframe[0].value.shape[0] == 10
    captions = [img.caption for element in at.image for img in element.proto.imgs]
    assert [c.split(" map:")[0] for c in captions] == ["OK", "NG"]     # the maps of the part opened first
    at.multiselect(key="batch_verdicts").set_value(["ERROR"]).run()
    frame = at.dataframe[0].value
    assert frame.shape[0] == 4 and frame["error"].notna().all()
    at.multiselect(key="batch_verdicts").set_value([]).run()
    at.multiselect(key="batch_folders").set_value([str(results.parent / "in" / "a")]).run()
    frame = at.dataframe[0].value
    assert frame.shape[0] == 3 and list(frame["defect_probability"]) == sorted(frame["defect_probability"],
                                                                                reverse=True)
    button = at.get("download_button")[0]
    assert button.label.startswith("Export the filtered rows")
    opened = at.selectbox(key="batch_open").value
    assert opened == frame["path"].iloc[0]
    assert not at.error and not at.exception


def test_a_part_outside_the_domain_reads_not_trusted(results: Path, tmp_path: Path) -> None:
    """Rows the domain check flagged show it in the table, and the opened part's verdict is struck through."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from cam_core.batch.readback import results_dataset

    table = results_dataset(results).to_table()
    flagged = table.set_column(table.schema.get_field_index("domain"), "domain",
                               pa.array(["unlike training data"] * table.num_rows, pa.string()))
    out = tmp_path / "flagged"
    out.mkdir()
    pq.write_table(flagged, out / "part-00000.parquet")
    at = batch_page()
    at.text_input(key="batch_results_dir").set_value(str(out)).run()
    assert not at.exception, [e.value for e in at.exception]
    assert set(at.dataframe[0].value["domain"]) == {"unlike training data"}
    assert at.multiselect(key="batch_domains").options == ["unlike training data"]
    assert any("not trusted" in h.value for h in at.header), [h.value for h in at.header]
    assert any(e.value.startswith("**Not trusted") or "Not trusted" in e.value for e in at.error)
    captions = [img.caption for element in at.image for img in element.proto.imgs]
    assert captions and all(c.startswith("For reference only") for c in captions)


def test_the_domain_filter_keeps_only_the_chosen_checks(results: Path, tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from cam_core.batch.browse import RowFilter, facets, filtered_rows
    from cam_core.batch.readback import results_dataset

    table = results_dataset(results).to_table()
    checks = ["known" if i % 3 else "unlike training data" for i in range(table.num_rows)]
    mixed = table.set_column(table.schema.get_field_index("domain"), "domain", pa.array(checks, pa.string()))
    pq.write_table(mixed, tmp_path / "part-00000.parquet")
    assert facets(tmp_path).domains == ("known", "unlike training data")
    known = filtered_rows(tmp_path, RowFilter(domains=("known",)))
    assert known.num_rows == checks.count("known") and set(known.column("domain").to_pylist()) == {"known"}
    assert filtered_rows(tmp_path, RowFilter()).num_rows == table.num_rows


def test_rows_csv_has_the_filtered_rows(results: Path) -> None:
    from cam_core.batch.browse import RowFilter, export_columns, filtered_rows, rows_csv
    from cam_core.batch.readback import results_dataset

    dataset = results_dataset(results)
    table = filtered_rows(dataset, RowFilter(min_probability=0.0, max_probability=0.999999, verdicts=("OK", "NG")),
                          export_columns(dataset))
    rows = list(csv.DictReader(io.StringIO(rows_csv(table).decode())))
    assert len(rows) == table.num_rows == 6 and "maps" not in rows[0] and rows[0]["classes"] == "ok;ng"


def test_missing_folder_is_one_line(tmp_path: Path) -> None:
    at = batch_page()
    at.text_input(key="batch_results_dir").set_value(str(tmp_path / "none")).run()
    assert not at.exception and len(at.error) == 1 and "no batch results" in at.error[0].value
