"""One typed progress event for every long-running job (training, video, evaluation, data generation).

    from cam_core.progress import Progress, TextProgress
    def show(p: Progress) -> None:
        print(f"{p.fraction:.0%}" if p.fraction is not None else "", p.text())

A job calls its ``progress`` callback with a :class:`Progress`: ``stage`` names what is happening (e.g.
training's ``"loading"``, ``"batch"``, ``"epoch"``, ``"message"``, ``"rejected"``, ``"done"``), ``done`` of
``total`` units are finished (``total = 0``: no count), ``message`` is the one human-readable line the job
composed for it, and ``fields`` holds the event's numbers by name (``loss``, ``acc``, ``epoch``, …).
Every front end shows the same words: :meth:`Progress.text` for the line, :attr:`Progress.fraction` for a
bar; :class:`TextProgress` writes the events to a text stream (a live line on a terminal).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TextIO

__all__ = ["Progress", "ProgressCallback", "TextProgress", "bar", "ignore_progress"]


@dataclass(frozen=True)
class Progress:
    """One progress event: ``done`` of ``total`` units of ``stage``, a ready-made line and named numbers."""

    stage: str
    done: int = 0
    total: int = 0
    message: str = ""
    fields: Mapping[str, float] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        # a read-only copy: an event is a value, no consumer can change what the next one sees
        object.__setattr__(self, "fields", MappingProxyType(dict(self.fields)))

    @property
    def fraction(self) -> float | None:
        """``clamp(done / total, 0, 1)``; ``None`` when the event carries no count (``total ≤ 0``)."""
        if self.total <= 0:
            return None
        return min(1.0, max(0.0, self.done / self.total))

    def text(self) -> str:
        """The event as one line: its ``message``, else ``"stage done/total"`` and its fields."""
        if self.message:
            return " ".join(self.message.split("\n"))
        parts = [self.stage] + ([f"{self.done}/{self.total}"] if self.total > 0 else [])
        parts += [f"{name} {value:g}" for name, value in self.fields.items()]
        return " ".join(parts)


ProgressCallback = Callable[[Progress], None]


def ignore_progress(event: Progress) -> None:
    """The callback used when the caller passed none."""


BAR_WIDTH = 24


class TextProgress:
    """A :data:`ProgressCallback` that writes events as text lines to ``stream`` (default: stderr).

    Events of a ``transient`` stage (training's per-step ``batch`` and ``loading``) are shown only on a
    terminal, as one line that rewrites itself (``\\r``) with a bar of :attr:`Progress.fraction`; every
    other event is one line, so a log file gets one line per epoch/message.
    """

    def __init__(self, stream: TextIO | None = None, transient: Collection[str] = ("batch", "loading")) -> None:
        import sys

        self.stream = stream if stream is not None else sys.stderr
        self.transient = frozenset(transient)
        self.live = bool(getattr(self.stream, "isatty", lambda: False)())
        self._live_width = 0                  # length of the live line on screen (0: none)

    def __call__(self, event: Progress) -> None:
        if event.stage in self.transient:
            if self.live:
                line = f"{bar(event.fraction)} {event.text()}"
                print("\r" + line.ljust(self._live_width), end="", file=self.stream, flush=True)
                self._live_width = len(line)
            return
        line = event.text()
        if self._live_width:
            line = "\r" + line.ljust(self._live_width)
            self._live_width = 0
        print(line, file=self.stream, flush=True)


def bar(fraction: float | None, width: int = BAR_WIDTH) -> str:
    """``[#####.......]``: ``round(width · fraction)`` marks (an empty bar without a fraction)."""
    filled = 0 if fraction is None else int(round(width * fraction))
    return f"[{'#' * filled}{'.' * (width - filled)}]"
