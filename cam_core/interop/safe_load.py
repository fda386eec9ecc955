"""Child process that reads one pickle-based PyTorch file and writes its tensors as safetensors.

Run as ``python -I cam_core/interop/safe_load.py SRC DST --memory-bytes N --cpu-seconds S`` (or with
``python -m cam_core.interop.safe_load``) by :func:`cam_core.interop.statedict_read.read_weights`; never import
this into a server process. It imports only the standard library, torch and safetensors, then, before it
touches the file:

- caps its own address space (``RLIMIT_AS``) at what it uses after those imports plus ``N`` bytes, and
  its CPU time (``RLIMIT_CPU``) at ``S`` seconds (the parent also kills it after a wall-clock timeout);
- reads with ``torch.load(SRC, weights_only=True, map_location="cpu")``: PyTorch's restricted unpickler,
  which refuses every global outside plain tensors, numbers and containers.

Of what it read it keeps one mapping of names to tensors (the object itself, or its ``state_dict`` /
``model`` / … entry; see :data:`CONTAINER_KEYS`) and writes those tensors to ``DST`` with safetensors. The
parent reads only that file, so no pickle ever crosses back. It prints one JSON line on stdout:
``{"ok": true, "container": …, "tensors": n, "skipped": […]}`` or ``{"ok": false, "error": "…"}``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import sys
from collections.abc import Mapping
from typing import Any

#: Entries of a checkpoint dict that hold the model's weights, in the order they are tried
#: (Lightning and most training scripts: ``state_dict``; others ``model``, ``model_state_dict``, …).
CONTAINER_KEYS = ("state_dict", "model_state_dict", "model", "model_state", "net", "network", "weights",
                  "params")
EXIT_REFUSED = 3
#: Oldest torch whose ``weights_only`` reader has no known bypass (CVE-2025-32434 fixed in 2.6, CVE-2026-24747 in 2.10).
MIN_TORCH = (2, 10)


def torch_is_recent(version: str) -> bool:
    """Whether torch ``version`` (e.g. ``"2.14.1+cu130"``) is at least :data:`MIN_TORCH`."""
    parts = re.findall(r"\d+", version.split("+")[0])[:2]
    return len(parts) == 2 and (int(parts[0]), int(parts[1])) >= MIN_TORCH


def _vm_size_bytes() -> int:
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def limit_resources(memory_bytes: int, cpu_seconds: int) -> None:
    """Cap this process: address space at current use + ``memory_bytes``, CPU time at ``cpu_seconds``."""
    used = _vm_size_bytes()
    if memory_bytes > 0 and used > 0:     # no /proc (not Linux): time limits only
        cap = used + memory_bytes
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    if cpu_seconds > 0:
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))


def _is_tensor_map(value: Any, torch: Any) -> bool:
    return isinstance(value, Mapping) and any(isinstance(v, torch.Tensor) for v in value.values())


def pick_state_dict(loaded: Any, torch: Any) -> tuple[Mapping[str, Any], str | None]:
    """The mapping of weight names to tensors inside ``loaded``, and the key it was found under."""
    if isinstance(loaded, Mapping):
        for key in CONTAINER_KEYS:
            if _is_tensor_map(loaded.get(key), torch):
                return loaded[key], key
        if _is_tensor_map(loaded, torch):
            return loaded, None
        keys = ", ".join(str(k) for k in list(loaded)[:6])
        raise ValueError(f"it holds a dict without weights (keys: {keys}); expected a state dict, or a dict "
                         f"with one under {' / '.join(CONTAINER_KEYS[:3])}")
    raise ValueError(f"it holds a {type(loaded).__name__}, not a state dict (a dict of tensors)")


def _explain_refusal(path: str, message: str, torch: Any) -> str:
    """One line for a ``weights_only`` refusal, naming the Python objects the file asked for."""
    try:
        names = list(torch.serialization.get_unsafe_globals_in_checkpoint(path))
    except Exception:  # noqa: BLE001 - legacy (non-zip) files: fall back to the message
        names = re.findall(r"GLOBAL ([\w.]+)", message)
    shown = ", ".join(names[:4]) + (" …" if len(names) > 4 else "") if names else "unknown objects"
    hint = ""
    if any(re.search(r"\.(nn|models)\.|Module$", n) for n in names):
        hint = " It looks like a whole pickled model: save model.state_dict() instead."
    return (f"refused: loading it would build Python objects other than tensors ({shown}); nothing from it was "
            f"run.{hint}")


def _read(path: str, torch: Any) -> tuple[dict[str, Any], str | None, list[str]]:
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - every reason becomes one line for the parent
        text = str(exc)
        if "Weights only load failed" in text or "Unsupported global" in text or "GLOBAL" in text:
            raise PermissionError(_explain_refusal(path, text, torch)) from None
        if "can't allocate memory" in text or "not enough memory" in text:
            raise MemoryError from None
        if "TorchScript" in text:
            raise ValueError("it is a TorchScript archive; export the weights with model.state_dict()") from None
        first = text.strip().splitlines()[0][:160] if text.strip() else type(exc).__name__
        raise ValueError(f"cannot be read as a PyTorch file: it looks truncated or damaged ({first})") from None
    state, container = pick_state_dict(loaded, torch)
    tensors: dict[str, Any] = {}
    skipped: list[str] = []
    for name, value in state.items():
        if isinstance(value, torch.Tensor) and value.layout == torch.strided and not value.is_quantized:
            tensors[str(name)] = value.detach().clone().contiguous()
        else:
            skipped.append(str(name))
    return tensors, container, skipped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("src")
    parser.add_argument("dst")
    parser.add_argument("--memory-bytes", type=int, default=4 * 1024**3)
    parser.add_argument("--cpu-seconds", type=int, default=120)
    args = parser.parse_args(argv)
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]  # run as a script: no shadowing
    import torch
    from safetensors.torch import save_file

    torch.set_num_threads(1)
    limit_resources(args.memory_bytes, args.cpu_seconds)
    if not torch_is_recent(torch.__version__):
        print(json.dumps({"ok": False, "error": f"refused: torch {torch.__version__} is older than "
                          f"{MIN_TORCH[0]}.{MIN_TORCH[1]}, whose weights_only reader has known bypasses; upgrade "
                          "torch (requirements.txt)"}), flush=True)
        return EXIT_REFUSED
    try:
        tensors, container, skipped = _read(args.src, torch)
        save_file(tensors, args.dst)
    except MemoryError:
        result: dict[str, Any] = {"ok": False, "error": "reading it needs more memory than allowed "
                                  f"({args.memory_bytes // 1024**2} MB beyond the loader itself)"}
    except (PermissionError, ValueError, OSError) as exc:
        result = {"ok": False, "error": str(exc)}
    else:
        result = {"ok": True, "container": container, "tensors": len(tensors), "skipped": skipped[:20],
                  "skipped_count": len(skipped)}
    print(json.dumps(result), flush=True)
    return 0 if result["ok"] else EXIT_REFUSED


if __name__ == "__main__":
    sys.exit(main())
