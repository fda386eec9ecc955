"""Package namespaces whose names are imported on first use (PEP 562), so that importing a package costs
nothing until one of its names is read: the app draws its first page before PyTorch is loaded.

    _HOMES = {"Explainer": "cam_core.explain.pipeline", ...}
    __all__ = list(_HOMES)
    __getattr__, __dir__ = lazy_names(__name__, _HOMES)

Reading ``package.Name`` imports its home module once and stores the name in the package, so later reads
are plain attribute reads and ``package.Name is home.Name``. Type checkers see the names through the
package's ``if TYPE_CHECKING:`` imports, which must list the same names.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_names"]


def lazy_names(package: str, homes: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The module-level ``__getattr__`` and ``__dir__`` of ``package`` for the names in ``homes``
    (name → the module that defines it)."""

    def __getattr__(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(home), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *homes})

    return __getattr__, __dir__
