"""Progress of a batch as lines that read well on a terminal and in a log file.

    batch 1200/5000 (24%) · 21.4 images/s · ETA 2m58s · 3 errors · 100 already done

Rate and ETA count only the images explained in this run (``rate = explained / elapsed``,
``ETA = (total − done) / rate``); files skipped by resume are counted as done but not in the rate. A line
goes out at most every ``interval`` seconds, and once at the end, as a :class:`cam_core.progress.Progress`
event (stage ``"batch"``, fields ``rate``, ``eta_s``, ``errors``, ``skipped``).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from cam_core.progress import Progress, ProgressCallback, ignore_progress

__all__ = ["BatchProgress", "format_duration"]


def format_duration(seconds: float) -> str:
    """``"42s"``, ``"2m58s"``, ``"3h07m"``."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class BatchProgress:
    """Counts done / errors / skipped, and reports through ``callback`` every ``interval`` seconds."""

    def __init__(self, total: int, callback: ProgressCallback = ignore_progress, interval: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.total, self.callback, self.interval, self.clock = total, callback, interval, clock
        self.explained = self.errors = self.skipped = 0
        self.start = clock()
        self._last = self.start

    @property
    def done(self) -> int:
        return self.explained + self.errors + self.skipped

    def rate(self) -> float:
        elapsed = self.clock() - self.start
        return (self.explained + self.errors) / elapsed if elapsed > 0 else 0.0

    def update(self, explained: int = 0, errors: int = 0, skipped: int = 0) -> None:
        self.explained += explained
        self.errors += errors
        self.skipped += skipped
        now = self.clock()
        if now - self._last >= self.interval:
            self._last = now
            self.callback(self.event())

    def event(self, final: bool = False) -> Progress:
        rate = self.rate()
        left = self.total - self.done
        eta = left / rate if rate > 0 else float("nan")
        share = f" ({self.done / self.total:.0%})" if self.total else ""
        parts = [f"batch {self.done}/{self.total}{share}", f"{rate:.1f} images/s"]
        if final:
            parts.append(f"took {format_duration(self.clock() - self.start)}")
        elif rate > 0:
            parts.append(f"ETA {format_duration(eta)}")
        parts.append(f"{self.errors} error{'s' if self.errors != 1 else ''}")
        if self.skipped:
            parts.append(f"{self.skipped} already done")
        return Progress(stage="done" if final else "batch", done=self.done, total=self.total,
                        message=" · ".join(parts),
                        fields={"rate": rate, "eta_s": eta, "errors": self.errors, "skipped": self.skipped})

    def finish(self) -> None:
        self.callback(self.event(final=True))
