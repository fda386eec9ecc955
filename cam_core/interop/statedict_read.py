"""Read a weights file someone else saved, without ever unpickling it in this process.

- **safetensors** files are read here directly (the format holds only tensors and a JSON header);
- **pickle-based** PyTorch files (``torch.save``: zip or legacy format, ``.pt``/``.pth``/``.ckpt``/``.bin``) are
  read only by a child process (:mod:`cam_core.interop.safe_load`) with ``torch.load(weights_only=True)``,
  an address-space and CPU-time limit and a wall-clock timeout. The child writes the tensors it found as
  safetensors to a private temporary folder; this process reads that file and nothing else.

What a file is comes from its first bytes, never from its name.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file

from cam_core.errors import InputError

__all__ = ["LoadLimits", "WeightsFile", "read_weights", "sniff_format"]

SAFE_LOAD_SCRIPT = Path(__file__).with_name("safe_load.py")
MAX_WEIGHTS_BYTES = 600 * 1024**2


@dataclass(frozen=True)
class LoadLimits:
    """Limits for reading one pickle-based file in the child process.

    ``memory_bytes`` (address space beyond what the child uses after importing torch) defaults to
    ``3 × file size + 1 GiB``, at most 8 GiB; ``timeout_s`` is wall-clock, CPU time is capped at the same.
    """

    max_bytes: int = MAX_WEIGHTS_BYTES
    timeout_s: float = 120.0
    memory_bytes: int | None = None

    def memory_for(self, size: int) -> int:
        return self.memory_bytes if self.memory_bytes is not None else min(3 * size + 1024**3, 8 * 1024**3)


@dataclass
class WeightsFile:
    """The tensors of one file and how they were stored."""

    tensors: dict[str, torch.Tensor]
    format: str                     # "pytorch zip", "pytorch legacy pickle", "safetensors"
    container: str | None = None    # dict key the weights were under ("state_dict", "model", …)
    skipped: list[str] = field(default_factory=list)   # non-tensor entries left out
    metadata: dict[str, str] = field(default_factory=dict)  # safetensors header metadata


def _megabytes(size: int) -> str:
    return f"{size / 1024**2:.0f} MB" if size >= 1024**2 else f"{size} bytes"


def sniff_format(path: Path, label: str | None = None) -> str:
    """``"safetensors"``, ``"pytorch zip"`` or ``"pytorch legacy pickle"`` from the first bytes, else InputError."""
    with open(path, "rb") as handle:
        head = handle.read(16)
    size = path.stat().st_size
    if head.startswith(b"PK\x03\x04"):
        return "pytorch zip"
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return "pytorch legacy pickle"
    if len(head) >= 9:
        header_len = int.from_bytes(head[:8], "little")
        if 0 < header_len <= size - 8 and head[8:9] == b"{":
            return "safetensors"
    raise InputError(f"{label or path.name} is neither a PyTorch checkpoint (torch.save: zip or pickle) nor a safetensors "
                     f"file (it starts with {head[:8]!r})")


def _check_zip(path: Path, label: str) -> None:
    """Refuse TorchScript archives and damaged zips before a child is started (zip listing only)."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError):
        raise InputError(f"{label} cannot be read as a PyTorch checkpoint: the zip archive is truncated or "
                         "damaged") from None
    if any("/code/" in n or n.endswith("constants.pkl") for n in names):
        raise InputError(f"{label} is a TorchScript archive (torch.jit.save), which runs its own code; save "
                         "the weights with torch.save(model.state_dict(), ...) instead")


def read_weights(path: str | Path, limits: LoadLimits | None = None, label: str | None = None) -> WeightsFile:
    """The tensors in ``path`` (see the module docstring). Every failure is one-line :class:`InputError`.

    ``label`` names the file in messages (an upload's own name; default ``path``'s).
    """
    path = Path(path)
    label = label or path.name
    limits = limits or LoadLimits()
    if not path.is_file():
        raise InputError(f"file not found: {path}")
    size = path.stat().st_size
    if size > limits.max_bytes:
        raise InputError(f"{label} is {_megabytes(size)}, more than the {_megabytes(limits.max_bytes)} allowed "
                         "for a weights file")
    kind = sniff_format(path, label)
    if kind == "safetensors":
        return _read_safetensors(path, label, kind)
    if kind == "pytorch zip":
        _check_zip(path, label)
    with tempfile.TemporaryDirectory(prefix="cam-import-") as folder:
        out = Path(folder) / "weights.safetensors"
        report = _run_child(path, out, limits, size, label)
        weights = _read_safetensors(out, label, kind)
    weights.container = report.get("container")
    weights.skipped = [str(s) for s in report.get("skipped", [])]
    return weights


def _run_child(path: Path, out: Path, limits: LoadLimits, size: int, label: str) -> dict:
    command = [sys.executable, "-I", str(SAFE_LOAD_SCRIPT), str(path.resolve()), str(out),
               "--memory-bytes", str(limits.memory_for(size)), "--cpu-seconds", str(max(1, int(limits.timeout_s)))]
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")}
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=limits.timeout_s, env=env,
                              cwd=out.parent, stdin=subprocess.DEVNULL, check=False)
    except subprocess.TimeoutExpired:
        raise InputError(f"{label}: reading it took longer than {limits.timeout_s:g} s; stopped") from None
    lines = done.stdout.strip().splitlines()
    try:
        report = json.loads(lines[-1]) if lines else None
    except json.JSONDecodeError:
        report = None
    if not isinstance(report, dict):
        if done.returncode < 0:
            why = f"the loader was stopped by signal {-done.returncode} (memory or time limit, or a damaged file)"
        else:
            last = (done.stderr.strip().splitlines() or ["no message"])[-1][:160]
            why = f"the loader failed ({last})"
        raise InputError(f"{label}: {why}")
    if not report.get("ok") or not out.is_file():
        raise InputError(f"{label}: {report.get('error', 'the loader wrote nothing')}")
    return report


def _read_safetensors(path: Path, label: str, kind: str) -> WeightsFile:
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = dict(handle.metadata() or {})
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise InputError(f"{label} is not a readable safetensors file ({str(exc).splitlines()[0][:160]})") from None
    if not tensors:
        raise InputError(f"{label} holds no tensors")
    return WeightsFile(tensors=tensors, format=kind, metadata=metadata)
