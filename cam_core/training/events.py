"""The progress events a training run emits (:class:`cam_core.progress.Progress`), in this order:

``message`` (a line of text), ``loading`` (``done``/``total`` images decoded) while decoding, then per
epoch ``batch`` after every optimiser step (``done``/``total`` steps of the whole run; fields ``epoch``,
``epochs``, ``step``, ``steps``, ``loss``, ``acc``, ``images_per_s``, ``lr``) and one ``epoch``
(``done``/``total`` epochs; fields: the :class:`EpochStats` fields plus ``improved`` (1/0) and
``best_epoch``), finally ``done`` (field ``interrupted``) or ``rejected``. Each event's ``message`` is the line
every front end shows. :class:`EpochStats` is one finished epoch: an ``epoch`` event, and a row of the run's history.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from cam_core.progress import Progress

__all__ = ["MESSAGE", "EpochStats", "batch_event", "done_event", "epoch_event", "loading_event", "note", "rejected_event"]

MESSAGE, LOADING, BATCH, EPOCH, DONE, REJECTED = "message", "loading", "batch", "epoch", "done", "rejected"


@dataclass(frozen=True)
class EpochStats:
    """One finished epoch. ``images_per_s`` counts training images over training time only."""

    epoch: int
    train_loss: float
    train_acc: float
    val_loss: float
    val_acc: float
    val_auroc: float
    seconds: float
    images_per_s: float


def note(text: str) -> Progress:
    """A line of text about the run."""
    return Progress(MESSAGE, message=text)


def loading_event(what: str, done: int, total: int) -> Progress:
    """``done`` of the ``total`` ``what`` (train / val) images decoded."""
    return Progress(LOADING, done, total, f"Reading {what} images: {done}/{total}")


def batch_event(epoch: int, epochs: int, step: int, steps: int, loss: float, acc: float, images_per_s: float,
                lr: float) -> Progress:
    """After optimiser step ``step`` of ``steps`` in ``epoch`` of ``epochs`` (running loss and accuracy)."""
    text = (f"epoch {epoch}/{epochs} · step {step}/{steps} · loss {loss:.4f} · acc {acc:.3f} · "
            f"{images_per_s:.1f} images/s")
    fields = {"epoch": epoch, "epochs": epochs, "step": step, "steps": steps, "loss": loss, "acc": acc,
              "images_per_s": images_per_s, "lr": lr}
    return Progress(BATCH, (epoch - 1) * steps + step, epochs * steps, text, fields)


def epoch_event(stats: EpochStats, epochs: int, improved: bool, best_epoch: int | None) -> Progress:
    """Epoch ``stats.epoch`` of ``epochs`` finished and was validated."""
    s = stats
    text = (f"epoch {s.epoch}: train loss {s.train_loss:.4f} acc {s.train_acc:.3f} | val loss {s.val_loss:.4f} "
            f"acc {s.val_acc:.3f} AUROC {s.val_auroc:.4f} ({s.seconds:.0f} s, {s.images_per_s:.1f} img/s)"
            + ("  best" if improved else ""))
    fields = {**asdict(s), "improved": float(improved), "best_epoch": float(best_epoch or 0)}
    return Progress(EPOCH, s.epoch, epochs, text, fields)


def done_event(path: Path | str, interrupted: bool) -> Progress:
    """The best epoch was saved to ``path``."""
    return Progress(DONE, 1, 1, f"saved best model to {path}", {"interrupted": float(interrupted)})


def rejected_event(text: str) -> Progress:
    """A finished run was not saved (it learned nothing): ``text`` says why."""
    return Progress(REJECTED, message=text)
