"""Import a PyTorch state dict saved elsewhere as a CAM Inspector model (safetensors + model card).

``python -m cam_core import FILE --classes ok,ng`` and the Models page both call :func:`import_weights`:

1. read the tensors (:func:`~cam_core.interop.statedict_read.read_weights`: pickle-based files only in a
   limited child process with ``torch.load(weights_only=True)``; safetensors directly);
2. find the architecture from key names and shapes, or check the one given
   (:func:`~cam_core.interop.statedict_detect.fit_architecture`), after stripping wrapper prefixes
   (``module.`` from DataParallel/DDP, ``model.`` from Lightning, …);
3. take the class count ``C`` from the classifier's rows; ``--classes`` must name ``C`` classes, or two when
   ``C = 1`` (a single-logit head, ``P(defect) = σ(z)``, stored as the equivalent two-class head of
   :func:`~cam_core.engine.heads.single_logit_as_two_class`);
4. load the tensors strictly into ``build_model(arch, C)``, run one CAM pass on a fixed random input and
   check ``mean(map_c) + b_c = logit_c`` (and, for one logit, ``z_defect − z_other = z``);
5. write ``<name>.safetensors`` (float32, the file's own values) and ``<name>.json`` into the user models
   folder. The card records the source file, its SHA-256, the architecture and whether it was detected,
   the head type, the classes and the defect class.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cam_core.checkpoints import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    defect_class_index,
    list_models,
    save_checkpoint,
    user_models_dir,
)
from cam_core.engine import CAM, KNOWN_ARCHITECTURES, SINGLE_LOGIT, build_model, single_logit_as_two_class
from cam_core.errors import InputError
from cam_core.files import sha256_of
from cam_core.interop.statedict_detect import ArchFit, Signature, fit_architecture, signature
from cam_core.interop.statedict_read import LoadLimits, WeightsFile, read_weights

__all__ = ["ImportResult", "import_weights", "parse_classes", "parse_triple"]

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")
CHECK_TOLERANCE = 1e-4


@dataclass(frozen=True)
class ImportResult:
    """Where an imported model was written and what was found in the file."""

    name: str
    path: Path
    card_path: Path
    card: dict[str, Any]
    notes: tuple[str, ...] = field(default=())

    @property
    def arch_line(self) -> str:
        """One line: which architecture, and whether it was detected."""
        return str(self.card["origin"]["architecture_note"])


def parse_classes(text: str | Sequence[str]) -> list[str]:
    """``"ok,ng"`` (or a list) → ``["ok", "ng"]``: two or more distinct, non-empty names."""
    names = [n.strip() for n in (text.split(",") if isinstance(text, str) else text)]
    if len(names) < 2 or not all(names) or len(set(names)) != len(names):
        raise InputError(f"--classes needs two or more distinct names in the head's order, like ok,ng (got {text!r})")
    return names


def parse_triple(text: str | Sequence[float] | None, default: tuple[float, float, float],
                 label: str) -> tuple[float, float, float]:
    """``"0.5,0.5,0.5"`` → three floats (``default`` when None)."""
    if text is None:
        return default
    try:
        values = [float(v) for v in (text.split(",") if isinstance(text, str) else text)]
    except ValueError:
        values = []
    if len(values) != 3 or (label == "std" and min(values) <= 0):
        raise InputError(f"--{label} needs three numbers a,b,c" + (" above 0" if label == "std" else ""))
    return values[0], values[1], values[2]


def _model_name(name: str | None, source_name: str, overwrite: bool, models_dir: Path) -> str:
    if name is None:
        name = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(source_name).stem).strip("._-") or "imported"
    if not NAME_PATTERN.match(name):
        raise InputError(f"model name {name!r}: use up to 80 letters, digits, '.', '_' or '-', starting with a letter "
                         "or digit")
    existing = list_models().get(name)
    if existing is not None and not (overwrite and existing.parent.resolve() == models_dir.resolve()):
        raise InputError(f"a model called {name!r} already exists ({existing}); choose another --name")
    return name


def _fit(weights: WeightsFile, arch: str | None, label: str) -> ArchFit:
    if arch is not None and arch not in KNOWN_ARCHITECTURES:
        raise InputError(f"unknown architecture {arch!r}; known: {', '.join(KNOWN_ARCHITECTURES)}")
    shapes = {k: tuple(v.shape) for k, v in weights.tensors.items()}
    fit, closest = fit_architecture(shapes, arch)
    if fit is not None:
        return fit
    if arch is not None:
        other, _ = fit_architecture(shapes)
        hint = f"; it fits {other.arch}: leave --arch out" if other is not None else ""
        raise InputError(f"{label} does not fit {arch} ({closest.problems()}){hint}")
    raise InputError(f"no known architecture fits {label}: closest is {closest.arch} with {closest.matched} of "
                     f"{closest.total} tensors ({closest.problems()}); known: {', '.join(KNOWN_ARCHITECTURES)}")


def _defect(classes: list[str], defect_class: str | None, single: bool) -> str | None:
    if defect_class is not None:
        lowered = [c.lower() for c in classes]
        if defect_class.lower() not in lowered:
            raise InputError(f"--defect-class {defect_class!r} is not one of the classes ({', '.join(classes)})")
        return classes[lowered.index(defect_class.lower())]
    index = defect_class_index(classes)
    if index is None and single:
        raise InputError(f"the file has a single-logit head (P = sigmoid(z)); name the class it scores with "
                         f"--defect-class ({' or '.join(classes)})")
    return None if index is None else classes[index]


def _network_state(weights: WeightsFile, fit: ArchFit, sig: Signature) -> dict[str, torch.Tensor]:
    """The tensors under the fit's prefix, minus dropped keys, with absent BatchNorm counters as 0."""
    dropped = set(fit.dropped)
    state = {k[len(fit.prefix):]: v for k, v in weights.tensors.items()
             if k.startswith(fit.prefix) and k not in dropped}
    for key in sig.body:
        if key.endswith("num_batches_tracked") and key not in state:
            state[key] = torch.zeros((), dtype=torch.long)
    return state


