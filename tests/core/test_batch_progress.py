"""Progress lines: rate and ETA from the images explained in this run, one line per interval."""

from __future__ import annotations

import io

from cam_core.batch.progress import BatchProgress, format_duration
from cam_core.progress import Progress, TextProgress


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_lines_carry_rate_eta_errors_and_skipped() -> None:
    clock, events = Clock(), []
    meter = BatchProgress(100, events.append, interval=5.0, clock=clock)
    meter.update(skipped=20)
    clock.now += 2.0
    meter.update(explained=10)
    assert events == []                                 # inside the interval: no line yet
    clock.now += 3.0
    meter.update(explained=9, errors=1)                 # 20 in 5 s
    line = events[-1]
    assert isinstance(line, Progress) and line.done == 40 and line.total == 100
    assert line.fields["rate"] == 4.0 and line.fields["eta_s"] == 15.0
    assert line.text() == "batch 40/100 (40%) · 4.0 images/s · ETA 15s · 1 error · 20 already done"
    clock.now += 10.0
    meter.finish()
    assert events[-1].text().startswith("batch 40/100 (40%) · 1.3 images/s · took 15s")


def test_log_file_gets_one_plain_line_per_event() -> None:
    stream = io.StringIO()
    meter = BatchProgress(3, TextProgress(stream, transient=()), interval=0.0)
    meter.update(explained=2)
    meter.finish()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2 and "\r" not in stream.getvalue() and lines[0].startswith("batch 2/3")


def test_durations_read_well() -> None:
    assert [format_duration(s) for s in (4.4, 178, 3 * 3600 + 7 * 60)] == ["4s", "2m58s", "3h07m"]
