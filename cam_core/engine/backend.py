"""Which engine runs a network's CAM pass on the CPU: onnxruntime or PyTorch.

:class:`Backend` is the user's choice (CLI ``--backend``, the app's sidebar); :class:`BackendChoice` is what
actually ran and why, shown in the caption and logged. The decision itself lives in
:func:`cam_core.explain.factory.make_explainer`.

- ``auto`` (default): onnxruntime for CAM and flip-averaged CAM of a PyTorch model on the CPU when onnxruntime
  is installed and the exported graph reproduces PyTorch; PyTorch otherwise, with a note saying why.
- ``onnx``: the same, but a fallback is logged as a warning (the user asked for it).
- ``torch``: PyTorch always (Grad-CAM, training and CUDA are PyTorch in every mode).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["BACKEND_ENV", "Backend", "BackendChoice", "onnxruntime_available"]

BACKEND_ENV = "CAM_INSPECTOR_BACKEND"   # default backend when none is given (auto when unset)


class Backend(StrEnum):
    AUTO = "auto"
    ONNX = "onnx"
    TORCH = "torch"


@dataclass(frozen=True)
class BackendChoice:
    """The engine that runs (``"onnx"``: onnxruntime, ``"torch"``: PyTorch) and, after a fallback, why."""

    ran: str
    note: str = ""

    @property
    def label(self) -> str:
        name = "ONNX Runtime" if self.ran == "onnx" else "PyTorch"
        return f"{name} ({self.note})" if self.note else name


def onnxruntime_available() -> bool:
    """Whether onnxruntime can be imported (it is optional for the engine; ONNX files need it anyway)."""
    import importlib.util

    return importlib.util.find_spec("onnxruntime") is not None