def _build(arch: str, state: dict[str, torch.Tensor], num_classes: int, label: str) -> nn.Module:
    model = build_model(arch, num_classes)
    expected = model.state_dict()
    state = {k: (v.to(expected[k].dtype) if k in expected and v.is_floating_point() else v) for k, v in state.items()}
    try:
        result = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:
        raise InputError(f"{label}: weights do not load into {arch} ({str(exc).splitlines()[-1].strip()[:200]})") from None
    if result.missing_keys or result.unexpected_keys:
        raise InputError(f"{label}: weights do not load into {arch} (missing: {', '.join(result.missing_keys[:3])}; "
                         f"unexpected: {', '.join(result.unexpected_keys[:3])})")
    return model.eval()


def _check(model: nn.Module, size: int, single: tuple[nn.Module, int] | None) -> dict[str, float]:
    """Max errors of the CAM identity and (one logit) of ``z_pos − z_neg = z`` on a fixed random input."""
    batch = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(0))
    with CAM(model) as cam:
        out = cam(batch)
    rebuilt = out.maps.mean(dim=(2, 3)) + (out.bias if out.bias is not None else 0)
    errors = {"cam_identity_max_error": float((rebuilt - out.logits).abs().max())}
    if single is not None:
        original, positive = single
        with torch.inference_mode():
            z = original(batch).float()[:, 0]
        difference = out.logits[:, positive] - out.logits[:, 1 - positive]
        errors["single_logit_max_error"] = float((difference - z).abs().max())
        errors["single_logit_scale"] = float(z.abs().max())
    return errors


def _single_logit_model(arch: str, state: dict[str, torch.Tensor], sig: Signature, positive: int,
                        label: str) -> tuple[nn.Module, nn.Module]:
    """(the two-class model, the file's own one-logit model for the check)."""
    if sig.head_kind != "linear":
        raise InputError(f"{label}: a single-logit head is supported on linear classifiers; {arch}'s 1×1-conv head "
                         "is followed by a ReLU, so its one logit cannot be split into two classes")
    original = _build(arch, state, 1, label)
    two = dict(state)
    two[sig.head_weight], two[sig.head_bias] = single_logit_as_two_class(
        state[sig.head_weight], state.get(sig.head_bias), positive)
    return _build(arch, two, 2, label), original


@dataclass(frozen=True)
class _Found:
    """What the file turned out to hold (for the card and the notes)."""

    weights: WeightsFile
    fit: ArchFit
    detected: bool
    label: str
    sha256: str


def _notes(found: _Found) -> list[str]:
    fit, weights = found.fit, found.weights
    notes = []
    if weights.container:
        notes.append(f"weights taken from the file's {weights.container!r} entry")
    if fit.prefix:
        notes.append(f"key prefix {fit.prefix!r} stripped")
    if fit.dropped:
        notes.append(f"left out {len(fit.dropped)} tensors that are not part of the network "
                     f"({', '.join(fit.dropped[:3])}{' …' if len(fit.dropped) > 3 else ''})")
    if fit.matched < fit.total:
        notes.append(f"{fit.total - fit.matched} BatchNorm counters (num_batches_tracked) were absent; set to 0 "
                     "(they do not change the outputs)")
    if weights.skipped:
        notes.append(f"ignored {len(weights.skipped)} non-tensor entries")
    return notes


