"""Many sessions, one cached model: results stay with their own image; hooks and memory don't leak."""

from __future__ import annotations

import resource
import threading

import numpy as np
import pytest
import torch
from PIL import Image

from cam_core import Explainer, ModelError, load_model
from cam_core.engine.hooks import registered_hook_count


def _images(count: int, seed: int = 0) -> list[Image.Image]:
    rng = np.random.default_rng(seed)
    return [Image.fromarray(rng.integers(0, 255, (80 + 7 * i, 100, 3), dtype=np.uint8)) for i in range(count)]


@pytest.mark.parametrize("method", ["cam", "gradcam++"])
def test_eight_sessions_at_once_each_get_their_own_result(squeeze_checkpoint, method: str) -> None:
    """8 threads share one Explainer (as the app's cached resource does) and explain different images."""
    bundle = load_model(str(squeeze_checkpoint), device="cpu")
    images = _images(8)
    with Explainer(bundle, method=method) as shared:
        expected = [shared.explain_one(image) for image in images]
        barrier = threading.Barrier(8)
        mismatches: list[int] = []
        errors: list[BaseException] = []

        def session(i: int) -> None:
            try:
                barrier.wait()
                for _ in range(6):
                    got = shared.explain_one(images[i])
                    if not (np.allclose(got.maps, expected[i].maps, atol=1e-5)
                            and np.allclose(got.probabilities, expected[i].probabilities, atol=1e-6)
                            and got.image_size == expected[i].image_size):
                        mismatches.append(i)
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=session, args=(i,)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    assert not errors and not mismatches
    assert len({round(float(e.probabilities[1]), 6) for e in expected}) > 1  # the images really differ
    assert registered_hook_count(bundle.model) == 0


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def test_repeated_explain_calls_leak_neither_hooks_nor_memory(squeeze_checkpoint) -> None:
    """200 create-explain-close cycles, some failing: hooks back to zero, RSS growth < 50 MB.

    The full 1,000-call run is ``benchmarks/bench_leaks.py``.
    """
    bundle = load_model(str(squeeze_checkpoint), device="cpu")
    image = _images(1)[0]
    for _ in range(20):  # warm allocator caches before the baseline
        with Explainer(bundle) as explainer:
            explainer.explain_one(image)
    baseline = _rss_mb()
    for i in range(200):
        with Explainer(bundle, method="gradcam" if i % 4 == 0 else "cam") as explainer:
            explainer.explain_one(image)
            if i % 10 == 0:
                with pytest.raises((ModelError, ValueError, RuntimeError)):
                    explainer.extractor(torch.zeros(1, 5, 32, 32))  # a failing call must not leak either
    assert registered_hook_count(bundle.model) == 0
    assert _rss_mb() - baseline < 50
