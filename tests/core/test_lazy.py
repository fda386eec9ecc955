"""cam_core.lazy: a package's names are imported on first use, and are then the same objects as in their homes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import cam_core.explain
from cam_core.explain import verdict

ROOT = Path(__file__).resolve().parents[2]


def test_a_name_is_its_home_object_and_stays_in_the_package() -> None:
    assert cam_core.explain.verdict_of is verdict.verdict_of
    assert "verdict_of" in vars(cam_core.explain)          # later reads are plain attribute reads
    assert "verdict_of" in dir(cam_core.explain) and "Explainer" in dir(cam_core.explain)


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        _ = cam_core.explain.nothing_here  # type: ignore[attr-defined]


def test_the_packages_load_pytorch_only_for_a_name_that_needs_it() -> None:
    code = ("import sys; import cam_core, cam_core.checkpoints, cam_core.explain, cam_core.engine, cam_core.domain\n"
            "from cam_core.checkpoints import ModelCard, list_models, read_card\n"
            "from cam_core.explain import verdict_of, colorize\n"
            "from cam_core.engine import KNOWN_ARCHITECTURES\n"
            "print('torch' in sys.modules, end=' ')\n"
            "from cam_core import Explainer\n"
            "print('torch' in sys.modules, 'torchvision' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["False", "True", "False"]