def _card(found: _Found, classes: list[str], defect: str | None, head_type: str, size: int,
          mean: tuple[float, float, float], std: tuple[float, float, float],
          check: dict[str, float]) -> dict[str, Any]:
    """The model card; provenance under ``origin`` (the shape ONNX imports use too) and one-line ``notes``."""
    fit = found.fit
    how = "detected from its key names and shapes" if found.detected else "given with --arch"
    rows = "1 row (one logit)" if head_type == SINGLE_LOGIT else f"{fit.num_outputs} rows"
    classifier = signature(fit.arch).head_weight.rsplit(".", 1)[0]
    if head_type == SINGLE_LOGIT:
        head = (f"single-logit ({classifier}: one logit z, P({defect}) = sigmoid(z); stored as the equivalent "
                f"two-class head, rows ±w/2 and biases ±b/2, so softmax gives sigmoid(z) and the {defect} − other "
                "map is w·A)")
    else:
        head = f"{head_type} ({classifier}: {fit.num_outputs} outputs)"
    origin = {
        "format": "state_dict", "file": found.label, "head": head,
        "architecture": f"{fit.arch} ({'detected from the weights' if found.detected else 'given with --arch'})",
        "head_type": head_type, "file_format": found.weights.format, "sha256": found.sha256,
        "container": found.weights.container, "key_prefix": fit.prefix or None,
        "architecture_detected": found.detected,
        "architecture_note": f"{fit.arch}: {how} ({fit.matched} of its {fit.total} tensors in the file, all of "
                             f"the right shape; classifier {rows})",
        "dropped_keys": fit.dropped[:20], "check": check,
    }
    return {
        "arch": fit.arch, "classes": classes, "input_size": [size, size], "mean": list(mean), "std": list(std),
        "head_type": head_type, "defect_class": defect, "origin": origin, "notes": _notes(found),
        "training": {"source": f"imported from {found.label} ({found.weights.format}); not trained here"},
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def import_weights(path: str | Path, classes: str | Sequence[str], *, arch: str | None = None,
                   name: str | None = None, defect_class: str | None = None, input_size: int = 224,
                   mean: str | Sequence[float] | None = None, std: str | Sequence[float] | None = None,
                   source_name: str | None = None, overwrite: bool = False,
                   limits: LoadLimits | None = None) -> ImportResult:
    """Import the state dict in ``path`` as a named model (see the module docstring for every step).

    ``source_name`` is the file name recorded on the card (an upload's own name; default ``path``'s).
    Every refusal is one :class:`~cam_core.errors.InputError` line; nothing is written unless all checks pass.
    """
    path = Path(path)
    label = source_name or path.name
    names = parse_classes(classes)
    mean3, std3 = parse_triple(mean, IMAGENET_MEAN, "mean"), parse_triple(std, IMAGENET_STD, "std")
    if not 32 <= int(input_size) <= 2048:
        raise InputError(f"--input-size must be between 32 and 2048 px (got {input_size})")
    folder = user_models_dir()
    model_name = _model_name(name, label, overwrite, folder)
    weights = read_weights(path, limits, label)
    found = _Found(weights, _fit(weights, arch, label), arch is None, label, sha256_of(path))
    fit, sig = found.fit, signature(found.fit.arch)
    single = fit.num_outputs == 1
    if len(names) != (2 if single else fit.num_outputs):
        rows = "one logit (two classes)" if single else f"{fit.num_outputs} outputs"
        raise InputError(f"--classes lists {len(names)} names ({', '.join(names)}) but the classifier of {label} has "
                         f"{rows} ({fit.prefix}{sig.head_weight} is {'×'.join(map(str, weights.tensors[fit.prefix + sig.head_weight].shape))})")
    defect = _defect(names, defect_class, single)
    state = _network_state(weights, fit, sig)
    if single:
        positive = names.index(defect) if defect else 1
        model, original = _single_logit_model(fit.arch, state, sig, positive, label)
        check = _check(model, int(input_size), (original, positive))
    else:
        model = _build(fit.arch, state, fit.num_outputs, label)
        check = _check(model, int(input_size), None)
    _require_checks(check, label)
    head_type = SINGLE_LOGIT if single else sig.head_kind
    card = _card(found, names, defect, head_type, int(input_size), mean3, std3, check)
    target = save_checkpoint(model, folder / f"{model_name}.safetensors", card, half=False)
    return ImportResult(model_name, target, target.with_suffix(".json"), card, tuple(card["notes"]))


def _require_checks(check: dict[str, float], label: str) -> None:
    scale = 1.0 + check.get("single_logit_scale", 0.0)
    if check["cam_identity_max_error"] > 1e-3 * scale:
        raise InputError(f"{label}: the CAM identity mean(map) + bias = logit fails by {check['cam_identity_max_error']:.3g}")
    if check.get("single_logit_max_error", 0.0) > CHECK_TOLERANCE * scale:
        raise InputError(f"{label}: the two-class form of its one logit differs by {check['single_logit_max_error']:.3g}")
