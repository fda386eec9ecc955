"""What an ONNX export of one of our models targets: the opset, and every input size the model is run at (the
export is checked against PyTorch at each). Kept apart from :mod:`cam_core.interop.onnx_export` so that the engine's
cache key needs neither onnx nor the exporter."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cam_core.checkpoints.bundle import ASPECT_STEP, fitted_input_size

if TYPE_CHECKING:
    from cam_core.checkpoints import ModelBundle

__all__ = ["DEFAULT_OPSET", "check_sizes"]

DEFAULT_OPSET = 17


def check_sizes(bundle: ModelBundle) -> list[tuple[int, int]]:
    """The input sizes ``bundle`` is ever run at: its input size, and every aspect-rule size for ``aspect``."""
    sizes = [bundle.input_size]
    if bundle.card.resize == "aspect":
        for k in range(-8, 9):   # every ASPECT_STEP^k ratio inside [1/3, 3] (and a little beyond: clamped)
            size = fitted_input_size(round(1000 * ASPECT_STEP ** k), 1000, bundle.input_size, "aspect")
            if size not in sizes:
                sizes.append(size)
    return sizes
