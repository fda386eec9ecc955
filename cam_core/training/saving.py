"""Saving a run: the best epoch beside the output while training, the final model (or not) at the end.

The best epoch — highest val AUROC, then lowest val loss — is saved atomically, so an interruption
(Ctrl+C or ``should_stop()``) always leaves the best model so far.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from torch import Tensor, nn

from cam_core.checkpoints import save_checkpoint
from cam_core.domain import DomainModel
from cam_core.progress import ProgressCallback
from cam_core.training.calibration import calibrate
from cam_core.training.card import RunRecord
from cam_core.training.config import TrainResult
from cam_core.training.events import done_event, note, rejected_event
from cam_core.training.validation import learned_something

__all__ = ["finish", "remove_partials", "working_path"]


def working_path(out_path: Path) -> Path:
    """Where the best epoch so far is kept while training runs (hidden: never listed as a model)."""
    return out_path.with_name(f".{out_path.stem}.training.safetensors")


def remove_partials(out_path: Path) -> None:
    """Delete the working copy and temporary files a killed :func:`save_checkpoint` may leave beside ``out_path``."""
    from cam_core.files import remove_partials as remove_temporary_files

    work = working_path(out_path)
    for target in (out_path, out_path.with_suffix(".json"), work, work.with_suffix(".json")):
        remove_temporary_files(target)
    for tmp in (work, work.with_suffix(".json")):
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass


def finish(model: nn.Module, best_state: dict[str, Tensor] | None, run: RunRecord, out_path: Path,
           emit: ProgressCallback, domain: Callable[[], DomainModel | None] | None = None) -> TrainResult:
    """Save the best epoch to ``out_path``, unless a finished run's validation says it learned nothing.

    ``domain()`` makes the model's domain reference (:mod:`cam_core.training.domain`), saved with it.

    An interrupted run is saved with ``interrupted: true`` (and ``validation.learned``) in its card.
    """
    if best_state is None or run.best is None:
        return TrainResult(path=None, card={}, history=run.history, best_epoch=None, interrupted=True)
    model.load_state_dict(best_state)
    card = run.card()
    reason = learned_something(run.best.acc, run.best.auroc, run.val_counts)
    card["validation"]["learned"] = reason is None
    if reason is not None:
        card["validation"]["not_learned"] = reason
    if reason is not None and not run.interrupted and run.config.require_learning:
        message = (f"not saved: the model learned nothing ({reason}). Check that the class folders hold "
                   "what their names say, add images, or train longer")
        emit(rejected_event(message))
        return TrainResult(path=None, card=card, history=run.history, best_epoch=run.best_epoch,
                           interrupted=False, rejected=message)
    if run.config.calibrate and run.best.margins is not None and run.best.is_positive is not None:
        card["decision_calibration"] = calibrate(model, run.index.classes, run.best.margins, run.best.is_positive)
    reference = domain() if domain is not None else None
    if reference is not None:
        card["domain"] = reference.reference.to_dict()
        emit(note(f"domain reference: {reference.reference.n_reference} training images, threshold "
                  f"{reference.reference.threshold:.4f} from {reference.reference.n_calibration} distances of "
                  f"{reference.reference.calibration}"))
    save_checkpoint(model, out_path, card, domain=reference)   # final card: epochs run, total time, full history
    emit(done_event(out_path, run.interrupted))
    return TrainResult(path=out_path, card=card, history=run.history, best_epoch=run.best_epoch,
                       interrupted=run.interrupted)
