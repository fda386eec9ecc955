"""Shared fixtures: small random-weight models saved as real checkpoints (nothing is downloaded)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cam_core.checkpoints import save_checkpoint
from cam_core.engine.architectures import build_model

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session", autouse=True)
def onnx_engine_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ONNX engine's export cache in a temporary folder, never the user's cache dir."""
    import os

    folder = tmp_path_factory.mktemp("onnx-engine-cache")
    os.environ["CAM_INSPECTOR_ONNX_CACHE"] = str(folder)
    return folder


def make_checkpoint(path: Path, arch: str = "squeezenet1_1", classes: tuple[str, ...] = ("ok", "ng"),
                    input_size: int = 96, seed: int = 0) -> Path:
    """A random-weight model with a non-trivial head, saved in the product's own format."""
    torch.manual_seed(seed)
    model = build_model(arch, len(classes), head_relu=False)
    head = dict(model.named_modules())["classifier.1" if arch.startswith("squeezenet") else "fc"]
    torch.nn.init.normal_(head.weight, std=0.05)
    return save_checkpoint(model, path, {"arch": arch, "classes": list(classes),
                                         "input_size": [input_size, input_size], "head_relu": False})


@pytest.fixture(scope="session")
def squeeze_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_checkpoint(tmp_path_factory.mktemp("models") / "squeeze-test.safetensors")


@pytest.fixture()
def part_images() -> list[Image.Image]:
    """A few different RGB images of different sizes."""
    rng = np.random.default_rng(0)
    sizes = [(120, 90), (64, 64), (200, 150)]
    return [Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)) for w, h in sizes]
